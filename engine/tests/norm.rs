//! group_norm, batch_norm_train, batch_norm_eval and update_running_stat against f64 CPU
//! references; their gradients (composed by autodiff) via check_op; the panic messages.
//!
//! Legend: x is [N, C, *spatial], S = product of the spatial axes, G = groups.
mod common;
use common::*;
use engine::{Device, Tensor};

const EPS: f32 = 1e-5;

/// (N, C, S) of a shape [N, C, *spatial].
fn ncs(shape: &[usize]) -> (usize, usize, usize) {
    (shape[0], shape[1], shape[2..].iter().product())
}

/// Normalises x [N, C, S] over the index sets `members` (each a list of flat offsets) in
/// place: (x - mean) / sqrt(biased var + eps). Returns each set's (mean, biased var).
fn standardise_sets(x: &mut [f64], members: &[Vec<usize>], eps: f64) -> Vec<(f64, f64)> {
    members
        .iter()
        .map(|set| {
            let cnt = set.len() as f64;
            let mean = set.iter().map(|&i| x[i]).sum::<f64>() / cnt;
            let var = set.iter().map(|&i| (x[i] - mean).powi(2)).sum::<f64>() / cnt;
            for &i in set {
                x[i] = (x[i] - mean) / (var + eps).sqrt();
            }
            (mean, var)
        })
        .collect()
}

/// y = y * gamma[c] + beta[c] for y [N, C, S].
fn affine_ref(y: &mut [f64], c: usize, s: usize, gamma: &[f64], beta: &[f64]) {
    for (i, v) in y.iter_mut().enumerate() {
        let ch = (i / s) % c;
        *v = *v * gamma[ch] + beta[ch];
    }
}

/// nn.GroupNorm in f64: x [N, C, *spatial] of `shape`.
fn group_norm_ref(x: &[f64], shape: &[usize], g: usize, gamma: &[f64], beta: &[f64]) -> Vec<f64> {
    let (n, c, s) = ncs(shape);
    let per = c / g * s; // values per group: contiguous in [N, C, S]
    let sets: Vec<Vec<usize>> = (0..n * g)
        .map(|k| (k * per..(k + 1) * per).collect())
        .collect();
    let mut y = x.to_vec();
    standardise_sets(&mut y, &sets, EPS as f64);
    affine_ref(&mut y, c, s, gamma, beta);
    y
}

/// Training-mode batch norm in f64: (y, batch mean [C], unbiased batch variance [C]).
fn batch_norm_ref(
    x: &[f64],
    shape: &[usize],
    gamma: &[f64],
    beta: &[f64],
) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
    let (n, c, s) = ncs(shape);
    let sets: Vec<Vec<usize>> = (0..c)
        .map(|ch| {
            (0..n)
                .flat_map(|b| (0..s).map(move |p| (b * c + ch) * s + p))
                .collect()
        })
        .collect();
    let mut y = x.to_vec();
    let stats = standardise_sets(&mut y, &sets, EPS as f64);
    affine_ref(&mut y, c, s, gamma, beta);
    let cnt = (n * s) as f64;
    let mean = stats.iter().map(|s| s.0).collect();
    let var = stats.iter().map(|s| s.1 * cnt / (cnt - 1.0)).collect();
    (y, mean, var)
}

/// Eval-mode batch norm in f64 with statistics mean/var [C].
fn batch_norm_eval_ref(x: &[f64], shape: &[usize], p: &[&[f64]; 4]) -> Vec<f64> {
    let (_, c, s) = ncs(shape);
    let [gamma, beta, mean, var] = p;
    x.iter()
        .enumerate()
        .map(|(i, &v)| {
            let ch = (i / s) % c;
            (v - mean[ch]) / (var[ch] + EPS as f64).sqrt() * gamma[ch] + beta[ch]
        })
        .collect()
}

fn f64s(v: &[f32]) -> Vec<f64> {
    v.iter().map(|&x| x as f64).collect()
}

/// x of `shape` with values in [-2, 3) (a non-zero mean), gamma in [0.5, 1.5), beta in [-1, 1).
fn inputs(shape: &[usize], seed: u64) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
    let n: usize = shape.iter().product();
    let c = shape[1];
    (
        uniform(n, -2.0, 3.0, seed),
        uniform(c, 0.5, 1.5, seed + 1),
        uniform(c, -1.0, 1.0, seed + 2),
    )
}

