// Matmul with both operands read through textures and op(B) shared by subgroup broadcasts:
// the kernel CPU adapters run. Launched by engine/src/ops/matmul_texture.rs.
//
// Legend: M, N = rows, cols of out; K = the contracted dim; K4, N4 = K, N over 4, rounded up.
//   A batched product (matmul_texture, _ragged, matmul_thin, thin4, the packs) runs one batch
//   item per grid z, its operands' items packed one above the other in ta and tb (a_rows,
//   b_rows texture rows each) and its outputs one after another in out.
//   a is [M, K] (or [K, M] when TRANS), b is [K, N] (or [N, K] when TRANS), plain storage
//   ta is op(A) packed as an rgba32float texture, K4 wide and M high:
//     texel (x, y) = op(A)[y, 4x..4x+3], zero past K
//   tb is op(B) packed the same way, N4 wide and K high: texel (x, y) = op(B)[y, 4x..4x+3]
//   or, for an operand stored transposed with rows of a multiple of 64 values, its stored rows
//   copied as they are (NATURAL_A: ta M4 wide and K high, texel (x, k) = op(A)[4x..4x+3, k];
//   NATURAL_B: tb K4 wide and N high, texel (x, n) = op(B)[4x..4x+3, n]), read as 4x4 blocks
//   and turned round (`transpose`)
//   out is [M, N]
//
// Why: llvmpipe runs each invocation as one SIMD lane. A storage-buffer load inside a loop is
// a loop over the lanes (measured ~20 cycles per lane and value here), while a storage-texture
// read is one gather for all lanes (engine/src/texture_pool.rs); and op(B)'s values, the same for every invocation of a
// workgroup, are fetched once per subgroup (each lane a different texel) and handed round with
// subgroupBroadcast, a register shuffle. On a GPU the tiled kernels in matmul.wgsl suit better.

// The operands' packing kernels (`matmul_pack`, `matmul_pack_tex`) are in matmul_pack.wgsl.

// ---- matmul_texture ----
// WG invocations per workgroup (32; 16 or 8 when M is small, so fewer rows idle); each
// computes 4 rows x 32 columns of out: rows m0..m0+3
// (m0 = 4 * invocation index in the grid) and columns 32*wg.y .. 32*wg.y+31, as 8 column
// groups of 4 (texel columns g0..g0+7). Per 4 steps of k: 4 texel fetches of op(A) (its rows),
// 4 of op(B) (lane j of each subgroup fetches column group g0+j), 128 broadcasts of those, and
// 512 FMAs as 32 mat4x4 * vec4 products, so each accumulator is touched once per 4 k.
// Needs subgroups of at least 8 invocations (the launcher checks). No invocation returns
// early: rows past M are computed from clamped rows and never stored, so every lane takes part
// in the broadcasts.
// Grid: x over groups of 4 * WG rows, y over groups of 32 columns.

// The trip count of the k loops, K / 4 rounded up, as a pipeline constant rather than a
// uniform: Mesa 22's lavapipe inlines uniform loop bounds into the shader and, for some
// shaders and sizes, compiled it again on every dispatch ([1024, 64] x [64, 64]: 0.6 -> 5.5 ms;
// BENCHMARKS.md, "A compile in every dispatch"). A constant is compiled once per K on every
// adapter, and lets the compiler unroll.
override K4: u32 = 1u;

override WG: u32 = 32u; // invocations per workgroup: 32, or 16 or 8 for outputs of at most 64 or 32 rows

struct Params {
    m: u32,
    n: u32,
    k: u32,
    n4: u32,
    a_rows: u32, // texture rows per batch item of ta (M, or K when NATURAL_A; M * K values when flat)
    b_rows: u32, // and of tb (K, or N when NATURAL_B; K * N values when flat)
    _pad0: u32,
    _pad1: u32,
}

// This invocation's batch item (grid z; 0 unbatched): its first rows in ta and tb and its
// first element of out. Set by the entry points of batched products.
var<private> a_base: u32;
var<private> b_base: u32;
var<private> out_base: u32;

fn set_batch_item(z: u32) {
    a_base = z * p.a_rows;
    b_base = z * p.b_rows;
    out_base = z * p.m * p.n;
}

