// Fused scaled dot-product attention, forward and backward, without the [Lq, Lk] score
// matrix in memory. Launched by engine/src/ops/attention.rs.
//
// Legend: B = batch (batch x heads), Lq = queries, Lk = keys, D = head dim of q and k,
// Dv = head dim of v; scale = 1/sqrt(D) (of the unpadded D); P = softmax(scale q k^T).
//   q is [B, Lq, D], k is [B, Lk, D], v is [B, Lk, Dv]
//   o is [B, Lq, Dv], lse is [B, Lq] (logsumexp of row i of the scaled scores)
//   do (dO) is [B, Lq, Dv]; dd is [B, Lq], dd_i = rowsum(dO_i * O_i)
//   dq is [B, Lq, D], dk is [B, Lk, D], dv is [B, Lk, Dv]
// D and Dv are multiples of 4 (the launcher pads them) and at most 64: a row lives in
// registers as a `Row` of 16 named vec4s, of which the first D4 = D/4 (or DV4) are used. The
// guards `if (w > i)` compare with override constants, so each pipeline keeps only the
// vec4s it needs (and the loads of the others are dead code, removed).
//
// Three kernels, each invocation owning ROWS consecutive rows (the launcher picks ROWS: 16
// on CPU adapters, where a load is a loop over SIMD lanes and each loaded key row is reused
// by every row; 1 on GPUs, whose registers are few). Row r's state is the variable s<r>;
// `if (ROWS > r)` keeps it only when the pipeline has that many rows:
//   attention_fwd: ROWS query rows; keys in groups of 4 with an online softmax (running max
//     m, running sum l, accumulator rescaled by exp(m_old - m_new)); writes o and lse.
//   attention_dq:  ROWS query rows: dd_i = dO_i . O_i, then over all keys j
//     P_ij = exp(scale q_i . k_j - lse_i), dP_ij = dO_i . v_j,
//     dq_i = scale * sum_j P_ij (dP_ij - dd_i) k_j; writes dq and dd.
//   attention_dkv: ROWS key rows, over all queries i (with the same P_ij and dP_ij):
//     dv_j = sum_i P_ij dO_i, dk_j = scale * sum_i P_ij (dP_ij - dd_i) q_i.
// Grid: one invocation per (batch, group of ROWS rows), 1-D over B * ceil(L / ROWS)
// (wrapping into y past 65535 workgroups), 64 invocations per workgroup.

override D4: u32 = 16u;  // vec4s per row of q and k
override DV4: u32 = 16u; // vec4s per row of v and o
override ROWS: u32 = 1u; // rows per invocation: 1 to 16

struct Params {
    b: u32,
    lq: u32,
    lk: u32,
    groups: u32, // ceil(L / ROWS) per batch item, L = Lq (fwd, dq) or Lk (dkv)
    scale: f32,
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
}

// Bindings shared by the three kernels. q, k, v (and dO below), whose rows the loops load
// over and over, are read through flat rgba32float copies (engine/src/texture_pool.rs,
// `flat`: vec4 i of the tensor is texel (i % 4096, i / 4096)), read-only storage textures: a
// texel read is one gather of all the lanes on CPU adapters, where a storage-buffer load is a
// loop over the SIMD lanes.
@group(0) @binding(0) var tq: texture_storage_2d<rgba32float, read>; // q is [B, Lq, D]
@group(0) @binding(1) var tk: texture_storage_2d<rgba32float, read>; // k is [B, Lk, D]
@group(0) @binding(2) var tv: texture_storage_2d<rgba32float, read>; // v is [B, Lk, Dv]

fn texel(t: texture_storage_2d<rgba32float, read>, i: u32) -> vec4<f32> {
    return textureLoad(t, vec2<u32>(i % 4096u, i / 4096u));
}

// A row of up to 64 floats in registers; only v0 .. v(w-1) are meaningful.
struct Row {
    v0: vec4<f32>, v1: vec4<f32>, v2: vec4<f32>, v3: vec4<f32>,
    v4: vec4<f32>, v5: vec4<f32>, v6: vec4<f32>, v7: vec4<f32>,
    v8: vec4<f32>, v9: vec4<f32>, v10: vec4<f32>, v11: vec4<f32>,
    v12: vec4<f32>, v13: vec4<f32>, v14: vec4<f32>, v15: vec4<f32>,
}

fn neg_inf() -> f32 {
    return bitcast<f32>(0xff800000u);
}

// a . b + c as fused multiply-adds.
fn fma4(a: vec4<f32>, b: vec4<f32>, c: f32) -> f32 {
    return fma(a.w, b.w, fma(a.z, b.z, fma(a.y, b.y, fma(a.x, b.x, c))));
}

