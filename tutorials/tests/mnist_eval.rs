//! The `classifier` and `eval` commands of tutorials::mnist_eval on tiny data: a checkpoint
//! with its accuracy, and a table with one row per samples file whose agreement column is
//! checked against labels chosen from the classifier's own predictions.
//! Tests that need MNIST skip (with a message) when no MNIST folder is found.

mod common;
use common::mnist;
use std::path::{Path, PathBuf};

use engine::checkpoint::Checkpoint;
use engine::Device;
use models::data::{load, Split};
use models::nn::classifier::{LabelledImages, SIDE};
use models::nn::Classifier;
use tutorials::mnist_eval::{
    classifier_command, eval_command, guidance_weight, ClassifierArgs, EvalArgs,
};

/// `common::fresh_dir`, created.
fn fresh_dir(name: &str) -> PathBuf {
    let dir = common::fresh_dir(name);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn args(out: &Path, data: &Path) -> ClassifierArgs {
    ClassifierArgs {
        out: out.to_path_buf(),
        data: Some(data.to_path_buf()),
        seed: 1,
        epochs: 1,
        batch: 32,
        lr: 1e-3,
        train_images: 96,
        test_images: 100,
    }
}

fn eval_args(classifier: ClassifierArgs) -> EvalArgs {
    EvalArgs {
        classifier,
        max_samples: 0,
        floor_sizes: vec![],
    }
}

/// Writes `samples_w{w}.safetensors` in `dir`: `images` [N, 1, 32, 32] and `labels` [N].
fn write_samples(dir: &Path, w: &str, images: &[f32], labels: &[u32]) {
    let mut ck = Checkpoint::new();
    ck.insert_data("samples", &[labels.len(), 1, SIDE, SIDE], images.to_vec());
    let l = labels.iter().map(|&l| l as f32).collect();
    ck.insert_data("labels", &[labels.len()], l);
    ck.save(dir.join(format!("samples_w{w}.safetensors")))
        .unwrap();
}

#[test]
fn classifier_command_trains_and_saves_a_checkpoint_with_its_test_accuracy() {
    let Some(data) = mnist() else { return };
    let out = fresh_dir("classifier");
    let report = classifier_command(&args(&out, &data)).unwrap();
    assert_eq!(report.steps, 3, "96 images in batches of 32");
    assert_eq!(report.test_images, 100);
    assert!((0.0..=1.0).contains(&report.test_accuracy));
    let ck = Checkpoint::load(out.join("classifier.safetensors")).unwrap();
    let stored: f64 = ck.meta("test_accuracy").unwrap().parse().unwrap();
    assert_eq!(stored, report.test_accuracy);
    assert!(ck.get("conv1.weight").is_some() && ck.get("fc2.bias").is_some());
    std::fs::remove_dir_all(&out).unwrap();
}

#[test]
fn eval_gives_one_row_per_weight_with_agreement_fd_and_floor() {
    let Some(data) = mnist() else { return };
    let out = fresh_dir("eval");
    let dev = Device::new().unwrap();
    dev.manual_seed(7);
    // An untrained classifier: its predictions are arbitrary but fixed, which is all we need.
    let net = Classifier::new(&dev);
    net.save(out.join("classifier.safetensors"), &[]).unwrap();
    let test = LabelledImages::from_mnist(&load(&data, Split::Test).unwrap(), 40);
    let first30 = &test.images[..30 * SIDE * SIDE];
    let pred = net.predict_all(&dev, first30, 250);
    // w = 0: the 30 labelled as the classifier reads them (100% agreement), then 10 with the
    // null label 10 (not measured). w = 2.5: the same 30 labelled one digit off (0% agreement).
    let mut labels = pred.clone();
    labels.extend([10; 10]);
    write_samples(&out, "0", &test.images, &labels);
    let off: Vec<u32> = pred.iter().map(|&p| (p + 1) % 10).collect();
    write_samples(&out, "2.5", first30, &off);
    std::fs::write(out.join("samples_notes.txt"), "not a samples file").unwrap();

    let mut ea = eval_args(args(&out, &data));
    ea.floor_sizes = vec![20];
    let report = eval_command(&ea).unwrap();
    let rows = &report.rows;
    assert_eq!(
        rows.iter().map(|r| r.w.as_str()).collect::<Vec<_>>(),
        ["0", "2.5"]
    );
    assert_eq!((rows[0].samples, rows[0].labelled), (40, 30));
    assert_eq!((rows[1].samples, rows[1].labelled), (30, 30));
    assert_eq!(rows[0].accuracy, Some(1.0));
    assert_eq!(rows[1].accuracy, Some(0.0));
    for r in rows {
        let (fd, floor) = (r.fd.unwrap(), r.floor.unwrap());
        assert!(fd.is_finite() && fd >= -1e-6, "w = {}: FD {fd}", r.w);
        assert!(
            floor.is_finite() && floor > 0.0,
            "w = {}: floor {floor}",
            r.w
        );
    }
    assert_eq!(report.floors.len(), 1);
    assert_eq!(report.floors[0].0, 20);

    let text = std::fs::read_to_string(out.join("eval.md")).unwrap();
    let table_rows: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("| 0 |") || l.starts_with("| 2.5 |"))
        .collect();
    assert_eq!(table_rows.len(), 2, "eval.md:\n{text}");
    assert!(
        table_rows[0].starts_with("| 0 | 40 | 30 | 100.0% |"),
        "{}",
        table_rows[0]
    );
    assert!(
        table_rows[1].starts_with("| 2.5 | 30 | 30 | 0.0% |"),
        "{}",
        table_rows[1]
    );
    assert!(
        text.contains("| 20 |"),
        "the floor at 20 is listed:\n{text}"
    );
    std::fs::remove_dir_all(&out).unwrap();
}

