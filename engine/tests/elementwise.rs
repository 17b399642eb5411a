//! Binary ops (broadcasting), unary ops and fills against f64 CPU references, on sizes that are
//! not multiples of the workgroup size and past the 1-D grid's wrap; gradients with check_op.
mod common;
use common::*;
use engine::{Device, Tensor};

type BinaryGpu = fn(&Tensor, &Tensor) -> Tensor;
type BinaryCpu = fn(f64, f64) -> f64;

fn b01(c: bool) -> f64 {
    if c {
        1.0
    } else {
        0.0
    }
}

/// Every binary op: (name, GPU op, f64 reference).
fn binary_ops() -> Vec<(&'static str, BinaryGpu, BinaryCpu)> {
    vec![
        ("add", |a, b| a.add(b), |x, y| x + y),
        ("sub", |a, b| a.sub(b), |x, y| x - y),
        ("mul", |a, b| a.mul(b), |x, y| x * y),
        ("div", |a, b| a.div(b), |x, y| x / y),
        ("maximum", |a, b| a.maximum(b), f64::max),
        ("minimum", |a, b| a.minimum(b), f64::min),
        ("eq", |a, b| a.eq(b), |x, y| b01(x == y)),
        ("gt", |a, b| a.gt(b), |x, y| b01(x > y)),
    ]
}

/// f64 reference of `f` broadcasting a (shape sa) with b (shape sb).
fn broadcast_ref(
    a: &[f64],
    sa: &[usize],
    b: &[f64],
    sb: &[usize],
    f: BinaryCpu,
) -> (Vec<usize>, Vec<f64>) {
    let rank = sa.len().max(sb.len());
    let pad = |s: &[usize]| [vec![1; rank - s.len()], s.to_vec()].concat();
    let (pa, pb) = (pad(sa), pad(sb));
    let out: Vec<usize> = pa.iter().zip(&pb).map(|(&x, &y)| x.max(y)).collect();
    let n: usize = out.iter().product();
    let vals = (0..n)
        .map(|i| {
            let idx = unravel(i, &out);
            f(
                a[broadcast_index(sa, &out, &idx)],
                b[broadcast_index(sb, &out, &idx)],
            )
        })
        .collect();
    (out, vals)
}

/// Values on a grid of quarters in [-2, 2], so that eq, maximum and minimum meet ties.
fn quarters(n: usize, seed: u64) -> Vec<f32> {
    uniform(n, -2.0, 2.0, seed)
        .iter()
        .map(|v| (v * 4.0).round() / 4.0)
        .collect()
}

/// Like `quarters` but never 0 (a divisor).
fn nonzero_quarters(n: usize, seed: u64) -> Vec<f32> {
    quarters(n, seed)
        .iter()
        .map(|&v| if v == 0.0 { 0.75 } else { v })
        .collect()
}

fn check_binary_forward(devs: &[(&str, Device)], sa: &[usize], sb: &[usize], seed: u64) {
    for (path, dev) in devs {
        check_binary_forward_on(path, dev, sa, sb, seed);
    }
}

fn check_binary_forward_on(path: &str, dev: &Device, sa: &[usize], sb: &[usize], seed: u64) {
    let a = quarters(sa.iter().product(), seed);
    let b = nonzero_quarters(sb.iter().product(), seed + 1000);
    let (ta, tb) = (
        Tensor::from_slice(dev, &a, sa),
        Tensor::from_slice(dev, &b, sb),
    );
    let a64: Vec<f64> = a.iter().map(|&v| v as f64).collect();
    let b64: Vec<f64> = b.iter().map(|&v| v as f64).collect();
    for (name, gpu, cpu) in binary_ops() {
        let (shape, want) = broadcast_ref(&a64, sa, &b64, sb, cpu);
        let out = gpu(&ta, &tb);
        assert_eq!(out.shape(), &shape[..], "{name} {sa:?} with {sb:?}");
        assert_close(
            &format!("{name} {sa:?} with {sb:?}, {path}"),
            &out.to_vec(),
            &want,
            1e-6,
            1e-6,
        );
    }
}

#[test]
fn binary_ops_same_shape_match_reference_for_awkward_sizes() {
    let dev = devices_for_reads();
    for n in [1, 255, 257, 1000, 70_000] {
        check_binary_forward(&dev, &[n], &[n], n as u64);
    }
    check_binary_forward(&dev, &[3, 5, 7], &[3, 5, 7], 1);
}

