//! upsample_nearest2d and upsample_bilinear2d against f64 CPU references, their gradients by
//! finite differences (check_op) and against the reference backward, and the panic messages.
//!
//! Legend: x is [N, C, H, W], y is [N, C, H*s, W*s], s = the scale.
mod common;
use common::*;
use engine::{Device, Tensor};

/// PyTorch's align_corners=False source index along one axis: (i0, i1, weight of i1).
fn taps(o: usize, s: usize, n: usize) -> (usize, usize, f64) {
    let src = ((o as f64 + 0.5) / s as f64 - 0.5).max(0.0);
    let i0 = (src.floor() as usize).min(n - 1);
    (i0, (i0 + 1).min(n - 1), src - i0 as f64)
}

/// For each output element, its (input index, weight) terms: nearest or bilinear.
fn terms(shape: &[usize], s: usize, bilinear: bool) -> Vec<Vec<(usize, f64)>> {
    let (planes, h, w) = (shape[0] * shape[1], shape[2], shape[3]);
    let mut out = Vec::new();
    for p in 0..planes {
        for oh in 0..h * s {
            for ow in 0..w * s {
                let at = |i: usize, j: usize| (p * h + i) * w + j;
                if !bilinear {
                    out.push(vec![(at(oh / s, ow / s), 1.0)]);
                    continue;
                }
                let (h0, h1, lh) = taps(oh, s, h);
                let (w0, w1, lw) = taps(ow, s, w);
                out.push(vec![
                    (at(h0, w0), (1.0 - lh) * (1.0 - lw)),
                    (at(h0, w1), (1.0 - lh) * lw),
                    (at(h1, w0), lh * (1.0 - lw)),
                    (at(h1, w1), lh * lw),
                ]);
            }
        }
    }
    out
}

fn reference(x: &[f64], shape: &[usize], s: usize, bilinear: bool) -> Vec<f64> {
    terms(shape, s, bilinear)
        .iter()
        .map(|t| t.iter().map(|&(i, wt)| wt * x[i]).sum())
        .collect()
}

/// The reference backward: each output's gradient scattered onto the inputs it read.
fn reference_grad(dy: &[f64], shape: &[usize], s: usize, bilinear: bool) -> Vec<f64> {
    let mut dx = vec![0.0; shape.iter().product()];
    for (t, g) in terms(shape, s, bilinear).iter().zip(dy) {
        for &(i, wt) in t {
            dx[i] += wt * g;
        }
    }
    dx
}

fn up(x: &Tensor, s: usize, bilinear: bool) -> Tensor {
    if bilinear {
        x.upsample_bilinear2d(s)
    } else {
        x.upsample_nearest2d(s)
    }
}

/// Forward and backward at `shape` against the references, reading the inputs from buffers and
/// (the bilinear kernels' "…_tex" entry points) through textures.
fn check(shape: &[usize], s: usize, bilinear: bool) {
    for (reads, dev) in devices_for_reads() {
        check_on(
            &dev,
            &format!("{shape:?} scale {s} bilinear {bilinear}, {reads}"),
            shape,
            s,
            bilinear,
        );
    }
}

fn check_on(dev: &Device, what: &str, shape: &[usize], s: usize, bilinear: bool) {
    let x = tensor(dev, shape, 1).set_requires_grad(true);
    let y = up(&x, s, bilinear);
    assert_eq!(
        y.shape(),
        [shape[0], shape[1], shape[2] * s, shape[3] * s],
        "{what}"
    );
    let xs: Vec<f64> = x.to_vec().iter().map(|&v| v as f64).collect();
    assert_close(
        what,
        &y.to_vec(),
        &reference(&xs, shape, s, bilinear),
        1e-6,
        1e-5,
    );
    let dy = tensor(dev, y.shape(), 2);
    y.backward_with(dy.clone());
    let dys: Vec<f64> = dy.to_vec().iter().map(|&v| v as f64).collect();
    let want = reference_grad(&dys, shape, s, bilinear);
    assert_close(
        &format!("{what} backward"),
        &x.grad().unwrap().to_vec(),
        &want,
        1e-5,
        1e-5,
    );
}

fn check_grad(shape: &[usize], s: usize, bilinear: bool) {
    check_op(
        &format!("{shape:?} scale {s} bilinear {bilinear}"),
        &[(shape, uniform(shape.iter().product(), -1.0, 1.0, 5))],
        |t| up(&t[0], s, bilinear),
        |v| reference(&v[0], shape, s, bilinear),
        1e-3,
    );
}

#[test]
fn nearest_matches_reference_for_scales_1_2_3() {
    check(&[2, 3, 5, 7], 2, false);
    check(&[1, 2, 4, 3], 3, false);
    check(&[2, 1, 3, 4], 1, false);
}

#[test]
fn bilinear_matches_reference_for_scales_1_2_3_4() {
    check(&[2, 3, 5, 7], 2, true);
    check(&[1, 2, 4, 3], 3, true);
    check(&[2, 1, 3, 4], 1, true);
    check(&[1, 1, 2, 5], 4, true);
    check(&[1, 1, 1, 1], 2, true);
}

#[test]
fn bilinear_2x2_by_2_gives_pytorchs_values() {
    // x = [[1, 2], [3, 4]], s = 2: sources (o + 0.5)/2 - 0.5 = -0.25 (clamped to 0), 0.25,
    // 0.75, 1.25 (i0 = 1 = i1 at the edge). Row 0 reads x row 0 only: 1, 1 + 0.25, 1 + 0.75, 2;
    // row 1 mixes rows 0 and 1 with weight 0.25 on row 1: each value + 0.25 * 2 = + 0.5.
    let dev = device();
    let x = Tensor::from_slice(&dev, &[1.0, 2.0, 3.0, 4.0], &[1, 1, 2, 2]);
    let want = [
        1.0, 1.25, 1.75, 2.0, 1.5, 1.75, 2.25, 2.5, 2.5, 2.75, 3.25, 3.5, 3.0, 3.25, 3.75, 4.0,
    ];
    assert_close(
        "2x2 bilinear",
        &x.upsample_bilinear2d(2).to_vec(),
        &want,
        1e-6,
        0.0,
    );
}

#[test]
fn many_workgroups_match_reference() {
    // 2*5*19*21*4 = 15960 outputs: 250 workgroups of 64.
    check(&[2, 5, 19, 21], 2, false);
    check(&[2, 5, 19, 21], 2, true);
}

#[test]
fn nearest_gradient_matches_finite_differences() {
    check_grad(&[2, 2, 3, 4], 2, false);
    check_grad(&[1, 1, 2, 3], 3, false);
}

#[test]
fn bilinear_gradient_matches_finite_differences() {
    check_grad(&[2, 2, 3, 4], 2, true);
    check_grad(&[1, 1, 2, 3], 3, true);
    check_grad(&[1, 2, 1, 2], 4, true);
}

#[test]
#[should_panic(
    expected = "upsample_bilinear2d: x must be [N, C, H, W], got shape [3, 4, 4] (rank 3)"
)]
fn bilinear_rank_3_panics() {
    Tensor::zeros(&device(), &[3, 4, 4]).upsample_bilinear2d(2);
}

#[test]
#[should_panic(expected = "upsample_nearest2d: scale must be at least 1, got 0")]
fn nearest_scale_0_panics() {
    Tensor::zeros(&device(), &[1, 3, 4, 4]).upsample_nearest2d(0);
}
