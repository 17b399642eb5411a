//! 2-D convolution (NCHW) as an implicit GEMM, and its backward. Kernels: shaders/conv.wgsl.
//!
//! Legend: N = batch; Cin, Cout = channels; H, W = input size; OH, OW = output size;
//! KH, KW = kernel size; S = stride; P = padding; R = Cin*KH*KW; Q = OH*OW.
//!   x is [N, Cin, H, W], weight is [Cout, Cin, KH, KW], bias is [Cout], y is [N, Cout, OH, OW]
//!   OH = (H + 2P - KH) / S + 1, OW = (W + 2P - KW) / S + 1
//! The passes, each run on the tensors as they are (no im2col buffer):
//!   forward      y[n, co, q] = sum_r weight[co, r] * xcol[n, r, q] + bias[co]    (a gather)
//!   grad-input   dx = the same gather over dy with the kernel flipped and transposed, stride 1,
//!                padding KH-1-P, and dy read as if dilated by S
//!   grad-weight  dW[co, r] = sum_(n, q) dy[n, co, q] * xcol[n, r, q], split in chunks
//!                (ops/conv_grad_weight.rs, shaders/conv_grad_weight.wgsl)
//!   grad-bias    db = sum of dy over N, OH, OW (the existing reduction)
//! where xcol[n, (ci, kh, kw), (oh, ow)] = x[n, ci, oh*S - P + kh, ow*S - P + kw], 0 outside x.
//! The weight is first repacked (conv2d_pack, a small copy) into [R, channels rounded up to 4],
//! in chunks of channels that fit a 64 KiB uniform buffer each; the gathers read it there, with
//! the same address across a workgroup (see conv.wgsl). The gathers:
//!   conv2d_gather_rows     stride 1 (forward) or undilated (grad-input of stride-1 convs), on
//!                          devices with subgroups (shaders/conv_rows.wgsl)
//!   conv2d_gather_uniform  the rest (strided forward, grad-input of strided convs)
//!   conv2d_gather          weights too large for a uniform buffer (storage-buffer weights)

use super::conv_grad_weight::grad_weight;
use crate::kernels::{Kernel, Shader, CONV, CONV_ROWS};
use crate::shape::grid_1d;
use crate::tensor::Tensor;
use crate::texture_pool::{self, Flat};

const R32: wgpu::TextureFormat = wgpu::TextureFormat::R32Float;
const RGBA32: wgpu::TextureFormat = wgpu::TextureFormat::Rgba32Float;

/// Output pixels (x) and channels (y) one invocation computes in conv2d_gather, and
/// invocations per workgroup along each: a workgroup covers 32 pixels x 32 channels.
const TILE: usize = 4;
pub(super) const WG: usize = 8;
/// Floats in conv2d_gather_uniform's uniform weight buffer (64 KiB, WebGPU's minimum
/// `max_uniform_buffer_binding_size`), and its workgroup size (each invocation 4 pixels).
pub(super) const UNIFORM_FLOATS: usize = 16384;
pub(super) const UNIFORM_WG: usize = 32;

/// Mirrors `PackParams` in conv.wgsl.
#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct PackParams {
    cin: u32,
    cout: u32,
    c4: u32,
    rows: u32,
    c_begin: u32,
    _pad: [u32; 3],
}

/// Mirrors `GatherParams` in conv.wgsl (both gathers).
#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct GatherParams {
    src_c: u32,
    out_c: u32,
    c4: u32,
    src_h: u32,
    src_w: u32,
    out_h: u32,
    out_w: u32,
    c_begin: u32,
    pad_h: i32,
    pad_w: i32,
    _pad1: [u32; 2],
}

/// The sizes of one convolution, checked.
#[derive(Clone, Copy, Debug)]
pub(super) struct Geometry {
    pub(super) n: usize,
    pub(super) cin: usize,
    pub(super) cout: usize,
    pub(super) h: usize,
    pub(super) w: usize,
    pub(super) kh: usize,
    pub(super) kw: usize,
    pub(super) oh: usize,
    pub(super) ow: usize,
    pub(super) stride: usize,
    pub(super) padding: usize,
}

