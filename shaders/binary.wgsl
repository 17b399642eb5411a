// Elementwise binary ops with NumPy broadcasting: out = a OP b.
// Launched by engine/src/ops/binary.rs.
//
// out has shape `shape` (rank <= 8) and is contiguous; a and b are read through strides in
// elements that are 0 along the axes where they are broadcast.

override OP: u32 = 0u; // 0 add, 1 sub, 2 mul, 3 div, 4 eq, 5 gt, 6 maximum, 7 minimum

struct Params {
    n: u32,          // elements of out
    rank: u32,
    _pad0: u32,
    _pad1: u32,
    shape: array<vec4<u32>, 2>,     // out's shape, 8 slots
    a_strides: array<vec4<u32>, 2>,
    b_strides: array<vec4<u32>, 2>,
}

@group(0) @binding(0) var<storage, read> a: array<f32>;
@group(0) @binding(1) var<storage, read> b: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
@group(0) @binding(3) var<uniform> p: Params;

fn apply(x: f32, y: f32) -> f32 {
    switch OP {
        case 0u: { return x + y; }
        case 1u: { return x - y; }
        case 2u: { return x * y; }
        case 3u: { return x / y; }
        case 4u: { return select(0.0, 1.0, x == y); }
        case 5u: { return select(0.0, 1.0, x > y); }
        case 6u: { return max(x, y); }
        default: { return min(x, y); }
    }
}

// Same shapes: no index arithmetic.
@compute @workgroup_size(256)
fn binary_same(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.x + gid.y * nwg.x * 256u;
    if (i >= p.n) { return; }
    out[i] = apply(a[i], b[i]);
}

// Element i of out unravelled over `shape` and dotted with each operand's strides: the
// indices (into a, into b) it reads.
fn broadcast_index(i: u32) -> vec2<u32> {
    var rem = i;
    var ia = 0u;
    var ib = 0u;
    for (var k = 0u; k < p.rank; k++) {
        let d = p.rank - 1u - k;
        let size = p.shape[d / 4u][d % 4u];
        let c = rem % size;
        rem = rem / size;
        ia += c * p.a_strides[d / 4u][d % 4u];
        ib += c * p.b_strides[d / 4u][d % 4u];
    }
    return vec2<u32>(ia, ib);
}

// General case.
@compute @workgroup_size(256)
fn binary_broadcast(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.x + gid.y * nwg.x * 256u;
    if (i >= p.n) { return; }
    let ix = broadcast_index(i);
    out[i] = apply(a[ix.x], b[ix.y]);
}

// ---- vec4 fast paths: 4 elements per invocation (element counts divisible by 4) ----

struct Params4 {
    n4: u32,    // vec4s of out
    len4: u32,  // binary_rows4: vec4s in one row of the broadcast operand; planes4: in a plane
    count: u32, // binary_planes4_tex: planes before the per-plane operand repeats
    _pad0: u32,
}

@group(0) @binding(0) var<storage, read> a4: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read> b4: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read_write> out4: array<vec4<f32>>;
@group(0) @binding(3) var<uniform> p4: Params4;

override ROW_IS_A: bool = false; // binary_rows4, binary_planes4_tex: a (not b) is the broadcast operand

fn apply4(x: vec4<f32>, y: vec4<f32>) -> vec4<f32> {
    return vec4<f32>(apply(x.x, y.x), apply(x.y, y.y), apply(x.z, y.z), apply(x.w, y.w));
}

// Same shapes.
@compute @workgroup_size(256)
fn binary_same4(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.x + gid.y * nwg.x * 256u;
    if (i >= p4.n4) { return; }
    out4[i] = apply4(a4[i], b4[i]);
}

// One operand has out's shape, the other is one row repeated: out [.., L], row [L] (a bias).
@compute @workgroup_size(256)
fn binary_rows4(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.x + gid.y * nwg.x * 256u;
    if (i >= p4.n4) { return; }
    let j = i % p4.len4;
    if (ROW_IS_A) {
        out4[i] = apply4(a4[j], b4[i]);
    } else {
        out4[i] = apply4(a4[i], b4[j]);
    }
}

// ---- Texture reads (CPU adapters): the same kernels, inputs read through flat textures ----
// a and b are copies of the operands in textures 4096 texels wide, row-major (texture_pool.rs,
// `flat`): rgba32float (4 values a texel) for full operands and rows, r32float for the
// per-plane operand and the general case. Stores go to out4 / out as above.

@group(0) @binding(0) var ta: BinaryTexA;
@group(0) @binding(1) var tb: BinaryTexB;

// Texel i of a flat texture.
fn flat(i: u32) -> vec2<u32> {
    return vec2<u32>(i % 4096u, i / 4096u);
}

// Same shapes.
@compute @workgroup_size(256)
fn binary_same4_tex(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.x + gid.y * nwg.x * 256u;
    if (i >= p4.n4) { return; }
    out4[i] = apply4(textureLoad(ta, flat(i)), textureLoad(tb, flat(i)));
}

// One operand full, the other one row of len4 vec4s repeated (a bias).
@compute @workgroup_size(256)
fn binary_rows4_tex(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.x + gid.y * nwg.x * 256u;
    if (i >= p4.n4) { return; }
    let j = i % p4.len4;
    if (ROW_IS_A) {
        out4[i] = apply4(textureLoad(ta, flat(j)), textureLoad(tb, flat(i)));
    } else {
        out4[i] = apply4(textureLoad(ta, flat(i)), textureLoad(tb, flat(j)));
    }
}

// One operand full, out [.., P, S] (S = 4 * len4, P = count), the other one value per plane
// [P] (r32float), repeated over the leading axes: an embedding [N, C, 1, 1] added over
// [N, C, H, W] (P = N * C), or a batch norm's [C, 1, 1] (P = C).
@compute @workgroup_size(256)
fn binary_planes4_tex(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.x + gid.y * nwg.x * 256u;
    if (i >= p4.n4) { return; }
    let j = (i / p4.len4) % p4.count;
    if (ROW_IS_A) {
        out4[i] = apply4(vec4<f32>(textureLoad(ta, flat(j)).x), textureLoad(tb, flat(i)));
    } else {
        out4[i] = apply4(textureLoad(ta, flat(i)), vec4<f32>(textureLoad(tb, flat(j)).x));
    }
}

// General broadcasting, both operands r32float.
@compute @workgroup_size(256)
fn binary_broadcast_tex(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.x + gid.y * nwg.x * 256u;
    if (i >= p.n) { return; }
    let ix = broadcast_index(i);
    out[i] = apply(textureLoad(ta, flat(ix.x)).x, textureLoad(tb, flat(ix.y)).x);
}
