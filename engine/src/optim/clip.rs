//! Global gradient-norm clipping, entirely on the GPU (no readback):
//!   norm = sqrt(sum over all grads of sum g^2);  g <- g * min(1, max_norm / (norm + 1e-6))
//! Kernels: sumsq_partial (per gradient, <= 64 workgroups, grid-stride), sumsq_finish (one
//! workgroup), clip_scale (per gradient) in shaders/optim.wgsl.

use crate::kernels::{Kernel, OPTIM};
use crate::shape::grid_1d;
use crate::tensor::Tensor;

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct ReduceParams {
    n: u32,
    base: u32,
    _pad: u32,
    max_norm: f32,
}

/// Most workgroups `sumsq_partial` uses for one gradient.
const MAX_PARTIALS: usize = 64;

/// Scales the gradients of `params` so that their global L2 norm is at most `max_norm`, and
/// returns the norm before clipping as a rank-0 tensor (still on the GPU). Parameters without
/// a gradient are skipped. Each clipped gradient is a new tensor (`set_grad`), so gradients
/// that share a buffer (the backward of `add` hands one tensor to both operands) are each
/// scaled once.
pub fn clip_grad_norm(params: &[Tensor], max_norm: f32) -> Tensor {
    assert!(!params.is_empty(), "clip_grad_norm: no parameters");
    assert!(
        max_norm > 0.0,
        "clip_grad_norm: max_norm {max_norm} must be positive"
    );
    let dev = params[0].device().clone();
    let with_grad: Vec<(&Tensor, Tensor)> = params
        .iter()
        .filter_map(|p| p.grad().map(|g| (p, g)))
        .collect();
    if with_grad.is_empty() {
        return Tensor::zeros(&dev, &[]);
    }
    let groups: Vec<usize> = with_grad
        .iter()
        .map(|(_, g)| g.numel().div_ceil(256).clamp(1, MAX_PARTIALS))
        .collect();
    let total: usize = groups.iter().sum();
    let partial = Tensor::uninit(&dev, &[total], "clip_grad_norm"); // partial is [P]
    let mut base = 0;
    for ((p, g), &wg) in with_grad.iter().zip(&groups) {
        p.same_device("clip_grad_norm", &params[0]);
        let u = ReduceParams {
            n: g.numel() as u32,
            base: base as u32,
            _pad: 0,
            max_norm,
        };
        dev.0.dispatch(
            &Kernel::new(OPTIM, "sumsq_partial"),
            &[g.buffer(), partial.buffer()],
            bytemuck::bytes_of(&u),
            [wg as u32, 1, 1],
        );
        base += wg;
    }
    let norm = Tensor::uninit(&dev, &[], "clip_grad_norm"); // norm is [] (one element)
    let u = ReduceParams {
        n: total as u32,
        base: 0,
        _pad: 0,
        max_norm,
    };
    dev.0.dispatch(
        &Kernel::new(OPTIM, "sumsq_finish"),
        &[partial.buffer(), norm.buffer()],
        bytemuck::bytes_of(&u),
        [1, 1, 1],
    );
    for (p, g) in &with_grad {
        let out = Tensor::uninit(&dev, g.shape(), "clip_grad_norm");
        let u = ReduceParams {
            n: g.numel() as u32,
            base: 0,
            _pad: 0,
            max_norm,
        };
        let bufs = [g.buffer(), norm.buffer(), out.buffer()];
        dev.0.dispatch(
            &Kernel::new(OPTIM, "clip_scale"),
            &bufs,
            bytemuck::bytes_of(&u),
            grid_1d(g.numel(), 256),
        );
        p.set_grad(Some(out));
    }
    norm
}
