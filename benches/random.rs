//! randn: Philox 4x32-10 + Box-Muller on the GPU. Throughput counts the bytes written
//! (4 per value), so criterion prints GB/s.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use engine::Tensor;

fn randn(c: &mut Criterion) {
    let dev = benches::device();
    let mut group = c.benchmark_group("randn");
    group.sample_size(10);
    for log2 in [16u32, 20, 24] {
        let n = 1usize << log2;
        group.throughput(Throughput::Bytes(4 * n as u64));
        group.bench_with_input(
            BenchmarkId::from_parameter(format!("2^{log2}")),
            &n,
            |b, &n| {
                b.iter_custom(|iters| {
                    benches::time_gpu(&dev, iters, || {
                        let _ = Tensor::randn(&dev, &[n]);
                    })
                })
            },
        );
    }
    group.finish();
}

criterion_group!(benches, randn);
criterion_main!(benches);