#[test]
fn binary_ops_broadcast_along_each_axis_match_reference() {
    let dev = devices_for_reads();
    let cases: &[(&[usize], &[usize])] = &[
        (&[4, 1, 3], &[1, 5, 1]),
        (&[7], &[2, 3, 7]),
        (&[2, 3, 7], &[7]),
        (&[], &[3, 3]),
        (&[3, 3], &[]),
        (&[5, 6, 70], &[1, 6, 70]), // along axis 0
        (&[5, 6, 70], &[5, 1, 70]), // along axis 1
        (&[5, 6, 70], &[5, 6, 1]),  // along axis 2
        (&[1, 6, 1], &[5, 1, 70]),
        (&[300, 1], &[1, 257]), // many workgroups
        // The vec4 "repeated row" fast path (a bias), with the row on either side:
        (&[1024, 256], &[256]),
        (&[8], &[3, 5, 8]),
        (&[3, 5, 8], &[1, 8]),
        (&[2, 4], &[2, 3, 2, 4]),
        (&[1, 1, 12], &[7, 12]),
        // One value per plane (an embedding [N, C, 1, 1] over [N, C, H, W]), either side,
        // planes of a multiple of 4 values and not:
        (&[5, 6, 4, 7], &[5, 6, 1, 1]),
        (&[2, 3, 1, 1], &[2, 3, 4, 4]),
        (&[5, 6, 3, 3], &[5, 6, 1, 1]),
        (&[300, 20], &[300, 1]),
        (&[1], &[3, 4]),
        // One value per channel repeated over the batch (a batch norm's [1, C, 1, 1]):
        (&[3, 5, 4, 4], &[1, 5, 1, 1]),
        (&[5, 1, 1], &[3, 5, 2, 6]),
        (&[2, 3, 5, 8], &[3, 5, 1]),
    ];
    for (i, (sa, sb)) in cases.iter().enumerate() {
        check_binary_forward(&dev, sa, sb, 100 + i as u64);
    }
}

#[test]
#[should_panic(expected = "add: shapes [2, 3] and [4] do not broadcast")]
fn add_of_shapes_that_do_not_broadcast_panics() {
    let dev = device();
    tensor(&dev, &[2, 3], 1).add(&tensor(&dev, &[4], 2));
}

/// Elements past 65535 workgroups of 256: the grid wraps into a second dimension.
const PAST_GRID_WRAP: usize = 65535 * 256 + 1000;

#[test]
fn add_and_exp_past_the_1d_grid_wrap_match_reference() {
    let dev = device();
    let n = PAST_GRID_WRAP;
    let a = uniform(n, -1.0, 1.0, 1);
    let b = uniform(n, -1.0, 1.0, 2);
    let ta = Tensor::from_slice(&dev, &a, &[n]);
    let sum = ta.add(&Tensor::from_slice(&dev, &b, &[n])).to_vec();
    let want: Vec<f64> = a
        .iter()
        .zip(&b)
        .map(|(&x, &y)| x as f64 + y as f64)
        .collect();
    assert_close("add past the grid wrap", &sum, &want, 1e-6, 1e-6);
    // Broadcast kernel too: a rank-0 operand.
    let scaled = ta.mul(&Tensor::scalar(&dev, 3.0)).to_vec();
    let want: Vec<f64> = a.iter().map(|&x| x as f64 * 3.0).collect();
    assert_close(
        "mul by rank-0 past the grid wrap",
        &scaled,
        &want,
        1e-6,
        1e-6,
    );
    let e = ta.exp().to_vec();
    let want: Vec<f64> = a.iter().map(|&x| (x as f64).exp()).collect();
    assert_close("exp past the grid wrap", &e, &want, 1e-6, 1e-5);
}

