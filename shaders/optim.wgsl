// Optimizer updates, EMA, and gradient-norm clipping. Launched by engine/src/optim/.
//
// Legend: n = elements of one parameter tensor; P = partial sums of squares (one per
// workgroup of `sumsq_partial`, over all the gradients being clipped).
// Every update is in place: a dispatch writes the parameter and its state buffers (momentum,
// Adam moments, EMA shadow), for one parameter tensor or (adam_multi, ema_multi) several.

struct Params {
    n: u32,
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
    lr: f32,
    momentum: f32,   // SGD momentum; Adam beta1
    beta2: f32,
    eps: f32,
    weight_decay: f32,
    bc1: f32,        // Adam bias corrections 1 - beta1^t, 1 - beta2^t
    bc2: f32,
    _pad3: f32,
}

fn index(gid: vec3<u32>, nwg: vec3<u32>) -> u32 {
    return gid.x + gid.y * nwg.x * 256u;
}

// ---- SGD with momentum (PyTorch's form): buf = momentum * buf + g; p -= lr * buf ----------

@group(0) @binding(0) var<storage, read_write> sgd_p: array<f32>;   // sgd_p is [n]
@group(0) @binding(1) var<storage, read> sgd_g: array<f32>;         // sgd_g is [n]
@group(0) @binding(2) var<storage, read_write> sgd_buf: array<f32>; // sgd_buf is [n]
@group(0) @binding(3) var<uniform> sgd_u: Params;

@compute @workgroup_size(256)
fn sgd_step(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = index(gid, nwg);
    if (i >= sgd_u.n) { return; }
    let b = sgd_u.momentum * sgd_buf[i] + sgd_g[i];
    sgd_buf[i] = b;
    sgd_p[i] = sgd_p[i] - sgd_u.lr * b;
}

// ---- Adam (Kingma & Ba 2015) and AdamW (Loshchilov & Hutter 2019) -------------------------
// DECOUPLED = 0 (Adam):  g += wd * p                 (L2 penalty in the gradient)
// DECOUPLED = 1 (AdamW): p -= lr * wd * p            (decoupled decay, before the step)
// m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2;  p -= lr * (m / bc1) / (sqrt(v / bc2) + eps)

override DECOUPLED: u32 = 0u;

@group(0) @binding(0) var<storage, read_write> adam_p: array<f32>; // adam_p is [n]
@group(0) @binding(1) var<storage, read> adam_g: array<f32>;       // adam_g is [n]
@group(0) @binding(2) var<storage, read_write> adam_m: array<f32>; // adam_m is [n]
@group(0) @binding(3) var<storage, read_write> adam_v: array<f32>; // adam_v is [n]
@group(0) @binding(4) var<uniform> adam_u: Params;

// The new (p, m, v) from (p, g, m, v), 4 values at a time (the scalar entry uses lane x).
struct AdamOut {
    p: vec4<f32>,
    m: vec4<f32>,
    v: vec4<f32>,
}

fn adam(u: Params, p_in: vec4<f32>, g_in: vec4<f32>, m_in: vec4<f32>, v_in: vec4<f32>) -> AdamOut {
    var p = p_in;
    var g = g_in;
    if (DECOUPLED == 1u) {
        p = p - u.lr * u.weight_decay * p;
    } else {
        g = g + u.weight_decay * p;
    }
    let b1 = u.momentum;
    let b2 = u.beta2;
    let m = b1 * m_in + (1.0 - b1) * g;
    let v = b2 * v_in + (1.0 - b2) * g * g;
    return AdamOut(p - u.lr * (m / u.bc1) / (sqrt(v / u.bc2) + u.eps), m, v);
}

@compute @workgroup_size(256)
fn adam_step(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = index(gid, nwg);
    if (i >= adam_u.n) { return; }
    let r = adam(adam_u, vec4<f32>(adam_p[i]), vec4<f32>(adam_g[i]), vec4<f32>(adam_m[i]), vec4<f32>(adam_v[i]));
    adam_m[i] = r.m.x;
    adam_v[i] = r.v.x;
    adam_p[i] = r.p.x;
}