// a . b over the first w vec4s.
fn dot_row(a: Row, b: Row, w: u32) -> f32 {
    var s = fma4(a.v0, b.v0, 0.0);
    if (w > 1u) { s = fma4(a.v1, b.v1, s); }
    if (w > 2u) { s = fma4(a.v2, b.v2, s); }
    if (w > 3u) { s = fma4(a.v3, b.v3, s); }
    if (w > 4u) { s = fma4(a.v4, b.v4, s); }
    if (w > 5u) { s = fma4(a.v5, b.v5, s); }
    if (w > 6u) { s = fma4(a.v6, b.v6, s); }
    if (w > 7u) { s = fma4(a.v7, b.v7, s); }
    if (w > 8u) { s = fma4(a.v8, b.v8, s); }
    if (w > 9u) { s = fma4(a.v9, b.v9, s); }
    if (w > 10u) { s = fma4(a.v10, b.v10, s); }
    if (w > 11u) { s = fma4(a.v11, b.v11, s); }
    if (w > 12u) { s = fma4(a.v12, b.v12, s); }
    if (w > 13u) { s = fma4(a.v13, b.v13, s); }
    if (w > 14u) { s = fma4(a.v14, b.v14, s); }
    if (w > 15u) { s = fma4(a.v15, b.v15, s); }
    return s;
}

// alpha * y + s * x over the first w vec4s (the others stay as in y).
fn axpby_row(alpha: f32, y: Row, s: f32, x: Row, w: u32) -> Row {
    var r = y;
    r.v0 = fma(vec4<f32>(s), x.v0, alpha * y.v0);
    if (w > 1u) { r.v1 = fma(vec4<f32>(s), x.v1, alpha * y.v1); }
    if (w > 2u) { r.v2 = fma(vec4<f32>(s), x.v2, alpha * y.v2); }
    if (w > 3u) { r.v3 = fma(vec4<f32>(s), x.v3, alpha * y.v3); }
    if (w > 4u) { r.v4 = fma(vec4<f32>(s), x.v4, alpha * y.v4); }
    if (w > 5u) { r.v5 = fma(vec4<f32>(s), x.v5, alpha * y.v5); }
    if (w > 6u) { r.v6 = fma(vec4<f32>(s), x.v6, alpha * y.v6); }
    if (w > 7u) { r.v7 = fma(vec4<f32>(s), x.v7, alpha * y.v7); }
    if (w > 8u) { r.v8 = fma(vec4<f32>(s), x.v8, alpha * y.v8); }
    if (w > 9u) { r.v9 = fma(vec4<f32>(s), x.v9, alpha * y.v9); }
    if (w > 10u) { r.v10 = fma(vec4<f32>(s), x.v10, alpha * y.v10); }
    if (w > 11u) { r.v11 = fma(vec4<f32>(s), x.v11, alpha * y.v11); }
    if (w > 12u) { r.v12 = fma(vec4<f32>(s), x.v12, alpha * y.v12); }
    if (w > 13u) { r.v13 = fma(vec4<f32>(s), x.v13, alpha * y.v13); }
    if (w > 14u) { r.v14 = fma(vec4<f32>(s), x.v14, alpha * y.v14); }
    if (w > 15u) { r.v15 = fma(vec4<f32>(s), x.v15, alpha * y.v15); }
    return r;
}

// y + s * x over the first w vec4s.
fn axpy_row(y: Row, s: f32, x: Row, w: u32) -> Row {
    return axpby_row(1.0, y, s, x, w);
}

// Vec4 i of a row (i < 16), for the once-per-row stores.
fn part(r: Row, i: u32) -> vec4<f32> {
    switch i {
        case 0u: { return r.v0; } case 1u: { return r.v1; }
        case 2u: { return r.v2; } case 3u: { return r.v3; }
        case 4u: { return r.v4; } case 5u: { return r.v5; }
        case 6u: { return r.v6; } case 7u: { return r.v7; }
        case 8u: { return r.v8; } case 9u: { return r.v9; }
        case 10u: { return r.v10; } case 11u: { return r.v11; }
        case 12u: { return r.v12; } case 13u: { return r.v13; }
        case 14u: { return r.v14; }
        default: { return r.v15; }
    }
}

// The row of a flat texture starting at vec4 offset o. All 16 vec4s are read; those past the
// row's width are never used, so the compiler drops their loads. Texels past the end of the
// texture read as 0 or another texel (robust access) and are likewise unused.
fn load_row(t: texture_storage_2d<rgba32float, read>, o: u32) -> Row {
    return Row(texel(t, o), texel(t, o + 1u), texel(t, o + 2u), texel(t, o + 3u),
               texel(t, o + 4u), texel(t, o + 5u), texel(t, o + 6u), texel(t, o + 7u),
               texel(t, o + 8u), texel(t, o + 9u), texel(t, o + 10u), texel(t, o + 11u),
               texel(t, o + 12u), texel(t, o + 13u), texel(t, o + 14u), texel(t, o + 15u));
}