// MatmulTexA, MatmulTexB: read-only storage textures, rgba32float, or for a flat operand of
// the thin kernels the format of its copy (r32float, rg32float or rgba32float: FLAT_A,
// FLAT_B below); the launcher names them (engine/src/kernels.rs, `Kernel::texture`).
@group(0) @binding(0) var ta: MatmulTexA;
@group(0) @binding(1) var tb: MatmulTexB;
@group(0) @binding(3) var<uniform> p: Params;

override NATURAL_A: bool = false; // ta holds A^T's stored rows (see the legend)
override NATURAL_B: bool = false; // tb holds B^T's stored rows

// Texels per row of ta's layout (packed or natural) when ta is a flat rgba32float copy of a's
// buffer (texture_pool.rs, `flat`): an operand whose rows are a multiple of 4 values but not
// whole copy rows ([16, 40]) holds the same texels one row after another, so texel (x, y) of
// the layout is texel y * LINEAR_A + x of the copy, and it needs no pack dispatch. 0: ta is
// the layout itself.
override LINEAR_A: u32 = 0u;
override LINEAR_B: u32 = 0u;

fn at_a(x: u32, y: u32) -> vec4<f32> {
    if (LINEAR_A != 0u) { return texel(false, y * LINEAR_A + x); }
    return textureLoad(ta, vec2<u32>(x, y));
}

fn at_b(x: u32, y: u32) -> vec4<f32> {
    if (LINEAR_B != 0u) { return texel(true, y * LINEAR_B + x); }
    return textureLoad(tb, vec2<u32>(x, y));
}

// The thin kernels only: ta (tb) may be a flat copy of a's (b's) buffer, FLAT_A (FLAT_B)
// values per texel (1 r32float, 2 rg32float, 4 rgba32float; 0: not flat), value i in texel
// t = i / FLAT_A at (t % 4096, t / 4096), so an operand whose rows are not whole copy rows
// ([1000, 3], [64, 2]) needs no pack dispatch. FLAT_A divides K (FLAT_B divides N, or K when
// TRANS_B), so runs of 4 values along the contracted axis start on a texel, except for a
// transposed A (FLAT_A 1). a_base (b_base) then counts values, and TRANS_A (TRANS_B) says the
// buffer holds the operand transposed.
override FLAT_A: u32 = 0u;
override FLAT_B: u32 = 0u;
override TRANS_A: bool = false;
override TRANS_B: bool = false;
// min(K, 4) and min(N, 4): with one step along K (one group of columns) only these values
// are fetched. Constants, so the branches on them vanish when the pipeline is built: a
// branch on a runtime value would mask the fetches inside it, and llvmpipe runs a masked
// texel fetch as a loop over the lanes. Elsewhere all 4 are fetched, clamped, and the values
// past K zeroed (past N they are never stored, and each output column reads only its own).
override K_LIVE: u32 = 4u;
override N_LIVE: u32 = 4u;

// Texel t of a flat texture.
// Texel t of a flat ta (is_b false) or tb (true): ta and tb may be of different types, and a
// WGSL function takes one. is_b is a constant at every call, so the branch goes when the
// functions are inlined.
fn texel(is_b: bool, t: u32) -> vec4<f32> {
    let at = vec2<u32>(t % 4096u, t / 4096u);
    if (is_b) { return textureLoad(tb, at); }
    return textureLoad(ta, at);
}

// Values i..i+3 of a flat texture of c values per texel (FLAT_A or FLAT_B; i a multiple of c),
// the first `live` fetched (a constant: K_LIVE or N_LIVE), the rest zero.
fn run(is_b: bool, c: u32, i: u32, live: u32) -> vec4<f32> {
    let t = i / max(c, 1u); // (a constant 0 divisor fails the pipeline, flat or not)
    if (c == 4u) { return texel(is_b, t); }
    if (c == 2u) {
        let lo = texel(is_b, t).xy;
        if (live <= 2u) { return vec4<f32>(lo, 0.0, 0.0); }
        return vec4<f32>(lo, texel(is_b, t + 1u).xy);
    }
    var v = vec4<f32>(texel(is_b, t).x, 0.0, 0.0, 0.0);
    if (live > 1u) { v.y = texel(is_b, t + 1u).x; }
    if (live > 2u) { v.z = texel(is_b, t + 2u).x; }
    if (live > 3u) { v.w = texel(is_b, t + 3u).x; }
    return v;
}

