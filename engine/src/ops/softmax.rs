//! softmax and log_softmax over the last axis. Kernels: shaders/softmax.wgsl.
//!
//! Legend: the input is viewed as [rows, n], n = the last axis. Rows of up to
//! `THREAD_ROW_MAX` elements get one invocation each, longer rows one workgroup each with a
//! tree in workgroup memory, except where the device does without workgroup trees
//! (`DeviceOptions::workgroup_reductions`, off on CPU adapters): there every row gets one
//! invocation (on lavapipe the composed attention forward at B64 L64 D32, whose softmax has 4096
//! rows of 64, went from 143 to 10.5 ms).
//! The backward rules are composed from primitives, using the saved output y:
//!   softmax:     dx = y * (g - sum(g * y, -1))
//!   log_softmax: dx = g - exp(y) * sum(g, -1)

use crate::kernels::{Kernel, SOFTMAX};
use crate::shape::grid_1d;
use crate::tensor::Tensor;

/// Longest row handled by one invocation instead of one workgroup.
const THREAD_ROW_MAX: usize = 32;

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct Params {
    rows: u32,
    n: u32,
    _pad: [u32; 2],
}

/// out = softmax or log_softmax of x over its last axis; records nothing.
fn launch(name: &str, x: &Tensor, log: bool) -> Tensor {
    assert!(
        x.rank() >= 1,
        "{name}: needs a tensor with at least one axis, got shape {:?}",
        x.shape()
    );
    let out = Tensor::uninit(x.device(), x.shape(), name);
    let n = x.dim(-1);
    let rows = x.numel().checked_div(n).unwrap_or(0);
    let params = Params {
        rows: rows as u32,
        n: n as u32,
        _pad: [0; 2],
    };
    let per_thread = n <= THREAD_ROW_MAX || !x.device().0.workgroup_reductions;
    let (entry, grid) = if per_thread {
        ("softmax_thread", grid_1d(rows, 256))
    } else {
        ("softmax_wg", grid_1d(rows * 256, 256))
    };
    let kernel = Kernel::new(SOFTMAX, entry).with("LOG", log as u32 as f64);
    x.device().0.dispatch(
        &kernel,
        &[x.buffer(), out.buffer()],
        bytemuck::bytes_of(&params),
        grid,
    );
    out
}

impl Tensor {
    /// exp(x) / sum(exp(x)) over the last axis, computed as exp(x - max) / sum(exp(x - max)).
    pub fn softmax(&self) -> Tensor {
        let out = launch("softmax", self, false);
        let y = out.detach(); // y is the output, without a link back to its own node
        out.record("softmax", &[self], move |g| {
            let gy = g.mul(&y).sum(&[-1], true); // [..., 1]
            vec![Some(y.mul(&g.sub(&gy)))]
        })
    }

    /// x - log(sum(exp(x))) over the last axis, computed as x - max - log(sum(exp(x - max))).
    pub fn log_softmax(&self) -> Tensor {
        let out = launch("log_softmax", self, true);
        let y = out.detach();
        out.record("log_softmax", &[self], move |g| {
            let gs = g.sum(&[-1], true); // [..., 1]
            vec![Some(g.sub(&y.exp().mul(&gs)))]
        })
    }
}
