//! `Tensor::linear` (x W + b) and `Tensor::linear_act` (act(x W + b)) against an f64 CPU
//! reference and finite differences, on the
//! adapter's default path, with `matmul_texture` forced on (its bias epilogue) and forced off
//! (a product and a broadcast add), at shapes that take each kernel: the 4 x 32 tiles, the
//! thin kernel (K of 3, N of 8 or 2, M of 3), and those that fall back to the composed ops
//! (N % 4 != 0 in the tiles).
mod common;
use common::*;
use engine::{Activation, Device, DeviceOptions, Tensor};

/// x W + b in f64: x [m, k], w [k, n], b [n].
fn reference(x: &[f64], w: &[f64], b: &[f64], m: usize, k: usize, n: usize) -> Vec<f64> {
    let mut out = vec![0.0; m * n];
    for i in 0..m {
        for j in 0..n {
            out[i * n + j] = b[j] + (0..k).map(|kk| x[i * k + kk] * w[kk * n + j]).sum::<f64>();
        }
    }
    out
}

const ACTS: [Activation; 3] = [Activation::Silu, Activation::Relu, Activation::Tanh];

fn act64(act: Activation, z: f64) -> f64 {
    match act {
        Activation::Silu => z / (1.0 + (-z).exp()),
        Activation::Relu => z.max(0.0),
        Activation::Tanh => z.tanh(),
    }
}

fn devices() -> Vec<(&'static str, Device)> {
    let with = |t: Option<bool>, reads: Option<bool>| {
        Device::with_options(DeviceOptions {
            matmul_texture: t,
            texture_reads: reads,
            ..Default::default()
        })
        .unwrap()
    };
    vec![
        ("default", with(None, None)),
        ("matmul_texture on", with(Some(true), None)),
        // Every input through textures: the backward's one-dispatch dz and bias sum
        // (`unary_grad_colsum4_tex`) at small sizes too.
        (
            "matmul_texture and texture reads on",
            with(Some(true), Some(true)),
        ),
        ("matmul_texture off", with(Some(false), None)),
    ]
}

const SHAPES: [(usize, usize, usize); 10] = [
    (37, 37, 36),   // tiles, several column groups past N
    (257, 65, 132), // several workgroups each way
    (1000, 3, 64),  // thin: K of 3 (an MLP's first layer)
    (130, 70, 8),   // thin: N of 8
    (300, 67, 2),   // thin with N % 4 != 0: the ragged thin epilogue
    (37, 20, 30),   // N % 4 != 0, not thin: composed
    (9, 9, 12),     // few rows, a small product: tiles
    (3, 100, 1000), // at most 8 rows: the thin kernel
    (20, 100, 200), // few rows, a large product: 32-row tiles with the epilogue
    (1, 1, 4),
];

#[test]
fn linear_matches_reference_on_every_path() {
    for (label, dev) in devices() {
        for (m, k, n) in SHAPES {
            let x = tensor(&dev, &[m, k], 1);
            let w = tensor(&dev, &[k, n], 2);
            let b = tensor(&dev, &[n], 3);
            let want = reference(
                &f64s(&x.to_vec()),
                &f64s(&w.to_vec()),
                &f64s(&b.to_vec()),
                m,
                k,
                n,
            );
            let tol = 1e-5 + 2e-6 * k as f64;
            let what = format!("linear [{m},{k}] x [{k},{n}] + [{n}] ({label})");
            assert_close(&what, &x.linear(&w, &b).to_vec(), &want, tol, tol);
        }
    }
}

#[test]
fn linear_act_matches_reference_on_every_path() {
    for (label, dev) in devices() {
        for (m, k, n) in SHAPES {
            let x = tensor(&dev, &[m, k], 1);
            let w = tensor(&dev, &[k, n], 2);
            let b = tensor(&dev, &[n], 3);
            let z = reference(
                &f64s(&x.to_vec()),
                &f64s(&w.to_vec()),
                &f64s(&b.to_vec()),
                m,
                k,
                n,
            );
            for act in ACTS {
                let want: Vec<f64> = z.iter().map(|&v| act64(act, v)).collect();
                let tol = 1e-5 + 2e-6 * k as f64;
                let what = format!("linear_act {act:?} [{m},{k}] x [{k},{n}] ({label})");
                assert_close(&what, &x.linear_act(&w, &b, act).to_vec(), &want, tol, tol);
            }
        }
    }
}

#[test]
fn linear_act_gradients_match_finite_differences() {
    for (label, dev) in devices() {
        for act in ACTS {
            for (m, k, n) in [(12, 16, 36), (40, 3, 8)] {
                check_op_on(
                    &dev,
                    &format!("linear_act {act:?} [{m},{k}] x [{k},{n}] ({label})"),
                    &[
                        (&[m, k], uniform(m * k, -1.0, 1.0, 7)),
                        (&[k, n], uniform(k * n, -1.0, 1.0, 8)),
                        (&[n], uniform(n, -1.0, 1.0, 9)),
                    ],
                    |t| t[0].linear_act(&t[1], &t[2], act),
                    |x| {
                        let z = reference(&x[0], &x[1], &x[2], m, k, n);
                        z.iter().map(|&v| act64(act, v)).collect()
                    },
                    2e-3,
                );
            }
        }
    }
}

