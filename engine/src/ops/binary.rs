//! add, sub, mul, div with NumPy broadcasting (and comparisons, which have no gradient).
//! Kernels: shaders/binary.wgsl. A gradient flowing to a broadcast operand is summed back to
//! the operand's shape (`sum_to`).

use crate::kernels::{Kernel, BINARY};
use crate::shape::{self, grid_1d, pack8};
use crate::tensor::Tensor;
use crate::texture_pool::{self, Flat};

#[derive(Clone, Copy, Debug)]
enum Op {
    Add = 0,
    Sub = 1,
    Mul = 2,
    Div = 3,
    Eq = 4,
    Gt = 5,
    Maximum = 6,
    Minimum = 7,
}

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct Params {
    n: u32,
    rank: u32,
    _pad: [u32; 2],
    shape: [u32; 8],
    a_strides: [u32; 8],
    b_strides: [u32; 8],
}

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct Params4 {
    n4: u32,
    len4: u32,
    count: u32,
    _pad: u32,
}

/// How the operands broadcast to out, as the kernels see it.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Form {
    Same,
    /// The small operand is one row of `len` values repeated: a bias [256] against
    /// [1024, 256] (its shape is out's trailing axes, after dropping leading 1s).
    Row {
        small_is_a: bool,
        len: usize,
    },
    /// The small operand holds one value per plane of `size` values, repeating every `count`
    /// planes: [N, C, 1, 1] against [N, C, H, W] (count N * C), or [C, 1, 1] (count C). Its
    /// shape, padded to out's rank, is 1s, then a run of out's axes, then 1s.
    Plane {
        small_is_a: bool,
        size: usize,
        count: usize,
    },
    General,
}

fn form(a: &[usize], b: &[usize], out: &[usize]) -> Form {
    if a == b {
        return Form::Same;
    }
    let n: usize = out.iter().product();
    for (small, full, small_is_a) in [(b, a, false), (a, b, true)] {
        if full.iter().product::<usize>() != n || small.len() > out.len() {
            continue;
        }
        let lead = small.iter().take_while(|&&d| d == 1).count();
        let tail = &small[lead..];
        if !tail.is_empty() && out[out.len() - tail.len()..] == *tail {
            let len = tail.iter().product();
            return Form::Row { small_is_a, len };
        }
        let padded: Vec<usize> = std::iter::repeat_n(1, out.len() - small.len())
            .chain(small.iter().copied())
            .collect();
        let k = padded.iter().rposition(|&d| d != 1).map_or(0, |p| p + 1);
        let j = padded.iter().position(|&d| d != 1).unwrap_or(0).min(k);
        if padded[j..k] == out[j..k] {
            let size = out[k..].iter().product();
            let count = out[j..k].iter().product();
            return Form::Plane {
                small_is_a,
                size,
                count,
            };
        }
    }
    Form::General
}

/// out = a OP b, broadcasting; records nothing.
fn launch(name: &str, op: Op, a: &Tensor, b: &Tensor) -> Tensor {
    a.same_device(name, b);
    let out_shape = shape::broadcast(a.shape(), b.shape()).unwrap_or_else(|| {
        panic!(
            "{name}: shapes {:?} and {:?} do not broadcast",
            a.shape(),
            b.shape()
        )
    });
    let out = Tensor::uninit(a.device(), &out_shape, name);
    let n = out.numel();
    if n == 0 {
        return out;
    }
    let form = form(a.shape(), b.shape(), &out_shape);
    if launch_textures(op, form, a, b, &out) {
        return out;
    }
    // vec4 fast paths: same shapes, or a full operand against a repeated row (bias add).
    let vec4 = n.is_multiple_of(4)
        && match form {
            Form::Same => true,
            Form::Row { len, .. } => len % 4 == 0,
            _ => false,
        };
    if vec4 {
        let (entry, row_is_a, len) = match form {
            Form::Row { small_is_a, len } => ("binary_rows4", small_is_a, len),
            _ => ("binary_same4", false, 0),
        };
        let mut kernel = Kernel::new(BINARY, entry).with("OP", op as u32 as f64);
        if entry == "binary_rows4" {
            kernel = kernel.with("ROW_IS_A", row_is_a as u32 as f64);
        }
        let bufs = [a.buffer(), b.buffer(), out.buffer()];
        a.device().0.dispatch(
            &kernel,
            &bufs,
            bytemuck::bytes_of(&params4(n, len)),
            grid_1d(n / 4, 256),
        );
        return out;
    }
    let entry = if form == Form::Same {
        "binary_same"
    } else {
        "binary_broadcast"
    };
    let kernel = Kernel::new(BINARY, entry).with("OP", op as u32 as f64);
    a.device().0.dispatch(
        &kernel,
        &[a.buffer(), b.buffer(), out.buffer()],
        bytemuck::bytes_of(&strided_params(name, a, b, &out_shape)),
        grid_1d(n, 256),
    );
    out
}

