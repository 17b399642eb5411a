// The weight gradient of conv2d as an implicit GEMM with a long reduction, split in parallel
// chunks. Launched by engine/src/ops/conv_grad_weight.rs (the forward and grad-input are in
// conv.wgsl).
//
// Legend: as conv.wgsl: N = batch; Cin, Cout; H, W = x's size; OH, OW = dy's; KH, KW; S = stride;
// P = padding; R = Cin*KH*KW indexed r = (ci, kh, kw); Q = OH*OW indexed q = (oh, ow).
//   x is [N, Cin, H, W], dy is [N, Cout, OH, OW], dweight is [Cout, Cin, KH, KW] = [Cout, R]
//   dweight[co, r] = sum_(n, q) dy[n, co, q] * xcol[n, r, q],
//   xcol[n, (ci, kh, kw), (oh, ow)] = x[n, ci, oh*S - P + kh, ow*S - P + kw] (0 outside x)
// Each kernel writes partial sums over chunks of (n, q); the launcher sums them.
//
// Entry points (conv_grad_weight_rows.wgsl has the stride-1, 3-wide one for adapters with
// subgroups):
//   conv2d_grad_weight_uniform  dy copied per (image, 16 channels) into a uniform buffer.
//   conv2d_grad_weight          any shape: 8 output channels x 8 r per invocation.

override KH: u32 = 3u;
override KW: u32 = 3u;
override STRIDE: u32 = 1u;

// ---- conv2d_grad_weight ----
// partial[z, co, r] = sum over the pixels q of chunk z of dy[n, co, q] * xcol[n, r, q], where
// chunk z = n * splits + s covers q in [s*chunk, (s+1)*chunk) of image n.
// Grid: x over groups of 8 r (8 per workgroup), y over groups of 8 co (8 per workgroup), z over
// the N*splits chunks. Each invocation accumulates 16 vec4s (8 r x 2 groups of 4 co): per
// pixel, 8 loads of dy and 8 gathers of x for 64 FMAs.

struct GradWeightParams {
    cin: u32,
    cout: u32,
    h: u32,
    w: u32,
    out_h: u32,
    out_w: u32,
    splits: u32, // chunks per image
    chunk: u32,  // pixels per chunk
    pad_h: i32,
    pad_w: i32,
    _pad0: u32,
    _pad1: u32,
}

@group(0) @binding(0) var<storage, read> gw_x: array<f32>;          // x is [N, Cin, H, W]
@group(0) @binding(1) var<storage, read> gw_dy: array<f32>;         // dy is [N, Cout, OH, OW]
@group(0) @binding(2) var<storage, read_write> gw_out: array<f32>;  // partial is [N*splits, Cout, R]
@group(0) @binding(3) var<uniform> gw: GradWeightParams;

// Offset of r's channel plane in image n's x, and r's tap offsets (kh - P, kw - P).
struct Tap {
    plane: u32,
    dh: i32,
    dw: i32,
}

fn tap_of(r: u32) -> Tap {
    let ci = r / (KH * KW);
    let kk = r % (KH * KW);
    return Tap(ci * gw.h * gw.w, i32(kk / KW) - gw.pad_h, i32(kk % KW) - gw.pad_w);
}

// x at tap t of output pixel (oh, ow) of the image starting at `img`, 0 in the padding.
fn x_at(img: u32, t: Tap, oh: i32, ow: i32) -> f32 {
    let h = oh + t.dh;
    let w = ow + t.dw;
    let ok = h >= 0 && w >= 0 && h < i32(gw.h) && w < i32(gw.w);
    let idx = img + t.plane + u32(select(0, h * i32(gw.w) + w, ok));
    return select(0.0, gw_x[idx], ok);
}

fn store_r(z: u32, co0: u32, r: u32, rr: u32, v: vec4<f32>) {
    if (r >= rr) { return; }
    let o = (z * gw.cout + co0) * rr + r;
    if (co0 < gw.cout) { gw_out[o] = v.x; }
    if (co0 + 1u < gw.cout) { gw_out[o + rr] = v.y; }
    if (co0 + 2u < gw.cout) { gw_out[o + 2u * rr] = v.z; }
    if (co0 + 3u < gw.cout) { gw_out[o + 3u * rr] = v.w; }
}

