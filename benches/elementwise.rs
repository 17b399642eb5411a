//! Elementwise kernels: add (same shape and broadcast), exp, silu, on 2^16..2^24 elements.
//! Throughput is bytes read + written, so criterion prints GB/s.
//!
//! cargo bench -p benches --bench elementwise

use benches::{bench, device, Work};
use criterion::{criterion_group, criterion_main, Criterion};
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

        let g = "elementwise";
        let same = Work::Bytes(3 * f * n as u64);
        bench(&mut group, g, &dev, &format!("add_same/{n}"), same, || {
            drop(a.add(&b))
        });
        let bcast = Work::Bytes(f * (2 * n + ROW) as u64);
        bench(
            &mut group,
            g,
            &dev,
            &format!("add_broadcast_row/{n}"),
            bcast,
            || drop(a.add(&row)),
        );
        let unary = Work::Bytes(2 * f * n as u64);
        bench(&mut group, g, &dev, &format!("exp/{n}"), unary, || {
            drop(a.exp())
        });
        bench(&mut group, g, &dev, &format!("silu/{n}"), unary, || {
            drop(a.silu())
        });
    }
    group.finish();
}

criterion_group!(benches, elementwise);
criterion_main!(benches);
