// 2-D convolution as an implicit GEMM (no im2col buffer): forward, grad-input, grad-weight.
// Launched by engine/src/ops/conv.rs.
//
// Legend: N = batch; Cin, Cout = channels of x and of y; H, W = x's height and width;
// OH, OW = y's; KH, KW = kernel size; S = stride; P = padding; R = Cin*KH*KW, the reduction of
// the forward GEMM, indexed r = (ci, kh, kw); Q = OH*OW, the output pixels, indexed q = (oh, ow).
//   x is [N, Cin, H, W], weight is [Cout, Cin, KH, KW], y is [N, Cout, OH, OW]
//   forward:      y[n, co, q]  = sum_r weight[co, r] * xcol[n, r, q]
//                 xcol[n, (ci, kh, kw), (oh, ow)] = x[n, ci, oh*S - P + kh, ow*S - P + kw]
//                 (0 outside x: the padding), gathered on the fly.
//   grad-input:   dx[n, ci, ih, iw] = sum_(co, kh, kw) dy[n, co, oh, ow] * weight[co, ci, kh, kw]
//                 over the (oh, ow) with oh*S - P + kh = ih, ow*S - P + kw = iw: the same gather
//                 run on dy with the kernel flipped, stride 1, padding KH-1-P, and dy "dilated"
//                 by S (a position h reads dy only when h % S == 0, at row h / S).
//   grad-weight:  dweight[co, r] = sum_(n, q) dy[n, co, q] * xcol[n, r, q], split over chunks of
//                 (n, q) computed in parallel (partial[z, co, r]) and summed by the launcher.
//
// Entry points:
//   conv2d_pack        repacks the weight into the A operand of conv2d_gather.
//   conv2d_gather      forward and grad-input (4 output channels x 4 output pixels each).
//   conv2d_grad_weight partial weight gradients (4 output channels x 4 r each).

// Kernel height and width, the step between output pixels in the source (S forward, 1 for
// grad-input) and the source's dilation (1 forward, S for grad-input). Overridable so loops over
// the kernel have constant trip counts and the divisions by DIL vanish when it is 1.
override KH: u32 = 3u;
override KW: u32 = 3u;
override STRIDE: u32 = 1u;
override DIL: u32 = 1u;
// Whether conv2d_gather adds a bias (forward only).
override HAS_BIAS: bool = false;
// conv2d_pack: false packs for the forward, true for grad-input (flipped, channels swapped).
override FLIP: bool = false;

// ---- conv2d_pack ----
// Forward (FLIP false): wt[(ci, kh, kw), co] = weight[co, ci, kh, kw], wt is [Cin*KH*KW, C4].
// Grad-input (FLIP true): wt[(co, kh, kw), ci] = weight[co, ci, KH-1-kh, KW-1-kw],
// wt is [Cout*KH*KW, C4]. C4 = the output side rounded up to 4; the padding columns are 0, so
// conv2d_gather reads whole vec4s of output channels.

struct PackParams {
    cin: u32,
    cout: u32,
    c4: u32,    // row pitch of wt: Cout (forward) or Cin (grad-input) rounded up to 4
    rows: u32,  // rows of wt: Cin*KH*KW (forward) or Cout*KH*KW (grad-input)
}

@group(0) @binding(0) var<storage, read> pk_w: array<f32>;          // weight is [Cout, Cin, KH, KW]
@group(0) @binding(1) var<storage, read_write> pk_out: array<f32>;  // wt is [rows, C4]
@group(0) @binding(2) var<uniform> pk: PackParams;

@compute @workgroup_size(64)
fn conv2d_pack(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.x + gid.y * nwg.x * 64u;
    if (i >= pk.rows * pk.c4) { return; }
    let row = i / pk.c4;
    let col = i % pk.c4;
    let kk = row % (KH * KW);
    let a = row / (KH * KW);       // ci (forward) or co (grad-input)
    var v = 0.0;
    if (FLIP) {
        if (col < pk.cin) {
            // a = co, col = ci, kernel tap flipped
            v = pk_w[(a * pk.cin + col) * KH * KW + (KH * KW - 1u - kk)];
        }
    } else if (col < pk.cout) {
        // a = ci, col = co
        v = pk_w[(col * pk.cin + a) * KH * KW + kk];
    }
    pk_out[i] = v;
}

