//! Where a U-Net training step's time goes, kernel by kernel (`DeviceOptions::profile`).
//!
//!     cargo run --release -p models --example unet_profile            # chapter 6's default model, batch 16
//!     cargo run --release -p models --example unet_profile -- lab3 64 # lab 3's model at batch 64
//!
//! Times `UNetTrainer::train_step` (forward, CFG CondOT loss, backward, Adam, EMA) on random
//! images as a real run does it, then on a profiling device (2 steps to warm up, 3 profiled)
//! prints each kernel's share. Every profiled dispatch is waited for on its own, so the
//! profiled total is larger than the unprofiled step; the shares are the point.

use engine::{Device, DeviceOptions, Tensor};
use models::nn::unet::{TrainSettings, UNet, UNetConfig, UNetTrainer};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let model = args.first().map(String::as_str).unwrap_or("ch06");
    let batch: usize = args
        .get(1)
        .map(|b| b.parse().expect("batch: a number"))
        .unwrap_or(16);
    let config = match model {
        "ch06" => UNetConfig::small(),
        "lab3" => UNetConfig::lab3(),
        other => panic!("model {other:?}: use ch06 or lab3"),
    };
    // Unprofiled first: the real step time.
    let plain = Device::new().expect("no wgpu adapter");
    println!("adapter: {}", plain.describe());
    let (mut trainer, z, labels) = setup(&plain, &config, batch);
    println!(
        "model {model}: {} parameters, batch {batch}",
        trainer.unet.num_params()
    );
    let per_step = time_steps(&plain, &mut trainer, &z, &labels);
    println!(
        "unprofiled: {:.0} ms per step (median of 3 after 2 to warm up)",
        per_step * 1e3
    );
    drop(trainer);

    let dev = Device::with_options(DeviceOptions {
        profile: true,
        ..Default::default()
    })
    .expect("no wgpu adapter");
    let (mut trainer, z, labels) = setup(&dev, &config, batch);
    for _ in 0..2 {
        drop(trainer.train_step(&z, &labels));
    }
    dev.sync().unwrap();
    dev.profile_reset();
    let steps = 3;
    let t = std::time::Instant::now();
    for _ in 0..steps {
        drop(trainer.train_step(&z, &labels));
    }
    dev.sync().unwrap();
    println!(
        "{steps} profiled steps in {:.2} s ({:.0} ms per step, profiling included)\n",
        t.elapsed().as_secs_f64(),
        t.elapsed().as_secs_f64() * 1e3 / steps as f64
    );
    print!("{}", engine::profile::format_report(&dev.profile_report()));
}

/// A trainer for `config` on `dev` (seeded), random images in [-1, 1] and cycling labels.
fn setup(dev: &Device, config: &UNetConfig, batch: usize) -> (UNetTrainer, Tensor, Vec<u32>) {
    dev.manual_seed(0);
    let settings = TrainSettings {
        lr: 1e-3,
        eta: 0.1,
        ema_decay: 0.999,
        seed: 0,
    };
    let trainer = UNetTrainer::new(UNet::new(dev, config), settings);
    let z = Tensor::rand(dev, &[batch, 1, 32, 32])
        .mul_scalar(2.0)
        .add_scalar(-1.0);
    let labels = (0..batch as u32).map(|i| i % 10).collect();
    (trainer, z, labels)
}

/// Seconds per step: the median of 3 synced steps, after 2 to warm up.
fn time_steps(dev: &Device, trainer: &mut UNetTrainer, z: &Tensor, labels: &[u32]) -> f64 {
    let mut times = Vec::new();
    for i in 0..5 {
        let t = std::time::Instant::now();
        drop(trainer.train_step(z, labels));
        dev.sync().unwrap();
        if i >= 2 {
            times.push(t.elapsed().as_secs_f64());
        }
    }
    times.sort_by(|a, b| a.partial_cmp(b).unwrap());
    times[1]
}