fn load_q(o: u32) -> Row {
    return load_row(tq, o);
}

fn load_k(o: u32) -> Row {
    return load_row(tk, o);
}

fn load_v(o: u32) -> Row {
    return load_row(tv, o);
}

// (batch, first row) of this invocation's group of ROWS rows; batch >= B when it has none.
fn group_of(gid: vec3<u32>, nwg: vec3<u32>, groups: u32) -> vec2<u32> {
    let g = gid.x + gid.y * nwg.x * 64u;
    return vec2<u32>(g / groups, (g % groups) * ROWS);
}

// ---- attention_fwd ----

@group(0) @binding(3) var<storage, read_write> o_out: array<vec4<f32>>; // o is [B, Lq, Dv]
@group(0) @binding(4) var<storage, read_write> lse_out: array<f32>;     // lse is [B, Lq]
@group(0) @binding(5) var<uniform> pf: Params;

// One query row's state: q, the unnormalised output acc, running max m and sum l (of
// exp(score - m)); for the current group of 4 keys, p = exp(score - m) and the factor alpha
// that rescales acc from the previous max to the current one.
struct Query {
    q: Row,
    acc: Row,
    m: f32,
    l: f32,
    p: vec4<f32>,
    alpha: f32,
}

fn query_init(b: u32, i: u32) -> Query {
    var st: Query; // acc = 0, l = 0
    st.q = load_q((b * pf.lq + min(i, pf.lq - 1u)) * D4);
    st.m = neg_inf();
    return st;
}

// Online softmax over 4 more keys with scaled scores s (keys past Lk at -inf): the new max
// m', alpha = exp(m - m'), l rescaled by alpha plus p = exp(s - m'). (acc is rescaled by
// alpha as the first value row is added.) Every group holds at least one real key, so m'
// is finite and exp(-inf - m') = 0.
fn online_step(st: Query, s: vec4<f32>) -> Query {
    var r = st;
    r.m = max(st.m, max(max(s.x, s.y), max(s.z, s.w)));
    r.alpha = exp(st.m - r.m);
    r.p = exp(s - r.m);
    r.l = st.l * r.alpha + (r.p.x + r.p.y + r.p.z + r.p.w);
    return r;
}

// acc <- a * acc + p_t v for value row vr, a = alpha for the group's first key (t = 0), else 1.
fn accumulate(st: Query, t: u32, vr: Row) -> Row {
    let pt = select(select(st.p.x, st.p.y, t == 1u), select(st.p.z, st.p.w, t == 3u), t > 1u);
    return axpby_row(select(1.0, st.alpha, t == 0u), st.acc, pt, vr, DV4);
}

// c with component t replaced by x (a select, not a dynamically indexed store: those keep
// the vector in memory on some compilers).
fn put(c: vec4<f32>, t: u32, x: f32) -> vec4<f32> {
    return select(c, vec4<f32>(x), vec4<u32>(t) == vec4<u32>(0u, 1u, 2u, 3u));
}

// Writes o_i = acc / l and lse_i = m + log(l) for query row i (if it exists).
fn query_finish(st: Query, b: u32, i: u32) {
    if (i >= pf.lq) { return; }
    let row = b * pf.lq + i;
    let inv = 1.0 / st.l;
    for (var c = 0u; c < DV4; c++) { o_out[row * DV4 + c] = part(st.acc, c) * inv; }
    lse_out[row] = st.m + log(st.l);
}

