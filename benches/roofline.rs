//! Roofline ceilings of the adapter in use: peak FMA throughput of a register-resident WGSL
//! loop (`Elements` = FLOPs, so criterion's "Gelem/s" is GFLOP/s) and device-to-device copy
//! bandwidth (`Bytes` = read + written), as `copy_buffer_to_buffer` and as a vec4 copy kernel,
//! and the write bandwidth of a vec4 kernel that reads nothing (`Bytes` = written).
//! Prints one plain `ceiling:` line first, for quoting. Run: `cargo bench -p benches --bench roofline`.

use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, SamplingMode, Throughput};
use engine::ops::roofline::{copy_buffer, fma_flops, fma_loop, stream_copy, stream_write};
use engine::Tensor;

fn roofline(c: &mut Criterion) {
    let dev = benches::device();
    let (n, iters, elems) = benches::probe_sizes(&dev);
    let flops = fma_flops(n, iters);
    let moved = 2 * 4 * elems as u64; // bytes read + written
    let x = Tensor::from_slice(&dev, &vec![0.5; n], &[n]);
    let src = Tensor::from_slice(&dev, &vec![1.0; elems], &[elems]);
    let dst = Tensor::zeros(&dev, &[elems]);
    // mul < 1 with add > 0: every lane converges to a finite value, no overflow or denormals.
    let fma = || drop(std::hint::black_box(fma_loop(&x, iters, 0.999, 0.001)));
    let copy = || copy_buffer(&src, &dst);
    let stream = || drop(std::hint::black_box(stream_copy(&src)));
    let write = || drop(std::hint::black_box(stream_write(&dev, elems, 1.0, 0.0)));

    eprintln!(
        "ceiling: fma {:.1} GFLOP/s, copy {:.2} GB/s, stream copy {:.2} GB/s, stream write {:.2} GB/s (median of 5; {})",
        flops as f64 / benches::median_secs(&dev, 5, fma) / 1e9,
        moved as f64 / benches::median_secs(&dev, 5, copy) / 1e9,
        moved as f64 / benches::median_secs(&dev, 5, stream) / 1e9,
        (moved / 2) as f64 / benches::median_secs(&dev, 5, write) / 1e9,
        dev.describe()
    );

    let mut group = c.benchmark_group("roofline");
    group
        .sample_size(10)
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(Duration::from_millis(500));
    group.throughput(Throughput::Elements(flops));
    group.bench_function(format!("fma {n} x {iters} iters"), |b| {
        b.iter_custom(|k| benches::time_gpu(&dev, k, fma))
    });
    group.throughput(Throughput::Bytes(moved));
    let mib = (4 * elems) >> 20;
    group.bench_function(format!("copy_buffer {mib} MiB"), |b| {
        b.iter_custom(|k| benches::time_gpu(&dev, k, copy))
    });
    group.bench_function(format!("stream_copy {mib} MiB"), |b| {
        b.iter_custom(|k| benches::time_gpu(&dev, k, stream))
    });
    group.throughput(Throughput::Bytes(moved / 2)); // written only
    group.bench_function(format!("stream_write {mib} MiB"), |b| {
        b.iter_custom(|k| benches::time_gpu(&dev, k, write))
    });
    group.finish();
}

criterion_group!(benches, roofline);
criterion_main!(benches);
