// Upsampling by an integer factor, nearest and bilinear, with their backward passes as gathers
// (each input pixel sums the output gradients that read it: no atomics).
// Launched by engine/src/ops/upsample.rs.
//
// Legend: planes = N*C (each channel of each image is upsampled alone); H, W = input size;
// s = the scale; OH = H*s, OW = W*s.
//   x and dx are [planes, H, W]; y and dy are [planes, OH, OW]
//   nearest:  y[oh, ow] = x[oh / s, ow / s]
//   bilinear: PyTorch's align_corners=False rule: src = max((dst + 0.5) / s - 0.5, 0),
//             i0 = floor(src), i1 = min(i0 + 1, size - 1), l = src - i0, and
//             y[oh, ow] = sum over (i, j) in {i0, i1}(oh) x {i0, i1}(ow) of wh * ww * x[i, j]
//             with weights 1 - l at i0 and l at i1 (per axis).
// One invocation per output element (grid x, and y past 65535 workgroups).
//
// H, W and s are pipeline constants, not uniforms: the kernels divide by them (to find an
// element's plane, row and column), and a division by a runtime value is a loop of scalar
// divisions over the SIMD lanes on CPU adapters, where a division by a constant is a multiply
// and a shift. Each shape gets its own pipeline (a U-Net has a few).
override H: u32 = 1u;
override W: u32 = 1u;
override S: u32 = 2u;

struct Params {
    planes: u32,
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
}

@group(0) @binding(0) var<storage, read> src: array<f32>;         // x (forward) or dy (backward)
@group(0) @binding(1) var<storage, read_write> out: array<f32>;   // y (forward) or dx (backward)
@group(0) @binding(2) var<uniform> p: Params;

fn index(gid: vec3<u32>, nwg: vec3<u32>) -> u32 {
    return gid.x + gid.y * nwg.x * 64u;
}

// (plane, row, col) of element i of a [planes, rows, cols] tensor.
fn unravel(i: u32, rows: u32, cols: u32) -> vec3<u32> {
    return vec3<u32>(i / (rows * cols), (i / cols) % rows, i % cols);
}

// y[plane, oh, ow] = x[plane, oh / s, ow / s]; out is [planes, OH, OW]
@compute @workgroup_size(64)
fn upsample_nearest(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = index(gid, nwg);
    if (i >= p.planes * H * S * W * S) { return; }
    let at = unravel(i, H * S, W * S);
    let plane = at.x;
    let oh = at.y;
    let ow = at.z;
    out[i] = src[(plane * H + oh / S) * W + ow / S];
}

// dx[plane, ih, iw] = sum of dy over the s x s block at (ih*s, iw*s); out is [planes, H, W]
@compute @workgroup_size(64)
fn upsample_nearest_grad(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = index(gid, nwg);
    if (i >= p.planes * H * W) { return; }
    let at = unravel(i, H, W);
    let plane = at.x;
    let ih = at.y;
    let iw = at.z;
    let ow_ = W * S;
    var base = (plane * H * S + ih * S) * ow_ + iw * S; // dy[plane, ih*s, iw*s]
    var acc = 0.0;
    for (var a = 0u; a < S; a++) {
        for (var b = 0u; b < S; b++) {
            acc += src[base + b];
        }
        base += ow_;
    }
    out[i] = acc;
}

// Source coordinate of output position o along an axis (PyTorch, align_corners=False).
fn source(o: u32) -> f32 {
    return max((f32(o) + 0.5) / f32(S) - 0.5, 0.0);
}

// The two source indices (i0, i1) and the weight l of i1 for output position o, input size n.
struct Taps {
    i0: u32,
    i1: u32,
    l: f32,
}

fn taps(o: u32, n: u32) -> Taps {
    let sc = source(o);
    let i0 = min(u32(floor(sc)), n - 1u);
    return Taps(i0, min(i0 + 1u, n - 1u), sc - f32(i0));
}

// Weight with which output position o reads input position i along an axis of input size n.
fn weight(o: u32, i: u32, n: u32) -> f32 {
    let t = taps(o, n);
    return select(0.0, 1.0 - t.l, t.i0 == i) + select(0.0, t.l, t.i1 == i);
}

// Where output i = (plane, oh, ow) reads: rows r0, r1 (offsets of x's rows i0, i1 along H),
// columns c0, c1, and the weights lh, lw of the second row and column.
struct Corners {
    r0: u32,
    r1: u32,
    c0: u32,
    c1: u32,
    lh: f32,
    lw: f32,
}

fn corners(i: u32) -> Corners {
    let at = unravel(i, H * S, W * S);
    let th = taps(at.y, H);
    let tw = taps(at.z, W);
    return Corners((at.x * H + th.i0) * W, (at.x * H + th.i1) * W, tw.i0, tw.i1, th.l, tw.l);
}

