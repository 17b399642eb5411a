// softmax and log_softmax over the last axis, numerically stable: the row max is subtracted
// before exp, so large inputs (1000.0) do not overflow.
// Launched by engine/src/ops/softmax.rs.
//
// Legend: x and out are [rows, n] (rows = product of all axes but the last, n = the last).
//   softmax:     out = exp(x - m) / s            m = max of the row, s = sum of exp(x - m)
//   log_softmax: out = x - m - log(s)
//   softmax_thread: one invocation per row (short rows).
//   softmax_wg:     one workgroup of 256 per row, tree reductions in workgroup memory.

override LOG: bool = false;

struct Params {
    rows: u32,
    n: u32,
    _pad0: u32,
    _pad1: u32,
}

@group(0) @binding(0) var<storage, read> x: array<f32>;         // x is [rows, n]
@group(0) @binding(1) var<storage, read_write> out: array<f32>; // out is [rows, n]
@group(0) @binding(2) var<uniform> p: Params;

fn neg_inf() -> f32 {
    return bitcast<f32>(0xff800000u);
}

// The output for input v of a row with max m and sum of exponentials s.
fn finish(v: f32, m: f32, s: f32) -> f32 {
    if (LOG) { return v - m - log(s); }
    return exp(v - m) / s;
}

@compute @workgroup_size(256)
fn softmax_thread(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let row = gid.x + gid.y * nwg.x * 256u;
    if (row >= p.rows) { return; }
    let base = row * p.n;
    var m = neg_inf();
    for (var j = 0u; j < p.n; j++) { m = max(m, x[base + j]); }
    var s = 0.0;
    for (var j = 0u; j < p.n; j++) { s += exp(x[base + j] - m); }
    for (var j = 0u; j < p.n; j++) { out[base + j] = finish(x[base + j], m, s); }
}

var<workgroup> partial: array<f32, 256>;

@compute @workgroup_size(256)
fn softmax_wg(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let row = wid.x + wid.y * nwg.x; // uniform across the workgroup
    if (row >= p.rows) { return; }
    let base = row * p.n;
    // Row max.
    var m = neg_inf();
    for (var j = lid; j < p.n; j += 256u) { m = max(m, x[base + j]); }
    partial[lid] = m;
    workgroupBarrier();
    for (var k = 128u; k > 0u; k >>= 1u) {
        if (lid < k) { partial[lid] = max(partial[lid], partial[lid + k]); }
        workgroupBarrier();
    }
    m = partial[0];
    workgroupBarrier();
    // Row sum of exp(x - m).
    var s = 0.0;
    for (var j = lid; j < p.n; j += 256u) { s += exp(x[base + j] - m); }
    partial[lid] = s;
    workgroupBarrier();
    for (var k = 128u; k > 0u; k >>= 1u) {
        if (lid < k) { partial[lid] += partial[lid + k]; }
        workgroupBarrier();
    }
    s = partial[0];
    for (var j = lid; j < p.n; j += 256u) { out[base + j] = finish(x[base + j], m, s); }
}
