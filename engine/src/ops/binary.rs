//! add, sub, mul, div with NumPy broadcasting (and comparisons, which have no gradient).
//! Kernels: shaders/binary.wgsl. A gradient flowing to a broadcast operand is summed back to
//! the operand's shape (`sum_to`).

use crate::kernels::{Kernel, BINARY};
use crate::shape::{self, grid_1d, pack8};
use crate::tensor::Tensor;

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
    _pad: [u32; 2],
}

/// True when `row`, broadcast to `out`, is one contiguous row repeated: its shape is out's
/// trailing axes (after dropping leading 1s), e.g. a bias [256] against [1024, 256].
fn is_row(row: &[usize], out: &[usize]) -> bool {
    let lead = row.iter().take_while(|&&d| d == 1).count();
    let tail = &row[lead..];
    tail.len() <= out.len() && out[out.len() - tail.len()..] == *tail
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
    let same = a.shape() == b.shape();
    // vec4 fast paths: same shapes, or a full operand against a repeated row (bias add).
    let (full_a, full_b) = (a.numel() == n, b.numel() == n);
    let row = if same || n == 0 {
        None
    } else if full_a && is_row(b.shape(), &out_shape) {
        Some((false, b.numel()))
    } else if full_b && is_row(a.shape(), &out_shape) {
        Some((true, a.numel()))
    } else {
        None
    };
    let vec4_row = row.is_some_and(|(_, len)| len % 4 == 0);
    if n % 4 == 0 && (same || vec4_row) {
        let (entry, row_is_a, len) = match row {
            None => ("binary_same4", false, 0),
            Some((row_is_a, len)) => ("binary_rows4", row_is_a, len),
        };
        let params = Params4 {
            n4: (n / 4) as u32,
            len4: (len / 4) as u32,
            _pad: [0; 2],
        };
        let mut kernel = Kernel::new(BINARY, entry).with("OP", op as u32 as f64);
        if entry == "binary_rows4" {
            kernel = kernel.with("ROW_IS_A", row_is_a as u32 as f64);
        }
        let bufs = [a.buffer(), b.buffer(), out.buffer()];
        a.device().0.dispatch(
            &kernel,
            &bufs,
            bytemuck::bytes_of(&params),
            grid_1d(n / 4, 256),
        );
        return out;
    }
    let params = Params {
        n: n as u32,
        rank: out_shape.len() as u32,
        _pad: [0; 2],
        shape: pack8(name, &out_shape),
        a_strides: pack8(name, &shape::broadcast_strides(a.shape(), &out_shape)),
        b_strides: pack8(name, &shape::broadcast_strides(b.shape(), &out_shape)),
    };
    let entry = if same {
        "binary_same"
    } else {
        "binary_broadcast"
    };
    let kernel = Kernel::new(BINARY, entry).with("OP", op as u32 as f64);
    a.device().0.dispatch(
        &kernel,
        &[a.buffer(), b.buffer(), out.buffer()],
        bytemuck::bytes_of(&params),
        grid_1d(n, 256),
    );
    out
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
