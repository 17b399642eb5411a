//! Roofline probes, for benchmarks: the compute ceiling (a register-resident FMA loop) and the
//! memory ceilings (a device-to-device buffer copy, a vec4 streaming copy kernel and a vec4
//! streaming write kernel) of the adapter in use. Kernels: shaders/roofline.wgsl. Timed by
//! `benches/roofline.rs`.
//!
//! Legend: n = invocations of the FMA loop, one per element of its input.

use crate::kernels::{Kernel, ROOFLINE};
use crate::shape::grid_1d;
use crate::tensor::Tensor;

/// Independent vec4 accumulators each FMA-loop invocation keeps in registers.
pub const FMA_ACCUMULATORS: u64 = 8;

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct Params {
    n: u32,
    _pad: u32,
    mul: f32,
    add: f32,
}

/// FLOPs one `fma_loop` over `n` invocations of `iters` steps performs (an FMA counts 2).
pub fn fma_flops(n: usize, iters: u32) -> u64 {
    n as u64 * iters as u64 * FMA_ACCUMULATORS * 4 * 2
}

/// For each x[i], starts the 32 lanes `x[i] + 0.25 * l` (l = 0..32, as 8 vec4 accumulators of
/// 4 lanes), runs `iters` steps of `a = fma(a, mul, add)` on every lane and writes the lanes' sum.
/// x and the result are [n]. `iters` is a pipeline constant: each value compiles once.
pub fn fma_loop(x: &Tensor, iters: u32, mul: f32, add: f32) -> Tensor {
    assert!(
        x.shape().len() == 1,
        "fma_loop: input must be 1-D, got {:?}",
        x.shape()
    );
    let n = x.numel();
    let out = Tensor::uninit(x.device(), &[n], "fma_loop");
    let params = Params {
        n: n as u32,
        _pad: 0,
        mul,
        add,
    };
    let k = Kernel::new(ROOFLINE, "fma_loop").with("ITERS", iters as f64);
    x.device().0.dispatch(
        &k,
        &[x.buffer(), out.buffer()],
        bytemuck::bytes_of(&params),
        grid_1d(n, 256),
    );
    out
}

/// dst = src with `copy_buffer_to_buffer` (no shader): the device's copy bandwidth.
/// Both must have the same number of elements.
pub fn copy_buffer(src: &Tensor, dst: &Tensor) {
    assert!(
        src.numel() == dst.numel(),
        "copy_buffer: source {:?} and destination {:?} differ in size",
        src.shape(),
        dst.shape()
    );
    let bytes = 4 * src.numel() as u64;
    if bytes > 0 {
        src.device()
            .0
            .encode(|enc| enc.copy_buffer_to_buffer(src.buffer(), 0, dst.buffer(), 0, bytes));
    }
}

/// A copy of `src` made by a kernel reading and writing one vec4 per invocation.
/// `src`'s element count must be a multiple of 4.
pub fn stream_copy(src: &Tensor) -> Tensor {
    let n = src.numel();
    assert!(
        n.is_multiple_of(4),
        "stream_copy: {n} elements (shape {:?}) is not a multiple of 4",
        src.shape()
    );
    let out = Tensor::uninit(src.device(), src.shape(), "stream_copy");
    let params = Params {
        n: (n / 4) as u32,
        _pad: 0,
        mul: 0.0,
        add: 0.0,
    };
    src.device().0.dispatch(
        &Kernel::new(ROOFLINE, "stream_copy"),
        &[src.buffer(), out.buffer()],
        bytemuck::bytes_of(&params),
        grid_1d(n / 4, 256),
    );
    out
}

/// A new [n] tensor written by a kernel that stores one vec4 per invocation and reads nothing:
/// element i = i * mul + add (exact for i < 2^24 with mul = 1, add = 0). The write ceiling
/// of kernels that only produce values (randn). `n` must be a multiple of 4.
pub fn stream_write(dev: &crate::Device, n: usize, mul: f32, add: f32) -> Tensor {
    assert!(
        n.is_multiple_of(4),
        "stream_write: {n} elements is not a multiple of 4"
    );
    let out = Tensor::uninit(dev, &[n], "stream_write");
    let params = Params {
        n: (n / 4) as u32,
        _pad: 0,
        mul,
        add,
    };
    dev.0.dispatch(
        &Kernel::new(ROOFLINE, "stream_write"),
        &[out.buffer()],
        bytemuck::bytes_of(&params),
        grid_1d(n / 4, 256),
    );
    out
}
