//! Sampling-time fields: classifier-free guidance, the score <-> velocity adapters of a
//! Gaussian path, and the Langevin-corrected flow SDE.
//! Legend: N = batch, D = dimension.

use engine::Tensor;

use crate::dynamics::{Ode, Sde};
use crate::fields::ConditionalMlpField;
use crate::path::{full_time, GaussianPath};

/// The guided field of classifier-free guidance, in the course's (lab 2's) convention:
///
///   u~_t(x | y) = (1 - w) u_t(x | null) + w u_t(x | y) = u_t(x | null) + w (u_t(x | y) - u_t(x | null))
///
/// w = 1: the plain conditional field (no guidance); w = 0: the unconditional field;
/// w > 1: guided, extrapolating away from the unconditional field.
///
/// The other common convention (Ho & Salimans 2022, "guidance scale" w') writes
///   u~ = (1 + w') u(x | y) - w' u(x | null) = u(x | null) + (1 + w') (u(x | y) - u(x | null)),
/// so w = 1 + w': w' = 0 (no guidance there) is w = 1 here, and w' = -1 (unconditional) is w = 0.
pub fn guided_field(
    field: &ConditionalMlpField,
    x: &Tensor,
    t: &Tensor,
    labels: &[u32],
    w: f32,
) -> Tensor {
    let cond = field.forward(x, t, labels);
    if w == 1.0 {
        return cond;
    }
    let uncond = field.forward_null(x, t);
    if w == 0.0 {
        return uncond;
    }
    uncond.mul_scalar(1.0 - w).add(&cond.mul_scalar(w))
}

/// `guided_field` with fixed labels [N] and weight w, as an ODE for the simulators.
pub struct GuidedField<'a> {
    pub field: &'a ConditionalMlpField,
    pub labels: Vec<u32>,
    pub w: f32,
}

impl Ode for GuidedField<'_> {
    fn drift(&self, x: &Tensor, t: f32) -> Tensor {
        assert!(
            x.dim(0) == self.labels.len(),
            "GuidedField: x {:?} with {} labels",
            x.shape(),
            self.labels.len()
        );
        guided_field(
            self.field,
            x,
            &full_time(x.device(), x.dim(0), t),
            &self.labels,
            self.w,
        )
    }
}

/// The score of a Gaussian path obtained from its velocity field (`GaussianPath::velocity_to_score`);
/// undefined at t = 0 (alpha_0 = 0).
pub struct ScoreFromVelocity<U> {
    pub velocity: U,
    pub path: GaussianPath,
}

impl<U: Ode> Ode for ScoreFromVelocity<U> {
    fn drift(&self, x: &Tensor, t: f32) -> Tensor {
        let u = self.velocity.drift(x, t);
        self.path
            .velocity_to_score(&u, x, &full_time(x.device(), x.dim(0), t))
    }
}

/// The velocity field of a Gaussian path obtained from its score (`GaussianPath::score_to_velocity`);
/// undefined at t = 0.
pub struct VelocityFromScore<S> {
    pub score: S,
    pub path: GaussianPath,
}

impl<S: Ode> Ode for VelocityFromScore<S> {
    fn drift(&self, x: &Tensor, t: f32) -> Tensor {
        let s = self.score.drift(x, t);
        self.path
            .score_to_velocity(&s, x, &full_time(x.device(), x.dim(0), t))
    }
}

/// The flow SDE with Langevin correction
///   dX = [u_t(X) + sigma^2 / 2 s_t(X)] dt + sigma dW,
/// which has the same marginals p_t as the ODE dX = u_t(X) dt for every sigma >= 0 (the added
/// Langevin term leaves p_t invariant). Both fields are `Ode`s evaluated at the same time.
pub struct LangevinFlowSde<U, S> {
    pub flow: U,
    pub score: S,
    pub sigma: f32,
}

impl<U: Ode, S: Ode> Sde for LangevinFlowSde<U, S> {
    fn drift(&self, x: &Tensor, t: f32) -> Tensor {
        let u = self.flow.drift(x, t);
        u.add(
            &self
                .score
                .drift(x, t)
                .mul_scalar(0.5 * self.sigma * self.sigma),
        )
    }
    fn diffusion(&self, x: &Tensor, _t: f32) -> Tensor {
        Tensor::scalar(x.device(), self.sigma)
    }
}