// op(A)[row, k..k+3] from a flat ta, zero past K.
fn flat_a_row(row: u32, k: u32) -> vec4<f32> {
    let ks = vec4<u32>(k) + vec4<u32>(0u, 1u, 2u, 3u);
    var a: vec4<f32>;
    if (TRANS_A) {
        // Stored [K, M]: the four values are M apart.
        let i = vec4<u32>(a_base + row) + min(ks, vec4<u32>(p.k - 1u)) * p.m;
        a = vec4<f32>(texel(false, i.x).x, 0.0, 0.0, 0.0);
        if (K_LIVE > 1u) { a.y = texel(false, i.y).x; }
        if (K_LIVE > 2u) { a.z = texel(false, i.z).x; }
        if (K_LIVE > 3u) { a.w = texel(false, i.w).x; }
    } else {
        a = run(false, FLAT_A, a_base + row * p.k + k, K_LIVE);
    }
    return select(vec4<f32>(0.0), a, ks < vec4<u32>(p.k));
}

// Rows k..k+3 of op(B) at columns 4x..4x+3 from a flat tb, as b_block's matrix, zero past K.
fn flat_b_block(x: u32, k: u32) -> mat4x4<f32> {
    let c = 4u * x;
    var m = mat4x4<f32>();
    if (TRANS_B) {
        // Stored [N, K]: column c's rows k..k+3 are one run; columns past N clamped.
        let last = p.n - 1u;
        m[0] = run(true, FLAT_B, b_base + c * p.k + k, K_LIVE);
        if (N_LIVE > 1u) { m[1] = run(true, FLAT_B, b_base + min(c + 1u, last) * p.k + k, K_LIVE); }
        if (N_LIVE > 2u) { m[2] = run(true, FLAT_B, b_base + min(c + 2u, last) * p.k + k, K_LIVE); }
        if (N_LIVE > 3u) { m[3] = run(true, FLAT_B, b_base + min(c + 3u, last) * p.k + k, K_LIVE); }
        let live = vec4<u32>(k) + vec4<u32>(0u, 1u, 2u, 3u) < vec4<u32>(p.k);
        let z = vec4<f32>(0.0);
        return transpose(mat4x4<f32>(select(z, m[0], live), select(z, m[1], live),
            select(z, m[2], live), select(z, m[3], live)));
    }
    // Stored [K, N]: row k's columns c..c+3 are one run; rows past K clamped (op(A) is zero
    // there).
    let last = p.k - 1u;
    m[0] = run(true, FLAT_B, b_base + k * p.n + c, N_LIVE);
    if (K_LIVE > 1u) { m[1] = run(true, FLAT_B, b_base + min(k + 1u, last) * p.n + c, N_LIVE); }
    if (K_LIVE > 2u) { m[2] = run(true, FLAT_B, b_base + min(k + 2u, last) * p.n + c, N_LIVE); }
    if (K_LIVE > 3u) { m[3] = run(true, FLAT_B, b_base + min(k + 3u, last) * p.n + c, N_LIVE); }
    return m;
}

// Rows m0..m0+3 of op(A) at k = 4kq..4kq+3, as the columns of a matrix (zero past K). Rows
// past M are clamped to the last (computed, never stored).
fn a_block(m0: u32, kq: u32) -> mat4x4<f32> {
    if (NATURAL_A) {
        // M % 4 == 0 here: texel (m0 / 4, k) holds op(A)[m0..m0+3, k].
        let x = min(m0 / 4u, p.m / 4u - 1u);
        let k = kq * 4u;
        let q0 = at_a(x, a_base + k);
        let q1 = select(vec4<f32>(0.0), at_a(x, a_base + min(k + 1u, p.k - 1u)), k + 1u < p.k);
        let q2 = select(vec4<f32>(0.0), at_a(x, a_base + min(k + 2u, p.k - 1u)), k + 2u < p.k);
        let q3 = select(vec4<f32>(0.0), at_a(x, a_base + min(k + 3u, p.k - 1u)), k + 3u < p.k);
        return transpose(mat4x4<f32>(q0, q1, q2, q3));
    }
    return mat4x4<f32>(
        at_a(kq, a_base + min(m0, p.m - 1u)),
        at_a(kq, a_base + min(m0 + 1u, p.m - 1u)),
        at_a(kq, a_base + min(m0 + 2u, p.m - 1u)),
        at_a(kq, a_base + min(m0 + 3u, p.m - 1u)));
}