@compute @workgroup_size(8, 8)
fn conv2d_grad_weight(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let rr = gw.cin * KH * KW;
    let r0 = (wg.x * 8u + lid.x) * 8u;
    let co0 = (wg.y * 8u + lid.y) * 8u;
    if (r0 >= rr || co0 >= gw.cout) { return; }
    let z = wg.z;
    let n = z / gw.splits;
    let npix = gw.out_h * gw.out_w;
    let q_begin = (z % gw.splits) * gw.chunk;
    let q_end = min(q_begin + gw.chunk, npix);
    let last_r = rr - 1u;
    let t0 = tap_of(min(r0, last_r));
    let t1 = tap_of(min(r0 + 1u, last_r));
    let t2 = tap_of(min(r0 + 2u, last_r));
    let t3 = tap_of(min(r0 + 3u, last_r));
    let t4 = tap_of(min(r0 + 4u, last_r));
    let t5 = tap_of(min(r0 + 5u, last_r));
    let t6 = tap_of(min(r0 + 6u, last_r));
    let t7 = tap_of(min(r0 + 7u, last_r));
    // dy rows of channels co0..co0+7 (clamped; extra channels are never stored)
    let last = gw.cout - 1u;
    let dy_img = n * gw.cout * npix;
    let d0 = dy_img + min(co0, last) * npix;
    let d1 = dy_img + min(co0 + 1u, last) * npix;
    let d2 = dy_img + min(co0 + 2u, last) * npix;
    let d3 = dy_img + min(co0 + 3u, last) * npix;
    let d4 = dy_img + min(co0 + 4u, last) * npix;
    let d5 = dy_img + min(co0 + 5u, last) * npix;
    let d6 = dy_img + min(co0 + 6u, last) * npix;
    let d7 = dy_img + min(co0 + 7u, last) * npix;
    let img = n * gw.cin * gw.h * gw.w;
    // a<g><i>: channels co0+4g..co0+4g+3 of r0+i
    var a00 = vec4<f32>(0.0); var a01 = vec4<f32>(0.0); var a02 = vec4<f32>(0.0); var a03 = vec4<f32>(0.0);
    var a04 = vec4<f32>(0.0); var a05 = vec4<f32>(0.0); var a06 = vec4<f32>(0.0); var a07 = vec4<f32>(0.0);
    var a10 = vec4<f32>(0.0); var a11 = vec4<f32>(0.0); var a12 = vec4<f32>(0.0); var a13 = vec4<f32>(0.0);
    var a14 = vec4<f32>(0.0); var a15 = vec4<f32>(0.0); var a16 = vec4<f32>(0.0); var a17 = vec4<f32>(0.0);
    var oh = q_begin / gw.out_w;
    var ow = q_begin % gw.out_w;
    for (var q = q_begin; q < q_end; q++) {
        let g0 = vec4<f32>(gw_dy[d0 + q], gw_dy[d1 + q], gw_dy[d2 + q], gw_dy[d3 + q]);
        let g1 = vec4<f32>(gw_dy[d4 + q], gw_dy[d5 + q], gw_dy[d6 + q], gw_dy[d7 + q]);
        let sh = i32(oh * STRIDE);
        let sw = i32(ow * STRIDE);
        let x0 = x_at(img, t0, sh, sw);
        let x1 = x_at(img, t1, sh, sw);
        let x2 = x_at(img, t2, sh, sw);
        let x3 = x_at(img, t3, sh, sw);
        let x4 = x_at(img, t4, sh, sw);
        let x5 = x_at(img, t5, sh, sw);
        let x6 = x_at(img, t6, sh, sw);
        let x7 = x_at(img, t7, sh, sw);
        a00 += g0 * x0; a01 += g0 * x1; a02 += g0 * x2; a03 += g0 * x3;
        a04 += g0 * x4; a05 += g0 * x5; a06 += g0 * x6; a07 += g0 * x7;
        a10 += g1 * x0; a11 += g1 * x1; a12 += g1 * x2; a13 += g1 * x3;
        a14 += g1 * x4; a15 += g1 * x5; a16 += g1 * x6; a17 += g1 * x7;
        ow++;
        if (ow == gw.out_w) {
            ow = 0u;
            oh++;
        }
    }
    store_r(z, co0, r0, rr, a00); store_r(z, co0, r0 + 1u, rr, a01);
    store_r(z, co0, r0 + 2u, rr, a02); store_r(z, co0, r0 + 3u, rr, a03);
    store_r(z, co0, r0 + 4u, rr, a04); store_r(z, co0, r0 + 5u, rr, a05);
    store_r(z, co0, r0 + 6u, rr, a06); store_r(z, co0, r0 + 7u, rr, a07);
    let c1 = co0 + 4u;
    store_r(z, c1, r0, rr, a10); store_r(z, c1, r0 + 1u, rr, a11);
    store_r(z, c1, r0 + 2u, rr, a12); store_r(z, c1, r0 + 3u, rr, a13);
    store_r(z, c1, r0 + 4u, rr, a14); store_r(z, c1, r0 + 5u, rr, a15);
    store_r(z, c1, r0 + 6u, rr, a16); store_r(z, c1, r0 + 7u, rr, a17);
}

