//! Numerical simulation of ODEs and SDEs on a batch of points x [N, D] held in one tensor,
//! over a time grid ts [K+1] (possibly non-uniform): K steps from ts[0] to ts[K].

use engine::{no_grad, Device, Tensor};

use crate::dynamics::{Ode, Sde};

/// One step of a numerical scheme: x at time t -> x at time t + h.
pub trait Simulator {
    fn step(&self, x: &Tensor, t: f32, h: f32) -> Tensor;
}

impl<T: Simulator + ?Sized> Simulator for &T {
    fn step(&self, x: &Tensor, t: f32, h: f32) -> Tensor {
        (**self).step(x, t, h)
    }
}

/// Euler's method for an ODE (order 1): x + h u_t(x).
pub struct Euler<O>(pub O);

/// Heun's method for an ODE (order 2): an Euler predictor x' = x + h u_t(x), then the
/// trapezoid corrector x + h/2 (u_t(x) + u_{t+h}(x')).
pub struct Heun<O>(pub O);

/// The classical Runge-Kutta method for an ODE (order 4).
pub struct Rk4<O>(pub O);

/// Euler-Maruyama for an SDE (strong order 1/2): x + h u_t(x) + sigma_t(x) sqrt(h) z,
/// z ~ N(0, I) from the device's generator.
pub struct EulerMaruyama<S>(pub S);

impl<O: Ode> Simulator for Euler<O> {
    fn step(&self, x: &Tensor, t: f32, h: f32) -> Tensor {
        x.add(&self.0.drift(x, t).mul_scalar(h))
    }
}

impl<O: Ode> Simulator for Heun<O> {
    fn step(&self, x: &Tensor, t: f32, h: f32) -> Tensor {
        let k1 = self.0.drift(x, t);
        let k2 = self.0.drift(&x.add(&k1.mul_scalar(h)), t + h);
        x.add(&k1.add(&k2).mul_scalar(0.5 * h))
    }
}

impl<O: Ode> Simulator for Rk4<O> {
    fn step(&self, x: &Tensor, t: f32, h: f32) -> Tensor {
        let k1 = self.0.drift(x, t);
        let k2 = self.0.drift(&x.add(&k1.mul_scalar(0.5 * h)), t + 0.5 * h);
        let k3 = self.0.drift(&x.add(&k2.mul_scalar(0.5 * h)), t + 0.5 * h);
        let k4 = self.0.drift(&x.add(&k3.mul_scalar(h)), t + h);
        // x + h/6 (k1 + 2 k2 + 2 k3 + k4)
        let sum = k1.add(&k2.add(&k3).mul_scalar(2.0)).add(&k4);
        x.add(&sum.mul_scalar(h / 6.0))
    }
}

impl<S: Sde> Simulator for EulerMaruyama<S> {
    fn step(&self, x: &Tensor, t: f32, h: f32) -> Tensor {
        let noise = self
            .0
            .diffusion(x, t)
            .mul(&x.randn_like())
            .mul_scalar(h.sqrt());
        x.add(&self.0.drift(x, t).mul_scalar(h)).add(&noise)
    }
}

/// `steps + 1` evenly spaced times from t0 to t1: [steps + 1].
pub fn time_grid(dev: &Device, t0: f32, t1: f32, steps: usize) -> Tensor {
    assert!(steps > 0, "time_grid: need at least one step");
    Tensor::linspace(dev, t0, t1, steps + 1)
}

/// Checks x0 [N, D] and ts [K+1] and reads the grid back to the CPU.
fn read_grid(who: &str, x0: &Tensor, ts: &Tensor) -> Vec<f32> {
    assert!(
        x0.rank() == 2,
        "{who}: x0 has shape {:?}, expected [N, D]",
        x0.shape()
    );
    assert!(
        ts.rank() == 1 && ts.numel() > 0,
        "{who}: the time grid has shape {:?}, expected [K+1]",
        ts.shape()
    );
    ts.to_vec()
}

/// Steps x0 [N, D] through the grid ts [K+1] (K steps of size ts[i+1] - ts[i]) and returns
/// the end point [N, D]. Runs under `no_grad` (a drift may still use `enable_grad`).
pub fn simulate(sim: &impl Simulator, x0: &Tensor, ts: &Tensor) -> Tensor {
    let ts = read_grid("simulate", x0, ts);
    no_grad(|| {
        let mut x = x0.detach();
        for w in ts.windows(2) {
            x = sim.step(&x, w[0], w[1] - w[0]);
        }
        x
    })
}

/// Like `simulate`, keeping the start, the state after every `every`-th step and always the
/// last: [N, S, D] with S = ceil(K / every) + 1 (K / every + 1 when `every` divides K).
pub fn simulate_with_trajectory(
    sim: &impl Simulator,
    x0: &Tensor,
    ts: &Tensor,
    every: usize,
) -> Tensor {
    assert!(
        every > 0,
        "simulate_with_trajectory: every must be at least 1"
    );
    let ts = read_grid("simulate_with_trajectory", x0, ts);
    let k = ts.len() - 1;
    no_grad(|| {
        let mut x = x0.detach();
        let mut snaps = vec![x.unsqueeze(1)]; // each [N, 1, D]
        for (i, w) in ts.windows(2).enumerate() {
            x = sim.step(&x, w[0], w[1] - w[0]);
            if (i + 1) % every == 0 || i + 1 == k {
                snaps.push(x.unsqueeze(1));
            }
        }
        Tensor::concat(&snaps.iter().collect::<Vec<_>>(), 1)
    })
}
