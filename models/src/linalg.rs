//! Small dense linear algebra for the D x D matrices of a Gaussian (D = data dimension, 2 in
//! lab 1): Cholesky and triangular inverse on the CPU in f64, done once per distribution, and
//! the one GPU helper the densities need, a D x D matrix applied to every row of a batch.
//! Matrices are row-major slices of length D*D.

use engine::Tensor;

/// The lower-triangular L with L L^T = a, or `Err((k, pivot))` at the first pivot that is
/// not positive (then `a` is not positive definite).
pub fn cholesky(a: &[f64], d: usize) -> Result<Vec<f64>, (usize, f64)> {
    let mut l = vec![0.0; d * d];
    for i in 0..d {
        for j in 0..=i {
            let s: f64 = (0..j).map(|k| l[i * d + k] * l[j * d + k]).sum();
            if i == j {
                let pivot = a[i * d + i] - s;
                if pivot.is_nan() || pivot <= 0.0 {
                    return Err((i, pivot));
                }
                l[i * d + i] = pivot.sqrt();
            } else {
                l[i * d + j] = (a[i * d + j] - s) / l[j * d + j];
            }
        }
    }
    Ok(l)
}

/// The inverse of a lower-triangular matrix with a non-zero diagonal (forward substitution,
/// one column of the identity at a time); it is lower-triangular too.
pub fn inverse_lower(l: &[f64], d: usize) -> Vec<f64> {
    let mut inv = vec![0.0; d * d];
    for c in 0..d {
        for i in c..d {
            let rhs = if i == c { 1.0 } else { 0.0 };
            let s: f64 = (c..i).map(|k| l[i * d + k] * inv[k * d + c]).sum();
            inv[i * d + c] = (rhs - s) / l[i * d + i];
        }
    }
    inv
}

/// a^T a (the precision L^-T L^-1 from a = L^-1).
pub fn gram(a: &[f64], d: usize) -> Vec<f64> {
    let mut g = vec![0.0; d * d];
    for i in 0..d {
        for j in 0..d {
            g[i * d + j] = (0..d).map(|k| a[k * d + i] * a[k * d + j]).sum();
        }
    }
    g
}

pub fn to_f32(v: &[f64]) -> Vec<f32> {
    v.iter().map(|&x| x as f32).collect()
}

// GPU helpers. The densities work on a batch column by column: each column is [N, 1] and
// every op between columns has equal shapes. Broadcasting an [N, 1] column against [N, D], or
// reducing over a short last axis, would run the engine's reduce kernel over axis 1 (in the
// forward, or in the backward's `sum_to`), which spends a workgroup per row: on lavapipe that
// is ~100 ms for N = 10000, against ~1 ms for the column form.

/// The columns of x [N, D]: D tensors [N, 1].
pub fn columns(x: &Tensor) -> Vec<Tensor> {
    assert!(
        x.rank() == 2,
        "columns: x has shape {:?}, expected [N, D]",
        x.shape()
    );
    (0..x.dim(1)).map(|j| x.narrow(1, j, 1)).collect()
}

/// Linear combinations of columns: out_i = sum_j a[i, j] cols_j, each [N, 1]; `a` is D x D.
pub fn combine(cols: &[Tensor], a: &[f32]) -> Vec<Tensor> {
    let d = cols.len();
    assert!(
        d > 0 && a.len() == d * d,
        "combine: {d} columns with a matrix of {} entries",
        a.len()
    );
    (0..d)
        .map(|i| {
            let terms = (0..d)
                .filter(|&j| a[i * d + j] != 0.0)
                .map(|j| cols[j].mul_scalar(a[i * d + j]));
            terms
                .reduce(|acc, t| acc.add(&t))
                .unwrap_or_else(|| cols[0].zeros_like())
        })
        .collect()
}

/// Every row of x mapped by a: out[n, i] = sum_j a[i, j] x[n, j], i.e. out = x a^T.
/// x is [N, D], out is [N, D]; needs no matmul and has a gradient.
pub fn apply_rows(x: &Tensor, a: &[f32], d: usize) -> Tensor {
    assert!(
        x.rank() == 2 && x.dim(1) == d && a.len() == d * d,
        "apply_rows: x {:?} with a {d} x {d} matrix",
        x.shape()
    );
    let out = combine(&columns(x), a);
    Tensor::concat(&out.iter().collect::<Vec<_>>(), 1)
}

/// The elementwise sum of equal-shaped tensors.
pub fn sum_of(ts: &[Tensor]) -> Tensor {
    ts.iter().skip(1).fold(ts[0].clone(), |acc, t| acc.add(t))
}

/// The elementwise maximum of equal-shaped tensors.
pub fn max_of(ts: &[Tensor]) -> Tensor {
    ts.iter()
        .skip(1)
        .fold(ts[0].clone(), |acc, t| acc.maximum(t))
}
