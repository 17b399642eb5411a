//! A mixture of K Gaussians sum_k w_k N(mean_k, cov_k), with lab 1's two 2-D constructors.
//! Legend: N = batch, D = dimension, K = components.

use engine::ops::random::{philox_stream_cpu, uniform_from_bits};
use engine::{no_grad, Device, Tensor};

use crate::density::{check_batch, Density, Sampleable};
use crate::gaussian::Gaussian;
use crate::linalg::{max_of, sum_of};

#[derive(Clone, Debug)]
pub struct GaussianMixture {
    components: Vec<Gaussian>,
    weights: Vec<f32>, // [K], normalised to sum 1
}

impl GaussianMixture {
    /// Components of one dimension and positive weights (normalised here). Panics otherwise.
    pub fn new(components: Vec<Gaussian>, weights: Vec<f32>) -> GaussianMixture {
        let k = components.len();
        assert!(k > 0, "GaussianMixture::new: no components");
        assert!(
            weights.len() == k,
            "GaussianMixture::new: {k} components but {} weights",
            weights.len()
        );
        let d = components[0].dim();
        assert!(
            components.iter().all(|c| c.dim() == d),
            "GaussianMixture::new: components of different dimensions {:?}",
            components.iter().map(Gaussian::dim).collect::<Vec<_>>()
        );
        assert!(
            weights.iter().all(|&w| w > 0.0 && w.is_finite()),
            "GaussianMixture::new: weights {weights:?} must be positive"
        );
        let total: f32 = weights.iter().sum();
        GaussianMixture {
            components,
            weights: weights.iter().map(|w| w / total).collect(),
        }
    }

    /// Lab 1's `random_2D`: `nmodes` equally weighted N(mean_k, std^2 I) with
    /// mean_k = (U[0,1)^2 - 0.5) * scale, the uniforms from the CPU Philox stream of `seed`
    /// (the same generator as the GPU's, so no device is needed).
    pub fn random_2d(nmodes: usize, std: f32, scale: f32, seed: u64) -> GaussianMixture {
        let u: Vec<f32> = philox_stream_cpu(2 * nmodes, seed, 0)
            .into_iter()
            .map(uniform_from_bits)
            .collect();
        let comps = (0..nmodes).map(|k| {
            Gaussian::spherical(
                vec![(u[2 * k] - 0.5) * scale, (u[2 * k + 1] - 0.5) * scale],
                std,
            )
        });
        GaussianMixture::new(comps.collect(), vec![1.0; nmodes])
    }

    /// Lab 1's `symmetric_2D`: `nmodes` equally weighted N(mean_k, std^2 I) with means at
    /// angles 2 pi k / nmodes on the circle of radius `scale`.
    pub fn symmetric_2d(nmodes: usize, std: f32, scale: f32) -> GaussianMixture {
        let comps = (0..nmodes).map(|k| {
            let a = 2.0 * std::f32::consts::PI * k as f32 / nmodes as f32;
            Gaussian::spherical(vec![scale * a.cos(), scale * a.sin()], std)
        });
        GaussianMixture::new(comps.collect(), vec![1.0; nmodes])
    }

    pub fn dim(&self) -> usize {
        self.components[0].dim()
    }
    pub fn components(&self) -> &[Gaussian] {
        &self.components
    }
    pub fn weights(&self) -> &[f32] {
        &self.weights
    }

    /// The columns log w_k + log N_k(x), K tensors [N, 1] (kept apart: see `linalg`).
    fn joint_log(&self, who: &str, x: &Tensor) -> Vec<Tensor> {
        check_batch(who, x, self.dim());
        let comps = self.components.iter().zip(&self.weights);
        comps
            .map(|(c, w)| c.log_density(x).add_scalar(w.ln()))
            .collect()
    }

    /// log sum_k exp(l_k) = m + log sum_k exp(l_k - m), m = max_k l_k (held constant: the
    /// result does not depend on it, so neither does the gradient): K columns -> [N, 1].
    fn log_sum_exp(l: &[Tensor]) -> Tensor {
        let m = no_grad(|| max_of(l)); // [N, 1]
        let e: Vec<Tensor> = l.iter().map(|c| c.sub(&m).exp()).collect();
        sum_of(&e).log().add(&m)
    }

