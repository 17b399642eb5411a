//! Philox 4x32-10 on the GPU: known answers, bit-exact agreement with the CPU reference,
//! distribution tests (moments, Kolmogorov-Smirnov), determinism and independence of streams.
mod common;
use common::*;
use engine::ops::random::{philox4x32_10, philox_stream_cpu, philox_u32, uniform_from_bits};
use engine::Tensor;

/// erfc(x) with fractional error below 1.2e-7 everywhere (Numerical Recipes' `erfcc`, a
/// Chebyshev fit).
fn erfc(x: f64) -> f64 {
    let z = x.abs();
    let t = 1.0 / (1.0 + 0.5 * z);
    let poly = -z * z - 1.26551223
        + t * (1.00002368
            + t * (0.37409196
                + t * (0.09678418
                    + t * (-0.18628806
                        + t * (0.27886807
                            + t * (-1.13520398
                                + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277))))))));
    let r = t * poly.exp();
    if x >= 0.0 {
        r
    } else {
        2.0 - r
    }
}

/// The standard normal CDF: Phi(x) = erfc(-x / sqrt 2) / 2.
fn phi(x: f64) -> f64 {
    0.5 * erfc(-x / std::f64::consts::SQRT_2)
}

/// Kolmogorov-Smirnov statistic D = sup |F_n(x) - F(x)| of the samples against `cdf`.
fn ks_statistic(samples: &[f32], cdf: impl Fn(f64) -> f64) -> f64 {
    let mut xs: Vec<f64> = samples.iter().map(|&v| v as f64).collect();
    xs.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let n = xs.len() as f64;
    let mut d: f64 = 0.0;
    for (i, &x) in xs.iter().enumerate() {
        let f = cdf(x);
        d = d.max(f - i as f64 / n).max((i + 1) as f64 / n - f);
    }
    d
}

fn mean_var(v: &[f32]) -> (f64, f64) {
    let n = v.len() as f64;
    let mean = v.iter().map(|&x| x as f64).sum::<f64>() / n;
    let var = v.iter().map(|&x| (x as f64 - mean).powi(2)).sum::<f64>() / n;
    (mean, var)
}

fn correlation(a: &[f32], b: &[f32]) -> f64 {
    let (ma, va) = mean_var(a);
    let (mb, vb) = mean_var(b);
    let cov = a
        .iter()
        .zip(b)
        .map(|(&x, &y)| (x as f64 - ma) * (y as f64 - mb))
        .sum::<f64>()
        / a.len() as f64;
    cov / (va * vb).sqrt()
}

/// The GPU's Box-Muller in f64, from the same raw words: pairs (x0, x1), (x2, x3) of a block.
fn box_muller_cpu(words: &[u32]) -> Vec<f64> {
    let mut out = Vec::new();
    for pair in words.chunks(2) {
        let (a, b) = (pair[0], *pair.get(1).unwrap_or(&0));
        let u1 = (a as f64 + 0.5) / 4294967296.0;
        let theta = (b >> 8) as f64 * (std::f64::consts::TAU / 16777216.0) - std::f64::consts::PI;
        let r = (-2.0 * u1.ln()).sqrt();
        out.extend([r * theta.cos(), r * theta.sin()]);
    }
    out
}

#[test]
fn cpu_philox_matches_random123_known_answers() {
    // Random123 kat_vectors: philox4x32 10 <ctr[4]> <key[2]> -> <out[4]>
    assert_eq!(
        philox4x32_10([0; 4], [0; 2]),
        [0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8]
    );
    assert_eq!(
        philox4x32_10([u32::MAX; 4], [u32::MAX; 2]),
        [0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd]
    );
    assert_eq!(
        philox4x32_10(
            [0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344],
            [0xa4093822, 0x299f31d0]
        ),
        [0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1]
    );
}

#[test]
fn gpu_philox_bits_match_cpu_over_several_workgroups() {
    let dev = device();
    // 4 * 256 * 3 + 5 words: three workgroups and a partial block at the end.
    let n = 4 * 256 * 3 + 5;
    let seed = 0x0123_4567_89ab_cdef;
    assert_eq!(
        philox_u32(&dev, n, seed, 40),
        philox_stream_cpu(n, seed, 40)
    );
    // The zero key and counter give the published answer as the first block.
    assert_eq!(
        philox_u32(&dev, 4, 0, 0),
        vec![0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8]
    );
}

#[test]
fn gpu_philox_counter_carries_into_high_word() {
    let dev = device();
    // Counters 2^32 - 2 .. 2^32 + 2: the low word wraps inside one dispatch.
    let offset = 4 * ((1u64 << 32) - 2);
    let got = philox_u32(&dev, 16, 7, offset);
    assert_eq!(got, philox_stream_cpu(16, 7, offset));
    assert_eq!(&got[8..12], &philox4x32_10([0, 1, 0, 0], [7, 0]));
}

#[test]
fn rand_and_randn_odd_sizes_match_cpu_reference() {
    let dev = device();
    // Odd sizes (4 floats stored one by one), and multiples of 4 (one vec4 store each)
    // across several workgroups.
    for n in [1usize, 3, 257, 4, 4100] {
        let (seed, offset) = (99u64 + n as u64, 12u64);
        let words = philox_stream_cpu(n, seed, offset);
        let u = Tensor::rand_seeded(&dev, &[n], seed, offset).to_vec();
        let want_u: Vec<f32> = words.iter().map(|&x| uniform_from_bits(x)).collect();
        assert_eq!(u, want_u, "rand of {n} values");
        let z = Tensor::randn_seeded(&dev, &[n], seed, offset).to_vec();
        let want_z = box_muller_cpu(&philox_stream_cpu(n.next_multiple_of(4), seed, offset));
        assert_close(
            &format!("randn of {n} values"),
            &z,
            &want_z[..n],
            1e-4,
            1e-4,
        );
    }
}

