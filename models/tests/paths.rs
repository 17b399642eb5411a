//! Probability paths and their closed forms: conditional ODEs land on z, the mixture marginal
//! field matches a Monte Carlo estimate of E[u_t(x|z) | x], velocity <-> score conversions,
//! classifier-free guidance weights, and the exact log-likelihood of the marginal flow.

use engine::{Device, Tensor};
use models::{
    full_time, guided_field, log_likelihood, simulate, time_grid, ConditionalMlpField,
    ConditionalPath, Density, Divergence, Euler, Gaussian, GaussianMixture, GaussianPath,
    GuidedField, LinearPath, MixtureMarginal, Ode, Sampleable, Scheme, DEFAULT_HIDDEN,
};

fn device() -> Device {
    Device::new().expect("tests need a wgpu adapter: install mesa-vulkan-drivers")
}

fn max_abs_diff(a: &Tensor, b: &Tensor) -> f32 {
    assert_eq!(a.shape(), b.shape());
    a.to_vec()
        .iter()
        .zip(b.to_vec())
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

/// Two components, one anisotropic and correlated, so the marginal formulas meet a full S_k.
fn two_mode_mixture() -> GaussianMixture {
    GaussianMixture::new(
        vec![
            Gaussian::new(vec![-2.0, 0.5], vec![0.5, 0.2, 0.2, 0.3]),
            Gaussian::spherical(vec![2.5, -1.0], 0.7),
        ],
        vec![0.4, 0.6],
    )
}

/// The conditional field u_t(x | z) for fixed z, as an ODE.
struct Conditional<'a, P> {
    path: &'a P,
    z: &'a Tensor,
}

impl<P: ConditionalPath> Ode for Conditional<'_, P> {
    fn drift(&self, x: &Tensor, t: f32) -> Tensor {
        self.path
            .conditional_vector_field(x, self.z, &full_time(x.device(), x.dim(0), t))
    }
}

#[test]
fn cond_ot_conditional_ode_from_standard_normal_lands_on_z() {
    let dev = device();
    dev.manual_seed(1);
    let path = GaussianPath::cond_ot();
    let z = two_mode_mixture().sample(&dev, 64);
    let x0 = path.sample_init(&dev, 64, 2);
    // The field (z - x) / (1 - t) is only evaluated at t < 1 by Euler; the paths are straight.
    let x1 = simulate(
        &Euler(Conditional { path: &path, z: &z }),
        &x0,
        &time_grid(&dev, 0.0, 1.0, 50),
    );
    let err = max_abs_diff(&x1, &z);
    assert!(err < 1e-4, "CondOT conditional ODE ends {err} away from z");
    // Halfway along, x_t = (1 - t) x0 + t z.
    let xh = simulate(
        &Euler(Conditional { path: &path, z: &z }),
        &x0,
        &time_grid(&dev, 0.0, 0.5, 25),
    );
    let want = x0.mul_scalar(0.5).add(&z.mul_scalar(0.5));
    assert!(max_abs_diff(&xh, &want) < 1e-4);
}

#[test]
fn linear_path_conditional_ode_from_a_non_gaussian_source_lands_on_z() {
    let dev = device();
    dev.manual_seed(2);
    let path = LinearPath::new(Gaussian::spherical(vec![5.0, -5.0], 2.0));
    let z = two_mode_mixture().sample(&dev, 64);
    let x0 = path.sample_init(&dev, 64, 2);
    let x1 = simulate(
        &Euler(Conditional { path: &path, z: &z }),
        &x0,
        &time_grid(&dev, 0.0, 1.0, 40),
    );
    let err = max_abs_diff(&x1, &z);
    assert!(
        err < 1e-4,
        "linear-path conditional ODE ends {err} away from z"
    );
    // The field given the source is z - x0, and the interpolant matches the conditional sample law.
    let t = full_time(&dev, 64, 0.25);
    let xt = path.interpolate(&x0, &z, &t);
    let u = path.conditional_vector_field(&xt, &z, &t);
    assert!(max_abs_diff(&u, &path.conditional_vector_field_given_source(&x0, &z)) < 1e-4);
}

