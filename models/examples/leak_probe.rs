//! Whether a training step's memory stays flat: trains chapter 6's default U-Net (batch 16) on
//! random images (or, with `mlp`, the course's flow-matching MLP on random points) and prints the process's resident memory and the time per step every 20
//! steps. Resident memory should stop growing after the first steps; a steady climb is a leak
//! outside the engine's buffer pool (whose size `DeviceStats` reports), e.g. a driver that
//! compiles a shader again at every dispatch (see shaders/conv_grad_weight_rows.wgsl).
//!
//!     cargo run --release -p models --example leak_probe [-- STEPS [mlp]]
//!
//! Linux only (it reads /proc/self/statm).

use std::time::Instant;

use engine::{Device, Tensor};
use models::nn::unet::{TrainSettings, UNet, UNetConfig, UNetTrainer};

fn resident_mb() -> f64 {
    let statm = std::fs::read_to_string("/proc/self/statm").expect("/proc/self/statm (Linux)");
    let pages: f64 = statm.split_whitespace().nth(1).unwrap().parse().unwrap();
    pages * 4096.0 / 1e6
}

fn main() {
    let steps: usize = std::env::args()
        .nth(1)
        .map(|s| s.parse().expect("STEPS: a number"))
        .unwrap_or(200);
    let dev = Device::new().expect("no wgpu adapter");
    println!("adapter: {}", dev.describe());
    let mut step_fn: Box<dyn FnMut()> = if std::env::args().any(|a| a == "mlp") {
        mlp_step(&dev)
    } else {
        unet_step(&dev)
    };
    let mut clock = Instant::now();
    for step in 1..=steps {
        step_fn();
        if step % 20 == 0 {
            dev.sync().unwrap();
            let s = dev.stats();
            println!(
                "step {step:>5}: resident {:7.1} MB, pool {:6.1} MiB, {:6.1} ms per step",
                resident_mb(),
                s.allocated_bytes as f64 / 1048576.0,
                clock.elapsed().as_secs_f64() * 1e3 / 20.0
            );
            clock = Instant::now();
        }
    }
}

/// One step of the course's MLP [x, t] -> 64 x4 -> 2 (batch 1000, MSE, Adam).
fn mlp_step(dev: &Device) -> Box<dyn FnMut()> {
    let mlp = models::nn::Mlp::new(dev, &[3, 64, 64, 64, 64, 2], models::nn::Activation::Silu);
    let params: Vec<Tensor> = mlp.params().into_iter().map(|(_, t)| t).collect();
    let mut opt = engine::optim::Adam::new(&params, 1e-3);
    let x = Tensor::randn(dev, &[1000, 3]);
    let y = Tensor::randn(dev, &[1000, 2]);
    Box::new(move || {
        use engine::optim::Optimizer;
        mlp.forward(&x).mse_loss(&y).backward();
        opt.step();
        opt.zero_grad();
    })
}

/// One step of chapter 6's default U-Net (batch 16, CFG CondOT loss, Adam, EMA).
fn unet_step(dev: &Device) -> Box<dyn FnMut()> {
    let config = UNetConfig::small();
    let settings = TrainSettings {
        lr: 3e-3,
        eta: 0.1,
        ema_decay: 0.999,
        seed: 0,
    };
    let mut trainer = UNetTrainer::new(UNet::new(dev, &config), settings);
    let z = Tensor::rand(dev, &[16, 1, 32, 32])
        .mul_scalar(2.0)
        .add_scalar(-1.0);
    let labels: Vec<u32> = (0..16u32).map(|i| i % 10).collect();
    Box::new(move || drop(trainer.train_step(&z, &labels)))
}
