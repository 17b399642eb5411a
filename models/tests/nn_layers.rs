//! The normalisation and attention layers of `models::nn`: initialisation, shapes, running
//! statistics of BatchNorm2d against hand-computed values, eval mode, parameter names.
//!
//! Legend: x is [N, C, H, W].

use engine::{Device, Tensor};
use models::nn::{BatchNorm2d, GroupNorm, NORM_EPS};

fn device() -> Device {
    Device::new().expect("tests need a wgpu adapter: install mesa-vulkan-drivers")
}

fn assert_close(what: &str, got: &[f32], want: &[f64], tol: f64) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        assert!(
            (g as f64 - w).abs() <= tol * (1.0 + w.abs()),
            "{what}: element {i} is {g}, expected {w}"
        );
    }
}

/// Mean and biased variance of channel c of x [N, C, S] (flat), in f64.
fn channel_stats(x: &[f32], n: usize, c: usize, s: usize, ch: usize) -> (f64, f64) {
    let vals: Vec<f64> = (0..n)
        .flat_map(|b| (0..s).map(move |p| (b * c + ch) * s + p))
        .map(|i| x[i] as f64)
        .collect();
    let mean = vals.iter().sum::<f64>() / vals.len() as f64;
    let var = vals.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / vals.len() as f64;
    (mean, var)
}

#[test]
fn group_norm_layer_starts_as_plain_normalisation() {
    let dev = device();
    let gn = GroupNorm::new(&dev, 2, 4);
    let names: Vec<String> = gn.params("gn.").into_iter().map(|(n, _)| n).collect();
    assert_eq!(names, ["gn.weight", "gn.bias"]);
    assert_eq!(gn.weight.to_vec(), vec![1.0; 4]);
    assert_eq!(gn.bias.to_vec(), vec![0.0; 4]);
    // Each group of 2 channels x 3x5 positions comes out with mean 0 and variance 1.
    let x = Tensor::randn(&dev, &[3, 4, 3, 5])
        .mul_scalar(3.0)
        .add_scalar(2.0);
    let y = gn.forward(&x).to_vec();
    for g in 0..6 {
        let vals = &y[g * 30..(g + 1) * 30];
        let mean = vals.iter().map(|&v| v as f64).sum::<f64>() / 30.0;
        let var = vals.iter().map(|&v| (v as f64 - mean).powi(2)).sum::<f64>() / 30.0;
        assert!(mean.abs() < 1e-5, "group {g}: mean {mean}");
        assert!((var - 1.0).abs() < 1e-3, "group {g}: variance {var}");
    }
}

#[test]
#[should_panic(expected = "GroupNorm::new: 6 channels do not split into 4 groups")]
fn group_norm_layer_panics_when_groups_do_not_divide_channels() {
    GroupNorm::new(&device(), 4, 6);
}

#[test]
fn batch_norm_running_statistics_after_two_steps_match_hand_computed() {
    let dev = device();
    let bn = BatchNorm2d::new(&dev, 3);
    assert!(bn.is_training());
    let (n, c, s) = (2, 3, 4); // x is [2, 3, 2, 2]
    let x1: Vec<f32> = (0..n * c * s)
        .map(|i| (i as f32 * 0.37).sin() * 2.0 + 1.0)
        .collect();
    let x2: Vec<f32> = (0..n * c * s)
        .map(|i| (i as f32 * 0.91).cos() - 0.5)
        .collect();
    let live = bn.buffers("bn."); // handles taken before the steps see the updates
    for x in [&x1, &x2] {
        bn.forward(&Tensor::from_slice(&dev, x, &[n, c, 2, 2]));
    }
    // running_mean: 0 -> 0.1 m1 -> 0.9 * 0.1 m1 + 0.1 m2
    // running_var:  1 -> 0.9 + 0.1 v1 -> 0.9 * (0.9 + 0.1 v1) + 0.1 v2, v unbiased (x 8/7)
    let unbias = (n * s) as f64 / (n * s - 1) as f64;
    let (mut want_mean, mut want_var) = (vec![], vec![]);
    for ch in 0..c {
        let (m1, v1) = channel_stats(&x1, n, c, s, ch);
        let (m2, v2) = channel_stats(&x2, n, c, s, ch);
        want_mean.push(0.9 * 0.1 * m1 + 0.1 * m2);
        want_var.push(0.9 * (0.9 + 0.1 * v1 * unbias) + 0.1 * v2 * unbias);
    }
    assert_eq!(live[0].0, "bn.running_mean");
    assert_eq!(live[1].0, "bn.running_var");
    assert_close("running_mean", &live[0].1.to_vec(), &want_mean, 1e-5);
    assert_close("running_var", &live[1].1.to_vec(), &want_var, 1e-5);

    // Eval mode normalises with the running statistics and leaves them alone.
    bn.set_training(false);
    let y = bn
        .forward(&Tensor::from_slice(&dev, &x1, &[n, c, 2, 2]))
        .to_vec();
    let want_y: Vec<f64> = (0..n * c * s)
        .map(|i| {
            let ch = (i / s) % c;
            (x1[i] as f64 - want_mean[ch]) / (want_var[ch] + NORM_EPS as f64).sqrt()
        })
        .collect();
    assert_close("eval output", &y, &want_y, 1e-4);
    assert_close(
        "running_mean after eval",
        &bn.running_mean.to_vec(),
        &want_mean,
        1e-5,
    );
}

