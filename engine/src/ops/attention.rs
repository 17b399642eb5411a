//! Fused scaled dot-product attention, softmax(q k^T / sqrt(D)) v, and its backward.
//! Kernels: shaders/attention.wgsl.
//!
//! Legend: B = batch (batch x heads), Lq = queries, Lk = keys, D = head dim of q and k,
//! Dv = head dim of v.
//!   q is [B, Lq, D], k is [B, Lk, D], v is [B, Lk, Dv] -> out is [B, Lq, Dv]
//!   lse is [B, Lq]: the logsumexp of each row of scores, saved for the backward
//! The forward never stores the [Lq, Lk] scores: `attention_fwd` keeps an online softmax
//! per query row. The backward recomputes P = exp(scale q k^T - lse) on the fly:
//!   dd_i = rowsum(dO_i * O_i)
//!   dq_i = scale * sum_j P_ij (dP_ij - dd_i) k_j,  dP_ij = dO_i . v_j   (`attention_dq`)
//!   dk_j = scale * sum_i P_ij (dP_ij - dd_i) q_i,  dv_j = sum_i P_ij dO_i  (`attention_dkv`)
//! The kernels hold rows of up to `MAX_HEAD_DIM` floats in vec4 registers and need D and Dv
//! to be multiples of 4: other head dims are zero-padded to one (the padding adds nothing to
//! q . k, and the padded output columns are cut off), wider heads, devices with fewer than 4
//! storage buffers per stage, and tensors too large for the flat textures the kernels read q,
//! k, v and dO through take the composed path `attention_composed`.

use crate::kernels::{Kernel, ATTENTION};
use crate::shape::grid_1d;
use crate::tensor::Tensor;
use crate::texture_pool::{self, Flat};

/// Widest head (D and Dv) the fused kernels hold in registers.
pub const MAX_HEAD_DIM: usize = 64;

/// Storage buffers the backward kernels bind (q, k, v and dO are textures).
const STORAGE_BUFFERS: u32 = 4;

/// Mirrors `Params` in attention.wgsl.
#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct Params {
    b: u32,
    lq: u32,
    lk: u32,
    /// ceil(L / rows) row groups per batch item (L = Lq, or Lk for `attention_dkv`).
    groups: u32,
    scale: f32,
    _pad: [u32; 3],
}

/// Sizes of one call, checked.
#[derive(Clone, Copy)]
struct Dims {
    b: usize,
    lq: usize,
    lk: usize,
    d: usize,
    dv: usize,
}

fn u32_of(what: &str, v: usize) -> u32 {
    u32::try_from(v).unwrap_or_else(|_| panic!("attention: {what} {v} does not fit in 32 bits"))
}

/// Checks q [B, Lq, D], k [B, Lk, D], v [B, Lk, Dv]; panics naming the shapes.
fn check(q: &Tensor, k: &Tensor, v: &Tensor) -> Dims {
    let shapes = format!("q {:?}, k {:?}, v {:?}", q.shape(), k.shape(), v.shape());
    assert!(
        q.rank() == 3 && k.rank() == 3 && v.rank() == 3,
        "attention: q, k, v must be rank 3 ([B, L, D]), got {shapes}"
    );
    let (b, lq, d) = (q.dim(0), q.dim(1), q.dim(2));
    let (lk, dv) = (k.dim(1), v.dim(2));
    assert!(
        k.dim(0) == b && v.dim(0) == b,
        "attention: batch sizes differ: {shapes}"
    );
    assert!(
        k.dim(2) == d,
        "attention: q and k head dims differ: {shapes}"
    );
    assert!(
        v.dim(1) == lk,
        "attention: k and v hold different numbers of keys: {shapes}"
    );
    assert!(lk > 0, "attention: no keys to attend to: {shapes}");
    q.same_device("attention", k);
    q.same_device("attention", v);
    Dims { b, lq, lk, d, dv }
}

/// Rows per invocation. On CPU adapters each invocation is a SIMD lane and every storage
/// load a loop over the lanes (BENCHMARKS.md: the loads dominate), so each loaded key row is
/// reused by 16 query rows (or each query row by 16 key rows); GPUs keep one row per
/// invocation, whose state already fills their register file at D = 64.
pub fn rows_per_invocation(t: &Tensor) -> usize {
    if t.device().info().device_type == wgpu::DeviceType::Cpu {
        16
    } else {
        1
    }
}

