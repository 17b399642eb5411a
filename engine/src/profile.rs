//! Per-kernel timing: with `DeviceOptions::profile` set, every dispatch is submitted and waited
//! for on its own, and its wall time is added to its kernel's entry. This serialises the GPU
//! and adds one submit per dispatch (on lavapipe ~0.05-0.1 ms each, also counted), so the
//! totals are larger than an unprofiled run's; the shares show where a step's time goes.
//! Buffer copies and uploads recorded just before a dispatch are counted with it.

use std::cell::RefCell;
use std::collections::HashMap;
use std::time::Duration;

/// Time and dispatch count per kernel ("shader/entry").
#[derive(Default)]
pub struct Profile {
    entries: RefCell<HashMap<String, (u64, Duration)>>,
}

/// One line of `Device::profile_report`.
#[derive(Clone, Debug, PartialEq)]
pub struct KernelTime {
    /// "shader/entry", e.g. "conv_rows/conv2d_gather_rows".
    pub kernel: String,
    pub dispatches: u64,
    pub total: Duration,
}

impl Profile {
    pub(crate) fn add(&self, kernel: String, took: Duration) {
        let mut e = self.entries.borrow_mut();
        let slot = e.entry(kernel).or_default();
        slot.0 += 1;
        slot.1 += took;
    }

    /// Every kernel run since the last reset, the most time first.
    pub(crate) fn report(&self) -> Vec<KernelTime> {
        let mut v: Vec<KernelTime> = self
            .entries
            .borrow()
            .iter()
            .map(|(k, &(n, t))| KernelTime {
                kernel: k.clone(),
                dispatches: n,
                total: t,
            })
            .collect();
        v.sort_by(|a, b| b.total.cmp(&a.total).then(a.kernel.cmp(&b.kernel)));
        v
    }

    pub(crate) fn reset(&self) {
        self.entries.borrow_mut().clear();
    }
}

/// The report as a table: kernel, dispatches, total ms, ms per dispatch, share of the total.
pub fn format_report(report: &[KernelTime]) -> String {
    let all: f64 = report.iter().map(|r| r.total.as_secs_f64()).sum();
    let mut s = format!(
        "{:<44} {:>10} {:>11} {:>9} {:>6}\n",
        "kernel", "dispatches", "total ms", "ms each", "share"
    );
    for r in report {
        let t = r.total.as_secs_f64();
        s += &format!(
            "{:<44} {:>10} {:>11.2} {:>9.3} {:>5.1}%\n",
            r.kernel,
            r.dispatches,
            t * 1e3,
            t * 1e3 / r.dispatches as f64,
            100.0 * t / all.max(1e-12)
        );
    }
    s += &format!(
        "{:<44} {:>10} {:>11.2}\n",
        "all",
        report.iter().map(|r| r.dispatches).sum::<u64>(),
        all * 1e3
    );
    s
}
