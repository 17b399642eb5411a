// conv2d_gather_rows: the forward of stride-1 convolutions and the grad-input of all of them
// (STRIDE = DIL = 1), for adapters with subgroups of at least 8 invocations. Launched by
// engine/src/ops/conv.rs. This file is compiled after conv.wgsl (one module: the legend, the
// parameters `gp`, the uniform weight chunk `u_wt`, `bias4` and `store_pixel` are there) and
// before conv_window.wgsl (the windows of src).
//
// Each invocation computes 8 pixels along one row, ow0..ow0+7 of row oh, for 4*CV channels.
// Along a row the KW taps of a kernel row read the same source values shifted by one, so per
// (channel, kernel row) it loads one window of 8 + KW - 1 values (KW <= 5) and reuses it for all
// KW taps: per kernel row, 8 + KW - 1 loads of src and KW*CV vec4s of weights for 32*KW*CV FMAs.
// The weights are the same for the whole workgroup. Read from the uniform buffer at an index
// that varies with a loop counter, each would be a load per SIMD lane on CPU adapters (they
// cannot tell the index is the same in every lane); instead lane j of each subgroup reads vec4
// j of a tap's CV vec4s and subgroupBroadcast hands them round, a register shuffle. Replacing
// the weight reads by arithmetic made this kernel ~30% faster, and the broadcasts gained ~25%
// (BENCHMARKS.md, 2026-12-02, second session). So that every lane takes part in the
// broadcasts, only whole subgroups return early; other lanes past the last segment compute the
// last one and store nothing.
// Grid: x over groups of 32 (row, 8-pixel segment) pairs, y over the chunk's groups of 4*CV
// channels, z over the batch.

// CV, the vec4s of channels per invocation, is conv.wgsl's (as for conv2d_gather_uniform).

// The 8 pixels' accumulators for one vec4 of channels: p<j> is pixel ow0+j.
struct Acc8 {
    p0: vec4<f32>, p1: vec4<f32>, p2: vec4<f32>, p3: vec4<f32>,
    p4: vec4<f32>, p5: vec4<f32>, p6: vec4<f32>, p7: vec4<f32>,
}

// Pixels 0..3 read lo, 4..7 read hi (one source value each).
fn fma8(acc: ptr<function, Acc8>, w: vec4<f32>, lo: vec4<f32>, hi: vec4<f32>) {
    (*acc).p0 += w * lo.x; (*acc).p1 += w * lo.y; (*acc).p2 += w * lo.z; (*acc).p3 += w * lo.w;
    (*acc).p4 += w * hi.x; (*acc).p5 += w * hi.y; (*acc).p6 += w * hi.z; (*acc).p7 += w * hi.w;
}

// All three taps of a 3-wide kernel row at once, weights w0, w1, w2 (taps kw = 0, 1, 2): pixel j
// reads window values j, j+1, j+2 of (x0, x1, x2). Summing the taps before adding to the
// accumulator touches each accumulator once per kernel row instead of once per tap (CPU
// adapters keep the accumulators in memory: a load and a store per touch).
fn row3(acc: ptr<function, Acc8>, w0: vec4<f32>, w1: vec4<f32>, w2: vec4<f32>,
        x0: vec4<f32>, x1: vec4<f32>, x2: vec4<f32>) {
    (*acc).p0 += w0 * x0.x + w1 * x0.y + w2 * x0.z;
    (*acc).p1 += w0 * x0.y + w1 * x0.z + w2 * x0.w;
    (*acc).p2 += w0 * x0.z + w1 * x0.w + w2 * x1.x;
    (*acc).p3 += w0 * x0.w + w1 * x1.x + w2 * x1.y;
    (*acc).p4 += w0 * x1.x + w1 * x1.y + w2 * x1.z;
    (*acc).p5 += w0 * x1.y + w1 * x1.z + w2 * x1.w;
    (*acc).p6 += w0 * x1.z + w1 * x1.w + w2 * x2.x;
    (*acc).p7 += w0 * x1.w + w1 * x2.x + w2 * x2.y;
}

// The 4 values starting k places into the 8 values (a, b), k in 0..4.
fn shift(a: vec4<f32>, b: vec4<f32>, k: u32) -> vec4<f32> {
    switch (k) {
        case 0u: { return a; }
        case 1u: { return vec4<f32>(a.yzw, b.x); }
        case 2u: { return vec4<f32>(a.zw, b.xy); }
        case 3u: { return vec4<f32>(a.w, b.xyz); }
        default: { return b; }
    }
}

// conv2d_gather_rows reads src through a texture (its binding 0), one row's window at a time
// (conv_window.wgsl, compiled after this file: 4 values a texel when src's rows are a multiple
// of 4 values).
@group(0) @binding(0) var gr_src: WindowTex;

// Channels c..c+3 (plus bias) of the 8 pixels of row oh from ow0, those inside out.
fn store8(n: u32, c: u32, oh: u32, ow0: u32, a: Acc8) {
    let b = bias4(c);
    let q = oh * gp.out_w + ow0;
    let m = gp.out_w - ow0; // pixels of the segment inside the row
    store_pixel(n, c, q, a.p0 + b);
    if (m > 1u) { store_pixel(n, c, q + 1u, a.p1 + b); }
    if (m > 2u) { store_pixel(n, c, q + 2u, a.p2 + b); }
    if (m > 3u) { store_pixel(n, c, q + 3u, a.p3 + b); }
    if (m > 4u) { store_pixel(n, c, q + 4u, a.p4 + b); }
    if (m > 5u) { store_pixel(n, c, q + 5u, a.p5 + b); }
    if (m > 6u) { store_pixel(n, c, q + 6u, a.p6 + b); }
    if (m > 7u) { store_pixel(n, c, q + 7u, a.p7 + b); }
}