// ---- conv2d_gather ----
// out[n, c, q] = sum_(a, kh, kw) wt[(a, kh, kw), c] * src[n, a, pos_h, pos_w] (+ bias[c]) with
// pos = q's (oh, ow) * STRIDE - pad + (kh, kw), read at pos / DIL when pos % DIL == 0 and in
// range, else 0. Forward: src = x, a = ci, c = co. Grad-input: src = dy, a = co, c = ci.
// Grid: x over tiles of 4 pixels (8 per workgroup), y over groups of 4 channels (8 per
// workgroup), z over the batch. Each invocation accumulates 4 vec4s (one per pixel, over its 4
// channels): per kernel tap, one vec4 load of wt and 4 loads of src for 16 FMAs.

struct GatherParams {
    src_c: u32,  // channels of src (summed over)
    out_c: u32,  // channels of out
    c4: u32,     // row pitch of wt (out_c rounded up to 4)
    src_h: u32,
    src_w: u32,
    out_h: u32,
    out_w: u32,
    _pad0: u32,
    pad_h: i32,  // may be negative for grad-input (padding P > KH-1)
    pad_w: i32,
    _pad1: u32,
    _pad2: u32,
}

@group(0) @binding(0) var<storage, read> g_src: array<f32>;        // src is [N, src_c, src_h, src_w]
@group(0) @binding(1) var<storage, read> g_wt: array<vec4<f32>>;   // wt is [src_c*KH*KW, c4], as vec4s
@group(0) @binding(2) var<storage, read> g_bias: array<f32>;       // bias is [out_c] (unused without HAS_BIAS)
@group(0) @binding(3) var<storage, read_write> g_out: array<f32>;  // out is [N, out_c, out_h, out_w]
@group(0) @binding(4) var<uniform> gp: GatherParams;

// src[plane + pos] at source position (h, w) before dilation, 0 where there is no pixel.
fn gather(plane: u32, h: i32, w: i32) -> f32 {
    let sh = h / i32(DIL);
    let sw = w / i32(DIL);
    var ok = h >= 0 && w >= 0 && sh < i32(gp.src_h) && sw < i32(gp.src_w);
    if (DIL > 1u) {
        ok = ok && (h % i32(DIL)) == 0 && (w % i32(DIL)) == 0;
    }
    let idx = plane + u32(select(0, sh * i32(gp.src_w) + sw, ok));
    return select(0.0, g_src[idx], ok);
}

// Writes channels c0..c0+3 of pixel q (those inside out).
fn store_pixel(n: u32, c0: u32, q: u32, v: vec4<f32>) {
    let npix = gp.out_h * gp.out_w;
    if (q >= npix) { return; }
    let o = (n * gp.out_c + c0) * npix + q;
    if (c0 < gp.out_c) { g_out[o] = v.x; }
    if (c0 + 1u < gp.out_c) { g_out[o + npix] = v.y; }
    if (c0 + 2u < gp.out_c) { g_out[o + 2u * npix] = v.z; }
    if (c0 + 3u < gp.out_c) { g_out[o + 3u * npix] = v.w; }
}

fn bias4(c0: u32) -> vec4<f32> {
    if (!HAS_BIAS) { return vec4<f32>(0.0); }
    let last = gp.out_c - 1u;
    let c = min(vec4<u32>(c0) + vec4<u32>(0u, 1u, 2u, 3u), vec4<u32>(last));
    return vec4<f32>(g_bias[c.x], g_bias[c.y], g_bias[c.z], g_bias[c.w]);
}