@compute @workgroup_size(64)
fn attention_fwd(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let bi = group_of(gid, nwg, pf.groups);
    let b = bi.x;
    let i0 = bi.y;
    if (b >= pf.b) { return; }
    var s0 = query_init(b, i0);
    var s1 = s0; var s2 = s0; var s3 = s0; var s4 = s0;
    var s5 = s0; var s6 = s0; var s7 = s0; var s8 = s0;
    var s9 = s0; var s10 = s0; var s11 = s0; var s12 = s0;
    var s13 = s0; var s14 = s0; var s15 = s0;
    if (ROWS > 1u) { s1 = query_init(b, i0 + 1u); }
    if (ROWS > 2u) { s2 = query_init(b, i0 + 2u); }
    if (ROWS > 3u) { s3 = query_init(b, i0 + 3u); }
    if (ROWS > 4u) { s4 = query_init(b, i0 + 4u); }
    if (ROWS > 5u) { s5 = query_init(b, i0 + 5u); }
    if (ROWS > 6u) { s6 = query_init(b, i0 + 6u); }
    if (ROWS > 7u) { s7 = query_init(b, i0 + 7u); }
    if (ROWS > 8u) { s8 = query_init(b, i0 + 8u); }
    if (ROWS > 9u) { s9 = query_init(b, i0 + 9u); }
    if (ROWS > 10u) { s10 = query_init(b, i0 + 10u); }
    if (ROWS > 11u) { s11 = query_init(b, i0 + 11u); }
    if (ROWS > 12u) { s12 = query_init(b, i0 + 12u); }
    if (ROWS > 13u) { s13 = query_init(b, i0 + 13u); }
    if (ROWS > 14u) { s14 = query_init(b, i0 + 14u); }
    if (ROWS > 15u) { s15 = query_init(b, i0 + 15u); }
    let kb = b * pf.lk;
    let last = pf.lk - 1u;
    for (var j = 0u; j < pf.lk; j += 4u) {
        // Scores of keys j..j+3 for every row, one key row in registers at a time.
        var c0 = vec4<f32>(neg_inf());
        var c1 = c0; var c2 = c0; var c3 = c0; var c4 = c0;
        var c5 = c0; var c6 = c0; var c7 = c0; var c8 = c0;
        var c9 = c0; var c10 = c0; var c11 = c0; var c12 = c0;
        var c13 = c0; var c14 = c0; var c15 = c0;
        for (var t = 0u; t < 4u; t++) {
            if (j + t > last) { break; }
            let kr = load_k((kb + j + t) * D4);
            c0 = put(c0, t, dot_row(s0.q, kr, D4) * pf.scale);
            if (ROWS > 1u) { c1 = put(c1, t, dot_row(s1.q, kr, D4) * pf.scale); }
            if (ROWS > 2u) { c2 = put(c2, t, dot_row(s2.q, kr, D4) * pf.scale); }
            if (ROWS > 3u) { c3 = put(c3, t, dot_row(s3.q, kr, D4) * pf.scale); }
            if (ROWS > 4u) { c4 = put(c4, t, dot_row(s4.q, kr, D4) * pf.scale); }
            if (ROWS > 5u) { c5 = put(c5, t, dot_row(s5.q, kr, D4) * pf.scale); }
            if (ROWS > 6u) { c6 = put(c6, t, dot_row(s6.q, kr, D4) * pf.scale); }
            if (ROWS > 7u) { c7 = put(c7, t, dot_row(s7.q, kr, D4) * pf.scale); }
            if (ROWS > 8u) { c8 = put(c8, t, dot_row(s8.q, kr, D4) * pf.scale); }
            if (ROWS > 9u) { c9 = put(c9, t, dot_row(s9.q, kr, D4) * pf.scale); }
            if (ROWS > 10u) { c10 = put(c10, t, dot_row(s10.q, kr, D4) * pf.scale); }
            if (ROWS > 11u) { c11 = put(c11, t, dot_row(s11.q, kr, D4) * pf.scale); }
            if (ROWS > 12u) { c12 = put(c12, t, dot_row(s12.q, kr, D4) * pf.scale); }
            if (ROWS > 13u) { c13 = put(c13, t, dot_row(s13.q, kr, D4) * pf.scale); }
            if (ROWS > 14u) { c14 = put(c14, t, dot_row(s14.q, kr, D4) * pf.scale); }
            if (ROWS > 15u) { c15 = put(c15, t, dot_row(s15.q, kr, D4) * pf.scale); }
        }
        s0 = online_step(s0, c0);
        if (ROWS > 1u) { s1 = online_step(s1, c1); }
        if (ROWS > 2u) { s2 = online_step(s2, c2); }
        if (ROWS > 3u) { s3 = online_step(s3, c3); }
        if (ROWS > 4u) { s4 = online_step(s4, c4); }
        if (ROWS > 5u) { s5 = online_step(s5, c5); }
        if (ROWS > 6u) { s6 = online_step(s6, c6); }
        if (ROWS > 7u) { s7 = online_step(s7, c7); }
        if (ROWS > 8u) { s8 = online_step(s8, c8); }
        if (ROWS > 9u) { s9 = online_step(s9, c9); }
        if (ROWS > 10u) { s10 = online_step(s10, c10); }
        if (ROWS > 11u) { s11 = online_step(s11, c11); }
        if (ROWS > 12u) { s12 = online_step(s12, c12); }
        if (ROWS > 13u) { s13 = online_step(s13, c13); }
        if (ROWS > 14u) { s14 = online_step(s14, c14); }
        if (ROWS > 15u) { s15 = online_step(s15, c15); }
        // acc += p_t v_t, one value row at a time (keys past Lk have p = 0: skipped).
        for (var t = 0u; t < 4u; t++) {
            if (j + t > last) { break; }
            let vr = load_v((kb + j + t) * DV4);
            s0.acc = accumulate(s0, t, vr);
            if (ROWS > 1u) { s1.acc = accumulate(s1, t, vr); }
            if (ROWS > 2u) { s2.acc = accumulate(s2, t, vr); }
            if (ROWS > 3u) { s3.acc = accumulate(s3, t, vr); }
            if (ROWS > 4u) { s4.acc = accumulate(s4, t, vr); }
            if (ROWS > 5u) { s5.acc = accumulate(s5, t, vr); }
            if (ROWS > 6u) { s6.acc = accumulate(s6, t, vr); }
            if (ROWS > 7u) { s7.acc = accumulate(s7, t, vr); }
            if (ROWS > 8u) { s8.acc = accumulate(s8, t, vr); }
            if (ROWS > 9u) { s9.acc = accumulate(s9, t, vr); }
            if (ROWS > 10u) { s10.acc = accumulate(s10, t, vr); }
            if (ROWS > 11u) { s11.acc = accumulate(s11, t, vr); }
            if (ROWS > 12u) { s12.acc = accumulate(s12, t, vr); }
            if (ROWS > 13u) { s13.acc = accumulate(s13, t, vr); }
            if (ROWS > 14u) { s14.acc = accumulate(s14, t, vr); }
            if (ROWS > 15u) { s15.acc = accumulate(s15, t, vr); }
        }
    }
    query_finish(s0, b, i0);
    if (ROWS > 1u) { query_finish(s1, b, i0 + 1u); }
    if (ROWS > 2u) { query_finish(s2, b, i0 + 2u); }
    if (ROWS > 3u) { query_finish(s3, b, i0 + 3u); }
    if (ROWS > 4u) { query_finish(s4, b, i0 + 4u); }
    if (ROWS > 5u) { query_finish(s5, b, i0 + 5u); }
    if (ROWS > 6u) { query_finish(s6, b, i0 + 6u); }
    if (ROWS > 7u) { query_finish(s7, b, i0 + 7u); }
    if (ROWS > 8u) { query_finish(s8, b, i0 + 8u); }
    if (ROWS > 9u) { query_finish(s9, b, i0 + 9u); }
    if (ROWS > 10u) { query_finish(s10, b, i0 + 10u); }
    if (ROWS > 11u) { query_finish(s11, b, i0 + 11u); }
    if (ROWS > 12u) { query_finish(s12, b, i0 + 12u); }
    if (ROWS > 13u) { query_finish(s13, b, i0 + 13u); }
    if (ROWS > 14u) { query_finish(s14, b, i0 + 14u); }
    if (ROWS > 15u) { query_finish(s15, b, i0 + 15u); }
}

