//! The progress bar every training loop shows: step, loss, steps per second, time left.

use indicatif::{ProgressBar, ProgressStyle};

/// A bar over `total` steps that starts at `start` (non-zero when resuming).
pub fn training_bar(total: u64, start: u64) -> ProgressBar {
    let bar = ProgressBar::new(total);
    bar.set_style(
        ProgressStyle::with_template("{bar:30} {pos}/{len} steps  {msg}  {per_sec}  eta {eta}")
            .expect("valid template"),
    );
    bar.set_position(start);
    bar.reset_eta();
    bar
}
