// Packs a matmul operand into the rgba32float texture the kernels of matmul_texture.wgsl read
// (4 values per texel along op(X)'s rows, transposing when the source is stored transposed).
// Launched by engine/src/ops/matmul_texture.rs (`operand`), for operands whose rows are
// neither whole 256-byte copy rows nor a multiple of 4 values, and which the thin kernels do
// not read flat.
//
//   src is [rows, cols] (or [cols, rows] when TRANS), or, batched, one such matrix per grid z
//   out is cols / 4 (rounded up) wide and rows high per batch item, items one above the other:
//     texel (x, r) = op(X)[r, 4x..4x+3], zero past cols

// One invocation per texel of the packed texture: x over N4 (or K4), y over the rows.

override TRANS: bool = false; // the source holds the transpose: element (r, c) at c * rows + r

struct PackParams {
    rows: u32,
    cols: u32,
    _pad0: u32,
    _pad1: u32,
}

@group(0) @binding(0) var<storage, read> pk_src: array<f32>; // [rows, cols] (or [cols, rows] when TRANS)
@group(0) @binding(1) var pk_out: texture_storage_2d<rgba32float, write>;
@group(0) @binding(2) var<uniform> pk: PackParams;

// Where element (r, c) of the matrix sits in its source.
fn pk_index(r: u32, c: u32) -> u32 {
    return pk_item + select(r * pk.cols + c, c * pk.rows + r, TRANS);
}

// The first source element of this invocation's batch item (grid z; 0 unbatched).
var<private> pk_item: u32;

fn pk_at(r: u32, c: u32) -> f32 {
    if (c >= pk.cols) { return 0.0; }
    return pk_src[pk_index(r, c)];
}

@compute @workgroup_size(8, 8)
fn matmul_pack(@builtin(global_invocation_id) gid: vec3<u32>) {
    let x = gid.x;
    let r = gid.y;
    if (r >= pk.rows || x * 4u >= pk.cols) { return; }
    let c = x * 4u;
    pk_item = gid.z * pk.rows * pk.cols;
    let v = vec4<f32>(pk_at(r, c), pk_at(r, c + 1u), pk_at(r, c + 2u), pk_at(r, c + 3u));
    textureStore(pk_out, vec2<u32>(x, gid.z * pk.rows + r), v);
}

// matmul_pack with the source read through a flat r32float copy (texture_pool.rs, `flat`:
// value i at texel (i % 4096, i / 4096)) instead of the storage buffer.
@group(0) @binding(0) var pk_flat: texture_storage_2d<r32float, read>;

fn pk_flat_at(r: u32, c: u32) -> f32 {
    if (c >= pk.cols) { return 0.0; }
    let i = pk_index(r, c);
    return textureLoad(pk_flat, vec2<u32>(i % 4096u, i / 4096u)).x;
}

@compute @workgroup_size(8, 8)
fn matmul_pack_tex(@builtin(global_invocation_id) gid: vec3<u32>) {
    let x = gid.x;
    let r = gid.y;
    if (r >= pk.rows || x * 4u >= pk.cols) { return; }
    let c = x * 4u;
    pk_item = gid.z * pk.rows * pk.cols;
    let v = vec4<f32>(pk_flat_at(r, c), pk_flat_at(r, c + 1u), pk_flat_at(r, c + 2u), pk_flat_at(r, c + 3u));
    textureStore(pk_out, vec2<u32>(x, gid.z * pk.rows + r), v);
}
