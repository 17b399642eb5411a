//! randn: Philox 4x32-10 + Box-Muller on the GPU. Throughput counts the bytes written
//! (4 per value), so criterion prints GB/s; the `roof:` line puts it against the write ceiling
//! (a kernel that only writes, as randn does).

use benches::Work;
use criterion::{criterion_group, criterion_main, Criterion};
use engine::Tensor;

fn randn(c: &mut Criterion) {
    let dev = benches::device();
    let mut group = c.benchmark_group("randn");
    group.sample_size(10);
    for log2 in [16u32, 20, 24] {
        let n = 1usize << log2;
        let id = format!("2^{log2}");
        let work = || drop(std::hint::black_box(Tensor::randn(&dev, &[n])));
        benches::bench(
            &mut group,
            "randn",
            &dev,
            &id,
            Work::BytesWritten(4 * n as u64),
            work,
        );
    }
    group.finish();
}

criterion_group!(benches, randn);
criterion_main!(benches);
