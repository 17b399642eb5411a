// Batched matmul with optional transposes: out[z] = sum_r op(A)[z, r] @ op(B)[z, r].
// Launched by engine/src/ops/matmul.rs.
//
// Legend: M, N = rows, cols of out; K = the contracted dim; Z = out's batch (grid z);
// R = batch items summed into each output (1 for a plain matmul; more for the gradient of an
// operand shared across a batch).
//   a is [Z, R, M, K] (or [Z, R, K, M] when TA), read through batch strides a_bs, a_rs
//   b is [Z, R, K, N] (or [Z, R, N, K] when TB), read through batch strides b_bs, b_rs
//   out is [Z, M, N]
// A stride of 0 shares an operand across the batch.
// Split-K: with batch strides pointing at successive chunks of K and kc = K / Z, grid z
// computes one chunk's partial product (the launcher then sums the Z partials).
//
// Three kernels: matmul_tiled reads and writes every operand as vec4s along its contiguous
// axis and needs K % 4 == 0, N % 4 == 0, and M % 4 == 0 when TA; matmul_scalar takes any
// shape; matmul_thin takes any shape and suits products with a thin side (M, N or K small).

override TA: bool = false; // a holds op(A)^T: element (m, k) at k * M + m
override TB: bool = false; // b holds op(B)^T: element (k, n) at n * K + k

struct Params {
    m: u32,
    n: u32,
    k: u32,    // K: the row pitch of an operand stored along k
    r: u32,
    a_bs: u32,
    b_bs: u32,
    a_rs: u32,
    b_rs: u32,
    kc: u32,   // how many k each output sums: K, or one chunk of K when split (split-K)
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
}

@group(0) @binding(0) var<storage, read> a: array<f32>;           // a, see the legend
@group(0) @binding(1) var<storage, read> b: array<f32>;           // b, see the legend
@group(0) @binding(2) var<storage, read_write> out: array<f32>;   // out is [Z, M, N]
@group(0) @binding(3) var<uniform> p: Params;

fn store4(row: u32, n0: u32, v: vec4<f32>, base: u32) {
    if (row >= p.m) { return; }
    let o = base + row * p.n + n0;
    if (n0 < p.n) { out[o] = v.x; }
    if (n0 + 1u < p.n) { out[o + 1u] = v.y; }
    if (n0 + 2u < p.n) { out[o + 2u] = v.z; }
    if (n0 + 3u < p.n) { out[o + 3u] = v.w; }
}

// Offsets of op(B)'s columns n0..n0+3 (clamped in range; columns past N are computed and
// never stored), and the 4 values of op(B) at those columns from offset ib.
fn b_cols(n0: u32) -> vec4<u32> {
    let last = p.n - 1u;
    let sbn = select(1u, p.k, TB);
    return min(vec4<u32>(n0) + vec4<u32>(0u, 1u, 2u, 3u), vec4<u32>(last)) * sbn;
}

fn b_quad(ib: u32, cb: vec4<u32>) -> vec4<f32> {
    return vec4<f32>(b[ib + cb.x], b[ib + cb.y], b[ib + cb.z], b[ib + cb.w]);
}

// Fallback for any shape: 8x8 invocations, each a 4x4 tile of out, scalar loads.
@compute @workgroup_size(8, 8)
fn matmul_scalar(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let M = p.m;
    let N = p.n;
    let K = p.k;
    let m0 = (wg.y * 8u + lid.y) * 4u;
    let n0 = (wg.x * 8u + lid.x) * 4u;
    let sam = select(K, 1u, TA);
    let sak = select(1u, M, TA);
    let sbk = select(N, 1u, TB);
    let ra0 = min(m0, M - 1u) * sam;
    let ra1 = min(m0 + 1u, M - 1u) * sam;
    let ra2 = min(m0 + 2u, M - 1u) * sam;
    let ra3 = min(m0 + 3u, M - 1u) * sam;
    let cb = b_cols(n0);
    var acc0 = vec4<f32>(0.0);
    var acc1 = vec4<f32>(0.0);
    var acc2 = vec4<f32>(0.0);
    var acc3 = vec4<f32>(0.0);
    for (var r = 0u; r < p.r; r++) {
        var ia = wg.z * p.a_bs + r * p.a_rs;
        var ib = wg.z * p.b_bs + r * p.b_rs;
        for (var k = 0u; k < p.kc; k++) {
            let bk = b_quad(ib, cb);
            acc0 += a[ia + ra0] * bk;
            acc1 += a[ia + ra1] * bk;
            acc2 += a[ia + ra2] * bk;
            acc3 += a[ia + ra3] * bk;
            ia += sak;
            ib += sbk;
        }
    }
    let base = wg.z * M * N;
    store4(m0, n0, acc0, base);
    store4(m0 + 1u, n0, acc1, base);
    store4(m0 + 2u, n0, acc2, base);
    store4(m0 + 3u, n0, acc3, base);
}


