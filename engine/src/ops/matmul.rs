//! Batched matrix multiply with optional transposes, and its backward.
//! Kernels: shaders/matmul.wgsl.
//!
//! Legend: op(X) is X or X^T (the last two axes swapped, read in place by the kernel: no
//! copies). M, N = rows, cols of the output; K = the contracted dim; batch = the leading axes.
//!   a is [..., M, K] (or [..., K, M] when trans_a)
//!   b is [..., K, N] (or [..., N, K] when trans_b)
//!   out is [..., M, N]
//! Batch axes are equal on both sides, or one operand is rank 2 and shared across the batch.

use super::matmul_texture;
use crate::kernels::{Kernel, MATMUL};
use crate::tensor::Tensor;

/// Mirrors `Params` in matmul.wgsl.
#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct Params {
    m: u32,
    n: u32,
    k: u32,
    /// Batch items summed into each output (1 for a plain matmul).
    r: u32,
    /// Element strides between output batches (0: shared) and between summed items.
    a_bs: u32,
    b_bs: u32,
    a_rs: u32,
    b_rs: u32,
    /// How many k each output sums (K, or a chunk of K with split-K).
    kc: u32,
    _pad: [u32; 3],
}

/// One kernel launch: out[z] = sum_{r < red} op(A)[z, r] @ op(B)[z, r], out is [batch, M, N]
/// (reshaped to `out_shape`).
struct Launch {
    m: usize,
    n: usize,
    k: usize,
    batch: usize,
    red: usize,
    a_bs: usize,
    b_bs: usize,
    a_rs: usize,
    b_rs: usize,
}

/// Products with M, N or K at most this use `matmul_thin`.
const THIN: usize = 8;

fn u32_of(op: &str, what: &str, v: usize) -> u32 {
    u32::try_from(v).unwrap_or_else(|_| panic!("{op}: {what} {v} does not fit in 32 bits"))
}

/// Records the kernel; records no graph.
fn launch(
    op: &str,
    a: &Tensor,
    b: &Tensor,
    trans_a: bool,
    trans_b: bool,
    l: &Launch,
    out_shape: &[usize],
) -> Tensor {
    a.same_device(op, b);
    let dev = a.device();
    if l.k == 0 || l.red == 0 {
        return Tensor::zeros(dev, out_shape);
    }
    let params = Params {
        m: u32_of(op, "M", l.m),
        n: u32_of(op, "N", l.n),
        k: u32_of(op, "K", l.k),
        r: u32_of(op, "batch", l.red),
        a_bs: u32_of(op, "a's batch stride", l.a_bs),
        b_bs: u32_of(op, "b's batch stride", l.b_bs),
        a_rs: u32_of(op, "a's batch stride", l.a_rs),
        b_rs: u32_of(op, "b's batch stride", l.b_rs),
        kc: u32_of(op, "K", l.k),
        _pad: [0; 3],
    };
    // matmul_tiled reads and writes every operand as vec4s along its contiguous axis. Its
    // 16x16 tiles per invocation (WIDE) pay on CPU adapters, where every load and store is a
    // loop over SIMD lanes; GPUs get 8x8, which fits their registers (DeviceOptions).
    let vec4 =
        l.k.is_multiple_of(4) && l.n.is_multiple_of(4) && (!trans_a || l.m.is_multiple_of(4));
    // A 128-wide workgroup tile over an output 64 or fewer wide computes mostly padding.
    let wide = dev.0.matmul_wide_tiles && l.m > 64 && l.n > 64;
    // A thin side (an MLP's 2-wide input or output layer, or its weight gradient) would leave
    // most of a 64x64 tile idle: one invocation per 4 outputs instead.
    let thin = l.m.min(l.n).min(l.k) <= THIN;
    // CPU adapters: operands through textures, op(B) by subgroup broadcasts (or one
    // invocation per 4 outputs when thin), for a plain product, one whose B is shared
    // across A's batch (A's batch is then just more rows, when A is not transposed), or one
    // with both operands batched.
    let plain = l.red == 1 && (l.batch == 1 || (l.b_bs == 0 && !trans_a));
    let rows = l.batch * l.m;
    if dev.0.matmul_texture && plain && matmul_texture::fits(dev, rows, l.n, l.k) {
        let dims = [1, rows, l.n, l.k];
        return matmul_texture::matmul(a, b, trans_a, trans_b, dims, out_shape, op);
    }
    // Both operands batched (attention's scores and outputs): one batch item per grid z.
    let batched = l.red == 1 && l.batch > 1 && l.a_bs == l.m * l.k && l.b_bs == l.k * l.n;
    let dims = [l.batch, l.m, l.n, l.k];
    if dev.0.matmul_texture
        && batched
        && matmul_texture::fits_batched(dev, l.batch, [l.m, l.n, l.k])
    {
        return matmul_texture::matmul(a, b, trans_a, trans_b, dims, out_shape, op);
    }
    // Output rows and cols per workgroup: 8x8 invocations of a 16x16, 8x8 or 4x4 tile.
    let (kernel, groups) = if thin {
        let [x, y, _] = crate::shape::grid_1d(l.m * l.n.div_ceil(4), 64);
        (
            Kernel::new(MATMUL, "matmul_thin"),
            [x as usize, y as usize, l.batch],
        )
    } else {
        let (kernel, tile) = if vec4 {
            (
                Kernel::new(MATMUL, "matmul_tiled").with("WIDE", wide as u32 as f64),
                if wide { 128 } else { 64 },
            )
        } else {
            (Kernel::new(MATMUL, "matmul_scalar"), 32)
        };
        (kernel, [l.n.div_ceil(tile), l.m.div_ceil(tile), l.batch])
    };
    let max = dev.limits().max_compute_workgroups_per_dimension as usize;
    assert!(
        groups.iter().all(|&g| g <= max),
        "{op}: output [{}, {}, {}] needs a grid of {groups:?} workgroups, over this device's limit of {max} per dimension",
        l.batch,
        l.m,
        l.n
    );
    let kernel = kernel
        .with("TA", trans_a as u32 as f64)
        .with("TB", trans_b as u32 as f64);
    if let Some(chunks) = split_k(l, groups[0] * groups[1], vec4 && !thin) {
        return split_k_launch(
            dev, &kernel, a, b, trans_a, trans_b, l, params, chunks, groups, out_shape, op,
        );
    }
    let out = Tensor::uninit(dev, out_shape, op);
    let groups = groups.map(|g| g as u32);
    dev.0.dispatch(
        &kernel,
        &[a.buffer(), b.buffer(), out.buffer()],
        bytemuck::bytes_of(&params),
        groups,
    );
    out
}

