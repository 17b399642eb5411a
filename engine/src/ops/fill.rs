//! Tensors made on the GPU without an upload: zeros, ones, full, arange, linspace.
//! Kernel: shaders/fill.wgsl.

use crate::device::Device;
use crate::kernels::{Kernel, FILL};
use crate::shape::grid_1d;
use crate::tensor::Tensor;

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct Params {
    n: u32,
    _pad: u32,
    start: f32,
    step: f32,
}

/// out[i] = start + i * step over a tensor of `shape`.
fn ramp(device: &Device, shape: &[usize], start: f32, step: f32, op: &str) -> Tensor {
    let out = Tensor::uninit(device, shape, op);
    let n = out.numel();
    let params = Params {
        n: n as u32,
        _pad: 0,
        start,
        step,
    };
    // 4 values an invocation when the count allows.
    let (entry, per) = match n % 4 {
        0 => ("fill_ramp4", 4),
        _ => ("fill_ramp", 1),
    };
    device.0.dispatch(
        &Kernel::new(FILL, entry),
        &[out.buffer()],
        bytemuck::bytes_of(&params),
        grid_1d(n / per, 256),
    );
    out
}

impl Tensor {
    pub fn full(device: &Device, shape: &[usize], value: f32) -> Tensor {
        ramp(device, shape, value, 0.0, "full")
    }

    pub fn zeros(device: &Device, shape: &[usize]) -> Tensor {
        Tensor::full(device, shape, 0.0)
    }

    pub fn ones(device: &Device, shape: &[usize]) -> Tensor {
        Tensor::full(device, shape, 1.0)
    }

    pub fn zeros_like(&self) -> Tensor {
        Tensor::zeros(self.device(), self.shape())
    }

    pub fn ones_like(&self) -> Tensor {
        Tensor::ones(self.device(), self.shape())
    }

    /// start, start + step, ... while below `end` (above, for a negative step): 1-D.
    pub fn arange(device: &Device, start: f32, end: f32, step: f32) -> Tensor {
        assert!(step != 0.0, "arange: step must not be 0");
        let n = ((end - start) / step).ceil().max(0.0) as usize;
        ramp(device, &[n], start, step, "arange")
    }

    /// `n` evenly spaced values from `start` to `end` inclusive: 1-D.
    pub fn linspace(device: &Device, start: f32, end: f32, n: usize) -> Tensor {
        let step = if n > 1 {
            (end - start) / (n - 1) as f32
        } else {
            0.0
        };
        ramp(device, &[n], start, step, "linspace")
    }
}
