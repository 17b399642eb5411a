//! Shared test helpers: a device per test, seeded random inputs, and comparisons.
#![allow(dead_code)]

use engine::{Device, Tensor};
use rand::{Rng, SeedableRng};

pub mod reference;

/// A fresh device per test (tests run on several threads; a Device is single-threaded).
pub fn device() -> Device {
    Device::new().expect("tests need a wgpu adapter: install mesa-vulkan-drivers")
}

/// Uniform values in [lo, hi) from a seeded CPU generator.
pub fn uniform(n: usize, lo: f32, hi: f32, seed: u64) -> Vec<f32> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    (0..n).map(|_| rng.random_range(lo..hi)).collect()
}

pub fn tensor(dev: &Device, shape: &[usize], seed: u64) -> Tensor {
    let n = shape.iter().product();
    Tensor::from_slice(dev, &uniform(n, -1.0, 1.0, seed), shape)
}

/// Asserts |got - want| <= atol + rtol * |want| elementwise, naming the worst element.
pub fn assert_close(what: &str, got: &[f32], want: &[f64], atol: f64, rtol: f64) {
    assert_eq!(got.len(), want.len(), "{what}: {} values, expected {}", got.len(), want.len());
    let mut worst = (0usize, 0.0f64);
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        let err = (g as f64 - w).abs() - (atol + rtol * w.abs());
        if err > worst.1 || g.is_nan() {
            worst = (i, if g.is_nan() { f64::INFINITY } else { err });
        }
    }
    if worst.1 > 0.0 {
        let i = worst.0;
        panic!("{what}: element {i} is {} but should be {} (atol {atol}, rtol {rtol})", got[i], want[i]);
    }
}