// ---- matmul_thin ----
// For products with a thin side (M, N or K of at most THIN, see matmul.rs), where a 64-wide
// tile of matmul_tiled or matmul_scalar would compute mostly padding: one invocation per
// (row m, 4 columns n0..n0+3) of out walks all of K. Grid: x (and y past 65535 groups) over
// the M * ceil(N / 4) invocations, z over the batch.
@compute @workgroup_size(64)
fn matmul_thin(
    @builtin(global_invocation_id) gid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(workgroup_id) wg: vec3<u32>,
) {
    let M = p.m;
    let N = p.n;
    let K = p.k;
    let quads = (N + 3u) / 4u;
    let i = gid.x + gid.y * nwg.x * 64u;
    if (i >= M * quads) { return; }
    let m = i / quads;
    let n0 = (i % quads) * 4u;
    let ra = select(m * K, m, TA);
    let sak = select(1u, M, TA);
    let sbk = select(N, 1u, TB);
    let cb = b_cols(n0);
    var acc = vec4<f32>(0.0);
    for (var r = 0u; r < p.r; r++) {
        var ia = wg.z * p.a_bs + r * p.a_rs + ra;
        var ib = wg.z * p.b_bs + r * p.b_rs;
        for (var k = 0u; k < p.kc; k++) {
            acc += a[ia] * b_quad(ib, cb);
            ia += sak;
            ib += sbk;
        }
    }
    store4(m, n0, acc, wg.z * M * N);
}

// ---- matmul_tiled ----
// 8x8 invocations; each computes a TxT tile of out (T = 8, or 16 when WIDE) held in named
// mat4x4 accumulators c<i><j> (the 4x4 block at rows m0+4i.., cols n0+4j..), and walks K in
// steps of 4. Per step it loads T/4 4x4 blocks of op(A) and of op(B), 4 vec4s each, and does
// (T/4)^2 block products: 2*T*T*4 flops per 2*T vec4 loads.
// WIDE suits CPU adapters (lavapipe, SwiftShader), where each invocation is a SIMD lane and
// every load is a per-lane loop, so flops per load is what counts; on GPUs 8x8 keeps the
// accumulators within the register file.

override WIDE: bool = false;

@group(0) @binding(0) var<storage, read> a4: array<vec4<f32>>;   // a, as vec4s
@group(0) @binding(1) var<storage, read> b4: array<vec4<f32>>;   // b, as vec4s
@group(0) @binding(2) var<storage, read_write> out_t: array<vec4<f32>>; // out is [Z, M, N]
@group(0) @binding(3) var<uniform> pt: Params;

// Offset in vec4s, at k = 0, of row m0+i of op(A) (not TA), or of A[0, m0+i..m0+i+3] (TA;
// i a multiple of 4). Clamped in range: rows past M are computed and never stored.
fn a_off(m0: u32, i: u32) -> u32 {
    if (TA) { return min(m0 + i, pt.m - 4u) / 4u; }
    return min(m0 + i, pt.m - 1u) * (pt.k / 4u);
}

// Offset in vec4s, at k = 0, of B[0, n0+j..n0+j+3] (not TB; j a multiple of 4), or of
// column n0+j of op(B) (TB).
fn b_off(n0: u32, j: u32) -> u32 {
    if (TB) { return min(n0 + j, pt.n - 1u) * (pt.k / 4u); }
    return min(n0 + j, pt.n - 4u) / 4u;
}

// The 4x4 block of op(A) at rows m.., cols k..: column i is row m+i (a vec4 over k).
// o0..o3 are a_off of its 4 rows (TA uses o0 only); ia points at k.
fn load_a(ia: u32, o0: u32, o1: u32, o2: u32, o3: u32) -> mat4x4<f32> {
    if (TA) {
        let q = pt.m / 4u; // vec4s per row of A
        return transpose(mat4x4<f32>(a4[ia + o0], a4[ia + q + o0], a4[ia + 2u * q + o0], a4[ia + 3u * q + o0]));
    }
    return mat4x4<f32>(a4[ia + o0], a4[ia + o1], a4[ia + o2], a4[ia + o3]);
}

// The 4x4 block of op(B) at rows k.., cols n..: column kk is row k+kk (a vec4 over n), so
// block(B) * block(A)[i] = sum_kk A[m+i, k+kk] B[k+kk, n..n+3]. o0..o3 are b_off of its 4
// columns (not TB uses o0 only); ib points at k.
fn load_b(ib: u32, o0: u32, o1: u32, o2: u32, o3: u32) -> mat4x4<f32> {
    if (TB) {
        return transpose(mat4x4<f32>(b4[ib + o0], b4[ib + o1], b4[ib + o2], b4[ib + o3]));
    }
    let q = pt.n / 4u; // vec4s per row of B
    return mat4x4<f32>(b4[ib + o0], b4[ib + q + o0], b4[ib + 2u * q + o0], b4[ib + 3u * q + o0]);
}

fn store_row(row: u32, n0: u32, v: vec4<f32>, base: u32) {
    if (row < pt.m && n0 < pt.n) { out_t[(base + row * pt.n + n0) / 4u] = v; }
}

// Column i of c is row m+i of the block at (m, n).
fn store_block(m: u32, n: u32, c: mat4x4<f32>, base: u32) {
    store_row(m, n, c[0], base);
    store_row(m + 1u, n, c[1], base);
    store_row(m + 2u, n, c[2], base);
    store_row(m + 3u, n, c[3], base);
}