// Rows k = 4kq..4kq+3 of op(B) at columns 4x..4x+3, as the columns of a matrix. Rows past K
// are clamped to the last (op(A) is zero there, so they add nothing); columns past N too.
fn b_block(x: u32, kq: u32) -> mat4x4<f32> {
    if (FLAT_B != 0u) { return flat_b_block(x, kq * 4u); }
    if (NATURAL_B) {
        // K % 4 == 0 here: texel (kq, n) holds op(B)[4kq..4kq+3, n].
        let c = 4u * x;
        return transpose(mat4x4<f32>(
            at_b(kq, b_base + min(c, p.n - 1u)),
            at_b(kq, b_base + min(c + 1u, p.n - 1u)),
            at_b(kq, b_base + min(c + 2u, p.n - 1u)),
            at_b(kq, b_base + min(c + 3u, p.n - 1u))));
    }
    let k = kq * 4u;
    let last = p.k - 1u;
    return mat4x4<f32>(
        at_b(x, b_base + k),
        at_b(x, b_base + min(k + 1u, last)),
        at_b(x, b_base + min(k + 2u, last)),
        at_b(x, b_base + min(k + 3u, last)));
}
// out is [M, N]: matmul_texture writes vec4s (N % 4 == 0), matmul_texture_ragged floats.
@group(0) @binding(2) var<storage, read_write> out4: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read_write> out1: array<f32>;

// Rows m0..m0+3 of out over 4 columns.
struct Acc4 {
    r0: vec4<f32>,
    r1: vec4<f32>,
    r2: vec4<f32>,
    r3: vec4<f32>,
}

// acc.r<i> += b * a<i>: b's column j is op(B)[k+j, 4 columns], a<i> is row m0+i at k..k+3.
fn fma4(acc: ptr<function, Acc4>, b: mat4x4<f32>, a0: vec4<f32>, a1: vec4<f32>, a2: vec4<f32>, a3: vec4<f32>) {
    (*acc).r0 += b * a0;
    (*acc).r1 += b * a1;
    (*acc).r2 += b * a2;
    (*acc).r3 += b * a3;
}

// 4 rows x 8 column groups of 4: the 4 x 32 outputs of one invocation.
struct Tile {
    c0: Acc4, c1: Acc4, c2: Acc4, c3: Acc4,
    c4: Acc4, c5: Acc4, c6: Acc4, c7: Acc4,
}

// Rows m0..m0+3 and column groups g0..g0+7 of out (sid: the lane in its subgroup).
fn tile(m0: u32, g0: u32, sid: u32) -> Tile {
    // The column group this lane fetches for the subgroup (clamped: groups past N are
    // computed and never stored).
    let bx = min(g0 + sid % 8u, p.n4 - 1u);
    var c0 = Acc4(); var c1 = Acc4(); var c2 = Acc4(); var c3 = Acc4();
    var c4 = Acc4(); var c5 = Acc4(); var c6 = Acc4(); var c7 = Acc4();
    for (var kq = 0u; kq < K4; kq++) {
        let a = a_block(m0, kq);
        let a0 = a[0];
        let a1 = a[1];
        let a2 = a[2];
        let a3 = a[3];
        let bl = b_block(bx, kq);
        let l0 = bl[0];
        let l1 = bl[1];
        let l2 = bl[2];
        let l3 = bl[3];
        // Group g0+j's 4x4 block of op(B) at rows k.. is lane j's (l0, l1, l2, l3). The lane
        // index of subgroupBroadcast must be a constant: one line per group.
        fma4(&c0, mat4x4<f32>(subgroupBroadcast(l0, 0u), subgroupBroadcast(l1, 0u),
                              subgroupBroadcast(l2, 0u), subgroupBroadcast(l3, 0u)), a0, a1, a2, a3);
        fma4(&c1, mat4x4<f32>(subgroupBroadcast(l0, 1u), subgroupBroadcast(l1, 1u),
                              subgroupBroadcast(l2, 1u), subgroupBroadcast(l3, 1u)), a0, a1, a2, a3);
        fma4(&c2, mat4x4<f32>(subgroupBroadcast(l0, 2u), subgroupBroadcast(l1, 2u),
                              subgroupBroadcast(l2, 2u), subgroupBroadcast(l3, 2u)), a0, a1, a2, a3);
        fma4(&c3, mat4x4<f32>(subgroupBroadcast(l0, 3u), subgroupBroadcast(l1, 3u),
                              subgroupBroadcast(l2, 3u), subgroupBroadcast(l3, 3u)), a0, a1, a2, a3);
        fma4(&c4, mat4x4<f32>(subgroupBroadcast(l0, 4u), subgroupBroadcast(l1, 4u),
                              subgroupBroadcast(l2, 4u), subgroupBroadcast(l3, 4u)), a0, a1, a2, a3);
        fma4(&c5, mat4x4<f32>(subgroupBroadcast(l0, 5u), subgroupBroadcast(l1, 5u),
                              subgroupBroadcast(l2, 5u), subgroupBroadcast(l3, 5u)), a0, a1, a2, a3);
        fma4(&c6, mat4x4<f32>(subgroupBroadcast(l0, 6u), subgroupBroadcast(l1, 6u),
                              subgroupBroadcast(l2, 6u), subgroupBroadcast(l3, 6u)), a0, a1, a2, a3);
        fma4(&c7, mat4x4<f32>(subgroupBroadcast(l0, 7u), subgroupBroadcast(l1, 7u),
                              subgroupBroadcast(l2, 7u), subgroupBroadcast(l3, 7u)), a0, a1, a2, a3);
    }
    return Tile(c0, c1, c2, c3, c4, c5, c6, c7);
}

