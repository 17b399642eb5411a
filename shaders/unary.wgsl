// Elementwise unary ops, each forward next to its derivative.
// Launched by engine/src/ops/unary.rs.
//
//   unary:      out[i] = f(x[i])
//   unary_grad: dx[i]  = g[i] * f'(x[i])      (x is the forward input, g the output's gradient)
// Parameters alpha, beta: the exponent of powf, the bounds of clamp, the scalar of add/mul.

override OP: u32 = 0u;
// 0 neg, 1 exp, 2 log, 3 sqrt, 4 sin, 5 cos, 6 tanh, 7 sigmoid, 8 relu, 9 silu, 10 abs,
// 11 powf(alpha), 12 clamp(alpha, beta), 13 add alpha, 14 mul alpha

struct Params {
    n: u32,
    _pad0: u32,
    alpha: f32,
    beta: f32,
}

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@group(0) @binding(2) var<uniform> p: Params;

fn sigmoid(v: f32) -> f32 {
    return 1.0 / (1.0 + exp(-v));
}

fn f(v: f32, alpha: f32, beta: f32) -> f32 {
    switch OP {
        case 0u: { return -v; }
        case 1u: { return exp(v); }
        case 2u: { return log(v); }
        case 3u: { return sqrt(v); }
        case 4u: { return sin(v); }
        case 5u: { return cos(v); }
        case 6u: { return tanh(v); }
        case 7u: { return sigmoid(v); }
        case 8u: { return max(v, 0.0); }
        case 9u: { return v * sigmoid(v); }
        case 10u: { return abs(v); }
        case 11u: { return pow(v, alpha); }
        case 12u: { return clamp(v, alpha, beta); }
        case 13u: { return v + alpha; }
        default: { return v * alpha; }
    }
}

// f'(v)
fn df(v: f32, alpha: f32, beta: f32) -> f32 {
    switch OP {
        case 0u: { return -1.0; }
        case 1u: { return exp(v); }
        case 2u: { return 1.0 / v; }
        case 3u: { return 0.5 / sqrt(v); }
        case 4u: { return cos(v); }
        case 5u: { return -sin(v); }
        case 6u: { let t = tanh(v); return 1.0 - t * t; }
        case 7u: { let s = sigmoid(v); return s * (1.0 - s); }
        case 8u: { return select(0.0, 1.0, v > 0.0); }
        case 9u: { let s = sigmoid(v); return s * (1.0 + v * (1.0 - s)); }
        case 10u: { return sign(v); }
        case 11u: { return alpha * pow(v, alpha - 1.0); }
        case 12u: { return select(0.0, 1.0, v >= alpha && v <= beta); }
        case 13u: { return 1.0; }
        default: { return alpha; }
    }
}

@compute @workgroup_size(256)
fn unary(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.x + gid.y * nwg.x * 256u;
    if (i >= p.n) { return; }
    out[i] = f(x[i], p.alpha, p.beta);
}

@group(0) @binding(0) var<storage, read> gx: array<f32>;
@group(0) @binding(1) var<storage, read> gg: array<f32>;
@group(0) @binding(2) var<storage, read_write> gout: array<f32>;
@group(0) @binding(3) var<uniform> gp: Params;

@compute @workgroup_size(256)
fn unary_grad(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.x + gid.y * nwg.x * 256u;
    if (i >= gp.n) { return; }
    gout[i] = gg[i] * df(gx[i], gp.alpha, gp.beta);
}

// ---- vec4 fast paths: 4 elements per invocation (element counts divisible by 4) ----

@group(0) @binding(0) var<storage, read> x4: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read_write> out4: array<vec4<f32>>;
@group(0) @binding(2) var<uniform> p4: Params; // n counts vec4s here

@compute @workgroup_size(256)
fn unary4(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.x + gid.y * nwg.x * 256u;
    if (i >= p4.n) { return; }
    let v = x4[i];
    out4[i] = vec4<f32>(f(v.x, p4.alpha, p4.beta), f(v.y, p4.alpha, p4.beta), f(v.z, p4.alpha, p4.beta), f(v.w, p4.alpha, p4.beta));
}

@group(0) @binding(0) var<storage, read> gx4: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read> gg4: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read_write> gout4: array<vec4<f32>>;
@group(0) @binding(3) var<uniform> gp4: Params; // n counts vec4s here

@compute @workgroup_size(256)
fn unary_grad4(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.x + gid.y * nwg.x * 256u;
    if (i >= gp4.n) { return; }
    let v = gx4[i];
    let d = vec4<f32>(df(v.x, gp4.alpha, gp4.beta), df(v.y, gp4.alpha, gp4.beta), df(v.z, gp4.alpha, gp4.beta), df(v.w, gp4.alpha, gp4.beta));
    gout4[i] = gg4[i] * d;
}

