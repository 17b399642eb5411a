//! The exact marginal path of a Gaussian-mixture data distribution under a Gaussian path, so
//! learned fields can be compared with the truth.
//! Legend: N = batch, D = dimension, K = mixture components.
//!
//! Data z ~ sum_k w_k N(m_k, S_k), path x_t = a z + b eps (a = alpha_t, b = beta_t). Then
//!   p_t(x) = sum_k w_k N(x; a m_k, C_k),  C_k = a^2 S_k + b^2 I,
//! and with the responsibilities r_k(x) = w_k N(x; a m_k, C_k) / p_t(x) (a log-sum-exp) and
//! d_k = x - a m_k:
//!   score      grad log p_t(x) = -sum_k r_k C_k^-1 d_k
//!   posterior  E[z | x]        = sum_k r_k (m_k + a S_k C_k^-1 d_k)
//!   E[eps | x] = (x - a E[z | x]) / b = b sum_k r_k C_k^-1 d_k   (as C_k - a^2 S_k = b^2 I)
//!   field      u_t(x) = E[u_t(x | z) | x] = a' E[z | x] + b' E[eps | x] = a' E[z | x] - b' b score.
//! The last form has no 1/b, so it holds at t = 1 too where b' b is finite (CondOT: 0); with
//! beta_t = sqrt(1 - t), b' b = -1/2 but b'(1) is infinite, so t = 1 itself is refused there.

use engine::Tensor;

use crate::density::{check_batch, Density};
use crate::dynamics::Ode;
use crate::gaussian::Gaussian;
use crate::linalg::{cholesky, columns, combine, gram, inverse_lower, max_of, sum_of, to_f32};
use crate::mixture::GaussianMixture;
use crate::path::GaussianPath;

/// The marginal probability path of `data` under `path`; as an `Ode` its drift is u_t(x).
#[derive(Clone)]
pub struct MixtureMarginal {
    pub data: GaussianMixture,
    pub path: GaussianPath,
}

/// One component at one time: C_k^-1 and a S_k C_k^-1 (D x D, row-major) and N(a m_k, C_k).
struct ComponentAt {
    prec: Vec<f32>,
    gain: Vec<f32>,
    gauss: Gaussian,
}

impl MixtureMarginal {
    pub fn new(data: GaussianMixture, path: GaussianPath) -> MixtureMarginal {
        MixtureMarginal { data, path }
    }

    /// p_t itself: the mixture sum_k w_k N(a m_k, a^2 S_k + b^2 I) (p_0 = N(0, I), p_1 = data).
    pub fn at(&self, t: f32) -> GaussianMixture {
        let comps = self.components_at(t).into_iter().map(|c| c.gauss).collect();
        GaussianMixture::new(comps, self.data.weights().to_vec())
    }

    fn components_at(&self, t: f32) -> Vec<ComponentAt> {
        let (a, b) = (self.path.alpha(t) as f64, self.path.beta(t) as f64);
        let d = self.data.dim();
        self.data
            .components()
            .iter()
            .map(|c| {
                let s: Vec<f64> = c.cov().iter().map(|&v| v as f64).collect();
                let cm: Vec<f64> = (0..d * d)
                    .map(|k| a * a * s[k] + if k % (d + 1) == 0 { b * b } else { 0.0 })
                    .collect();
                let l = cholesky(&cm, d).unwrap_or_else(|_| {
                    panic!("MixtureMarginal: C_k at t = {t} is singular (a = {a}, b = {b})")
                });
                let prec = gram(&inverse_lower(&l, d), d);
                let gain: Vec<f64> = (0..d * d)
                    .map(|ij| {
                        a * (0..d)
                            .map(|k| s[ij / d * d + k] * prec[k * d + ij % d])
                            .sum::<f64>()
                    })
                    .collect();
                let mean = c.mean().iter().map(|&m| (a * m as f64) as f32).collect();
                ComponentAt {
                    prec: to_f32(&prec),
                    gain: to_f32(&gain),
                    gauss: Gaussian::new(mean, to_f32(&cm)),
                }
            })
            .collect()
    }

