// Fused losses. Launched by engine/src/ops/loss.rs.
//
//   mse_partial: a, b are [n]; out[w] = sum of (a - b)^2 over chunk w of `chunk` elements
//                (one workgroup per chunk, a tree reduction in workgroup memory), times
//                `scale`. The chunk sums are then added by the reduce kernels, which divide
//                by n; a single chunk is scaled by 1 / n here and is the loss.

struct Params {
    n: u32,
    chunk: u32,
    nchunks: u32,
    scale: f32, // multiplies each chunk's sum (1 / n when one chunk is the whole loss)
}

@group(0) @binding(0) var<storage, read> a: array<f32>;         // a is [n]
@group(0) @binding(1) var<storage, read> b: array<f32>;         // b is [n]
@group(0) @binding(2) var<storage, read_write> out: array<f32>; // out is [nchunks]
@group(0) @binding(3) var<uniform> p: Params;

var<workgroup> partial: array<f32, 256>;

@compute @workgroup_size(256)
fn mse_partial(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let w = wid.x + wid.y * nwg.x; // uniform across the workgroup
    if (w >= p.nchunks) { return; }
    let start = w * p.chunk;
    let end = min(p.n, start + p.chunk);
    var acc = 0.0;
    for (var i = start + lid; i < end; i += 256u) {
        let d = a[i] - b[i];
        acc += d * d;
    }
    partial[lid] = acc;
    workgroupBarrier();
    for (var s = 128u; s > 0u; s >>= 1u) {
        if (lid < s) { partial[lid] += partial[lid + s]; }
        workgroupBarrier();
    }
    if (lid == 0u) { out[w] = partial[0] * p.scale; }
}

// mse_partial for CPU adapters (n % 4 == 0): a and b read through flat rgba32float copies
// (texture_pool.rs, `flat`: texel i holds values 4i..4i+3 at (i % 4096, i / 4096)), and
// one invocation per chunk of `chunk` texels, with no workgroup tree (its barriers cost more
// than the loads there). n counts texels here.

@group(0) @binding(0) var ta: texture_storage_2d<rgba32float, read>;
@group(0) @binding(1) var tb: texture_storage_2d<rgba32float, read>;

@compute @workgroup_size(64)
fn mse_partial4_tex(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let w = gid.x + gid.y * nwg.x * 64u;
    if (w >= p.nchunks) { return; }
    let start = w * p.chunk;
    let end = min(p.n, start + p.chunk);
    var acc = vec4<f32>(0.0);
    for (var i = start; i < end; i++) {
        let t = vec2<u32>(i % 4096u, i / 4096u);
        let d = textureLoad(ta, t) - textureLoad(tb, t);
        acc += d * d;
    }
    out[w] = (acc.x + acc.y + acc.z + acc.w) * p.scale;
}

// mse_grad: the backward of mse_loss in one pass, da = (a - b) * (scale * g[0]) with
// scale = 2 / n and g the rank-0 gradient of the loss (db = -da is the caller's).
struct GradParams {
    n: u32,
    scale: f32,
    _pad0: u32,
    _pad1: u32,
}

@group(0) @binding(2) var<storage, read> g_loss: array<f32>;       // g_loss is [1]
@group(0) @binding(3) var<storage, read_write> da: array<f32>;     // da is [n]
@group(0) @binding(4) var<uniform> gp: GradParams;

@compute @workgroup_size(256)
fn mse_grad(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.x + gid.y * nwg.x * 256u;
    if (i >= gp.n) { return; }
    da[i] = (a[i] - b[i]) * (gp.scale * g_loss[0]);
}
