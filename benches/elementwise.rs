//! Elementwise kernels: add (same shape and broadcast), exp, silu, on 2^16..2^24 elements.
//! Throughput is bytes read + written, so criterion prints GB/s.
//!
//! cargo bench -p benches --bench elementwise

use benches::{device, time_gpu};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use engine::Tensor;

const SIZES: [usize; 5] = [1 << 16, 1 << 18, 1 << 20, 1 << 22, 1 << 24];
/// Row length of the broadcast case: [n / ROW, ROW] + [ROW].
const ROW: usize = 1024;

fn elementwise(c: &mut Criterion) {
    let dev = device();
    let mut group = c.benchmark_group("elementwise");
    for n in SIZES {
        let a = Tensor::ones(&dev, &[n / ROW, ROW]); // a is [n / ROW, ROW]
        let b = Tensor::ones(&dev, &[n / ROW, ROW]);
        let row = Tensor::ones(&dev, &[ROW]);
        let f = 4u64; // bytes per f32

        group.throughput(Throughput::Bytes(3 * f * n as u64));
        group.bench_with_input(BenchmarkId::new("add_same", n), &n, |bch, _| {
            bch.iter_custom(|iters| time_gpu(&dev, iters, || drop(a.add(&b))))
        });
        group.throughput(Throughput::Bytes(f * (2 * n + ROW) as u64));
        group.bench_with_input(BenchmarkId::new("add_broadcast_row", n), &n, |bch, _| {
            bch.iter_custom(|iters| time_gpu(&dev, iters, || drop(a.add(&row))))
        });
        group.throughput(Throughput::Bytes(2 * f * n as u64));
        group.bench_with_input(BenchmarkId::new("exp", n), &n, |bch, _| {
            bch.iter_custom(|iters| time_gpu(&dev, iters, || drop(a.exp())))
        });
        group.bench_with_input(BenchmarkId::new("silu", n), &n, |bch, _| {
            bch.iter_custom(|iters| time_gpu(&dev, iters, || drop(a.silu())))
        });
    }
    group.finish();
}

criterion_group!(benches, elementwise);
criterion_main!(benches);
