//! matmul throughput: square products, the shapes of an MLP and an attention layer, and the
//! transposed products their backward passes run.
//!
//! Throughput is `Elements(2*M*N*K)`, the flop count, so the "Gelem/s" criterion prints is
//! GFLOP/s. Run: `cargo bench -p benches --bench matmul`.

use std::time::Duration;

use benches::Work;
use criterion::{criterion_group, criterion_main, Criterion, SamplingMode};
use engine::{Device, Tensor};

/// One product: a ([batch,] rows, cols as stored) op b, with the transpose flags.
struct Case {
    name: &'static str,
    batch: usize,
    a: [usize; 2],
    b: [usize; 2],
    trans_a: bool,
    trans_b: bool,
}

const fn case(
    name: &'static str,
    batch: usize,
    a: [usize; 2],
    b: [usize; 2],
    trans_a: bool,
    trans_b: bool,
) -> Case {
    Case {
        name,
        batch,
        a,
        b,
        trans_a,
        trans_b,
    }
}

const CASES: &[Case] = &[
    case("square 256", 1, [256, 256], [256, 256], false, false),
    case("square 512", 1, [512, 512], [512, 512], false, false),
    case("square 1024", 1, [1024, 1024], [1024, 1024], false, false),
    case("square 2048", 1, [2048, 2048], [2048, 2048], false, false),
    // MLP layer, batch 1024, width 256: forward x @ W, and backward dX = dY @ W^T, dW = X^T @ dY.
    case(
        "mlp [1024,256]x[256,256]",
        1,
        [1024, 256],
        [256, 256],
        false,
        false,
    ),
    case(
        "mlp dX [1024,256]x[256,256]^T",
        1,
        [1024, 256],
        [256, 256],
        false,
        true,
    ),
    case(
        "mlp dW [1024,256]^T x[1024,256]",
        1,
        [1024, 256],
        [1024, 256],
        true,
        false,
    ),
    case(
        "small [1000,64]x[64,64]",
        1,
        [1000, 64],
        [64, 64],
        false,
        false,
    ),
    // The thin layers of the two MLPs `mlp_step` times, forward and backward: an input of 3
    // (or 2) values, an output of 2, and their gradients (operands whose rows are not whole
    // copy rows, on CPU adapters).
    case("thin [1000,3]x[3,64]", 1, [1000, 3], [3, 64], false, false),
    case(
        "thin [1000,64]x[64,2]",
        1,
        [1000, 64],
        [64, 2],
        false,
        false,
    ),
    case(
        "thin dX [1000,2]x[64,2]^T",
        1,
        [1000, 2],
        [64, 2],
        false,
        true,
    ),
    case(
        "thin dW [1000,64]^T x[1000,2]",
        1,
        [1000, 64],
        [1000, 2],
        true,
        false,
    ),
    case(
        "thin dW [1000,3]^T x[1000,64]",
        1,
        [1000, 3],
        [1000, 64],
        true,
        false,
    ),
    case(
        "thin [1024,2]x[2,256]",
        1,
        [1024, 2],
        [2, 256],
        false,
        false,
    ),
    case(
        "thin [1024,256]x[256,2]",
        1,
        [1024, 256],
        [256, 2],
        false,
        false,
    ),
    case(
        "thin dX [1024,2]x[256,2]^T",
        1,
        [1024, 2],
        [256, 2],
        false,
        true,
    ),
    case(
        "thin dW [1024,256]^T x[1024,2]",
        1,
        [1024, 256],
        [1024, 2],
        true,
        false,
    ),
    case(
        "thin dW [1024,2]^T x[1024,256]",
        1,
        [1024, 2],
        [1024, 256],
        true,
        false,
    ),
    // Attention scores of 64 heads x batch, T = 128, head dim 64: Q @ K^T, then P @ V.
    case(
        "attn 64x [128,64]x[64,128]",
        64,
        [128, 64],
        [64, 128],
        false,
        false,
    ),
    case(
        "attn 64x [128,64]x[128,64]^T",
        64,
        [128, 64],
        [128, 64],
        false,
        true,
    ),
];

fn flops(c: &Case) -> u64 {
    let (m, k) = if c.trans_a {
        (c.a[1], c.a[0])
    } else {
        (c.a[0], c.a[1])
    };
    let n = if c.trans_b { c.b[0] } else { c.b[1] };
    (2 * c.batch * m * n * k) as u64
}

fn operand(dev: &Device, batch: usize, shape: [usize; 2]) -> Tensor {
    let full: Vec<usize> = if batch > 1 {
        vec![batch, shape[0], shape[1]]
    } else {
        shape.to_vec()
    };
    let n: usize = full.iter().product();
    let data: Vec<f32> = (0..n)
        .map(|i| ((i * 7919 % 1000) as f32 - 500.0) / 1000.0)
        .collect();
    Tensor::from_slice(dev, &data, &full)
}

fn bench_matmul(c: &mut Criterion) {
    let dev = benches::device();
    let mut group = c.benchmark_group("matmul");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500));
    // 4096^3 (137 GFLOP) only where it takes well under a second: not on a CPU adapter.
    let big = case("square 4096", 1, [4096, 4096], [4096, 4096], false, false);
    let on_gpu = dev.info().device_type != engine::wgpu::DeviceType::Cpu;
    for case in CASES.iter().chain(on_gpu.then_some(&big)) {
        let f = flops(case);
        // Large products: one iteration per sample, a short measurement budget.
        if f > 1 << 30 {
            group
                .sampling_mode(SamplingMode::Flat)
                .measurement_time(Duration::from_secs(5));
        } else {
            group
                .sampling_mode(SamplingMode::Auto)
                .measurement_time(Duration::from_secs(3));
        }
        let a = operand(&dev, case.batch, case.a);
        let b = operand(&dev, case.batch, case.b);
        let work = || {
            drop(std::hint::black_box(a.matmul_t(
                &b,
                case.trans_a,
                case.trans_b,
            )))
        };
        benches::bench(&mut group, "matmul", &dev, case.name, Work::Flops(f), work);
    }
    group.finish();
}

criterion_group!(matmul, bench_matmul);
criterion_main!(matmul);