#[test]
fn sqrt_beta_path_sample_endpoints_are_noise_and_data() {
    let dev = device();
    dev.manual_seed(3);
    let path = GaussianPath::sqrt_beta();
    let n = 20000;
    let z = Tensor::full(&dev, &[n, 2], 3.0);
    let x0 = path
        .sample_conditional_path(&z, &full_time(&dev, n, 0.0))
        .to_vec();
    let mean = x0.iter().map(|&v| v as f64).sum::<f64>() / x0.len() as f64;
    let var = x0.iter().map(|&v| (v as f64 - mean).powi(2)).sum::<f64>() / x0.len() as f64;
    assert!(
        mean.abs() < 0.03 && (var - 1.0).abs() < 0.03,
        "p_0 should be N(0, I): mean {mean}, var {var}"
    );
    let x1 = path.sample_conditional_path(&z, &full_time(&dev, n, 1.0));
    assert!(max_abs_diff(&x1, &z) < 1e-6, "x_1 should be z");
}

/// Monte Carlo E[f(z) | x_t = x] with z_i ~ data and weights N(x; a z_i, b^2 I), on the CPU.
fn posterior_average(
    zs: &[f32],
    x: [f64; 2],
    a: f64,
    b: f64,
    f: impl Fn([f64; 2]) -> [f64; 2],
) -> [f64; 2] {
    let logw: Vec<f64> = zs
        .chunks(2)
        .map(|z| {
            -((x[0] - a * z[0] as f64).powi(2) + (x[1] - a * z[1] as f64).powi(2)) / (2.0 * b * b)
        })
        .collect();
    let m = logw.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    let (mut acc, mut total) = ([0.0; 2], 0.0);
    for (z, lw) in zs.chunks(2).zip(&logw) {
        let w = (lw - m).exp();
        let v = f([z[0] as f64, z[1] as f64]);
        acc[0] += w * v[0];
        acc[1] += w * v[1];
        total += w;
    }
    [acc[0] / total, acc[1] / total]
}

#[test]
fn mixture_marginal_field_and_score_match_monte_carlo_posterior_averages() {
    let dev = device();
    dev.manual_seed(4);
    let data = two_mode_mixture();
    let path = GaussianPath::sqrt_beta();
    let marginal = MixtureMarginal::new(data.clone(), path.clone());
    let zs = data.sample(&dev, 400_000).to_vec();
    let xs = [[0.0f32, 0.0], [1.5, -0.5], [-1.0, 1.0]];
    let x = Tensor::from_slice(&dev, &xs.concat(), &[3, 2]);
    for t in [0.3f32, 0.7] {
        let (a, b, da, db) = (
            path.alpha(t) as f64,
            path.beta(t) as f64,
            path.d_alpha(t) as f64,
            path.d_beta(t) as f64,
        );
        let u = marginal.vector_field(&x, t).to_vec();
        let s = marginal.score(&x, t).to_vec();
        for (i, xi) in xs.iter().enumerate() {
            let xd = [xi[0] as f64, xi[1] as f64];
            // u_t(x | z) = (a' - b'/b a) z + b'/b x;  score(x | z) = (a z - x) / b^2
            let mc_u = posterior_average(&zs, xd, a, b, |z| {
                [0, 1].map(|j| (da - db / b * a) * z[j] + db / b * xd[j])
            });
            let mc_s = posterior_average(&zs, xd, a, b, |z| {
                [0, 1].map(|j| (a * z[j] - xd[j]) / (b * b))
            });
            for j in 0..2 {
                let (eu, es) = (u[2 * i + j] as f64, s[2 * i + j] as f64);
                assert!(
                    (eu - mc_u[j]).abs() < 0.03 * (1.0 + mc_u[j].abs()),
                    "t {t} x {xi:?}: field {eu} vs Monte Carlo {}",
                    mc_u[j]
                );
                assert!(
                    (es - mc_s[j]).abs() < 0.03 * (1.0 + mc_s[j].abs()),
                    "t {t} x {xi:?}: score {es} vs Monte Carlo {}",
                    mc_s[j]
                );
            }
        }
    }
}