@compute @workgroup_size(32)
fn conv2d_gather_rows(
    @builtin(workgroup_id) wg: vec3<u32>,
    @builtin(local_invocation_id) lid: vec3<u32>,
    @builtin(subgroup_invocation_id) sid: u32,
) {
    let n = wg.z;
    let segs = (gp.out_w + 7u) / 8u;   // 8-pixel segments per row
    let segments = gp.out_h * segs;
    let me = wg.x * 32u + lid.x;
    // A subgroup wholly past the last segment has nothing to hand round.
    if (me - sid >= segments) { return; }
    let live = me < segments;
    let i = min(me, segments - 1u);
    let oh = i / segs;
    let ow0 = (i % segs) * 8u;
    let g0 = wg.y * CV;
    let c0 = gp.c_begin + g0 * 4u;
    let w0 = i32(ow0) - gp.pad_w;      // source column of window value 0
    var acc0 = Acc8(); var acc1 = Acc8(); var acc2 = Acc8(); var acc3 = Acc8();
    var acc4 = Acc8(); var acc5 = Acc8(); var acc6 = Acc8(); var acc7 = Acc8();
    let plane_size = gp.src_h * gp.src_w;
    let c4v = gp.c4 / 4u;
    // The vec4 of channels (of this workgroup's CV) whose weights this lane reads.
    let mine = min(sid, CV - 1u);
    var wi = g0;
    for (var a = 0u; a < gp.src_c; a++) {
        let plane = (n * gp.src_c + a) * plane_size;
        for (var kh = 0u; kh < KH; kh++) {
            let h = i32(oh + kh) - gp.pad_h;
            let valid = h >= 0 && h < i32(gp.src_h);
            let row = plane + u32(select(0, h, valid)) * gp.src_w;
            // The window: src columns w0 .. w0 + 7 + KW - 1 as 12 values in x0, x1, x2.
            let r = window12(gr_src, row, valid, w0, gp.src_w, 8u + KW - 1u);
            let x0 = r.x0;
            let x1 = r.x1;
            let x2 = r.x2;
            if (KW == 3u) {
                // u_wt rows (a, kh, 0), (a, kh, 1), (a, kh, 2) start at wi, wi + c4v, wi + 2*c4v;
                // t<kw> is this lane's vec4 of tap kw, and lane k's is vec4 k's.
                let t0 = u_wt[wi + mine];
                let t1 = u_wt[wi + c4v + mine];
                let t2 = u_wt[wi + 2u * c4v + mine];
                row3(&acc0, subgroupBroadcast(t0, 0u), subgroupBroadcast(t1, 0u), subgroupBroadcast(t2, 0u), x0, x1, x2);
                if (CV > 1u) { row3(&acc1, subgroupBroadcast(t0, 1u), subgroupBroadcast(t1, 1u), subgroupBroadcast(t2, 1u), x0, x1, x2); }
                if (CV > 2u) {
                    row3(&acc2, subgroupBroadcast(t0, 2u), subgroupBroadcast(t1, 2u), subgroupBroadcast(t2, 2u), x0, x1, x2);
                    row3(&acc3, subgroupBroadcast(t0, 3u), subgroupBroadcast(t1, 3u), subgroupBroadcast(t2, 3u), x0, x1, x2);
                }
                if (CV > 4u) {
                    row3(&acc4, subgroupBroadcast(t0, 4u), subgroupBroadcast(t1, 4u), subgroupBroadcast(t2, 4u), x0, x1, x2);
                    row3(&acc5, subgroupBroadcast(t0, 5u), subgroupBroadcast(t1, 5u), subgroupBroadcast(t2, 5u), x0, x1, x2);
                    row3(&acc6, subgroupBroadcast(t0, 6u), subgroupBroadcast(t1, 6u), subgroupBroadcast(t2, 6u), x0, x1, x2);
                    row3(&acc7, subgroupBroadcast(t0, 7u), subgroupBroadcast(t1, 7u), subgroupBroadcast(t2, 7u), x0, x1, x2);
                }
                wi += 3u * c4v;
                continue;
            }
            for (var kw = 0u; kw < KW; kw++) {
                let lo = shift(x0, x1, kw);
                let hi = shift(x1, x2, kw);
                let t = u_wt[wi + mine]; // as above, one tap
                fma8(&acc0, subgroupBroadcast(t, 0u), lo, hi);
                if (CV > 1u) { fma8(&acc1, subgroupBroadcast(t, 1u), lo, hi); }
                if (CV > 2u) {
                    fma8(&acc2, subgroupBroadcast(t, 2u), lo, hi);
                    fma8(&acc3, subgroupBroadcast(t, 3u), lo, hi);
                }
                if (CV > 4u) {
                    fma8(&acc4, subgroupBroadcast(t, 4u), lo, hi);
                    fma8(&acc5, subgroupBroadcast(t, 5u), lo, hi);
                    fma8(&acc6, subgroupBroadcast(t, 6u), lo, hi);
                    fma8(&acc7, subgroupBroadcast(t, 7u), lo, hi);
                }
                wi += c4v;
            }
        }
    }
    if (!live) { return; }
    store8(n, c0, oh, ow0, acc0);
    if (CV > 1u) { store8(n, c0 + 4u, oh, ow0, acc1); }
    if (CV > 2u) {
        store8(n, c0 + 8u, oh, ow0, acc2);
        store8(n, c0 + 12u, oh, ow0, acc3);
    }
    if (CV > 4u) {
        store8(n, c0 + 16u, oh, ow0, acc4);
        store8(n, c0 + 20u, oh, ow0, acc5);
        store8(n, c0 + 24u, oh, ow0, acc6);
        store8(n, c0 + 28u, oh, ow0, acc7);
    }
}