@compute @workgroup_size(8, 8)
fn conv2d_gather(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let n = wg.z;
    let q0 = (wg.x * 8u + lid.x) * 4u;
    let cg = wg.y * 8u + lid.y;        // vec4 column of wt: channels 4cg..4cg+3
    let c0 = cg * 4u;
    let npix = gp.out_h * gp.out_w;
    if (c0 >= gp.out_c || q0 >= npix) { return; }
    // Top-left source position of each of the 4 pixels (clamped into out: extra pixels are
    // computed and never stored).
    let qa = min(q0, npix - 1u);
    let qb = min(q0 + 1u, npix - 1u);
    let qc = min(q0 + 2u, npix - 1u);
    let qd = min(q0 + 3u, npix - 1u);
    let ha = i32((qa / gp.out_w) * STRIDE) - gp.pad_h;
    let hb = i32((qb / gp.out_w) * STRIDE) - gp.pad_h;
    let hc = i32((qc / gp.out_w) * STRIDE) - gp.pad_h;
    let hd = i32((qd / gp.out_w) * STRIDE) - gp.pad_h;
    let wa = i32((qa % gp.out_w) * STRIDE) - gp.pad_w;
    let wb = i32((qb % gp.out_w) * STRIDE) - gp.pad_w;
    let wc = i32((qc % gp.out_w) * STRIDE) - gp.pad_w;
    let wd = i32((qd % gp.out_w) * STRIDE) - gp.pad_w;
    var acc_a = vec4<f32>(0.0);
    var acc_b = vec4<f32>(0.0);
    var acc_c = vec4<f32>(0.0);
    var acc_d = vec4<f32>(0.0);
    let c4v = gp.c4 / 4u;              // vec4s per row of wt
    let plane_size = gp.src_h * gp.src_w;
    var r = 0u;                        // row of wt: (a, kh, kw)
    for (var a = 0u; a < gp.src_c; a++) {
        let plane = (n * gp.src_c + a) * plane_size;
        for (var kh = 0u; kh < KH; kh++) {
            for (var kw = 0u; kw < KW; kw++) {
                let wv = g_wt[r * c4v + cg];
                let dh = i32(kh);
                let dw = i32(kw);
                acc_a += wv * gather(plane, ha + dh, wa + dw);
                acc_b += wv * gather(plane, hb + dh, wb + dw);
                acc_c += wv * gather(plane, hc + dh, wc + dw);
                acc_d += wv * gather(plane, hd + dh, wd + dw);
                r++;
            }
        }
    }
    let bv = bias4(c0);
    store_pixel(n, c0, q0, acc_a + bv);
    store_pixel(n, c0, q0 + 1u, acc_b + bv);
    store_pixel(n, c0, q0 + 2u, acc_c + bv);
    store_pixel(n, c0, q0 + 3u, acc_d + bv);
}

// ---- conv2d_grad_weight ----
// partial[z, co, r] = sum over the pixels q of chunk z of dy[n, co, q] * xcol[n, r, q], where
// chunk z = n * splits + s covers q in [s*chunk, (s+1)*chunk) of image n.
// Grid: x over groups of 4 r (8 per workgroup), y over groups of 4 co (8 per workgroup), z over
// the N*splits chunks. Each invocation accumulates 4 vec4s (one per r, over its 4 co): per
// pixel, 4 loads of dy and 4 gathers of x for 16 FMAs.

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
    let r0 = (wg.x * 8u + lid.x) * 4u;
    let co0 = (wg.y * 8u + lid.y) * 4u;
    if (r0 >= rr || co0 >= gw.cout) { return; }
    let z = wg.z;
    let n = z / gw.splits;
    let npix = gw.out_h * gw.out_w;
    let q_begin = (z % gw.splits) * gw.chunk;
    let q_end = min(q_begin + gw.chunk, npix);
    let ta = tap_of(min(r0, rr - 1u));
    let tb = tap_of(min(r0 + 1u, rr - 1u));
    let tc = tap_of(min(r0 + 2u, rr - 1u));
    let td = tap_of(min(r0 + 3u, rr - 1u));
    // dy rows of channels co0..co0+3 (clamped; extra channels are never stored)
    let last = gw.cout - 1u;
    let dy_img = n * gw.cout * npix;
    let d0 = dy_img + min(co0, last) * npix;
    let d1 = dy_img + min(co0 + 1u, last) * npix;
    let d2 = dy_img + min(co0 + 2u, last) * npix;
    let d3 = dy_img + min(co0 + 3u, last) * npix;
    let img = n * gw.cin * gw.h * gw.w;
    var acc_a = vec4<f32>(0.0);
    var acc_b = vec4<f32>(0.0);
    var acc_c = vec4<f32>(0.0);
    var acc_d = vec4<f32>(0.0);
    var oh = q_begin / gw.out_w;
    var ow = q_begin % gw.out_w;
    for (var q = q_begin; q < q_end; q++) {
        let g = vec4<f32>(gw_dy[d0 + q], gw_dy[d1 + q], gw_dy[d2 + q], gw_dy[d3 + q]);
        let sh = i32(oh * STRIDE);
        let sw = i32(ow * STRIDE);
        acc_a += g * x_at(img, ta, sh, sw);
        acc_b += g * x_at(img, tb, sh, sw);
        acc_c += g * x_at(img, tc, sh, sw);
        acc_d += g * x_at(img, td, sh, sw);
        ow++;
        if (ow == gw.out_w) {
            ow = 0u;
            oh++;
        }
    }
    store_r(z, co0, r0, rr, acc_a);
    store_r(z, co0, r0 + 1u, rr, acc_b);
    store_r(z, co0, r0 + 2u, rr, acc_c);
    store_r(z, co0, r0 + 3u, rr, acc_d);
}