#[test]
fn binary_gradients_with_broadcasting_match_finite_differences() {
    let cases: &[(&[usize], &[usize])] = &[
        (&[4, 1, 3], &[1, 5, 1]),
        (&[2, 3], &[3]),
        (&[], &[3, 3]),
        (&[2, 3], &[2, 3]),
        (&[2, 3, 2, 2], &[2, 3, 1, 1]),
    ];
    for (name, gpu, cpu) in binary_ops()
        .into_iter()
        .filter(|(n, _, _)| *n != "eq" && *n != "gt")
    {
        for (i, (sa, sb)) in cases.iter().enumerate() {
            let a = uniform(sa.iter().product(), -2.0, 2.0, 10 + i as u64);
            // Divisors in [0.5, 2]; continuous values keep maximum/minimum away from ties.
            let b = uniform(sb.iter().product(), 0.5, 2.0, 20 + i as u64);
            let (sa2, sb2) = (sa.to_vec(), sb.to_vec());
            check_op(
                &format!("{name} {sa:?} with {sb:?}"),
                &[(sa, a), (sb, b)],
                |t| gpu(&t[0], &t[1]),
                |x| broadcast_ref(&x[0], &sa2, &x[1], &sb2, cpu).1,
                2e-3,
            );
        }
    }
}

/// A unary op: name, GPU op, f64 reference, input range, points where it has a kink or is
/// undefined (gradient checks keep away from them), forward tolerance.
struct Unary {
    name: &'static str,
    gpu: fn(&Tensor) -> Tensor,
    cpu: fn(f64) -> f64,
    range: (f32, f32),
    kinks: &'static [f32],
    tol: f64,
}

fn unary_ops() -> Vec<Unary> {
    let u = |name, gpu, cpu, range, kinks, tol| Unary {
        name,
        gpu,
        cpu,
        range,
        kinks,
        tol,
    };
    // WGSL only promises sin/cos to 2^-11 absolute, tanh by its formula: looser tolerances.
    vec![
        u(
            "neg",
            |t: &Tensor| t.neg(),
            |x: f64| -x,
            (-3.0, 3.0),
            &[] as &[f32],
            1e-6,
        ),
        u("exp", |t| t.exp(), f64::exp, (-3.0, 3.0), &[], 1e-5),
        u("log", |t| t.log(), f64::ln, (0.1, 4.0), &[], 1e-5),
        u("sqrt", |t| t.sqrt(), f64::sqrt, (0.1, 4.0), &[], 1e-5),
        u("sin", |t| t.sin(), f64::sin, (-3.0, 3.0), &[], 5e-4),
        u("cos", |t| t.cos(), f64::cos, (-3.0, 3.0), &[], 5e-4),
        u("tanh", |t| t.tanh(), f64::tanh, (-3.0, 3.0), &[], 5e-4),
        u(
            "sigmoid",
            |t| t.sigmoid(),
            |x| 1.0 / (1.0 + (-x).exp()),
            (-6.0, 6.0),
            &[],
            1e-5,
        ),
        u(
            "relu",
            |t| t.relu(),
            |x| x.max(0.0),
            (-3.0, 3.0),
            &[0.0],
            1e-6,
        ),
        u(
            "silu",
            |t| t.silu(),
            |x| x / (1.0 + (-x).exp()),
            (-6.0, 6.0),
            &[],
            1e-5,
        ),
        u("abs", |t| t.abs(), f64::abs, (-3.0, 3.0), &[0.0], 1e-6),
        u(
            "powf",
            |t| t.powf(2.5),
            |x| x.powf(2.5),
            (0.1, 3.0),
            &[],
            1e-5,
        ),
        u(
            "clamp",
            |t| t.clamp(-0.5, 0.7),
            |x| x.clamp(-0.5, 0.7),
            (-2.0, 2.0),
            &[-0.5, 0.7],
            1e-6,
        ),
        u(
            "add_scalar",
            |t| t.add_scalar(1.5),
            |x| x + 1.5,
            (-3.0, 3.0),
            &[],
            1e-6,
        ),
        u(
            "mul_scalar",
            |t| t.mul_scalar(-2.5),
            |x| x * -2.5,
            (-3.0, 3.0),
            &[],
            1e-6,
        ),
    ]
}

/// Inputs in `op.range`, at least 0.05 away from its kinks.
fn inputs_for(op: &Unary, n: usize, seed: u64) -> Vec<f32> {
    uniform(n, op.range.0, op.range.1, seed)
        .into_iter()
        .map(|v| match op.kinks.iter().find(|&&k| (v - k).abs() < 0.05) {
            Some(&k) => k + 0.1,
            None => v,
        })
        .collect()
}

#[test]
fn unary_ops_match_reference_for_awkward_sizes() {
    for (path, dev) in devices_for_reads() {
        unary_ops_match_reference_on(path, &dev);
    }
}

