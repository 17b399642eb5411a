//! 2-D convolution (NCHW) as an implicit GEMM, and its backward. Kernels: shaders/conv.wgsl.
//!
//! Legend: N = batch; Cin, Cout = channels; H, W = input size; OH, OW = output size;
//! KH, KW = kernel size; S = stride; P = padding; R = Cin*KH*KW; Q = OH*OW.
//!   x is [N, Cin, H, W], weight is [Cout, Cin, KH, KW], bias is [Cout], y is [N, Cout, OH, OW]
//!   OH = (H + 2P - KH) / S + 1, OW = (W + 2P - KW) / S + 1
//! The three passes, each one kernel over the tensors as they are (no im2col buffer):
//!   forward      y[n, co, q] = sum_r weight[co, r] * xcol[n, r, q] + bias[co]   (conv2d_gather)
//!   grad-input   dx = the same gather over dy with the kernel flipped and transposed  (conv2d_gather)
//!   grad-weight  dW[co, r] = sum_(n, q) dy[n, co, q] * xcol[n, r, q], split in chunks (conv2d_grad_weight)
//!   grad-bias    db = sum of dy over N, OH, OW (the existing reduction)
//! where xcol[n, (ci, kh, kw), (oh, ow)] = x[n, ci, oh*S - P + kh, ow*S - P + kw], 0 outside x.
//! The weight is first repacked (conv2d_pack, a small copy) into [R, Cout rounded up to 4] so the
//! gather reads 4 output channels with one vec4 load.

use crate::kernels::{Kernel, CONV};
use crate::shape::grid_1d;
use crate::tensor::Tensor;

/// Output pixels (x) and channels (y) one invocation computes in conv2d_gather, and
/// invocations per workgroup along each: a workgroup covers 32 pixels x 32 channels.
const TILE: usize = 4;
const WG: usize = 8;
/// conv2d_grad_weight aims for at least this many workgroups (so layers with few output
/// channels still fill the device) with chunks of at least `MIN_CHUNK` pixels.
const TARGET_GROUPS: usize = 256;
const MIN_CHUNK: usize = 64;

/// Mirrors `PackParams` in conv.wgsl.
#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct PackParams {
    cin: u32,
    cout: u32,
    c4: u32,
    rows: u32,
}

/// Mirrors `GatherParams` in conv.wgsl.
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
    _pad0: u32,
    pad_h: i32,
    pad_w: i32,
    _pad1: [u32; 2],
}

/// Mirrors `GradWeightParams` in conv.wgsl.
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

/// The sizes of one convolution, checked.
#[derive(Clone, Copy, Debug)]
struct Geometry {
    n: usize,
    cin: usize,
    cout: usize,
    h: usize,
    w: usize,
    kh: usize,
    kw: usize,
    oh: usize,
    ow: usize,
    stride: usize,
    padding: usize,
}

fn u32_of(what: &str, v: usize) -> u32 {
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
        Kernel::new(CONV, entry)
            .with("KH", self.kh as f64)
            .with("KW", self.kw as f64)
    }
}

/// The weight as conv2d_gather's A operand: [Cin*KH*KW, Cout4] for the forward, or flipped and
/// transposed, [Cout*KH*KW, Cin4], for grad-input (`flip`). Cout4/Cin4 round up to 4 with zeros.
fn pack_weight(weight: &Tensor, g: &Geometry, flip: bool) -> (Tensor, usize) {
    let (rows, cols) = if flip {
        (g.cout * g.kh * g.kw, g.cin)
    } else {
        (g.cin * g.kh * g.kw, g.cout)
    };
    let c4 = cols.div_ceil(4) * 4;
    let out = Tensor::uninit(weight.device(), &[rows, c4], "conv2d (packed weight)");
    let params = PackParams {
        cin: u32_of("Cin", g.cin),
        cout: u32_of("Cout", g.cout),
        c4: u32_of("packed row", c4),
        rows: u32_of("packed rows", rows),
    };
    let kernel = g.kernel("conv2d_pack").with("FLIP", flip as u32 as f64);
    weight.device().0.dispatch(
        &kernel,
        &[weight.buffer(), out.buffer()],
        bytemuck::bytes_of(&params),
        grid_1d(rows * c4, 64),
    );
    (out, c4)
}

