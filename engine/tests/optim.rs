//! Optimizers, EMA, gradient clipping and schedules against updates computed by hand in f64.
mod common;
use common::*;
use engine::optim::{clip_grad_norm, Adam, Ema, Optimizer, Sgd, WarmupCosine};
use engine::{Device, Tensor};

/// 300 elements: more than one workgroup of 256, not a multiple of it.
const SHAPE: [usize; 2] = [3, 100];
const N: usize = 300;

fn to64(v: &[f32]) -> Vec<f64> {
    v.iter().map(|&x| x as f64).collect()
}

/// A parameter with values in [-1, 1), and the gradients of 3 steps.
fn setup(dev: &Device) -> (Tensor, Vec<f32>, Vec<Vec<f32>>) {
    setup_shaped(dev, &SHAPE)
}

fn setup_shaped(dev: &Device, shape: &[usize]) -> (Tensor, Vec<f32>, Vec<Vec<f32>>) {
    let n = shape.iter().product();
    let p0 = uniform(n, -1.0, 1.0, 1);
    let p = Tensor::from_slice(dev, &p0, shape).set_requires_grad(true);
    let grads = (0..3).map(|k| uniform(n, -2.0, 2.0, 10 + k)).collect();
    (p, p0, grads)
}

/// The optimizer tests' devices and shapes: both ways elementwise kernels read (on CPU
/// adapters the texture path updates 4 values per invocation) and a size that is not a
/// multiple of 4 (always one value per invocation).
fn cases() -> Vec<(String, Device, Vec<usize>)> {
    let mut out = Vec::new();
    for (path, dev) in devices_for_reads() {
        for shape in [SHAPE.to_vec(), vec![7, 43]] {
            out.push((format!("{path}, {shape:?}"), dev.clone(), shape));
        }
    }
    out
}

#[test]
fn sgd_momentum_three_steps_match_reference() {
    let dev = device();
    let (p, p0, grads) = setup(&dev);
    let frozen = Tensor::from_slice(&dev, &[5.0, 6.0], &[2]).set_requires_grad(true);
    let mut opt = Sgd::new(&[p.clone(), frozen.clone()], 0.1, 0.9);
    let lrs = [0.1f32, 0.05, 0.02]; // lr changes every step, as under a schedule
    let (mut want, mut buf) = (to64(&p0), vec![0.0f64; N]);
    for (g, &lr) in grads.iter().zip(&lrs) {
        opt.set_lr(lr);
        p.set_grad(Some(Tensor::from_slice(&dev, g, &SHAPE)));
        opt.step();
        for i in 0..N {
            buf[i] = 0.9 * buf[i] + g[i] as f64;
            want[i] -= lr as f64 * buf[i];
        }
    }
    assert_close("sgd parameter", &p.to_vec(), &want, 1e-5, 1e-5);
    assert_close("sgd momentum", &opt.state()[0].1.to_vec(), &buf, 1e-5, 1e-5);
    assert_eq!(
        frozen.to_vec(),
        vec![5.0, 6.0],
        "a parameter without a gradient must not move"
    );
    assert_eq!(opt.step_count(), 3);
    opt.zero_grad();
    assert!(p.grad().is_none());
}

/// Adam in f64: `decoupled` false adds wd * p to the gradient, true decays p by lr * wd * p.
fn adam_reference(
    p0: &[f32],
    grads: &[Vec<f32>],
    lr: f64,
    wd: f64,
    decoupled: bool,
) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
    let (b1, b2, eps) = (0.9f64, 0.999f64, 1e-8f64);
    let mut p = to64(p0);
    let (mut m, mut v) = (vec![0.0; p.len()], vec![0.0; p.len()]);
    for (t, g) in grads.iter().enumerate() {
        let t = (t + 1) as i32;
        for i in 0..p.len() {
            let mut gi = g[i] as f64;
            if decoupled {
                p[i] -= lr * wd * p[i];
            } else {
                gi += wd * p[i];
            }
            m[i] = b1 * m[i] + (1.0 - b1) * gi;
            v[i] = b2 * v[i] + (1.0 - b2) * gi * gi;
            let mhat = m[i] / (1.0 - b1.powi(t));
            let vhat = v[i] / (1.0 - b2.powi(t));
            p[i] -= lr * mhat / (vhat.sqrt() + eps);
        }
    }
    (p, m, v)
}

