// The weight gradient of a stride-1 conv2d with 3-wide kernels, in one dispatch, for CPU
// adapters. Launched by engine/src/ops/conv_grad_weight_rows.rs; the other weight-gradient
// kernels are in conv_grad_weight.wgsl (legend there).
//
// Legend: N = batch; Cin, Cout; H, W = x's size; OH, OW = dy's (OW % 4 == 0); KH (KW = 3);
// R = Cin*KH*KW indexed r = (ci, kh, kw); Q = OH*OW.
//   x is [N, Cin, H, W], dy is [N, Cout, OH, OW]
//   partial is [NG, Cout, R], NG = ceil(N / IMAGES): partial[z, co, r] = the sum over the
//   images n of group z (n = z * IMAGES ..) and q of dy[n, co, q] * xcol[n, r, q]
//
// Each invocation computes the three r = (ci, kh, 0..2) of one kernel row for GC <= 16 channels
// co0..co0+GC-1 over IMAGES images, walking dy in segments of 8 pixels along each output row. The
// three taps read one window of 10 x values shifted by 0, 1, 2, so per segment: 10 fetches of x (3
// or 4 with X_VEC4) and the 2 * GC vec4s of dy, which are the same for the whole workgroup: each
// lane of a subgroup fetches two channels' (lane j: channels j % 8 and 8 + j % 8) and
// subgroupBroadcast hands them round, a register shuffle where a fetch is a gather over all the
// lanes. 24 * GC FMAs. 16 channels rather than 8 halve the x fetches per FMA (~7% faster).
// Needs subgroups of at least 8 invocations (the launcher checks). No invocation returns
// early: lanes past Cin * KH compute a clamped (ci, kh) and store nothing, so every lane takes
// part in the broadcasts.
// x and dy are read through read-only storage textures: a texel read is one gather of all the
// lanes on CPU adapters, where a storage-buffer load here is a loop over the SIMD lanes. dy's
// values sit row-major in an rgba32float texture 4096 texels wide (4 pixels a texel;
// engine/src/texture_pool.rs, `flat`);
// x's windows are read by conv_window.wgsl (compiled after this file), 4 values a texel when
// W % 4 == 0.
// Grid: x over groups of 32 (ci, kh), y over groups of GC output channels, z over the groups of
// IMAGES images.

override KH: u32 = 3u;
override GC: u32 = 16u; // output channels per invocation (1..16)
// Images per invocation: more leave fewer partial sums to store and add up afterwards (CPU
// adapters, whose few threads need few workgroups), one the most workgroups (GPUs).
override IMAGES: u32 = 1u;

// Mirrors `GradWeightUniformParams` in conv_grad_weight.rs (n is N here; co0 is unused).
struct Params {
    cin: u32,
    cout: u32,
    h: u32,
    w: u32,
    out_h: u32,
    out_w: u32,
    n: u32,
    co0: u32,
    _pad1: u32,
    _pad0: u32,
    pad_h: i32,
    pad_w: i32,
}

@group(0) @binding(0) var gr_xt: WindowTex;
@group(0) @binding(1) var gr_dyt: texture_storage_2d<rgba32float, read>;
@group(0) @binding(2) var<storage, read_write> gr_out: array<f32>; // partial is [NG, Cout, R]
@group(0) @binding(3) var<uniform> gu_raw: Params;

// The parameters as the kernel reads them: gu_raw's values, each plus 0 computed from x's texture
// (its width over 65536: textures are at most 16384 wide), which no compiler can see is 0. Why:
// lavapipe (Mesa 22) inlines the values of uniforms that bound loops or steer branches inside them
// into the shader and compiles it again at every dispatch, keeping each copy; for this kernel that
// cost ~4 ms and ~450 KB per dispatch (`cargo run --release -p models --example leak_probe`).
// Values derived from a texture query are not uniforms it can inline.
var<private> gu: Params;

fn load_params() {
    let z = textureDimensions(gr_xt).x >> 16u;
    let zi = i32(z);
    gu = Params(gu_raw.cin + z, gu_raw.cout + z, gu_raw.h + z, gu_raw.w + z, gu_raw.out_h + z,
                gu_raw.out_w + z, gu_raw.n + z, gu_raw.co0 + z, 0u, 0u, gu_raw.pad_h + zi,
                gu_raw.pad_w + zi);
}

