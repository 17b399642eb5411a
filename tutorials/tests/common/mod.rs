//! Helpers the tutorials' end-to-end tests share: fresh output folders, running a chapter
//! binary and failing with its output, checking image files, finding MNIST.
#![allow(dead_code)] // each test binary uses a different subset

use std::path::{Path, PathBuf};
use std::process::Command;

use models::data::{find_data_dir, Dataset};

/// A fresh (removed, not created) folder under the system's temp dir, unique to this process.
pub fn fresh_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("flowgrad-test-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// Runs `cmd` (with XDG_RUNTIME_DIR set, which silences a harmless Mesa warning) and returns
/// its (stdout, stderr); fails with both, naming `what`, unless it succeeds.
pub fn run_ok(mut cmd: Command, what: &str) -> (String, String) {
    let out = cmd
        .env("XDG_RUNTIME_DIR", "/tmp")
        .output()
        .unwrap_or_else(|e| panic!("{what}: could not start: {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(out.status.success(), "{what} failed:\n{stdout}\n{stderr}");
    (stdout, stderr)
}

/// Runs `exe --quick --out dir`; returns its stdout.
pub fn run_quick(exe: &str, dir: &Path) -> String {
    let mut cmd = Command::new(exe);
    cmd.args(["--quick", "--out"]).arg(dir);
    run_ok(cmd, exe).0
}

/// The file is a PNG (or, by its name, a GIF) of more than `min_bytes` bytes: a chart, not an
/// empty canvas.
pub fn assert_image(dir: &Path, name: &str, min_bytes: u64) {
    let path = dir.join(name);
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let (sig, kind): (&[u8], _) = if name.ends_with(".gif") {
        (b"GIF89a", "GIF")
    } else {
        (b"\x89PNG\r\n\x1a\n", "PNG")
    };
    assert!(bytes.starts_with(sig), "{name} is not a {kind}");
    assert!(
        bytes.len() as u64 > min_bytes,
        "{name} has only {} bytes",
        bytes.len()
    );
}

/// The MNIST folder ($MNIST_DIR or ../shared/data/mnist), or None after saying the test is
/// skipped.
pub fn mnist() -> Option<PathBuf> {
    match find_data_dir(None, Dataset::Mnist) {
        Ok(dir) => Some(dir),
        Err(e) => {
            eprintln!("skipped: {e}");
            None
        }
    }
}