// ---- backward: shared bindings ----

@group(0) @binding(3) var<storage, read> lse_in: array<f32>;   // lse is [B, Lq]
@group(0) @binding(5) var tdo: texture_storage_2d<rgba32float, read>; // do is [B, Lq, Dv], a flat texture like q
@group(0) @binding(8) var<uniform> pb: Params;

fn load_do(o: u32) -> Row {
    return load_row(tdo, o);
}

// ---- attention_dq ----

@group(0) @binding(4) var<storage, read_write> dd_out: array<f32>;      // dd is [B, Lq]
@group(0) @binding(6) var<storage, read> o4: array<vec4<f32>>;          // o is [B, Lq, Dv]
@group(0) @binding(7) var<storage, read_write> dq4: array<vec4<f32>>;   // dq is [B, Lq, D]

// One query row's state: q, dO, the dq sum, lse, dd = dO . O, and dP of the current key.
struct QGrad {
    q: Row,
    dout: Row,
    dq: Row,
    lse: f32,
    dd: f32,
    dp: f32,
}

fn qgrad_init(b: u32, i: u32) -> QGrad {
    var st: QGrad; // dq = 0
    let row = b * pb.lq + min(i, pb.lq - 1u);
    st.q = load_q(row * D4);
    st.dout = load_do(row * DV4);
    for (var c = 0u; c < DV4; c++) {
        // o is needed once per row: read it through the generic path, not 16 named loads.
        let x = o4[row * DV4 + c];
        st.dd += dot(part(st.dout, c), x);
    }
    st.lse = lse_in[row];
    return st;
}

