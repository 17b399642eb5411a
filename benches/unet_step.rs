//! One full training step of lab 3's U-Net on MNIST-sized images (batch 64, 32 x 32): CFG
//! CondOT flow-matching loss, backward, Adam and the EMA update (`UNetTrainer::train_step`),
//! for lab 3's model and for chapter 6's default model.
//!
//! - `lab3`: channels [32, 64, 128], 2 residual layers per stage (1.23 M parameters).
//! - `ch06_default`: channels [8, 16, 32], 1 residual layer (the chapter's default model; it trains
//!   at batch 16, benched here at 64 like lab 3).
//!
//! Throughput counts the convolutions' FLOPs only, x3 for forward + the two backward
//! products (`UNet::conv_flops`); the adapters, norms and elementwise work come on top, so
//! criterion's "Gelem/s" reads as GFLOP/s of useful conv work. Group norm, as the chapter's
//! default. Run: `cargo bench -p benches --bench unet_step -- --warm-up-time 1 --measurement-time 3`.

use std::time::Duration;

use benches::Work;
use criterion::{criterion_group, criterion_main, Criterion};
use engine::Tensor;
use models::nn::unet::{NormKind, TrainSettings, UNet, UNetConfig, UNetTrainer};

const BATCH: usize = 64;
const SIDE: usize = 32;

fn step_bench(c: &mut Criterion, name: &str, config: UNetConfig) {
    let dev = benches::device();
    dev.manual_seed(0);
    let unet = UNet::new(&dev, &config);
    let flops = 3 * unet.conv_flops(BATCH, SIDE, SIDE);
    eprintln!(
        "{name}: {} parameters, {:.2} GFLOP of convs per step",
        unet.num_params(),
        flops as f64 / 1e9
    );
    let settings = TrainSettings {
        lr: 1e-3,
        eta: 0.1,
        ema_decay: 0.999,
        seed: 0,
    };
    let mut trainer = UNetTrainer::new(unet, settings);
    // Fixed data: the bench times the step, not the data pipeline.
    let z = Tensor::rand(&dev, &[BATCH, 1, SIDE, SIDE])
        .mul_scalar(2.0)
        .add_scalar(-1.0);
    let labels: Vec<u32> = (0..BATCH as u32).map(|i| i % 10).collect();
    let mut group = c.benchmark_group("unet_step");
    group.sample_size(10);
    group.warm_up_time(Duration::from_secs(1));
    let step = || drop(trainer.train_step(&z, &labels));
    benches::bench(
        &mut group,
        "unet_step",
        &dev,
        name,
        Work::Flops(flops),
        step,
    );
    group.finish();
}

fn unet_steps(c: &mut Criterion) {
    let group_norm = |channels: Vec<usize>, layers: usize| UNetConfig {
        channels,
        layers,
        norm: NormKind::Group,
        ..UNetConfig::lab3()
    };
    step_bench(
        c,
        "ch06_default_8_16_32_l1_batch64",
        group_norm(vec![8, 16, 32], 1),
    );
    step_bench(
        c,
        "lab3_32_64_128_l2_batch64",
        group_norm(vec![32, 64, 128], 2),
    );
}

criterion_group!(benches, unet_steps);
criterion_main!(benches);