// dy's 4 pixels at texel t (clamped to the last one: a segment's tail past its row reads
// finite values that the zeroed window cancels).
fn gr_dy(t: u32) -> vec4<f32> {
    let last = gu.n * gu.cout * gu.out_h * gu.out_w / 4u - 1u;
    let u = min(t, last);
    return textureLoad(gr_dyt, vec2<u32>(u & 4095u, u >> 12u));
}

// The three taps' windows: lo<kw>, hi<kw> are the x values of pixels 0..3 and 4..7 for tap kw.
struct Win {
    lo0: vec4<f32>, hi0: vec4<f32>,
    lo1: vec4<f32>, hi1: vec4<f32>,
    lo2: vec4<f32>, hi2: vec4<f32>,
}

// The three taps' accumulators of one channel, a[kw] += dy[8 pixels] . (window shifted by kw),
// the 8 pixels of dy being (da, db). Scalar accumulators, each touched once per segment for 8
// FMAs: CPU adapters keep accumulators that do not fit in registers in memory, a load and a
// store per touch, and 3 scalars per channel ran ~20% faster than 3 vec4s (touched once per 2
// FMAs).
fn gr_add(a: vec3<f32>, da: vec4<f32>, db: vec4<f32>, x: Win) -> vec3<f32> {
    return vec3<f32>(gr_dot8(a.x, da, db, x.lo0, x.hi0), gr_dot8(a.y, da, db, x.lo1, x.hi1),
                     gr_dot8(a.z, da, db, x.lo2, x.hi2));
}

// acc + (da, db) . (lo, hi), as a chain of 8 FMAs.
fn gr_dot8(acc: f32, da: vec4<f32>, db: vec4<f32>, lo: vec4<f32>, hi: vec4<f32>) -> f32 {
    var s = fma(da.x, lo.x, acc);
    s = fma(da.y, lo.y, s);
    s = fma(da.z, lo.z, s);
    s = fma(da.w, lo.w, s);
    s = fma(db.x, hi.x, s);
    s = fma(db.y, hi.y, s);
    s = fma(db.z, hi.z, s);
    return fma(db.w, hi.w, s);
}

// partial[z, co0 + j, r0 + kw] = a[kw] for kw = 0, 1, 2, if that channel exists and this lane's
// (ci, kh) does.
fn gr_store(live: bool, z: u32, co0: u32, j: u32, r0: u32, a: vec3<f32>) {
    if (!live || co0 + j >= gu.cout) { return; }
    let rr = gu.cin * KH * 3u;
    let o = (z * gu.cout + co0 + j) * rr + r0;
    gr_out[o] = a.x;
    gr_out[o + 1u] = a.y;
    gr_out[o + 2u] = a.z;
}

