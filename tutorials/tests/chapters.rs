//! Every chapter binary runs end to end with `--quick --out <tmp>` and writes its files:
//! non-trivial PNGs (a PNG signature and more than a blank page's bytes), and where the chapter
//! has samples, a `samples.safetensors` holding `samples` of the expected shape.

mod common;
use common::{assert_image, fresh_dir, run_quick};
use std::process::Command;

use engine::checkpoint::Checkpoint;

#[test]
fn ch01_flows_quick_run_writes_its_figures_and_reports_orders() {
    let dir = fresh_dir("ch01");
    let stdout = run_quick(env!("CARGO_BIN_EXE_ch01_flows"), &dir);
    for name in ["error_vs_step.png", "trajectories.png", "flow_grid.png"] {
        assert_image(&dir, name, 10_000);
    }
    assert!(
        stdout.contains("RK4    slope"),
        "no fitted slopes printed:\n{stdout}"
    );
    assert!(
        stdout.contains("flow_grid.png"),
        "the written files are not listed:\n{stdout}"
    );
    let ck = Checkpoint::load(dir.join("samples.safetensors")).expect("samples.safetensors loads");
    let (shape, data) = ck.get("samples").expect("tensor `samples`");
    assert_eq!(shape.len(), 2, "samples is [N, 2], got {shape:?}");
    assert_eq!(shape[1], 2);
    // The flow contracts the grid [-2, 2]^2 towards the two stable points.
    assert!(
        data.iter().all(|v| v.is_finite() && v.abs() <= 2.0),
        "warped grid points left the box"
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn ch02_sdes_quick_run_writes_figures_gif_and_langevin_samples() {
    let dir = fresh_dir("ch02");
    let stdout = run_quick(env!("CARGO_BIN_EXE_ch02_sdes"), &dir);
    for name in [
        "brownian.png",
        "ou.png",
        "ou_grid.png",
        "ou_is_langevin.png",
        "langevin.png",
        "langevin_marginal.png",
    ] {
        assert_image(&dir, name, 10_000);
    }
    assert_image(&dir, "langevin.gif", 10_000);
    let ck = Checkpoint::load(dir.join("samples.safetensors")).expect("samples.safetensors loads");
    let (shape, data) = ck.get("samples").expect("tensor `samples`");
    assert_eq!(
        shape,
        &[200, 2],
        "--quick runs 200 Langevin particles in 2-D"
    );
    assert!(
        data.iter().all(|v| v.is_finite() && v.abs() < 50.0),
        "Langevin samples blew up"
    );
    assert!(
        stdout.contains("OU vs Langevin"),
        "no OU/Langevin comparison printed:\n{stdout}"
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn output_folder_that_cannot_be_created_is_a_clear_error() {
    // a path below a regular file cannot be a folder
    let file = std::env::temp_dir().join(format!("flowgrad-test-file-{}", std::process::id()));
    std::fs::write(&file, b"x").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_ch01_flows"))
        .args(["--quick", "--out"])
        .arg(file.join("sub"))
        .output()
        .unwrap();
    std::fs::remove_file(&file).ok();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("cannot create the output folder"),
        "unexpected error: {stderr}"
    );
}
