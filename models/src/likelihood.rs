//! Log-likelihoods under a flow, and distances between sample sets.
//! Legend: N = batch, D = dimension.
//!
//! Along the flow dx/dt = u_t(x), the density obeys d/dt log p_t(x_t) = -div u_t(x_t)
//! (the continuity equation), so for x_1 = x
//!   log p_1(x) = log p_0(x_0) - int_0^1 div u_t(x_t) dt,
//! where x_0 is found by integrating the ODE backwards from t = 1 to t = 0. Here both
//! are integrated together, backwards, with Euler or RK4 on an even grid.

use engine::{enable_grad, no_grad, Tensor};

use crate::density::Density;
use crate::dynamics::Ode;
use crate::linalg::sum_of;

/// How div u is computed.
#[derive(Clone, Copy, Debug)]
pub enum Divergence {
    /// sum_i d u_i / d x_i by autodiff: D backward passes (exact; meant for small D).
    Exact,
    /// Hutchinson's estimator E_v[v^T (du/dx) v] with `probes` probes v per evaluation,
    /// Rademacher (+-1) or standard Gaussian: one backward pass per probe, unbiased.
    Hutchinson { probes: usize, rademacher: bool },
}

/// The integration scheme for the joint (x, log p) ODE.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scheme {
    Euler,
    Rk4,
}

/// u_t(x) [N, D] and div u_t(x) [N, 1]. Runs the field with recording on; the backward
/// passes also reach the field's parameters, whose `.grad()` they leave filled: clear them
/// (`Optimizer::zero_grad`) before training further.
pub fn field_and_divergence(
    field: &impl Ode,
    x: &Tensor,
    t: f32,
    div: Divergence,
) -> (Tensor, Tensor) {
    let d = x.dim(1);
    let eval = |probe: &dyn Fn(&Tensor, &Tensor) -> Tensor| -> (Tensor, Tensor) {
        let xg = x.detach().set_requires_grad(true);
        let u = enable_grad(|| field.drift(&xg, t));
        let v = enable_grad(|| probe(&u, &xg));
        (u.detach(), v)
    };
    match div {
        Divergence::Exact => {
            let mut u_out = None;
            let mut terms = Vec::with_capacity(d);
            for i in 0..d {
                // d u_i / d x_i: the gradient of sum_n u[n, i] w.r.t. x, column i (rows are independent).
                let (u, g) = eval(&|u, xg| {
                    u.narrow(1, i, 1).sum_all().backward();
                    xg.grad()
                        .expect("field_and_divergence: the field does not depend on x")
                        .narrow(1, i, 1)
                });
                terms.push(g);
                u_out.get_or_insert(u);
            }
            (u_out.expect("D >= 1"), sum_of(&terms))
        }
        Divergence::Hutchinson { probes, rademacher } => {
            assert!(
                probes > 0,
                "field_and_divergence: Hutchinson needs at least one probe"
            );
            let mut u_out = None;
            let mut terms = Vec::with_capacity(probes);
            for _ in 0..probes {
                let v = if rademacher {
                    x.rand_like()
                        .gt(&Tensor::scalar(x.device(), 0.5))
                        .mul_scalar(2.0)
                        .add_scalar(-1.0)
                } else {
                    x.randn_like()
                };
                let (u, est) = eval(&|u, xg| {
                    u.mul(&v).sum_all().backward(); // grad = v^T du/dx, per row
                    let g = xg
                        .grad()
                        .expect("field_and_divergence: the field does not depend on x");
                    g.mul(&v).sum(&[1], true) // [N, 1]
                });
                terms.push(est);
                u_out.get_or_insert(u);
            }
            (
                u_out.expect("probes >= 1"),
                sum_of(&terms).mul_scalar(1.0 / probes as f32),
            )
        }
    }
}

/// log p_1(x) [N, 1] for x [N, D] under the flow of `field` started from `p0` at t = 0
/// (`steps` steps from t = 1 back to t = 0).
pub fn log_likelihood(
    field: &impl Ode,
    p0: &impl Density,
    x: &Tensor,
    steps: usize,
    scheme: Scheme,
    div: Divergence,
) -> Tensor {
    assert!(
        x.rank() == 2,
        "log_likelihood: x has shape {:?}, expected [N, D]",
        x.shape()
    );
    assert!(steps > 0, "log_likelihood: need at least one step");
    let h = -1.0 / steps as f32; // backwards in time
    no_grad(|| {
        let mut xt = x.detach();
        let mut int_div = Tensor::zeros(x.device(), &[x.dim(0), 1]); // int_t^1 div u ds so far
        let f = |y: &Tensor, t: f32| field_and_divergence(field, y, t, div);
        for k in 0..steps {
            let t = 1.0 + h * k as f32;
            // The pair (x, l) with dx/dt = u, dl/dt = div u; l(1) = 0, so l(0) = -int_0^1 div.
            let (dx, dl) = match scheme {
                Scheme::Euler => f(&xt, t),
                Scheme::Rk4 => {
                    let (u1, v1) = f(&xt, t);
                    let (u2, v2) = f(&xt.add(&u1.mul_scalar(0.5 * h)), t + 0.5 * h);
                    let (u3, v3) = f(&xt.add(&u2.mul_scalar(0.5 * h)), t + 0.5 * h);
                    let (u4, v4) = f(&xt.add(&u3.mul_scalar(h)), t + h);
                    let u = u1
                        .add(&u2.add(&u3).mul_scalar(2.0))
                        .add(&u4)
                        .mul_scalar(1.0 / 6.0);
                    let v = v1
                        .add(&v2.add(&v3).mul_scalar(2.0))
                        .add(&v4)
                        .mul_scalar(1.0 / 6.0);
                    (u, v)
                }
            };
            xt = xt.add(&dx.mul_scalar(h));
            int_div = int_div.add(&dl.mul_scalar(h));
        }
        // int_div now holds l(0) = -int_0^1 div u dt.
        p0.log_density(&xt).add(&int_div)
    })
}

/// The energy distance 2 E|X - Y| - E|X - X'| - E|Y - Y'| (>= 0, 0 iff the laws agree) between
/// the empirical laws of a [N, D] and b [M, D] (V-statistics, all pairs, on the CPU in f64).
pub fn energy_distance(a: &Tensor, b: &Tensor) -> f64 {
    assert!(
        a.rank() == 2 && b.rank() == 2 && a.dim(1) == b.dim(1),
        "energy_distance: shapes {:?} and {:?}",
        a.shape(),
        b.shape()
    );
    let d = a.dim(1);
    let (a, b) = (a.to_vec(), b.to_vec());
    let mean_dist = |p: &[f32], q: &[f32]| -> f64 {
        let mut s = 0.0f64;
        for x in p.chunks(d) {
            for y in q.chunks(d) {
                s += x
                    .iter()
                    .zip(y)
                    .map(|(&u, &v)| (u as f64 - v as f64).powi(2))
                    .sum::<f64>()
                    .sqrt();
            }
        }
        s / ((p.len() / d) * (q.len() / d)) as f64
    };
    2.0 * mean_dist(&a, &b) - mean_dist(&a, &a) - mean_dist(&b, &b)
}