pub(super) fn u32_of(what: &str, v: usize) -> u32 {
    u32::try_from(v).unwrap_or_else(|_| panic!("conv2d: {what} {v} does not fit in 32 bits"))
}

impl Geometry {
    /// Checks x, weight and bias and works out the output size; panics naming the shapes.
    fn new(
        x: &[usize],
        weight: &[usize],
        bias: Option<&[usize]>,
        stride: usize,
        padding: usize,
    ) -> Self {
        assert!(
            x.len() == 4,
            "conv2d: x must be [N, Cin, H, W], got shape {x:?} (rank {})",
            x.len()
        );
        assert!(
            weight.len() == 4,
            "conv2d: weight must be [Cout, Cin, KH, KW], got shape {weight:?} (rank {})",
            weight.len()
        );
        assert!(
            stride >= 1,
            "conv2d: stride must be at least 1, got {stride}"
        );
        let (n, cin, h, w) = (x[0], x[1], x[2], x[3]);
        let (cout, wcin, kh, kw) = (weight[0], weight[1], weight[2], weight[3]);
        assert!(
            cin == wcin,
            "conv2d: x {x:?} has {cin} channels but weight {weight:?} expects {wcin}"
        );
        assert!(
            kh >= 1 && kw >= 1 && cout >= 1,
            "conv2d: weight {weight:?} has an empty axis"
        );
        let (ph, pw) = (h + 2 * padding, w + 2 * padding);
        assert!(
            kh <= ph && kw <= pw,
            "conv2d: kernel {kh}x{kw} (weight {weight:?}) is larger than the padded input {ph}x{pw} (x {x:?}, padding {padding})"
        );
        if let Some(b) = bias {
            assert!(
                b == [cout],
                "conv2d: bias {b:?} must be [Cout] = [{cout}] for weight {weight:?}"
            );
        }
        Geometry {
            n,
            cin,
            cout,
            h,
            w,
            kh,
            kw,
            oh: (ph - kh) / stride + 1,
            ow: (pw - kw) / stride + 1,
            stride,
            padding,
        }
    }

    /// Panics unless dy has the output's shape.
    fn check_dy(&self, op: &str, dy: &Tensor) {
        let want = [self.n, self.cout, self.oh, self.ow];
        assert!(
            dy.shape() == want,
            "{op}: dy {:?} should be the output's shape {want:?}",
            dy.shape()
        );
    }

    fn kernel(&self, entry: &'static str) -> Kernel {
        self.kernel_in(CONV, entry)
    }

    /// `entry` of `shader` specialised to this kernel size.
    pub(super) fn kernel_in(&self, shader: Shader, entry: &'static str) -> Kernel {
        Kernel::new(shader, entry)
            .with("KH", self.kh as f64)
            .with("KW", self.kw as f64)
    }
}

/// Writes the weight as the gathers' A operand into `out`: the channels c_begin..c_begin+c4 of
/// [Cin*KH*KW, Cout] for the forward, or of the flipped and transposed [Cout*KH*KW, Cin] for
/// grad-input (`flip`); channels past the last are 0.
fn pack_weight(
    weight: &Tensor,
    g: &Geometry,
    flip: bool,
    c_begin: usize,
    c4: usize,
    out: &wgpu::Buffer,
) {
    let rows = if flip { g.cout } else { g.cin } * g.kh * g.kw;
    let params = PackParams {
        cin: u32_of("Cin", g.cin),
        cout: u32_of("Cout", g.cout),
        c4: u32_of("packed row", c4),
        rows: u32_of("packed rows", rows),
        c_begin: u32_of("channel", c_begin),
        _pad: [0; 3],
    };
    let kernel = g.kernel("conv2d_pack").with("FLIP", flip as u32 as f64);
    weight.device().0.dispatch(
        &kernel,
        &[weight.buffer(), out],
        bytemuck::bytes_of(&params),
        grid_1d(rows * c4, 64),
    );
}