// adam_step on 4 values per invocation (n % 4 == 0, n counting vec4s), for CPU adapters:
// p, g, m, v read through flat rgba32float copies (texture_pool.rs, `flat`: texel i holds
// values 4i..4i+3 at (i % 4096, i / 4096)), the results written to the buffers.
@group(0) @binding(0) var at_p: texture_storage_2d<rgba32float, read>;
@group(0) @binding(1) var at_g: texture_storage_2d<rgba32float, read>;
@group(0) @binding(2) var at_m: texture_storage_2d<rgba32float, read>;
@group(0) @binding(3) var at_v: texture_storage_2d<rgba32float, read>;
@group(0) @binding(4) var<storage, read_write> at_p_out: array<vec4<f32>>; // [n / 4]
@group(0) @binding(5) var<storage, read_write> at_m_out: array<vec4<f32>>; // [n / 4]
@group(0) @binding(6) var<storage, read_write> at_v_out: array<vec4<f32>>; // [n / 4]
@group(0) @binding(7) var<uniform> adam_u4: Params;

fn flat(i: u32) -> vec2<u32> {
    return vec2<u32>(i % 4096u, i / 4096u);
}

@compute @workgroup_size(256)
fn adam_step4_tex(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = index(gid, nwg);
    if (i >= adam_u4.n) { return; }
    let t = flat(i);
    let r = adam(adam_u4, textureLoad(at_p, t), textureLoad(at_g, t), textureLoad(at_m, t), textureLoad(at_v, t));
    at_p_out[i] = r.p;
    at_m_out[i] = r.m;
    at_v_out[i] = r.v;
}

// ---- EMA of the weights: shadow = d * shadow + (1 - d) * p (d in `momentum`) --------------

@group(0) @binding(0) var<storage, read> ema_p: array<f32>;              // ema_p is [n]
@group(0) @binding(1) var<storage, read_write> ema_shadow: array<f32>;   // ema_shadow is [n]
@group(0) @binding(2) var<uniform> ema_u: Params;

@compute @workgroup_size(256)
fn ema_update(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = index(gid, nwg);
    if (i >= ema_u.n) { return; }
    let d = ema_u.momentum;
    ema_shadow[i] = d * ema_shadow[i] + (1.0 - d) * ema_p[i];
}

// ema_update on 4 values per invocation (n counting vec4s), p and the shadow read through
// flat rgba32float copies as for adam_step4_tex.
@group(0) @binding(0) var et_p: texture_storage_2d<rgba32float, read>;
@group(0) @binding(1) var et_shadow: texture_storage_2d<rgba32float, read>;
@group(0) @binding(2) var<storage, read_write> et_out: array<vec4<f32>>; // the shadow, [n / 4]
@group(0) @binding(3) var<uniform> ema_u4: Params;

@compute @workgroup_size(256)
fn ema_update4_tex(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = index(gid, nwg);
    if (i >= ema_u4.n) { return; }
    let d = ema_u4.momentum;
    et_out[i] = d * textureLoad(et_shadow, flat(i)) + (1.0 - d) * textureLoad(et_p, flat(i));
}

// ---- Several parameters per dispatch (foreach): adam_multi, adam_multi8, ema_multi ---------
// One dispatch updates up to 4 or 8 (Adam: adam_multi binds 16 storage buffers, adam_multi8
// 32 where the device has them) or 8 (EMA) parameter tensors held in separate buffers, 4
// values per invocation (each buffer seen as vec4s: a tensor's buffer is a whole number of
// vec4s, at least 256 bytes (pool.rs), so the values past its last element in its last vec4
// are the buffer's padding, updated and never read as the tensor). On adapters where a
// dispatch costs more than updating a small tensor, a model's many small parameters (biases,
// norms, adapters) take one dispatch per 4 or 8 instead of one each. The invocations of a
// dispatch run over the slots' vec4s laid end to end: slot s covers vec4s ends[s - 1] ..
// ends[s] (ends[-1] = 0), so vec4 j of slot s is invocation ends[s - 1] + j. Unused slots
// repeat slot 0's buffers and cover nothing (their ends equal the total). The arithmetic is
// adam() and the EMA's above, so a parameter gets the same bits through either path.

struct MultiParams {
    u: Params,
    ends: array<vec4<u32>, 2>, // cumulative vec4 counts of slots 0..7 (padded with the total)
}

