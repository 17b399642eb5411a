// 2-D convolution as an implicit GEMM (no im2col buffer): forward and grad-input.
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
//   grad-weight:  in conv_grad_weight.wgsl.
//
// Entry points:
//   conv2d_pack            repacks the weight into the A operand of the gathers.
//   conv2d_gather_uniform  forward and grad-input with the packed weight in a uniform buffer
//                          (up to 32 output channels x 4 output pixels each); for DIL > 1 the
//                          4 pixels share a row and column phase and visit only live taps.
//   conv2d_gather          the same for weights too large for a uniform buffer (4 x 4 each).
// conv2d_gather_rows, the gather for stride 1 on adapters with subgroups, is in conv_rows.wgsl,
// which is compiled after this file (it uses its parameters, bindings and stores).

// Kernel height and width, the step between output pixels in the source (S forward, 1 for
// grad-input) and the source's dilation (1 forward, S for grad-input). Overridable so loops over
// the kernel have constant trip counts and the divisions by DIL vanish when it is 1.
override KH: u32 = 3u;
override KW: u32 = 3u;
override STRIDE: u32 = 1u;
override DIL: u32 = 1u;
// Whether the gathers add a bias (forward only).
override HAS_BIAS: bool = false;
// conv2d_pack: false packs for the forward, true for grad-input (flipped, channels swapped).
override FLIP: bool = false;

// ---- conv2d_pack ----
// Forward (FLIP false): wt[(ci, kh, kw), co] = weight[co, ci, kh, kw], wt is [Cin*KH*KW, C4].
// Grad-input (FLIP true): wt[(co, kh, kw), ci] = weight[co, ci, KH-1-kh, KW-1-kw],
// wt is [Cout*KH*KW, C4]. C4 = the output side rounded up to 4, or (conv2d_gather_uniform) a
// chunk of c4 channels from c_begin; columns past the last channel are 0, so the gathers read
// whole vec4s of output channels.

struct PackParams {
    cin: u32,
    cout: u32,
    c4: u32,      // row pitch of wt: the channels packed, a multiple of 4
    rows: u32,    // rows of wt: Cin*KH*KW (forward) or Cout*KH*KW (grad-input)
    c_begin: u32, // first output channel packed (wt holds channels c_begin..c_begin+c4)
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
}

@group(0) @binding(0) var<storage, read> pk_w: array<f32>;          // weight is [Cout, Cin, KH, KW]
@group(0) @binding(1) var<storage, read_write> pk_out: array<f32>;  // wt is [rows, C4]
@group(0) @binding(2) var<uniform> pk: PackParams;

