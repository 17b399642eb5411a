//! Chapter 6 end to end at a tiny size (`--quick`): it writes its PNGs and its
//! `samples_w{w}.safetensors` with the right shapes, and `train --resume` continues a run
//! exactly. Needs MNIST: skipped, with a message, when `find_data_dir` finds none
//! ($MNIST_DIR or ../shared/data/mnist).

mod common;
use common::{assert_image as assert_png, fresh_dir, mnist, run_ok};
use std::path::Path;
use std::process::Command;

use engine::checkpoint::Checkpoint;

/// Runs ch06_mnist with `args` plus `--data <mnist> --out <dir>`; fails with its output.
fn run(args: &[&str], data: &Path, dir: &Path) -> String {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ch06_mnist"));
    cmd.args(args).arg("--data").arg(data).arg("--out").arg(dir);
    run_ok(cmd, &format!("ch06_mnist {args:?}")).0
}

#[test]
fn ch06_quick_trains_samples_and_writes_grids_and_safetensors() {
    let Some(data) = mnist() else { return };
    let dir = fresh_dir("quick");
    let stdout = run(&["--quick"], &data, &dir);
    assert!(stdout.contains("parameters: "), "{stdout}");
    assert!(stdout.contains("trained 6 steps"), "{stdout}");
    for name in [
        "loss.png",
        "noising.png",
        "samples_w1.png",
        "samples_w3.png",
        "samples_w5.png",
    ] {
        assert_png(&dir, name, 5_000);
    }
    for w in [1, 3, 5] {
        let ck = Checkpoint::load(dir.join(format!("samples_w{w}.safetensors"))).unwrap();
        // --quick: 2 samples for each of the 10 digits and the null label.
        let (shape, x) = ck.get("samples").expect("tensor `samples`");
        assert_eq!(shape, &[22, 1, 32, 32]);
        assert!(
            x.iter().all(|v| (-1.0..=1.0).contains(v)),
            "samples outside [-1, 1]"
        );
        let (lshape, labels) = ck.get("labels").expect("tensor `labels`");
        assert_eq!(lshape, &[22]);
        let want: Vec<f32> = (0..11).flat_map(|y| [y as f32; 2]).collect();
        assert_eq!(labels, &want[..]);
    }
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn ch06_train_resume_continues_bit_for_bit() {
    let Some(data) = mnist() else { return };
    let (whole, split) = (fresh_dir("whole"), fresh_dir("split"));
    let train = |dir: &Path, extra: &[&str]| {
        let mut args = vec!["train", "--quick", "--checkpoint-every", "2"];
        args.extend_from_slice(extra);
        run(&args, &data, dir)
    };
    train(&whole, &["--steps", "4"]);
    train(&split, &["--steps", "2"]);
    let resumed = train(&split, &["--steps", "4", "--resume"]);
    assert!(resumed.contains("at step 2"), "{resumed}");
    let a = Checkpoint::load(whole.join("checkpoint.safetensors")).unwrap();
    let b = Checkpoint::load(split.join("checkpoint.safetensors")).unwrap();
    assert_eq!(a.names(), b.names());
    // The logged losses differ by design: each run also logs its own last step.
    for name in a.names().into_iter().filter(|&n| n != "loss_history") {
        let (sa, da) = a.get(name).unwrap();
        let (sb, db) = b.get(name).unwrap();
        assert_eq!(sa, sb, "{name}");
        let same = da.iter().zip(db).all(|(x, y)| x.to_bits() == y.to_bits());
        assert!(same, "{name} differs between the whole and the resumed run");
    }
    for d in [whole, split] {
        std::fs::remove_dir_all(d).ok();
    }
}

#[test]
fn ch06_sample_without_a_checkpoint_is_a_clear_error() {
    let Some(data) = mnist() else { return };
    let dir = fresh_dir("nockpt");
    let out = Command::new(env!("CARGO_BIN_EXE_ch06_mnist"))
        .args(["sample", "--quick", "--data"])
        .arg(&data)
        .arg("--out")
        .arg(&dir)
        .env("XDG_RUNTIME_DIR", "/tmp")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("checkpoint.safetensors"), "{err}");
    std::fs::remove_dir_all(&dir).ok();
}
