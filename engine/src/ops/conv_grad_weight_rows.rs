//! The weight gradient of a stride-1 conv2d with 3-wide kernels in one dispatch, for adapters
//! with subgroups of at least 8 (CPU adapters among them). Kernel:
//! shaders/conv_grad_weight_rows.wgsl, which says how it shares dy across a subgroup; the other
//! weight-gradient kernels, and the choice between them, are in conv_grad_weight.rs.
//! Legend and `Geometry` as in ops/conv.rs:
//!   x is [N, Cin, H, W], dy is [N, Cout, OH, OW], dW is [Cout, Cin, KH, 3]
//!   partial is [N, Cout, R]: one image's share of dW each, then summed over N

use super::conv::{grid, window_format, with_window, Geometry, UNIFORM_WG};
use super::conv_grad_weight::uniform_params;
use crate::kernels::{Kernel, CONV_GRAD_WEIGHT_ROWS};
use crate::tensor::Tensor;
use crate::texture_pool::{self, Flat};

/// Output channels per invocation (the kernel's GC, at most 16: two per lane of a subgroup).
const CHANNELS: usize = 16;

/// Partial sums (groups of images) the kernel leaves on CPU adapters: each invocation sums
/// over N / PARTIALS images, so fewer partials are stored and added up afterwards (at the
/// issue shape, 64 images, the sum of 64 partials was ~6% of the weight gradient), and the
/// grid still holds more workgroups than a CPU has threads. GPUs get one image per
/// invocation, for the parallelism.
const CPU_PARTIALS: usize = 16;

/// dW as conv2d_grad_weight_rows computes it: x and dy read through flat textures. None when
/// the device has no subgroups of 8 or more, the shape does not suit the kernel (stride 1,
/// 3-wide kernels, rows of a multiple of 4 pixels) or the textures do not fit.
pub(super) fn grad_weight(x: &Tensor, dy: &Tensor, g: &Geometry) -> Option<Tensor> {
    let dev = x.device();
    let x_format = window_format(g.w);
    let fits = texture_pool::flat_fits(dev, x.numel(), x_format)
        && texture_pool::flat_fits(dev, dy.numel(), wgpu::TextureFormat::Rgba32Float);
    if !dev.0.subgroups8 || g.stride != 1 || g.kw != 3 || !g.ow.is_multiple_of(4) || !fits {
        return None;
    }
    let r = g.cin * g.kh * g.kw;
    let textures = vec![
        Flat::new(x, x_format),
        Flat::new(dy, wgpu::TextureFormat::Rgba32Float),
    ];
    let images = match dev.info().device_type {
        wgpu::DeviceType::Cpu => g.n.div_ceil(CPU_PARTIALS),
        _ => 1,
    };
    let partials = g.n.div_ceil(images);
    let partial = Tensor::uninit(dev, &[partials, g.cout, r], "conv2d backward (weight)");
    let params = uniform_params(g, g.n, 0);
    let gc = CHANNELS.min(g.cout);
    let kernel = Kernel::new(CONV_GRAD_WEIGHT_ROWS, "conv2d_grad_weight_rows")
        .with("KH", g.kh as f64)
        .with("GC", gc as f64)
        .with("IMAGES", images as f64);
    let kernel = with_window(kernel, g.w, g.padding as isize);
    let groups = [
        (g.cin * g.kh).div_ceil(UNIFORM_WG),
        g.cout.div_ceil(gc),
        partials,
    ];
    let (bytes, grid) = (bytemuck::bytes_of(&params), grid(dev, g, groups));
    texture_pool::dispatch_reading(dev, &kernel, textures, &[&partial], bytes, grid);
    let shape = [g.cout, g.cin, g.kh, g.kw];
    Some(if partials == 1 {
        partial.reshape(&shape)
    } else {
        partial.sum(&[0], false).reshape(&shape)
    })
}
