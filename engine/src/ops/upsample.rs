//! Upsampling of [N, C, H, W] by an integer scale: nearest and bilinear (PyTorch's
//! align_corners=False), each with its backward. Kernels: shaders/upsample.wgsl.
//!
//! Legend: planes = N*C; s = scale; x is [N, C, H, W], y is [N, C, H*s, W*s].
//! Backward passes are gathers over dy (no atomics):
//!   nearest:  dx[ih, iw] = sum of dy over the s x s block at (ih*s, iw*s)
//!   bilinear: dx[ih, iw] = sum over (oh, ow) of wh(oh, ih) * ww(ow, iw) * dy[oh, ow], with the
//!             interpolation weights of the forward (see upsample.wgsl).

use crate::kernels::{Kernel, UPSAMPLE};
use crate::shape::grid_1d;
use crate::tensor::Tensor;
use crate::texture_pool::{self, Flat};

/// Mirrors `Params` in upsample.wgsl.
#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct Params {
    planes: u32,
    _pad: [u32; 3],
}

/// Checks x and the scale; returns the output shape [N, C, H*s, W*s].
fn output_shape(op: &str, x: &[usize], scale: usize) -> [usize; 4] {
    assert!(
        x.len() == 4,
        "{op}: x must be [N, C, H, W], got shape {x:?} (rank {})",
        x.len()
    );
    assert!(scale >= 1, "{op}: scale must be at least 1, got {scale}");
    [x[0], x[1], x[2] * scale, x[3] * scale]
}

/// An upsampling kernel: its entry point reading src from its buffer and, where it has one,
/// the entry point reading src through a flat r32float texture (the bilinear "…_tex" ones),
/// which runs where the device reads so.
#[derive(Clone, Copy)]
struct Entry {
    buffer: &'static str,
    texture: Option<&'static str>,
}

/// Runs `entry` over src [N, C, H, W] (the input's size: x forward, dx backward), writing a
/// tensor of `out_shape`, one invocation per output element. Records nothing.
fn launch(
    entry: Entry,
    src: &Tensor,
    in_shape: &[usize],
    scale: usize,
    out_shape: &[usize],
) -> Tensor {
    let dev = src.device();
    let out = Tensor::uninit(dev, out_shape, entry.buffer);
    let u = |v: usize| {
        u32::try_from(v)
            .unwrap_or_else(|_| panic!("{}: size {v} does not fit in 32 bits", entry.buffer))
    };
    let params = Params {
        planes: u(in_shape[0] * in_shape[1]),
        _pad: [0; 3],
    };
    // Every index stays below the upsampled size, checked to fit in 32 bits. The sizes are
    // pipeline constants (see upsample.wgsl).
    u(in_shape.iter().product::<usize>() * scale * scale);
    let texture = entry
        .texture
        .and_then(|name| Flat::of(src, wgpu::TextureFormat::R32Float).map(|f| (name, f)));
    let (name, tex) = match texture {
        Some((name, f)) => (name, Some(f)),
        None => (entry.buffer, None),
    };
    let kernel = Kernel::new(UPSAMPLE, name)
        .with("H", u(in_shape[2]) as f64)
        .with("W", u(in_shape[3]) as f64)
        .with("S", u(scale) as f64);
    let n: usize = out_shape.iter().product();
    let (bytes, grid) = (bytemuck::bytes_of(&params), grid_1d(n, 64));
    match tex {
        Some(tex) => texture_pool::dispatch_reading(dev, &kernel, vec![tex], &[&out], bytes, grid),
        None => dev
            .0
            .dispatch(&kernel, &[src.buffer(), out.buffer()], bytes, grid),
    }
    out
}

/// Forward `entry` and, on the tape, its gather backward `grad_entry`.
fn upsample(x: &Tensor, op: &'static str, entry: Entry, grad_entry: Entry, scale: usize) -> Tensor {
    let out_shape = output_shape(op, x.shape(), scale);
    let in_shape = x.shape().to_vec();
    let out = launch(entry, x, &in_shape, scale, &out_shape);
    out.record(op, &[x], move |dy| {
        vec![Some(launch(grad_entry, dy, &in_shape, scale, &in_shape))]
    })
}

impl Tensor {
    /// [N, C, H, W] -> [N, C, H*scale, W*scale], each pixel repeated in a scale x scale block
    /// (PyTorch's `nn.Upsample(scale_factor=scale, mode="nearest")`).
    pub fn upsample_nearest2d(&self, scale: usize) -> Tensor {
        let buffer_only = |buffer| Entry {
            buffer,
            texture: None,
        };
        upsample(
            self,
            "upsample_nearest2d",
            buffer_only("upsample_nearest"),
            buffer_only("upsample_nearest_grad"),
            scale,
        )
    }

    /// [N, C, H, W] -> [N, C, H*scale, W*scale] by bilinear interpolation, as PyTorch's
    /// `nn.Upsample(scale_factor=scale, mode="bilinear", align_corners=False)`: output pixel
    /// centres map to source coordinates (dst + 0.5) / scale - 0.5, clamped at 0 and at the edge.
    pub fn upsample_bilinear2d(&self, scale: usize) -> Tensor {
        let forward = Entry {
            buffer: "upsample_bilinear",
            texture: Some("upsample_bilinear_tex"),
        };
        let backward = Entry {
            buffer: "upsample_bilinear_grad",
            texture: Some("upsample_bilinear_grad_tex"),
        };
        upsample(self, "upsample_bilinear2d", forward, backward, scale)
    }
}
