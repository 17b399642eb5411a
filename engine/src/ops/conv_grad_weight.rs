//! The weight gradient of conv2d: dW[co, r] = sum over (n, q) of dy[n, co, q] * xcol[n, r, q],
//! a GEMM with a long reduction (N*OH*OW), split into chunks computed in parallel and then
//! summed. Kernels: shaders/conv_grad_weight.wgsl. Legend and `Geometry` as in ops/conv.rs:
//!   x is [N, Cin, H, W], dy is [N, Cout, OH, OW], dW is [Cout, Cin, KH, KW] = [Cout, R]
//! Three kernels, the first that applies: conv2d_grad_weight_rows (stride 1, 3-wide kernels,
//! subgroups; in conv_grad_weight_rows.rs), conv2d_grad_weight_uniform (dy copied, per image
//! and 16 channels, into uniform buffers) when an image's rows of dy fit, conv2d_grad_weight
//! (any shape) otherwise.

use super::conv::{grid, u32_of, uniform_buffer, Geometry, UNIFORM_FLOATS, UNIFORM_WG, WG};
use crate::kernels::CONV_GRAD_WEIGHT;
use crate::tensor::Tensor;

/// r values and output channels one invocation of conv2d_grad_weight computes (8 x 8 per
/// workgroup, like conv2d_gather).
const GW_TILE: usize = 8;
/// conv2d_grad_weight aims for at least this many workgroups (so layers with few output
/// channels still fill the device) with chunks of at least `MIN_CHUNK` pixels.
const TARGET_GROUPS: usize = 256;
const MIN_CHUNK: usize = 64;

/// Mirrors `GradWeightParams` in conv_grad_weight.wgsl.
#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct GradWeightParams {
    cin: u32,
    cout: u32,
    h: u32,
    w: u32,
    out_h: u32,
    out_w: u32,
    splits: u32,
    chunk: u32,
    pad_h: i32,
    pad_w: i32,
    _pad: [u32; 2],
}

/// Mirrors `GradWeightUniformParams` in conv_grad_weight.wgsl (and `Params` in
/// conv_grad_weight_rows.wgsl).
#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
pub(super) struct GradWeightUniformParams {
    cin: u32,
    cout: u32,
    h: u32,
    w: u32,
    out_h: u32,
    out_w: u32,
    n: u32,
    co0: u32,
    _pad: [u32; 2],
    pad_h: i32,
    pad_w: i32,
}

/// GradWeightUniformParams of this geometry for image `n` and first channel `co0`
/// (conv2d_grad_weight_rows reads `n` as the batch size N and ignores `co0`).
pub(super) fn uniform_params(g: &Geometry, n: usize, co0: usize) -> GradWeightUniformParams {
    let pad = i32::try_from(g.padding).expect("conv2d: padding does not fit in 32 bits");
    GradWeightUniformParams {
        cin: u32_of("Cin", g.cin),
        cout: u32_of("Cout", g.cout),
        h: u32_of("H", g.h),
        w: u32_of("W", g.w),
        out_h: u32_of("OH", g.oh),
        out_w: u32_of("OW", g.ow),
        n: u32_of("N", n),
        co0: u32_of("Cout", co0),
        _pad: [0; 2],
        pad_h: pad,
        pad_w: pad,
    }
}

/// How many chunks each image's Q output pixels are split into for the weight gradient.
fn weight_splits(g: &Geometry, tiles: usize) -> usize {
    let q = g.oh * g.ow;
    let want = TARGET_GROUPS.div_ceil(tiles * g.n);
    want.min(q.div_ceil(MIN_CHUNK)).max(1)
}