#[test]
fn randn_million_samples_have_unit_moments_and_pass_ks_against_normal() {
    let dev = device();
    dev.manual_seed(2024);
    let n = 1 << 20;
    let z = Tensor::randn(&dev, &[1024, 1024]).to_vec();
    assert_eq!(z.len(), n);
    assert!(
        z.iter().all(|v| v.is_finite()),
        "randn produced a non-finite value"
    );
    let (mean, var) = mean_var(&z);
    // Standard errors: 1/sqrt(n) = 0.001 for the mean, sqrt(2/n) = 0.0014 for the variance.
    assert!(mean.abs() < 0.005, "mean {mean}");
    assert!((var - 1.0).abs() < 0.007, "variance {var}");
    let d = ks_statistic(&z, phi);
    let crit = 1.95 / (n as f64).sqrt(); // alpha = 0.001
    assert!(d < crit, "KS statistic {d} >= critical value {crit}");
}

#[test]
fn ks_test_rejects_a_shifted_normal() {
    // The test must be able to fail: N(0.01, 1) is caught at n = 2^20.
    let dev = device();
    let n = 1 << 20;
    let z = Tensor::randn_seeded(&dev, &[n], 5, 0)
        .add_scalar(0.01)
        .to_vec();
    let d = ks_statistic(&z, phi);
    assert!(
        d > 1.95 / (n as f64).sqrt(),
        "KS statistic {d} missed a shift of 0.01"
    );
}

#[test]
fn rand_million_samples_pass_ks_against_uniform() {
    let dev = device();
    dev.manual_seed(7);
    let n = 1 << 20;
    let u = Tensor::rand(&dev, &[n]).to_vec();
    assert!(
        u.iter().all(|&v| (0.0..1.0).contains(&v)),
        "rand left [0, 1)"
    );
    let (mean, var) = mean_var(&u);
    assert!((mean - 0.5).abs() < 0.002, "mean {mean}");
    assert!((var - 1.0 / 12.0).abs() < 0.001, "variance {var}");
    let d = ks_statistic(&u, |x| x.clamp(0.0, 1.0));
    let crit = 1.95 / (n as f64).sqrt();
    assert!(d < crit, "KS statistic {d} >= critical value {crit}");
}

#[test]
fn manual_seed_makes_draws_bit_identical_and_successive_draws_differ() {
    let dev = device();
    dev.manual_seed(42);
    let a = Tensor::randn(&dev, &[257]).to_vec();
    assert_eq!(
        dev.rng_state(),
        (42, 260),
        "offset advances by the values used, rounded up to 4"
    );
    let b = Tensor::randn(&dev, &[3, 5]).to_vec();
    let u = Tensor::rand(&dev, &[10]).to_vec();
    dev.manual_seed(42);
    let a2 = Tensor::randn(&dev, &[257]).to_vec();
    let b2 = Tensor::randn(&dev, &[3, 5]).to_vec();
    let u2 = Tensor::rand(&dev, &[10]).to_vec();
    let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
    assert_eq!(bits(&a), bits(&a2));
    assert_eq!(bits(&b), bits(&b2));
    assert_eq!(bits(&u), bits(&u2));
    assert_ne!(&a[..15], &b[..]);
    // The device path is the explicit stream at the saved offset.
    assert_eq!(
        bits(&b),
        bits(&Tensor::randn_seeded(&dev, &[3, 5], 42, 260).to_vec())
    );
    // A second device with the same seed agrees.
    let dev2 = device();
    dev2.manual_seed(42);
    assert_eq!(bits(&a), bits(&Tensor::randn(&dev2, &[257]).to_vec()));
    // _like draws with the shape of its argument.
    let like = Tensor::zeros(&dev, &[2, 3]).randn_like();
    assert_eq!(like.shape(), &[2, 3]);
}

#[test]
fn different_seeds_and_offsets_are_uncorrelated() {
    let dev = device();
    let n = 1 << 17;
    let base = Tensor::randn_seeded(&dev, &[n], 1, 0).to_vec();
    let other_seed = Tensor::randn_seeded(&dev, &[n], 2, 0).to_vec();
    let other_offset = Tensor::randn_seeded(&dev, &[n], 1, 4).to_vec();
    let next_call = Tensor::randn_seeded(&dev, &[n], 1, n as u64).to_vec();
    let bound = 5.0 / (n as f64).sqrt(); // 5 standard errors of a correlation
    for (what, v) in [
        ("seed 2", &other_seed),
        ("offset 4", &other_offset),
        ("offset n", &next_call),
    ] {
        let r = correlation(&base, v);
        assert!(
            r.abs() < bound,
            "{what}: correlation {r} with seed 1 offset 0"
        );
    }
    // Offset 4 is the same stream shifted by one block, not a new one.
    assert_eq!(&base[4..], &other_offset[..n - 4]);
    // Uniforms from neighbouring positions of one stream are uncorrelated too.
    let u = Tensor::rand_seeded(&dev, &[n], 3, 0).to_vec();
    let r = correlation(&u[..n - 1], &u[1..]);
    assert!(r.abs() < bound, "lag-1 correlation {r}");
}

#[test]
#[should_panic(expected = "randn_seeded: offset 6 is not a multiple of 4")]
fn randn_seeded_rejects_unaligned_offset() {
    let dev = device();
    Tensor::randn_seeded(&dev, &[8], 1, 6);
}