fn run_adam(make: impl Fn(&[Tensor]) -> Adam, lr: f64, wd: f64, decoupled: bool) {
    for (case, dev, shape) in cases() {
        let (p, p0, grads) = setup_shaped(&dev, &shape);
        let mut opt = make(std::slice::from_ref(&p));
        for g in &grads {
            p.set_grad(Some(Tensor::from_slice(&dev, g, &shape)));
            opt.step();
        }
        let (want, m, v) = adam_reference(&p0, &grads, lr, wd, decoupled);
        let what = if decoupled { "adamw" } else { "adam" };
        let what = format!("{what} ({case})");
        assert_close(&format!("{what} parameter"), &p.to_vec(), &want, 1e-6, 1e-5);
        let state = opt.state();
        assert_eq!(
            state.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>(),
            ["m.0", "v.0"]
        );
        assert_close(&format!("{what} m"), &state[0].1.to_vec(), &m, 1e-6, 1e-5);
        assert_close(&format!("{what} v"), &state[1].1.to_vec(), &v, 1e-6, 1e-5);
    }
}

#[test]
fn adam_three_steps_match_reference() {
    run_adam(|p| Adam::new(p, 0.01), 0.01, 0.0, false);
}

#[test]
fn adam_with_l2_weight_decay_three_steps_match_reference() {
    run_adam(
        |p| Adam::new(p, 0.01).with_weight_decay(0.1),
        0.01,
        0.1,
        false,
    );
}

#[test]
fn adamw_decoupled_decay_three_steps_match_reference() {
    run_adam(|p| Adam::adamw(p, 0.01, 0.1), 0.01, 0.1, true);
}

#[test]
fn adam_and_adamw_differ_when_weight_decay_is_on() {
    let dev = device();
    let (p, p0, grads) = setup(&dev);
    let q = Tensor::from_slice(&dev, &p0, &SHAPE).set_requires_grad(true);
    let mut a = Adam::new(std::slice::from_ref(&p), 0.01).with_weight_decay(0.5);
    let mut w = Adam::adamw(std::slice::from_ref(&q), 0.01, 0.5);
    for t in [&p, &q] {
        t.set_grad(Some(Tensor::from_slice(&dev, &grads[0], &SHAPE)));
    }
    a.step();
    w.step();
    assert_ne!(p.to_vec(), q.to_vec());
}

/// Shapes for the many-parameter tests: more than one dispatch's worth of small tensors
/// (Adam updates 4 or 8 per dispatch, the EMA 8), sizes that are not multiples of 4 or of the
/// workgroup, a single value, and one tensor large enough that a CPU adapter updates it on
/// its own through texture copies.
const MANY: [&[usize]; 11] = [
    &[3, 100],
    &[7, 43],
    &[1],
    &[5],
    &[64, 300],
    &[40],
    &[2, 2],
    &[257],
    &[9, 9],
    &[16],
    &[3],
];

/// Parameter 5 of MANY gets no gradient in the Adam test.
const FROZEN: usize = 5;

/// The default device and both ways of reading, named.
fn all_devices() -> Vec<(String, Device)> {
    let mut out = vec![("default reads".to_string(), device())];
    out.extend(devices_for_reads().map(|(n, d)| (n.to_string(), d)));
    out
}

/// A parameter of `shape` with values in [-1, 1) and 3 steps' gradients, seeded by `i`.
fn param(dev: &Device, shape: &[usize], i: u64) -> (Tensor, Vec<f32>, Vec<Vec<f32>>) {
    let n = shape.iter().product();
    let p0 = uniform(n, -1.0, 1.0, 100 + i);
    let p = Tensor::from_slice(dev, &p0, shape).set_requires_grad(true);
    let grads = (0..3)
        .map(|k| uniform(n, -2.0, 2.0, 200 + 10 * i + k))
        .collect();
    (p, p0, grads)
}

#[test]
fn adam_over_many_parameters_updates_each_as_on_its_own() {
    for (case, dev) in all_devices() {
        let params: Vec<_> = (0..MANY.len())
            .map(|i| param(&dev, MANY[i], i as u64))
            .collect();
        let ts: Vec<Tensor> = params.iter().map(|(p, _, _)| p.clone()).collect();
        let mut opt = Adam::new(&ts, 0.01).with_weight_decay(0.1);
        for step in 0..3 {
            for (i, (p, _, grads)) in params.iter().enumerate() {
                if i != FROZEN {
                    p.set_grad(Some(Tensor::from_slice(&dev, &grads[step], p.shape())));
                }
            }
            opt.step();
        }
        let state = opt.state();
        for (i, (p, p0, grads)) in params.iter().enumerate() {
            let what = format!("adam parameter {i} {:?} ({case})", MANY[i]);
            if i == FROZEN {
                assert_eq!(&p.to_vec(), p0, "{what}: no gradient, so it must not move");
                continue;
            }
            let (want, m, v) = adam_reference(p0, grads, 0.01, 0.1, false);
            assert_close(&what, &p.to_vec(), &want, 1e-6, 1e-5);
            assert_close(&format!("{what} m"), &state[i].1.to_vec(), &m, 1e-6, 1e-5);
            let v_got = state[MANY.len() + i].1.to_vec();
            assert_close(&format!("{what} v"), &v_got, &v, 1e-6, 1e-5);
        }
    }
}