/// Split-K: a plain 2-D product whose output tiles are too few to keep the device busy but
/// whose K is long (the weight gradient of a layer: [in, batch] @ [batch, out]) is cut into
/// chunks of K computed in parallel as a batch of partial products, then summed.
/// Returns how many chunks (they must divide K evenly, in multiples of 4 for the vec4 kernel).
fn split_k(l: &Launch, tiles: usize, vec4: bool) -> Option<usize> {
    const TARGET_GROUPS: usize = 64;
    const MIN_CHUNK: usize = 128;
    if l.batch != 1 || l.red != 1 || tiles >= TARGET_GROUPS || l.k < 2 * MIN_CHUNK {
        return None;
    }
    let want = TARGET_GROUPS.div_ceil(tiles).min(l.k / MIN_CHUNK);
    (2..=want)
        .rev()
        .find(|&s| l.k.is_multiple_of(s) && (!vec4 || (l.k / s).is_multiple_of(4)))
}

/// Runs `kernel` as `chunks` partial products [chunks, M, N] and sums them.
#[allow(clippy::too_many_arguments)]
fn split_k_launch(
    dev: &crate::device::Device,
    kernel: &Kernel,
    a: &Tensor,
    b: &Tensor,
    trans_a: bool,
    trans_b: bool,
    l: &Launch,
    mut params: Params,
    chunks: usize,
    groups: [usize; 3],
    out_shape: &[usize],
    op: &str,
) -> Tensor {
    let kc = l.k / chunks;
    // Element offset of chunk z = batch stride: k advances along a row (not transposed) or
    // down the rows (transposed) of each stored operand.
    params.a_bs = (if trans_a { kc * l.m } else { kc }) as u32;
    params.b_bs = (if trans_b { kc } else { kc * l.n }) as u32;
    params.kc = kc as u32;
    let partial = Tensor::uninit(dev, &[chunks, l.m, l.n], op);
    let grid = [groups[0] as u32, groups[1] as u32, chunks as u32];
    dev.0.dispatch(
        kernel,
        &[a.buffer(), b.buffer(), partial.buffer()],
        bytemuck::bytes_of(&params),
        grid,
    );
    partial.sum(&[0], false).reshape(out_shape)
}

/// "[3, 4]" or "[4, 3]^T": a shape as the error messages print it.
fn show(shape: &[usize], t: bool) -> String {
    format!("{shape:?}{}", if t { "^T" } else { "" })
}