/// Most rows per invocation the kernels hold (`ROWS` in attention.wgsl).
pub const MAX_ROWS: usize = 16;

/// One launch of kernel `entry` over `rows` rows per batch item, `per` rows per invocation:
/// binds `buffers`, returns nothing (the outputs are among the buffers).
fn launch(
    entry: &'static str,
    dims: Dims,
    scale: f32,
    rows: usize,
    per: usize,
    buffers: &[&Tensor],
) {
    let dev = buffers[0].device();
    let groups = rows.div_ceil(per);
    let params = Params {
        b: u32_of("batch", dims.b),
        lq: u32_of("Lq", dims.lq),
        lk: u32_of("Lk", dims.lk),
        groups: u32_of("row groups", groups),
        scale,
        _pad: [0; 3],
    };
    let kernel = Kernel::new(ATTENTION, entry)
        .with("D4", (dims.d / 4) as f64)
        .with("DV4", (dims.dv / 4) as f64)
        .with("ROWS", per as f64);
    // q, k, v and dO (bindings 0, 1, 2, 5) through flat textures (see attention.wgsl).
    let textures: Vec<Option<Flat>> = buffers
        .iter()
        .enumerate()
        .map(|(i, t)| matches!(i, 0 | 1 | 2 | 5).then(|| Flat::new(t, RGBA)))
        .collect();
    let bindings: Vec<wgpu::BindingResource> = buffers
        .iter()
        .zip(&textures)
        .map(|(t, f)| match f {
            Some(f) => f.binding(),
            None => t.buffer().as_entire_binding(),
        })
        .collect();
    let invocations = dims.b * groups;
    u32_of("invocation count", invocations);
    dev.0.dispatch_bound(
        &kernel,
        &bindings,
        bytemuck::bytes_of(&params),
        grid_1d(invocations, 64),
    );
    drop(bindings);
    textures
        .into_iter()
        .flatten()
        .for_each(|f| f.give_back(dev));
}

const RGBA: wgpu::TextureFormat = wgpu::TextureFormat::Rgba32Float;

/// Whether q, k, v (and so dO, q's size over Dv) fit the flat textures the kernels read.
fn fits_textures(dev: &crate::device::Device, dims: &Dims) -> bool {
    let (d, dv) = (dims.d.div_ceil(4) * 4, dims.dv.div_ceil(4) * 4);
    [dims.lq * d, dims.lk * d, dims.lk * dv, dims.lq * dv]
        .iter()
        .all(|&n| n == 0 || texture_pool::flat_fits(dev, dims.b * n, RGBA))
}

/// Forward kernel: (out [B, Lq, Dv], lse [B, Lq]). Records nothing.
fn forward(
    q: &Tensor,
    k: &Tensor,
    v: &Tensor,
    dims: Dims,
    scale: f32,
    per: usize,
) -> (Tensor, Tensor) {
    let dev = q.device();
    let out = Tensor::uninit(dev, &[dims.b, dims.lq, dims.dv], "attention");
    let lse = Tensor::uninit(dev, &[dims.b, dims.lq], "attention");
    let bufs = [q, k, v, &out, &lse];
    launch("attention_fwd", dims, scale, dims.lq, per, &bufs);
    (out, lse)
}

