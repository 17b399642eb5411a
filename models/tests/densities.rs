//! Gaussian and Gaussian-mixture densities: log density against an f64 CPU reference, the
//! autodiff score against the closed form, sampling statistics, constructors, bad input.

use engine::{no_grad, Device, Tensor};
use models::{Density, Gaussian, GaussianMixture, Sampleable};

fn device() -> Device {
    Device::new().expect("tests need a wgpu adapter: install mesa-vulkan-drivers")
}

/// Sample mean [D] and covariance [D, D] of row-major rows of length d (f64).
fn mean_cov(v: &[f32], d: usize) -> (Vec<f64>, Vec<f64>) {
    let n = v.len() / d;
    let mut m = vec![0.0; d];
    for row in v.chunks(d) {
        for i in 0..d {
            m[i] += row[i] as f64 / n as f64;
        }
    }
    let mut c = vec![0.0; d * d];
    for row in v.chunks(d) {
        for i in 0..d {
            for j in 0..d {
                c[i * d + j] += (row[i] as f64 - m[i]) * (row[j] as f64 - m[j]) / (n - 1) as f64;
            }
        }
    }
    (m, c)
}

/// log N(x; m, c) for D = 2 with the explicit 2x2 inverse and determinant (f64).
fn log_normal_2d(x: &[f32], m: &[f32], c: &[f32]) -> f64 {
    let (a, b, d) = (c[0] as f64, c[1] as f64, c[3] as f64);
    let det = a * d - b * b;
    let (u, v) = (x[0] as f64 - m[0] as f64, x[1] as f64 - m[1] as f64);
    let q = (d * u * u - 2.0 * b * u * v + a * v * v) / det;
    -0.5 * q - 0.5 * det.ln() - (2.0 * std::f64::consts::PI).ln()
}

fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

fn full_cov_3d() -> Gaussian {
    // cov = A A^T + 0.3 I with A = [[1, 0.5, 0], [-0.4, 0.8, 0.3], [0.2, -0.6, 0.9]]
    let a = [1.0, 0.5, 0.0, -0.4, 0.8, 0.3, 0.2, -0.6, 0.9f32];
    let mut cov = vec![0.0f32; 9];
    for i in 0..3 {
        for j in 0..3 {
            cov[i * 3 + j] = (0..3).map(|k| a[i * 3 + k] * a[j * 3 + k]).sum::<f32>()
                + if i == j { 0.3 } else { 0.0 };
        }
    }
    Gaussian::new(vec![0.5, -1.0, 2.0], cov)
}

#[test]
fn gaussian_log_density_matches_f64_reference_with_full_cov() {
    let dev = device();
    dev.manual_seed(3);
    let (m, c) = (vec![1.0, -0.5], vec![2.0, 0.6, 0.6, 0.5]);
    let g = Gaussian::new(m.clone(), c.clone());
    let x = Tensor::randn(&dev, &[37, 2]).mul_scalar(2.0);
    let got = g.log_density(&x);
    assert_eq!(got.shape(), &[37, 1]);
    let want: Vec<f32> = x
        .to_vec()
        .chunks(2)
        .map(|r| log_normal_2d(r, &m, &c) as f32)
        .collect();
    let err = max_abs_diff(&got.to_vec(), &want);
    assert!(err < 1e-4, "max |log p - reference| = {err}");
}

#[test]
fn mixture_log_density_matches_f64_reference_far_from_all_modes() {
    let dev = device();
    // std 0.3: at distance ~30 log N ~ -5000, where exp underflows in f32 without max-subtraction.
    let gm = GaussianMixture::new(
        vec![
            Gaussian::spherical(vec![-2.0, 0.0], 0.3),
            Gaussian::new(vec![2.0, 1.0], vec![0.5, 0.2, 0.2, 0.3]),
        ],
        vec![1.0, 3.0],
    );
    let pts = [0.0, 0.0, 2.0, 1.0, -2.1, 0.2, 30.0, -20.0, -25.0, 25.0f32];
    let x = Tensor::from_slice(&dev, &pts, &[5, 2]);
    let got = gm.log_density(&x).to_vec();
    for (i, r) in pts.chunks(2).enumerate() {
        let l: Vec<f64> = gm
            .components()
            .iter()
            .zip(gm.weights())
            .map(|(c, &w)| (w as f64).ln() + log_normal_2d(r, c.mean(), c.cov()))
            .collect();
        let mx = l.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        let want = mx + l.iter().map(|v| (v - mx).exp()).sum::<f64>().ln();
        assert!(got[i].is_finite(), "point {i}: log p is {}", got[i]);
        assert!(
            ((got[i] as f64 - want) / want.abs().max(1.0)).abs() < 1e-5,
            "point {i}: {} vs reference {want}",
            got[i]
        );
    }
}

