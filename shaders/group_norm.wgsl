// Group norm and batch norm (training), forward and backward, fused. Launched by
// engine/src/ops/group_norm.rs.
//
// Legend: N = batch, C = channels, G = groups, CG = C / G channels per group, S = spatial
// size; a plane is one (n, c): S values; a group is one (n, g): CG planes, CG * S values.
// With BATCH (batch norm) a group is one channel c over the batch instead: the N planes
// (0, c), (1, c), .., N * S values, and there are C groups (G = C).
//   x, y, dy, dx are [N, C, S]; gamma, beta are [C]
//   stats is [N * G, 2] ([C, 2] with BATCH): (mean, rstd) of each group,
//   rstd = 1 / sqrt(var + eps), var biased
//   xhat = (x - mean) * rstd, y = xhat * gamma[c] + beta[c]
// Backward, with dxhat = dy * gamma[c] and means over the group:
//   dx = rstd * (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat))
//   dgamma[c] = sum over n, s of dy * xhat;  dbeta[c] = sum over n, s of dy
// Both directions start from per-plane sums (one invocation walks one plane), combine them
// per group (one invocation per group), then map every element: 3 dispatches each way, where
// the same op composed from primitives took about 15 forward and 25 backward.
//
// Entry points:
//   gn_plane_moments  forward:  per plane, mean and M2 = sum (x - plane mean)^2
//   gn_group_stats    forward:  per group, mean and rstd from its planes' (Chan's formula)
//   gn_apply          forward:  y from x, stats, gamma, beta
//   gn_plane_grads    backward: per plane, sum dy and sum dy * xhat
//   gn_group_grads    backward: per group, mean(dxhat) and mean(dxhat * xhat)
//   gn_dx             backward: dx from dy, x, stats, gamma and the group means

struct Params {
    n: u32,
    c: u32,
    g: u32,
    s: u32,
    eps: f32,
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
}

override BATCH: bool = false; // batch norm's groups (see the legend)

// The group of plane q = n * C + c.
fn group_of(q: u32, c: u32, g: u32) -> u32 {
    if (BATCH) { return q % c; }
    return q / (c / g);
}

// How many groups there are.
fn group_count(q: Params) -> u32 {
    if (BATCH) { return q.c; }
    return q.n * q.g;
}

// Group grp's planes: (first, stride, count), planes first + j * stride for j < count.
fn group_planes(grp: u32, q: Params) -> vec3<u32> {
    if (BATCH) { return vec3<u32>(grp, q.c, q.n); }
    let cg = q.c / q.g;
    return vec3<u32>(grp * cg, 1u, cg); // planes of group (n, g) are n*C + g*CG .. + CG
}

// ---- gn_plane_moments ----
// One invocation per plane: sums of d = x - x[plane, 0] (a shift that keeps the variance
// exact to rounding when the mean is large), giving mean = shift + sum d / S and
// M2 = sum d^2 - (sum d)^2 / S.

@group(0) @binding(0) var<storage, read> pm_x: array<f32>;              // x is [N, C, S]
@group(0) @binding(1) var<storage, read_write> pm_out: array<vec2<f32>>; // [N * C]: (mean, M2)
@group(0) @binding(2) var<uniform> p: Params;

@compute @workgroup_size(64)
fn gn_plane_moments(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let plane = gid.x + gid.y * nwg.x * 64u;
    if (plane >= p.n * p.c) { return; }
    let base = plane * p.s;
    let shift = pm_x[base];
    var s1 = 0.0;
    var s2 = 0.0;
    for (var j = 0u; j < p.s; j++) {
        let d = pm_x[base + j] - shift;
        s1 += d;
        s2 += d * d;
    }
    let count = f32(p.s);
    pm_out[plane] = vec2<f32>(shift + s1 / count, max(s2 - s1 * s1 / count, 0.0));
}

// ---- gn_group_stats ----
// One invocation per group: mean = average of its planes' means (equal counts), and
// M2 = sum of the planes' M2 + S * sum (plane mean - mean)^2.

@group(0) @binding(0) var<storage, read> gs_planes: array<vec2<f32>>;   // [N * C]: (mean, M2)
@group(0) @binding(1) var<storage, read_write> gs_out: array<vec2<f32>>; // stats, [N * G]

