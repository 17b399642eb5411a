//! Shared helpers for the criterion benches: timing GPU work honestly.
//!
//! Every bench uses `iter_custom` and waits for the GPU (`Device::sync`) before the clock
//! stops, so the time covers execution, not only the recording of commands.

use std::time::{Duration, Instant};

use engine::Device;

/// The device benches run on; prints which adapter once.
pub fn device() -> Device {
    let dev = Device::new().unwrap_or_else(|e| panic!("{e}"));
    eprintln!("adapter: {}", dev.describe());
    dev
}

/// Runs `work` `iters` times and returns the wall time including a final GPU sync.
/// One warm-up call (pipeline compilation, pool fill) runs outside the timed region.
pub fn time_gpu(dev: &Device, iters: u64, mut work: impl FnMut()) -> Duration {
    work();
    dev.sync().expect("GPU error");
    let start = Instant::now();
    for _ in 0..iters {
        work();
    }
    dev.sync().expect("GPU error");
    start.elapsed()
}