#[test]
fn velocity_score_conversion_agrees_with_conditional_and_marginal_closed_forms() {
    let dev = device();
    dev.manual_seed(5);
    for path in [
        GaussianPath::sqrt_beta(),
        GaussianPath::cond_ot(),
        GaussianPath::cosine(),
    ] {
        // Conditional: per-sample times in [0.1, 0.9).
        let (x, z) = (
            Tensor::randn(&dev, &[50, 2]).mul_scalar(2.0),
            Tensor::randn(&dev, &[50, 2]),
        );
        let t = Tensor::rand(&dev, &[50, 1]).mul_scalar(0.8).add_scalar(0.1);
        let (u, s) = (
            path.conditional_vector_field(&x, &z, &t),
            path.conditional_score(&x, &z, &t),
        );
        assert!(
            max_abs_diff(&path.score_to_velocity(&s, &x, &t), &u)
                < 1e-3 * (1.0 + max_abs_diff(&u, &u.zeros_like()))
        );
        assert!(
            max_abs_diff(&path.velocity_to_score(&u, &x, &t), &s)
                < 1e-3 * (1.0 + max_abs_diff(&s, &s.zeros_like()))
        );
        // Marginal, at one time.
        let marginal = MixtureMarginal::new(two_mode_mixture(), path.clone());
        for tt in [0.2f32, 0.6, 0.9] {
            let tn = full_time(&dev, 50, tt);
            let (um, sm) = (marginal.vector_field(&x, tt), marginal.score(&x, tt));
            let scale = 1.0 + max_abs_diff(&um, &um.zeros_like());
            assert!(
                max_abs_diff(&path.score_to_velocity(&sm, &x, &tn), &um) < 1e-3 * scale,
                "t {tt}"
            );
            assert!(
                max_abs_diff(&path.velocity_to_score(&um, &x, &tn), &sm)
                    < 1e-3 * (1.0 + max_abs_diff(&sm, &sm.zeros_like()))
            );
        }
    }
}

#[test]
fn cfg_weight_one_is_conditional_zero_is_unconditional_two_extrapolates() {
    let dev = device();
    dev.manual_seed(6);
    let field = ConditionalMlpField::new(&dev, 2, 3, 4, &DEFAULT_HIDDEN);
    let x = Tensor::randn(&dev, &[6, 2]);
    let labels = vec![0, 1, 2, 0, 1, 2];
    let t = 0.4;
    let tn = full_time(&dev, 6, t);
    let cond = field.forward(&x, &tn, &labels);
    let uncond = field.forward(&x, &tn, &[3; 6]);
    assert!(
        max_abs_diff(&cond, &uncond) > 1e-3,
        "the label must change the field"
    );
    let guided = |w| {
        GuidedField {
            field: &field,
            labels: labels.clone(),
            w,
        }
        .drift(&x, t)
    };
    assert!(max_abs_diff(&guided(1.0), &cond) < 1e-6);
    assert!(max_abs_diff(&guided(0.0), &uncond) < 1e-6);
    // w = 2: (1 - 2) u_null + 2 u_y = 2 u_y - u_null.
    let want = cond.mul_scalar(2.0).sub(&uncond);
    assert!(max_abs_diff(&guided_field(&field, &x, &tn, &labels, 2.0), &want) < 1e-5);
    assert!(max_abs_diff(&guided(2.0), &want) < 1e-5);
}

#[test]
fn ode_log_likelihood_of_exact_marginal_flow_equals_mixture_log_density() {
    let dev = device();
    dev.manual_seed(7);
    let data = two_mode_mixture();
    let marginal = MixtureMarginal::new(data.clone(), GaussianPath::cond_ot());
    let x = data.sample(&dev, 16);
    let want = data.log_density(&x).to_vec();
    let got = log_likelihood(
        &marginal,
        &Gaussian::isotropic(2, 1.0),
        &x,
        20,
        Scheme::Rk4,
        Divergence::Exact,
    )
    .to_vec();
    for (g, w) in got.iter().zip(&want) {
        assert!(
            (g - w).abs() < 2e-2,
            "ODE log-likelihood {g} vs closed form {w}"
        );
    }
    // Hutchinson with many Rademacher probes averages to about the same (fewer steps, looser).
    let hutch = log_likelihood(
        &marginal,
        &Gaussian::isotropic(2, 1.0),
        &x,
        8,
        Scheme::Euler,
        Divergence::Hutchinson {
            probes: 16,
            rademacher: true,
        },
    )
    .to_vec();
    let exact8 = log_likelihood(
        &marginal,
        &Gaussian::isotropic(2, 1.0),
        &x,
        8,
        Scheme::Euler,
        Divergence::Exact,
    )
    .to_vec();
    let mean_gap = hutch
        .iter()
        .zip(&exact8)
        .map(|(h, e)| (h - e) as f64)
        .sum::<f64>()
        / 16.0;
    assert!(
        mean_gap.abs() < 0.2,
        "Hutchinson vs exact divergence, mean gap {mean_gap}"
    );
}