// The slot of invocation i (i below the total): how many slot ends are at or before it.
fn slot_of(i: u32, e0: vec4<u32>, e1: vec4<u32>) -> u32 {
    let one = vec4<u32>(1u);
    let zero = vec4<u32>(0u);
    return dot(select(zero, one, vec4<u32>(i) >= e0), one) + dot(select(zero, one, vec4<u32>(i) >= e1), one);
}

// The first invocation of slot s.
fn slot_start(s: u32, e0: vec4<u32>, e1: vec4<u32>) -> u32 {
    if (s == 0u) { return 0u; }
    let k = s - 1u;
    if (k < 4u) { return e0[k]; }
    return e1[k - 4u];
}

@group(0) @binding(0) var<storage, read_write> am_p0: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read> am_g0: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read_write> am_m0: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> am_v0: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read_write> am_p1: array<vec4<f32>>;
@group(0) @binding(5) var<storage, read> am_g1: array<vec4<f32>>;
@group(0) @binding(6) var<storage, read_write> am_m1: array<vec4<f32>>;
@group(0) @binding(7) var<storage, read_write> am_v1: array<vec4<f32>>;
@group(0) @binding(8) var<storage, read_write> am_p2: array<vec4<f32>>;
@group(0) @binding(9) var<storage, read> am_g2: array<vec4<f32>>;
@group(0) @binding(10) var<storage, read_write> am_m2: array<vec4<f32>>;
@group(0) @binding(11) var<storage, read_write> am_v2: array<vec4<f32>>;
@group(0) @binding(12) var<storage, read_write> am_p3: array<vec4<f32>>;
@group(0) @binding(13) var<storage, read> am_g3: array<vec4<f32>>;
@group(0) @binding(14) var<storage, read_write> am_m3: array<vec4<f32>>;
@group(0) @binding(15) var<storage, read_write> am_v3: array<vec4<f32>>;
@group(0) @binding(16) var<storage, read_write> am_p4: array<vec4<f32>>;
@group(0) @binding(17) var<storage, read> am_g4: array<vec4<f32>>;
@group(0) @binding(18) var<storage, read_write> am_m4: array<vec4<f32>>;
@group(0) @binding(19) var<storage, read_write> am_v4: array<vec4<f32>>;
@group(0) @binding(20) var<storage, read_write> am_p5: array<vec4<f32>>;
@group(0) @binding(21) var<storage, read> am_g5: array<vec4<f32>>;
@group(0) @binding(22) var<storage, read_write> am_m5: array<vec4<f32>>;
@group(0) @binding(23) var<storage, read_write> am_v5: array<vec4<f32>>;
@group(0) @binding(24) var<storage, read_write> am_p6: array<vec4<f32>>;
@group(0) @binding(25) var<storage, read> am_g6: array<vec4<f32>>;
@group(0) @binding(26) var<storage, read_write> am_m6: array<vec4<f32>>;
@group(0) @binding(27) var<storage, read_write> am_v6: array<vec4<f32>>;
@group(0) @binding(28) var<storage, read_write> am_p7: array<vec4<f32>>;
@group(0) @binding(29) var<storage, read> am_g7: array<vec4<f32>>;
@group(0) @binding(30) var<storage, read_write> am_m7: array<vec4<f32>>;
@group(0) @binding(31) var<storage, read_write> am_v7: array<vec4<f32>>;
// adam_multi and adam_multi8 are two entry points, not one with a slot-count override: an
// entry point binds every buffer it names, and adam_multi must bind only 16 (Metal has 31).
@group(0) @binding(16) var<uniform> am_u: MultiParams;  // adam_multi's
@group(0) @binding(32) var<uniform> am_u8: MultiParams; // adam_multi8's

