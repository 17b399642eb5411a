//! Reductions: sum, mean, max over any set of axes, and sum_all / mean_all.
//! Kernels: shaders/reduce.wgsl.
//!
//! Legend: a reduction of one axis views the contiguous input as [outer, r, inner]
//! (outer = product of the axes before it, r = its length, inner = product of the axes after).
//! Several axes: adjacent reduced axes are merged into one, then each run is reduced in turn,
//! last run first. A long axis with few outputs is split into chunks: a first pass writes
//! [outer, nchunks, inner] partial results, a second reduces the chunks, so many workgroups
//! share the work and sums add short runs of values (accurate in f32 even for 1M elements).
//!
//! Backward rules are composed from primitives: sum broadcasts g back over the reduced axes,
//! mean does the same divided by the count, max splits g evenly among the tied maxima.

use crate::kernels::{Kernel, REDUCE};
use crate::shape::{self, grid_1d};
use crate::tensor::Tensor;
use crate::texture_pool::{self, Flat};

#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Op {
    Sum = 0,
    Max = 1,
}

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct Params {
    outer: u32,
    r: u32,
    inner: u32,
    chunk: u32,
    nchunks: u32,
    scale: f32,
    _pad: [u32; 2],
}

/// Shortest row `reduce_rows` (a workgroup per output) is used for.
const ROW_MIN: usize = 256;
/// Elements one workgroup of `reduce_rows` reduces at least, before we split a row in chunks.
const ROW_CHUNK_MIN: usize = 4096;
/// Workgroups `reduce_rows` aims for when rows are few.
const ROW_TARGET_GROUPS: usize = 1024;
/// Elements one invocation of `reduce_cols` reduces at least, before we split in chunks.
const COL_CHUNK_MIN: usize = 32;
/// Invocations `reduce_cols` aims for when outputs are few.
const COL_TARGET_THREADS: usize = 65536;
/// On CPU adapters (those without `workgroup_reductions`), a reduction of at most this many
/// elements, each output summing at most `ONE_PASS_MAX_R`, runs in one pass however few its
/// outputs: a second dispatch costs more there (~70 us on lavapipe, `--example
/// dispatch_cost`) than a pass over 256K values on one core (a bias gradient, [1000, 64] ->
/// [64], is ~20 us of loads).
const ONE_PASS_MAX: usize = 1 << 18;
const ONE_PASS_MAX_R: usize = 4096;

/// Reduces the middle axis of `x` viewed as [outer, r, inner]; returns a flat [outer * inner]
/// tensor, each output multiplied by `scale`. Records nothing.
pub(crate) fn reduce_axis(
    x: &Tensor,
    op: Op,
    outer: usize,
    r: usize,
    inner: usize,
    scale: f32,
) -> Tensor {
    let name = if op == Op::Sum { "sum" } else { "max" };
    let outputs = outer * inner;
    // A workgroup per output only pays for long contiguous rows; short rows (e.g. [N, 3] summed
    // over its last axis) take one invocation per output like the strided case.
    // (`DeviceOptions::workgroup_reductions`: not on CPU adapters.)
    let rows = inner == 1 && r >= ROW_MIN && x.device().0.workgroup_reductions;
    // How many chunks to split the reduced axis into (1: a single pass).
    let cpu = !x.device().0.workgroup_reductions;
    let nchunks = if rows {
        (ROW_TARGET_GROUPS / outer.max(1)).clamp(1, r.div_ceil(ROW_CHUNK_MIN).max(1))
    } else if cpu && outputs * r <= ONE_PASS_MAX && r <= ONE_PASS_MAX_R {
        1
    } else {
        (COL_TARGET_THREADS / outputs.max(1)).clamp(1, r.div_ceil(COL_CHUNK_MIN).max(1))
    };
    let chunk = r.div_ceil(nchunks).max(1);
    let nchunks = r.div_ceil(chunk).max(1);
    let (pass_scale, out_shape) = if nchunks == 1 {
        (scale, vec![outputs])
    } else {
        (1.0, vec![outer, nchunks, inner])
    };
    let out = Tensor::uninit(x.device(), &out_shape, name);
    let params = Params {
        outer: outer as u32,
        r: r as u32,
        inner: inner as u32,
        chunk: chunk as u32,
        nchunks: nchunks as u32,
        scale: pass_scale,
        _pad: [0; 2],
    };
    let bytes = bytemuck::bytes_of(&params);
    let dev = &x.device().0;
    if rows {
        // out is [outer, nchunks]: one workgroup each.
        let kernel = Kernel::new(REDUCE, "reduce_rows").with("OP", op as u32 as f64);
        dev.dispatch(
            &kernel,
            &[x.buffer(), out.buffer()],
            bytes,
            grid_1d(outer * nchunks * 256, 256),
        );
    } else {
        // out is [outer, nchunks, inner]: one invocation each.
        // x through a flat texture where the device reads so.
        let grid = grid_1d(outer * nchunks * inner, 256);
        let kernel = |entry| Kernel::new(REDUCE, entry).with("OP", op as u32 as f64);
        match Flat::of(x, wgpu::TextureFormat::R32Float) {
            Some(f) => {
                let k = kernel("reduce_cols_tex");
                texture_pool::dispatch_reading(x.device(), &k, vec![f], &[&out], bytes, grid)
            }
            None => dev.dispatch(
                &kernel("reduce_cols"),
                &[x.buffer(), out.buffer()],
                bytes,
                grid,
            ),
        }
    }
    if nchunks == 1 {
        out
    } else {
        reduce_axis(&out, op, outer, nchunks, inner, scale)
    }
}