// ---- conv2d_grad_weight_uniform ----
// partial[n, co0 + j, r] = sum_q dy[n, co0 + j, q] * xcol[n, r, q] for j < cc (at most 16), with
// dy[n, co0..co0+cc, :] copied into a uniform buffer (cc * Q <= 16384 floats, Q % 4 == 0): every
// invocation walks the same q, so the dy reads are the same across the workgroup (broadcast,
// as the weights in conv2d_gather_uniform), while each invocation gathers x for its own r.
// Per 4 pixels: 4 gathers of x and cc vec4 reads of dy for 4*cc FMAs.
// Grid: x over groups of 32 r; one dispatch per (image n, chunk of cc channels).

struct GradWeightUniformParams {
    cin: u32,
    cout: u32,
    h: u32,
    w: u32,
    out_h: u32,
    out_w: u32,
    n: u32,     // the image
    co0: u32,   // the chunk's first output channel
    _pad1: u32,
    _pad0: u32,
    pad_h: i32,
    pad_w: i32,
}

override GC: u32 = 16u; // the chunk's channels, cc (1..16)

@group(0) @binding(1) var<uniform> gu_dy: array<vec4<f32>, 4096>;  // dy[n, co0..co0+cc, :] is [cc, Q]
@group(0) @binding(3) var<uniform> gu: GradWeightUniformParams;

fn gu_x(img: u32, t: Tap, oh: u32, ow: u32) -> f32 {
    let h = i32(oh * STRIDE) + t.dh;
    let w = i32(ow * STRIDE) + t.dw;
    let ok = h >= 0 && w >= 0 && h < i32(gu.h) && w < i32(gu.w);
    return select(0.0, gw_x[img + t.plane + u32(select(0, h * i32(gu.w) + w, ok))], ok);
}

fn gu_tap(r: u32) -> Tap {
    let kk = r % (KH * KW);
    return Tap((r / (KH * KW)) * gu.h * gu.w, i32(kk / KW) - gu.pad_h, i32(kk % KW) - gu.pad_w);
}

// x at tap t of the 4 pixels from (oh, ow) on (the row wraps between them), advancing (oh, ow).
fn gu_quad(img: u32, t: Tap, oh: ptr<function, u32>, ow: ptr<function, u32>) -> vec4<f32> {
    var v = vec4<f32>(0.0);
    for (var j = 0u; j < 4u; j++) {
        let x = gu_x(img, t, *oh, *ow);
        v = vec4<f32>(v.yzw, x);
        *ow += 1u;
        if (*ow == gu.out_w) { *ow = 0u; *oh += 1u; }
    }
    return v;
}

// Channel j of the chunk: a += dy[j, vec4 i] * xa + dy[j, vec4 i+1] * xb (xb = 0 past the row).
fn gu_add(a: ptr<function, vec4<f32>>, j: u32, q4: u32, i: u32, xa: vec4<f32>, xb: vec4<f32>) {
    let at = j * q4 + i;
    *a += gu_dy[at] * xa + gu_dy[min(at + 1u, 4095u)] * xb;
}