@compute @workgroup_size(32)
fn conv2d_grad_weight_rows(
    @builtin(workgroup_id) wg: vec3<u32>,
    @builtin(local_invocation_id) lid: vec3<u32>,
    @builtin(subgroup_invocation_id) sid: u32,
) {
    load_params();
    let lane_id = wg.x * 32u + lid.x;           // (ci, kh)
    let live = lane_id < gu.cin * KH;
    let lane = min(lane_id, gu.cin * KH - 1u);
    let co0 = wg.y * GC;
    let ci = lane / KH;
    let kh = lane % KH;
    let q4 = gu.out_h * gu.out_w / 4u; // texels per channel of dy
    var acc: array<vec3<f32>, 16>; // acc[j]: the three taps of channel co0 + j
    // (n depends on the workgroup only, so the whole subgroup leaves the loop together.)
    for (var n = wg.z * IMAGES; n < min(wg.z * IMAGES + IMAGES, gu.n); n++) {
        let plane = (n * gu.cin + ci) * gu.h * gu.w;
        // The texels of dy[n, c, 0] for the two channels this lane fetches for its subgroup
        // (clamped to the last channel: channels past Cout are computed and never stored).
        let mine0 = (n * gu.cout + min(co0 + sid % 8u, gu.cout - 1u)) * q4;
        let mine1 = (n * gu.cout + min(co0 + 8u + sid % 8u, gu.cout - 1u)) * q4;
        for (var oh = 0u; oh < gu.out_h; oh++) {
            let h = i32(oh + kh) - gu.pad_h;
            let valid = h >= 0 && h < i32(gu.h);
            let row = plane + u32(select(0, h, valid)) * gu.w;
            for (var ow0 = 0u; ow0 < gu.out_w; ow0 += 8u) {
                let w0 = i32(ow0) - gu.pad_w;
                let r = window12(gr_xt, row, valid, w0, gu.w, 10u);
                let x0 = r.x0;
                let x1 = r.x1;
                let x2 = r.x2;
                var x = Win(x0, x1, vec4<f32>(x0.yzw, x1.x), vec4<f32>(x1.yzw, x2.x),
                            vec4<f32>(x0.zw, x1.xy), vec4<f32>(x1.zw, x2.xy));
                if (ow0 + 8u > gu.out_w) {
                    // a 4-pixel tail (OW % 4 == 0): pixels 4..7 are past the row
                    x.hi0 = vec4<f32>(0.0); x.hi1 = vec4<f32>(0.0); x.hi2 = vec4<f32>(0.0);
                }
                let t = (oh * gu.out_w + ow0) / 4u;
                let da0 = gr_dy(mine0 + t);
                let db0 = gr_dy(mine0 + t + 1u);
                var da1 = vec4<f32>(0.0);
                var db1 = vec4<f32>(0.0);
                if (GC > 8u) { da1 = gr_dy(mine1 + t); db1 = gr_dy(mine1 + t + 1u); }
                // Channel j's 8 pixels are lane j's (da0, db0), channel 8 + j's its (da1, db1). The
                // lane index of subgroupBroadcast must be a constant: one line per channel.
                acc[0] = gr_add(acc[0], subgroupBroadcast(da0, 0u), subgroupBroadcast(db0, 0u), x);
                if (GC > 1u) { acc[1] = gr_add(acc[1], subgroupBroadcast(da0, 1u), subgroupBroadcast(db0, 1u), x); }
                if (GC > 2u) { acc[2] = gr_add(acc[2], subgroupBroadcast(da0, 2u), subgroupBroadcast(db0, 2u), x); }
                if (GC > 3u) { acc[3] = gr_add(acc[3], subgroupBroadcast(da0, 3u), subgroupBroadcast(db0, 3u), x); }
                if (GC > 4u) { acc[4] = gr_add(acc[4], subgroupBroadcast(da0, 4u), subgroupBroadcast(db0, 4u), x); }
                if (GC > 5u) { acc[5] = gr_add(acc[5], subgroupBroadcast(da0, 5u), subgroupBroadcast(db0, 5u), x); }
                if (GC > 6u) { acc[6] = gr_add(acc[6], subgroupBroadcast(da0, 6u), subgroupBroadcast(db0, 6u), x); }
                if (GC > 7u) { acc[7] = gr_add(acc[7], subgroupBroadcast(da0, 7u), subgroupBroadcast(db0, 7u), x); }
                if (GC > 8u) { acc[8] = gr_add(acc[8], subgroupBroadcast(da1, 0u), subgroupBroadcast(db1, 0u), x); }
                if (GC > 9u) { acc[9] = gr_add(acc[9], subgroupBroadcast(da1, 1u), subgroupBroadcast(db1, 1u), x); }
                if (GC > 10u) { acc[10] = gr_add(acc[10], subgroupBroadcast(da1, 2u), subgroupBroadcast(db1, 2u), x); }
                if (GC > 11u) { acc[11] = gr_add(acc[11], subgroupBroadcast(da1, 3u), subgroupBroadcast(db1, 3u), x); }
                if (GC > 12u) { acc[12] = gr_add(acc[12], subgroupBroadcast(da1, 4u), subgroupBroadcast(db1, 4u), x); }
                if (GC > 13u) { acc[13] = gr_add(acc[13], subgroupBroadcast(da1, 5u), subgroupBroadcast(db1, 5u), x); }
                if (GC > 14u) { acc[14] = gr_add(acc[14], subgroupBroadcast(da1, 6u), subgroupBroadcast(db1, 6u), x); }
                if (GC > 15u) { acc[15] = gr_add(acc[15], subgroupBroadcast(da1, 7u), subgroupBroadcast(db1, 7u), x); }
            }
        }
    }
    let r0 = (ci * KH + kh) * 3u;
    for (var k = 0u; k < GC; k++) {
        gr_store(live, wg.z, co0, k, r0, acc[k]);
    }
}