#[test]
fn eval_names_a_samples_file_of_the_wrong_shape() {
    let Some(data) = mnist() else { return };
    let out = fresh_dir("eval-bad");
    let dev = Device::new().unwrap();
    Classifier::new(&dev)
        .save(out.join("classifier.safetensors"), &[])
        .unwrap();
    let mut ck = Checkpoint::new();
    ck.insert_data("samples", &[2, 1, 28, 28], vec![0.0; 2 * 28 * 28]);
    ck.insert_data("labels", &[2], vec![1.0, 2.0]);
    ck.save(out.join("samples_w1.safetensors")).unwrap();
    let err = eval_command(&eval_args(args(&out, &data)))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains(
            "samples_w1.safetensors: `samples` has shape [2, 1, 28, 28], expected [N, 1, 32, 32]"
        ),
        "{err}"
    );
    std::fs::remove_dir_all(&out).unwrap();
}

#[test]
fn eval_without_samples_says_how_to_make_them() {
    let out = fresh_dir("eval-empty");
    // a classifier file, so that nothing is trained (the data folder is never read)
    let dev = Device::new().unwrap();
    Classifier::new(&dev)
        .save(out.join("classifier.safetensors"), &[])
        .unwrap();
    let err = eval_command(&eval_args(args(&out, Path::new("/nonexistent"))))
        .unwrap_err()
        .to_string();
    assert!(err.contains("no samples_w*.safetensors in"), "{err}");
    assert!(err.contains("`sample` subcommand"), "{err}");
    std::fs::remove_dir_all(&out).unwrap();
}

#[test]
fn guidance_weights_come_from_the_file_names() {
    assert_eq!(
        guidance_weight("samples_w2.5.safetensors").as_deref(),
        Some("2.5")
    );
    assert_eq!(
        guidance_weight("samples_w0.safetensors").as_deref(),
        Some("0")
    );
    assert_eq!(guidance_weight("samples_w.safetensors"), None);
    assert_eq!(guidance_weight("samples.safetensors"), None);
    assert_eq!(guidance_weight("samples_w1.safetensors.tmp"), None);
}