@compute @workgroup_size(32)
fn conv2d_grad_weight_uniform(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let rr = gu.cin * KH * KW;
    let r = wg.x * 32u + lid.x;
    if (r >= rr) { return; }
    let t = gu_tap(r);
    let img = gu.n * gu.cin * gu.h * gu.w;
    let q4 = gu.out_h * gu.out_w / 4u; // vec4s per channel row of dy
    var a0 = vec4<f32>(0.0); var a1 = vec4<f32>(0.0); var a2 = vec4<f32>(0.0); var a3 = vec4<f32>(0.0);
    var a4 = vec4<f32>(0.0); var a5 = vec4<f32>(0.0); var a6 = vec4<f32>(0.0); var a7 = vec4<f32>(0.0);
    var a8 = vec4<f32>(0.0); var a9 = vec4<f32>(0.0); var a10 = vec4<f32>(0.0); var a11 = vec4<f32>(0.0);
    var a12 = vec4<f32>(0.0); var a13 = vec4<f32>(0.0); var a14 = vec4<f32>(0.0); var a15 = vec4<f32>(0.0);
    var oh = 0u;
    var ow = 0u;
    // Two vec4s of pixels (8 pixels) per step, so each accumulator is touched once per 8
    // products; an odd last vec4 pairs with zeros.
    for (var i = 0u; i < q4; i += 2u) {
        let xa = gu_quad(img, t, &oh, &ow);
        var xb = vec4<f32>(0.0);
        if (i + 1u < q4) { xb = gu_quad(img, t, &oh, &ow); }
        gu_add(&a0, 0u, q4, i, xa, xb);
        if (GC > 1u) { gu_add(&a1, 1u, q4, i, xa, xb); }
        if (GC > 2u) { gu_add(&a2, 2u, q4, i, xa, xb); }
        if (GC > 3u) { gu_add(&a3, 3u, q4, i, xa, xb); }
        if (GC > 4u) {
            gu_add(&a4, 4u, q4, i, xa, xb);
            if (GC > 5u) { gu_add(&a5, 5u, q4, i, xa, xb); }
            if (GC > 6u) { gu_add(&a6, 6u, q4, i, xa, xb); }
            if (GC > 7u) { gu_add(&a7, 7u, q4, i, xa, xb); }
        }
        if (GC > 8u) {
            gu_add(&a8, 8u, q4, i, xa, xb);
            if (GC > 9u) { gu_add(&a9, 9u, q4, i, xa, xb); }
            if (GC > 10u) { gu_add(&a10, 10u, q4, i, xa, xb); }
            if (GC > 11u) { gu_add(&a11, 11u, q4, i, xa, xb); }
        }
        if (GC > 12u) {
            gu_add(&a12, 12u, q4, i, xa, xb);
            if (GC > 13u) { gu_add(&a13, 13u, q4, i, xa, xb); }
            if (GC > 14u) { gu_add(&a14, 14u, q4, i, xa, xb); }
            if (GC > 15u) { gu_add(&a15, 15u, q4, i, xa, xb); }
        }
    }
    // partial is [N, Cout, R]; row co0 + j of image n
    let o = (gu.n * gu.cout + gu.co0) * rr + r;
    let ones = vec4<f32>(1.0);
    gw_out[o] = dot(a0, ones);
    if (GC > 1u) { gw_out[o + rr] = dot(a1, ones); }
    if (GC > 2u) { gw_out[o + 2u * rr] = dot(a2, ones); }
    if (GC > 3u) { gw_out[o + 3u * rr] = dot(a3, ones); }
    if (GC > 4u) { gw_out[o + 4u * rr] = dot(a4, ones); }
    if (GC > 5u) { gw_out[o + 5u * rr] = dot(a5, ones); }
    if (GC > 6u) { gw_out[o + 6u * rr] = dot(a6, ones); }
    if (GC > 7u) { gw_out[o + 7u * rr] = dot(a7, ones); }
    if (GC > 8u) { gw_out[o + 8u * rr] = dot(a8, ones); }
    if (GC > 9u) { gw_out[o + 9u * rr] = dot(a9, ones); }
    if (GC > 10u) { gw_out[o + 10u * rr] = dot(a10, ones); }
    if (GC > 11u) { gw_out[o + 11u * rr] = dot(a11, ones); }
    if (GC > 12u) { gw_out[o + 12u * rr] = dot(a12, ones); }
    if (GC > 13u) { gw_out[o + 13u * rr] = dot(a13, ones); }
    if (GC > 14u) { gw_out[o + 14u * rr] = dot(a14, ones); }
    if (GC > 15u) { gw_out[o + 15u * rr] = dot(a15, ones); }
}