// The bilinear mix of the four values x[r0 + c0], x[r0 + c1], x[r1 + c0], x[r1 + c1].
fn mix4(c: Corners, v00: f32, v01: f32, v10: f32, v11: f32) -> f32 {
    let top = (1.0 - c.lw) * v00 + c.lw * v01;
    let bottom = (1.0 - c.lw) * v10 + c.lw * v11;
    return (1.0 - c.lh) * top + c.lh * bottom;
}

// y[plane, oh, ow]: out is [planes, OH, OW]
@compute @workgroup_size(64)
fn upsample_bilinear(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = index(gid, nwg);
    if (i >= p.planes * H * S * W * S) { return; }
    let c = corners(i);
    out[i] = mix4(c, src[c.r0 + c.c0], src[c.r0 + c.c1], src[c.r1 + c.c0], src[c.r1 + c.c1]);
}

// The outputs [lo, hi) along an axis of n_out outputs that read input i: those whose source
// coordinate (o + 0.5) / s - 0.5 lies in (i - 1, i + 1), that is
// i*s - floor(s/2) <= o <= i*s + floor((3s - 2)/2) (4 outputs for s = 2, 5 for s = 3). At i = 0
// this includes the outputs whose source is clamped to 0, and at the last input those clamped
// to it.
fn reach(i: u32, n_out: u32) -> vec2<u32> {
    let lo = i * S - min(S / 2u, i * S);
    let hi = min(i * S + (3u * S - 2u) / 2u + 1u, n_out);
    return vec2<u32>(lo, hi);
}

// What input i = (plane, ih, iw) gathers in the backward: dy's rows rh.x..rh.y and columns
// rw.x..rw.y (`reach`), the plane's offset in dy, and (ih, iw).
struct Window {
    rh: vec2<u32>,
    rw: vec2<u32>,
    plane0: u32,
    ih: u32,
    iw: u32,
}

fn window(i: u32) -> Window {
    let at = unravel(i, H, W);
    let plane0 = at.x * H * S * W * S;
    return Window(reach(at.y, H * S), reach(at.z, W * S), plane0, at.y, at.z);
}

// dx[plane, ih, iw] = sum over (oh, ow) of weight(oh, ih) * weight(ow, iw) * dy[plane, oh, ow],
// over the outputs that read (ih, iw) (`window`). out is [planes, H, W]
@compute @workgroup_size(64)
fn upsample_bilinear_grad(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = index(gid, nwg);
    if (i >= p.planes * H * W) { return; }
    let g = window(i);
    var acc = 0.0;
    for (var oh = g.rh.x; oh < g.rh.y; oh++) {
        let row = g.plane0 + oh * W * S;
        var acc_row = 0.0;
        for (var ow = g.rw.x; ow < g.rw.y; ow++) {
            acc_row += weight(ow, g.iw, W) * src[row + ow];
        }
        acc += weight(oh, g.ih, H) * acc_row;
    }
    out[i] = acc;
}

// ---- Texture reads (CPU adapters): the bilinear kernels with src read through a flat r32float
// texture 4096 wide (texture_pool.rs, `flat`), where a storage load in them cost about 20 cycles
// per SIMD lane (BENCHMARKS.md). Same bindings otherwise.

@group(0) @binding(0) var tsrc: texture_storage_2d<r32float, read>;

// src[i] through the texture.
fn tsrc_at(i: u32) -> f32 {
    return textureLoad(tsrc, vec2<u32>(i % 4096u, i / 4096u)).x;
}

@compute @workgroup_size(64)
fn upsample_bilinear_tex(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = index(gid, nwg);
    if (i >= p.planes * H * S * W * S) { return; }
    let c = corners(i);
    out[i] = mix4(c, tsrc_at(c.r0 + c.c0), tsrc_at(c.r0 + c.c1), tsrc_at(c.r1 + c.c0),
                  tsrc_at(c.r1 + c.c1));
}

@compute @workgroup_size(64)
fn upsample_bilinear_grad_tex(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = index(gid, nwg);
    if (i >= p.planes * H * W) { return; }
    let g = window(i);
    var acc = 0.0;
    for (var oh = g.rh.x; oh < g.rh.y; oh++) {
        let row = g.plane0 + oh * W * S;
        var acc_row = 0.0;
        for (var ow = g.rw.x; ow < g.rw.y; ow++) {
            acc_row += weight(ow, g.iw, W) * tsrc_at(row + ow);
        }
        acc += weight(oh, g.ih, H) * acc_row;
    }
    out[i] = acc;
}
