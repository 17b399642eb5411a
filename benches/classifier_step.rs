//! One training step (forward, cross-entropy, backward, Adam) of chapter 6's MNIST classifier
//! (models/src/nn/classifier.rs: three stride-2 3x3 convolutions, 512 -> 128 -> 10), and one
//! feature pass (what the evaluation runs on samples). This is what decides how long
//! `classifier` takes: a full epoch is 60,000 / batch steps.
//!
//! Throughput counts the multiply-adds of the convolutions and linear layers (2 FLOPs each),
//! forward once and, for a training step, backward twice more, so Gelem/s reads as GFLOP/s.

use benches::Work;
use criterion::{criterion_group, criterion_main, Criterion};
use engine::optim::{Adam, Optimizer};
use engine::{no_grad, Tensor};
use models::nn::classifier::{Classifier, SIDE};

/// Multiply-adds of one image's forward pass: conv1 16*16*8*9, conv2 8*8*16*8*9,
/// conv3 4*4*32*16*9, fc1 512*128, fc2 128*10.
const MACS_PER_IMAGE: u64 =
    16 * 16 * 8 * 9 + 8 * 8 * 16 * 8 * 9 + 4 * 4 * 32 * 16 * 9 + 512 * 128 + 128 * 10;

fn classifier(c: &mut Criterion) {
    let dev = benches::device();
    dev.manual_seed(0);
    let net = Classifier::new(&dev);
    let params: Vec<Tensor> = net.params("").into_iter().map(|(_, t)| t).collect();
    let mut opt = Adam::new(&params, 1e-3);
    let mut group = c.benchmark_group("classifier");
    group.sample_size(10);
    for batch in [64usize, 128] {
        // Fixed data: the bench times the step, not the data pipeline.
        let x = Tensor::randn(&dev, &[batch, 1, SIDE, SIDE]);
        let labels: Vec<u32> = (0..batch).map(|i| (i % 10) as u32).collect();
        let flops = 2 * MACS_PER_IMAGE * batch as u64;
        let id = format!("train_step_batch{batch}");
        benches::bench(
            &mut group,
            "classifier",
            &dev,
            &id,
            Work::Flops(3 * flops),
            || {
                opt.zero_grad();
                let loss = net.loss(&x, &labels);
                loss.backward();
                opt.step();
            },
        );
    }
    let x = Tensor::randn(&dev, &[250, 1, SIDE, SIDE]);
    let flops = 2 * MACS_PER_IMAGE * 250;
    benches::bench(
        &mut group,
        "classifier",
        &dev,
        "features_batch250",
        Work::Flops(flops),
        || {
            drop(no_grad(|| net.features(&x)));
        },
    );
    group.finish();
}

criterion_group!(benches, classifier);
criterion_main!(benches);
