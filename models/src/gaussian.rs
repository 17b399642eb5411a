//! A multivariate Gaussian N(mean, cov) in D dimensions. The Cholesky factor L (cov = L L^T),
//! L^-1 and the precision cov^-1 are computed once on the CPU (f64) at construction; the
//! batch work runs on the GPU with D broadcast multiply-adds per matrix (see `linalg`).

use engine::{Device, Tensor};

use crate::density::{check_batch, Density, Sampleable};
use crate::linalg::{apply_rows, cholesky, columns, combine, gram, inverse_lower, sum_of, to_f32};

#[derive(Clone, Debug)]
pub struct Gaussian {
    mean: Vec<f32>,      // [D]
    cov: Vec<f32>,       // [D, D] row-major
    chol: Vec<f32>,      // [D, D] L, lower-triangular
    chol_inv: Vec<f32>,  // [D, D] L^-1
    precision: Vec<f32>, // [D, D] cov^-1
    log_norm: f32,       // -D/2 log(2 pi) - sum log L_ii
}

impl Gaussian {
    /// N(mean, cov) with `cov` D*D row-major. Panics unless cov is square of the mean's
    /// dimension, symmetric and positive definite.
    pub fn new(mean: Vec<f32>, cov: Vec<f32>) -> Gaussian {
        let d = mean.len();
        assert!(d > 0, "Gaussian::new: empty mean");
        assert!(
            cov.len() == d * d,
            "Gaussian::new: mean has dimension {d} but cov has {} entries, not {}",
            cov.len(),
            d * d
        );
        assert!(
            cov.iter().chain(&mean).all(|v| v.is_finite()),
            "Gaussian::new: mean {mean:?} or cov {cov:?} is not finite"
        );
        let scale = cov.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        for i in 0..d {
            for j in 0..i {
                let (a, b) = (cov[i * d + j], cov[j * d + i]);
                assert!((a - b).abs() <= 1e-6 * scale, "Gaussian::new: cov {cov:?} is not symmetric (entry ({i},{j}) = {a}, ({j},{i}) = {b})");
            }
        }
        let a: Vec<f64> = cov.iter().map(|&v| v as f64).collect();
        let l = cholesky(&a, d).unwrap_or_else(|(k, p)| {
            panic!(
                "Gaussian::new: cov {cov:?} is not positive definite (Cholesky pivot {k} is {p:e})"
            )
        });
        let l_inv = inverse_lower(&l, d);
        let log_det_half: f64 = (0..d).map(|i| l[i * d + i].ln()).sum();
        let log_norm = -0.5 * d as f64 * (2.0 * std::f64::consts::PI).ln() - log_det_half;
        Gaussian {
            mean,
            cov,
            chol: to_f32(&l),
            precision: to_f32(&gram(&l_inv, d)),
            chol_inv: to_f32(&l_inv),
            log_norm: log_norm as f32,
        }
    }

    /// N(0, std^2 I) in `dim` dimensions.
    pub fn isotropic(dim: usize, std: f32) -> Gaussian {
        Gaussian::spherical(vec![0.0; dim], std)
    }

    /// N(mean, std^2 I).
    pub fn spherical(mean: Vec<f32>, std: f32) -> Gaussian {
        let d = mean.len();
        let cov = (0..d * d)
            .map(|k| if k % (d + 1) == 0 { std * std } else { 0.0 })
            .collect();
        Gaussian::new(mean, cov)
    }

    pub fn dim(&self) -> usize {
        self.mean.len()
    }
    pub fn mean(&self) -> &[f32] {
        &self.mean
    }
    /// [D, D] row-major.
    pub fn cov(&self) -> &[f32] {
        &self.cov
    }
    /// The Cholesky factor L (cov = L L^T), [D, D] row-major.
    pub fn chol(&self) -> &[f32] {
        &self.chol
    }

    /// The columns of x - mean, each [N, 1], for x [N, D].
    pub(crate) fn centered_columns(&self, who: &str, x: &Tensor) -> Vec<Tensor> {
        check_batch(who, x, self.dim());
        columns(x)
            .iter()
            .zip(&self.mean)
            .map(|(c, &m)| c.add_scalar(-m))
            .collect()
    }

    /// log N(x; mean, cov) from the columns of x - mean: [N, 1].
    pub(crate) fn log_density_of_centered(&self, d: &[Tensor]) -> Tensor {
        let y = combine(d, &self.chol_inv); // L^-1 (x - mean), D columns [N, 1]
        let sq: Vec<Tensor> = y.iter().map(Tensor::square).collect();
        sum_of(&sq).mul_scalar(-0.5).add_scalar(self.log_norm)
    }

    /// The columns of the score -cov^-1 (x - mean) from the columns of x - mean.
    pub(crate) fn score_of_centered(&self, d: &[Tensor]) -> Vec<Tensor> {
        combine(d, &self.precision)
            .iter()
            .map(Tensor::neg)
            .collect()
    }

    /// The closed-form score -cov^-1 (x - mean): x [N, D] -> [N, D].
    pub fn score_exact(&self, x: &Tensor) -> Tensor {
        let s = self.score_of_centered(&self.centered_columns("Gaussian::score_exact", x));
        Tensor::concat(&s.iter().collect::<Vec<_>>(), 1)
    }
}

impl Density for Gaussian {
    /// log N(x; mean, cov) = log_norm - |L^-1 (x - mean)|^2 / 2: x [N, D] -> [N, 1].
    fn log_density(&self, x: &Tensor) -> Tensor {
        self.log_density_of_centered(&self.centered_columns("Gaussian::log_density", x))
    }
}

impl Sampleable for Gaussian {
    /// mean + L z with z ~ N(0, I) from the device's generator: [n, D].
    fn sample(&self, dev: &Device, n: usize) -> Tensor {
        let z = Tensor::randn(dev, &[n, self.dim()]);
        apply_rows(&z, &self.chol, self.dim()).add(&Tensor::from_slice(
            dev,
            &self.mean,
            &[1, self.dim()],
        ))
    }
}
