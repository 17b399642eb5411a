//! Where a U-Net training step's time goes, kernel by kernel (`DeviceOptions::profile`).
//!
//!     cargo run --release -p models --example unet_profile            # chapter 6's default model, batch 16
//!     cargo run --release -p models --example unet_profile -- lab3 64 # lab 3's model at batch 64
//!
//! Runs 2 steps to warm up (pipelines compiled, pool filled), then profiles 3 steps of
//! `UNetTrainer::train_step` (forward, CFG CondOT loss, backward, Adam, EMA) on random images
//! and prints each kernel's share. Every dispatch is waited for on its own, so the total is
//! larger than an unprofiled step; the shares are the point.

use engine::{Device, DeviceOptions, Tensor};
use models::nn::unet::{NormKind, TrainSettings, UNet, UNetConfig, UNetTrainer};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let model = args.first().map(String::as_str).unwrap_or("ch06");
    let batch: usize = args
        .get(1)
        .map(|b| b.parse().expect("batch: a number"))
        .unwrap_or(16);
    let config = match model {
        "ch06" => UNetConfig {
            channels: vec![8, 16, 32],
            layers: 1,
            norm: NormKind::Group,
            ..UNetConfig::lab3()
        },
        "lab3" => UNetConfig::lab3(),
        other => panic!("model {other:?}: use ch06 or lab3"),
    };
    let dev = Device::with_options(DeviceOptions {
        profile: true,
        ..Default::default()
    })
    .expect("no wgpu adapter");
    println!("adapter: {}", dev.describe());
    dev.manual_seed(0);
    let unet = UNet::new(&dev, &config);
    println!(
        "model {model}: {} parameters, batch {batch}",
        unet.num_params()
    );
    let settings = TrainSettings {
        lr: 1e-3,
        eta: 0.1,
        ema_decay: 0.999,
        seed: 0,
    };
    let mut trainer = UNetTrainer::new(unet, settings);
    let z = Tensor::rand(&dev, &[batch, 1, 32, 32])
        .mul_scalar(2.0)
        .add_scalar(-1.0);
    let labels: Vec<u32> = (0..batch as u32).map(|i| i % 10).collect();
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