/// Output channels per conv2d_grad_weight_uniform dispatch (its accumulators).
const GU_CHANNELS: usize = 16;
/// dW as conv2d_grad_weight_uniform computes it: dy copied, one image and up to 16 channels at
/// a time, into uniform buffers; partial [N, Cout, R] summed over N. None when an image's rows
/// of dy do not fit (Q > 4096) or do not split into vec4s (Q % 4 != 0).
fn grad_weight_uniform(x: &Tensor, dy: &Tensor, g: &Geometry) -> Option<Tensor> {
    let dev = x.device();
    let (r, q) = (g.cin * g.kh * g.kw, g.oh * g.ow);
    let uniform_ok = dev.limits().max_uniform_buffer_binding_size as usize >= 4 * UNIFORM_FLOATS;
    let cc = (UNIFORM_FLOATS / q).min(GU_CHANNELS).min(g.cout);
    if !uniform_ok || !q.is_multiple_of(4) || cc == 0 {
        return None;
    }
    // One uniform buffer per (image, chunk of channels): all copies first, then the dispatches
    // in one compute pass.
    let chunks: Vec<(usize, usize)> = (0..g.n)
        .flat_map(|n| (0..g.cout).step_by(cc).map(move |c| (n, c)))
        .collect();
    let bufs: Vec<wgpu::Buffer> = chunks.iter().map(|_| uniform_buffer(dev)).collect();
    dev.0.encode(|enc| {
        for (&(n, co0), buf) in chunks.iter().zip(&bufs) {
            let len = cc.min(g.cout - co0) * q * 4;
            enc.copy_buffer_to_buffer(
                dy.buffer(),
                ((n * g.cout + co0) * q * 4) as u64,
                buf,
                0,
                len as u64,
            );
        }
    });
    let partial = Tensor::uninit(dev, &[g.n, g.cout, r], "conv2d backward (weight)");
    for (&(n, co0), buf) in chunks.iter().zip(&bufs) {
        let params = uniform_params(g, n, co0);
        let kernel = g
            .kernel_in(CONV_GRAD_WEIGHT, "conv2d_grad_weight_uniform")
            .with("STRIDE", g.stride as f64)
            .with("GC", cc.min(g.cout - co0) as f64);
        dev.0.dispatch(
            &kernel,
            &[x.buffer(), buf, partial.buffer()],
            bytemuck::bytes_of(&params),
            grid(dev, g, [r.div_ceil(UNIFORM_WG), 1, 1]),
        );
    }
    let shape = [g.cout, g.cin, g.kh, g.kw];
    Some(if g.n == 1 {
        partial.reshape(&shape)
    } else {
        partial.sum(&[0], false).reshape(&shape)
    })
}

/// dW [Cout, Cin, KH, KW] from x and dy: per-chunk partial products, then their sum.
pub(super) fn grad_weight(x: &Tensor, dy: &Tensor, g: &Geometry) -> Tensor {
    if let Some(dw) = super::conv_grad_weight_rows::grad_weight(x, dy, g) {
        return dw;
    }
    // The uniform path makes one dispatch per image and 16 output channels, which costs the
    // strided convs more than it saves: on lavapipe the U-Nets' down-sampling shape (N = 64,
    // 32 -> 64, 32x32, stride 2) took 117-120 ms that way against 77 ms in the one dispatch
    // below, and lab 3's step at batch 64 ran 2-5% faster without it (BENCHMARKS.md).
    if g.stride == 1 {
        if let Some(dw) = grad_weight_uniform(x, dy, g) {
            return dw;
        }
    }
    let dev = x.device();
    let r = g.cin * g.kh * g.kw;
    let q = g.oh * g.ow;
    let tiles = r.div_ceil(GW_TILE * WG) * g.cout.div_ceil(GW_TILE * WG);
    let splits = weight_splits(g, tiles);
    let chunk = q.div_ceil(splits);
    let splits = q.div_ceil(chunk);
    let chunks = g.n * splits;
    let partial = Tensor::uninit(dev, &[chunks, g.cout, r], "conv2d backward (weight)");
    let pad = i32::try_from(g.padding).expect("conv2d: padding does not fit in 32 bits");
    let params = GradWeightParams {
        cin: u32_of("Cin", g.cin),
        cout: u32_of("Cout", g.cout),
        h: u32_of("H", g.h),
        w: u32_of("W", g.w),
        out_h: u32_of("OH", g.oh),
        out_w: u32_of("OW", g.ow),
        splits: u32_of("splits", splits),
        chunk: u32_of("chunk", chunk),
        pad_h: pad,
        pad_w: pad,
        _pad: [0; 2],
    };
    let kernel = g
        .kernel_in(CONV_GRAD_WEIGHT, "conv2d_grad_weight")
        .with("STRIDE", g.stride as f64);
    let groups = [
        r.div_ceil(GW_TILE * WG),
        g.cout.div_ceil(GW_TILE * WG),
        chunks,
    ];
    dev.0.dispatch(
        &kernel,
        &[x.buffer(), dy.buffer(), partial.buffer()],
        bytemuck::bytes_of(&params),
        grid(dev, g, groups),
    );
    let shape = [g.cout, g.cin, g.kh, g.kw];
    if chunks == 1 {
        partial.reshape(&shape)
    } else {
        partial.sum(&[0], false).reshape(&shape)
    }
}
