//! Matmul with both operands packed into textures and op(B) shared by subgroup broadcasts: the
//! kernel CPU adapters run for plain (unbatched, or B shared across A's batch) products, and
//! for products with both operands batched (each operand's batch items packed one above the
//! other, one item per grid z). Kernels: shaders/matmul_texture.wgsl (and matmul_pack.wgsl),
//! which says why it suits CPU adapters; `matmul.rs` decides when it applies.
//!
//! Legend (as in matmul.rs): out[M, N] = op(A)[M, K] @ op(B)[K, N].
//!   a is [M, K] (or [K, M] when trans_a), b is [K, N] (or [N, K] when trans_b)
//! Each operand reaches the kernel as an rgba32float texture of 4 values per texel along its
//! rows, op(A) K4 x M and op(B) N4 x K (packed by a copy command when the stored rows already
//! are whole copy rows, else by `matmul_pack`, transposing when stored transposed), or, when
//! stored transposed with rows of a multiple of 64 values, in its stored layout copied as it
//! is (A^T: M4 x K, B^T: K4 x N), which the kernel reads 4x4 blocks of and turns round.
//! Where neither is a plain copy, a flat copy of the buffer stands in for the pack dispatch
//! when it can: laid out as the packed (or stored) texels when the rows are a multiple of 4
//! values, and, for the thin kernels, read value by value where that costs fewer fetches than
//! the dispatch (`operand`).
//! The textures come from a pool on the device, keyed by size, and go back to it as soon as
//! the dispatch is recorded: later work on the same queue runs after it.

use crate::kernels::{Kernel, MATMUL_PACK, MATMUL_TEXTURE};
use crate::shape::grid_1d;
use crate::tensor::Tensor;
use crate::texture_pool::{self, Flat, Pooled};

/// Columns of out per workgroup, and the most rows (32 invocations of 4 rows x 32 columns).
const ROWS_PER_WG: usize = 128;
const COLS_PER_WG: usize = 32;

/// Invocations per workgroup for an output of `m` rows (the shader's WG): 32 (128 rows), or
/// 16 / 8 when M fits 64 / 32 rows, so a weight gradient [64, 64] does not compute 64 clamped
/// rows per tile (measured [1000, 64]^T x [1000, 64]: 1.06 -> 0.55 ms) nor [3, 64] 125.
fn invocations(m: usize) -> usize {
    match m {
        ..=32 => 8,
        33..=64 => 16,
        _ => 32,
    }
}

/// Mirrors `PackParams` in matmul_texture.wgsl: one matrix of rows x cols, or, batched, one
/// per grid z stored one after another.
#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct PackParams {
    rows: u32,
    cols: u32,
    _pad: [u32; 2],
}

/// Mirrors `Params` in matmul_texture.wgsl.
#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct Params {
    m: u32,
    n: u32,
    k: u32,
    n4: u32,
    /// Texture rows per batch item of op(A) and op(B) (grid z is the batch item).
    a_rows: u32,
    b_rows: u32,
    _pad: [u32; 2],
}

/// Whether both packed textures fit the device's 2-D texture size and the grid its limit.
pub(super) fn fits(dev: &crate::device::Device, m: usize, n: usize, k: usize) -> bool {
    let l = dev.limits();
    let max = l.max_texture_dimension_2d as usize;
    let groups = l.max_compute_workgroups_per_dimension as usize;
    m > 0
        && n > 0
        && m <= max
        && k <= max
        && k.div_ceil(4) <= max
        && n.div_ceil(4) <= max
        && m.div_ceil(ROWS_PER_WG) <= groups
        && n.div_ceil(COLS_PER_WG) <= groups
}

/// `fits` for a batch of products, each operand [batch, ...] and packed with its batch items
/// one above the other.
pub(super) fn fits_batched(
    dev: &crate::device::Device,
    batch: usize,
    [m, n, k]: [usize; 3],
) -> bool {
    let l = dev.limits();
    let max = l.max_texture_dimension_2d as usize;
    fits(dev, m, n, k)
        && batch * m.max(k) <= max
        && batch <= l.max_compute_workgroups_per_dimension as usize
}