/// One conv2d_gather launch: out [N, out_c, out_h, out_w] from src [N, src_c, src_h, src_w].
struct Gather<'a> {
    src: &'a Tensor,
    wt: &'a Tensor,
    c4: usize,
    bias: Option<&'a Tensor>,
    out_shape: [usize; 4],
    pad: isize,
    stride: usize,
    dil: usize,
}

fn gather(g: &Geometry, l: Gather) -> Tensor {
    let dev = l.src.device();
    let [n, out_c, out_h, out_w] = l.out_shape;
    let s = l.src.shape();
    let out = Tensor::uninit(dev, &l.out_shape, "conv2d");
    let pad = i32::try_from(l.pad).expect("conv2d: padding does not fit in 32 bits");
    let params = GatherParams {
        src_c: u32_of("channels", s[1]),
        out_c: u32_of("channels", out_c),
        c4: u32_of("channels", l.c4),
        src_h: u32_of("height", s[2]),
        src_w: u32_of("width", s[3]),
        out_h: u32_of("height", out_h),
        out_w: u32_of("width", out_w),
        _pad0: 0,
        pad_h: pad,
        pad_w: pad,
        _pad1: [0; 2],
    };
    let kernel = g
        .kernel("conv2d_gather")
        .with("STRIDE", l.stride as f64)
        .with("DIL", l.dil as f64)
        .with("HAS_BIAS", l.bias.is_some() as u32 as f64);
    // Without a bias the binding still needs a buffer: the packed weight stands in, unread.
    let bias = l.bias.unwrap_or(l.wt);
    let groups = [
        (out_h * out_w).div_ceil(TILE * WG),
        out_c.div_ceil(TILE * WG),
        n,
    ];
    dev.0.dispatch(
        &kernel,
        &[l.src.buffer(), l.wt.buffer(), bias.buffer(), out.buffer()],
        bytemuck::bytes_of(&params),
        grid(dev, g, groups),
    );
    out
}

/// The workgroup grid as u32s, checked against the device's limit (a clear panic instead of a
/// wgpu validation error).
fn grid(dev: &crate::device::Device, g: &Geometry, groups: [usize; 3]) -> [u32; 3] {
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
    let (wt, c4) = pack_weight(weight, g, false);
    gather(
        g,
        Gather {
            src: x,
            wt: &wt,
            c4,
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
    let (wt, c4) = pack_weight(weight, g, true);
    gather(
        g,
        Gather {
            src: dy,
            wt: &wt,
            c4,
            bias: None,
            out_shape: [g.n, g.cin, g.h, g.w],
            pad: g.kh as isize - 1 - g.padding as isize,
            stride: 1,
            dil: g.stride,
        },
    )
}

/// How many chunks each image's Q output pixels are split into for the weight gradient.
fn weight_splits(g: &Geometry, tiles: usize) -> usize {
    let q = g.oh * g.ow;
    let want = TARGET_GROUPS.div_ceil(tiles * g.n);
    want.min(q.div_ceil(MIN_CHUNK)).max(1)
}

/// dW [Cout, Cin, KH, KW] from x and dy: per-chunk partial products, then their sum.
fn grad_weight(x: &Tensor, dy: &Tensor, g: &Geometry) -> Tensor {
    let dev = x.device();
    let r = g.cin * g.kh * g.kw;
    let q = g.oh * g.ow;
    let tiles = r.div_ceil(TILE * WG) * g.cout.div_ceil(TILE * WG);
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
        .kernel("conv2d_grad_weight")
        .with("STRIDE", g.stride as f64);
    let groups = [r.div_ceil(TILE * WG), g.cout.div_ceil(TILE * WG), chunks];
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