fn check_group_norm_forward(shape: &[usize], groups: usize) {
    let dev = device();
    let (x, gamma, beta) = inputs(shape, 10 + groups as u64);
    let c = shape[1];
    let got = Tensor::from_slice(&dev, &x, shape).group_norm(
        groups,
        &Tensor::from_slice(&dev, &gamma, &[c]),
        &Tensor::from_slice(&dev, &beta, &[c]),
        EPS,
    );
    assert_eq!(got.shape(), shape, "group_norm output shape");
    let want = group_norm_ref(&f64s(&x), shape, groups, &f64s(&gamma), &f64s(&beta));
    let what = format!("group_norm {shape:?}, {groups} groups");
    assert_close(&what, &got.to_vec(), &want, 1e-5, 1e-4);
}

#[test]
fn group_norm_matches_reference_for_1_2_and_c_groups_on_5x7() {
    // N = 3, C = 6, spatial 5x7: groups of 6, 3 and 1 channels of 35 positions.
    for groups in [1, 2, 3, 6] {
        check_group_norm_forward(&[3, 6, 5, 7], groups);
    }
}

#[test]
fn group_norm_matches_reference_without_spatial_axes_and_with_long_groups() {
    check_group_norm_forward(&[3, 4], 2); // S = 1: groups of 2 values
    check_group_norm_forward(&[2, 8, 33, 35], 2); // 4620 values per group (a chunked mean)
    check_group_norm_forward(&[2, 8, 32, 36], 4); // planes of 4k values (4 per invocation)
    check_group_norm_forward(&[3, 6, 5, 2, 3], 3); // two spatial axes more
}

#[test]
fn group_norm_gradients_match_finite_differences() {
    for (shape, groups) in [
        ([2usize, 4, 3, 5], 2usize),
        ([3, 3, 2, 3], 3),
        ([2, 4, 3, 2], 1),
        ([2, 4, 2, 2], 2), // planes of 4 values: the vec4 kernels
    ] {
        let (x, gamma, beta) = inputs(&shape, 20);
        let c = shape[1];
        check_op(
            &format!("group_norm {shape:?} groups {groups}"),
            &[(&shape, x), (&[c], gamma), (&[c], beta)],
            |t| t[0].group_norm(groups, &t[1], &t[2], EPS),
            |v| group_norm_ref(&v[0], &shape, groups, &v[1], &v[2]),
            2e-3,
        );
    }
}

/// The fused kernels against the composed op they replace, forward and all three gradients,
/// with more planes and groups than a workgroup of 64 invocations, a plane of 1 value, and a
/// large mean (the shifted sums keep the variance).
#[test]
fn fused_group_norm_matches_the_composed_op_forward_and_backward() {
    for (path, dev) in devices_for_reads() {
        fused_group_norm_matches_composed_on(path, &dev);
    }
}

fn fused_group_norm_matches_composed_on(path: &str, dev: &Device) {
    for (shape, groups, offset) in [
        (vec![5usize, 32, 9, 11], 8usize, 0.0f32),
        (vec![5, 32, 4, 7], 8, 0.0), // planes of 28 values: the vec4 kernels
        (vec![66, 2, 4], 1, 0.0),
        (vec![70, 4, 3], 2, 0.0),
        (vec![3, 4], 2, 0.0),
        (vec![2, 6, 16, 16], 3, 100.0),
    ] {
        let (x, gamma, beta) = inputs(&shape, 40);
        let x: Vec<f32> = x.iter().map(|v| v + offset).collect();
        let c = shape[1];
        let w = uniform(x.len(), -1.0, 1.0, 41);
        let run = |fused: bool| {
            let xt = Tensor::from_slice(dev, &x, &shape).set_requires_grad(true);
            let gt = Tensor::from_slice(dev, &gamma, &[c]).set_requires_grad(true);
            let bt = Tensor::from_slice(dev, &beta, &[c]).set_requires_grad(true);
            let y = if fused {
                xt.group_norm(groups, &gt, &bt, EPS)
            } else {
                xt.group_norm_composed(groups, &gt, &bt, EPS)
            };
            y.backward_with(Tensor::from_slice(dev, &w, &shape));
            let grad = |t: &Tensor| t.grad().unwrap().to_vec();
            [y.to_vec(), grad(&xt), grad(&gt), grad(&bt)]
        };
        let (fused, composed) = (run(true), run(false));
        for (i, name) in ["y", "dx", "dgamma", "dbeta"].iter().enumerate() {
            let want: Vec<f64> = composed[i].iter().map(|&v| v as f64).collect();
            let what = format!(
                "fused group_norm {shape:?} groups {groups} offset {offset}, {path}: {name}"
            );
            assert_close(&what, &fused[i], &want, 1e-3, 1e-3);
        }
    }
}

