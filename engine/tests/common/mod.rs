//! Shared test helpers: a device per test, seeded random inputs, and comparisons.
#![allow(dead_code)]

use engine::{Device, Tensor};
use rand::{Rng, SeedableRng};

/// A fresh device per test (tests run on several threads; a Device is single-threaded).
pub fn device() -> Device {
    Device::new().expect("tests need a wgpu adapter: install mesa-vulkan-drivers")
}

/// One device per way elementwise kernels read their inputs (`DeviceOptions::texture_reads`):
/// storage buffers, then flat textures; tests run both whatever the adapter's default.
pub fn devices_for_reads() -> [(&'static str, Device); 2] {
    [("buffer reads", false), ("texture reads", true)].map(|(name, on)| {
        let opts = engine::DeviceOptions {
            texture_reads: Some(on),
            ..engine::DeviceOptions::default()
        };
        (
            name,
            Device::with_options(opts).expect("tests need a wgpu adapter"),
        )
    })
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
    assert_eq!(
        got.len(),
        want.len(),
        "{what}: {} values, expected {}",
        got.len(),
        want.len()
    );
    let mut worst = (0usize, 0.0f64);
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        let err = (g as f64 - w).abs() - (atol + rtol * w.abs());
        if err > worst.1 || g.is_nan() {
            worst = (i, if g.is_nan() { f64::INFINITY } else { err });
        }
    }
    if worst.1 > 0.0 {
        let i = worst.0;
        panic!(
            "{what}: element {i} is {} but should be {} (atol {atol}, rtol {rtol})",
            got[i], want[i]
        );
    }
}

/// Checks an op's forward against an f64 CPU reference, and its GPU backward against central
/// finite differences of that reference.
///
/// `inputs` are (shape, values). `gpu` builds the op from leaf tensors; `cpu` computes the same
/// function in f64 on flat row-major data. The scalar checked is L = sum_i w_i out_i with fixed
/// random weights w, so every output element's gradient path is exercised; on the GPU this is
/// `out.backward_with(w)`. Returns nothing; panics naming the input and element that differ.
pub fn check_op(
    what: &str,
    inputs: &[(&[usize], Vec<f32>)],
    gpu: impl Fn(&[engine::Tensor]) -> engine::Tensor,
    cpu: impl Fn(&[Vec<f64>]) -> Vec<f64>,
    tol: f64,
) {
    check_op_on(&device(), what, inputs, gpu, cpu, tol)
}

/// `check_op` on a given device (one made with non-default `DeviceOptions`, say).
pub fn check_op_on(
    dev: &Device,
    what: &str,
    inputs: &[(&[usize], Vec<f32>)],
    gpu: impl Fn(&[engine::Tensor]) -> engine::Tensor,
    cpu: impl Fn(&[Vec<f64>]) -> Vec<f64>,
    tol: f64,
) {
    let dev = dev.clone();
    let leaves: Vec<engine::Tensor> = inputs
        .iter()
        .map(|(s, v)| engine::Tensor::from_slice(&dev, v, s).set_requires_grad(true))
        .collect();
    let out = gpu(&leaves);
    let x64: Vec<Vec<f64>> = inputs
        .iter()
        .map(|(_, v)| v.iter().map(|&x| x as f64).collect())
        .collect();
    let want = cpu(&x64);
    assert_close(&format!("{what} forward"), &out.to_vec(), &want, tol, tol);
    let w = uniform(want.len(), -1.0, 1.0, 99);
    out.backward_with(engine::Tensor::from_slice(&dev, &w, out.shape()));
    let loss = |xs: &[Vec<f64>]| {
        cpu(xs)
            .iter()
            .zip(&w)
            .map(|(o, &wi)| o * wi as f64)
            .sum::<f64>()
    };
    let eps = 1e-4;
    for (k, leaf) in leaves.iter().enumerate() {
        let got = leaf
            .grad()
            .unwrap_or_else(|| panic!("{what}: input {k} got no gradient"))
            .to_vec();
        let mut fd = vec![0.0; x64[k].len()];
        for j in 0..fd.len() {
            let mut xp = x64.clone();
            xp[k][j] += eps;
            let mut xm = x64.clone();
            xm[k][j] -= eps;
            fd[j] = (loss(&xp) - loss(&xm)) / (2.0 * eps);
        }
        assert_close(
            &format!("{what} gradient of input {k}"),
            &got,
            &fd,
            tol,
            tol,
        );
    }
}

/// Index of the element of a tensor of shape `from` that broadcasts to multi-index `idx` of `to`.
pub fn broadcast_index(from: &[usize], to: &[usize], idx: &[usize]) -> usize {
    let pad = to.len() - from.len();
    let mut flat = 0;
    for (d, &size) in from.iter().enumerate() {
        let i = if size == 1 { 0 } else { idx[d + pad] };
        flat = flat * size + i;
    }
    flat
}

/// Multi-index of flat position `i` in `shape` (row-major).
pub fn unravel(mut i: usize, shape: &[usize]) -> Vec<usize> {
    let mut idx = vec![0; shape.len()];
    for d in (0..shape.len()).rev() {
        idx[d] = i % shape[d];
        i /= shape[d];
    }
    idx
}

/// Flat position of multi-index `idx` in `shape`.
pub fn ravel(idx: &[usize], shape: &[usize]) -> usize {
    idx.iter().zip(shape).fold(0, |acc, (&i, &s)| acc * s + i)
}

/// A tensor of `shape` whose element at multi-index idx is f(idx).
pub fn build(shape: &[usize], f: impl Fn(&[usize]) -> f64) -> Vec<f64> {
    (0..shape.iter().product())
        .map(|i| f(&unravel(i, shape)))
        .collect()
}

/// f32 values as f64.
pub fn f64s(v: &[f32]) -> Vec<f64> {
    v.iter().map(|&x| x as f64).collect()
}