#[test]
fn gaussian_autodiff_score_equals_closed_form_with_full_cov() {
    let dev = device();
    dev.manual_seed(4);
    let g = full_cov_3d();
    let x = Tensor::randn(&dev, &[41, 3]).mul_scalar(1.5);
    let auto = no_grad(|| g.score(&x)).to_vec();
    let exact = g.score_exact(&x).to_vec();
    let scale = exact.iter().fold(1.0f32, |m, v| m.max(v.abs()));
    let err = max_abs_diff(&auto, &exact);
    assert!(
        err < 1e-5 * scale,
        "autodiff vs closed-form score: max diff {err} (scale {scale})"
    );
    // The closed form itself: -cov^-1 (x - mean), checked as cov * score = -(x - mean).
    let (xs, cov, m) = (x.to_vec(), g.cov().to_vec(), g.mean().to_vec());
    for (n, s) in exact.chunks(3).enumerate() {
        for i in 0..3 {
            let cs: f32 = (0..3).map(|j| cov[i * 3 + j] * s[j]).sum();
            assert!(
                (cs + xs[n * 3 + i] - m[i]).abs() < 1e-4,
                "row {n}: cov score != -(x - mean)"
            );
        }
    }
}

#[test]
fn mixture_autodiff_score_equals_closed_form() {
    let dev = device();
    dev.manual_seed(5);
    let gm = GaussianMixture::new(
        vec![
            Gaussian::spherical(vec![-1.5, 0.0], 0.6),
            Gaussian::new(vec![1.0, 1.0], vec![0.5, 0.2, 0.2, 0.3]),
            Gaussian::spherical(vec![0.5, -1.5], 0.4),
        ],
        vec![0.2, 0.5, 0.3],
    );
    let x = Tensor::randn(&dev, &[53, 2]).mul_scalar(2.0);
    let auto = gm.score(&x).to_vec();
    let exact = gm.score_exact(&x).to_vec();
    let scale = exact.iter().fold(1.0f32, |m, v| m.max(v.abs()));
    let err = max_abs_diff(&auto, &exact);
    assert!(
        err < 1e-5 * scale,
        "autodiff vs closed-form mixture score: max diff {err} (scale {scale})"
    );
    // Central differences of the log density at one point, in f32: a loose independent check.
    let p = [0.3f32, -0.2];
    let lp = |q: [f32; 2]| {
        gm.log_density(&Tensor::from_slice(&dev, &q, &[1, 2]))
            .item()
    };
    let e = 1e-2;
    let fd = [
        (lp([p[0] + e, p[1]]) - lp([p[0] - e, p[1]])) / (2.0 * e),
        (lp([p[0], p[1] + e]) - lp([p[0], p[1] - e])) / (2.0 * e),
    ];
    let at = gm
        .score_exact(&Tensor::from_slice(&dev, &p, &[1, 2]))
        .to_vec();
    assert!(
        max_abs_diff(&fd, &at) < 1e-2,
        "finite differences {fd:?} vs closed form {at:?}"
    );
}

#[test]
fn gaussian_samples_have_the_right_mean_and_cov() {
    let dev = device();
    dev.manual_seed(6);
    let g = full_cov_3d();
    let n = 20000;
    let s = g.sample(&dev, n);
    assert_eq!(s.shape(), &[n, 3]);
    let (m, c) = mean_cov(&s.to_vec(), 3);
    let (gm, gc) = (g.mean(), g.cov());
    for i in 0..3 {
        let se = (gc[i * 4] as f64 / n as f64).sqrt();
        assert!(
            (m[i] - gm[i] as f64).abs() < 5.0 * se,
            "mean[{i}] {} vs {}",
            m[i],
            gm[i]
        );
        for j in 0..3 {
            // Var of a sample covariance entry: (s_ii s_jj + s_ij^2) / n.
            let se = ((gc[i * 4] * gc[j * 4] + gc[i * 3 + j].powi(2)) as f64 / n as f64).sqrt();
            assert!(
                (c[i * 3 + j] - gc[i * 3 + j] as f64).abs() < 5.0 * se,
                "cov[{i},{j}] {} vs {}",
                c[i * 3 + j],
                gc[i * 3 + j]
            );
        }
    }
}

