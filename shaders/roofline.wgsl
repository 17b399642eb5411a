// Roofline probes: the compute ceiling (a register-resident FMA loop), a streaming copy and a
// streaming write.
// Launched by engine/src/ops/roofline.rs; timed by benches/roofline.rs.
//
// fma_loop: invocation i starts 8 independent vec4 accumulators from x[i], runs ITERS steps of
// acc = fma(acc, mul, add) on each, and writes the sum of their 32 lanes to out[i], so the
// work cannot be removed. FLOPs = n * ITERS * 8 accumulators * 4 lanes * 2.
// The accumulators are named variables, not an array: llvmpipe spills dynamically indexed arrays.

override ITERS: u32 = 64u;

struct Params {
    n: u32,       // invocations (elements of x and out); for stream_copy, vec4s
    _pad0: u32,
    mul: f32,
    add: f32,
}

@group(0) @binding(0) var<storage, read> x: array<f32>;          // x is [n]
@group(0) @binding(1) var<storage, read_write> out: array<f32>;  // out is [n]
@group(0) @binding(2) var<uniform> p: Params;

@compute @workgroup_size(256)
fn fma_loop(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.x + gid.y * nwg.x * 256u;
    if (i >= p.n) { return; }
    let lanes = vec4<f32>(0.0, 0.25, 0.5, 0.75);
    let m = vec4<f32>(p.mul);
    let c = vec4<f32>(p.add);
    let s = vec4<f32>(x[i]) + lanes;
    var a0 = s;
    var a1 = s + 1.0;
    var a2 = s + 2.0;
    var a3 = s + 3.0;
    var a4 = s + 4.0;
    var a5 = s + 5.0;
    var a6 = s + 6.0;
    var a7 = s + 7.0;
    for (var k = 0u; k < ITERS; k++) {
        a0 = fma(a0, m, c);
        a1 = fma(a1, m, c);
        a2 = fma(a2, m, c);
        a3 = fma(a3, m, c);
        a4 = fma(a4, m, c);
        a5 = fma(a5, m, c);
        a6 = fma(a6, m, c);
        a7 = fma(a7, m, c);
    }
    let t = ((a0 + a1) + (a2 + a3)) + ((a4 + a5) + (a6 + a7));
    out[i] = (t.x + t.y) + (t.z + t.w);
}

@group(0) @binding(0) var<storage, read> src4: array<vec4<f32>>;          // src4 is [n] vec4s
@group(0) @binding(1) var<storage, read_write> dst4: array<vec4<f32>>;    // dst4 is [n] vec4s
@group(0) @binding(2) var<uniform> q: Params;

// dst4[i] = src4[i]: one vec4 read and one written per invocation.
@compute @workgroup_size(256)
fn stream_copy(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.x + gid.y * nwg.x * 256u;
    if (i >= q.n) { return; }
    dst4[i] = src4[i];
}

@group(0) @binding(0) var<storage, read_write> w4: array<vec4<f32>>;      // w4 is [n] vec4s
@group(0) @binding(1) var<uniform> wq: Params;

// w4[i] = (4i, 4i + 1, 4i + 2, 4i + 3) * mul + add: one vec4 written per invocation, nothing
// read (the roof of kernels that only write, such as randn).
@compute @workgroup_size(256)
fn stream_write(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.x + gid.y * nwg.x * 256u;
    if (i >= wq.n) { return; }
    w4[i] = (vec4<f32>(f32(4u * i)) + vec4<f32>(0.0, 1.0, 2.0, 3.0)) * wq.mul + wq.add;
}
