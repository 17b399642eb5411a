//! One full training step (forward, MSE loss, backward, Adam) of two MLPs. Small layers make
//! these steps sensitive to per-dispatch and submission overhead, not only kernel speed.
//!
//! - `mlp_2_256x3_2`: 2 -> 256 -> 256 -> 256 -> 2, SiLU, batch 1024.
//! - `course_fm_mlp`: the course's flow-matching MLP, [x, t] (3) -> 64 x4 -> 2, SiLU, batch 1000.
//!
//! Throughput is the step's matmul FLOPs (forward 2*B*sum(in*out), backward twice that), so
//! criterion's Gelem/s reads as GFLOP/s of useful matmul work.

use benches::Work;
use criterion::{criterion_group, criterion_main, Criterion};
use engine::optim::{Adam, Optimizer};
use engine::Tensor;
use models::nn::{Activation, Mlp};

fn step_bench(c: &mut Criterion, name: &str, dims: &[usize], batch: usize) {
    let dev = benches::device();
    dev.manual_seed(0);
    let mlp = Mlp::new(&dev, dims, Activation::Silu);
    let params: Vec<Tensor> = mlp.params().into_iter().map(|(_, t)| t).collect();
    let mut opt = Adam::new(&params, 1e-3);
    // Fixed data: the bench times the step, not the data pipeline.
    let x = Tensor::randn(&dev, &[batch, dims[0]]);
    let y = Tensor::randn(&dev, &[batch, *dims.last().unwrap()]);
    let flops: usize = dims
        .windows(2)
        .map(|w| 2 * batch * w[0] * w[1])
        .sum::<usize>()
        * 3;
    let mut group = c.benchmark_group("mlp_step");
    group.sample_size(20);
    let step = || {
        let loss = mlp.forward(&x).mse_loss(&y);
        loss.backward();
        opt.step();
        opt.zero_grad();
    };
    benches::bench(
        &mut group,
        "mlp_step",
        &dev,
        name,
        Work::Flops(flops as u64),
        step,
    );
    group.finish();
    let s = dev.stats();
    eprintln!(
        "{name}: {} dispatches and {} submits so far; {:.1} MiB in the pool",
        s.dispatches,
        s.submits,
        s.allocated_bytes as f64 / 1048576.0
    );
}

fn mlp_steps(c: &mut Criterion) {
    step_bench(c, "mlp_2_256x3_2_batch1024", &[2, 256, 256, 256, 2], 1024);
    step_bench(
        c,
        "course_fm_mlp_3_64x4_2_batch1000",
        &[3, 64, 64, 64, 64, 2],
        1000,
    );
}

criterion_group!(benches, mlp_steps);
criterion_main!(benches);
