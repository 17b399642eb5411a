// Reduction of one axis: x viewed as [outer, r, inner] -> out [outer, nchunks, inner].
// Launched by engine/src/ops/reduce.rs, which builds sum/mean/max over several axes from
// successive single-axis passes, and splits a long axis into `nchunks` chunks of `chunk`
// elements (a second pass then reduces the chunks) so that many workgroups share the work.
//
// Legend: outer = product of the axes before the reduced one, r = the reduced axis' length,
// inner = product of the axes after it. Each output is combine(x over its chunk) * scale
// (scale is 1/count for the last pass of a mean, else 1).
//
//   reduce_rows (inner == 1): one workgroup per output, a strided loop over the chunk, then
//                             a tree reduction in workgroup memory.
//   reduce_cols (inner > 1):  one invocation per output looping over its chunk; adjacent
//                             invocations read adjacent memory (consecutive k).
//   reduce_cols_tex:          reduce_cols reading x through a flat r32float copy (CPU
//                             adapters; texture_pool.rs, `flat`: value i at (i % 4096, i / 4096)).

override OP: u32 = 0u; // 0 sum, 1 max

struct Params {
    outer: u32,
    r: u32,
    inner: u32,
    chunk: u32,    // elements of the reduced axis per chunk
    nchunks: u32,  // ceil(r / chunk), at least 1
    scale: f32,
    _pad0: u32,
    _pad1: u32,
}

@group(0) @binding(0) var<storage, read> x: array<f32>;         // x is [outer, r, inner]
@group(0) @binding(1) var<storage, read_write> out: array<f32>; // out is [outer, nchunks, inner]
@group(0) @binding(2) var<uniform> p: Params;

fn identity() -> f32 {
    if (OP == 0u) { return 0.0; }
    return bitcast<f32>(0xff800000u); // -inf
}

fn combine(a: f32, b: f32) -> f32 {
    if (OP == 0u) { return a + b; }
    return max(a, b);
}

var<workgroup> partial: array<f32, 256>;

@compute @workgroup_size(256)
fn reduce_rows(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    // One workgroup per (row, chunk); w is uniform across the workgroup.
    let w = wid.x + wid.y * nwg.x;
    if (w >= p.outer * p.nchunks) { return; }
    let row = w / p.nchunks;
    let start = (w % p.nchunks) * p.chunk;
    let end = min(p.r, start + p.chunk);
    let base = row * p.r;
    var acc = identity();
    for (var j = start + lid; j < end; j += 256u) {
        acc = combine(acc, x[base + j]);
    }
    partial[lid] = acc;
    workgroupBarrier();
    for (var s = 128u; s > 0u; s >>= 1u) {
        if (lid < s) {
            partial[lid] = combine(partial[lid], partial[lid + s]);
        }
        workgroupBarrier();
    }
    if (lid == 0u) {
        out[w] = partial[0] * p.scale;
    }
}

// Output i of reduce_cols: (index in x of its chunk's first element, chunk length).
fn col_chunk(i: u32) -> vec2<u32> {
    let per_outer = p.nchunks * p.inner;
    let o = i / per_outer;
    let rem = i % per_outer;
    let c = rem / p.inner;
    let k = rem % p.inner;
    let start = c * p.chunk;
    let end = min(p.r, start + p.chunk);
    return vec2<u32>((o * p.r + start) * p.inner + k, end - start);
}

@compute @workgroup_size(256)
fn reduce_cols(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.x + gid.y * nwg.x * 256u; // flat index into out [outer, nchunks, inner]
    if (i >= p.outer * p.nchunks * p.inner) { return; }
    let ch = col_chunk(i);
    var idx = ch.x;
    var acc = identity();
    for (var j = 0u; j < ch.y; j++) {
        acc = combine(acc, x[idx]);
        idx += p.inner;
    }
    out[i] = acc * p.scale;
}

@group(0) @binding(0) var tx: texture_storage_2d<r32float, read>;

@compute @workgroup_size(256)
fn reduce_cols_tex(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.x + gid.y * nwg.x * 256u;
    if (i >= p.outer * p.nchunks * p.inner) { return; }
    let ch = col_chunk(i);
    var idx = ch.x;
    var acc = identity();
    for (var j = 0u; j < ch.y; j++) {
        acc = combine(acc, textureLoad(tx, vec2<u32>(idx % 4096u, idx / 4096u)).x);
        idx += p.inner;
    }
    out[i] = acc * p.scale;
}