    /// The closed-form score sum_k r_k(x) score_k(x), with responsibilities
    /// r_k(x) = w_k N_k(x) / p(x) = exp(l_k - log p(x)): x [N, D] -> [N, D].
    pub fn score_exact(&self, x: &Tensor) -> Tensor {
        let l = self.joint_log("GaussianMixture::score_exact", x);
        let lp = Self::log_sum_exp(&l);
        let d = self.dim();
        let mut out: Vec<Tensor> = (0..d).map(|_| lp.zeros_like()).collect(); // D columns [N, 1]
        for (c, lk) in self.components.iter().zip(&l) {
            let r = lk.sub(&lp).exp(); // [N, 1]
            let s = c.score_of_centered(&c.centered_columns("GaussianMixture::score_exact", x));
            out = out
                .iter()
                .zip(&s)
                .map(|(o, sj)| o.add(&r.mul(sj)))
                .collect();
        }
        Tensor::concat(&out.iter().collect::<Vec<_>>(), 1)
    }

    /// For each row of x [N, D], the index of the nearest component mean (on the CPU).
    pub fn mode_of(&self, x: &Tensor) -> Vec<usize> {
        check_batch("GaussianMixture::mode_of", x, self.dim());
        let d = self.dim();
        let dist = |row: &[f32], m: &[f32]| {
            row.iter()
                .zip(m)
                .map(|(a, b)| (a - b) * (a - b))
                .sum::<f32>()
        };
        x.to_vec()
            .chunks(d)
            .map(|row| {
                let ds = self.components.iter().map(|c| dist(row, c.mean()));
                ds.enumerate()
                    .fold(
                        (0, f32::INFINITY),
                        |best, (k, v)| if v < best.1 { (k, v) } else { best },
                    )
                    .0
            })
            .collect()
    }
}

impl Density for GaussianMixture {
    /// log p(x) = log sum_k w_k N_k(x), max-subtracted: x [N, D] -> [N, 1].
    fn log_density(&self, x: &Tensor) -> Tensor {
        Self::log_sum_exp(&self.joint_log("GaussianMixture::log_density", x))
    }
}

impl GaussianMixture {
    /// n component indices drawn from the weights (uniforms from `Tensor::rand`, read back).
    pub fn sample_component_indices(&self, dev: &Device, n: usize) -> Vec<u32> {
        let k = self.components.len();
        let u = Tensor::rand(dev, &[n]).to_vec();
        let mut cdf = self.weights.clone();
        for i in 1..k {
            cdf[i] += cdf[i - 1];
        }
        u.iter()
            .map(|&v| cdf.iter().position(|&c| v < c).unwrap_or(k - 1) as u32)
            .collect()
    }

    /// One sample per index, from component idx[i]: mean_k + L_k z for all samples at once,
    /// with the per-sample mean and L gathered by index: [n, D].
    pub fn sample_components(&self, dev: &Device, idx: &[u32]) -> Tensor {
        let (d, k, n) = (self.dim(), self.components.len(), idx.len());
        let means: Vec<f32> = self
            .components
            .iter()
            .flat_map(|c| c.mean().to_vec())
            .collect();
        let chols: Vec<f32> = self
            .components
            .iter()
            .flat_map(|c| c.chol().to_vec())
            .collect();
        let mean = Tensor::from_slice(dev, &means, &[k, d]).index_select(0, idx); // [n, D]
        let l = Tensor::from_slice(dev, &chols, &[k, d * d])
            .index_select(0, idx)
            .reshape(&[n, d, d]); // [n, D, D]
        let z = Tensor::randn(dev, &[n, d]);
        let mut x = mean;
        for j in 0..d {
            // x[:, i] += L[:, i, j] z[:, j]
            x = x.add(&l.narrow(2, j, 1).reshape(&[n, d]).mul(&z.narrow(1, j, 1)));
        }
        x
    }
}

impl Sampleable for GaussianMixture {
    /// Picks a component per sample, then samples each from its component.
    fn sample(&self, dev: &Device, n: usize) -> Tensor {
        let idx = self.sample_component_indices(dev, n);
        self.sample_components(dev, &idx)
    }
}