// Adam on vec4 j of slot k's parameter.
fn adam_slot0(u: Params, j: u32) {
    let r = adam(u, am_p0[j], am_g0[j], am_m0[j], am_v0[j]);
    am_p0[j] = r.p;
    am_m0[j] = r.m;
    am_v0[j] = r.v;
}
fn adam_slot1(u: Params, j: u32) {
    let r = adam(u, am_p1[j], am_g1[j], am_m1[j], am_v1[j]);
    am_p1[j] = r.p;
    am_m1[j] = r.m;
    am_v1[j] = r.v;
}
fn adam_slot2(u: Params, j: u32) {
    let r = adam(u, am_p2[j], am_g2[j], am_m2[j], am_v2[j]);
    am_p2[j] = r.p;
    am_m2[j] = r.m;
    am_v2[j] = r.v;
}
fn adam_slot3(u: Params, j: u32) {
    let r = adam(u, am_p3[j], am_g3[j], am_m3[j], am_v3[j]);
    am_p3[j] = r.p;
    am_m3[j] = r.m;
    am_v3[j] = r.v;
}
fn adam_slot4(u: Params, j: u32) {
    let r = adam(u, am_p4[j], am_g4[j], am_m4[j], am_v4[j]);
    am_p4[j] = r.p;
    am_m4[j] = r.m;
    am_v4[j] = r.v;
}
fn adam_slot5(u: Params, j: u32) {
    let r = adam(u, am_p5[j], am_g5[j], am_m5[j], am_v5[j]);
    am_p5[j] = r.p;
    am_m5[j] = r.m;
    am_v5[j] = r.v;
}
fn adam_slot6(u: Params, j: u32) {
    let r = adam(u, am_p6[j], am_g6[j], am_m6[j], am_v6[j]);
    am_p6[j] = r.p;
    am_m6[j] = r.m;
    am_v6[j] = r.v;
}
fn adam_slot7(u: Params, j: u32) {
    let r = adam(u, am_p7[j], am_g7[j], am_m7[j], am_v7[j]);
    am_p7[j] = r.p;
    am_m7[j] = r.m;
    am_v7[j] = r.v;
}

@compute @workgroup_size(256)
fn adam_multi(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = index(gid, nwg);
    let e0 = am_u.ends[0];
    let e1 = am_u.ends[1];
    if (i >= e1.w) { return; }
    let s = slot_of(i, e0, e1);
    let j = i - slot_start(s, e0, e1);
    switch s {
        case 0u: { adam_slot0(am_u.u, j); }
        case 1u: { adam_slot1(am_u.u, j); }
        case 2u: { adam_slot2(am_u.u, j); }
        case 3u: { adam_slot3(am_u.u, j); }
        default: {}
    }
}

@compute @workgroup_size(256)
fn adam_multi8(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = index(gid, nwg);
    let e0 = am_u8.ends[0];
    let e1 = am_u8.ends[1];
    if (i >= e1.w) { return; }
    let s = slot_of(i, e0, e1);
    let j = i - slot_start(s, e0, e1);
    switch s {
        case 0u: { adam_slot0(am_u8.u, j); }
        case 1u: { adam_slot1(am_u8.u, j); }
        case 2u: { adam_slot2(am_u8.u, j); }
        case 3u: { adam_slot3(am_u8.u, j); }
        case 4u: { adam_slot4(am_u8.u, j); }
        case 5u: { adam_slot5(am_u8.u, j); }
        case 6u: { adam_slot6(am_u8.u, j); }
        case 7u: { adam_slot7(am_u8.u, j); }
        default: {}
    }
}

@group(0) @binding(0) var<storage, read> em_p0: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read_write> em_s0: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> em_p1: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> em_s1: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read> em_p2: array<vec4<f32>>;
@group(0) @binding(5) var<storage, read_write> em_s2: array<vec4<f32>>;
@group(0) @binding(6) var<storage, read> em_p3: array<vec4<f32>>;
@group(0) @binding(7) var<storage, read_write> em_s3: array<vec4<f32>>;
@group(0) @binding(8) var<storage, read> em_p4: array<vec4<f32>>;
@group(0) @binding(9) var<storage, read_write> em_s4: array<vec4<f32>>;
@group(0) @binding(10) var<storage, read> em_p5: array<vec4<f32>>;
@group(0) @binding(11) var<storage, read_write> em_s5: array<vec4<f32>>;
@group(0) @binding(12) var<storage, read> em_p6: array<vec4<f32>>;
@group(0) @binding(13) var<storage, read_write> em_s6: array<vec4<f32>>;
@group(0) @binding(14) var<storage, read> em_p7: array<vec4<f32>>;
@group(0) @binding(15) var<storage, read_write> em_s7: array<vec4<f32>>;
@group(0) @binding(16) var<uniform> em_u: MultiParams;

