//! The Fréchet distance between two sets of feature vectors, each summarised by a Gaussian
//! (mean and covariance): FID's measure when the features come from a trained classifier.
//!
//! Legend: N = samples in a set, D = feature dimension. Matrices are row-major `Vec<f64>` of
//! length D*D. Everything here runs on the CPU in f64.
//!
//! For Gaussians N(mu1, S1) and N(mu2, S2) the squared Fréchet (2-Wasserstein) distance is
//!   d^2 = |mu1 - mu2|^2 + tr(S1 + S2 - 2 (S1^1/2 S2 S1^1/2)^1/2).
//! S1^1/2 S2 S1^1/2 is symmetric positive semi-definite, so both square roots come from a
//! symmetric eigendecomposition A = V diag(l) V^T (cyclic Jacobi rotations): A^1/2 =
//! V diag(sqrt(l)) V^T, and tr(A^1/2) = sum sqrt(l). Eigenvalues that round-off pushes just
//! below zero are clamped to zero. (pytorch-fid computes the same trace as tr((S1 S2)^1/2),
//! whose eigenvalues are those of S1^1/2 S2 S1^1/2.)

/// Mean [D] and covariance [D, D] of a set of N feature vectors.
#[derive(Clone, Debug)]
pub struct FeatureStats {
    /// D, the feature dimension.
    pub dim: usize,
    /// N, the samples the statistics came from (0 when built from known moments).
    pub n: usize,
    /// [D]
    pub mean: Vec<f64>,
    /// [D, D], unbiased (divided by N - 1, as `numpy.cov`).
    pub cov: Vec<f64>,
}

impl FeatureStats {
    /// Statistics of the rows of `x` [N, D] (row-major, N = x.len() / D). Panics unless `x`
    /// holds a whole number of rows and N >= 2 (a covariance needs two samples).
    pub fn from_rows(x: &[f32], dim: usize) -> FeatureStats {
        assert!(
            dim > 0 && x.len().is_multiple_of(dim),
            "FeatureStats::from_rows: {} values are not a whole number of rows of dimension {dim}",
            x.len()
        );
        let n = x.len() / dim;
        assert!(
            n >= 2,
            "FeatureStats::from_rows: a covariance needs at least 2 samples, got {n} of dimension {dim}"
        );
        let mut mean = vec![0.0; dim];
        for row in x.chunks_exact(dim) {
            for (m, &v) in mean.iter_mut().zip(row) {
                *m += v as f64;
            }
        }
        mean.iter_mut().for_each(|m| *m /= n as f64);
        // cov[i, j] = sum over rows of (x_i - mean_i)(x_j - mean_j) / (N - 1); upper half, mirrored.
        let mut cov = vec![0.0; dim * dim];
        let mut centred = vec![0.0; dim];
        for row in x.chunks_exact(dim) {
            for ((c, &v), m) in centred.iter_mut().zip(row).zip(&mean) {
                *c = v as f64 - m;
            }
            for i in 0..dim {
                let ci = centred[i];
                for j in i..dim {
                    cov[i * dim + j] += ci * centred[j];
                }
            }
        }
        for i in 0..dim {
            for j in i..dim {
                let v = cov[i * dim + j] / (n - 1) as f64;
                cov[i * dim + j] = v;
                cov[j * dim + i] = v;
            }
        }
        FeatureStats { dim, n, mean, cov }
    }

    /// Statistics given exactly: `mean` [D], `cov` [D, D] (symmetric PSD). For closed-form checks.
    pub fn from_moments(mean: Vec<f64>, cov: Vec<f64>) -> FeatureStats {
        let dim = mean.len();
        assert!(
            dim > 0 && cov.len() == dim * dim,
            "FeatureStats::from_moments: a mean of dimension {dim} needs a {dim} x {dim} covariance, got {} entries",
            cov.len()
        );
        FeatureStats {
            dim,
            n: 0,
            mean,
            cov,
        }
    }
}

/// The squared Fréchet distance d^2 (the number FID reports) between the Gaussians of `a` and `b`.
/// Panics if their dimensions differ.
pub fn frechet_distance(a: &FeatureStats, b: &FeatureStats) -> f64 {
    assert!(
        a.dim == b.dim,
        "frechet_distance: feature dimensions differ: {} (N = {}) vs {} (N = {})",
        a.dim,
        a.n,
        b.dim,
        b.n
    );
    let d = a.dim;
    let mean_term: f64 = a
        .mean
        .iter()
        .zip(&b.mean)
        .map(|(x, y)| (x - y).powi(2))
        .sum();
    let trace = |m: &[f64]| (0..d).map(|i| m[i * d + i]).sum::<f64>();
    let s1_half = sqrt_psd(&a.cov, d);
    let mut m = matmul(&matmul(&s1_half, &b.cov, d), &s1_half, d);
    symmetrize(&mut m, d); // exact in exact arithmetic; removes round-off asymmetry
    let (eigenvalues, _) = symmetric_eigen(&m, d);
    let tr_sqrt: f64 = eigenvalues.iter().map(|&l| l.max(0.0).sqrt()).sum();
    mean_term + trace(&a.cov) + trace(&b.cov) - 2.0 * tr_sqrt
}

/// `frechet_distance` of the rows of two feature sets `a` [Na, D] and `b` [Nb, D].
pub fn frechet_distance_of(a: &[f32], b: &[f32], dim: usize) -> f64 {
    frechet_distance(
        &FeatureStats::from_rows(a, dim),
        &FeatureStats::from_rows(b, dim),
    )
}