// Row `row` of out at columns col..col+3 (those inside out).
fn store4(row: u32, col: u32, v: vec4<f32>) {
    if (row < p.m && col < p.n) { out4[(out_base + row * p.n + col) / 4u] = v; }
}

fn store1(row: u32, col: u32, v: vec4<f32>) {
    if (row >= p.m || col >= p.n) { return; }
    let o = out_base + row * p.n + col;
    out1[o] = v.x;
    if (col + 1u < p.n) { out1[o + 1u] = v.y; }
    if (col + 2u < p.n) { out1[o + 2u] = v.z; }
    if (col + 3u < p.n) { out1[o + 3u] = v.w; }
}

// The tile's outputs inside out: rows m0..m0+3 of column group g0+j from t.c<j>, through
// store4 (vec4s) or store1 (floats). Each entry point statically uses one of the two views of
// out, so the two storing functions are separate.
fn store_tile4(m0: u32, g0: u32, t: Tile) {
    let c = 4u * g0;
    store4(m0, c, t.c0.r0); store4(m0 + 1u, c, t.c0.r1); store4(m0 + 2u, c, t.c0.r2); store4(m0 + 3u, c, t.c0.r3);
    store4(m0, c + 4u, t.c1.r0); store4(m0 + 1u, c + 4u, t.c1.r1); store4(m0 + 2u, c + 4u, t.c1.r2); store4(m0 + 3u, c + 4u, t.c1.r3);
    store4(m0, c + 8u, t.c2.r0); store4(m0 + 1u, c + 8u, t.c2.r1); store4(m0 + 2u, c + 8u, t.c2.r2); store4(m0 + 3u, c + 8u, t.c2.r3);
    store4(m0, c + 12u, t.c3.r0); store4(m0 + 1u, c + 12u, t.c3.r1); store4(m0 + 2u, c + 12u, t.c3.r2); store4(m0 + 3u, c + 12u, t.c3.r3);
    store4(m0, c + 16u, t.c4.r0); store4(m0 + 1u, c + 16u, t.c4.r1); store4(m0 + 2u, c + 16u, t.c4.r2); store4(m0 + 3u, c + 16u, t.c4.r3);
    store4(m0, c + 20u, t.c5.r0); store4(m0 + 1u, c + 20u, t.c5.r1); store4(m0 + 2u, c + 20u, t.c5.r2); store4(m0 + 3u, c + 20u, t.c5.r3);
    store4(m0, c + 24u, t.c6.r0); store4(m0 + 1u, c + 24u, t.c6.r1); store4(m0 + 2u, c + 24u, t.c6.r2); store4(m0 + 3u, c + 24u, t.c6.r3);
    store4(m0, c + 28u, t.c7.r0); store4(m0 + 1u, c + 28u, t.c7.r1); store4(m0 + 2u, c + 28u, t.c7.r2); store4(m0 + 3u, c + 28u, t.c7.r3);
}

