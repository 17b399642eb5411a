//! ODEs dX = u_t(X) dt and SDEs dX = u_t(X) dt + sigma_t(X) dW over a batch X [N, D].

use engine::Tensor;

use crate::density::Density;

/// An ODE given by its drift (vector field) u_t(x).
pub trait Ode {
    /// u_t(x): x [N, D] -> [N, D].
    fn drift(&self, x: &Tensor, t: f32) -> Tensor;
}

/// An SDE given by its drift u_t(x) and diffusion coefficient sigma_t(x).
pub trait Sde {
    /// u_t(x): x [N, D] -> [N, D].
    fn drift(&self, x: &Tensor, t: f32) -> Tensor;
    /// sigma_t(x): a tensor broadcastable to x: [N, D], [N, 1] or rank-0 [].
    fn diffusion(&self, x: &Tensor, t: f32) -> Tensor;
}

impl<T: Ode + ?Sized> Ode for &T {
    fn drift(&self, x: &Tensor, t: f32) -> Tensor {
        (**self).drift(x, t)
    }
}

impl<T: Sde + ?Sized> Sde for &T {
    fn drift(&self, x: &Tensor, t: f32) -> Tensor {
        (**self).drift(x, t)
    }
    fn diffusion(&self, x: &Tensor, t: f32) -> Tensor {
        (**self).diffusion(x, t)
    }
}

/// u_t(x) = -theta x, whose flow is x0 e^{-theta t}: the test problem for ODE solvers.
#[derive(Clone, Copy, Debug)]
pub struct LinearOde {
    pub theta: f32,
}

impl LinearOde {
    /// The exact solution at time t from x0 at time 0: x0 e^{-theta t}.
    pub fn exact(&self, x0: &Tensor, t: f32) -> Tensor {
        x0.mul_scalar((-self.theta * t).exp())
    }
}

impl Ode for LinearOde {
    fn drift(&self, x: &Tensor, _t: f32) -> Tensor {
        x.mul_scalar(-self.theta)
    }
}

/// dX = sigma dW: Var[X_t - X_0] = sigma^2 t.
#[derive(Clone, Copy, Debug)]
pub struct BrownianMotion {
    pub sigma: f32,
}

impl Sde for BrownianMotion {
    fn drift(&self, x: &Tensor, _t: f32) -> Tensor {
        x.zeros_like()
    }
    fn diffusion(&self, x: &Tensor, _t: f32) -> Tensor {
        Tensor::scalar(x.device(), self.sigma)
    }
}

/// dX = -theta X dt + sigma dW. From x0: mean x0 e^{-theta t}, variance
/// sigma^2 / (2 theta) (1 - e^{-2 theta t}), tending to the stationary sigma^2 / (2 theta).
#[derive(Clone, Copy, Debug)]
pub struct OrnsteinUhlenbeck {
    pub theta: f32,
    pub sigma: f32,
}

impl OrnsteinUhlenbeck {
    /// Var[X_t | X_0] = sigma^2 / (2 theta) (1 - e^{-2 theta t}).
    pub fn variance_at(&self, t: f32) -> f32 {
        self.stationary_variance() * (1.0 - (-2.0 * self.theta * t).exp())
    }
    /// sigma^2 / (2 theta).
    pub fn stationary_variance(&self) -> f32 {
        self.sigma * self.sigma / (2.0 * self.theta)
    }
}

impl Sde for OrnsteinUhlenbeck {
    fn drift(&self, x: &Tensor, _t: f32) -> Tensor {
        x.mul_scalar(-self.theta)
    }
    fn diffusion(&self, x: &Tensor, _t: f32) -> Tensor {
        Tensor::scalar(x.device(), self.sigma)
    }
}

/// Langevin dynamics dX = 1/2 sigma^2 grad log p(X) dt + sigma dW, whose stationary law is p.
/// The score comes from `Density::score` (autodiff unless the density overrides it).
#[derive(Clone, Debug)]
pub struct Langevin<D: Density> {
    pub density: D,
    pub sigma: f32,
}

impl<D: Density> Sde for Langevin<D> {
    fn drift(&self, x: &Tensor, _t: f32) -> Tensor {
        self.density
            .score(x)
            .mul_scalar(0.5 * self.sigma * self.sigma)
    }
    fn diffusion(&self, x: &Tensor, _t: f32) -> Tensor {
        Tensor::scalar(x.device(), self.sigma)
    }
}