/// The square root of a symmetric positive semi-definite matrix `a` [D, D]: V diag(sqrt(l)) V^T,
/// with eigenvalues below zero (round-off) clamped to zero.
pub fn sqrt_psd(a: &[f64], d: usize) -> Vec<f64> {
    let (l, v) = symmetric_eigen(a, d);
    let root: Vec<f64> = l.iter().map(|&x| x.max(0.0).sqrt()).collect();
    // out[i, j] = sum_k v[i, k] root[k] v[j, k]
    let mut out = vec![0.0; d * d];
    for i in 0..d {
        for j in i..d {
            let s: f64 = (0..d).map(|k| v[i * d + k] * root[k] * v[j * d + k]).sum();
            out[i * d + j] = s;
            out[j * d + i] = s;
        }
    }
    out
}

/// Most sweeps of Jacobi rotations; each sweep visits every off-diagonal pair once. Cyclic
/// Jacobi converges quadratically, typically in well under 15 sweeps.
const MAX_SWEEPS: usize = 100;

/// Eigenvalues [D] and eigenvectors [D, D] (column k belongs to eigenvalue k) of a symmetric
/// matrix `a` [D, D], by cyclic Jacobi rotations: each rotation J in the (p, q) plane makes
/// A <- J^T A J zero at (p, q); the product of the rotations is V. Stops when the off-diagonal
/// part is below 1e-15 of the matrix's norm. Panics on a non-square or non-symmetric input.
pub fn symmetric_eigen(a: &[f64], d: usize) -> (Vec<f64>, Vec<f64>) {
    assert!(
        a.len() == d * d,
        "symmetric_eigen: {} entries for a {d} x {d} matrix",
        a.len()
    );
    let norm: f64 = a.iter().map(|x| x * x).sum::<f64>().sqrt();
    for i in 0..d {
        for j in 0..i {
            let (x, y) = (a[i * d + j], a[j * d + i]);
            assert!(
                (x - y).abs() <= 1e-9 * norm.max(f64::MIN_POSITIVE),
                "symmetric_eigen: the matrix is not symmetric: a[{i},{j}] = {x}, a[{j},{i}] = {y}"
            );
        }
    }
    let mut a = a.to_vec();
    let mut v = vec![0.0; d * d];
    (0..d).for_each(|i| v[i * d + i] = 1.0);
    for _ in 0..MAX_SWEEPS {
        let off: f64 = (0..d)
            .flat_map(|i| (0..d).filter(move |&j| j != i).map(move |j| (i, j)))
            .map(|(i, j)| a[i * d + j].powi(2))
            .sum::<f64>()
            .sqrt();
        if off <= 1e-15 * norm {
            break;
        }
        for p in 0..d {
            for q in p + 1..d {
                rotate(&mut a, &mut v, d, p, q);
            }
        }
    }
    ((0..d).map(|i| a[i * d + i]).collect(), v)
}

/// One Jacobi rotation zeroing a[p, q] (and a[q, p]); applies the same rotation to v's columns.
fn rotate(a: &mut [f64], v: &mut [f64], d: usize, p: usize, q: usize) {
    let apq = a[p * d + q];
    if apq == 0.0 {
        return;
    }
    // With c = cos, s = sin, a'[p, q] = (c^2 - s^2) a[p, q] + c s (a[p, p] - a[q, q]) = 0, i.e.
    // t = tan satisfies t^2 + 2 theta t - 1 = 0, theta = (a[q, q] - a[p, p]) / (2 a[p, q]);
    // the smaller root keeps the rotation below 45 degrees (stable).
    let theta = (a[q * d + q] - a[p * d + p]) / (2.0 * apq);
    let t = theta.signum() / (theta.abs() + (theta * theta + 1.0).sqrt());
    let c = 1.0 / (t * t + 1.0).sqrt();
    let s = t * c;
    // A <- A J: columns p and q.
    for k in 0..d {
        let (akp, akq) = (a[k * d + p], a[k * d + q]);
        a[k * d + p] = c * akp - s * akq;
        a[k * d + q] = s * akp + c * akq;
    }
    // A <- J^T A: rows p and q.
    for k in 0..d {
        let (apk, aqk) = (a[p * d + k], a[q * d + k]);
        a[p * d + k] = c * apk - s * aqk;
        a[q * d + k] = s * apk + c * aqk;
    }
    // V <- V J
    for k in 0..d {
        let (vkp, vkq) = (v[k * d + p], v[k * d + q]);
        v[k * d + p] = c * vkp - s * vkq;
        v[k * d + q] = s * vkp + c * vkq;
    }
}

/// a [D, D] times b [D, D].
fn matmul(a: &[f64], b: &[f64], d: usize) -> Vec<f64> {
    let mut out = vec![0.0; d * d];
    for i in 0..d {
        for k in 0..d {
            let aik = a[i * d + k];
            for j in 0..d {
                out[i * d + j] += aik * b[k * d + j];
            }
        }
    }
    out
}

/// m <- (m + m^T) / 2
fn symmetrize(m: &mut [f64], d: usize) {
    for i in 0..d {
        for j in 0..i {
            let avg = 0.5 * (m[i * d + j] + m[j * d + i]);
            m[i * d + j] = avg;
            m[j * d + i] = avg;
        }
    }
}
