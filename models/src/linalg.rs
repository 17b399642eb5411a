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
                if !(pivot > 0.0) {
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

/// Every row of x mapped by a: out[n, i] = sum_j a[i, j] x[n, j], i.e. out = x a^T.
/// x is [N, D], out is [N, D]. Written as D broadcast multiply-adds of a column of x [N, 1]
/// with a column of a laid out as a row [1, D], so it needs no matmul and has a gradient.
pub fn apply_rows(x: &Tensor, a: &[f32], d: usize) -> Tensor {
    assert!(x.rank() == 2 && x.dim(1) == d && a.len() == d * d, "apply_rows: x {:?} with a {d} x {d} matrix", x.shape());
    let dev = x.device();
    let mut out: Option<Tensor> = None;
    for j in 0..d {
        let col: Vec<f32> = (0..d).map(|i| a[i * d + j]).collect();
        if col.iter().all(|&v| v == 0.0) {
            continue;
        }
        // term is [N, D]: x[:, j] (a[0, j], ..., a[D-1, j])
        let term = x.narrow(1, j, 1).mul(&Tensor::from_slice(dev, &col, &[1, d]));
        out = Some(match out {
            Some(acc) => acc.add(&term),
            None => term,
        });
    }
    out.unwrap_or_else(|| x.zeros_like())
}

pub fn to_f32(v: &[f64]) -> Vec<f32> {
    v.iter().map(|&x| x as f32).collect()
}