fn unary_ops_match_reference_on(path: &str, dev: &Device) {
    for op in unary_ops() {
        for n in [1, 255, 257, 1000, 70_000] {
            let x = inputs_for(&op, n, n as u64);
            let got = (op.gpu)(&Tensor::from_slice(dev, &x, &[n]));
            assert_eq!(got.shape(), &[n]);
            let want: Vec<f64> = x.iter().map(|&v| (op.cpu)(v as f64)).collect();
            assert_close(
                &format!("{} of {n}, {path}", op.name),
                &got.to_vec(),
                &want,
                op.tol,
                op.tol,
            );
        }
    }
}

#[test]
fn unary_gradients_match_finite_differences() {
    // 15 elements run the scalar kernels, 12 the vec4 ones; both read paths.
    for (path, dev) in devices_for_reads() {
        for op in unary_ops() {
            for shape in [[3, 5], [2, 6]] {
                let x = inputs_for(&op, shape.iter().product(), 7);
                let cpu = op.cpu;
                check_op_on(
                    &dev,
                    &format!("{} {shape:?}, {path}", op.name),
                    &[(&shape, x)],
                    |t| (op.gpu)(&t[0]),
                    |x| x[0].iter().map(|&v| cpu(v)).collect(),
                    2e-3,
                );
            }
        }
    }
}

#[test]
fn unary_gradient_of_clamp_is_zero_outside_the_bounds() {
    let dev = device();
    let x = Tensor::from_slice(&dev, &[-2.0, -0.4, 0.0, 0.6, 2.0], &[5]).set_requires_grad(true);
    x.clamp(-0.5, 0.7).backward_with(Tensor::ones(&dev, &[5]));
    assert_eq!(x.grad().unwrap().to_vec(), vec![0.0, 1.0, 1.0, 1.0, 0.0]);
}

#[test]
fn fills_match_reference() {
    let dev = device();
    for shape in [vec![1], vec![257], vec![3, 70_000], vec![]] {
        let n: usize = shape.iter().product();
        assert_eq!(
            Tensor::zeros(&dev, &shape).to_vec(),
            vec![0.0; n],
            "zeros {shape:?}"
        );
        assert_eq!(
            Tensor::ones(&dev, &shape).to_vec(),
            vec![1.0; n],
            "ones {shape:?}"
        );
        let f = Tensor::full(&dev, &shape, -2.75);
        assert_eq!(f.shape(), &shape[..]);
        assert_eq!(f.to_vec(), vec![-2.75; n], "full {shape:?}");
    }
    let t = tensor(&dev, &[2, 3], 1);
    assert_eq!(t.zeros_like().shape(), &[2, 3]);
    assert_eq!(t.ones_like().to_vec(), vec![1.0; 6]);

    // arange: -3, -2.5, ... below 997.5: 2001 values.
    let a = Tensor::arange(&dev, -3.0, 997.5, 0.5);
    let want: Vec<f64> = (0..2001).map(|i| -3.0 + 0.5 * i as f64).collect();
    assert_close("arange", &a.to_vec(), &want, 0.0, 0.0);
    // 4000 values: 4 a thread (fill_ramp4) over several workgroups.
    let a4 = Tensor::arange(&dev, -3.0, 1997.0, 0.5);
    let want: Vec<f64> = (0..4000).map(|i| -3.0 + 0.5 * i as f64).collect();
    assert_close("arange by 4", &a4.to_vec(), &want, 0.0, 0.0);
    let down = Tensor::arange(&dev, 5.0, 0.0, -1.5); // 5, 3.5, 2, 0.5
    assert_close(
        "arange down",
        &down.to_vec(),
        &[5.0, 3.5, 2.0, 0.5],
        0.0,
        0.0,
    );
    assert_eq!(Tensor::arange(&dev, 1.0, 1.0, 1.0).shape(), &[0]);

    let l = Tensor::linspace(&dev, -1.0, 1.0, 70_001);
    let want: Vec<f64> = (0..70_001)
        .map(|i| -1.0 + 2.0 * i as f64 / 70_000.0)
        .collect();
    assert_close("linspace", &l.to_vec(), &want, 1e-6, 1e-6);
    assert_eq!(Tensor::linspace(&dev, 4.0, 9.0, 1).to_vec(), vec![4.0]);
}