#[test]
fn batch_norm_train_matches_reference_with_unbiased_statistics() {
    let dev = device();
    for shape in [vec![3, 5, 5, 7], vec![3, 4], vec![2, 3, 40, 40]] {
        let (x, gamma, beta) = inputs(&shape, 30);
        let c = shape[1];
        let (y, mean, var) = Tensor::from_slice(&dev, &x, &shape).batch_norm_train(
            &Tensor::from_slice(&dev, &gamma, &[c]),
            &Tensor::from_slice(&dev, &beta, &[c]),
            EPS,
        );
        let (wy, wm, wv) = batch_norm_ref(&f64s(&x), &shape, &f64s(&gamma), &f64s(&beta));
        assert_eq!(y.shape(), shape.as_slice());
        assert_eq!(
            (mean.shape(), var.shape()),
            ([c].as_slice(), [c].as_slice())
        );
        assert!(
            mean.is_leaf() && var.is_leaf(),
            "statistics must be detached"
        );
        assert_close(
            &format!("batch_norm_train y {shape:?}"),
            &y.to_vec(),
            &wy,
            1e-5,
            1e-4,
        );
        assert_close(
            &format!("batch mean {shape:?}"),
            &mean.to_vec(),
            &wm,
            1e-5,
            1e-4,
        );
        assert_close(
            &format!("batch var {shape:?}"),
            &var.to_vec(),
            &wv,
            1e-5,
            1e-4,
        );
    }
}

/// Batch norm in training mode composed from primitives (autodiff derives its backward): the
/// reference for the fused kernels at sizes finite differences cannot reach.
fn batch_norm_composed(x: &Tensor, gamma: &Tensor, beta: &Tensor) -> Tensor {
    let (n, c) = (x.dim(0), x.dim(1));
    let x3 = x.reshape(&[n, c, x.numel() / (n * c)]);
    let mean = x3.mean(&[0, 2], true);
    let xc = x3.sub(&mean);
    let var = xc.square().mean(&[0, 2], true);
    let y = xc.div(&var.add_scalar(EPS).sqrt());
    y.mul(&gamma.reshape(&[c, 1]))
        .add(&beta.reshape(&[c, 1]))
        .reshape(x.shape())
}

#[test]
fn fused_batch_norm_matches_the_composed_op_forward_and_backward() {
    for (path, dev) in devices_for_reads() {
        for (shape, offset) in [
            (vec![5usize, 8, 9, 11], 0.0f32),
            (vec![6, 4, 4, 7], 0.0), // planes of 28 values: the vec4 kernels
            (vec![70, 3, 2], 0.0),
            (vec![3, 4], 0.0),
            (vec![4, 6, 16, 16], 100.0),
        ] {
            let (x, gamma, beta) = inputs(&shape, 60);
            let x: Vec<f32> = x.iter().map(|v| v + offset).collect();
            let c = shape[1];
            let w = uniform(x.len(), -1.0, 1.0, 61);
            let run = |fused: bool| {
                let xt = Tensor::from_slice(&dev, &x, &shape).set_requires_grad(true);
                let gt = Tensor::from_slice(&dev, &gamma, &[c]).set_requires_grad(true);
                let bt = Tensor::from_slice(&dev, &beta, &[c]).set_requires_grad(true);
                let y = if fused {
                    xt.batch_norm_train(&gt, &bt, EPS).0
                } else {
                    batch_norm_composed(&xt, &gt, &bt)
                };
                y.backward_with(Tensor::from_slice(&dev, &w, &shape));
                let grad = |t: &Tensor| t.grad().unwrap().to_vec();
                [y.to_vec(), grad(&xt), grad(&gt), grad(&bt)]
            };
            let (fused, composed) = (run(true), run(false));
            for (i, name) in ["y", "dx", "dgamma", "dbeta"].iter().enumerate() {
                let want: Vec<f64> = composed[i].iter().map(|&v| v as f64).collect();
                let what = format!("fused batch norm {shape:?} offset {offset}, {path}: {name}");
                assert_close(&what, &fused[i], &want, 1e-3, 1e-3);
            }
        }
    }
}

#[test]
fn batch_norm_train_gradients_match_finite_differences() {
    let shape = [3usize, 2, 2, 3];
    let (x, gamma, beta) = inputs(&shape, 40);
    check_op(
        "batch_norm_train",
        &[(&shape, x), (&[2], gamma), (&[2], beta)],
        |t| t[0].batch_norm_train(&t[1], &t[2], EPS).0,
        |v| batch_norm_ref(&v[0], &shape, &v[1], &v[2]).0,
        2e-3,
    );
}