/// A pooled rgba32float texture for a packed operand.
fn texture(dev: &crate::device::Device, width: u32, height: u32) -> Pooled {
    let usage = wgpu::TextureUsages::STORAGE_BINDING | wgpu::TextureUsages::COPY_DST;
    texture_pool::take(dev, wgpu::TextureFormat::Rgba32Float, usage, width, height)
}

fn aligned(bytes: usize) -> bool {
    bytes.is_multiple_of(wgpu::COPY_BYTES_PER_ROW_ALIGNMENT as usize)
}

/// How an operand's texture holds op(X) (see `operand`); `Flat` with its values per texel.
#[derive(Clone, Copy, PartialEq)]
enum Layout {
    Packed,
    Natural,
    Flat(usize),
}

/// One operand op(X), `rows` x `cols` (stored transposed when `trans`), as a texture the
/// kernel reads, and its layout:
/// - packed: ceil(cols / 4) wide and `rows` high, texel (x, r) = op(X)[r, 4x..4x+3]. A
///   row-major X whose rows are whole 256-byte copy rows is already so: one copy command.
///   Otherwise `matmul_pack` builds it, reading X through a flat r32float copy (or the buffer,
///   if that does not fit).
/// - natural (`natural_ok`, X transposed with stored rows of a multiple of 64 values): X's
///   stored rows copied as they are, rows / 4 wide and `cols` high, texel (x, c) =
///   op(X)[4x..4x+3, c]; the kernel turns 4x4 blocks round as it reads (NATURAL_A/B).
/// - either of those as a flat rgba32float copy of X's buffer, where X's stored rows are a
///   multiple of 4 values but not whole copy rows: the copy holds the same texels one layout
///   row after another, and the third value returned is the layout's width (0 otherwise).
/// - flat (`flat` = Some(values per texel), for the thin kernels, where packing would take a
///   dispatch): X's buffer copied as it is into a flat texture (texture_pool.rs, `flat`) of
///   1, 2 or 4 values per texel, read in runs along the contracted axis (FLAT_A/B).
fn operand(
    src: &Tensor,
    batch: usize,
    [rows, cols]: [usize; 2],
    trans: bool,
    natural_ok: bool,
    flat: Option<usize>,
) -> (Pooled, Layout, usize) {
    let dev = src.device();
    // Batch items one above the other: the stored rows of all of them in one copy.
    if trans && natural_ok && aligned(rows * 4) {
        let tex = texture(dev, (rows / 4) as u32, (batch * cols) as u32);
        texture_pool::copy_rows(src, &tex.tex, rows * 4, 0, rows / 4, batch * cols);
        return (tex, Layout::Natural, 0);
    }
    let width = cols.div_ceil(4);
    if !trans && aligned(cols * 4) {
        let tex = texture(dev, width as u32, (batch * rows) as u32);
        texture_pool::copy_rows(src, &tex.tex, cols * 4, 0, width, batch * rows);
        return (tex, Layout::Packed, 0);
    }
    // Rows of a multiple of 4 values that are not whole copy rows: a flat rgba32float copy
    // holds the natural (or packed) texels one row after another (LINEAR_A/B).
    let rgba = wgpu::TextureFormat::Rgba32Float;
    if texture_pool::flat_fits(dev, src.numel(), rgba) {
        if trans && natural_ok && rows.is_multiple_of(4) {
            return (texture_pool::flat(src, rgba), Layout::Natural, rows / 4);
        }
        if !trans && cols.is_multiple_of(4) {
            return (texture_pool::flat(src, rgba), Layout::Packed, cols / 4);
        }
    }
    if let Some(c) = flat {
        let format = flat_format(c);
        if texture_pool::flat_fits(dev, src.numel(), format) {
            return (texture_pool::flat(src, format), Layout::Flat(c), 0);
        }
    }
    let tex = texture(dev, width as u32, (batch * rows) as u32);
    let params = PackParams {
        rows: rows as u32,
        cols: cols as u32,
        _pad: [0; 2],
    };
    let flat = Flat::of(src, wgpu::TextureFormat::R32Float);
    let (entry, source) = match &flat {
        Some(f) => ("matmul_pack_tex", f.binding()),
        None => ("matmul_pack", src.buffer().as_entire_binding()),
    };
    dev.0.dispatch_bound(
        &Kernel::new(MATMUL_PACK, entry).with("TRANS", trans as u32 as f64),
        &[source, wgpu::BindingResource::TextureView(&tex.view)],
        bytemuck::bytes_of(&params),
        [
            width.div_ceil(8) as u32,
            rows.div_ceil(8) as u32,
            batch as u32,
        ],
    );
    flat.into_iter().for_each(|f| f.give_back(dev));
    (tex, Layout::Packed, 0)
}