#[test]
fn adam_and_ema_update_small_parameters_several_per_dispatch() {
    let (_, dev) = devices_for_reads().into_iter().next().unwrap(); // buffer reads
    if dev.limits().max_storage_buffers_per_shader_stage < 16 {
        eprintln!("skipped: this adapter binds fewer than 16 storage buffers per kernel");
        return;
    }
    let ts: Vec<Tensor> = (0..10).map(|i| param(&dev, &[3 + i], i as u64).0).collect();
    let mut opt = Adam::new(&ts, 0.01);
    let mut ema = Ema::new(&ts, 0.9, true);
    for p in &ts {
        p.set_grad(Some(p.ones_like()));
    }
    // 8 per dispatch where the device binds 32 storage buffers per kernel, else 4.
    let slots = match dev.limits().max_storage_buffers_per_shader_stage {
        32.. => 8,
        _ => 4,
    };
    let before = dev.stats().dispatches;
    opt.step();
    assert_eq!(
        dev.stats().dispatches - before,
        10usize.div_ceil(slots) as u64,
        "10 Adam updates, {slots} per dispatch"
    );
    let before = dev.stats().dispatches;
    ema.update();
    assert_eq!(
        dev.stats().dispatches - before,
        2,
        "10 EMA updates, 8 per dispatch"
    );
}

#[test]
fn ema_over_many_parameters_updates_each_as_on_its_own() {
    for (case, dev) in all_devices() {
        let params: Vec<_> = (0..MANY.len())
            .map(|i| param(&dev, MANY[i], i as u64))
            .collect();
        let ts: Vec<Tensor> = params.iter().map(|(p, _, _)| p.clone()).collect();
        let mut ema = Ema::new(&ts, 0.9, true);
        let mut want: Vec<Vec<f64>> = params.iter().map(|(_, p0, _)| to64(p0)).collect();
        for t in 0..3 {
            let d = 0.9f64.min((1.0 + t as f64) / (10.0 + t as f64));
            for ((p, _, values), w) in params.iter().zip(&mut want) {
                p.copy_from_slice(&values[t]);
                for (w, &x) in w.iter_mut().zip(&values[t]) {
                    *w = d * *w + (1.0 - d) * x as f64;
                }
            }
            ema.update();
        }
        for (i, w) in want.iter().enumerate() {
            let what = format!("ema shadow {i} {:?} ({case})", MANY[i]);
            assert_close(&what, &ema.shadow()[i].to_vec(), w, 1e-6, 1e-6);
        }
    }
}

#[test]
fn ema_with_warmup_three_updates_match_reference() {
    for (case, dev, shape) in cases() {
        let (p, p0, values) = setup_shaped(&dev, &shape);
        let mut ema = Ema::new(std::slice::from_ref(&p), 0.9, true);
        let mut want = to64(&p0);
        for (t, v) in values.iter().enumerate() {
            p.copy_from_slice(v); // the optimizer moved the weights
            let d = 0.9f64.min((1.0 + t as f64) / (10.0 + t as f64));
            assert!((ema.current_decay() as f64 - d).abs() < 1e-7);
            ema.update();
            for (w, &x) in want.iter_mut().zip(v) {
                *w = d * *w + (1.0 - d) * x as f64;
            }
        }
        let what = format!("ema shadow ({case})");
        assert_close(&what, &ema.shadow()[0].to_vec(), &want, 1e-6, 1e-6);
        let eval = Tensor::zeros(&dev, &shape);
        ema.copy_to(std::slice::from_ref(&eval));
        assert_eq!(eval.to_vec(), ema.shadow()[0].to_vec());
        assert_eq!(
            p.to_vec(),
            values[2],
            "the EMA must not write the live parameters ({case})"
        );
    }
}

#[test]
fn ema_without_warmup_uses_the_fixed_decay() {
    let dev = device();
    let p = Tensor::from_slice(&dev, &[1.0, 2.0, 3.0], &[3]);
    let mut ema = Ema::new(std::slice::from_ref(&p), 0.5, false);
    p.copy_from_slice(&[3.0, 4.0, 5.0]);
    ema.update();
    // shadow = 0.5 * old + 0.5 * new
    assert_eq!(ema.shadow()[0].to_vec(), vec![2.0, 3.0, 4.0]);
}

fn norm64(vs: &[&[f32]]) -> f64 {
    vs.iter()
        .flat_map(|v| v.iter())
        .map(|&x| (x as f64).powi(2))
        .sum::<f64>()
        .sqrt()
}