fn store_tile1(m0: u32, g0: u32, t: Tile) {
    let c = 4u * g0;
    store1(m0, c, t.c0.r0); store1(m0 + 1u, c, t.c0.r1); store1(m0 + 2u, c, t.c0.r2); store1(m0 + 3u, c, t.c0.r3);
    store1(m0, c + 4u, t.c1.r0); store1(m0 + 1u, c + 4u, t.c1.r1); store1(m0 + 2u, c + 4u, t.c1.r2); store1(m0 + 3u, c + 4u, t.c1.r3);
    store1(m0, c + 8u, t.c2.r0); store1(m0 + 1u, c + 8u, t.c2.r1); store1(m0 + 2u, c + 8u, t.c2.r2); store1(m0 + 3u, c + 8u, t.c2.r3);
    store1(m0, c + 12u, t.c3.r0); store1(m0 + 1u, c + 12u, t.c3.r1); store1(m0 + 2u, c + 12u, t.c3.r2); store1(m0 + 3u, c + 12u, t.c3.r3);
    store1(m0, c + 16u, t.c4.r0); store1(m0 + 1u, c + 16u, t.c4.r1); store1(m0 + 2u, c + 16u, t.c4.r2); store1(m0 + 3u, c + 16u, t.c4.r3);
    store1(m0, c + 20u, t.c5.r0); store1(m0 + 1u, c + 20u, t.c5.r1); store1(m0 + 2u, c + 20u, t.c5.r2); store1(m0 + 3u, c + 20u, t.c5.r3);
    store1(m0, c + 24u, t.c6.r0); store1(m0 + 1u, c + 24u, t.c6.r1); store1(m0 + 2u, c + 24u, t.c6.r2); store1(m0 + 3u, c + 24u, t.c6.r3);
    store1(m0, c + 28u, t.c7.r0); store1(m0 + 1u, c + 28u, t.c7.r1); store1(m0 + 2u, c + 28u, t.c7.r2); store1(m0 + 3u, c + 28u, t.c7.r3);
}

@compute @workgroup_size(WG)
fn matmul_texture(
    @builtin(workgroup_id) wg: vec3<u32>,
    @builtin(local_invocation_id) lid: vec3<u32>,
    @builtin(subgroup_invocation_id) sid: u32,
) {
    set_batch_item(wg.z);
    let m0 = (wg.x * WG + lid.x) * 4u;
    store_tile4(m0, wg.y * 8u, tile(m0, wg.y * 8u, sid));
}

// matmul_texture for N % 4 != 0.
@compute @workgroup_size(WG)
fn matmul_texture_ragged(
    @builtin(workgroup_id) wg: vec3<u32>,
    @builtin(local_invocation_id) lid: vec3<u32>,
    @builtin(subgroup_invocation_id) sid: u32,
) {
    set_batch_item(wg.z);
    let m0 = (wg.x * WG + lid.x) * 4u;
    store_tile1(m0, wg.y * 8u, tile(m0, wg.y * 8u, sid));
}

// ---- matmul_thin ----
// Products with few columns or a short k ([1024, 2] x [2, 256], [1024, 256] x [256, 2]), where
// the 4 x 32 tiles above would mostly idle or wait on stores: one invocation per row and
// column group of 4, k in steps of 4.
// Grid: 1-D over M * N4 invocations, in workgroups of THIN_WG.

override THIN_WG: u32 = 256u; // 256, or 32 when there are few invocations (so several workgroups)

// Row `row` of op(A) at k = 4kq..4kq+3 (zero past K).
fn a_row(row: u32, kq: u32) -> vec4<f32> {
    if (FLAT_A != 0u) { return flat_a_row(row, kq * 4u); }
    if (NATURAL_A) {
        let x = row / 4u;
        let i = row % 4u;
        let k = kq * 4u;
        // Rows past K clamped and zeroed with select, not skipped by a branch: llvmpipe runs
        // a branch under a lane mask, and a masked texel fetch is a loop over the lanes.
        let last = p.k - 1u;
        let a = vec4<f32>(
            at_a(x, a_base + k)[i],
            at_a(x, a_base + min(k + 1u, last))[i],
            at_a(x, a_base + min(k + 2u, last))[i],
            at_a(x, a_base + min(k + 3u, last))[i]);
        return select(vec4<f32>(0.0), a, vec4<u32>(k) + vec4<u32>(0u, 1u, 2u, 3u) < vec4<u32>(p.k));
    }
    return at_a(kq, a_base + row);
}

