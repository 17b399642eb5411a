//! ODE solvers on u = -theta x, whose exact flow is x0 e^{-theta t}: convergence orders of
//! Euler (1), Heun (2) and RK4 (4), non-uniform grids, and the trajectory layout.

use engine::{Device, Tensor};
use models::{
    simulate, simulate_with_trajectory, time_grid, Euler, Heun, LinearOde, Rk4, Simulator,
};

fn device() -> Device {
    Device::new().expect("tests need a wgpu adapter: install mesa-vulkan-drivers")
}

const X0: [f32; 6] = [-2.0, -0.5, 0.25, 1.0, 1.5, 3.0];

/// max_i |x_i(T) - x0_i e^{-T}| after `steps` uniform steps of `sim` from 0 to T = 1 (theta = 1).
fn max_error(dev: &Device, sim: &impl Simulator, steps: usize) -> f64 {
    let x0 = Tensor::from_slice(dev, &X0, &[3, 2]);
    let x1 = simulate(sim, &x0, &time_grid(dev, 0.0, 1.0, steps)).to_vec();
    let exact = X0.iter().map(|&v| v as f64 * (-1.0f64).exp());
    x1.iter()
        .zip(exact)
        .map(|(&a, b)| (a as f64 - b).abs())
        .fold(0.0, f64::max)
}

/// Least-squares slope of log(error) against log(h) = -log(steps).
fn order(dev: &Device, sim: &impl Simulator, steps: &[usize]) -> (f64, Vec<f64>) {
    let errs: Vec<f64> = steps.iter().map(|&s| max_error(dev, sim, s)).collect();
    let xs: Vec<f64> = steps.iter().map(|&s| -(s as f64).ln()).collect();
    let ys: Vec<f64> = errs.iter().map(|e| e.ln()).collect();
    let n = xs.len() as f64;
    let (mx, my) = (xs.iter().sum::<f64>() / n, ys.iter().sum::<f64>() / n);
    let num: f64 = xs.iter().zip(&ys).map(|(x, y)| (x - mx) * (y - my)).sum();
    let den: f64 = xs.iter().map(|x| (x - mx) * (x - mx)).sum();
    (num / den, errs)
}

#[test]
fn euler_converges_with_order_1_on_linear_ode() {
    let dev = device();
    let (slope, errs) = order(&dev, &Euler(LinearOde { theta: 1.0 }), &[8, 16, 32, 64]);
    eprintln!("slope {slope:.3}, errors {errs:?}");
    assert!(
        (slope - 1.0).abs() < 0.2,
        "Euler slope {slope}, errors {errs:?}"
    );
}

#[test]
fn heun_converges_with_order_2_on_linear_ode() {
    let dev = device();
    let (slope, errs) = order(&dev, &Heun(LinearOde { theta: 1.0 }), &[8, 16, 32, 64]);
    eprintln!("slope {slope:.3}, errors {errs:?}");
    assert!(
        (slope - 2.0).abs() < 0.2,
        "Heun slope {slope}, errors {errs:?}"
    );
}

#[test]
fn rk4_converges_with_order_4_on_linear_ode() {
    let dev = device();
    // RK4's error at 16 steps (~1e-7) is at f32 round-off, and at 2 steps (h = 0.5) it is not
    // yet in the h^4 regime (the next term is ~5h/6 relative): use 4, 6, 8 steps.
    let (slope, errs) = order(&dev, &Rk4(LinearOde { theta: 1.0 }), &[4, 6, 8]);
    eprintln!("slope {slope:.3}, errors {errs:?}");
    assert!(
        errs[2] > 1e-6,
        "RK4 error at 8 steps {errs:?} is too close to round-off for a slope"
    );
    assert!(
        (slope - 4.0).abs() < 0.2,
        "RK4 slope {slope}, errors {errs:?}"
    );
}

