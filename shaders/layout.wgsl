// Layout kernels: strided copies and index gathers. Launched by engine/src/ops/layout.rs.
//
// Legend: S = the iteration shape (rank <= 8), n = numel(S); V = the size of the indexed axis,
// N = the number of indices, O = the product of the axes before it, I = of the axes after it.
//
//   layout_gather:  out[i] = x[offset + dot(unravel(i, S), strides)]   (permute, broadcast_to, narrow)
//   layout_scatter: dst[offset + dot(unravel(i, S), strides)] = src[i] (concat, narrow's backward)
//   index_select:       out[o, j, k] = x[o, idx[j], k]
//   index_select_grad:  dx[o, v, k]  = sum over p in offsets[v]..offsets[v+1] of g[o, positions[p], k]
//
// Strides are in elements; 0 along a broadcast axis. The scatter's window must not overlap
// itself (true for concat and narrow), so each dst element has exactly one writer.

struct Params {
    n: u32,       // numel(S)
    rank: u32,
    offset: u32,  // element offset of S's origin in the strided buffer
    _pad0: u32,
    shape: array<vec4<u32>, 2>,    // S, 8 slots
    strides: array<vec4<u32>, 2>,  // strides of the strided buffer along S's axes
}

@group(0) @binding(0) var<storage, read> src: array<f32>;         // gather: x (strided); scatter: src is S
@group(0) @binding(1) var<storage, read_write> dst: array<f32>;   // gather: out is S; scatter: dst (strided)
@group(0) @binding(2) var<uniform> p: Params;

// Position in the strided buffer of the element at flat index i of the contiguous S.
fn strided_index(i: u32) -> u32 {
    var rem = i;
    var at = p.offset;
    for (var k = 0u; k < p.rank; k++) {
        let d = p.rank - 1u - k;
        let size = p.shape[d / 4u][d % 4u];
        at += (rem % size) * p.strides[d / 4u][d % 4u];
        rem = rem / size;
    }
    return at;
}

@compute @workgroup_size(256)
fn layout_gather(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.x + gid.y * nwg.x * 256u;
    if (i >= p.n) { return; }
    dst[i] = src[strided_index(i)];
}

@compute @workgroup_size(256)
fn layout_scatter(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.x + gid.y * nwg.x * 256u;
    if (i >= p.n) { return; }
    dst[strided_index(i)] = src[i];
}

struct IndexParams {
    n: u32,      // elements of the output: O * N * I (forward), O * V * I (backward)
    n_idx: u32,  // N
    v: u32,      // V
    inner: u32,  // I
}

@group(0) @binding(0) var<storage, read> ix: array<f32>;         // x is [O, V, I]
@group(0) @binding(1) var<storage, read> idx: array<u32>;        // idx is [N], each < V
@group(0) @binding(2) var<storage, read_write> iout: array<f32>; // out is [O, N, I]
@group(0) @binding(3) var<uniform> ip: IndexParams;

@compute @workgroup_size(256)
fn index_select(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.x + gid.y * nwg.x * 256u;
    if (i >= ip.n) { return; }
    let k = i % ip.inner;
    let j = (i / ip.inner) % ip.n_idx;
    let o = i / (ip.inner * ip.n_idx);
    iout[i] = ix[(o * ip.v + idx[j]) * ip.inner + k];
}

// Deterministic scatter-add: each dx element sums, in a fixed order, the gradient rows that
// read it (a CSR list built on the CPU), so no float atomics are needed.
@group(0) @binding(0) var<storage, read> gg: array<f32>;          // g is [O, N, I]
@group(0) @binding(1) var<storage, read> offsets: array<u32>;     // offsets is [V + 1]
@group(0) @binding(2) var<storage, read> positions: array<u32>;   // positions is [N]: j with idx[j] = v, grouped by v
@group(0) @binding(3) var<storage, read_write> gdx: array<f32>;   // dx is [O, V, I]
@group(0) @binding(4) var<uniform> gp: IndexParams;

@compute @workgroup_size(256)
fn index_select_grad(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.x + gid.y * nwg.x * 256u;
    if (i >= gp.n) { return; }
    let k = i % gp.inner;
    let v = (i / gp.inner) % gp.v;
    let o = i / (gp.inner * gp.v);
    var acc = 0.0;
    for (var q = offsets[v]; q < offsets[v + 1u]; q++) {
        acc += gg[(o * gp.n_idx + positions[q]) * gp.inner + k];
    }
    gdx[i] = acc;
}