/// The flat texture format of `c` values per texel.
fn flat_format(c: usize) -> wgpu::TextureFormat {
    match c {
        4 => wgpu::TextureFormat::Rgba32Float,
        2 => wgpu::TextureFormat::Rg32Float,
        _ => wgpu::TextureFormat::R32Float,
    }
}

/// The most values per texel (4, 2 or 1) that divide a run's axis of `len` values.
fn widest(len: usize) -> usize {
    [4, 2, 1]
        .into_iter()
        .find(|c| len.is_multiple_of(*c))
        .unwrap()
}

/// Texel fetches a thin product may add by reading an operand flat rather than packed before
/// it pays a pack dispatch instead. On lavapipe (2 cores) a pack dispatch costs ~0.12 ms
/// beyond the copy that replaces it (`mlp_profile -- --time --batch 8`: 30 -> 24 dispatches,
/// 3.47 -> 2.71 ms), and reading operands one value at a time cost ~1-4 ns a fetch; this
/// stays well under the dispatch.
const FLAT_EXTRA_FETCHES: usize = 64 * 1024;

/// Values per texel for reading op(A) (`is_a`) or op(B) flat in a thin product [M, N, K] of
/// `lanes` invocations, or `None` where the fetches it adds would cost more than a pack
/// dispatch. c values per texel along the contracted axis (1 for a transposed A, whose runs
/// lie along M). Per step of 4 along K, packed operands take 1 fetch (A) and 4 (B); flat
/// ones ceil(kl / c) (A), kl (transposed A), kl ceil(nl / c) (B), nl ceil(kl / c)
/// (transposed B), where kl = min(K, 4) for one step and 4 for more (the shader's K_LIVE),
/// and nl = min(N, 4) for one column group and 4 for more (N_LIVE).
fn flat_texels(is_a: bool, trans: bool, [n, k]: [usize; 2], lanes: usize) -> Option<usize> {
    let c = match (is_a, trans) {
        (true, false) => widest(k),
        (true, true) => 1,
        (false, false) => widest(n),
        (false, true) => widest(k),
    };
    let (kl, nl) = (k.min(4), n.min(4));
    let (flat, packed) = match (is_a, trans) {
        (true, false) => (kl.div_ceil(c), 1),
        (true, true) => (kl, 1),
        (false, false) => (kl * nl.div_ceil(c), 4),
        (false, true) => (nl * kl.div_ceil(c), 4),
    };
    let extra = lanes * k.div_ceil(4) * flat.saturating_sub(packed);
    (extra <= FLAT_EXTRA_FETCHES).then_some(c)
}

/// Texture rows per batch item of an operand op(X) of `rows` x `cols` in this layout (values
/// per item when flat): the shader's a_rows / b_rows.
fn item_rows(layout: Layout, [rows, cols]: [usize; 2]) -> u32 {
    match layout {
        Layout::Packed => rows as u32,
        Layout::Natural => cols as u32,
        Layout::Flat(_) => (rows * cols) as u32,
    }
}

/// Products with at most this many rows or columns, or this short a k, run `matmul_thin`: one
/// invocation per 4 outputs, where the 4 x 32 tiles would mostly idle ([1024, 256] x [256, 2],
/// [2, 1024] x [1024, 256]) or do little but store ([1024, 2] x [2, 256]).
const THIN: usize = 8;