    /// The responsibilities r_k(x) (K columns [N, 1]), the columns of sum_k r_k C_k^-1 d_k and
    /// of E[z | x] (D columns [N, 1] each).
    fn posterior(&self, who: &str, x: &Tensor, t: f32) -> (Vec<Tensor>, Vec<Tensor>) {
        check_batch(who, x, self.data.dim());
        let comps = self.components_at(t);
        let a = self.path.alpha(t);
        let xc = columns(x);
        let l: Vec<Tensor> = comps
            .iter()
            .zip(self.data.weights())
            .map(|(c, w)| c.gauss.log_density(x).add_scalar(w.ln()))
            .collect();
        let m = max_of(&l); // [N, 1]
        let e: Vec<Tensor> = l.iter().map(|lk| lk.sub(&m).exp()).collect();
        let total = sum_of(&e);
        let mut pd: Option<Vec<Tensor>> = None; // sum_k r_k C_k^-1 d_k
        let mut ez: Option<Vec<Tensor>> = None; // E[z | x]
        for ((c, ek), data_c) in comps.iter().zip(&e).zip(self.data.components()) {
            let r = ek.div(&total); // [N, 1]
            let dk: Vec<Tensor> = xc
                .iter()
                .zip(data_c.mean())
                .map(|(col, &mj)| col.add_scalar(-a * mj))
                .collect();
            let p_d: Vec<Tensor> = combine(&dk, &c.prec).iter().map(|v| v.mul(&r)).collect();
            let z_k: Vec<Tensor> = combine(&dk, &c.gain)
                .iter()
                .zip(data_c.mean())
                .map(|(v, &mj)| v.add_scalar(mj).mul(&r))
                .collect();
            pd = Some(match pd {
                None => p_d,
                Some(acc) => acc.iter().zip(&p_d).map(|(u, v)| u.add(v)).collect(),
            });
            ez = Some(match ez {
                None => z_k,
                Some(acc) => acc.iter().zip(&z_k).map(|(u, v)| u.add(v)).collect(),
            });
        }
        (
            pd.expect("a mixture has components"),
            ez.expect("a mixture has components"),
        )
    }

    /// log p_t(x): x [N, D] -> [N, 1].
    pub fn log_density(&self, x: &Tensor, t: f32) -> Tensor {
        self.at(t).log_density(x)
    }

    /// grad log p_t(x): x [N, D] -> [N, D].
    pub fn score(&self, x: &Tensor, t: f32) -> Tensor {
        let (pd, _) = self.posterior("MixtureMarginal::score", x, t);
        cat(&pd.iter().map(Tensor::neg).collect::<Vec<_>>())
    }

    /// E[z | x_t = x]: x [N, D] -> [N, D].
    pub fn posterior_mean(&self, x: &Tensor, t: f32) -> Tensor {
        cat(&self.posterior("MixtureMarginal::posterior_mean", x, t).1)
    }

    /// u_t(x) = a' E[z | x] + b' b sum_k r_k C_k^-1 d_k: x [N, D] -> [N, D].
    pub fn vector_field(&self, x: &Tensor, t: f32) -> Tensor {
        let (pd, ez) = self.posterior("MixtureMarginal::vector_field", x, t);
        let (da, bdb) = (
            self.path.d_alpha(t),
            self.path.d_beta(t) * self.path.beta(t),
        );
        assert!(
            bdb.is_finite() && da.is_finite(),
            "MixtureMarginal::vector_field: the path's derivatives are infinite at t = {t}"
        );
        cat(&ez
            .iter()
            .zip(&pd)
            .map(|(z, p)| z.mul_scalar(da).add(&p.mul_scalar(bdb)))
            .collect::<Vec<_>>())
    }
}

impl Ode for MixtureMarginal {
    fn drift(&self, x: &Tensor, t: f32) -> Tensor {
        self.vector_field(x, t)
    }
}

/// The marginal score grad log p_t(x) as an `Ode` (for `LangevinFlowSde`).
#[derive(Clone)]
pub struct MarginalScore(pub MixtureMarginal);

impl Ode for MarginalScore {
    fn drift(&self, x: &Tensor, t: f32) -> Tensor {
        self.0.score(x, t)
    }
}

fn cat(cols: &[Tensor]) -> Tensor {
    Tensor::concat(&cols.iter().collect::<Vec<_>>(), 1)
}

/// ||a - b|| / ||b|| over all entries (b is the reference), computed on the CPU in f64.
pub fn relative_l2_error(a: &Tensor, b: &Tensor) -> f64 {
    assert!(
        a.shape() == b.shape(),
        "relative_l2_error: shapes {:?} and {:?}",
        a.shape(),
        b.shape()
    );
    let (a, b) = (a.to_vec(), b.to_vec());
    let num: f64 = a
        .iter()
        .zip(&b)
        .map(|(&x, &y)| (x as f64 - y as f64).powi(2))
        .sum();
    let den: f64 = b.iter().map(|&y| (y as f64).powi(2)).sum();
    (num / den.max(1e-300)).sqrt()
}