@compute @workgroup_size(64)
fn gn_group_stats(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let grp = gid.x + gid.y * nwg.x * 64u;
    if (grp >= group_count(p)) { return; }
    let gp = group_planes(grp, p);
    var mean = 0.0;
    for (var j = 0u; j < gp.z; j++) { mean += gs_planes[gp.x + j * gp.y].x; }
    mean /= f32(gp.z);
    var m2 = 0.0;
    for (var j = 0u; j < gp.z; j++) {
        let q = gs_planes[gp.x + j * gp.y];
        let d = q.x - mean;
        m2 += q.y + f32(p.s) * d * d;
    }
    let var_ = m2 / f32(gp.z * p.s);
    gs_out[grp] = vec2<f32>(mean, inverseSqrt(var_ + p.eps));
}

// ---- gn_apply ----
// One invocation per element.

@group(0) @binding(0) var<storage, read> ap_x: array<f32>;          // x is [N, C, S]
@group(0) @binding(1) var<storage, read> ap_stats: array<vec2<f32>>; // [N * G]: (mean, rstd)
@group(0) @binding(2) var<storage, read> ap_gamma: array<f32>;      // [C]
@group(0) @binding(3) var<storage, read> ap_beta: array<f32>;       // [C]
@group(0) @binding(4) var<storage, read_write> ap_y: array<f32>;    // y is [N, C, S]
@group(0) @binding(5) var<uniform> ap: Params;

@compute @workgroup_size(64)
fn gn_apply(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.x + gid.y * nwg.x * 64u;
    if (i >= ap.n * ap.c * ap.s) { return; }
    let c = (i / ap.s) % ap.c;
    let st = ap_stats[group_of(i / ap.s, ap.c, ap.g)];
    ap_y[i] = (ap_x[i] - st.x) * st.y * ap_gamma[c] + ap_beta[c];
}

// ---- gn_plane_grads ----
// One invocation per plane: (sum dy, sum dy * xhat) over the plane.

@group(0) @binding(0) var<storage, read> pg_dy: array<f32>;             // dy is [N, C, S]
@group(0) @binding(1) var<storage, read> pg_x: array<f32>;              // x is [N, C, S]
@group(0) @binding(2) var<storage, read> pg_stats: array<vec2<f32>>;    // [N * G]
@group(0) @binding(3) var<storage, read_write> pg_out: array<vec2<f32>>; // [N * C]
@group(0) @binding(4) var<uniform> pg: Params;

@compute @workgroup_size(64)
fn gn_plane_grads(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let plane = gid.x + gid.y * nwg.x * 64u;
    if (plane >= pg.n * pg.c) { return; }
    let st = pg_stats[group_of(plane, pg.c, pg.g)];
    let base = plane * pg.s;
    var s1 = 0.0;
    var s2 = 0.0;
    for (var j = 0u; j < pg.s; j++) {
        let dy = pg_dy[base + j];
        s1 += dy;
        s2 += dy * (pg_x[base + j] - st.x);
    }
    pg_out[plane] = vec2<f32>(s1, s2 * st.y);
}

// ---- gn_group_grads ----
// One invocation per group: mean(dxhat) = sum over its planes of gamma[c] * sum dy, over its
// CG * S values (N * S with BATCH), and mean(dxhat * xhat) the same of gamma[c] * sum
// (dy * xhat).

@group(0) @binding(0) var<storage, read> gg_planes: array<vec2<f32>>;    // [N * C] from gn_plane_grads
@group(0) @binding(1) var<storage, read> gg_gamma: array<f32>;          // [C]
@group(0) @binding(2) var<storage, read_write> gg_out: array<vec2<f32>>; // [N * G]
@group(0) @binding(3) var<uniform> gg: Params;

@compute @workgroup_size(64)
fn gn_group_grads(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let grp = gid.x + gid.y * nwg.x * 64u;
    if (grp >= group_count(gg)) { return; }
    let gp = group_planes(grp, gg);
    var a = vec2<f32>(0.0);
    for (var j = 0u; j < gp.z; j++) {
        let q = gp.x + j * gp.y; // plane n * C + c
        a += gg_gamma[q % gg.c] * gg_planes[q];
    }
    gg_out[grp] = a / f32(gp.z * gg.s);
}

// ---- gn_dx ----
// One invocation per element.

@group(0) @binding(0) var<storage, read> dx_dy: array<f32>;            // dy is [N, C, S]
@group(0) @binding(1) var<storage, read> dx_x: array<f32>;             // x is [N, C, S]
@group(0) @binding(2) var<storage, read> dx_stats: array<vec2<f32>>;   // [N * G]: (mean, rstd)
@group(0) @binding(3) var<storage, read> dx_means: array<vec2<f32>>;   // [N * G] from gn_group_grads
@group(0) @binding(4) var<storage, read> dx_gamma: array<f32>;         // [C]
@group(0) @binding(5) var<storage, read_write> dx_out: array<f32>;     // dx is [N, C, S]
@group(0) @binding(6) var<uniform> dxp: Params;

