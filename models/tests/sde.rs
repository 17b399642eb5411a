//! SDE simulation with Euler-Maruyama: Brownian motion's variance, Ornstein-Uhlenbeck's mean
//! decay and stationary variance, Langevin dynamics reaching a Gaussian and a mixture.
//! Tolerances are 5 Monte Carlo standard errors (plus the scheme's own bias where it matters).

use engine::{Device, Tensor};
use models::{
    simulate, simulate_with_trajectory, time_grid, BrownianMotion, EulerMaruyama, Gaussian,
    GaussianMixture, Langevin, OrnsteinUhlenbeck, Sampleable,
};

fn device() -> Device {
    Device::new().expect("tests need a wgpu adapter: install mesa-vulkan-drivers")
}

/// Mean and (unbiased) variance of a slice (f64).
fn mean_var(v: &[f32]) -> (f64, f64) {
    let n = v.len() as f64;
    let m = v.iter().map(|&x| x as f64).sum::<f64>() / n;
    (
        m,
        v.iter().map(|&x| (x as f64 - m).powi(2)).sum::<f64>() / (n - 1.0),
    )
}

/// Snapshot s of a trajectory [N, S, 1] as a flat Vec of N values.
fn snapshot(traj: &Tensor, s: usize) -> Vec<f32> {
    traj.narrow(1, s, 1).flatten().to_vec()
}

#[test]
fn brownian_motion_variance_grows_as_sigma_squared_t() {
    let dev = device();
    dev.manual_seed(21);
    let (n, sigma) = (20000, 1.0f32);
    let x0 = Tensor::zeros(&dev, &[n, 1]);
    // 100 steps to T = 1, snapshots at t = 0, 0.25, 0.5, 0.75, 1.
    let traj = simulate_with_trajectory(
        &EulerMaruyama(BrownianMotion { sigma }),
        &x0,
        &time_grid(&dev, 0.0, 1.0, 100),
        25,
    );
    assert_eq!(traj.shape(), &[n, 5, 1]);
    for s in 1..5 {
        let t = s as f64 * 0.25;
        let (m, var) = mean_var(&snapshot(&traj, s));
        let want = (sigma as f64).powi(2) * t;
        assert!(
            m.abs() < 5.0 * (want / n as f64).sqrt(),
            "t = {t}: mean {m}"
        );
        assert!(
            (var - want).abs() < 5.0 * want * (2.0 / n as f64).sqrt(),
            "t = {t}: Var {var} vs sigma^2 t = {want}"
        );
    }
}

#[test]
fn ornstein_uhlenbeck_mean_decays_and_variance_reaches_stationary() {
    let dev = device();
    dev.manual_seed(22);
    let ou = OrnsteinUhlenbeck {
        theta: 1.5,
        sigma: 0.8,
    };
    let (n, x0v, steps, t1) = (20000, 2.0f32, 500, 5.0f32);
    let h = (t1 / steps as f32) as f64;
    let x0 = Tensor::full(&dev, &[n, 1], x0v);
    let traj = simulate_with_trajectory(
        &EulerMaruyama(ou),
        &x0,
        &time_grid(&dev, 0.0, t1, steps),
        25,
    ); // every 0.25
    for s in [1, 2, 4, 8, 20] {
        let t = s as f32 * 0.25;
        let (m, var) = mean_var(&snapshot(&traj, s));
        let (want_m, want_v) = (
            (x0v * (-ou.theta * t).exp()) as f64,
            ou.variance_at(t) as f64,
        );
        // Euler-Maruyama's mean is x0 (1 - theta h)^k: off by ~ x0 t theta^2 h / 2 e^{-theta t}.
        let bias = x0v as f64 * t as f64 * (ou.theta as f64).powi(2) * h / 2.0;
        assert!(
            (m - want_m).abs() < 5.0 * (want_v / n as f64).sqrt() + bias,
            "t = {t}: mean {m} vs x0 e^(-theta t) = {want_m}"
        );
        // Its stationary variance is sigma^2 / (theta (2 - theta h)): relative bias theta h / 2.
        let tol = 5.0 * want_v * (2.0 / n as f64).sqrt() + want_v * ou.theta as f64 * h;
        assert!((var - want_v).abs() < tol, "t = {t}: Var {var} vs {want_v}");
    }
    let (_, var) = mean_var(&snapshot(&traj, 20));
    let stat = ou.stationary_variance() as f64;
    assert!(
        (var - stat).abs() < 5.0 * stat * (2.0 / n as f64).sqrt() + stat * 0.03,
        "T = 5: Var {var} vs sigma^2/(2 theta) = {stat}"
    );
}