/// Invocations per workgroup of `matmul_thin` for this many invocations (the shader's
/// THIN_WG): 256, or 32 when 256 would leave fewer than 8 workgroups for the CPU's threads
/// (a weight gradient [3, 1000] x [1000, 64] is 48 invocations).
fn thin_invocations(total: usize) -> usize {
    if total < 8 * 256 {
        32
    } else {
        256
    }
}

fn tile_grid(m: usize, n: usize) -> [u32; 3] {
    [
        m.div_ceil(4 * invocations(m)) as u32,
        n.div_ceil(COLS_PER_WG) as u32,
        1,
    ]
}

/// out[z] = op(A)[z] @ op(B)[z] for each of `batch` items (1 for a plain product), both
/// operands stored [batch, ...] one item after another when batched, out [batch, M, N]
/// (reshaped to `out_shape`); records no graph. The caller checks the shapes and `fits`
/// (`fits_batched` when batched). (Outputs of 9 to 31 rows and many columns were once
/// computed transposed and transposed back, for 128-row tiles; with 32-row tiles that cost
/// more than it saved: [20, 130] x [130, 1030] 2.0 -> 1.35 ms without it.)
pub(super) fn matmul(
    a: &Tensor,
    b: &Tensor,
    trans_a: bool,
    trans_b: bool,
    dims: [usize; 4],
    out_shape: &[usize],
    op: &str,
) -> Tensor {
    product(a, b, None, trans_a, trans_b, dims, out_shape, op).0
}

/// The epilogue a product's store can apply: add a bias [N], then optionally an activation
/// (unary.wgsl's OP code: 6 tanh, 8 relu, 9 silu) written to a second output.
#[derive(Clone, Copy)]
pub(super) struct Epilogue<'a> {
    pub bias: &'a Tensor,
    pub act: Option<u32>,
}

/// Whether [M, N, K] runs `matmul_thin` (one invocation per 4 outputs).
fn is_thin(m: usize, n: usize, k: usize) -> bool {
    n <= THIN || k <= THIN || m <= THIN
}

/// The flat texture format a bias of N values is read through: rgba32float, or r32float by
/// the thin kernels' ragged entries (N % 4 != 0).
fn bias_format(n: usize) -> wgpu::TextureFormat {
    match n % 4 {
        0 => wgpu::TextureFormat::Rgba32Float,
        _ => wgpu::TextureFormat::R32Float,
    }
}

/// z = a @ b + bias, and h = act(z) when the epilogue has one, in one dispatch, where the
/// epilogue applies: N % 4 == 0 or the product thin (an output layer of N = 2). Else `None`,
/// and the caller composes the ops. The caller checks the shapes and `fits`.
pub(super) fn matmul_epilogue(
    a: &Tensor,
    b: &Tensor,
    ep: Epilogue,
    [m, n, k]: [usize; 3],
    op: &str,
) -> Option<(Tensor, Option<Tensor>)> {
    let ok = (n.is_multiple_of(4) || is_thin(m, n, k))
        && texture_pool::flat_fits(a.device(), n, bias_format(n));
    ok.then(|| product(a, b, Some(ep), false, false, [1, m, n, k], &[m, n], op))
}