#[test]
fn mixture_samples_split_by_weight_with_the_right_component_stats() {
    let dev = device();
    dev.manual_seed(7);
    let gm = GaussianMixture::new(
        vec![
            Gaussian::spherical(vec![-6.0, 0.0], 0.5),
            Gaussian::new(vec![6.0, 0.0], vec![1.0, 0.4, 0.4, 0.5]),
            Gaussian::spherical(vec![0.0, 8.0], 0.8),
        ],
        vec![1.0, 2.0, 5.0],
    );
    let n = 16000;
    let s = gm.sample(&dev, n);
    assert_eq!(s.shape(), &[n, 2]);
    let modes = gm.mode_of(&s);
    let v = s.to_vec();
    for (k, c) in gm.components().iter().enumerate() {
        let rows: Vec<f32> = v
            .chunks(2)
            .zip(&modes)
            .filter(|(_, &m)| m == k)
            .flat_map(|(r, _)| r.to_vec())
            .collect();
        let (share, w) = ((rows.len() / 2) as f64 / n as f64, gm.weights()[k] as f64);
        let se = (w * (1.0 - w) / n as f64).sqrt();
        assert!(
            (share - w).abs() < 5.0 * se,
            "mode {k}: share {share} vs weight {w}"
        );
        let (m, cv) = mean_cov(&rows, 2);
        for i in 0..2 {
            assert!(
                (m[i] - c.mean()[i] as f64).abs() < 0.05,
                "mode {k}: mean {m:?} vs {:?}",
                c.mean()
            );
        }
        for (i, (&a, &b)) in cv.iter().zip(c.cov()).enumerate() {
            assert!(
                (a - b as f64).abs() < 0.1 * c.cov()[0].max(c.cov()[3]) as f64,
                "mode {k}: cov[{i}] {a} vs {b}"
            );
        }
    }
}

#[test]
fn mixture_sampling_is_reproducible_under_manual_seed() {
    let dev = device();
    let gm = GaussianMixture::symmetric_2d(4, 0.3, 2.0);
    dev.manual_seed(11);
    let a = gm.sample(&dev, 100).to_vec();
    dev.manual_seed(11);
    let b = gm.sample(&dev, 100).to_vec();
    assert_eq!(a, b);
    assert_ne!(
        a,
        gm.sample(&dev, 100).to_vec(),
        "the generator advances between calls"
    );
}

#[test]
fn symmetric_2d_places_means_on_a_circle_at_equal_angles() {
    let gm = GaussianMixture::symmetric_2d(5, 0.25, 3.0);
    assert_eq!(gm.weights(), &[0.2; 5]);
    for (k, c) in gm.components().iter().enumerate() {
        let a = 2.0 * std::f32::consts::PI * k as f32 / 5.0;
        assert!(
            (c.mean()[0] - 3.0 * a.cos()).abs() < 1e-5
                && (c.mean()[1] - 3.0 * a.sin()).abs() < 1e-5,
            "mode {k}: {:?}",
            c.mean()
        );
        assert_eq!(c.cov(), &[0.0625, 0.0, 0.0, 0.0625]);
    }
}

#[test]
fn random_2d_means_lie_in_the_scaled_square_and_depend_on_the_seed() {
    let means = |seed| -> Vec<f32> {
        GaussianMixture::random_2d(6, 0.5, 10.0, seed)
            .components()
            .iter()
            .flat_map(|c| c.mean().to_vec())
            .collect()
    };
    let a = means(1);
    assert_eq!(a.len(), 12);
    assert!(
        a.iter().all(|&v| (-5.0..5.0).contains(&v)),
        "means {a:?} outside [-5, 5)"
    );
    assert_eq!(a, means(1), "same seed, same means");
    assert_ne!(a, means(2), "another seed, other means");
    let spread = a.iter().fold(0.0f32, |m, v| m.max(v.abs()));
    assert!(
        spread > 1.0,
        "means {a:?} all near 0: the scale was not applied"
    );
}

#[test]
#[should_panic(expected = "not positive definite")]
fn indefinite_covariance_panics() {
    Gaussian::new(vec![0.0, 0.0], vec![1.0, 2.0, 2.0, 1.0]);
}

#[test]
#[should_panic(expected = "not symmetric")]
fn asymmetric_covariance_panics() {
    Gaussian::new(vec![0.0, 0.0], vec![1.0, 0.5, 0.0, 1.0]);
}

#[test]
#[should_panic(expected = "mean has dimension 2 but cov has 3 entries")]
fn covariance_of_the_wrong_size_panics() {
    Gaussian::new(vec![0.0, 0.0], vec![1.0, 0.0, 1.0]);
}

#[test]
#[should_panic(expected = "Gaussian::log_density: x has shape [4, 3], expected [N, 2]")]
fn gaussian_log_density_of_wrong_dimension_panics() {
    let dev = device();
    Gaussian::isotropic(2, 1.0).log_density(&Tensor::zeros(&dev, &[4, 3]));
}

#[test]
#[should_panic(expected = "GaussianMixture::score_exact: x has shape [5], expected [N, 2]")]
fn mixture_score_of_wrong_rank_panics() {
    let dev = device();
    GaussianMixture::symmetric_2d(3, 0.5, 2.0).score_exact(&Tensor::zeros(&dev, &[5]));
}
