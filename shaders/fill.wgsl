// Constant fills and ramps: out[i] = start + i * step.
// Launched by engine/src/ops/fill.rs. zeros/ones/full use step = 0; arange and linspace a ramp.
// fill_ramp4 writes 4 values an invocation (n % 4 == 0): CPU adapters store a vec4 about 3x
// faster than 4 floats one by one (`cargo run --release -p engine --example access_probe`).

struct Params {
    n: u32,
    _pad0: u32,
    start: f32,
    step: f32,
}

@group(0) @binding(0) var<storage, read_write> out: array<f32>;
@group(0) @binding(1) var<uniform> p: Params;

@compute @workgroup_size(256)
fn fill_ramp(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.x + gid.y * nwg.x * 256u;
    if (i >= p.n) { return; }
    out[i] = p.start + f32(i) * p.step;
}

@group(0) @binding(0) var<storage, read_write> out4: array<vec4<f32>>; // out is [n / 4]

@compute @workgroup_size(256)
fn fill_ramp4(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.x + gid.y * nwg.x * 256u;
    if (i * 4u >= p.n) { return; }
    out4[i] = p.start + vec4<f32>(f32(4u * i), f32(4u * i + 1u), f32(4u * i + 2u), f32(4u * i + 3u)) * p.step;
}