// Row `row` of out at column group x.
fn thin(row: u32, x: u32) -> vec4<f32> {
    var acc = vec4<f32>(0.0);
    for (var kq = 0u; kq < K4; kq++) {
        acc += b_block(x, kq) * a_row(row, kq);
    }
    return acc;
}

@compute @workgroup_size(THIN_WG)
fn matmul_thin(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    set_batch_item(gid.z);
    let idx = gid.x + gid.y * nwg.x * THIN_WG;
    let row = idx / p.n4;
    if (row >= p.m) { return; }
    store1(row, 4u * (idx % p.n4), thin(row, idx % p.n4));
}

// matmul_thin for N % 4 == 0.
@compute @workgroup_size(THIN_WG)
fn matmul_thin4(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    set_batch_item(gid.z);
    let idx = gid.x + gid.y * nwg.x * THIN_WG;
    let row = idx / p.n4;
    if (row >= p.m) { return; }
    store4(row, 4u * (idx % p.n4), thin(row, idx % p.n4));
}

// ---- bias epilogue: matmul_texture_bias, matmul_thin4_bias, matmul_thin_bias ----
// out = op(A) op(B) + bias, bias [N] (N % 4 == 0) added as the outputs are stored: one
// dispatch where a product and a broadcast add would be two, and out written once (the
// forward of `Tensor::linear`). The bias is read through a flat rgba32float copy
// (texture_pool.rs, `flat`: texel i holds bias[4i..4i+3] at (i % 4096, i / 4096)).
@group(0) @binding(4) var ep_bias: MatmulTexBias; // rgba32float, or r32float for bias1

// bias[col..col+3] (col clamped to the last group: columns past N are never stored).
fn bias4(col: u32) -> vec4<f32> {
    let i = min(col, p.n - 4u) / 4u;
    return textureLoad(ep_bias, vec2<u32>(i % 4096u, i / 4096u));
}

// Rows m0..m0+3 of out at columns col..col+3: a + b.
fn store_acc4_bias(m0: u32, col: u32, a: Acc4) {
    let b = bias4(col);
    store4(m0, col, a.r0 + b);
    store4(m0 + 1u, col, a.r1 + b);
    store4(m0 + 2u, col, a.r2 + b);
    store4(m0 + 3u, col, a.r3 + b);
}

@compute @workgroup_size(WG)
fn matmul_texture_bias(
    @builtin(workgroup_id) wg: vec3<u32>,
    @builtin(local_invocation_id) lid: vec3<u32>,
    @builtin(subgroup_invocation_id) sid: u32,
) {
    let m0 = (wg.x * WG + lid.x) * 4u;
    let g0 = wg.y * 8u;
    let t = tile(m0, g0, sid);
    let c = 4u * g0;
    store_acc4_bias(m0, c, t.c0);
    store_acc4_bias(m0, c + 4u, t.c1);
    store_acc4_bias(m0, c + 8u, t.c2);
    store_acc4_bias(m0, c + 12u, t.c3);
    store_acc4_bias(m0, c + 16u, t.c4);
    store_acc4_bias(m0, c + 20u, t.c5);
    store_acc4_bias(m0, c + 24u, t.c6);
    store_acc4_bias(m0, c + 28u, t.c7);
}

// bias[col..col+3] read through a flat r32float copy (value i at texel (i % 4096, i / 4096)),
// for N % 4 != 0; columns past N clamped to the last (never stored).
fn bias1(col: u32) -> vec4<f32> {
    let last = p.n - 1u;
    let i = vec4<u32>(col, min(col + 1u, last), min(col + 2u, last), min(col + 3u, last));
    return vec4<f32>(
        textureLoad(ep_bias, vec2<u32>(i.x % 4096u, i.x / 4096u)).x,
        textureLoad(ep_bias, vec2<u32>(i.y % 4096u, i.y / 4096u)).x,
        textureLoad(ep_bias, vec2<u32>(i.z % 4096u, i.z / 4096u)).x,
        textureLoad(ep_bias, vec2<u32>(i.w % 4096u, i.w / 4096u)).x);
}

// matmul_thin4_bias for N % 4 != 0 (an output layer of N = 2).
@compute @workgroup_size(THIN_WG)
fn matmul_thin_bias(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let idx = gid.x + gid.y * nwg.x * THIN_WG;
    let row = idx / p.n4;
    if (row >= p.m) { return; }
    let x = idx % p.n4;
    store1(row, 4u * x, thin(row, x) + bias1(4u * x));
}

