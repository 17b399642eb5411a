// One row's window of source values for the stride-1 conv kernels on CPU adapters
// (conv_rows.wgsl and conv_grad_weight_rows.wgsl; each module is compiled with this file after
// it, see engine/src/kernels.rs).
//
// The source sits row-major in a flat texture 4096 texels wide (engine/src/texture_pool.rs,
// `flat`): 4 values a texel when its rows are a multiple of 4 values (X_VEC4, WindowTex
// rgba32float), else one (r32float). WindowTex is a read-only storage texture whose format the
// launcher names (engine/src/kernels.rs, `Kernel::texture`). A texel read is one gather of all
// the lanes on CPU adapters, so 4 values a texel turn a window of 10-12 values into 3 or 4
// reads; in the weight gradient the 10 single-value reads were half the kernel's time
// (measured with the reads replaced by arithmetic).

override X_VEC4: bool = false; // the source 4 values a texel (rows a multiple of 4 values)
override SHIFT: u32 = 3u; // with X_VEC4: (-padding) mod 4, where a window starts in its texel

// Window values 0..3, 4..7 and 8..11.
struct Window12 {
    x0: vec4<f32>,
    x1: vec4<f32>,
    x2: vec4<f32>,
}

// Columns w0 .. w0 + n - 1 (n <= 12) of the row of `width` values starting at value `row` of
// the texture (valid: the row is inside the source; row % 4 == 0 with X_VEC4, and then
// w0 % 4 == SHIFT). Columns outside the row are 0; values past the first n are unspecified
// (finite; the callers do not read them).
fn window12(t: WindowTex, row: u32, valid: bool, w0: i32, width: u32, n: u32) -> Window12 {
    var r: Window12;
    if (X_VEC4) {
        // Value 0 of the window is value SHIFT of texel q.
        let q = (i32(row) + w0 - i32(SHIFT)) / 4;
        let t0 = win_texel(t, q);
        let t1 = win_texel(t, q + 1);
        let t2 = win_texel(t, q + 2);
        var t3 = vec4<f32>(0.0);
        if (SHIFT + n > 12u) { t3 = win_texel(t, q + 3); }
        r = Window12(win_shift(t0, t1), win_shift(t1, t2), win_shift(t2, t3));
    } else {
        r.x0 = vec4<f32>(win_value(t, row, w0), win_value(t, row, w0 + 1),
                         win_value(t, row, w0 + 2), win_value(t, row, w0 + 3));
        r.x1 = vec4<f32>(win_value(t, row, w0 + 4), win_value(t, row, w0 + 5),
                         win_value(t, row, w0 + 6), win_value(t, row, w0 + 7));
        for (var k = 8u; k < n; k++) { r.x2[k - 8u] = win_value(t, row, w0 + i32(k)); }
    }
    // Zero the columns outside the row (and the whole window outside the source).
    let c = vec4<i32>(0, 1, 2, 3) + w0; // the columns of x0
    let v = vec4<bool>(valid);
    let wx = vec4<i32>(i32(width));
    let z = vec4<f32>(0.0);
    r.x0 = select(z, r.x0, v & (c >= vec4<i32>(0)) & (c < wx));
    r.x1 = select(z, r.x1, v & (c + 4 >= vec4<i32>(0)) & (c + 4 < wx));
    r.x2 = select(z, r.x2, v & (c + 8 >= vec4<i32>(0)) & (c + 8 < wx));
    return r;
}

// Texel q of a 4-values-a-texel texture, clamped to the texture (the values it holds past the
// source's ends are zeroed by the caller).
fn win_texel(t: WindowTex, q: i32) -> vec4<f32> {
    let size = textureDimensions(t);
    let u = u32(clamp(q, 0, i32(size.x * size.y) - 1));
    return textureLoad(t, vec2<u32>(u & 4095u, u >> 12u));
}

// The value at column w of the row starting at `row` of a one-value-a-texel texture (the row's
// first value for columns outside it, which the caller zeroes).
fn win_value(t: WindowTex, row: u32, w: i32) -> f32 {
    let i = row + u32(max(w, 0));
    let size = textureDimensions(t);
    let u = min(i, size.x * size.y - 1u);
    return textureLoad(t, vec2<u32>(u & 4095u, u >> 12u)).x;
}

// The 4 values starting SHIFT places into the 8 values (a, b).
fn win_shift(a: vec4<f32>, b: vec4<f32>) -> vec4<f32> {
    switch (SHIFT) {
        case 0u: { return a; }
        case 1u: { return vec4<f32>(a.yzw, b.x); }
        case 2u: { return vec4<f32>(a.zw, b.xy); }
        default: { return vec4<f32>(a.w, b.xyz); }
    }
}