fn params4(n: usize, len: usize) -> Params4 {
    Params4 {
        n4: (n / 4) as u32,
        len4: (len / 4) as u32,
        count: 0,
        _pad: 0,
    }
}

fn strided_params(name: &str, a: &Tensor, b: &Tensor, out_shape: &[usize]) -> Params {
    Params {
        n: out_shape.iter().product::<usize>() as u32,
        rank: out_shape.len() as u32,
        _pad: [0; 2],
        shape: pack8(name, out_shape),
        a_strides: pack8(name, &shape::broadcast_strides(a.shape(), out_shape)),
        b_strides: pack8(name, &shape::broadcast_strides(b.shape(), out_shape)),
    }
}

/// The same products with a and b read through flat textures (`DeviceOptions::texture_reads`);
/// false (nothing recorded) when this device reads buffers or an operand does not fit.
fn launch_textures(op: Op, form: Form, a: &Tensor, b: &Tensor, out: &Tensor) -> bool {
    const RGBA: wgpu::TextureFormat = wgpu::TextureFormat::Rgba32Float;
    const R32: wgpu::TextureFormat = wgpu::TextureFormat::R32Float;
    let n = out.numel();
    let small = |small_is_a: bool| if small_is_a { (R32, RGBA) } else { (RGBA, R32) };
    // (entry, formats of a and b, the small operand is a, values per row or plane, planes
    // before the small operand repeats)
    let (entry, (fa, fb), small_is_a, len, count) = match form {
        Form::Same if n.is_multiple_of(4) => ("binary_same4_tex", (RGBA, RGBA), false, 0, 0),
        Form::Row { small_is_a, len } if n.is_multiple_of(4) && len % 4 == 0 => {
            ("binary_rows4_tex", (RGBA, RGBA), small_is_a, len, 0)
        }
        Form::Plane {
            small_is_a,
            size,
            count,
        } if size % 4 == 0 => (
            "binary_planes4_tex",
            small(small_is_a),
            small_is_a,
            size,
            count,
        ),
        _ => ("binary_broadcast_tex", (R32, R32), false, 0, 0),
    };
    let Some(tex) = Flat::all(&[(a, fa), (b, fb)]) else {
        return false;
    };
    let mut kernel = Kernel::new(BINARY, entry)
        .with("OP", op as u32 as f64)
        .texture("BinaryTexA", fa)
        .texture("BinaryTexB", fb);
    let (params, grid) = if entry == "binary_broadcast_tex" {
        let p = strided_params("binary", a, b, out.shape());
        (bytemuck::bytes_of(&p).to_vec(), grid_1d(n, 256))
    } else {
        if entry != "binary_same4_tex" {
            kernel = kernel.with("ROW_IS_A", small_is_a as u32 as f64);
        }
        let p = Params4 {
            count: count as u32,
            ..params4(n, len)
        };
        (bytemuck::bytes_of(&p).to_vec(), grid_1d(n / 4, 256))
    };
    texture_pool::dispatch_reading(a.device(), &kernel, tex, &[out], &params, grid);
    true
}

impl Tensor {
    /// Elementwise a + b with broadcasting.
    pub fn add(&self, rhs: &Tensor) -> Tensor {
        let out = launch("add", Op::Add, self, rhs);
        // Shapes and flags only: the backward needs no input values.
        let (sa, sb) = (self.shape().to_vec(), rhs.shape().to_vec());
        let (ga, gb) = (self.requires_grad(), rhs.requires_grad());
        // d(a+b)/da = 1, d(a+b)/db = 1
        out.record("add", &[self, rhs], move |g| {
            vec![ga.then(|| g.sum_to(&sa)), gb.then(|| g.sum_to(&sb))]
        })
    }

