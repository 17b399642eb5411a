//! Chapter 0 end to end at a tiny size, and its checkpoint/resume path.

mod common;
use common::run_ok;
use std::process::Command;

fn run(args: &[&str]) -> String {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ch00_engine"));
    cmd.args(args);
    let (stdout, stderr) = run_ok(cmd, &format!("ch00_engine {args:?}"));
    stdout + &stderr
}

#[test]
fn ch00_runs_quick_then_resumes_from_its_checkpoint() {
    let dir = std::env::temp_dir().join(format!("ch00-test-{}", std::process::id()));
    let d = dir.to_str().unwrap();
    let first = run(&[
        "--quick",
        "--steps",
        "60",
        "--checkpoint-every",
        "30",
        "--out",
        d,
    ]);
    assert!(
        first.contains("adapter: ") && first.contains("trained 60 steps"),
        "{first}"
    );
    assert!(dir.join("checkpoint.safetensors").exists());
    let resumed = run(&["--steps", "80", "--out", d, "--resume"]);
    assert!(
        resumed.contains("resumed from") && resumed.contains("at step 60"),
        "{resumed}"
    );
    assert!(resumed.contains("trained 20 steps"), "{resumed}");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn ch00_resume_without_a_checkpoint_is_a_clear_error() {
    let dir = std::env::temp_dir().join(format!("ch00-missing-{}", std::process::id()));
    let out = Command::new(env!("CARGO_BIN_EXE_ch00_engine"))
        .args(["--resume", "--out", dir.to_str().unwrap()])
        .env("XDG_RUNTIME_DIR", "/tmp")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("checkpoint.safetensors"), "{err}");
    std::fs::remove_dir_all(&dir).ok();
}
