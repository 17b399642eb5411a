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

struct Params {
    planes: u32,
    h: u32,
    w: u32,
    s: u32,
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
    if (i >= p.planes * p.h * p.s * p.w * p.s) { return; }
    let at = unravel(i, p.h * p.s, p.w * p.s);
    let plane = at.x;
    let oh = at.y;
    let ow = at.z;
    out[i] = src[(plane * p.h + oh / p.s) * p.w + ow / p.s];
}

// dx[plane, ih, iw] = sum of dy over the s x s block at (ih*s, iw*s); out is [planes, H, W]
@compute @workgroup_size(64)
fn upsample_nearest_grad(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = index(gid, nwg);
    if (i >= p.planes * p.h * p.w) { return; }
    let at = unravel(i, p.h, p.w);
    let plane = at.x;
    let ih = at.y;
    let iw = at.z;
    let ow_ = p.w * p.s;
    var base = (plane * p.h * p.s + ih * p.s) * ow_ + iw * p.s; // dy[plane, ih*s, iw*s]
    var acc = 0.0;
    for (var a = 0u; a < p.s; a++) {
        for (var b = 0u; b < p.s; b++) {
            acc += src[base + b];
        }
        base += ow_;
    }
    out[i] = acc;
}

// Source coordinate of output position o along an axis (PyTorch, align_corners=False).
fn source(o: u32) -> f32 {
    return max((f32(o) + 0.5) / f32(p.s) - 0.5, 0.0);
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

// y[plane, oh, ow]: out is [planes, OH, OW]
@compute @workgroup_size(64)
fn upsample_bilinear(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = index(gid, nwg);
    if (i >= p.planes * p.h * p.s * p.w * p.s) { return; }
    let at = unravel(i, p.h * p.s, p.w * p.s);
    let plane = at.x;
    let oh = at.y;
    let ow = at.z;
    let th = taps(oh, p.h);
    let tw = taps(ow, p.w);
    let r0 = (plane * p.h + th.i0) * p.w;
    let r1 = (plane * p.h + th.i1) * p.w;
    let top = (1.0 - tw.l) * src[r0 + tw.i0] + tw.l * src[r0 + tw.i1];
    let bottom = (1.0 - tw.l) * src[r1 + tw.i0] + tw.l * src[r1 + tw.i1];
    out[i] = (1.0 - th.l) * top + th.l * bottom;
}

// dx[plane, ih, iw] = sum over (oh, ow) of weight(oh, ih) * weight(ow, iw) * dy[plane, oh, ow].
// Only outputs with source coordinate in (i - 1, i + 1) read input i: oh in [(ih-1)*s, (ih+2)*s).
// out is [planes, H, W]
@compute @workgroup_size(64)
fn upsample_bilinear_grad(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = index(gid, nwg);
    if (i >= p.planes * p.h * p.w) { return; }
    let at = unravel(i, p.h, p.w);
    let plane = at.x;
    let ih = at.y;
    let iw = at.z;
    let ow_ = p.w * p.s;
    let oh_ = p.h * p.s;
    let h_lo = select(0u, (ih - 1u) * p.s, ih > 0u);
    let h_hi = min((ih + 2u) * p.s, oh_);
    let w_lo = select(0u, (iw - 1u) * p.s, iw > 0u);
    let w_hi = min((iw + 2u) * p.s, ow_);
    var acc = 0.0;
    for (var oh = h_lo; oh < h_hi; oh++) {
        let wh = weight(oh, ih, p.h);
        if (wh == 0.0) { continue; }
        let row = (plane * oh_ + oh) * ow_;
        var acc_row = 0.0;
        for (var ow = w_lo; ow < w_hi; ow++) {
            acc_row += weight(ow, iw, p.w) * src[row + ow];
        }
        acc += wh * acc_row;
    }
    out[i] = acc;
}
