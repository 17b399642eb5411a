//! Optimizers (SGD with momentum, Adam, AdamW), an exponential moving average of the weights,
//! global gradient-norm clipping, and learning-rate schedules.
//! Kernels: shaders/optim.wgsl.
//!
//! Every update runs on the GPU in place: a dispatch writes the parameter's buffer and its
//! state buffers (which are ordinary tensors, so a checkpoint can save and restore them
//! through `Optimizer::state`). Adam and the EMA update small parameters several per dispatch
//! (`multi`). Nothing is read back.

mod adam;
mod clip;
mod ema;
mod multi;
pub mod schedule;
mod sgd;

pub use adam::Adam;
pub use clip::clip_grad_norm;
pub use ema::Ema;
pub use schedule::WarmupCosine;
pub use sgd::Sgd;

use crate::tensor::Tensor;

/// What a training loop and a checkpoint need from any optimizer.
pub trait Optimizer {
    /// One update of every parameter that has a gradient (parameters without one are skipped).
    fn step(&mut self);
    /// Drops every parameter's gradient.
    fn zero_grad(&self);
    fn lr(&self) -> f32;
    /// Sets the learning rate of the next steps (a schedule calls this every step).
    fn set_lr(&mut self, lr: f32);
    /// Steps taken so far (Adam's bias correction uses it).
    fn step_count(&self) -> u64;
    fn set_step_count(&mut self, steps: u64);
    /// The state tensors by name ("m.0", "v.0", ...): live handles, so writing into them
    /// (`Tensor::copy_from_slice`) restores the optimizer.
    fn state(&self) -> Vec<(String, Tensor)>;
}

/// Uniform parameters of the update kernels (mirrors `Params` in optim.wgsl).
#[repr(C)]
#[derive(Clone, Copy, Default, bytemuck::Pod, bytemuck::Zeroable)]
struct Params {
    n: u32,
    _pad: [u32; 3],
    lr: f32,
    momentum: f32,
    beta2: f32,
    eps: f32,
    weight_decay: f32,
    bc1: f32,
    bc2: f32,
    _pad3: f32,
}

fn n32(op: &str, t: &Tensor) -> u32 {
    u32::try_from(t.numel())
        .unwrap_or_else(|_| panic!("{op}: tensor of shape {:?} is too large", t.shape()))
}

/// Copies `src`'s elements into `dst`'s buffer on the GPU (same shape).
fn copy_into(op: &str, src: &Tensor, dst: &Tensor) {
    assert_eq!(
        src.shape(),
        dst.shape(),
        "{op}: shapes {:?} and {:?} differ",
        src.shape(),
        dst.shape()
    );
    src.same_device(op, dst);
    let bytes = (src.numel() * 4) as u64;
    if bytes == 0 || src.shares_buffer(dst) {
        return;
    }
    src.device()
        .0
        .encode(|enc| enc.copy_buffer_to_buffer(src.buffer(), 0, dst.buffer(), 0, bytes));
}

/// A copy of `t` in a new buffer.
fn clone_tensor(op: &str, t: &Tensor) -> Tensor {
    let out = Tensor::uninit(t.device(), t.shape(), op);
    copy_into(op, t, &out);
    out
}

/// Panics unless every parameter is a leaf on one device.
fn check_params(op: &str, params: &[Tensor]) {
    for (i, p) in params.iter().enumerate() {
        assert!(
            p.is_leaf(),
            "{op}: parameter {i} (shape {:?}) is not a leaf: it came from {:?}",
            p.shape(),
            p.grad_fn()
        );
        p.same_device(op, &params[0]);
    }
}