#[test]
fn batch_norm_eval_matches_reference_and_finite_differences() {
    let shape = [3usize, 5, 5, 7];
    let (x, gamma, beta) = inputs(&shape, 50);
    let mean = uniform(5, -1.0, 1.0, 53);
    let var = uniform(5, 0.2, 2.0, 54);
    let dev = device();
    let t = |v: &[f32], s: &[usize]| Tensor::from_slice(&dev, v, s);
    let got = t(&x, &shape).batch_norm_eval(
        &t(&gamma, &[5]),
        &t(&beta, &[5]),
        &t(&mean, &[5]),
        &t(&var, &[5]),
        EPS,
    );
    let stats = [f64s(&gamma), f64s(&beta), f64s(&mean), f64s(&var)];
    let want = batch_norm_eval_ref(
        &f64s(&x),
        &shape,
        &[&stats[0], &stats[1], &stats[2], &stats[3]],
    );
    assert_close("batch_norm_eval", &got.to_vec(), &want, 1e-5, 1e-4);

    // Gradients of x, gamma, beta (the statistics are constants here).
    let small = [2usize, 3, 2, 2];
    let (x, gamma, beta) = inputs(&small, 55);
    let (mean, var) = (mean[..3].to_vec(), var[..3].to_vec());
    let (mean2, var2) = (mean.clone(), var.clone());
    check_op(
        "batch_norm_eval",
        &[(&small, x), (&[3], gamma), (&[3], beta)],
        move |t| {
            let dev = t[0].device();
            let m = Tensor::from_slice(dev, &mean, &[3]);
            let v = Tensor::from_slice(dev, &var, &[3]);
            t[0].batch_norm_eval(&t[1], &t[2], &m, &v, EPS)
        },
        move |v| batch_norm_eval_ref(&v[0], &small, &[&v[1], &v[2], &f64s(&mean2), &f64s(&var2)]),
        2e-3,
    );
}

#[test]
fn update_running_stat_moves_towards_the_batch_in_place() {
    let dev = device();
    let running = Tensor::from_slice(&dev, &[1.0, 2.0, -3.0], &[3]);
    let alias = running.detach(); // shares the buffer: sees the in-place update
    running.update_running_stat(&Tensor::from_slice(&dev, &[3.0, 0.0, 1.0], &[3]), 0.25);
    // 0.75 * running + 0.25 * batch
    let want = [1.5, 1.5, -2.0];
    assert_close("running stat", &alias.to_vec(), &want, 1e-6, 1e-6);
}

fn gn_inputs(c: usize, gamma_len: usize) -> (Tensor, Tensor, Tensor) {
    let dev = device();
    (
        Tensor::zeros(&dev, &[2, c, 3, 3]),
        Tensor::ones(&dev, &[gamma_len]),
        Tensor::zeros(&dev, &[c]),
    )
}

#[test]
#[should_panic(
    expected = "group_norm: 6 channels (x of shape [2, 6, 3, 3]) do not split into 4 groups"
)]
fn group_norm_panics_when_groups_do_not_divide_channels() {
    let (x, g, b) = gn_inputs(6, 6);
    x.group_norm(4, &g, &b, EPS);
}

#[test]
#[should_panic(
    expected = "group_norm: gamma must be [C] = [6] for x of shape [2, 6, 3, 3], got shape [5]"
)]
fn group_norm_panics_on_gamma_of_the_wrong_length() {
    let (x, g, b) = gn_inputs(6, 5);
    x.group_norm(2, &g, &b, EPS);
}

#[test]
#[should_panic(
    expected = "batch_norm_train: gamma must be [C] = [6] for x of shape [2, 6, 3, 3], got shape [4]"
)]
fn batch_norm_train_panics_on_gamma_of_the_wrong_length() {
    let (x, g, b) = gn_inputs(6, 4);
    x.batch_norm_train(&g, &b, EPS);
}

#[test]
#[should_panic(expected = "batch_norm_eval: var must be [C] = [6]")]
fn batch_norm_eval_panics_on_statistics_of_the_wrong_length() {
    let (x, g, b) = gn_inputs(6, 6);
    let var = Tensor::ones(x.device(), &[3]);
    x.batch_norm_eval(&g, &b, &b, &var, EPS);
}

#[test]
#[should_panic(expected = "batch_norm_train: x must be [N, C, *spatial], got shape [6]")]
fn batch_norm_train_panics_on_rank_1_input() {
    let (_, g, b) = gn_inputs(6, 6);
    Tensor::zeros(g.device(), &[6]).batch_norm_train(&g, &b, EPS);
}

#[test]
#[should_panic(expected = "batch_norm_train: x of shape [1, 6] has 1 value per channel")]
fn batch_norm_train_panics_on_one_value_per_channel() {
    let (_, g, b) = gn_inputs(6, 6);
    Tensor::zeros(g.device(), &[1, 6]).batch_norm_train(&g, &b, EPS);
}
