//! The Fréchet distance (models/src/fid.rs) against closed forms: diagonal Gaussians, commuting
//! covariances, 2 x 2 non-commuting ones; sample statistics, invariances and bad input.
//! Legend: N = samples, D = dimension. All on the CPU in f64.

use models::fid::{frechet_distance, frechet_distance_of, sqrt_psd, symmetric_eigen, FeatureStats};

/// A seeded splitmix64 stream: uniforms in (0, 1) and standard normals (Box-Muller).
struct Rng(u64);

impl Rng {
    fn uniform(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        ((z >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    }
    fn normal(&mut self) -> f64 {
        let (u, v) = (self.uniform(), self.uniform());
        (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()
    }
}

/// a [D, D] times b [D, D].
fn matmul(a: &[f64], b: &[f64], d: usize) -> Vec<f64> {
    let mut out = vec![0.0; d * d];
    for i in 0..d {
        for j in 0..d {
            out[i * d + j] = (0..d).map(|k| a[i * d + k] * b[k * d + j]).sum();
        }
    }
    out
}

fn transpose(a: &[f64], d: usize) -> Vec<f64> {
    (0..d * d).map(|n| a[(n % d) * d + n / d]).collect()
}

/// A random orthogonal D x D matrix: Gram-Schmidt on the rows of a Gaussian matrix.
fn random_orthogonal(d: usize, rng: &mut Rng) -> Vec<f64> {
    let mut q: Vec<f64> = (0..d * d).map(|_| rng.normal()).collect();
    for i in 0..d {
        for j in 0..i {
            let dot: f64 = (0..d).map(|k| q[i * d + k] * q[j * d + k]).sum();
            (0..d).for_each(|k| q[i * d + k] -= dot * q[j * d + k]);
        }
        let norm: f64 = (0..d).map(|k| q[i * d + k].powi(2)).sum::<f64>().sqrt();
        (0..d).for_each(|k| q[i * d + k] /= norm);
    }
    q
}

/// Q diag(l) Q^T
fn with_eigenvalues(q: &[f64], l: &[f64]) -> Vec<f64> {
    let d = l.len();
    let ql: Vec<f64> = (0..d * d).map(|n| q[n] * l[n % d]).collect();
    matmul(&ql, &transpose(q, d), d)
}

fn diag(v: &[f64]) -> Vec<f64> {
    let d = v.len();
    (0..d * d)
        .map(|n| if n % (d + 1) == 0 { v[n / d] } else { 0.0 })
        .collect()
}

/// N rows of x = mean + A z, z standard normal: a sample of N(mean, A A^T) as f32 [N, D].
fn gaussian_rows(n: usize, mean: &[f64], a: &[f64], rng: &mut Rng) -> Vec<f32> {
    let d = mean.len();
    let mut out = Vec::with_capacity(n * d);
    for _ in 0..n {
        let z: Vec<f64> = (0..d).map(|_| rng.normal()).collect();
        for i in 0..d {
            let x = mean[i] + (0..d).map(|k| a[i * d + k] * z[k]).sum::<f64>();
            out.push(x as f32);
        }
    }
    out
}

fn assert_near(what: &str, got: f64, want: f64, tol: f64) {
    assert!(
        (got - want).abs() <= tol,
        "{what}: got {got}, expected {want} (tolerance {tol})"
    );
}

#[test]
fn jacobi_eigendecomposition_reconstructs_a_random_symmetric_matrix_with_orthogonal_vectors() {
    // d = 37: not a round size; B + B^T is symmetric with eigenvalues of both signs.
    let d = 37;
    let mut rng = Rng(1);
    let b: Vec<f64> = (0..d * d).map(|_| rng.normal()).collect();
    let a: Vec<f64> = (0..d * d).map(|n| b[n] + b[(n % d) * d + n / d]).collect();
    let (l, v) = symmetric_eigen(&a, d);
    let rebuilt = with_eigenvalues(&v, &l);
    for n in 0..d * d {
        assert_near(&format!("V diag(l) V^T at {n}"), rebuilt[n], a[n], 1e-10);
    }
    let vtv = matmul(&transpose(&v, d), &v, d);
    for (n, &got) in vtv.iter().enumerate() {
        let want = if n % (d + 1) == 0 { 1.0 } else { 0.0 };
        assert_near(&format!("V^T V at {n}"), got, want, 1e-12);
    }
    assert!(l.iter().any(|&x| x < 0.0) && l.iter().any(|&x| x > 0.0));
}

#[test]
fn sqrt_psd_squares_back_and_clamps_a_zero_eigenvalue() {
    // Rank-deficient PSD matrix (one eigenvalue exactly 0), rotated off the axes.
    let mut rng = Rng(2);
    let q = random_orthogonal(5, &mut rng);
    let a = with_eigenvalues(&q, &[4.0, 2.25, 1.0, 0.01, 0.0]);
    let r = sqrt_psd(&a, 5);
    let rr = matmul(&r, &r, 5);
    for n in 0..25 {
        assert_near(&format!("sqrt(A)^2 at {n}"), rr[n], a[n], 1e-10);
        assert!(!r[n].is_nan(), "sqrt(A) has a NaN at {n}");
    }
}

#[test]
fn diagonal_gaussians_match_the_closed_form() {
    // With diagonal covariances everything commutes:
    //   d^2 = |mu1 - mu2|^2 + sum_i (s1_i - s2_i)^2, s = standard deviations.
    let mu1: Vec<f64> = vec![0.5, -1.0, 2.0, 0.0];
    let mu2: Vec<f64> = vec![-0.5, 1.0, 2.5, 3.0];
    let s1: [f64; 4] = [1.0, 0.5, 2.0, 3.0];
    let s2: [f64; 4] = [2.0, 0.5, 1.0, 0.1];
    let var = |s: &[f64]| diag(&s.iter().map(|x| x * x).collect::<Vec<_>>());
    let want: f64 = mu1
        .iter()
        .zip(&mu2)
        .map(|(a, b)| (a - b).powi(2))
        .sum::<f64>()
        + s1.iter()
            .zip(&s2)
            .map(|(a, b)| (a - b).powi(2))
            .sum::<f64>();
    let a = FeatureStats::from_moments(mu1.clone(), var(&s1));
    let b = FeatureStats::from_moments(mu2.clone(), var(&s2));
    assert_near("exact moments", frechet_distance(&a, &b), want, 1e-10);

    // The same from samples: 40000 draws each, statistics within sampling error (~1%).
    let mut rng = Rng(3);
    let xa = gaussian_rows(40_000, &mu1, &diag(&s1), &mut rng);
    let xb = gaussian_rows(40_000, &mu2, &diag(&s2), &mut rng);
    let got = frechet_distance_of(&xa, &xb, 4);
    assert_near("from samples", got, want, 0.02 * want);
}

#[test]
fn identical_sets_give_zero_and_permuting_samples_changes_nothing() {
    let (n, d) = (300, 12);
    let mut rng = Rng(4);
    let a_mix: Vec<f64> = (0..d * d).map(|_| rng.normal() * 0.5).collect();
    let mean: Vec<f64> = (0..d).map(|i| i as f64 * 0.1).collect();
    let x = gaussian_rows(n, &mean, &a_mix, &mut rng);
    let y = gaussian_rows(n, &mean, &a_mix, &mut rng);
    let same = frechet_distance_of(&x, &x, d);
    assert!(same.abs() < 1e-8, "FD of a set with itself is {same}");

    // Reverse the rows of x and interleave halves: the same set in another order.
    let rows: Vec<&[f32]> = x.chunks_exact(d).collect();
    let mut order: Vec<usize> = (0..n).rev().collect();
    order.rotate_left(n / 3);
    let permuted: Vec<f32> = order.iter().flat_map(|&i| rows[i].to_vec()).collect();
    let base = frechet_distance_of(&x, &y, d);
    let perm = frechet_distance_of(&permuted, &y, d);
    assert!(
        base > 0.1,
        "two samples of 300 should differ measurably, got {base}"
    );
    assert_near("permuted", perm, base, 1e-9 * base.max(1.0));
    // d^2 is symmetric although the formula is not written symmetrically.
    assert_near("swapped", frechet_distance_of(&y, &x, d), base, 1e-9 * base);
}

#[test]
fn commuting_non_diagonal_covariances_match_the_commuting_formula() {
    // S1 = Q diag(l1) Q^T, S2 = Q diag(l2) Q^T commute, so
    //   tr(S1 + S2 - 2 (S1^1/2 S2 S1^1/2)^1/2) = sum_i (sqrt(l1_i) - sqrt(l2_i))^2.
    let d = 9;
    let mut rng = Rng(5);
    let q = random_orthogonal(d, &mut rng);
    let l1: Vec<f64> = (0..d).map(|_| rng.uniform() * 3.0).collect();
    let l2: Vec<f64> = (0..d).map(|_| rng.uniform() * 3.0).collect();
    let mu1: Vec<f64> = (0..d).map(|_| rng.normal()).collect();
    let mu2: Vec<f64> = (0..d).map(|_| rng.normal()).collect();
    let want = mu1
        .iter()
        .zip(&mu2)
        .map(|(a, b)| (a - b).powi(2))
        .sum::<f64>()
        + l1.iter()
            .zip(&l2)
            .map(|(a, b)| (a.sqrt() - b.sqrt()).powi(2))
            .sum::<f64>();
    let a = FeatureStats::from_moments(mu1, with_eigenvalues(&q, &l1));
    let b = FeatureStats::from_moments(mu2, with_eigenvalues(&q, &l2));
    assert_near("commuting", frechet_distance(&a, &b), want, 1e-9);
}

#[test]
fn non_commuting_2x2_covariances_match_the_trace_of_a_2x2_square_root() {
    // For a 2 x 2 PSD M, tr(M^1/2) = sqrt(tr M + 2 sqrt(det M)); with M = S1^1/2 S2 S1^1/2,
    // tr M = tr(S1 S2) and det M = det S1 det S2.
    let s1 = vec![2.0, 0.8, 0.8, 1.0];
    let s2 = vec![0.5, -0.3, -0.3, 3.0];
    let det = |s: &[f64]| s[0] * s[3] - s[1] * s[2];
    let tr_s1s2: f64 = (0..2)
        .map(|i| (0..2).map(|k| s1[i * 2 + k] * s2[k * 2 + i]).sum::<f64>())
        .sum();
    let tr_sqrt = (tr_s1s2 + 2.0 * (det(&s1) * det(&s2)).sqrt()).sqrt();
    let want = 1.0 + 4.0 + (s1[0] + s1[3]) + (s2[0] + s2[3]) - 2.0 * tr_sqrt;
    let a = FeatureStats::from_moments(vec![1.0, 0.0], s1);
    let b = FeatureStats::from_moments(vec![0.0, 2.0], s2);
    assert_near("2x2", frechet_distance(&a, &b), want, 1e-10);
}

#[test]
fn rank_deficient_covariances_with_fewer_samples_than_dimensions_stay_finite() {
    // N = 20 samples of D = 50: both covariances have rank <= 19; FD is still finite and >= 0.
    let mut rng = Rng(6);
    let x: Vec<f32> = (0..20 * 50).map(|_| rng.normal() as f32).collect();
    let y: Vec<f32> = (0..20 * 50).map(|_| rng.normal() as f32).collect();
    let fd = frechet_distance_of(&x, &y, 50);
    assert!(fd.is_finite() && fd > 0.0, "FD = {fd}");
    // With itself: the 31 zero eigenvalues of S^1/2 S S^1/2 come out as round-off of order
    // 1e-16 |S|^2, and their square roots (~1e-8 each) add up: a floor of about 1e-6 against a
    // trace of about 50, inherent to the square root near zero.
    let same = frechet_distance_of(&x, &x, 50);
    assert!(
        same.abs() < 1e-5,
        "FD of a rank-deficient set with itself is {same}"
    );
}

#[test]
#[should_panic(expected = "frechet_distance: feature dimensions differ: 3 (N = 4) vs 2 (N = 5)")]
fn mismatched_dimensions_panic() {
    let a = FeatureStats::from_rows(&[0.0; 12], 3);
    let b = FeatureStats::from_rows(&[0.0; 10], 2);
    frechet_distance(&a, &b);
}

#[test]
#[should_panic(expected = "a covariance needs at least 2 samples, got 1 of dimension 4")]
fn a_single_sample_panics() {
    FeatureStats::from_rows(&[1.0, 2.0, 3.0, 4.0], 4);
}

#[test]
#[should_panic(expected = "10 values are not a whole number of rows of dimension 3")]
fn ragged_rows_panic() {
    FeatureStats::from_rows(&[0.0; 10], 3);
}
