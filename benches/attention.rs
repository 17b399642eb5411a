//! Fused attention (`Tensor::attention`) against the composed path (`attention_composed`:
//! matmul, scale, softmax, matmul, with the [B, L, L] scores in memory), forward and backward,
//! at batch x heads B = 64, sequence L = 64, 196, 256, 1024, head dim D = 32 and 64.
//!
//! Throughput: FLOPs = 4*B*L*L*D for the forward (two products of 2*B*L*L*D) and 2.5 times
//! that for the backward (the usual count of its five products), so criterion's "Gelem/s"
//! reads as GFLOP/s. The backward's timing covers only `backward_with` (the forward that builds
//! its graph runs before the clock starts, and the GPU is synced then).
//! Run: `cargo bench -p benches --bench attention -- --warm-up-time 1 --measurement-time 3`
//! (a filter such as `attention/fused` selects a part).

use std::time::{Duration, Instant};

use benches::Work;
use criterion::measurement::WallTime;
use criterion::{criterion_group, criterion_main, BenchmarkGroup, Criterion, SamplingMode};
use engine::{Device, Tensor};

const B: usize = 64;
const LENGTHS: &[usize] = &[64, 196, 256, 1024];
const DIMS: &[usize] = &[32, 64];

/// Which implementation a case runs.
#[derive(Clone, Copy)]
enum Path {
    Fused,
    Composed,
}

impl Path {
    fn name(self) -> &'static str {
        match self {
            Path::Fused => "fused",
            Path::Composed => "composed",
        }
    }

    fn run(self, q: &Tensor, k: &Tensor, v: &Tensor) -> Tensor {
        match self {
            Path::Fused => Tensor::attention(q, k, v),
            Path::Composed => Tensor::attention_composed(q, k, v),
        }
    }
}

/// q, k, v [B, L, D] of standard normals, requiring gradients.
fn inputs(dev: &Device, l: usize, d: usize) -> [Tensor; 3] {
    [0; 3].map(|_| Tensor::randn(dev, &[B, l, d]).set_requires_grad(true))
}

/// Wall time of `iters` backward passes, each over a graph built (and synced) off the clock.
fn time_backward(dev: &Device, iters: u64, path: Path, qkv: &[Tensor; 3], g: &Tensor) -> Duration {
    let mut total = Duration::ZERO;
    for _ in 0..iters {
        qkv.iter().for_each(|t| t.zero_grad());
        let out = path.run(&qkv[0], &qkv[1], &qkv[2]);
        dev.sync().expect("GPU error");
        let start = Instant::now();
        out.backward_with(g.clone());
        dev.sync().expect("GPU error");
        total += start.elapsed();
    }
    total
}

fn bench_case(
    group: &mut BenchmarkGroup<'_, WallTime>,
    dev: &Device,
    path: Path,
    l: usize,
    d: usize,
) {
    let fwd_flops = (4 * B * l * l * d) as u64;
    // One second or more per run at L = 1024: one iteration per sample.
    if l >= 1024 {
        group.sampling_mode(SamplingMode::Flat).sample_size(10);
    } else {
        group.sampling_mode(SamplingMode::Auto).sample_size(10);
    }
    let qkv = inputs(dev, l, d);
    let id = format!("{} fwd B{B} L{l} D{d}", path.name());
    let fwd = || {
        drop(std::hint::black_box(engine::no_grad(|| {
            path.run(&qkv[0], &qkv[1], &qkv[2])
        })))
    };
    benches::bench(group, "attention", dev, &id, Work::Flops(fwd_flops), fwd);

    let id = format!("{} bwd B{B} L{l} D{d}", path.name());
    let g = Tensor::randn(dev, &[B, l, d]);
    group.throughput(criterion::Throughput::Elements(fwd_flops * 5 / 2));
    group.bench_function(&id, |b| {
        b.iter_custom(|iters| time_backward(dev, iters, path, &qkv, &g))
    });
}

fn bench_attention(c: &mut Criterion) {
    let dev = benches::device();
    let mut group = c.benchmark_group("attention");
    group.warm_up_time(Duration::from_millis(500));
    // `cargo test --all-targets` runs every bench once with `--test`: there, skip the
    // sequences of 1024 (tens of GFLOP each, and 256 MiB of scores on the composed path).
    let test_mode = std::env::args().any(|a| a == "--test");
    for &l in LENGTHS.iter().filter(|&&l| !test_mode || l <= 256) {
        for &d in DIMS {
            for path in [Path::Fused, Path::Composed] {
                bench_case(&mut group, &dev, path, l, d);
            }
        }
    }
    group.finish();
}

criterion_group!(attention, bench_attention);
criterion_main!(attention);
