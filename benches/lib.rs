//! Shared helpers for the criterion benches: timing GPU work honestly, and putting each
//! throughput next to the adapter's own ceiling.
//!
//! Every bench uses `iter_custom` and waits for the GPU (`Device::sync`) before the clock
//! stops, so the time covers execution, not only the recording of commands.
//!
//! `bench` registers one criterion benchmark and also prints one plain line
//! `roof: <group>/<id>: 21.3 GFLOP/s = 58% of the FMA ceiling (37.0 GFLOP/s)`, from its own
//! median of a few timed runs. The ceilings are the roofline probe's (see `roofline.rs`),
//! measured once per bench process on the adapter in use.

use std::cell::OnceCell;
use std::time::{Duration, Instant};

use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, Throughput};
use engine::ops::roofline::{fma_flops, fma_loop, stream_copy, stream_write};
use engine::{Device, Tensor};

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

/// Median seconds of `reps` single timed runs of `work` (each after `time_gpu`'s warm-up).
pub fn median_secs(dev: &Device, reps: usize, mut work: impl FnMut()) -> f64 {
    let mut t: Vec<f64> = (0..reps)
        .map(|_| time_gpu(dev, 1, &mut work).as_secs_f64())
        .collect();
    t.sort_by(f64::total_cmp);
    t[reps / 2]
}

/// What one run of a benchmark does: FLOPs (compute-bound kernels), bytes read + written
/// (memory-bound kernels), or bytes written by a kernel that reads nothing (randn). Criterion
/// prints Elements as "Gelem/s", which here reads GFLOP/s.
#[derive(Clone, Copy, Debug)]
pub enum Work {
    Flops(u64),
    Bytes(u64),
    BytesWritten(u64),
}

impl Work {
    fn throughput(self) -> Throughput {
        match self {
            Work::Flops(f) => Throughput::Elements(f),
            Work::Bytes(b) | Work::BytesWritten(b) => Throughput::Bytes(b),
        }
    }
}

/// The adapter's ceilings, as the roofline probe measures them.
#[derive(Clone, Copy, Debug)]
pub struct Ceilings {
    /// Peak of a register-resident FMA loop, GFLOP/s.
    pub fma_gflops: f64,
    /// A vec4 streaming copy kernel, GB/s (10^9 bytes, read + written).
    pub copy_gbs: f64,
    /// A vec4 streaming write kernel (nothing read), GB/s written.
    pub write_gbs: f64,
}

/// Sizes of the probes per adapter: (FMA invocations, FMA iterations, f32 elements copied).
pub fn probe_sizes(dev: &Device) -> (usize, u32, usize) {
    if dev.info().device_type == engine::wgpu::DeviceType::Cpu {
        (1 << 16, 256, 1 << 24) // 1.07 GFLOP; 64 MiB
    } else {
        (1 << 22, 4096, 1 << 26) // 1.1 TFLOP; 256 MiB
    }
}

/// Measures the ceilings (median of 5 runs of each probe).
pub fn measure_ceilings(dev: &Device) -> Ceilings {
    let (n, iters, elems) = probe_sizes(dev);
    let x = Tensor::from_slice(dev, &vec![0.5; n], &[n]);
    let src = Tensor::from_slice(dev, &vec![1.0; elems], &[elems]);
    // mul < 1 with add > 0: every lane converges to a finite value, no overflow or denormals.
    let fma = || drop(std::hint::black_box(fma_loop(&x, iters, 0.999, 0.001)));
    let copy = || drop(std::hint::black_box(stream_copy(&src)));
    let write = || drop(std::hint::black_box(stream_write(dev, elems, 1.0, 0.0)));
    Ceilings {
        fma_gflops: fma_flops(n, iters) as f64 / median_secs(dev, 5, fma) / 1e9,
        copy_gbs: (8 * elems) as f64 / median_secs(dev, 5, copy) / 1e9,
        write_gbs: (4 * elems) as f64 / median_secs(dev, 5, write) / 1e9,
    }
}

thread_local! {
    static CEILINGS: OnceCell<Ceilings> = const { OnceCell::new() };
}

/// The ceilings of `dev`'s adapter, measured on first use in this process.
pub fn ceilings(dev: &Device) -> Ceilings {
    CEILINGS.with(|c| {
        *c.get_or_init(|| {
            let ceil = measure_ceilings(dev);
            eprintln!(
                "ceilings: FMA {:.1} GFLOP/s, stream copy {:.2} GB/s, stream write {:.2} GB/s ({})",
                ceil.fma_gflops,
                ceil.copy_gbs,
                ceil.write_gbs,
                dev.describe()
            );
            ceil
        })
    })
}

/// True when the bench runs under `cargo test --all-targets` (criterion's test mode: each
/// bench once). `cargo bench` passes `--bench`; `cargo test` does not.
pub fn test_mode() -> bool {
    !std::env::args().any(|a| a == "--bench")
}

/// Criterion options that take a value (so that value is not a benchmark filter).
const VALUED: &[&str] = &[
    "--warm-up-time",
    "--measurement-time",
    "--sample-size",
    "--save-baseline",
    "--baseline",
    "--load-baseline",
    "--output-format",
    "--plotting-backend",
    "--color",
    "--noise-threshold",
    "--confidence-level",
    "--significance-level",
    "--nresamples",
    "--profile-time",
    "--format",
];

/// Whether the command line's benchmark filter (criterion's positional argument, a regular
/// expression) selects `id`, as criterion decides.
fn selected(id: &str) -> bool {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut filter = None;
    let mut i = 0;
    while i < args.len() {
        if VALUED.contains(&args[i].as_str()) {
            i += 1;
        } else if !args[i].starts_with('-') {
            filter = Some(args[i].clone());
        }
        i += 1;
    }
    match filter {
        None => true,
        Some(f) => regex::Regex::new(&f).map_or_else(|_| id.contains(&f), |re| re.is_match(id)),
    }
}

/// Registers `group/id` timing `work`, with `amount` as its throughput, and prints its
/// throughput as a fraction of the adapter's ceiling (FMA for FLOPs, streaming copy for bytes,
/// streaming write for bytes only written).
pub fn bench(
    group: &mut BenchmarkGroup<'_, WallTime>,
    group_name: &str,
    dev: &Device,
    id: &str,
    amount: Work,
    mut work: impl FnMut(),
) {
    let full = format!("{group_name}/{id}");
    if !test_mode() && selected(&full) {
        let ceil = ceilings(dev);
        let secs = median_secs(dev, 5, &mut work);
        // (how much, its unit, the ceiling's name, the ceiling and its unit)
        let (n, unit, name, roof, roof_unit) = match amount {
            Work::Flops(f) => (f, "GFLOP/s", "FMA", ceil.fma_gflops, "GFLOP/s"),
            Work::Bytes(b) => (b, "GB/s", "copy", ceil.copy_gbs, "GB/s"),
            Work::BytesWritten(b) => (b, "GB/s written", "write", ceil.write_gbs, "GB/s"),
        };
        let g = n as f64 / secs / 1e9;
        let line = format!(
            "{g:.2} {unit} = {:.0}% of the {name} ceiling ({roof:.2} {roof_unit})",
            100.0 * g / roof
        );
        eprintln!("roof: {full}: {:.3} ms, {line}", secs * 1e3);
    }
    group.throughput(amount.throughput());
    group.bench_function(id, |b| {
        b.iter_custom(|iters| time_gpu(dev, iters, &mut work))
    });
}
