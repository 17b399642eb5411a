//! Conditional probability paths p_t(x | z) from p_init (t = 0) to the point mass at a data
//! point z (t = 1), as in the course notes (chapter 3) and lab 2.
//! Legend: N = batch, D = dimension. Times are per sample: t is [N, 1] (or any tensor that
//! broadcasts against [N, D], e.g. a rank-0 scalar).
//!
//! - Gaussian path: x_t = alpha_t z + beta_t eps, eps ~ N(0, I), with alpha_0 = beta_1 = 0 and
//!   alpha_1 = beta_0 = 1, so p_init = N(0, I).
//!   conditional vector field  u_t(x | z) = (alpha'_t - beta'_t / beta_t alpha_t) z + beta'_t / beta_t x
//!   conditional score         grad log p_t(x | z) = (alpha_t z - x) / beta_t^2
//!   Both divide by beta_t: they are defined for t in [0, 1).
//! - Linear path: x_t = (1 - t) x0 + t z with x0 from any p_init (not necessarily Gaussian);
//!   the conditional field given (x0, z) is z - x0, and given z alone (z - x_t) / (1 - t).

use std::f32::consts::FRAC_PI_2;
use std::rc::Rc;

use engine::{Device, Tensor};

use crate::density::Sampleable;

/// A scalar schedule s(t) on [0, 1] (an alpha_t or a beta_t) with its derivative, evaluated
/// either at one time (f32) or elementwise on a tensor of times (engine ops, on the device).
pub trait Schedule {
    fn value(&self, t: f32) -> f32;
    fn deriv(&self, t: f32) -> f32;
    /// s(t) elementwise: t [N, 1] -> [N, 1].
    fn value_t(&self, t: &Tensor) -> Tensor;
    /// s'(t) elementwise: t [N, 1] -> [N, 1].
    fn deriv_t(&self, t: &Tensor) -> Tensor;
}

/// alpha_t = t.
#[derive(Clone, Copy, Debug, Default)]
pub struct LinearAlpha;

/// beta_t = sqrt(1 - t) (lab 2's default beta): derivative -1 / (2 sqrt(1 - t)), infinite at 1.
#[derive(Clone, Copy, Debug, Default)]
pub struct SqrtBeta;

/// beta_t = 1 - t: with `LinearAlpha` the CondOT path x_t = t z + (1 - t) eps.
#[derive(Clone, Copy, Debug, Default)]
pub struct LinearBeta;

/// alpha_t = sin(pi t / 2): the signal half of the cosine variance-preserving schedule.
#[derive(Clone, Copy, Debug, Default)]
pub struct CosineAlpha;

/// beta_t = cos(pi t / 2): with `CosineAlpha`, alpha_t^2 + beta_t^2 = 1 (variance preserving;
/// the cosine schedule of Nichol & Dhariwal 2021 without their offset, time reversed so that
/// data sits at t = 1).
#[derive(Clone, Copy, Debug, Default)]
pub struct CosineBeta;

impl Schedule for LinearAlpha {
    fn value(&self, t: f32) -> f32 {
        t
    }
    fn deriv(&self, _t: f32) -> f32 {
        1.0
    }
    fn value_t(&self, t: &Tensor) -> Tensor {
        t.clone()
    }
    fn deriv_t(&self, t: &Tensor) -> Tensor {
        t.ones_like()
    }
}

impl Schedule for SqrtBeta {
    fn value(&self, t: f32) -> f32 {
        (1.0 - t).sqrt()
    }
    fn deriv(&self, t: f32) -> f32 {
        -0.5 / (1.0 - t).sqrt()
    }
    fn value_t(&self, t: &Tensor) -> Tensor {
        t.neg().add_scalar(1.0).sqrt()
    }
    fn deriv_t(&self, t: &Tensor) -> Tensor {
        // -1/2 (1 - t)^(-1/2)
        t.neg().add_scalar(1.0).powf(-0.5).mul_scalar(-0.5)
    }
}

impl Schedule for LinearBeta {
    fn value(&self, t: f32) -> f32 {
        1.0 - t
    }
    fn deriv(&self, _t: f32) -> f32 {
        -1.0
    }
    fn value_t(&self, t: &Tensor) -> Tensor {
        t.neg().add_scalar(1.0)
    }
    fn deriv_t(&self, t: &Tensor) -> Tensor {
        t.ones_like().neg()
    }
}

impl Schedule for CosineAlpha {
    fn value(&self, t: f32) -> f32 {
        (FRAC_PI_2 * t).sin()
    }
    fn deriv(&self, t: f32) -> f32 {
        FRAC_PI_2 * (FRAC_PI_2 * t).cos()
    }
    fn value_t(&self, t: &Tensor) -> Tensor {
        t.mul_scalar(FRAC_PI_2).sin()
    }
    fn deriv_t(&self, t: &Tensor) -> Tensor {
        t.mul_scalar(FRAC_PI_2).cos().mul_scalar(FRAC_PI_2)
    }
}

