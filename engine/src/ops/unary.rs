//! Elementwise unary ops: neg, exp, log, sqrt, sin, cos, tanh, sigmoid, relu, silu, abs,
//! powf, clamp, and the scalar add/mul every other op builds on.
//! Kernels: shaders/unary.wgsl, where each f sits beside its derivative f'; the backward of
//! every op here is one `unary_grad` dispatch: dx = g * f'(x).

use crate::kernels::{Kernel, UNARY};
use crate::shape::grid_1d;
use crate::tensor::Tensor;
use crate::texture_pool::{self, Flat};

#[derive(Clone, Copy, Debug)]
enum Op {
    Neg = 0,
    Exp = 1,
    Log = 2,
    Sqrt = 3,
    Sin = 4,
    Cos = 5,
    Tanh = 6,
    Sigmoid = 7,
    Relu = 8,
    Silu = 9,
    Abs = 10,
    Powf = 11,
    Clamp = 12,
    AddScalar = 13,
    MulScalar = 14,
}

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct Params {
    n: u32,
    _pad: u32,
    alpha: f32,
    beta: f32,
}

/// out = f(x) (entry "unary"), or out = g * f'(x) (entry "unary_grad", with `g`).
fn launch(name: &str, op: Op, x: &Tensor, g: Option<&Tensor>, alpha: f32, beta: f32) -> Tensor {
    let out = Tensor::uninit(x.device(), x.shape(), name);
    // 4 elements per invocation when the count allows (the "…4" entry points), inputs
    // through flat textures where the device reads them so (the "…_tex" entry points).
    let n = x.numel();
    let per = if n.is_multiple_of(4) { 4 } else { 1 };
    let format = if per == 4 {
        wgpu::TextureFormat::Rgba32Float
    } else {
        wgpu::TextureFormat::R32Float
    };
    let inputs: Vec<&Tensor> = [Some(x), g].into_iter().flatten().collect();
    let tex = Flat::all(&inputs.iter().map(|&t| (t, format)).collect::<Vec<_>>());
    let entry = match (g.is_some(), per, tex.is_some()) {
        (false, 1, false) => "unary",
        (false, 1, true) => "unary_tex",
        (false, _, false) => "unary4",
        (false, _, true) => "unary4_tex",
        (true, 1, false) => "unary_grad",
        (true, 1, true) => "unary_grad_tex",
        (true, _, false) => "unary_grad4",
        (true, _, true) => "unary_grad4_tex",
    };
    let params = Params {
        n: (n / per) as u32,
        _pad: 0,
        alpha,
        beta,
    };
    let kernel = Kernel::new(UNARY, entry).with("OP", op as u32 as f64);
    let (bytes, grid) = (bytemuck::bytes_of(&params), grid_1d(n / per, 256));
    let dev = x.device();
    match tex {
        Some(tex) => {
            let kernel = kernel.texture("UnaryTex", format);
            texture_pool::dispatch_reading(dev, &kernel, tex, &[&out], bytes, grid)
        }
        None => {
            let mut bufs: Vec<&wgpu::Buffer> = inputs.iter().map(|t| t.buffer()).collect();
            bufs.push(out.buffer());
            dev.0.dispatch(&kernel, &bufs, bytes, grid);
        }
    }
    out
}

/// The activations `Tensor::linear_act` can apply in a product's store; each is also its own
/// op (`apply`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Activation {
    Silu,
    Relu,
    Tanh,
}

impl Activation {
    fn op(self) -> (&'static str, Op) {
        match self {
            Activation::Silu => ("silu", Op::Silu),
            Activation::Relu => ("relu", Op::Relu),
            Activation::Tanh => ("tanh", Op::Tanh),
        }
    }

    /// The op code the kernels switch on (unary.wgsl's OP).
    pub(crate) fn code(self) -> u32 {
        self.op().1 as u32
    }

    /// x.silu(), x.relu() or x.tanh().
    pub fn apply(self, x: &Tensor) -> Tensor {
        let (name, op) = self.op();
        unary(name, op, x, 0.0, 0.0)
    }

    /// g * f'(x), as the op's backward computes it; records nothing.
    pub(crate) fn grad(self, x: &Tensor, g: &Tensor) -> Tensor {
        let (name, op) = self.op();
        launch(name, op, x, Some(g), 0.0, 0.0)
    }