#[allow(clippy::too_many_arguments)]
fn product(
    a: &Tensor,
    b: &Tensor,
    ep: Option<Epilogue>,
    trans_a: bool,
    trans_b: bool,
    [batch, m, n, k]: [usize; 4],
    out_shape: &[usize],
    op: &str,
) -> (Tensor, Option<Tensor>) {
    let dev = a.device();
    let thin = is_thin(m, n, k);
    let lanes = batch * m * n.div_ceil(4); // the thin kernel's invocations
    let flat = |is_a, trans| {
        thin.then(|| flat_texels(is_a, trans, [n, k], lanes))
            .flatten()
    };
    // op(A) natural: M/4 x K; op(B) natural: K/4 x N, which must fit the texture height.
    let (ta, layout_a, linear_a) = operand(a, batch, [m, k], trans_a, true, flat(true, trans_a));
    let max = dev.limits().max_texture_dimension_2d as usize;
    let (tb, layout_b, linear_b) = operand(
        b,
        batch,
        [k, n],
        trans_b,
        batch * n <= max,
        flat(false, trans_b),
    );
    let out = Tensor::uninit(dev, out_shape, op);
    let params = Params {
        m: m as u32,
        n: n as u32,
        k: k as u32,
        n4: n.div_ceil(4) as u32,
        a_rows: item_rows(layout_a, [m, k]),
        b_rows: item_rows(layout_b, [k, n]),
        _pad: [0; 2],
    };
    let thin_wg = thin_invocations(m * n.div_ceil(4));
    // Epilogue: none, bias, or bias and activation.
    let stage = ep.map_or(0, |e| 1 + e.act.is_some() as usize);
    let tiles = [
        "matmul_texture",
        "matmul_texture_bias",
        "matmul_texture_bias_act",
    ];
    let thins = ["matmul_thin4", "matmul_thin4_bias", "matmul_thin4_bias_act"];
    let ragged_thins = ["matmul_thin", "matmul_thin_bias", "matmul_thin_bias_act"];
    let entry = match (thin, n % 4 == 0) {
        (false, true) => tiles[stage],
        (true, true) => thins[stage],
        (false, false) => "matmul_texture_ragged",
        (true, false) => ragged_thins[stage],
    };
    let [x, y, _] = match thin {
        true => grid_1d(m * n.div_ceil(4), thin_wg),
        false => tile_grid(m, n),
    };
    let grid = [x, y, batch as u32]; // z: the batch item
    assert!(
        stage == 0 || thin || n.is_multiple_of(4),
        "{op}: the tiles' bias epilogue needs N % 4 == 0"
    );
    let mut kernel = Kernel::new(MATMUL_TEXTURE, entry)
        .texture("MatmulTexA", ta.tex.format())
        .texture("MatmulTexB", tb.tex.format())
        .with("K4", k.div_ceil(4) as f64)
        .with("NATURAL_A", (layout_a == Layout::Natural) as u32 as f64)
        .with("NATURAL_B", (layout_b == Layout::Natural) as u32 as f64);
    // The flat layouts, and which way round their buffers hold the operands.
    if linear_a > 0 {
        kernel = kernel.with("LINEAR_A", linear_a as f64);
    }
    if linear_b > 0 {
        kernel = kernel.with("LINEAR_B", linear_b as f64);
    }
    if let Layout::Flat(c) = layout_a {
        kernel = kernel
            .with("FLAT_A", c as f64)
            .with("TRANS_A", trans_a as u32 as f64);
    }
    if let Layout::Flat(c) = layout_b {
        kernel = kernel
            .with("FLAT_B", c as f64)
            .with("TRANS_B", trans_b as u32 as f64);
    }
    if matches!(layout_a, Layout::Flat(_)) || matches!(layout_b, Layout::Flat(_)) {
        kernel = kernel
            .with("K_LIVE", k.min(4) as f64)
            .with("N_LIVE", n.min(4) as f64);
    }
    kernel = match thin {
        true => kernel.with("THIN_WG", thin_wg as f64),
        false => kernel.with("WG", invocations(m) as f64),
    };
    let bias = ep.map(|e| Flat::new(e.bias, bias_format(n)));
    if let Some(b) = &bias {
        kernel = kernel.texture("MatmulTexBias", b.format());
    }
    let act = ep.and_then(|e| e.act);
    if let Some(code) = act {
        kernel = kernel.with("ACT", code as f64);
    }
    let h = act.map(|_| Tensor::uninit(dev, out_shape, op));
    let mut bindings = vec![
        wgpu::BindingResource::TextureView(&ta.view),
        wgpu::BindingResource::TextureView(&tb.view),
        out.buffer().as_entire_binding(),
    ];
    bindings.extend(bias.as_ref().map(Flat::binding));
    bindings.extend(h.as_ref().map(|t| t.buffer().as_entire_binding()));
    // The uniform sits at binding 3, the bias and h (if any) after it.
    dev.0
        .dispatch_bound_at(&kernel, &bindings, 3, bytemuck::bytes_of(&params), grid);
    drop(bindings);
    bias.into_iter().for_each(|f| f.give_back(dev));
    texture_pool::give_back(dev, ta);
    texture_pool::give_back(dev, tb);
    (out, h)
}