// ---- Texture reads (CPU adapters): x and g read through flat textures 4096 texels wide ----
// (texture_pool.rs, `flat`): rgba32float for the "…4_tex" entries, r32float for the others.

@group(0) @binding(0) var tx: UnaryTex;
@group(0) @binding(1) var tg: UnaryTex;

// Texel i of a flat texture.
fn flat(i: u32) -> vec2<u32> {
    return vec2<u32>(i % 4096u, i / 4096u);
}

@compute @workgroup_size(256)
fn unary_tex(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.x + gid.y * nwg.x * 256u;
    if (i >= p.n) { return; }
    out[i] = f(textureLoad(tx, flat(i)).x, p.alpha, p.beta);
}

@compute @workgroup_size(256)
fn unary_grad_tex(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.x + gid.y * nwg.x * 256u;
    if (i >= gp.n) { return; }
    gout[i] = textureLoad(tg, flat(i)).x * df(textureLoad(tx, flat(i)).x, gp.alpha, gp.beta);
}

@compute @workgroup_size(256)
fn unary4_tex(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.x + gid.y * nwg.x * 256u;
    if (i >= p4.n) { return; }
    let v = textureLoad(tx, flat(i));
    out4[i] = vec4<f32>(f(v.x, p4.alpha, p4.beta), f(v.y, p4.alpha, p4.beta), f(v.z, p4.alpha, p4.beta), f(v.w, p4.alpha, p4.beta));
}

@compute @workgroup_size(256)
fn unary_grad4_tex(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.x + gid.y * nwg.x * 256u;
    if (i >= gp4.n) { return; }
    let v = textureLoad(tx, flat(i));
    let d = vec4<f32>(df(v.x, gp4.alpha, gp4.beta), df(v.y, gp4.alpha, gp4.beta), df(v.z, gp4.alpha, gp4.beta), df(v.w, gp4.alpha, gp4.beta));
    gout4[i] = textureLoad(tg, flat(i)) * d;
}

// ---- unary_grad_colsum4_tex: dz = g * f'(z) over a [rows, 4 * n4] matrix, and its column sums
// The backward of `Tensor::linear_act` when rows are few: 8 invocations per column group of 4
// walk every 8th row each (row phase 0..7), writing dz (gout4) and adding it up, and the
// workgroup sums the 8 parts (colsum4: the bias gradient), so one dispatch does what a gradient
// pass and a reduction did. One invocation per column group walking every row ran [1000, 64]
// on one CPU thread (16 invocations, one workgroup); this spreads it over n4 / 8 workgroups.
// z and g read through flat rgba32float copies as above. The row count is read with a 0
// derived from a texture query added, so that lavapipe cannot inline it as a constant (see
// conv_grad_weight_rows.wgsl).
// Grid: ceil(n4 / 8) workgroups of 64 = 8 row phases x 8 column groups, the column group the
// fast index: 8 neighbouring lanes read 8 neighbouring texels of one row (~8% faster on
// lavapipe than 8 rows of one column group).
struct ColParams {
    rows: u32,
    n4: u32,
    alpha: f32,
    beta: f32,
}

@group(0) @binding(3) var<storage, read_write> colsum4: array<vec4<f32>>; // colsum4 is [n4]
@group(0) @binding(4) var<uniform> cp: ColParams;

var<workgroup> col_parts: array<vec4<f32>, 64>;

@compute @workgroup_size(64)
fn unary_grad_colsum4_tex(
    @builtin(workgroup_id) wg: vec3<u32>,
    @builtin(local_invocation_index) lidx: u32,
) {
    let c = wg.x * 8u + lidx % 8u;
    let phase = lidx / 8u;
    let rows = select(0u, cp.rows + (textureDimensions(tx).x >> 16u), c < cp.n4);
    var acc = vec4<f32>(0.0);
    for (var r = phase; r < rows; r += 8u) {
        let i = r * cp.n4 + c;
        let v = textureLoad(tx, flat(i));
        let d = vec4<f32>(df(v.x, cp.alpha, cp.beta), df(v.y, cp.alpha, cp.beta), df(v.z, cp.alpha, cp.beta), df(v.w, cp.alpha, cp.beta));
        let dz = textureLoad(tg, flat(i)) * d;
        gout4[i] = dz;
        acc += dz;
    }
    col_parts[lidx] = acc;
    workgroupBarrier();
    if (phase == 0u && c < cp.n4) {
        var s = vec4<f32>(0.0);
        for (var j = 0u; j < 8u; j++) {
            s += col_parts[lidx + 8u * j];
        }
        colsum4[c] = s;
    }
}
