//! The Fourier time embedding of lab 3 (`FourierEncoder`): a scalar time t in [0, 1] becomes a
//! vector of sines and cosines at learnable frequencies, so the network can resolve both slow
//! and fast changes in t.
//!
//! Legend: N = batch, E = embedding dim (even), F = E / 2 frequencies.
//!
//!   w ~ N(0, 1)                  [1, F], learnable
//!   emb(t) = sqrt(2) [sin(2 pi t w), cos(2 pi t w)]   [N, E]
//!
//! The sqrt(2) makes E[|emb|^2] / E = 1 (sin^2 + cos^2 = 1 per frequency pair), so the
//! embedding has unit scale per entry on average whatever E is.

use engine::{no_grad, Device, Tensor};

/// Learnable random-frequency Fourier features of a time t.
pub struct FourierEncoder {
    /// [1, F]: the frequencies, initialised N(0, 1) as in lab 3.
    pub weights: Tensor,
}

impl FourierEncoder {
    /// An encoder of `dim` features (`dim / 2` frequencies); `dim` must be even.
    pub fn new(dev: &Device, dim: usize) -> FourierEncoder {
        assert!(
            dim > 0 && dim.is_multiple_of(2),
            "FourierEncoder::new: dim must be even and positive, got {dim}"
        );
        let weights = no_grad(|| Tensor::randn(dev, &[1, dim / 2])).set_requires_grad(true);
        FourierEncoder { weights }
    }

    /// The embedding dimension E.
    pub fn dim(&self) -> usize {
        2 * self.weights.dim(1)
    }

    /// t [N] (or [N, 1]) -> [N, E].
    pub fn forward(&self, t: &Tensor) -> Tensor {
        let n = t.dim(0);
        assert!(
            (t.rank() == 1 || (t.rank() == 2 && t.dim(1) == 1)) && n > 0,
            "FourierEncoder::forward: t must be [N] or [N, 1], got {:?}",
            t.shape()
        );
        // freqs = 2 pi t w: [N, 1] * [1, F] -> [N, F]
        let freqs = t
            .reshape(&[n, 1])
            .mul(&self.weights)
            .mul_scalar(2.0 * std::f32::consts::PI);
        Tensor::concat(&[&freqs.sin(), &freqs.cos()], 1).mul_scalar(std::f32::consts::SQRT_2)
    }

    pub fn params(&self, prefix: &str) -> Vec<(String, Tensor)> {
        vec![(format!("{prefix}weights"), self.weights.clone())]
    }
}