#[test]
fn clip_grad_norm_reports_global_norm_and_scales_above_threshold() {
    let dev = device();
    // 100_003 elements: more than 64 workgroups, so the grid-stride loop runs.
    let ga = uniform(100_003, -1.0, 1.0, 3);
    let gb = uniform(21, -5.0, 5.0, 4);
    let a = Tensor::zeros(&dev, &[100_003]).set_requires_grad(true);
    let b = Tensor::zeros(&dev, &[7, 3]).set_requires_grad(true);
    let no_grad = Tensor::zeros(&dev, &[4]).set_requires_grad(true);
    a.set_grad(Some(Tensor::from_slice(&dev, &ga, &[100_003])));
    b.set_grad(Some(Tensor::from_slice(&dev, &gb, &[7, 3])));
    let want = norm64(&[&ga, &gb]);
    let norm = clip_grad_norm(&[a.clone(), no_grad.clone(), b.clone()], 10.0);
    assert_eq!(norm.shape(), &[] as &[usize]);
    assert!(
        (norm.item() as f64 - want).abs() < 1e-4 * want,
        "norm {} vs {want}",
        norm.item()
    );
    assert!(want > 10.0);
    let scale = 10.0 / (want + 1e-6);
    assert_close(
        "clipped a",
        &a.grad().unwrap().to_vec(),
        &ga.iter().map(|&x| x as f64 * scale).collect::<Vec<_>>(),
        1e-6,
        1e-4,
    );
    assert_close(
        "clipped b",
        &b.grad().unwrap().to_vec(),
        &gb.iter().map(|&x| x as f64 * scale).collect::<Vec<_>>(),
        1e-6,
        1e-4,
    );
    let after = norm64(&[&a.grad().unwrap().to_vec(), &b.grad().unwrap().to_vec()]);
    assert!((after - 10.0).abs() < 1e-3, "norm after clipping {after}");
    assert!(no_grad.grad().is_none());
}

#[test]
fn clip_grad_norm_leaves_gradients_below_threshold_unchanged() {
    let dev = device();
    let g = uniform(513, -0.1, 0.1, 5);
    let a = Tensor::zeros(&dev, &[513]).set_requires_grad(true);
    a.set_grad(Some(Tensor::from_slice(&dev, &g, &[513])));
    let norm = clip_grad_norm(std::slice::from_ref(&a), 100.0);
    assert!((norm.item() as f64 - norm64(&[&g])).abs() < 1e-5);
    assert_eq!(a.grad().unwrap().to_vec(), g);
}

#[test]
fn clip_grad_norm_scales_a_shared_gradient_buffer_once_per_parameter() {
    let dev = device();
    // d(a + b)/da and d(a + b)/db are the same tensor: the seed gradient.
    let a = Tensor::zeros(&dev, &[4]).set_requires_grad(true);
    let b = Tensor::zeros(&dev, &[4]).set_requires_grad(true);
    a.add(&b).backward_with(Tensor::full(&dev, &[4], 3.0));
    let norm = clip_grad_norm(&[a.clone(), b.clone()], 1.0);
    // norm = sqrt(8 * 9) = 8.485; every element becomes 3 / 8.485
    let want = (72.0f64).sqrt();
    assert!((norm.item() as f64 - want).abs() < 1e-5);
    let each = 3.0 / (want + 1e-6);
    assert_close("a", &a.grad().unwrap().to_vec(), &[each; 4], 1e-6, 1e-5);
    assert_close("b", &b.grad().unwrap().to_vec(), &[each; 4], 1e-6, 1e-5);
}

#[test]
fn warmup_cosine_schedule_values() {
    let s = WarmupCosine {
        base_lr: 1e-3,
        min_lr: 1e-5,
        warmup_steps: 100,
        total_steps: 1100,
    };
    let close = |got: f32, want: f64| assert!((got as f64 - want).abs() < 1e-9, "{got} vs {want}");
    close(s.lr(0), 0.0);
    close(s.lr(50), 0.5e-3);
    close(s.lr(100), 1e-3);
    // halfway through the cosine: the midpoint of base and min
    close(s.lr(600), (1e-3 + 1e-5) / 2.0);
    // a quarter of the way: min + (base - min) * (1 + cos(pi/4)) / 2
    close(
        s.lr(350),
        1e-5 + (1e-3 - 1e-5) * (1.0 + std::f64::consts::FRAC_PI_4.cos()) / 2.0,
    );
    close(s.lr(1100), 1e-5);
    close(s.lr(5000), 1e-5);
    let no_warmup = WarmupCosine {
        warmup_steps: 0,
        ..s
    };
    close(no_warmup.lr(0), 1e-3);
}