impl Schedule for CosineBeta {
    fn value(&self, t: f32) -> f32 {
        (FRAC_PI_2 * t).cos()
    }
    fn deriv(&self, t: f32) -> f32 {
        -FRAC_PI_2 * (FRAC_PI_2 * t).sin()
    }
    fn value_t(&self, t: &Tensor) -> Tensor {
        t.mul_scalar(FRAC_PI_2).cos()
    }
    fn deriv_t(&self, t: &Tensor) -> Tensor {
        t.mul_scalar(FRAC_PI_2).sin().mul_scalar(-FRAC_PI_2)
    }
}

/// What flow-matching training needs from a conditional path.
pub trait ConditionalPath {
    /// n draws from p_init: [n, dim].
    fn sample_init(&self, dev: &Device, n: usize, dim: usize) -> Tensor;
    /// x ~ p_t(x | z): z [N, D], t [N, 1] -> [N, D].
    fn sample_conditional_path(&self, z: &Tensor, t: &Tensor) -> Tensor;
    /// u_t(x | z): x, z [N, D], t [N, 1] -> [N, D].
    fn conditional_vector_field(&self, x: &Tensor, z: &Tensor, t: &Tensor) -> Tensor;
}

/// The Gaussian path x_t = alpha_t z + beta_t eps (see the module doc).
#[derive(Clone)]
pub struct GaussianPath {
    pub alpha: Rc<dyn Schedule>,
    pub beta: Rc<dyn Schedule>,
}

impl GaussianPath {
    pub fn new(alpha: impl Schedule + 'static, beta: impl Schedule + 'static) -> GaussianPath {
        GaussianPath {
            alpha: Rc::new(alpha),
            beta: Rc::new(beta),
        }
    }
    /// alpha_t = t, beta_t = 1 - t (CondOT).
    pub fn cond_ot() -> GaussianPath {
        GaussianPath::new(LinearAlpha, LinearBeta)
    }
    /// alpha_t = t, beta_t = sqrt(1 - t) (lab 2's Gaussian path).
    pub fn sqrt_beta() -> GaussianPath {
        GaussianPath::new(LinearAlpha, SqrtBeta)
    }
    /// alpha_t = sin(pi t / 2), beta_t = cos(pi t / 2) (variance preserving).
    pub fn cosine() -> GaussianPath {
        GaussianPath::new(CosineAlpha, CosineBeta)
    }

    pub fn alpha(&self, t: f32) -> f32 {
        self.alpha.value(t)
    }
    pub fn beta(&self, t: f32) -> f32 {
        self.beta.value(t)
    }
    pub fn d_alpha(&self, t: f32) -> f32 {
        self.alpha.deriv(t)
    }
    pub fn d_beta(&self, t: f32) -> f32 {
        self.beta.deriv(t)
    }

    /// u_t(x | z) = (alpha' - beta'/beta alpha) z + beta'/beta x: x, z [N, D], t [N, 1] -> [N, D].
    pub fn conditional_vector_field(&self, x: &Tensor, z: &Tensor, t: &Tensor) -> Tensor {
        check_pair("GaussianPath::conditional_vector_field", x, z);
        let (a, b, da, db) = (
            self.alpha.value_t(t),
            self.beta.value_t(t),
            self.alpha.deriv_t(t),
            self.beta.deriv_t(t),
        );
        let r = db.div(&b); // beta'/beta, [N, 1]
        let cz = da.sub(&r.mul(&a)); // [N, 1]
        z.mul(&cz).add(&x.mul(&r))
    }

    /// grad_x log p_t(x | z) = (alpha z - x) / beta^2: x, z [N, D], t [N, 1] -> [N, D].
    pub fn conditional_score(&self, x: &Tensor, z: &Tensor, t: &Tensor) -> Tensor {
        check_pair("GaussianPath::conditional_score", x, z);
        let (a, b) = (self.alpha.value_t(t), self.beta.value_t(t));
        z.mul(&a).sub(x).div(&b.square())
    }

    /// The coefficients (c_s, c_x) of u = c_s s + c_x x (lab 2, part 3.3):
    /// c_s = beta^2 alpha'/alpha - beta' beta, c_x = alpha'/alpha, each [N, 1].
    /// They divide by alpha, so t must be > 0.
    fn conversion(&self, t: &Tensor) -> (Tensor, Tensor) {
        let (a, b, da, db) = (
            self.alpha.value_t(t),
            self.beta.value_t(t),
            self.alpha.deriv_t(t),
            self.beta.deriv_t(t),
        );
        let cx = da.div(&a);
        let cs = b.square().mul(&cx).sub(&db.mul(&b));
        (cs, cx)
    }