/// Each scheme applied to u = -x multiplies x by its stability polynomial R(h) per step:
/// Euler 1 - h, Heun 1 - h + h^2/2, RK4 1 - h + h^2/2 - h^3/6 + h^4/24.
#[test]
fn each_scheme_multiplies_by_its_stability_polynomial_on_linear_ode() {
    let dev = device();
    let ode = LinearOde { theta: 1.0 };
    let x0 = Tensor::from_slice(&dev, &X0, &[3, 2]);
    let (k, h) = (5usize, 0.2f64);
    let polys: [(&str, f64, &dyn Simulator); 3] = [
        ("Euler", 1.0 - h, &Euler(ode)),
        ("Heun", 1.0 - h + h * h / 2.0, &Heun(ode)),
        (
            "RK4",
            1.0 - h + h * h / 2.0 - h.powi(3) / 6.0 + h.powi(4) / 24.0,
            &Rk4(ode),
        ),
    ];
    for (name, r, sim) in polys {
        let got = simulate(&sim, &x0, &time_grid(&dev, 0.0, 1.0, k)).to_vec();
        for (i, &g) in got.iter().enumerate() {
            let want = X0[i] as f64 * r.powi(k as i32);
            assert!(
                (g as f64 - want).abs() < 2e-6,
                "{name}, point {i}: {g} vs R(h)^K x0 = {want}"
            );
        }
    }
}

#[test]
fn non_uniform_grid_reaches_the_same_end_point_as_a_uniform_one() {
    let dev = device();
    let ode = LinearOde { theta: 1.0 };
    let x0 = Tensor::from_slice(&dev, &X0, &[3, 2]);
    // t_i = (i / K)^2: steps from 1/K^2 up to ~2/K.
    let k = 40;
    let squares: Vec<f32> = (0..=k).map(|i| (i as f32 / k as f32).powi(2)).collect();
    let ts = Tensor::from_slice(&dev, &squares, &[k + 1]);
    let uneven = simulate(&Rk4(ode), &x0, &ts).to_vec();
    let even = simulate(&Rk4(ode), &x0, &time_grid(&dev, 0.0, 1.0, k)).to_vec();
    let exact = ode.exact(&x0, 1.0).to_vec();
    for i in 0..X0.len() {
        assert!(
            (uneven[i] - even[i]).abs() < 1e-5,
            "point {i}: non-uniform {} vs uniform {}",
            uneven[i],
            even[i]
        );
        assert!(
            (uneven[i] - exact[i]).abs() < 1e-5,
            "point {i}: non-uniform {} vs exact {}",
            uneven[i],
            exact[i]
        );
    }
}

#[test]
fn trajectory_keeps_start_every_kth_step_and_last() {
    let dev = device();
    let x0 = Tensor::from_slice(&dev, &X0, &[3, 2]);
    // 10 Euler steps of h = 0.1 on u = -x: x_i = 0.9^i x0. every = 3 keeps steps 0, 3, 6, 9, 10.
    let sim = Euler(LinearOde { theta: 1.0 });
    let ts = time_grid(&dev, 0.0, 1.0, 10);
    let traj = simulate_with_trajectory(&sim, &x0, &ts, 3);
    assert_eq!(traj.shape(), &[3, 5, 2]);
    let v = traj.to_vec();
    let kept = [0, 3, 6, 9, 10];
    for n in 0..3 {
        for (s, &step) in kept.iter().enumerate() {
            for d in 0..2 {
                let want = X0[n * 2 + d] * 0.9f32.powi(step);
                let got = v[(n * 5 + s) * 2 + d];
                assert!(
                    (got - want).abs() < 1e-5,
                    "point {n}, snapshot {s} (step {step}), dim {d}: {got} vs {want}"
                );
            }
        }
    }
    let end = simulate(&sim, &x0, &ts).to_vec();
    let last = traj.narrow(1, 4, 1).reshape(&[3, 2]).to_vec();
    assert_eq!(end, last, "the last snapshot is the end point of simulate");
    assert_eq!(
        simulate_with_trajectory(&sim, &x0, &ts, 5).shape(),
        &[3, 3, 2],
        "every = 5 divides 10: 10/5 + 1 snapshots"
    );
}

#[test]
#[should_panic(expected = "expected [K+1]")]
fn time_grid_of_wrong_rank_panics() {
    let dev = device();
    let x0 = Tensor::zeros(&dev, &[4, 2]);
    simulate(
        &Euler(LinearOde { theta: 1.0 }),
        &x0,
        &Tensor::zeros(&dev, &[2, 3]),
    );
}