/// Checks the operands of op(a) @ op(b) and works out the launch and the output's shape.
fn plan(a: &[usize], b: &[usize], trans_a: bool, trans_b: bool) -> (Launch, Vec<usize>) {
    let (sa, sb) = (show(a, trans_a), show(b, trans_b));
    assert!(
        a.len() >= 2 && b.len() >= 2,
        "matmul: {sa} x {sb}: rank-1 operands are not supported (reshape a vector to [1, K] or [K, 1])"
    );
    let (ra, ca) = (a[a.len() - 2], a[a.len() - 1]);
    let (rb, cb) = (b[b.len() - 2], b[b.len() - 1]);
    let (m, k) = if trans_a { (ca, ra) } else { (ra, ca) };
    let (kb, n) = if trans_b { (cb, rb) } else { (rb, cb) };
    assert!(k == kb, "matmul: {sa} x {sb}: inner dims {k} != {kb}");
    let (ba, bb) = (&a[..a.len() - 2], &b[..b.len() - 2]);
    let batch_shape = if ba == bb || bb.is_empty() {
        ba
    } else if ba.is_empty() {
        bb
    } else {
        panic!("matmul: {sa} x {sb}: batch dims {ba:?} and {bb:?} differ (they must be equal, or one operand must be rank 2)")
    };
    let batch: usize = batch_shape.iter().product();
    let l = Launch {
        m,
        n,
        k,
        batch,
        red: 1,
        a_bs: if ba.is_empty() { 0 } else { m * k },
        b_bs: if bb.is_empty() { 0 } else { k * n },
        a_rs: 0,
        b_rs: 0,
    };
    let mut out = batch_shape.to_vec();
    out.extend([m, n]);
    (l, out)
}

/// sum_i op(x_i) @ op(y_i) over the batch of two operands with the same batch: the gradient of
/// an operand that was shared across that batch. `out_shape` is that operand's shape (rank 2).
fn matmul_sum_batch(x: &Tensor, y: &Tensor, tx: bool, ty: bool, out_shape: &[usize]) -> Tensor {
    let (mut l, _) = plan(x.shape(), y.shape(), tx, ty);
    l.red = l.batch;
    (l.a_rs, l.b_rs, l.a_bs, l.b_bs) = (l.a_bs, l.b_bs, 0, 0);
    l.batch = 1;
    launch("matmul backward", x, y, tx, ty, &l, out_shape)
}

impl Tensor {
    /// Matrix product a @ b over the last two axes: [..., M, K] @ [..., K, N] -> [..., M, N].
    /// Batch axes are equal on both sides, or one operand is rank 2 (shared across the other's
    /// batch). Rank-1 operands are not supported.
    pub fn matmul(&self, rhs: &Tensor) -> Tensor {
        self.matmul_t(rhs, false, false)
    }

    /// op(a) @ op(b), where op transposes the last two axes when its flag is set (the kernel
    /// reads the operand in place: no copy is made).
    pub fn matmul_t(&self, rhs: &Tensor, trans_a: bool, trans_b: bool) -> Tensor {
        let (l, out_shape) = plan(self.shape(), rhs.shape(), trans_a, trans_b);
        let out = launch("matmul", self, rhs, trans_a, trans_b, &l, &out_shape);
        let (a, b) = (self.clone(), rhs.clone());
        // C = op(A) op(B):  d op(A) = dC op(B)^T,  d op(B) = op(A)^T dC.
        // Undoing op on each gives the four flag combinations below, all without copies.
        out.record("matmul", &[self, rhs], move |g| {
            let (ta, tb) = (trans_a, trans_b);
            let a_shared = a.rank() == 2 && b.rank() > 2;
            let b_shared = b.rank() == 2 && a.rank() > 2;
            let da = a.requires_grad().then(|| {
                if a_shared {
                    // Sum over the batch of dC_i op(B_i)^T (or its transpose).
                    if ta {
                        matmul_sum_batch(&b, g, tb, true, a.shape())
                    } else {
                        matmul_sum_batch(g, &b, false, !tb, a.shape())
                    }
                } else if ta {
                    // dA = (dC op(B)^T)^T = op(B) dC^T
                    b.matmul_t(g, tb, true)
                } else {
                    // dA = dC op(B)^T
                    g.matmul_t(&b, false, !tb)
                }
            });
            let db = b.requires_grad().then(|| {
                if b_shared && !ta {
                    // A as [batch*M, K] and dC as [batch*M, N] (free reshapes): one 2-D
                    // matmul sums over the batch.
                    let (k, n) = (a.dim(-1), g.dim(-1));
                    let a2 = a.reshape(&[a.numel() / k, k]);
                    let g2 = g.reshape(&[g.numel() / n, n]);
                    if tb {
                        g2.matmul_t(&a2, true, false)
                    } else {
                        a2.matmul_t(&g2, true, false)
                    }
                } else if b_shared {
                    // A_i is [K, M]: the rows of the batch do not line up; sum in the kernel.
                    if tb {
                        matmul_sum_batch(g, &a, true, true, b.shape())
                    } else {
                        matmul_sum_batch(&a, g, false, false, b.shape())
                    }
                } else if tb {
                    // dB = (op(A)^T dC)^T = dC^T op(A)
                    g.matmul_t(&a, true, ta)
                } else {
                    // dB = op(A)^T dC
                    a.matmul_t(g, !ta, false)
                }
            });
            vec![da, db]
        })
    }
}
