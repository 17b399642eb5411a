//! conv2d throughput: forward, grad-input and grad-weight at the shape and at the
//! U-Net's shapes (batch 64, 3x3, padding 1), plus a strided down-sampling conv.
//!
//! FLOPs = 2*N*Cout*OH*OW*Cin*KH*KW for each pass, so the "Gelem/s" criterion prints is
//! GFLOP/s. Run: `cargo bench -p benches --bench conv -- --warm-up-time 1 --measurement-time 3`.

use std::time::Duration;

use benches::Work;
use criterion::{criterion_group, criterion_main, Criterion};
use engine::ops::conv::{conv2d_grad_input, conv2d_grad_weight};
use engine::{no_grad, Device, Tensor};

/// One convolution: x [n, cin, h, w], weight [cout, cin, k, k].
struct Case {
    name: &'static str,
    n: usize,
    cin: usize,
    cout: usize,
    h: usize,
    k: usize,
    stride: usize,
    pad: usize,
}

const fn case(name: &'static str, cin: usize, cout: usize, h: usize, stride: usize) -> Case {
    Case {
        name,
        n: 64,
        cin,
        cout,
        h,
        k: 3,
        stride,
        pad: 1,
    }
}

const CASES: &[Case] = &[
    case("issue 64x32->32 28x28", 32, 32, 28, 1),
    case("unet 64x32->32 32x32", 32, 32, 32, 1),
    case("unet 64x64->64 16x16", 64, 64, 16, 1),
    case("unet 64x128->128 8x8", 128, 128, 8, 1),
    case("unet down 64x32->64 32x32 s2", 32, 64, 32, 2),
];

impl Case {
    fn out(&self) -> usize {
        (self.h + 2 * self.pad - self.k) / self.stride + 1
    }
    fn flops(&self) -> u64 {
        let o = self.out();
        (2 * self.n * self.cout * o * o * self.cin * self.k * self.k) as u64
    }
}

fn operand(dev: &Device, shape: &[usize]) -> Tensor {
    let n: usize = shape.iter().product();
    let data: Vec<f32> = (0..n)
        .map(|i| ((i * 7919 % 1000) as f32 - 500.0) / 1000.0)
        .collect();
    Tensor::from_slice(dev, &data, shape)
}

fn bench_conv(c: &mut Criterion) {
    let dev = benches::device();
    let mut group = c.benchmark_group("conv2d");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3));
    for cs in CASES {
        let x_shape = [cs.n, cs.cin, cs.h, cs.h];
        let w_shape = [cs.cout, cs.cin, cs.k, cs.k];
        let x = operand(&dev, &x_shape);
        let w = operand(&dev, &w_shape);
        let b = operand(&dev, &[cs.cout]);
        let dy = operand(&dev, &[cs.n, cs.cout, cs.out(), cs.out()]);
        let f = Work::Flops(cs.flops());
        let (s, p) = (cs.stride, cs.pad);
        let fwd = || {
            drop(std::hint::black_box(no_grad(|| {
                x.conv2d(&w, Some(&b), s, p)
            })))
        };
        benches::bench(
            &mut group,
            "conv2d",
            &dev,
            &format!("{} forward", cs.name),
            f,
            fwd,
        );
        let dx = || {
            drop(std::hint::black_box(conv2d_grad_input(
                &dy, &w, &x_shape, s, p,
            )))
        };
        benches::bench(
            &mut group,
            "conv2d",
            &dev,
            &format!("{} grad-input", cs.name),
            f,
            dx,
        );
        let dw = || {
            drop(std::hint::black_box(conv2d_grad_weight(
                &x, &dy, &w_shape, s, p,
            )))
        };
        benches::bench(
            &mut group,
            "conv2d",
            &dev,
            &format!("{} grad-weight", cs.name),
            f,
            dw,
        );
    }
    group.finish();
}

criterion_group!(conv, bench_conv);
criterion_main!(conv);