/// The fused kernels at head dims that are multiples of 4 and at most `MAX_HEAD_DIM`, with
/// their backward recorded.
fn fused(q: &Tensor, k: &Tensor, v: &Tensor, dims: Dims, scale: f32, per: usize) -> Tensor {
    let (out, lse) = forward(q, k, v, dims, scale, per);
    let (q2, k2, v2, o) = (q.clone(), k.clone(), v.clone(), out.detach());
    out.record("attention", &[q, k, v], move |g| {
        let dev = g.device();
        // dq, and dd = rowsum(dO * O) [B, Lq] for the key side.
        let dq = Tensor::uninit(dev, q2.shape(), "attention backward");
        let dd = Tensor::uninit(dev, &[dims.b, dims.lq], "attention backward");
        let bufs = [&q2, &k2, &v2, &lse, &dd, g, &o, &dq];
        launch("attention_dq", dims, scale, dims.lq, per, &bufs);
        let (dk, dv) = if k2.requires_grad() || v2.requires_grad() {
            let dk = Tensor::uninit(dev, k2.shape(), "attention backward");
            let dv = Tensor::uninit(dev, v2.shape(), "attention backward");
            let bufs = [&q2, &k2, &v2, &lse, &dd, g, &dk, &dv];
            launch("attention_dkv", dims, scale, dims.lk, per, &bufs);
            (Some(dk), Some(dv))
        } else {
            (None, None)
        };
        vec![Some(dq), dk, dv]
    })
}

/// x [B, L, n] zero-padded along its last axis to `to` columns (composed, so differentiable).
fn pad_last(x: &Tensor, to: usize) -> Tensor {
    let (b, l, n) = (x.dim(0), x.dim(1), x.dim(2));
    if n == to {
        return x.clone();
    }
    let zeros = Tensor::zeros(x.device(), &[b, l, to - n]);
    Tensor::concat(&[x, &zeros], -1)
}

/// `Tensor::attention` with an explicit number of rows per invocation (1 to `MAX_ROWS`)
/// instead of the adapter's default (`rows_per_invocation`): a tuning choice only, all give
/// the same result, and the tests run each on every machine.
pub fn attention_with_rows(q: &Tensor, k: &Tensor, v: &Tensor, rows: usize) -> Tensor {
    let dims = check(q, k, v);
    assert!(
        (1..=MAX_ROWS).contains(&rows),
        "attention: {rows} rows per invocation, the kernels hold 1 to {MAX_ROWS}"
    );
    let scale = 1.0 / (dims.d as f32).sqrt();
    let limits = q.device().limits();
    if dims.d > MAX_HEAD_DIM
        || dims.dv > MAX_HEAD_DIM
        || limits.max_storage_buffers_per_shader_stage < STORAGE_BUFFERS
        || !fits_textures(q.device(), &dims)
    {
        return Tensor::attention_composed(q, k, v);
    }
    if dims.lq == 0 || dims.b == 0 {
        return Tensor::zeros(q.device(), &[dims.b, dims.lq, dims.dv]);
    }
    let (d4, dv4) = (dims.d.div_ceil(4) * 4, dims.dv.div_ceil(4) * 4);
    if (d4, dv4) == (dims.d, dims.dv) {
        return fused(q, k, v, dims, scale, rows);
    }
    let padded = Dims {
        d: d4,
        dv: dv4,
        ..dims
    };
    let (qp, kp, vp) = (pad_last(q, d4), pad_last(k, d4), pad_last(v, dv4));
    fused(&qp, &kp, &vp, padded, scale, rows).narrow(-1, 0, dims.dv)
}

impl Tensor {
    /// softmax(q k^T / sqrt(D)) v as one fused kernel (and a fused backward):
    /// q [B, Lq, D], k [B, Lk, D], v [B, Lk, Dv] -> [B, Lq, Dv]. Lq and Lk may differ.
    /// Called as `Tensor::attention(&q, &k, &v)`. Panics naming the shapes when ranks, batch
    /// sizes, head dims or key counts disagree.
    pub fn attention(q: &Tensor, k: &Tensor, v: &Tensor) -> Tensor {
        attention_with_rows(q, k, v, rows_per_invocation(q))
    }

    /// The same attention composed from primitives: softmax(q k^T * scale) v with
    /// scale = 1/sqrt(D), the [B, Lq, Lk] scores in memory. The fused kernel's reference
    /// (tests and benches compare the two) and its fallback for heads wider than
    /// `MAX_HEAD_DIM`.
    pub fn attention_composed(q: &Tensor, k: &Tensor, v: &Tensor) -> Tensor {
        let dims = check(q, k, v);
        let scale = 1.0 / (dims.d as f32).sqrt();
        q.matmul_t(k, false, true) // [B, Lq, Lk]
            .mul_scalar(scale)
            .softmax()
            .matmul(v)
    }
}
