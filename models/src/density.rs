//! Distributions as the course uses them: a `Density` has a log density and a score
//! (grad_x log p), a `Sampleable` draws samples. Batches are [N, D].

use engine::{enable_grad, Device, Tensor};

pub trait Density {
    /// log p(x): x [N, D] -> [N, 1].
    fn log_density(&self, x: &Tensor) -> Tensor;

    /// grad_x log p(x): x [N, D] -> [N, D]. The default differentiates `log_density` with
    /// the engine's autodiff (rows are independent, so the gradient of the sum over rows is
    /// each row's own score). Works inside `no_grad`: recording is switched on here.
    fn score(&self, x: &Tensor) -> Tensor {
        let x = x.detach().set_requires_grad(true);
        enable_grad(|| self.log_density(&x).sum_all().backward());
        x.grad()
            .expect("Density::score: log_density does not depend on x")
    }
}

pub trait Sampleable {
    /// n samples [n, D] drawn with the device's generator (`dev.manual_seed` makes them
    /// reproducible).
    fn sample(&self, dev: &Device, n: usize) -> Tensor;
}

impl<T: Density + ?Sized> Density for &T {
    fn log_density(&self, x: &Tensor) -> Tensor {
        (**self).log_density(x)
    }
    fn score(&self, x: &Tensor) -> Tensor {
        (**self).score(x)
    }
}

impl<T: Sampleable + ?Sized> Sampleable for &T {
    fn sample(&self, dev: &Device, n: usize) -> Tensor {
        (**self).sample(dev, n)
    }
}

/// Panics unless x is [N, dim] (`who` names the caller in the message).
pub(crate) fn check_batch(who: &str, x: &Tensor, dim: usize) {
    assert!(
        x.rank() == 2 && x.dim(1) == dim,
        "{who}: x has shape {:?}, expected [N, {dim}]",
        x.shape()
    );
}