@compute @workgroup_size(64)
fn conv2d_pack(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.x + gid.y * nwg.x * 64u;
    if (i >= pk.rows * pk.c4) { return; }
    let row = i / pk.c4;
    let col = pk.c_begin + i % pk.c4;
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
    c4: u32,     // row pitch of wt in floats (out_c rounded up to 4, or the uniform chunk)
    src_h: u32,
    src_w: u32,
    out_h: u32,
    out_w: u32,
    c_begin: u32, // conv2d_gather_uniform: the chunk's first channel (0 for conv2d_gather)
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

// ---- conv2d_gather_uniform ----
// conv2d_gather for a chunk of channels whose packed weight fits one uniform buffer (64 KiB,
// the minimum every WebGPU adapter offers): u_wt[r * (CHUNK / 4) + j] = wt[r, 4j..4j+3] of the
// chunk's channels. Every invocation of a workgroup computes the same 4*CV channels (from the
// workgroup id) for its own 4 pixels, so the weight address is the same across the workgroup:
// a uniform-buffer read GPUs serve from the constant cache (CPU adapters still load it per SIMD
// lane, not seeing that an index that varies with a loop counter is the same in every lane;
// conv_rows.wgsl hands such weights round by subgroup broadcasts instead), while each pixel's
// src value is reused by all 4*CV channels. Per kernel tap: 4 src loads and CV vec4 weight loads for 16*CV FMAs.
// Grid: x over groups of 32 invocations x 4 pixels (consecutive; for DIL > 1 one row and column
// phase, see below), y over the chunk's groups of 4*CV channels, z over the batch.
// Accumulators: a<g><p>, channels 4g..4g+3 of pixel p.

override CV: u32 = 8u; // vec4s of channels per invocation: 1, 2, 4 or 8

// Bindings 0, 2, 3, 4 are conv2d_gather's (g_src, g_bias, g_out, gp); the weight chunk is a
// uniform buffer at binding 1.
@group(0) @binding(1) var<uniform> u_wt: array<vec4<f32>, 4096>;     // wt chunk is [src_c*KH*KW, chunk]

// Channels c..c+3 (plus bias) of the first m of the 4 pixels q0 + dq*p.
fn store_quad(n: u32, c: u32, q0: u32, dq: u32, m: u32, v0: vec4<f32>, v1: vec4<f32>, v2: vec4<f32>, v3: vec4<f32>) {
    let b = bias4(c);
    store_pixel(n, c, q0, v0 + b);
    if (m > 1u) { store_pixel(n, c, q0 + dq, v1 + b); }
    if (m > 2u) { store_pixel(n, c, q0 + 2u * dq, v2 + b); }
    if (m > 3u) { store_pixel(n, c, q0 + 3u * dq, v3 + b); }
}

@compute @workgroup_size(32)
fn conv2d_gather_uniform(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let n = wg.z;
    let i = wg.x * 32u + lid.x;
    let npix = gp.out_h * gp.out_w;
    // The 4 pixels q0 + dq*p, p < 4: consecutive (DIL = 1), or for DIL > 1 (the grad-input of a
    // strided convolution) 4 pixels of one row DIL apart, which share the phase deciding which
    // taps land on a pixel of dy: the tap loops below visit only those (1 in DIL*DIL).
    var q0 = i * 4u;
    var dq = 1u;
    var m = npix - min(q0, npix);      // pixels to store
    if (DIL > 1u) {
        let groups = ((gp.out_w + DIL - 1u) / DIL + 3u) / 4u; // groups of 4 per row and phase
        let oh = i / (DIL * groups);
        let rem = i % (DIL * groups);
        let ow0 = rem / groups + DIL * 4u * (rem % groups);
        if (oh >= gp.out_h || ow0 >= gp.out_w) { return; }
        q0 = oh * gp.out_w + ow0;
        dq = DIL;
        m = (gp.out_w - ow0 + DIL - 1u) / DIL;
    } else if (q0 >= npix) { return; }
    let g0 = wg.y * CV;                // first vec4 column of the chunk this workgroup computes
    let c0 = gp.c_begin + g0 * 4u;     // its first channel
    // (clamped to the last stored pixel: extra pixels are computed and never stored)
    let qa = q0;
    let qb = q0 + dq * min(1u, m - 1u);
    let qc = q0 + dq * min(2u, m - 1u);
    let qd = q0 + dq * min(3u, m - 1u);
    let ha = i32((qa / gp.out_w) * STRIDE) - gp.pad_h;
    let hb = i32((qb / gp.out_w) * STRIDE) - gp.pad_h;
    let hc = i32((qc / gp.out_w) * STRIDE) - gp.pad_h;
    let hd = i32((qd / gp.out_w) * STRIDE) - gp.pad_h;
    let wa = i32((qa % gp.out_w) * STRIDE) - gp.pad_w;
    let wb = i32((qb % gp.out_w) * STRIDE) - gp.pad_w;
    let wc = i32((qc % gp.out_w) * STRIDE) - gp.pad_w;
    let wd = i32((qd % gp.out_w) * STRIDE) - gp.pad_w;
    // First taps whose position is a multiple of DIL (0 when DIL = 1).
    let dil = i32(DIL);
    let kh0 = u32(((-ha) % dil + dil) % dil);
    let kw0 = u32(((-wa) % dil + dil) % dil);
    var a00 = vec4<f32>(0.0); var a01 = vec4<f32>(0.0); var a02 = vec4<f32>(0.0); var a03 = vec4<f32>(0.0);
    var a10 = vec4<f32>(0.0); var a11 = vec4<f32>(0.0); var a12 = vec4<f32>(0.0); var a13 = vec4<f32>(0.0);
    var a20 = vec4<f32>(0.0); var a21 = vec4<f32>(0.0); var a22 = vec4<f32>(0.0); var a23 = vec4<f32>(0.0);
    var a30 = vec4<f32>(0.0); var a31 = vec4<f32>(0.0); var a32 = vec4<f32>(0.0); var a33 = vec4<f32>(0.0);
    var a40 = vec4<f32>(0.0); var a41 = vec4<f32>(0.0); var a42 = vec4<f32>(0.0); var a43 = vec4<f32>(0.0);
    var a50 = vec4<f32>(0.0); var a51 = vec4<f32>(0.0); var a52 = vec4<f32>(0.0); var a53 = vec4<f32>(0.0);
    var a60 = vec4<f32>(0.0); var a61 = vec4<f32>(0.0); var a62 = vec4<f32>(0.0); var a63 = vec4<f32>(0.0);
    var a70 = vec4<f32>(0.0); var a71 = vec4<f32>(0.0); var a72 = vec4<f32>(0.0); var a73 = vec4<f32>(0.0);
    let plane_size = gp.src_h * gp.src_w;
    let c4v = gp.c4 / 4u;
    for (var a = 0u; a < gp.src_c; a++) {
        let plane = (n * gp.src_c + a) * plane_size;
        for (var kh = kh0; kh < KH; kh += DIL) {
            for (var kw = kw0; kw < KW; kw += DIL) {
                let wi = ((a * KH + kh) * KW + kw) * c4v + g0; // u_wt index of (row r, column g0)
                let dh = i32(kh);
                let dw = i32(kw);
                let x0 = gather(plane, ha + dh, wa + dw);
                let x1 = gather(plane, hb + dh, wb + dw);
                let x2 = gather(plane, hc + dh, wc + dw);
                let x3 = gather(plane, hd + dh, wd + dw);
                var w = u_wt[wi];
                a00 += w * x0; a01 += w * x1; a02 += w * x2; a03 += w * x3;
                if (CV > 1u) {
                    w = u_wt[wi + 1u];
                    a10 += w * x0; a11 += w * x1; a12 += w * x2; a13 += w * x3;
                }
                if (CV > 2u) {
                    w = u_wt[wi + 2u];
                    a20 += w * x0; a21 += w * x1; a22 += w * x2; a23 += w * x3;
                    w = u_wt[wi + 3u];
                    a30 += w * x0; a31 += w * x1; a32 += w * x2; a33 += w * x3;
                }
                if (CV > 4u) {
                    w = u_wt[wi + 4u];
                    a40 += w * x0; a41 += w * x1; a42 += w * x2; a43 += w * x3;
                    w = u_wt[wi + 5u];
                    a50 += w * x0; a51 += w * x1; a52 += w * x2; a53 += w * x3;
                    w = u_wt[wi + 6u];
                    a60 += w * x0; a61 += w * x1; a62 += w * x2; a63 += w * x3;
                    w = u_wt[wi + 7u];
                    a70 += w * x0; a71 += w * x1; a72 += w * x2; a73 += w * x3;
                }
            }
        }
    }
    store_quad(n, c0, q0, dq, m, a00, a01, a02, a03);
    if (CV > 1u) { store_quad(n, c0 + 4u, q0, dq, m, a10, a11, a12, a13); }
    if (CV > 2u) {
        store_quad(n, c0 + 8u, q0, dq, m, a20, a21, a22, a23);
        store_quad(n, c0 + 12u, q0, dq, m, a30, a31, a32, a33);
    }
    if (CV > 4u) {
        store_quad(n, c0 + 16u, q0, dq, m, a40, a41, a42, a43);
        store_quad(n, c0 + 20u, q0, dq, m, a50, a51, a52, a53);
        store_quad(n, c0 + 24u, q0, dq, m, a60, a61, a62, a63);
        store_quad(n, c0 + 28u, q0, dq, m, a70, a71, a72, a73);
    }
}