    /// (dz, its column sums) for z, g [rows, n] with dz = g * f'(z), in one dispatch
    /// (`unary_grad_colsum4_tex`), where that applies: n % 4 == 0, at most COLSUM_MAX_ROWS
    /// rows, and z and g read through texture copies on this device. Records nothing.
    pub(crate) fn grad_and_colsum(self, z: &Tensor, g: &Tensor) -> Option<(Tensor, Tensor)> {
        let (rows, n) = (z.dim(0), z.dim(1));
        let rgba = wgpu::TextureFormat::Rgba32Float;
        let textures = (n.is_multiple_of(4) && rows <= COLSUM_MAX_ROWS)
            .then(|| Flat::all(&[(z, rgba), (g, rgba)]))
            .flatten()?;
        let dev = z.device();
        let (name, op) = self.op();
        let dz = Tensor::uninit(dev, z.shape(), name);
        let sums = Tensor::uninit(dev, &[n], name);
        let params = ColParams {
            rows: rows as u32,
            n4: (n / 4) as u32,
            alpha: 0.0,
            beta: 0.0,
        };
        let kernel = Kernel::new(UNARY, "unary_grad_colsum4_tex")
            .with("OP", op as u32 as f64)
            .texture("UnaryTex", rgba);
        let (bytes, grid) = (bytemuck::bytes_of(&params), grid_1d((n / 4).div_ceil(8), 1));
        texture_pool::dispatch_reading(dev, &kernel, textures, &[&dz, &sums], bytes, grid);
        Some((dz, sums))
    }
}

/// Most rows `grad_and_colsum` walks (8 invocations per column group, each a serial loop over
/// every 8th row: past a few thousand rows the two-pass form, which spreads the rows, is
/// faster).
const COLSUM_MAX_ROWS: usize = 4096;

/// Mirrors `ColParams` in unary.wgsl.
#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct ColParams {
    rows: u32,
    n4: u32,
    alpha: f32,
    beta: f32,
}

/// Forward, and a backward that is the matching `unary_grad` dispatch.
fn unary(name: &'static str, op: Op, x: &Tensor, alpha: f32, beta: f32) -> Tensor {
    let out = launch(name, op, x, None, alpha, beta);
    let input = x.clone();
    out.record(name, &[x], move |g| {
        vec![Some(launch(name, op, &input, Some(g), alpha, beta))]
    })
}

impl Tensor {
    pub fn neg(&self) -> Tensor {
        unary("neg", Op::Neg, self, 0.0, 0.0)
    }
    pub fn exp(&self) -> Tensor {
        unary("exp", Op::Exp, self, 0.0, 0.0)
    }
    /// Natural logarithm.
    pub fn log(&self) -> Tensor {
        unary("log", Op::Log, self, 0.0, 0.0)
    }
    pub fn sqrt(&self) -> Tensor {
        unary("sqrt", Op::Sqrt, self, 0.0, 0.0)
    }
    pub fn sin(&self) -> Tensor {
        unary("sin", Op::Sin, self, 0.0, 0.0)
    }
    pub fn cos(&self) -> Tensor {
        unary("cos", Op::Cos, self, 0.0, 0.0)
    }
    pub fn tanh(&self) -> Tensor {
        unary("tanh", Op::Tanh, self, 0.0, 0.0)
    }
    pub fn sigmoid(&self) -> Tensor {
        unary("sigmoid", Op::Sigmoid, self, 0.0, 0.0)
    }
    pub fn relu(&self) -> Tensor {
        unary("relu", Op::Relu, self, 0.0, 0.0)
    }
    /// x * sigmoid(x), also called swish.
    pub fn silu(&self) -> Tensor {
        unary("silu", Op::Silu, self, 0.0, 0.0)
    }
    /// |x|; its gradient at 0 is 0.
    pub fn abs(&self) -> Tensor {
        unary("abs", Op::Abs, self, 0.0, 0.0)
    }
    /// x^p for x > 0 (or integer p).
    pub fn powf(&self, p: f32) -> Tensor {
        unary("powf", Op::Powf, self, p, 0.0)
    }
    pub fn square(&self) -> Tensor {
        self.mul(self)
    }
    /// min(max(x, lo), hi); the gradient passes where lo <= x <= hi.
    pub fn clamp(&self, lo: f32, hi: f32) -> Tensor {
        assert!(lo <= hi, "clamp: lo {lo} > hi {hi}");
        unary("clamp", Op::Clamp, self, lo, hi)
    }
    pub fn add_scalar(&self, s: f32) -> Tensor {
        unary("add_scalar", Op::AddScalar, self, s, 0.0)
    }
    pub fn sub_scalar(&self, s: f32) -> Tensor {
        self.add_scalar(-s)
    }
    pub fn mul_scalar(&self, s: f32) -> Tensor {
        unary("mul_scalar", Op::MulScalar, self, s, 0.0)
    }
    pub fn div_scalar(&self, s: f32) -> Tensor {
        self.mul_scalar(1.0 / s)
    }
}
