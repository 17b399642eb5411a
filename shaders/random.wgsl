// Counter-based random numbers: Philox 4x32-10 (Salmon, Moraes, Dror, Shaw, "Parallel random
// numbers: as easy as 1, 2, 3", SC 2011). Launched by engine/src/ops/random.rs.
//
// Legend: n = values to write, T = ceil(n / 4) invocations.
// Invocation i encrypts the counter (c, 0, 0) with c = ctr + i (a 64-bit add) under the
// 64-bit key (the seed), giving 4 u32 -> out[4i .. 4i+4] (the last block may be cut short).
//
//   philox_bits: the raw u32 (to test against the CPU Philox in engine/src/ops/random.rs)
//   philox, MODE 1: uniform in [0, 1):  (x >> 8) * 2^-24, exact in f32
//   philox, MODE 2: normal N(0, 1): Box-Muller on the pairs (x0, x1) and (x2, x3)

override MODE: u32 = 1u;

struct Params {
    n: u32,          // values to write
    key_lo: u32,     // seed, low and high words
    key_hi: u32,
    ctr_lo: u32,     // first counter (the stream offset / 4), low and high words
    ctr_hi: u32,
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
}

@group(0) @binding(0) var<storage, read_write> out: array<f32>; // out is [n]
@group(0) @binding(1) var<uniform> p: Params;

const M0: u32 = 0xD2511F53u;
const M1: u32 = 0xCD9E8D57u;
const W0: u32 = 0x9E3779B9u;
const W1: u32 = 0xBB67AE85u;

// The high 32 bits of the 64-bit product a * b, from 16-bit halves (WGSL has no u64).
fn mulhi(a: u32, b: u32) -> u32 {
    let a0 = a & 0xFFFFu;
    let a1 = a >> 16u;
    let b0 = b & 0xFFFFu;
    let b1 = b >> 16u;
    let ll = a0 * b0;
    let lh = a0 * b1;
    let hl = a1 * b0;
    let hh = a1 * b1;
    // Each term below is < 3 * 2^16, so the sum cannot overflow.
    let mid = (ll >> 16u) + (lh & 0xFFFFu) + (hl & 0xFFFFu);
    return hh + (lh >> 16u) + (hl >> 16u) + (mid >> 16u);
}

fn philox4x32_10(ctr_in: vec4<u32>, key_in: vec2<u32>) -> vec4<u32> {
    var c = ctr_in;
    var k = key_in;
    for (var r = 0u; r < 10u; r++) {
        if (r > 0u) {
            k = k + vec2<u32>(W0, W1); // the key schedule (wrapping adds)
        }
        let hi0 = mulhi(M0, c.x);
        let lo0 = M0 * c.x;
        let hi1 = mulhi(M1, c.z);
        let lo1 = M1 * c.z;
        c = vec4<u32>(hi1 ^ c.y ^ k.x, lo1, hi0 ^ c.w ^ k.y, lo0);
    }
    return c;
}

const TWO_PI: f32 = 6.283185307179586;
const PI: f32 = 3.141592653589793;

// Box-Muller: u1 from all 32 bits, never 0 (so the log is finite); the angle in [-pi, pi),
// where WGSL's sin and cos are accurate.
fn box_muller(a: u32, b: u32) -> vec2<f32> {
    let u1 = (f32(a) + 0.5) * 2.3283064365386963e-10; // (a + 1/2) / 2^32, in (0, 1]
    let theta = f32(b >> 8u) * (TWO_PI / 16777216.0) - PI;
    let r = sqrt(-2.0 * log(u1));
    return vec2<f32>(r * cos(theta), r * sin(theta));
}

// The 4 words of invocation i: counter (ctr + i, 0, 0) as a 64-bit add, key (key_lo, key_hi).
fn block(i: u32, q: Params) -> vec4<u32> {
    let lo = q.ctr_lo + i;
    let hi = q.ctr_hi + select(0u, 1u, lo < i); // carry into the high word
    return philox4x32_10(vec4<u32>(lo, hi, 0u, 0u), vec2<u32>(q.key_lo, q.key_hi));
}

// The 4 values of invocation i (uniform or normal, by MODE).
fn values(i: u32) -> vec4<f32> {
    let x = block(i, p);
    if (MODE == 1u) {
        return vec4<f32>(x >> vec4<u32>(8u)) * (1.0 / 16777216.0);
    }
    return vec4<f32>(box_muller(x.x, x.y), box_muller(x.z, x.w));
}

@compute @workgroup_size(256)
fn philox(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.x + gid.y * nwg.x * 256u;
    let base = i * 4u;
    if (base >= p.n) { return; }
    let v = values(i);
    let m = min(p.n - base, 4u);
    for (var k = 0u; k < m; k++) {
        out[base + k] = v[k];
    }
}

// philox for n % 4 == 0: one vec4 store per invocation (CPU adapters store a vec4 several
// times faster than 4 floats one by one: `--example access_probe`).
@group(0) @binding(0) var<storage, read_write> out4: array<vec4<f32>>; // out is [n / 4]

@compute @workgroup_size(256)
fn philox4(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.x + gid.y * nwg.x * 256u;
    if (i * 4u >= p.n) { return; }
    out4[i] = values(i);
}

@group(0) @binding(0) var<storage, read_write> bits: array<u32>; // bits is [n]
@group(0) @binding(1) var<uniform> bp: Params;

@compute @workgroup_size(256)
fn philox_bits(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.x + gid.y * nwg.x * 256u;
    let base = i * 4u;
    if (base >= bp.n) { return; }
    let x = block(i, bp);
    let m = min(bp.n - base, 4u);
    for (var k = 0u; k < m; k++) {
        bits[base + k] = x[k];
    }
}