#[test]
fn linear_gradients_match_finite_differences() {
    for (label, dev) in devices() {
        for (m, k, n) in [(12, 16, 36), (40, 3, 8), (10, 7, 6)] {
            check_op_on(
                &dev,
                &format!("linear [{m},{k}] x [{k},{n}] ({label})"),
                &[
                    (&[m, k], uniform(m * k, -1.0, 1.0, 7)),
                    (&[k, n], uniform(k * n, -1.0, 1.0, 8)),
                    (&[n], uniform(n, -1.0, 1.0, 9)),
                ],
                |t| t[0].linear(&t[1], &t[2]),
                |x| reference(&x[0], &x[1], &x[2], m, k, n),
                2e-3,
            );
        }
    }
}

/// At an MLP's size (the default device copies inputs of 16K values or more to textures, so
/// the backward takes the one-dispatch dz and bias sum on CPU adapters) the gradients equal
/// those of the composed ops on a device without the fused kernels.
#[test]
fn linear_act_gradients_at_mlp_size_match_the_composed_ops() {
    let composed = Device::with_options(DeviceOptions {
        matmul_texture: Some(false),
        texture_reads: Some(false),
        ..Default::default()
    })
    .unwrap();
    let (m, k, n) = (1000, 64, 64);
    let data = [
        uniform(m * k, -1.0, 1.0, 1),
        uniform(k * n, -0.3, 0.3, 2),
        uniform(n, -1.0, 1.0, 3),
    ];
    let g = uniform(m * n, -1.0, 1.0, 4);
    let grads = |dev: &Device| {
        let shapes: [&[usize]; 3] = [&[m, k], &[k, n], &[n]];
        let t: Vec<Tensor> = data
            .iter()
            .zip(shapes)
            .map(|(v, s)| Tensor::from_slice(dev, v, s).set_requires_grad(true))
            .collect();
        let h = t[0].linear_act(&t[1], &t[2], Activation::Silu);
        h.backward_with(Tensor::from_slice(dev, &g, &[m, n]));
        t.iter()
            .map(|t| t.grad().unwrap().to_vec())
            .collect::<Vec<_>>()
    };
    let want = grads(&composed);
    for (i, got) in grads(&device()).iter().enumerate() {
        // db sums 1000 rows, dW 1000 products: f32 rounding in either order.
        assert_close(
            &format!("gradient of input {i}"),
            got,
            &f64s(&want[i]),
            1e-4,
            1e-4,
        );
    }
}

/// Where the texture kernel runs, the bias and the activation ride on the product: one
/// dispatch, not two or three.
#[test]
fn linear_is_one_dispatch_with_the_bias_epilogue() {
    let dev = Device::with_options(DeviceOptions {
        matmul_texture: Some(true),
        ..Default::default()
    })
    .unwrap();
    if !dev.runs_matmul_texture() {
        eprintln!("skipped: {} has no subgroups of 8 or more", dev.describe());
        return;
    }
    // Rows of 64 values: both operands go into textures by copy commands, no pack kernel.
    let x = tensor(&dev, &[128, 64], 1);
    let w = tensor(&dev, &[64, 64], 2);
    let b = tensor(&dev, &[64], 3);
    let before = dev.stats().dispatches;
    let _ = x.linear(&w, &b);
    assert_eq!(dev.stats().dispatches - before, 1, "linear");
    let before = dev.stats().dispatches;
    let _ = x.linear_act(&w, &b, Activation::Silu);
    assert_eq!(dev.stats().dispatches - before, 1, "linear_act");
    // An output layer of 2: the thin kernel's ragged epilogue, reading the [64, 2] weight
    // (rows that are not whole copy rows) through a flat copy, not a pack dispatch.
    let w2 = tensor(&dev, &[64, 2], 4);
    let b2 = tensor(&dev, &[2], 5);
    let before = dev.stats().dispatches;
    let _ = x.linear(&w2, &b2);
    assert_eq!(dev.stats().dispatches - before, 1, "linear to 2 outputs");
}

#[test]
#[should_panic(
    expected = "linear: x [3, 4] @ weight [5, 6] + bias [6]: needs [M, K] @ [K, N] + [N]"
)]
fn linear_shape_mismatch_panics_naming_the_shapes() {
    let dev = device();
    let _ = Tensor::zeros(&dev, &[3, 4])
        .linear(&Tensor::zeros(&dev, &[5, 6]), &Tensor::zeros(&dev, &[6]));
}