/// One forward or grad-input launch: out [N, out_c, out_h, out_w] from src [N, src_c, src_h,
/// src_w] and the weight, packed with `flip` (see `pack_weight`).
struct Gather<'a> {
    src: &'a Tensor,
    weight: &'a Tensor,
    flip: bool,
    bias: Option<&'a Tensor>,
    out_shape: [usize; 4],
    pad: isize,
    stride: usize,
    dil: usize,
}

/// Vec4s of channels per invocation of conv2d_gather_uniform (1, 2, 4 or 8) whose packed weight
/// for `rows` rows fits the uniform buffer, or None when even 4 channels do not.
fn uniform_cv(out_c: usize, rows: usize, max_cv: usize) -> Option<usize> {
    let groups = out_c.div_ceil(4).min(max_cv);
    let cv = [8, 4, 2, 1].into_iter().find(|&cv| cv <= groups)?;
    [cv, 4, 2, 1]
        .into_iter()
        .filter(|&c| c <= cv)
        .find(|&c| rows * 4 * c <= UNIFORM_FLOATS)
}

fn gather(g: &Geometry, l: Gather) -> Tensor {
    let dev = l.src.device();
    let [n, out_c, out_h, out_w] = l.out_shape;
    let s = l.src.shape();
    let rows = s[1] * g.kh * g.kw;
    let out = Tensor::uninit(dev, &l.out_shape, "conv2d");
    let pad = i32::try_from(l.pad).expect("conv2d: padding does not fit in 32 bits");
    let mut params = GatherParams {
        src_c: u32_of("channels", s[1]),
        out_c: u32_of("channels", out_c),
        c4: 0,
        src_h: u32_of("height", s[2]),
        src_w: u32_of("width", s[3]),
        out_h: u32_of("height", out_h),
        out_w: u32_of("width", out_w),
        c_begin: 0,
        pad_h: pad,
        pad_w: pad,
        _pad1: [0; 2],
    };
    let uniform_ok = dev.limits().max_uniform_buffer_binding_size as usize >= 4 * UNIFORM_FLOATS;
    let kernel = |shader, entry| {
        g.kernel_in(shader, entry)
            .with("STRIDE", l.stride as f64)
            .with("DIL", l.dil as f64)
            .with("HAS_BIAS", l.bias.is_some() as u32 as f64)
    };
    let npix = out_h * out_w;
    // Up to 32 channels x 8 pixels of accumulators per invocation (256 floats) suit CPU
    // adapters, whose invocations are SIMD lanes with no register file to overflow; GPUs get
    // at most 8 channels (the matmul's tile choice, `DeviceOptions::matmul_wide_tiles`).
    let max_cv = if dev.0.matmul_wide_tiles { 8 } else { 2 };
    if let Some(cv) = uniform_cv(out_c, rows, max_cv).filter(|_| uniform_ok) {
        // Chunks of channels whose packed weight fills at most one uniform buffer each.
        let tile = 4 * cv;
        let tiles = out_c.div_ceil(tile);
        let per_chunk = (UNIFORM_FLOATS / (rows * tile)).min(tiles);
        // Stride-1 gathers with kernels up to 5 wide reuse each row of src across the taps,
        // on devices with subgroups (which hand the weights round). (It reads src through a
        // flat texture: one copy of src, `texture_pool::flat`, 4 values a texel when src's
        // rows are a multiple of 4 values; see conv_window.wgsl.)
        let src_format = window_format(s[3]);
        let rows_kernel = dev.0.subgroups8
            && l.stride == 1
            && l.dil == 1
            && g.kw <= 5
            && texture_pool::flat_fits(dev, l.src.numel(), src_format);
        let (shader, entry, x_groups) = if rows_kernel {
            let segments = out_h * out_w.div_ceil(8);
            (
                CONV_ROWS,
                "conv2d_gather_rows",
                segments.div_ceil(UNIFORM_WG),
            )
        } else {
            // Pixels in groups of 4 along each row and column phase when dilated (see the
            // kernel); otherwise 4 consecutive pixels.
            let quads = if l.dil > 1 {
                out_h * l.dil * out_w.div_ceil(l.dil).div_ceil(4)
            } else {
                npix.div_ceil(4)
            };
            (CONV, "conv2d_gather_uniform", quads.div_ceil(UNIFORM_WG))
        };
        let mut kernel = kernel(shader, entry).with("CV", cv as f64);
        if rows_kernel {
            kernel = with_window(kernel, s[3], l.pad);
        }
        let src_tex = rows_kernel.then(|| Flat::new(l.src, src_format));
        for first in (0..tiles).step_by(per_chunk) {
            let ntiles = per_chunk.min(tiles - first);
            let wt = uniform_buffer(dev);
            pack_weight(l.weight, g, l.flip, first * tile, ntiles * tile, &wt);
            params.c_begin = u32_of("channel", first * tile);
            params.c4 = u32_of("channels", ntiles * tile);
            // Without a bias the binding still needs a buffer: src stands in, unread.
            let bias = l.bias.unwrap_or(l.src);
            let groups = [x_groups, ntiles, n];
            let src = match &src_tex {
                Some(f) => f.binding(),
                None => l.src.buffer().as_entire_binding(),
            };
            let bindings = [
                src,
                wt.as_entire_binding(),
                bias.buffer().as_entire_binding(),
                out.buffer().as_entire_binding(),
            ];
            dev.0.dispatch_bound(
                &kernel,
                &bindings,
                bytemuck::bytes_of(&params),
                grid(dev, g, groups),
            );
        }
        src_tex.into_iter().for_each(|f| f.give_back(dev));
        return out;
    }
    let c4 = out_c.div_ceil(4) * 4;
    let wt = Tensor::uninit(dev, &[rows, c4], "conv2d (packed weight)");
    pack_weight(l.weight, g, l.flip, 0, c4, wt.buffer());
    params.c4 = u32_of("channels", c4);
    let bias = l.bias.unwrap_or(&wt);
    let groups = [npix.div_ceil(TILE * WG), out_c.div_ceil(TILE * WG), n];
    dev.0.dispatch(
        &kernel(CONV, "conv2d_gather"),
        &[l.src.buffer(), wt.buffer(), bias.buffer(), out.buffer()],
        bytemuck::bytes_of(&params),
        grid(dev, g, groups),
    );
    out
}

