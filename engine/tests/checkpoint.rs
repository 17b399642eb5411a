//! Checkpoints: bit-exact round trips, clear errors, f16 export, and a resumed training run
//! that ends bit-identical to an uninterrupted one.
mod common;
use common::*;
use engine::checkpoint::Checkpoint;
use engine::optim::{clip_grad_norm, Adam, Optimizer, WarmupCosine};
use engine::{no_grad, Device, Tensor};
use std::path::PathBuf;

/// A fresh directory under the system temp dir, unique to this process and test.
fn temp_dir(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("engine-checkpoint-{}-{test}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn message(r: engine::Result<impl std::fmt::Debug>) -> String {
    match r {
        Ok(v) => panic!("expected an error, got Ok({v:?})"),
        Err(e) => e.to_string(),
    }
}

fn bits(v: &[f32]) -> Vec<u32> {
    v.iter().map(|x| x.to_bits()).collect()
}

/// Two tensors, one with values a lossy path would change: -0, a subnormal, inf, NaN.
fn sample(dev: &Device) -> (Tensor, Tensor) {
    let w = Tensor::from_slice(dev, &uniform(2 * 3 * 5, -3.0, 3.0, 1), &[2, 3, 5]);
    let odd = Tensor::from_slice(
        dev,
        &[-0.0, 1e-40, f32::INFINITY, f32::NAN, 1.0 / 3.0],
        &[5],
    );
    (w, odd)
}

#[test]
fn save_load_round_trip_is_bit_exact_with_metadata() {
    let dev = device();
    let dir = temp_dir("roundtrip");
    let path = dir.join("model.safetensors");
    let (w, odd) = sample(&dev);
    let mut ck = Checkpoint::new();
    ck.insert("layer.w", &w);
    ck.insert("odd", &odd);
    ck.set_meta("step", 1234u64);
    ck.set_meta("note", "hello");
    ck.save(&path).unwrap();
    assert!(
        !dir.join("model.safetensors.tmp").exists(),
        "the temporary file must be renamed away"
    );

    let back = Checkpoint::load(&path).unwrap();
    assert_eq!(back.names(), vec!["layer.w", "odd"]);
    assert_eq!(back.meta_u64("step").unwrap(), 1234);
    assert_eq!(back.meta("note"), Some("hello"));
    let (shape, data) = back.get("odd").unwrap();
    assert_eq!(shape, &[5]);
    assert_eq!(bits(data), bits(&odd.to_vec()));
    // restore writes into an existing tensor, bit for bit
    let w2 = Tensor::zeros(&dev, &[2, 3, 5]);
    back.restore("layer.w", &w2).unwrap();
    assert_eq!(bits(&w2.to_vec()), bits(&w.to_vec()));
    assert_eq!(
        bits(&back.to_tensor(&dev, "odd").unwrap().to_vec()),
        bits(&odd.to_vec())
    );
    // saving again over the file replaces it
    ck.set_meta("step", 1235u64);
    ck.save(&path).unwrap();
    assert_eq!(
        Checkpoint::load(&path).unwrap().meta_u64("step").unwrap(),
        1235
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn restore_errors_name_missing_tensor_and_mismatched_shapes() {
    let dev = device();
    let dir = temp_dir("restore_errors");
    let path = dir.join("ck.safetensors");
    let (w, odd) = sample(&dev);
    let mut ck = Checkpoint::new();
    ck.insert("layer.w", &w);
    ck.insert("odd", &odd);
    ck.save(&path).unwrap();
    let ck = Checkpoint::load(&path).unwrap();

    let msg = message(ck.restore("layer.b", &Tensor::zeros(&dev, &[3])));
    assert!(msg.contains("no tensor `layer.b`"), "{msg}");
    assert!(
        msg.contains("[layer.w, odd]"),
        "the message lists what the file has: {msg}"
    );
    assert!(
        msg.contains("ck.safetensors"),
        "the message names the file: {msg}"
    );

    let msg = message(ck.restore("layer.w", &Tensor::zeros(&dev, &[3, 2, 5])));
    assert!(
        msg.contains("`layer.w`") && msg.contains("[2, 3, 5]") && msg.contains("[3, 2, 5]"),
        "{msg}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn load_errors_for_missing_truncated_garbage_and_non_f32_files() {
    let dev = device();
    let dir = temp_dir("load_errors");

    let msg = message(Checkpoint::load(dir.join("absent.safetensors")));
    assert!(
        msg.contains("absent.safetensors") && msg.contains("cannot read"),
        "{msg}"
    );

    let garbage = dir.join("garbage.safetensors");
    std::fs::write(&garbage, b"this is not a safetensors file at all").unwrap();
    let msg = message(Checkpoint::load(&garbage));
    assert!(
        msg.contains("garbage.safetensors") && msg.contains("not a safetensors file"),
        "{msg}"
    );

    let good = dir.join("good.safetensors");
    let mut ck = Checkpoint::new();
    ck.insert("w", &sample(&dev).0);
    ck.save(&good).unwrap();
    let bytes = std::fs::read(&good).unwrap();
    let truncated = dir.join("truncated.safetensors");
    std::fs::write(&truncated, &bytes[..bytes.len() - 7]).unwrap();
    let msg = message(Checkpoint::load(&truncated));
    assert!(
        msg.contains("truncated.safetensors") && msg.contains("truncated"),
        "{msg}"
    );

    let ints = dir.join("ints.safetensors");
    let data: Vec<u8> = [1i32, 2, 3].iter().flat_map(|v| v.to_le_bytes()).collect();
    let view =
        safetensors::tensor::TensorView::new(safetensors::Dtype::I32, vec![3], &data).unwrap();
    std::fs::write(
        &ints,
        safetensors::serialize([("counts", view)], None).unwrap(),
    )
    .unwrap();
    let msg = message(Checkpoint::load(&ints));
    assert!(
        msg.contains("ints.safetensors") && msg.contains("`counts`") && msg.contains("I32"),
        "{msg}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn f16_export_reloads_within_half_precision() {
    let dev = device();
    let dir = temp_dir("f16");
    let values = uniform(1000, -100.0, 100.0, 9);
    let w = Tensor::from_slice(&dev, &values, &[10, 100]);
    let ck = Checkpoint::from_params(&[("w", &w)]);
    ck.save(dir.join("f32.safetensors")).unwrap();
    ck.save_f16(dir.join("f16.safetensors")).unwrap();
    let size = |n: &str| std::fs::metadata(dir.join(n)).unwrap().len();
    assert!(
        size("f16.safetensors") < size("f32.safetensors") * 6 / 10,
        "f16 file should be about half the size"
    );
    let back = Checkpoint::load(dir.join("f16.safetensors")).unwrap();
    let (shape, data) = back.get("w").unwrap();
    assert_eq!(shape, &[10, 100]);
    // f16 keeps 11 significant bits: relative error <= 2^-11 after rounding to nearest
    assert_close(
        "f16 reload",
        data,
        &values.iter().map(|&v| v as f64).collect::<Vec<_>>(),
        0.0,
        1.0 / 2048.0,
    );
    assert!(
        data.iter().zip(&values).any(|(a, b)| a != b),
        "values should have been rounded"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

// ---- Resuming a training run ------------------------------------------------------------------

const N: usize = 64;
const STEPS: u64 = 10;

/// pred = a * sin(b * x) + c fitted to y = 2 sin(3x) + 0.5 on fresh randn inputs each step.
struct Run {
    dev: Device,
    params: [Tensor; 3],
    opt: Adam,
}

impl Run {
    fn new(dev: Device, init_seed: u64) -> Run {
        let params = [0, 1, 2].map(|k| {
            Tensor::from_slice(&dev, &uniform(N, 0.5, 1.5, init_seed + k), &[N])
                .set_requires_grad(true)
        });
        let opt = Adam::new(&params, 0.0);
        Run { dev, params, opt }
    }

    fn named(&self) -> Vec<(&str, &Tensor)> {
        vec![
            ("a", &self.params[0]),
            ("b", &self.params[1]),
            ("c", &self.params[2]),
        ]
    }

    fn step(&mut self, step: u64) {
        let sched = WarmupCosine {
            base_lr: 0.05,
            min_lr: 0.005,
            warmup_steps: 3,
            total_steps: STEPS,
        };
        let [a, b, c] = &self.params;
        let x = Tensor::randn(&self.dev, &[N]);
        let noise = Tensor::randn(&self.dev, &[N]).mul_scalar(0.01);
        let y = no_grad(|| {
            x.mul_scalar(3.0)
                .sin()
                .mul_scalar(2.0)
                .add_scalar(0.5)
                .add(&noise)
        });
        let pred = a.mul(&b.mul(&x).sin()).add(c);
        // d(mean of squares)/d(pred): backward of the elementwise squares with weights 1/N
        pred.sub(&y)
            .square()
            .backward_with(Tensor::full(&self.dev, &[N], 1.0 / N as f32));
        clip_grad_norm(&self.params, 1.0);
        self.opt.set_lr(sched.lr(step));
        self.opt.step();
        self.opt.zero_grad();
    }

    fn bits(&self) -> Vec<Vec<u32>> {
        self.params.iter().map(|p| bits(&p.to_vec())).collect()
    }
}

#[test]
fn resumed_adam_training_matches_uninterrupted_run_bit_for_bit() {
    let dir = temp_dir("resume");
    let path = dir.join("train.safetensors");
    let k = 4;

    let dev = device();
    dev.manual_seed(7);
    let mut full = Run::new(dev, 100);
    for s in 0..STEPS {
        full.step(s);
    }

    let dev = device();
    dev.manual_seed(7);
    let mut first = Run::new(dev.clone(), 100);
    for s in 0..k {
        first.step(s);
    }
    Checkpoint::training(&first.named(), &first.opt, &dev, k)
        .save(&path)
        .unwrap();
    drop(first);

    // A fresh device, generator state, parameters and optimizer.
    let dev = device();
    dev.manual_seed(12345);
    let mut resumed = Run::new(dev.clone(), 900);
    let ck = Checkpoint::load(&path).unwrap();
    let [a, b, c] = resumed.params.clone();
    let step = ck
        .restore_training(&[("a", &a), ("b", &b), ("c", &c)], &mut resumed.opt, &dev)
        .unwrap();
    assert_eq!(step, k);
    assert_eq!(resumed.opt.step_count(), k);
    for s in step..STEPS {
        resumed.step(s);
    }
    assert_eq!(
        resumed.bits(),
        full.bits(),
        "resumed run diverged from the uninterrupted one"
    );
    // The run did train: the parameters moved from their initial values.
    assert_ne!(full.bits(), Run::new(device(), 100).bits());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn restore_training_rejects_a_model_of_another_shape_before_writing() {
    let dir = temp_dir("resume_shape");
    let path = dir.join("train.safetensors");
    let dev = device();
    let run = Run::new(dev.clone(), 1);
    Checkpoint::training(&run.named(), &run.opt, &dev, 0)
        .save(&path)
        .unwrap();
    let a = Tensor::zeros(&dev, &[N + 1]).set_requires_grad(true);
    let b = Tensor::zeros(&dev, &[N]).set_requires_grad(true);
    let mut opt = Adam::new(&[a.clone(), b.clone()], 0.1);
    let msg = message(Checkpoint::load(&path).unwrap().restore_training(
        &[("a", &a), ("b", &b)],
        &mut opt,
        &dev,
    ));
    assert!(
        msg.contains("`a`") && msg.contains("[64]") && msg.contains("[65]"),
        "{msg}"
    );
    assert_eq!(
        b.to_vec(),
        vec![0.0; N],
        "nothing is written when a check fails"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