@compute @workgroup_size(8, 8)
fn matmul_tiled(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let t = select(8u, 16u, WIDE);
    let m0 = (wg.y * 8u + lid.y) * t;
    let n0 = (wg.x * 8u + lid.x) * t;
    let ra0 = a_off(m0, 0u); let ra1 = a_off(m0, 1u); let ra2 = a_off(m0, 2u); let ra3 = a_off(m0, 3u);
    let ra4 = a_off(m0, 4u); let ra5 = a_off(m0, 5u); let ra6 = a_off(m0, 6u); let ra7 = a_off(m0, 7u);
    let cb0 = b_off(n0, 0u); let cb1 = b_off(n0, 1u); let cb2 = b_off(n0, 2u); let cb3 = b_off(n0, 3u);
    let cb4 = b_off(n0, 4u); let cb5 = b_off(n0, 5u); let cb6 = b_off(n0, 6u); let cb7 = b_off(n0, 7u);
    // Only used when WIDE (and then optimised away otherwise).
    let ra8 = a_off(m0, 8u); let ra9 = a_off(m0, 9u); let ra10 = a_off(m0, 10u); let ra11 = a_off(m0, 11u);
    let ra12 = a_off(m0, 12u); let ra13 = a_off(m0, 13u); let ra14 = a_off(m0, 14u); let ra15 = a_off(m0, 15u);
    let cb8 = b_off(n0, 8u); let cb9 = b_off(n0, 9u); let cb10 = b_off(n0, 10u); let cb11 = b_off(n0, 11u);
    let cb12 = b_off(n0, 12u); let cb13 = b_off(n0, 13u); let cb14 = b_off(n0, 14u); let cb15 = b_off(n0, 15u);
    var c00 = mat4x4<f32>(); var c01 = mat4x4<f32>(); var c02 = mat4x4<f32>(); var c03 = mat4x4<f32>();
    var c10 = mat4x4<f32>(); var c11 = mat4x4<f32>(); var c12 = mat4x4<f32>(); var c13 = mat4x4<f32>();
    var c20 = mat4x4<f32>(); var c21 = mat4x4<f32>(); var c22 = mat4x4<f32>(); var c23 = mat4x4<f32>();
    var c30 = mat4x4<f32>(); var c31 = mat4x4<f32>(); var c32 = mat4x4<f32>(); var c33 = mat4x4<f32>();
    let step_a = select(1u, pt.m, TA); // vec4s from k to k+4
    let step_b = select(pt.n, 1u, TB);
    for (var r = 0u; r < pt.r; r++) {
        var ia = (wg.z * pt.a_bs + r * pt.a_rs) / 4u;
        var ib = (wg.z * pt.b_bs + r * pt.b_rs) / 4u;
        for (var k = 0u; k < pt.kc; k += 4u) {
            let a0 = load_a(ia, ra0, ra1, ra2, ra3);
            let a1 = load_a(ia, ra4, ra5, ra6, ra7);
            let b0 = load_b(ib, cb0, cb1, cb2, cb3);
            let b1 = load_b(ib, cb4, cb5, cb6, cb7);
            c00 += b0 * a0; c01 += b1 * a0;
            c10 += b0 * a1; c11 += b1 * a1;
            if (WIDE) {
                let a2 = load_a(ia, ra8, ra9, ra10, ra11);
                let a3 = load_a(ia, ra12, ra13, ra14, ra15);
                let b2 = load_b(ib, cb8, cb9, cb10, cb11);
                let b3 = load_b(ib, cb12, cb13, cb14, cb15);
                c02 += b2 * a0; c03 += b3 * a0;
                c12 += b2 * a1; c13 += b3 * a1;
                c20 += b0 * a2; c21 += b1 * a2; c22 += b2 * a2; c23 += b3 * a2;
                c30 += b0 * a3; c31 += b1 * a3; c32 += b2 * a3; c33 += b3 * a3;
            }
            ia += step_a;
            ib += step_b;
        }
    }
    let base = wg.z * pt.m * pt.n;
    store_block(m0, n0, c00, base); store_block(m0, n0 + 4u, c01, base);
    store_block(m0 + 4u, n0, c10, base); store_block(m0 + 4u, n0 + 4u, c11, base);
    if (WIDE) {
        store_block(m0, n0 + 8u, c02, base); store_block(m0, n0 + 12u, c03, base);
        store_block(m0 + 4u, n0 + 8u, c12, base); store_block(m0 + 4u, n0 + 12u, c13, base);
        store_block(m0 + 8u, n0, c20, base); store_block(m0 + 8u, n0 + 4u, c21, base);
        store_block(m0 + 8u, n0 + 8u, c22, base); store_block(m0 + 8u, n0 + 12u, c23, base);
        store_block(m0 + 12u, n0, c30, base); store_block(m0 + 12u, n0 + 4u, c31, base);
        store_block(m0 + 12u, n0 + 8u, c32, base); store_block(m0 + 12u, n0 + 12u, c33, base);
    }
}