/// The flat texture format shaders/conv_window.wgsl reads a source with rows of `width`
/// values from: 4 values a texel when the rows start at a texel, else one.
pub(super) fn window_format(width: usize) -> wgpu::TextureFormat {
    if width.is_multiple_of(4) {
        RGBA32
    } else {
        R32
    }
}

/// `kernel` with conv_window.wgsl's constants for a source with rows of `width` values whose
/// windows start `pad` columns before each 8-pixel segment.
pub(super) fn with_window(kernel: Kernel, width: usize, pad: isize) -> Kernel {
    kernel
        .texture("WindowTex", window_format(width))
        .with("X_VEC4", (window_format(width) == RGBA32) as u32 as f64)
        .with("SHIFT", (-pad).rem_euclid(4) as f64)
}

/// A 64 KiB uniform buffer: conv2d_gather_uniform's weights (written by conv2d_pack as
/// storage) or conv2d_grad_weight_uniform's rows of dy (copied in).
pub(super) fn uniform_buffer(dev: &crate::device::Device) -> wgpu::Buffer {
    dev.0.device.create_buffer(&wgpu::BufferDescriptor {
        label: Some("conv2d (packed weight, uniform)"),
        size: (4 * UNIFORM_FLOATS) as u64,
        usage: wgpu::BufferUsages::STORAGE
            | wgpu::BufferUsages::UNIFORM
            | wgpu::BufferUsages::COPY_DST,
        mapped_at_creation: false,
    })
}

/// The workgroup grid as u32s, checked against the device's limit (a clear panic instead of a
/// wgpu validation error).
pub(super) fn grid(dev: &crate::device::Device, g: &Geometry, groups: [usize; 3]) -> [u32; 3] {
    let max = dev.limits().max_compute_workgroups_per_dimension as usize;
    assert!(
        groups.iter().all(|&v| v <= max),
        "conv2d: x [{}, {}, {}, {}] with Cout {} needs a grid of {groups:?} workgroups, over this device's limit of {max} per dimension",
        g.n, g.cin, g.h, g.w, g.cout
    );
    groups.map(|v| v as u32)
}