// dq += P (dP - dd) k for key row k with scaled score s = scale q . k.
fn qgrad_step(st: QGrad, kr: Row) -> QGrad {
    var r = st;
    let pij = exp(dot_row(st.q, kr, D4) * pb.scale - st.lse);
    r.dq = axpy_row(st.dq, pij * (st.dp - st.dd), kr, D4);
    return r;
}

fn qgrad_finish(st: QGrad, b: u32, i: u32) {
    if (i >= pb.lq) { return; }
    let row = b * pb.lq + i;
    for (var c = 0u; c < D4; c++) { dq4[row * D4 + c] = part(st.dq, c) * pb.scale; }
    dd_out[row] = st.dd;
}

@compute @workgroup_size(64)
fn attention_dq(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let bi = group_of(gid, nwg, pb.groups);
    let b = bi.x;
    let i0 = bi.y;
    if (b >= pb.b) { return; }
    var s0 = qgrad_init(b, i0);
    var s1 = s0; var s2 = s0; var s3 = s0; var s4 = s0;
    var s5 = s0; var s6 = s0; var s7 = s0; var s8 = s0;
    var s9 = s0; var s10 = s0; var s11 = s0; var s12 = s0;
    var s13 = s0; var s14 = s0; var s15 = s0;
    if (ROWS > 1u) { s1 = qgrad_init(b, i0 + 1u); }
    if (ROWS > 2u) { s2 = qgrad_init(b, i0 + 2u); }
    if (ROWS > 3u) { s3 = qgrad_init(b, i0 + 3u); }
    if (ROWS > 4u) { s4 = qgrad_init(b, i0 + 4u); }
    if (ROWS > 5u) { s5 = qgrad_init(b, i0 + 5u); }
    if (ROWS > 6u) { s6 = qgrad_init(b, i0 + 6u); }
    if (ROWS > 7u) { s7 = qgrad_init(b, i0 + 7u); }
    if (ROWS > 8u) { s8 = qgrad_init(b, i0 + 8u); }
    if (ROWS > 9u) { s9 = qgrad_init(b, i0 + 9u); }
    if (ROWS > 10u) { s10 = qgrad_init(b, i0 + 10u); }
    if (ROWS > 11u) { s11 = qgrad_init(b, i0 + 11u); }
    if (ROWS > 12u) { s12 = qgrad_init(b, i0 + 12u); }
    if (ROWS > 13u) { s13 = qgrad_init(b, i0 + 13u); }
    if (ROWS > 14u) { s14 = qgrad_init(b, i0 + 14u); }
    if (ROWS > 15u) { s15 = qgrad_init(b, i0 + 15u); }
    for (var j = 0u; j < pb.lk; j++) {
        let kv = b * pb.lk + j;
        // dP_ij = dO_i . v_j first, so only one key-side row is in registers at a time.
        let vr = load_v(kv * DV4);
        s0.dp = dot_row(s0.dout, vr, DV4);
        if (ROWS > 1u) { s1.dp = dot_row(s1.dout, vr, DV4); }
        if (ROWS > 2u) { s2.dp = dot_row(s2.dout, vr, DV4); }
        if (ROWS > 3u) { s3.dp = dot_row(s3.dout, vr, DV4); }
        if (ROWS > 4u) { s4.dp = dot_row(s4.dout, vr, DV4); }
        if (ROWS > 5u) { s5.dp = dot_row(s5.dout, vr, DV4); }
        if (ROWS > 6u) { s6.dp = dot_row(s6.dout, vr, DV4); }
        if (ROWS > 7u) { s7.dp = dot_row(s7.dout, vr, DV4); }
        if (ROWS > 8u) { s8.dp = dot_row(s8.dout, vr, DV4); }
        if (ROWS > 9u) { s9.dp = dot_row(s9.dout, vr, DV4); }
        if (ROWS > 10u) { s10.dp = dot_row(s10.dout, vr, DV4); }
        if (ROWS > 11u) { s11.dp = dot_row(s11.dout, vr, DV4); }
        if (ROWS > 12u) { s12.dp = dot_row(s12.dout, vr, DV4); }
        if (ROWS > 13u) { s13.dp = dot_row(s13.dout, vr, DV4); }
        if (ROWS > 14u) { s14.dp = dot_row(s14.dout, vr, DV4); }
        if (ROWS > 15u) { s15.dp = dot_row(s15.dout, vr, DV4); }
        let kr = load_k(kv * D4);
        s0 = qgrad_step(s0, kr);
        if (ROWS > 1u) { s1 = qgrad_step(s1, kr); }
        if (ROWS > 2u) { s2 = qgrad_step(s2, kr); }
        if (ROWS > 3u) { s3 = qgrad_step(s3, kr); }
        if (ROWS > 4u) { s4 = qgrad_step(s4, kr); }
        if (ROWS > 5u) { s5 = qgrad_step(s5, kr); }
        if (ROWS > 6u) { s6 = qgrad_step(s6, kr); }
        if (ROWS > 7u) { s7 = qgrad_step(s7, kr); }
        if (ROWS > 8u) { s8 = qgrad_step(s8, kr); }
        if (ROWS > 9u) { s9 = qgrad_step(s9, kr); }
        if (ROWS > 10u) { s10 = qgrad_step(s10, kr); }
        if (ROWS > 11u) { s11 = qgrad_step(s11, kr); }
        if (ROWS > 12u) { s12 = qgrad_step(s12, kr); }
        if (ROWS > 13u) { s13 = qgrad_step(s13, kr); }
        if (ROWS > 14u) { s14 = qgrad_step(s14, kr); }
        if (ROWS > 15u) { s15 = qgrad_step(s15, kr); }
    }
    qgrad_finish(s0, b, i0);
    if (ROWS > 1u) { qgrad_finish(s1, b, i0 + 1u); }
    if (ROWS > 2u) { qgrad_finish(s2, b, i0 + 2u); }
    if (ROWS > 3u) { qgrad_finish(s3, b, i0 + 3u); }
    if (ROWS > 4u) { qgrad_finish(s4, b, i0 + 4u); }
    if (ROWS > 5u) { qgrad_finish(s5, b, i0 + 5u); }
    if (ROWS > 6u) { qgrad_finish(s6, b, i0 + 6u); }
    if (ROWS > 7u) { qgrad_finish(s7, b, i0 + 7u); }
    if (ROWS > 8u) { qgrad_finish(s8, b, i0 + 8u); }
    if (ROWS > 9u) { qgrad_finish(s9, b, i0 + 9u); }
    if (ROWS > 10u) { qgrad_finish(s10, b, i0 + 10u); }
    if (ROWS > 11u) { qgrad_finish(s11, b, i0 + 11u); }
    if (ROWS > 12u) { qgrad_finish(s12, b, i0 + 12u); }
    if (ROWS > 13u) { qgrad_finish(s13, b, i0 + 13u); }
    if (ROWS > 14u) { qgrad_finish(s14, b, i0 + 14u); }
    if (ROWS > 15u) { qgrad_finish(s15, b, i0 + 15u); }
}

