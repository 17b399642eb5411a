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

/// Mirrors `Params` in upsample.wgsl.
#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct Params {
    planes: u32,
    h: u32,
    w: u32,
    s: u32,
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

/// Runs `entry` over src [N, C, H, W] (the input's size: x forward, dx backward), writing a
/// tensor of `out_shape`, one invocation per output element. Records nothing.
fn launch(
    entry: &'static str,
    src: &Tensor,
    in_shape: &[usize],
    scale: usize,
    out_shape: &[usize],
) -> Tensor {
    let dev = src.device();
    let out = Tensor::uninit(dev, out_shape, entry);
    let u = |v: usize| {
        u32::try_from(v).unwrap_or_else(|_| panic!("{entry}: size {v} does not fit in 32 bits"))
    };
    let params = Params {
        planes: u(in_shape[0] * in_shape[1]),
        h: u(in_shape[2]),
        w: u(in_shape[3]),
        s: u(scale),
    };
    let n: usize = out_shape.iter().product();
    dev.0.dispatch(
        &Kernel::new(UPSAMPLE, entry),
        &[src.buffer(), out.buffer()],
        bytemuck::bytes_of(&params),
        grid_1d(n, 64),
    );
    out
}

/// Forward `entry` and, on the tape, its gather backward `grad_entry`.
fn upsample(
    x: &Tensor,
    op: &'static str,
    entry: &'static str,
    grad_entry: &'static str,
    scale: usize,
) -> Tensor {
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
        let op = "upsample_nearest2d";
        upsample(self, op, "upsample_nearest", "upsample_nearest_grad", scale)
    }

    /// [N, C, H, W] -> [N, C, H*scale, W*scale] by bilinear interpolation, as PyTorch's
    /// `nn.Upsample(scale_factor=scale, mode="bilinear", align_corners=False)`: output pixel
    /// centres map to source coordinates (dst + 0.5) / scale - 0.5, clamped at 0 and at the edge.
    pub fn upsample_bilinear2d(&self, scale: usize) -> Tensor {
        let op = "upsample_bilinear2d";
        upsample(
            self,
            op,
            "upsample_bilinear",
            "upsample_bilinear_grad",
            scale,
        )
    }
}