#[test]
fn batch_norm_training_output_is_normalised_per_channel_and_trains_gamma_beta() {
    let dev = device();
    let bn = BatchNorm2d::new(&dev, 2);
    let x = Tensor::randn(&dev, &[4, 2, 3, 3])
        .mul_scalar(2.0)
        .add_scalar(-1.0);
    let y = bn.forward(&x);
    let yv = y.to_vec();
    for ch in 0..2 {
        let (m, v) = channel_stats(&yv, 4, 2, 9, ch);
        assert!(
            m.abs() < 1e-5 && (v - 1.0).abs() < 1e-3,
            "channel {ch}: mean {m}, var {v}"
        );
    }
    // d(sum y)/d(beta) = N*H*W per channel; d(sum y)/d(gamma) = sum of normalised x = 0.
    y.sum_all().backward();
    assert_close(
        "dbeta",
        &bn.bias.grad().unwrap().to_vec(),
        &[36.0, 36.0],
        1e-5,
    );
    assert_close(
        "dgamma",
        &bn.weight.grad().unwrap().to_vec(),
        &[0.0, 0.0],
        1e-4,
    );
    let names: Vec<String> = bn.params("").into_iter().map(|(n, _)| n).collect();
    assert_eq!(names, ["weight", "bias"]);
}

#[test]
fn self_attention_keeps_the_shape_and_names_its_projections() {
    let dev = device();
    let block = models::nn::SelfAttention2d::new(&dev, 8, 2);
    let x = Tensor::randn(&dev, &[3, 8, 5, 7]);
    let y = block.forward(&x);
    assert_eq!(y.shape(), [3, 8, 5, 7]);
    let names: Vec<String> = block
        .params("mid.attn.")
        .into_iter()
        .map(|(n, _)| n)
        .collect();
    assert_eq!(
        names,
        [
            "mid.attn.q.weight",
            "mid.attn.q.bias",
            "mid.attn.k.weight",
            "mid.attn.k.bias",
            "mid.attn.v.weight",
            "mid.attn.v.bias",
            "mid.attn.out.weight",
            "mid.attn.out.bias",
        ]
    );
    // With the output projection zeroed the block is the identity (the residual path).
    for (_, p) in block.out.params("") {
        p.copy_from_slice(&vec![0.0; p.numel()]);
    }
    assert_close(
        "residual",
        &block.forward(&x).to_vec(),
        &f64s(&x.to_vec()),
        1e-6,
    );
}

#[test]
#[should_panic(
    expected = "SelfAttention2d(8 channels): input must be [N, 8, H, W], got shape [2, 6, 3, 3]"
)]
fn self_attention_panics_on_the_wrong_channel_count() {
    let dev = device();
    models::nn::SelfAttention2d::new(&dev, 8, 2).forward(&Tensor::zeros(&dev, &[2, 6, 3, 3]));
}

fn f64s(v: &[f32]) -> Vec<f64> {
    v.iter().map(|&x| x as f64).collect()
}

/// Central differences in f32 on the GPU of L = sum(w * block(x)) against backward, for every
/// element of x and of the q and v weights: x is [2, 4, 2, 3], 2 heads of D = 2.
#[test]
fn self_attention_gradients_match_finite_differences() {
    let dev = device();
    dev.manual_seed(3);
    let block = models::nn::SelfAttention2d::new(&dev, 4, 2);
    let shape = [2, 4, 2, 3];
    let x0 = Tensor::randn(&dev, &shape).to_vec();
    let w = Tensor::randn(&dev, &shape);
    let loss = |x: &Tensor| block.forward(x).mul(&w).sum_all();
    let x = Tensor::from_slice(&dev, &x0, &shape).set_requires_grad(true);
    loss(&x).backward();
    let h = 1e-2;
    // Central difference of L at the block's input `input` along element i of `t`'s data
    // (t is either that input or a weight).
    let central = |t: &Tensor, input: &Tensor, i: usize| {
        let data = t.to_vec();
        let at = |v: f32| {
            let mut d = data.clone();
            d[i] = v;
            t.copy_from_slice(&d);
            engine::no_grad(|| loss(input).item())
        };
        let fd = (at(data[i] + h) - at(data[i] - h)) as f64 / (2.0 * h as f64);
        t.copy_from_slice(&data);
        fd
    };
    let xs = Tensor::from_slice(&dev, &x0, &shape); // a copy of x to perturb
    let checks = [
        ("x", &xs, &xs, x.grad().unwrap()),
        (
            "q.weight",
            &block.q.weight,
            &x,
            block.q.weight.grad().unwrap(),
        ),
        (
            "v.weight",
            &block.v.weight,
            &x,
            block.v.weight.grad().unwrap(),
        ),
    ];
    for (name, t, input, grad) in checks {
        let fd: Vec<f64> = (0..t.numel()).map(|i| central(t, input, i)).collect();
        assert_close(&format!("d/d {name}"), &grad.to_vec(), &fd, 1e-2);
    }
}