    /// Elementwise a - b with broadcasting.
    pub fn sub(&self, rhs: &Tensor) -> Tensor {
        let out = launch("sub", Op::Sub, self, rhs);
        let (sa, sb) = (self.shape().to_vec(), rhs.shape().to_vec());
        let (ga, gb) = (self.requires_grad(), rhs.requires_grad());
        out.record("sub", &[self, rhs], move |g| {
            vec![ga.then(|| g.sum_to(&sa)), gb.then(|| g.neg().sum_to(&sb))]
        })
    }

    /// Elementwise a * b with broadcasting.
    pub fn mul(&self, rhs: &Tensor) -> Tensor {
        let out = launch("mul", Op::Mul, self, rhs);
        let (a, b) = (self.clone(), rhs.clone());
        // d(ab)/da = b, d(ab)/db = a
        out.record("mul", &[self, rhs], move |g| {
            vec![
                a.requires_grad().then(|| g.mul(&b).sum_to(a.shape())),
                b.requires_grad().then(|| g.mul(&a).sum_to(b.shape())),
            ]
        })
    }

    /// Elementwise a / b with broadcasting.
    pub fn div(&self, rhs: &Tensor) -> Tensor {
        let out = launch("div", Op::Div, self, rhs);
        let (a, b) = (self.clone(), rhs.clone());
        // d(a/b)/da = 1/b, d(a/b)/db = -a/b^2
        out.record("div", &[self, rhs], move |g| {
            vec![
                a.requires_grad().then(|| g.div(&b).sum_to(a.shape())),
                b.requires_grad()
                    .then(|| g.mul(&a).div(&b.mul(&b)).neg().sum_to(b.shape())),
            ]
        })
    }

    /// Elementwise max(a, b); the gradient goes to the larger operand (to `a` on ties).
    pub fn maximum(&self, rhs: &Tensor) -> Tensor {
        let out = launch("maximum", Op::Maximum, self, rhs);
        let (a, b) = (self.clone(), rhs.clone());
        out.record("maximum", &[self, rhs], move |g| {
            let b_wins = b.gt(&a); // 1 where b > a
            let a_wins = b_wins.neg().add_scalar(1.0);
            vec![
                Some(g.mul(&a_wins).sum_to(a.shape())),
                Some(g.mul(&b_wins).sum_to(b.shape())),
            ]
        })
    }

    /// Elementwise min(a, b); the gradient goes to the smaller operand (to `a` on ties).
    pub fn minimum(&self, rhs: &Tensor) -> Tensor {
        let out = launch("minimum", Op::Minimum, self, rhs);
        let (a, b) = (self.clone(), rhs.clone());
        out.record("minimum", &[self, rhs], move |g| {
            let b_wins = a.gt(&b); // 1 where b < a
            let a_wins = b_wins.neg().add_scalar(1.0);
            vec![
                Some(g.mul(&a_wins).sum_to(a.shape())),
                Some(g.mul(&b_wins).sum_to(b.shape())),
            ]
        })
    }

    /// 1.0 where a == b, else 0.0 (broadcasting). No gradient.
    pub fn eq(&self, rhs: &Tensor) -> Tensor {
        launch("eq", Op::Eq, self, rhs)
    }

    /// 1.0 where a > b, else 0.0 (broadcasting). No gradient.
    pub fn gt(&self, rhs: &Tensor) -> Tensor {
        launch("gt", Op::Gt, self, rhs)
    }

    /// Sums a broadcast gradient back down to `target` (the operand's shape): sums over the
    /// leading axes `target` lacks and over the axes where `target` has size 1.
    pub fn sum_to(&self, target: &[usize]) -> Tensor {
        if self.shape() == target {
            return self.clone();
        }
        let lead = self.rank() - target.len();
        let mut axes: Vec<isize> = (0..lead as isize).collect();
        for (i, &t) in target.iter().enumerate() {
            if t == 1 && self.shape()[lead + i] != 1 {
                axes.push((lead + i) as isize);
            }
        }
        self.sum(&axes, true).reshape(target)
    }
}