// ---- attention_dkv ----

@group(0) @binding(4) var<storage, read> dd_in: array<f32>;             // dd is [B, Lq]
@group(0) @binding(6) var<storage, read_write> dk4: array<vec4<f32>>;   // dk is [B, Lk, D]
@group(0) @binding(7) var<storage, read_write> dv4: array<vec4<f32>>;   // dv is [B, Lk, Dv]

// One key row's state: k, v and the dk, dv sums.
struct KGrad {
    k: Row,
    v: Row,
    dk: Row,
    dv: Row,
}

fn kgrad_init(b: u32, j: u32) -> KGrad {
    var st: KGrad; // dk = dv = 0
    let row = b * pb.lk + min(j, pb.lk - 1u);
    st.k = load_k(row * D4);
    st.v = load_v(row * DV4);
    return st;
}

// For query row qr with gradient row dr, logsumexp lse and dd:
// dv += P dO, dk += P (dP - dd) q.
fn kgrad_step(st: KGrad, qr: Row, dr: Row, lse: f32, dd: f32) -> KGrad {
    var r = st;
    let pij = exp(dot_row(qr, st.k, D4) * pb.scale - lse);
    let dpij = dot_row(dr, st.v, DV4);
    r.dv = axpy_row(st.dv, pij, dr, DV4);
    r.dk = axpy_row(st.dk, pij * (dpij - dd), qr, D4);
    return r;
}

fn kgrad_finish(st: KGrad, b: u32, j: u32) {
    if (j >= pb.lk) { return; }
    let row = b * pb.lk + j;
    for (var c = 0u; c < D4; c++) { dk4[row * D4 + c] = part(st.dk, c) * pb.scale; }
    for (var c = 0u; c < DV4; c++) { dv4[row * DV4 + c] = part(st.dv, c); }
}