    /// The velocity of the same path from its score (exact for Gaussian paths, both for the
    /// conditional and for the marginal quantities): u = (beta^2 alpha'/alpha - beta' beta) s +
    /// alpha'/alpha x. s, x [N, D], t [N, 1] with t > 0 -> [N, D].
    pub fn score_to_velocity(&self, s: &Tensor, x: &Tensor, t: &Tensor) -> Tensor {
        check_pair("GaussianPath::score_to_velocity", s, x);
        let (cs, cx) = self.conversion(t);
        s.mul(&cs).add(&x.mul(&cx))
    }

    /// The inverse of `score_to_velocity`: s = (u - alpha'/alpha x) / (beta^2 alpha'/alpha - beta' beta).
    pub fn velocity_to_score(&self, u: &Tensor, x: &Tensor, t: &Tensor) -> Tensor {
        check_pair("GaussianPath::velocity_to_score", u, x);
        let (cs, cx) = self.conversion(t);
        u.sub(&x.mul(&cx)).div(&cs)
    }
}

impl ConditionalPath for GaussianPath {
    /// N(0, I).
    fn sample_init(&self, dev: &Device, n: usize, dim: usize) -> Tensor {
        Tensor::randn(dev, &[n, dim])
    }
    /// alpha_t z + beta_t eps with eps from the device's generator.
    fn sample_conditional_path(&self, z: &Tensor, t: &Tensor) -> Tensor {
        let (a, b) = (self.alpha.value_t(t), self.beta.value_t(t));
        z.mul(&a).add(&z.randn_like().mul(&b))
    }
    fn conditional_vector_field(&self, x: &Tensor, z: &Tensor, t: &Tensor) -> Tensor {
        GaussianPath::conditional_vector_field(self, x, z, t)
    }
}

/// The linear path x_t = (1 - t) x0 + t z, x0 ~ p_init (any sampler of the data's dimension).
#[derive(Clone, Debug)]
pub struct LinearPath<P> {
    pub p_init: P,
}

impl<P: Sampleable> LinearPath<P> {
    pub fn new(p_init: P) -> LinearPath<P> {
        LinearPath { p_init }
    }

    /// (1 - t) x0 + t z for given endpoints: x0, z [N, D], t [N, 1] -> [N, D].
    pub fn interpolate(&self, x0: &Tensor, z: &Tensor, t: &Tensor) -> Tensor {
        check_pair("LinearPath::interpolate", x0, z);
        x0.add(&z.sub(x0).mul(t))
    }

    /// The field given both endpoints, z - x0 (constant in t): [N, D].
    pub fn conditional_vector_field_given_source(&self, x0: &Tensor, z: &Tensor) -> Tensor {
        check_pair("LinearPath::conditional_vector_field_given_source", x0, z);
        z.sub(x0)
    }
}

impl<P: Sampleable> ConditionalPath for LinearPath<P> {
    fn sample_init(&self, dev: &Device, n: usize, dim: usize) -> Tensor {
        let x = self.p_init.sample(dev, n);
        assert!(
            x.dim(1) == dim,
            "LinearPath::sample_init: p_init has dimension {} but the data {dim}",
            x.dim(1)
        );
        x
    }
    /// (1 - t) x0 + t z with a fresh x0 ~ p_init per row.
    fn sample_conditional_path(&self, z: &Tensor, t: &Tensor) -> Tensor {
        let x0 = self.sample_init(z.device(), z.dim(0), z.dim(1));
        self.interpolate(&x0, z, t)
    }
    /// u_t(x | z) = (z - x) / (1 - t), which equals z - x0 on the path (t < 1).
    fn conditional_vector_field(&self, x: &Tensor, z: &Tensor, t: &Tensor) -> Tensor {
        check_pair("LinearPath::conditional_vector_field", x, z);
        z.sub(x).div(&t.neg().add_scalar(1.0))
    }
}

/// Panics unless a and b are both [N, D] of one shape.
pub(crate) fn check_pair(who: &str, a: &Tensor, b: &Tensor) {
    assert!(
        a.rank() == 2 && a.shape() == b.shape(),
        "{who}: shapes {:?} and {:?}, expected two equal [N, D]",
        a.shape(),
        b.shape()
    );
}

/// Times t [n, 1] all equal to `t` (to evaluate a per-sample-time function at one time).
pub fn full_time(dev: &Device, n: usize, t: f32) -> Tensor {
    Tensor::full(dev, &[n, 1], t)
}

/// Times t [n, 1] uniform in [0, 1) from the device's generator.
pub fn uniform_time(dev: &Device, n: usize) -> Tensor {
    Tensor::rand(dev, &[n, 1])
}