/// Resolves `axes` against `shape`: sorted, non-negative, checked.
fn resolve_axes(name: &str, shape: &[usize], axes: &[isize]) -> Vec<usize> {
    let rank = shape.len() as isize;
    let mut out: Vec<usize> = Vec::with_capacity(axes.len());
    for &a in axes {
        let r = if a < 0 { a + rank } else { a };
        if r < 0 || r >= rank {
            panic!("{name}: axis {a} out of range for shape {shape:?}");
        }
        if out.contains(&(r as usize)) {
            panic!("{name}: axis {a} given twice in axes {axes:?} for shape {shape:?}");
        }
        out.push(r as usize);
    }
    out.sort_unstable();
    out
}

/// The output shape of reducing `axes` (resolved) of `shape`.
fn reduced_shape(shape: &[usize], axes: &[usize], keepdim: bool) -> Vec<usize> {
    let mut out = Vec::with_capacity(shape.len());
    for (i, &d) in shape.iter().enumerate() {
        if !axes.contains(&i) {
            out.push(d);
        } else if keepdim {
            out.push(1);
        }
    }
    out
}

/// Forward of sum/mean/max over resolved `axes` that include an axis longer than 1.
/// The result has shape `out_shape`; records nothing.
fn reduce_forward(x: &Tensor, op: Op, axes: &[usize], mean: bool, out_shape: &[usize]) -> Tensor {
    let count: usize = axes.iter().map(|&a| x.shape()[a]).product();
    let mut scale = if mean { 1.0 / count as f32 } else { 1.0 };
    // Runs [start, end) of adjacent reduced axes longer than 1, in the input's axes.
    let mut runs: Vec<(usize, usize)> = Vec::new();
    for &a in axes.iter().filter(|&&a| x.shape()[a] > 1) {
        match runs.last_mut() {
            Some((_, end)) if *end == a => *end = a + 1,
            _ => runs.push((a, a + 1)),
        }
    }
    let mut dims = x.shape().to_vec();
    let mut cur = x.clone();
    // Last run first, so the earlier runs keep their axis indices in `dims`.
    for &(s, e) in runs.iter().rev() {
        let outer = shape::numel(&dims[..s]);
        let r = shape::numel(&dims[s..e]);
        let inner = shape::numel(&dims[e..]);
        cur = reduce_axis(&cur, op, outer, r, inner, scale);
        scale = 1.0;
        dims.drain(s..e);
    }
    cur.reshape(out_shape)
}