@compute @workgroup_size(64)
fn attention_dkv(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let bj = group_of(gid, nwg, pb.groups);
    let b = bj.x;
    let j0 = bj.y;
    if (b >= pb.b) { return; }
    var s0 = kgrad_init(b, j0);
    var s1 = s0; var s2 = s0; var s3 = s0; var s4 = s0;
    var s5 = s0; var s6 = s0; var s7 = s0; var s8 = s0;
    var s9 = s0; var s10 = s0; var s11 = s0; var s12 = s0;
    var s13 = s0; var s14 = s0; var s15 = s0;
    if (ROWS > 1u) { s1 = kgrad_init(b, j0 + 1u); }
    if (ROWS > 2u) { s2 = kgrad_init(b, j0 + 2u); }
    if (ROWS > 3u) { s3 = kgrad_init(b, j0 + 3u); }
    if (ROWS > 4u) { s4 = kgrad_init(b, j0 + 4u); }
    if (ROWS > 5u) { s5 = kgrad_init(b, j0 + 5u); }
    if (ROWS > 6u) { s6 = kgrad_init(b, j0 + 6u); }
    if (ROWS > 7u) { s7 = kgrad_init(b, j0 + 7u); }
    if (ROWS > 8u) { s8 = kgrad_init(b, j0 + 8u); }
    if (ROWS > 9u) { s9 = kgrad_init(b, j0 + 9u); }
    if (ROWS > 10u) { s10 = kgrad_init(b, j0 + 10u); }
    if (ROWS > 11u) { s11 = kgrad_init(b, j0 + 11u); }
    if (ROWS > 12u) { s12 = kgrad_init(b, j0 + 12u); }
    if (ROWS > 13u) { s13 = kgrad_init(b, j0 + 13u); }
    if (ROWS > 14u) { s14 = kgrad_init(b, j0 + 14u); }
    if (ROWS > 15u) { s15 = kgrad_init(b, j0 + 15u); }
    for (var i = 0u; i < pb.lq; i++) {
        let row = b * pb.lq + i;
        let lse = lse_in[row];
        let dd = dd_in[row];
        let qr = load_q(row * D4);
        let dr = load_do(row * DV4);
        s0 = kgrad_step(s0, qr, dr, lse, dd);
        if (ROWS > 1u) { s1 = kgrad_step(s1, qr, dr, lse, dd); }
        if (ROWS > 2u) { s2 = kgrad_step(s2, qr, dr, lse, dd); }
        if (ROWS > 3u) { s3 = kgrad_step(s3, qr, dr, lse, dd); }
        if (ROWS > 4u) { s4 = kgrad_step(s4, qr, dr, lse, dd); }
        if (ROWS > 5u) { s5 = kgrad_step(s5, qr, dr, lse, dd); }
        if (ROWS > 6u) { s6 = kgrad_step(s6, qr, dr, lse, dd); }
        if (ROWS > 7u) { s7 = kgrad_step(s7, qr, dr, lse, dd); }
        if (ROWS > 8u) { s8 = kgrad_step(s8, qr, dr, lse, dd); }
        if (ROWS > 9u) { s9 = kgrad_step(s9, qr, dr, lse, dd); }
        if (ROWS > 10u) { s10 = kgrad_step(s10, qr, dr, lse, dd); }
        if (ROWS > 11u) { s11 = kgrad_step(s11, qr, dr, lse, dd); }
        if (ROWS > 12u) { s12 = kgrad_step(s12, qr, dr, lse, dd); }
        if (ROWS > 13u) { s13 = kgrad_step(s13, qr, dr, lse, dd); }
        if (ROWS > 14u) { s14 = kgrad_step(s14, qr, dr, lse, dd); }
        if (ROWS > 15u) { s15 = kgrad_step(s15, qr, dr, lse, dd); }
    }
    kgrad_finish(s0, b, j0);
    if (ROWS > 1u) { kgrad_finish(s1, b, j0 + 1u); }
    if (ROWS > 2u) { kgrad_finish(s2, b, j0 + 2u); }
    if (ROWS > 3u) { kgrad_finish(s3, b, j0 + 3u); }
    if (ROWS > 4u) { kgrad_finish(s4, b, j0 + 4u); }
    if (ROWS > 5u) { kgrad_finish(s5, b, j0 + 5u); }
    if (ROWS > 6u) { kgrad_finish(s6, b, j0 + 6u); }
    if (ROWS > 7u) { kgrad_finish(s7, b, j0 + 7u); }
    if (ROWS > 8u) { kgrad_finish(s8, b, j0 + 8u); }
    if (ROWS > 9u) { kgrad_finish(s9, b, j0 + 9u); }
    if (ROWS > 10u) { kgrad_finish(s10, b, j0 + 10u); }
    if (ROWS > 11u) { kgrad_finish(s11, b, j0 + 11u); }
    if (ROWS > 12u) { kgrad_finish(s12, b, j0 + 12u); }
    if (ROWS > 13u) { kgrad_finish(s13, b, j0 + 13u); }
    if (ROWS > 14u) { kgrad_finish(s14, b, j0 + 14u); }
    if (ROWS > 15u) { kgrad_finish(s15, b, j0 + 15u); }
}