/// y = conv2d(x, weight) + bias, recording nothing.
fn forward(x: &Tensor, weight: &Tensor, bias: Option<&Tensor>, g: &Geometry) -> Tensor {
    gather(
        g,
        Gather {
            src: x,
            weight,
            flip: false,
            bias,
            out_shape: [g.n, g.cout, g.oh, g.ow],
            pad: g.padding as isize,
            stride: g.stride,
            dil: 1,
        },
    )
}

/// dx [N, Cin, H, W] from dy [N, Cout, OH, OW]: the transposed convolution as a gather.
fn grad_input(dy: &Tensor, weight: &Tensor, g: &Geometry) -> Tensor {
    gather(
        g,
        Gather {
            src: dy,
            weight,
            flip: true,
            bias: None,
            out_shape: [g.n, g.cin, g.h, g.w],
            pad: g.kh as isize - 1 - g.padding as isize,
            stride: 1,
            dil: g.stride,
        },
    )
}

/// The gradient of conv2d with respect to its input x (of shape `x_shape`), from the output
/// gradient dy [N, Cout, OH, OW]: the transposed convolution, as one gather kernel. What the
/// backward of [`Tensor::conv2d`] runs; public for benchmarks.
pub fn conv2d_grad_input(
    dy: &Tensor,
    weight: &Tensor,
    x_shape: &[usize],
    stride: usize,
    padding: usize,
) -> Tensor {
    let g = Geometry::new(x_shape, weight.shape(), None, stride, padding);
    g.check_dy("conv2d_grad_input", dy);
    grad_input(dy, weight, &g)
}

/// The gradient of conv2d with respect to its weight (of shape `weight_shape`), from x and the
/// output gradient dy: a GEMM over (n, oh, ow) split into chunks. What the backward of
/// [`Tensor::conv2d`] runs; public for benchmarks.
pub fn conv2d_grad_weight(
    x: &Tensor,
    dy: &Tensor,
    weight_shape: &[usize],
    stride: usize,
    padding: usize,
) -> Tensor {
    let g = Geometry::new(x.shape(), weight_shape, None, stride, padding);
    g.check_dy("conv2d_grad_weight", dy);
    grad_weight(x, dy, &g)
}

impl Tensor {
    /// 2-D convolution (cross-correlation, as PyTorch's `conv2d`):
    /// x [N, Cin, H, W], weight [Cout, Cin, KH, KW], bias [Cout] -> [N, Cout, OH, OW],
    /// OH = (H + 2*padding - KH) / stride + 1, likewise OW. Zero padding on all four sides.
    /// Panics naming the shapes on a rank other than 4, a channel mismatch, a kernel larger
    /// than the padded input, or stride 0.
    pub fn conv2d(
        &self,
        weight: &Tensor,
        bias: Option<&Tensor>,
        stride: usize,
        padding: usize,
    ) -> Tensor {
        let g = Geometry::new(
            self.shape(),
            weight.shape(),
            bias.map(|b| b.shape()),
            stride,
            padding,
        );
        self.same_device("conv2d", weight);
        if let Some(b) = bias {
            self.same_device("conv2d", b);
        }
        let out = forward(self, weight, bias, &g);
        let (x, w) = (self.clone(), weight.clone());
        let has_bias = bias.is_some();
        let mut inputs = vec![self, weight];
        inputs.extend(bias);
        out.record("conv2d", &inputs, move |dy| {
            let dx = x.requires_grad().then(|| grad_input(dy, &w, &g));
            let dw = w.requires_grad().then(|| grad_weight(&x, dy, &g));
            let mut grads = vec![dx, dw];
            if has_bias {
                grads.push(Some(dy.sum(&[0, 2, 3], false)));
            }
            grads
        })
    }
}