/// Shared front of sum/mean/max: checks axes, handles the copy-free cases, runs the kernels.
/// Returns (output, resolved axes, keepdim shape).
fn reduce(
    name: &str,
    op: Op,
    x: &Tensor,
    axes: &[isize],
    keepdim: bool,
    mean: bool,
) -> (Tensor, Vec<usize>, Vec<usize>) {
    let axes = resolve_axes(name, x.shape(), axes);
    let out_shape = reduced_shape(x.shape(), &axes, keepdim);
    let keep_shape = reduced_shape(x.shape(), &axes, true);
    if axes.iter().all(|&a| x.shape()[a] == 1) {
        // Nothing to combine (no axis, or only axes of size 1): a view of the same buffer,
        // with reshape's own backward.
        return (x.reshape(&out_shape), axes, keep_shape);
    }
    (
        reduce_forward(x, op, &axes, mean, &out_shape),
        axes,
        keep_shape,
    )
}

impl Tensor {
    /// Sum over `axes` (negative axes count from the end); `keepdim` keeps them as size 1.
    /// An empty `axes` reduces nothing: the result is `self` itself (no copy). Panics on a
    /// repeated or out-of-range axis.
    pub fn sum(&self, axes: &[isize], keepdim: bool) -> Tensor {
        if axes.is_empty() {
            return self.clone();
        }
        let (out, _, keep_shape) = reduce("sum", Op::Sum, self, axes, keepdim, false);
        if out.shares_buffer(self) {
            return out;
        }
        let in_shape = self.shape().to_vec();
        // d(sum)/dx = 1: broadcast g back over the reduced axes.
        out.record("sum", &[self], move |g| {
            vec![Some(
                Tensor::zeros(g.device(), &in_shape).add(&g.reshape(&keep_shape)),
            )]
        })
    }

    /// Mean over `axes`; same conventions as `sum`.
    pub fn mean(&self, axes: &[isize], keepdim: bool) -> Tensor {
        if axes.is_empty() {
            return self.clone();
        }
        let (out, axes, keep_shape) = reduce("mean", Op::Sum, self, axes, keepdim, true);
        if out.shares_buffer(self) {
            return out;
        }
        let in_shape = self.shape().to_vec();
        let count: usize = axes.iter().map(|&a| in_shape[a]).product();
        // d(mean)/dx = 1/count, broadcast over the reduced axes.
        out.record("mean", &[self], move |g| {
            vec![Some(
                Tensor::full(g.device(), &in_shape, 1.0 / count as f32)
                    .mul(&g.reshape(&keep_shape)),
            )]
        })
    }

    /// Maximum over `axes`; same conventions as `sum`. The gradient is split evenly among
    /// the elements that tie for the maximum.
    pub fn max(&self, axes: &[isize], keepdim: bool) -> Tensor {
        if axes.is_empty() {
            return self.clone();
        }
        let (out, axes, keep_shape) = reduce("max", Op::Max, self, axes, keepdim, false);
        if out.shares_buffer(self) {
            return out;
        }
        let x = self.clone();
        let m = out.detach().reshape(&keep_shape); // m is x's shape with the axes kept as 1
        let axes: Vec<isize> = axes.iter().map(|&a| a as isize).collect();
        // dx = g * mask / ties, mask = (x == max), ties = the number of maxima per output.
        out.record("max", &[self], move |g| {
            let mask = x.eq(&m);
            let ties = mask.sum(&axes, true);
            vec![Some(mask.mul(&g.reshape(m.shape()).div(&ties)))]
        })
    }

    /// Sum of all elements, as a rank-0 tensor (shape []).
    pub fn sum_all(&self) -> Tensor {
        let axes: Vec<isize> = (0..self.rank() as isize).collect();
        self.sum(&axes, false)
    }

    /// Mean of all elements, as a rank-0 tensor (shape []).
    pub fn mean_all(&self) -> Tensor {
        let axes: Vec<isize> = (0..self.rank() as isize).collect();
        self.mean(&axes, false)
    }
}
