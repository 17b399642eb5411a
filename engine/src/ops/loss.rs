//! Losses. Kernels: shaders/loss.wgsl.
//!
//! mse_loss: a fused pass writes per-chunk sums of (a - b)^2 ([nchunks]), then the reduce
//! kernels add the chunks and divide by n: a rank-0 result, accurate for n in the millions.
//! Up to one chunk (4096 values, read from buffers) the first pass writes the mean itself: one
//! dispatch. Its backward is one pass too (`mse_grad`).

use crate::kernels::{Kernel, LOSS};
use crate::ops::reduce::{reduce_axis, Op};
use crate::shape::grid_1d;
use crate::tensor::Tensor;
use crate::texture_pool::{self, Flat};

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct Params {
    n: u32,
    chunk: u32,
    nchunks: u32,
    /// Multiplies each chunk's sum (1 / n when one chunk is the whole loss).
    scale: f32,
}

/// Smallest chunk of elements one workgroup of `mse_partial` sums.
const MIN_CHUNK: usize = 4096;
/// Most chunks (workgroups) of the first pass.
const MAX_CHUNKS: usize = 1024;

/// Texels per invocation of `mse_partial4_tex`.
const TEX_CHUNK: usize = 16;

/// Sums of (a - b)^2 over chunks of the elements: partial is [nchunks], and whether they are
/// already the mean (one chunk, multiplied by 1 / n: no reduction dispatch after it).
fn mse_partial(a: &Tensor, b: &Tensor) -> (Tensor, bool) {
    let n = a.numel();
    let rgba = wgpu::TextureFormat::Rgba32Float;
    let dev = a.device();
    if n.is_multiple_of(4) {
        if let Some(flats) = Flat::all(&[(a, rgba), (b, rgba)]) {
            let nchunks = (n / 4).div_ceil(TEX_CHUNK);
            let partial = Tensor::uninit(dev, &[nchunks], "mse_loss");
            let params = Params {
                n: (n / 4) as u32,
                chunk: TEX_CHUNK as u32,
                nchunks: nchunks as u32,
                scale: 1.0,
            };
            texture_pool::dispatch_reading(
                dev,
                &Kernel::new(LOSS, "mse_partial4_tex"),
                flats,
                &[&partial],
                bytemuck::bytes_of(&params),
                grid_1d(nchunks, 64),
            );
            return (partial, false);
        }
    }
    let chunk = n.div_ceil(MAX_CHUNKS).max(MIN_CHUNK);
    let nchunks = n.div_ceil(chunk).max(1);
    let partial = Tensor::uninit(dev, &[nchunks], "mse_loss"); // partial is [nchunks]
    let params = Params {
        n: n as u32,
        chunk: chunk as u32,
        nchunks: nchunks as u32,
        scale: if nchunks == 1 { 1.0 / n as f32 } else { 1.0 },
    };
    dev.0.dispatch(
        &Kernel::new(LOSS, "mse_partial"),
        &[a.buffer(), b.buffer(), partial.buffer()],
        bytemuck::bytes_of(&params),
        grid_1d(nchunks * 256, 256),
    );
    (partial, nchunks == 1)
}

/// Mirrors `GradParams` in loss.wgsl.
#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct GradParams {
    n: u32,
    scale: f32,
    _pad: [u32; 2],
}

/// d mse_loss(a, b) / da = 2 (a - b) / n * g, g rank 0: one dispatch.
fn mse_grad(a: &Tensor, b: &Tensor, g: &Tensor) -> Tensor {
    let n = a.numel();
    let da = Tensor::uninit(a.device(), a.shape(), "mse_loss backward");
    let params = GradParams {
        n: u32::try_from(n).expect("mse_loss: more than 2^32 elements"),
        scale: 2.0 / n as f32,
        _pad: [0; 2],
    };
    a.device().0.dispatch(
        &Kernel::new(LOSS, "mse_grad"),
        &[a.buffer(), b.buffer(), g.buffer(), da.buffer()],
        bytemuck::bytes_of(&params),
        grid_1d(n, 256),
    );
    da
}

impl Tensor {
    /// Mean over all elements of (self - target)^2, as a rank-0 tensor. The shapes must match
    /// exactly (no broadcasting). Gradients: 2 (a - b) / n * g to self, its negative to target.
    pub fn mse_loss(&self, target: &Tensor) -> Tensor {
        self.same_device("mse_loss", target);
        assert!(
            self.shape() == target.shape(),
            "mse_loss: input shape {:?} and target shape {:?} differ",
            self.shape(),
            target.shape()
        );
        let n = self.numel();
        let out = match mse_partial(self, target) {
            (mean, true) => mean.reshape(&[]),
            (partial, false) => {
                let nchunks = partial.numel();
                reduce_axis(&partial, Op::Sum, 1, nchunks, 1, 1.0 / n as f32).reshape(&[])
            }
        };
        let (a, b) = (self.clone(), target.clone());
        out.record("mse_loss", &[self, target], move |g| {
            // g is rank 0: d/da = 2 (a - b) / n * g, d/db = -d/da.
            let da = mse_grad(&a, &b, g);
            let db = b.requires_grad().then(|| da.neg());
            vec![Some(da), db]
        })
    }
}