@compute @workgroup_size(64)
fn gn_dx(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.x + gid.y * nwg.x * 64u;
    if (i >= dxp.n * dxp.c * dxp.s) { return; }
    let c = (i / dxp.s) % dxp.c;
    let grp = group_of(i / dxp.s, dxp.c, dxp.g);
    let st = dx_stats[grp];
    let m = dx_means[grp];
    let xhat = (dx_x[i] - st.x) * st.y;
    dx_out[i] = st.y * (dx_dy[i] * dx_gamma[c] - m.x - xhat * m.y);
}

// ---- Texture reads (CPU adapters; S % 4 == 0) ----
// The same four plane-walking and per-element kernels with x and dy read through flat
// rgba32float copies (texture_pool.rs, `flat`: texel i holds values 4i..4i+3 at
// (i % 4096, i / 4096)), so plane q is texels q * S/4 .. (q + 1) * S/4; the per-element ones
// handle 4 values of one plane per invocation. Stats, means, gamma, beta stay in buffers
// (one read per 4 values). Bindings as in the entry points above, x and dy as textures.

@group(0) @binding(0) var t0: texture_storage_2d<rgba32float, read>;
@group(0) @binding(1) var t1: texture_storage_2d<rgba32float, read>;
@group(0) @binding(4) var<storage, read_write> ap_y4: array<vec4<f32>>;  // y is [N, C, S]
@group(0) @binding(5) var<storage, read_write> dx_out4: array<vec4<f32>>; // dx is [N, C, S]

fn flat(i: u32) -> vec2<u32> {
    return vec2<u32>(i % 4096u, i / 4096u);
}

// t0 = x.
@compute @workgroup_size(64)
fn gn_plane_moments4_tex(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let plane = gid.x + gid.y * nwg.x * 64u;
    if (plane >= p.n * p.c) { return; }
    let s4 = p.s / 4u;
    let base = plane * s4;
    let shift = textureLoad(t0, flat(base)).x;
    var s1 = vec4<f32>(0.0);
    var s2 = vec4<f32>(0.0);
    for (var j = 0u; j < s4; j++) {
        let d = textureLoad(t0, flat(base + j)) - shift;
        s1 += d;
        s2 += d * d;
    }
    let count = f32(p.s);
    let t1_ = s1.x + s1.y + s1.z + s1.w;
    let t2_ = s2.x + s2.y + s2.z + s2.w;
    pm_out[plane] = vec2<f32>(shift + t1_ / count, max(t2_ - t1_ * t1_ / count, 0.0));
}

// t0 = x; one invocation per 4 values.
@compute @workgroup_size(64)
fn gn_apply4_tex(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.x + gid.y * nwg.x * 64u;
    let s4 = ap.s / 4u;
    if (i >= ap.n * ap.c * s4) { return; }
    let plane = i / s4;
    let c = plane % ap.c;
    let st = ap_stats[group_of(plane, ap.c, ap.g)];
    ap_y4[i] = (textureLoad(t0, flat(i)) - st.x) * (st.y * ap_gamma[c]) + ap_beta[c];
}

// t0 = dy, t1 = x.
@compute @workgroup_size(64)
fn gn_plane_grads4_tex(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let plane = gid.x + gid.y * nwg.x * 64u;
    if (plane >= pg.n * pg.c) { return; }
    let st = pg_stats[group_of(plane, pg.c, pg.g)];
    let s4 = pg.s / 4u;
    let base = plane * s4;
    var s1 = vec4<f32>(0.0);
    var s2 = vec4<f32>(0.0);
    for (var j = 0u; j < s4; j++) {
        let dy = textureLoad(t0, flat(base + j));
        s1 += dy;
        s2 += dy * (textureLoad(t1, flat(base + j)) - st.x);
    }
    pg_out[plane] = vec2<f32>(s1.x + s1.y + s1.z + s1.w, (s2.x + s2.y + s2.z + s2.w) * st.y);
}

// t0 = dy, t1 = x; one invocation per 4 values.
@compute @workgroup_size(64)
fn gn_dx4_tex(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.x + gid.y * nwg.x * 64u;
    let s4 = dxp.s / 4u;
    if (i >= dxp.n * dxp.c * s4) { return; }
    let plane = i / s4;
    let c = plane % dxp.c;
    let grp = group_of(plane, dxp.c, dxp.g);
    let st = dx_stats[grp];
    let m = dx_means[grp];
    let xhat = (textureLoad(t1, flat(i)) - st.x) * st.y;
    dx_out4[i] = st.y * (textureLoad(t0, flat(i)) * dx_gamma[c] - m.x - xhat * m.y);
}