#[test]
fn langevin_moves_a_broad_gaussian_to_a_full_cov_gaussian_target() {
    let dev = device();
    dev.manual_seed(23);
    let target = Gaussian::new(vec![1.0, -1.0], vec![1.0, 0.5, 0.5, 0.8]);
    let n = 10000;
    // Start far off: N(0, 3^2 I) shifted by (-2, 2).
    let x0 = Gaussian::spherical(vec![-2.0, 2.0], 3.0).sample(&dev, n);
    // sigma = sqrt 2: dX = grad log p dt + sqrt 2 dW, relaxing at rate >= 1/lambda_max(cov) ~ 0.72.
    let lang = Langevin {
        density: &target,
        sigma: 2f32.sqrt(),
    };
    let x = simulate(&EulerMaruyama(lang), &x0, &time_grid(&dev, 0.0, 8.0, 400)).to_vec();
    let xs: Vec<f32> = x.iter().step_by(2).copied().collect();
    let ys: Vec<f32> = x.iter().skip(1).step_by(2).copied().collect();
    let ((mx, vx), (my, vy)) = (mean_var(&xs), mean_var(&ys));
    let cxy = xs
        .iter()
        .zip(&ys)
        .map(|(&a, &b)| (a as f64 - mx) * (b as f64 - my))
        .sum::<f64>()
        / (n - 1) as f64;
    eprintln!(
        "Langevin -> Gaussian: mean ({mx:.4}, {my:.4}), cov [{vx:.4}, {cxy:.4}; {cxy:.4}, {vy:.4}]"
    );
    // MC standard errors ~0.01 (mean) and ~0.014 (cov); the step h = 0.02 biases the
    // covariance by ~h/2 relative to the precision: allow 0.05 for the mean and 0.08 for cov.
    assert!(
        (mx - 1.0).abs() < 0.05 && (my + 1.0).abs() < 0.05,
        "mean ({mx}, {my}) vs (1, -1)"
    );
    assert!(
        (vx - 1.0).abs() < 0.08 && (vy - 0.8).abs() < 0.08 && (cxy - 0.5).abs() < 0.08,
        "cov [{vx}, {cxy}; {cxy}, {vy}] vs [1, 0.5; 0.5, 0.8]"
    );
}

#[test]
fn langevin_on_three_separated_modes_gives_each_a_third_of_the_samples() {
    let dev = device();
    dev.manual_seed(24);
    let (std, radius) = (0.5f32, 3.0f32);
    let target = GaussianMixture::symmetric_2d(3, std, radius);
    let n = 6000;
    // A broad isotropic start: by symmetry each mode's basin gets a third of it.
    let x0 = Gaussian::isotropic(2, 3.0).sample(&dev, n);
    let lang = Langevin {
        density: &target,
        sigma: 1.0,
    };
    let x = simulate(&EulerMaruyama(lang), &x0, &time_grid(&dev, 0.0, 3.0, 300));
    let modes = target.mode_of(&x);
    let v = x.to_vec();
    let se = (2.0 / 9.0 / n as f64).sqrt();
    for (k, c) in target.components().iter().enumerate() {
        let rows: Vec<&[f32]> = v
            .chunks(2)
            .zip(&modes)
            .filter(|(_, &m)| m == k)
            .map(|(r, _)| r)
            .collect();
        let share = rows.len() as f64 / n as f64;
        eprintln!("Langevin -> 3 modes: mode {k} share {share:.4}");
        assert!(
            (share - 1.0 / 3.0).abs() < 5.0 * se,
            "mode {k}: share {share} vs 1/3"
        );
        // Within a mode the samples have settled to N(mean_k, std^2 I).
        let d2 = rows
            .iter()
            .map(|r| ((r[0] - c.mean()[0]).powi(2) + (r[1] - c.mean()[1]).powi(2)) as f64)
            .sum::<f64>();
        let var = d2 / (2.0 * rows.len() as f64);
        assert!(
            (var - (std * std) as f64).abs() < 0.03,
            "mode {k}: per-axis variance {var} vs {}",
            std * std
        );
    }
}
