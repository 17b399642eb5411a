//! Chapters 3-5 run end to end with `--quick --out <tmp>` and write their figures, their
//! samples and the measured summary (a few seconds each in release on lavapipe).

mod common;
use common::{assert_image as assert_png, fresh_dir, run_quick};
use std::path::Path;

use engine::checkpoint::Checkpoint;

/// `samples.safetensors` holds finite 2-D `samples` of `n` rows within `bound`.
fn assert_samples(dir: &Path, n: usize, bound: f32) {
    let ck = Checkpoint::load(dir.join("samples.safetensors")).expect("samples.safetensors loads");
    let (shape, data) = ck.get("samples").expect("tensor `samples`");
    assert_eq!(shape, &[n, 2]);
    assert!(
        data.iter().all(|v| v.is_finite() && v.abs() < bound),
        "samples out of range"
    );
}

#[test]
fn ch03_flow_matching_quick_run_writes_figures_samples_and_metrics() {
    let dir = fresh_dir("ch03");
    let stdout = run_quick(env!("CARGO_BIN_EXE_ch03_flow_matching"), &dir);
    for name in [
        "conditional_path.png",
        "mixture.png",
        "mixture_marginals.png",
        "mixture_field.png",
        "checkerboard.png",
        "circles_to_checkerboard.png",
        "losses.png",
    ] {
        assert_png(&dir, name, 10_000);
    }
    assert_samples(&dir, 500, 100.0);
    for needle in [
        "relative L2 error",
        "energy distance",
        "data vs data",
        "NLL of 100 held-out points",
        "true mixture",
        "steps/s",
    ] {
        assert!(stdout.contains(needle), "`{needle}` not printed:\n{stdout}");
    }
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn ch04_score_matching_quick_run_writes_quivers_samples_and_errors() {
    let dir = fresh_dir("ch04");
    let stdout = run_quick(env!("CARGO_BIN_EXE_ch04_score_matching"), &dir);
    for name in ["losses.png", "scores.png", "samples.png"] {
        assert_png(&dir, name, 10_000);
    }
    assert_samples(&dir, 300, 1000.0);
    for needle in [
        "relative L2 error against the exact score",
        "from FM",
        "Langevin-corrected SDE",
        "steps/s",
    ] {
        assert!(stdout.contains(needle), "`{needle}` not printed:\n{stdout}");
    }
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn ch05_guidance_quick_run_writes_a_figure_per_weight_and_the_tradeoff() {
    let dir = fresh_dir("ch05");
    let stdout = run_quick(env!("CARGO_BIN_EXE_ch05_guidance"), &dir);
    for name in [
        "loss.png",
        "guidance_w0.png",
        "guidance_w1.png",
        "guidance_w2.png",
        "guidance_w4.png",
        "guidance.png",
        "tradeoff.png",
    ] {
        assert_png(&dir, name, 10_000);
    }
    assert_samples(&dir, 500, 100.0); // 5 classes x 100 per class, at the last w
    for needle in ["w = 0", "w = 4", "accuracy", "spread", "steps/s"] {
        assert!(stdout.contains(needle), "`{needle}` not printed:\n{stdout}");
    }
    std::fs::remove_dir_all(&dir).ok();
}
