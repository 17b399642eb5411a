//! Where an MLP training step's time goes, kernel by kernel (`DeviceOptions::profile`): the
//! two steps `benches/mlp_step.rs` times.
//!
//!     cargo run --release -p models --example mlp_profile            # the course's MLP
//!     cargo run --release -p models --example mlp_profile -- wide    # 2 -> 256 x3 -> 2, batch 1024
//!
//! Prints the unprofiled step time and dispatches per step, then each kernel's share over
//! 5 profiled steps (every profiled dispatch is waited for on its own, so the profiled total
//! is larger than the unprofiled step; the shares and counts are the point).

use std::time::Instant;

use engine::optim::{Adam, Optimizer};
use engine::{Device, DeviceOptions, Tensor};
use models::nn::{Activation, Mlp};

struct Step {
    mlp: Mlp,
    opt: Adam,
    x: Tensor,
    y: Tensor,
}

impl Step {
    fn new(dev: &Device, dims: &[usize], batch: usize) -> Step {
        dev.manual_seed(0);
        let mlp = Mlp::new(dev, dims, Activation::Silu);
        let params: Vec<Tensor> = mlp.params().into_iter().map(|(_, t)| t).collect();
        let opt = Adam::new(&params, 1e-3);
        let x = Tensor::randn(dev, &[batch, dims[0]]);
        let y = Tensor::randn(dev, &[batch, *dims.last().unwrap()]);
        Step { mlp, opt, x, y }
    }

    fn run(&mut self) {
        let loss = self.mlp.forward(&self.x).mse_loss(&self.y);
        loss.backward();
        self.opt.step();
        self.opt.zero_grad();
    }
}

fn main() {
    let wide = std::env::args().any(|a| a == "wide");
    let (dims, batch): (&[usize], usize) = if wide {
        (&[2, 256, 256, 256, 2], 1024)
    } else {
        (&[3, 64, 64, 64, 64, 2], 1000)
    };
    let plain = Device::new().expect("no wgpu adapter");
    println!("adapter: {}", plain.describe());
    println!("MLP {dims:?}, batch {batch}");
    let mut step = Step::new(&plain, dims, batch);
    for _ in 0..3 {
        step.run();
    }
    plain.sync().unwrap();
    let before = plain.stats().dispatches;
    let mut times = Vec::new();
    for _ in 0..15 {
        let t = Instant::now();
        step.run();
        plain.sync().unwrap();
        times.push(t.elapsed().as_secs_f64());
    }
    times.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let per_step = (plain.stats().dispatches - before) / 15;
    println!(
        "unprofiled: {:.2} ms per step (median of 15), {per_step} dispatches per step",
        times[7] * 1e3
    );
    let dev = Device::with_options(DeviceOptions {
        profile: true,
        ..Default::default()
    })
    .unwrap();
    let mut step = Step::new(&dev, dims, batch);
    step.run();
    dev.sync().unwrap();
    dev.profile_reset();
    for _ in 0..5 {
        step.run();
    }
    dev.sync().unwrap();
    println!("\n5 profiled steps:");
    print!("{}", engine::profile::format_report(&dev.profile_report()));
}
