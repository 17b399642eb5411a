//! Reductions: sum over the last axis of [n / 1024, 1024], and sum_all of n elements,
//! on 2^16..2^24 elements. Throughput is bytes read + written, so criterion prints GB/s.
//!
//! cargo bench -p benches --bench reduce

use benches::{bench, device, Work};
use criterion::{criterion_group, criterion_main, Criterion};
use engine::Tensor;

const SIZES: [usize; 5] = [1 << 16, 1 << 18, 1 << 20, 1 << 22, 1 << 24];
const ROW: usize = 1024;

fn reduce(c: &mut Criterion) {
    let dev = device();
    let mut group = c.benchmark_group("reduce");
    for n in SIZES {
        let x = Tensor::ones(&dev, &[n / ROW, ROW]); // x is [n / ROW, ROW]
        let f = 4u64;
        let id = format!("sum_last_axis/{n}");
        let work = || drop(x.sum(&[-1], false));
        bench(
            &mut group,
            "reduce",
            &dev,
            &id,
            Work::Bytes(f * (n + n / ROW) as u64),
            work,
        );
        let id = format!("sum_all/{n}");
        bench(
            &mut group,
            "reduce",
            &dev,
            &id,
            Work::Bytes(f * (n + 1) as u64),
            || drop(x.sum_all()),
        );
    }
    group.finish();
}

criterion_group!(benches, reduce);
criterion_main!(benches);