@compute @workgroup_size(THIN_WG)
fn matmul_thin4_bias(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let idx = gid.x + gid.y * nwg.x * THIN_WG;
    let row = idx / p.n4;
    if (row >= p.m) { return; }
    let x = idx % p.n4;
    store4(row, 4u * x, thin(row, x) + bias4(4u * x));
}

// ---- bias and activation epilogue: matmul_texture_bias_act, matmul_thin(4)_bias_act ----
// Separate entry points from the bias-only ones (not an override switching h on): an entry
// point that names ep_h binds it whatever an override says, so each binds only what it writes.
// z = op(A) op(B) + bias to out, and h = act(z) to ep_h (the forward of
// `Tensor::linear_act`: its backward needs z). ACT as unary.wgsl's OP codes: 6 tanh, 8 relu,
// 9 silu, with the same formulas.
override ACT: u32 = 9u;

@group(0) @binding(5) var<storage, read_write> ep_h: array<vec4<f32>>; // ep_h is [M, N]

fn act(z: vec4<f32>) -> vec4<f32> {
    switch ACT {
        case 6u: { return tanh(z); }
        case 8u: { return max(z, vec4<f32>(0.0)); }
        default: { return z * (1.0 / (1.0 + exp(-z))); }
    }
}

// Row `row` of out and of h at columns col..col+3 (those inside out): z and act(z).
fn store4_act(row: u32, col: u32, z: vec4<f32>) {
    if (row < p.m && col < p.n) {
        let o = (row * p.n + col) / 4u;
        out4[o] = z;
        ep_h[o] = act(z);
    }
}

fn store_acc4_bias_act(m0: u32, col: u32, a: Acc4) {
    let b = bias4(col);
    store4_act(m0, col, a.r0 + b);
    store4_act(m0 + 1u, col, a.r1 + b);
    store4_act(m0 + 2u, col, a.r2 + b);
    store4_act(m0 + 3u, col, a.r3 + b);
}

@compute @workgroup_size(WG)
fn matmul_texture_bias_act(
    @builtin(workgroup_id) wg: vec3<u32>,
    @builtin(local_invocation_id) lid: vec3<u32>,
    @builtin(subgroup_invocation_id) sid: u32,
) {
    let m0 = (wg.x * WG + lid.x) * 4u;
    let g0 = wg.y * 8u;
    let t = tile(m0, g0, sid);
    let c = 4u * g0;
    store_acc4_bias_act(m0, c, t.c0);
    store_acc4_bias_act(m0, c + 4u, t.c1);
    store_acc4_bias_act(m0, c + 8u, t.c2);
    store_acc4_bias_act(m0, c + 12u, t.c3);
    store_acc4_bias_act(m0, c + 16u, t.c4);
    store_acc4_bias_act(m0, c + 20u, t.c5);
    store_acc4_bias_act(m0, c + 24u, t.c6);
    store_acc4_bias_act(m0, c + 28u, t.c7);
}

@compute @workgroup_size(THIN_WG)
fn matmul_thin4_bias_act(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let idx = gid.x + gid.y * nwg.x * THIN_WG;
    let row = idx / p.n4;
    if (row >= p.m) { return; }
    let x = idx % p.n4;
    store4_act(row, 4u * x, thin(row, x) + bias4(4u * x));
}

// matmul_thin4_bias_act for N % 4 != 0: z and h stored as floats.
@group(0) @binding(5) var<storage, read_write> ep_h1: array<f32>; // ep_h1 is [M, N]

@compute @workgroup_size(THIN_WG)
fn matmul_thin_bias_act(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let idx = gid.x + gid.y * nwg.x * THIN_WG;
    let row = idx / p.n4;
    if (row >= p.m) { return; }
    let col = 4u * (idx % p.n4);
    let z = thin(row, idx % p.n4) + bias1(col);
    store1(row, col, z);
    let h = act(z);
    let o = row * p.n + col;
    ep_h1[o] = h.x;
    if (col + 1u < p.n) { ep_h1[o + 1u] = h.y; }
    if (col + 2u < p.n) { ep_h1[o + 2u] = h.z; }
    if (col + 3u < p.n) { ep_h1[o + 3u] = h.w; }
}