@compute @workgroup_size(256)
fn ema_multi(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = index(gid, nwg);
    let e0 = em_u.ends[0];
    let e1 = em_u.ends[1];
    if (i >= e1.w) { return; }
    let s = slot_of(i, e0, e1);
    let j = i - slot_start(s, e0, e1);
    let d = em_u.u.momentum;
    switch s {
        case 0u: { em_s0[j] = d * em_s0[j] + (1.0 - d) * em_p0[j]; }
        case 1u: { em_s1[j] = d * em_s1[j] + (1.0 - d) * em_p1[j]; }
        case 2u: { em_s2[j] = d * em_s2[j] + (1.0 - d) * em_p2[j]; }
        case 3u: { em_s3[j] = d * em_s3[j] + (1.0 - d) * em_p3[j]; }
        case 4u: { em_s4[j] = d * em_s4[j] + (1.0 - d) * em_p4[j]; }
        case 5u: { em_s5[j] = d * em_s5[j] + (1.0 - d) * em_p5[j]; }
        case 6u: { em_s6[j] = d * em_s6[j] + (1.0 - d) * em_p6[j]; }
        case 7u: { em_s7[j] = d * em_s7[j] + (1.0 - d) * em_p7[j]; }
        default: {}
    }
}

// ---- Global gradient norm -----------------------------------------------------------------
// sumsq_partial: workgroup w of one gradient g (grid-stride over its n elements) writes
//   partial[base + w] = sum of g^2 over the elements it visited.
// sumsq_finish: one workgroup sums partial[0 .. count] and writes norm[0] = sqrt(total).
// clip_scale: out = g * min(1, max_norm / (norm + 1e-6)).

struct ReduceParams {
    n: u32,          // elements of g (sumsq_partial, clip_scale) or partials (sumsq_finish)
    base: u32,       // first slot of `partial` this gradient writes
    _pad0: u32,
    max_norm: f32,
}

var<workgroup> scratch: array<f32, 256>;

// Tree sum of scratch[0..256] into scratch[0].
fn workgroup_sum(lid: u32) {
    for (var s = 128u; s > 0u; s = s >> 1u) {
        workgroupBarrier();
        if (lid < s) {
            scratch[lid] = scratch[lid] + scratch[lid + s];
        }
    }
    workgroupBarrier();
}

@group(0) @binding(0) var<storage, read> sq_g: array<f32>;              // sq_g is [n]
@group(0) @binding(1) var<storage, read_write> sq_partial: array<f32>;  // sq_partial is [P]
@group(0) @binding(2) var<uniform> sq_u: ReduceParams;

@compute @workgroup_size(256)
fn sumsq_partial(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>,
                 @builtin(num_workgroups) nwg: vec3<u32>) {
    var acc = 0.0;
    for (var i = wid.x * 256u + lid.x; i < sq_u.n; i += nwg.x * 256u) {
        let v = sq_g[i];
        acc += v * v;
    }
    scratch[lid.x] = acc;
    workgroup_sum(lid.x);
    if (lid.x == 0u) {
        sq_partial[sq_u.base + wid.x] = scratch[0];
    }
}

@group(0) @binding(0) var<storage, read> fin_partial: array<f32>;       // fin_partial is [P]
@group(0) @binding(1) var<storage, read_write> fin_norm: array<f32>;    // fin_norm is [1]
@group(0) @binding(2) var<uniform> fin_u: ReduceParams;

@compute @workgroup_size(256)
fn sumsq_finish(@builtin(local_invocation_id) lid: vec3<u32>) {
    var acc = 0.0;
    for (var i = lid.x; i < fin_u.n; i += 256u) {
        acc += fin_partial[i];
    }
    scratch[lid.x] = acc;
    workgroup_sum(lid.x);
    if (lid.x == 0u) {
        fin_norm[0] = sqrt(scratch[0]);
    }
}

@group(0) @binding(0) var<storage, read> clip_g: array<f32>;            // clip_g is [n]
@group(0) @binding(1) var<storage, read> clip_norm: array<f32>;         // clip_norm is [1]
@group(0) @binding(2) var<storage, read_write> clip_out: array<f32>;    // clip_out is [n]
@group(0) @binding(3) var<uniform> clip_u: ReduceParams;

@compute @workgroup_size(256)
fn clip_scale(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = index(gid, nwg);
    if (i >= clip_u.n) { return; }
    let scale = min(1.0, clip_u.max_norm / (clip_norm[0] + 1e-6));
    clip_out[i] = clip_g[i] * scale;
}
