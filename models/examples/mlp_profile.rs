//! Where an MLP training step's time goes, kernel by kernel (`DeviceOptions::profile`): the
//! two steps `benches/mlp_step.rs` times.
//!
//!     cargo run --release -p models --example mlp_profile            # the course's MLP
//!     cargo run --release -p models --example mlp_profile -- wide    # 2 -> 256 x3 -> 2, batch 1024
//!     cargo run --release -p models --example mlp_profile -- --time  # the step time only
//!     cargo run --release -p models --example mlp_profile -- --batch 8  # another batch size
//!     cargo run --release -p models --example mlp_profile -- --buffer-reads  # no texture copies
//!
//! Prints the unprofiled step time (the fastest, first quartile and median of 300 steps each
//! followed by a sync: on a shared 2-core machine the median moves by 20% from run to run, the
//! low quantiles much less), the mean of 300 steps run back to back with one sync at the end
//! (as `benches/mlp_step.rs` times them), the CPU time of recording a step, and dispatches per
//! step, then each kernel's share over
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
    let args: Vec<String> = std::env::args().collect();
    let flag = |name: &str| args.iter().any(|a| a == name);
    let (wide, time_only) = (flag("wide"), flag("--time"));
    let (dims, mut batch): (&[usize], usize) = if wide {
        (&[2, 256, 256, 256, 2], 1024)
    } else {
        (&[3, 64, 64, 64, 64, 2], 1000)
    };
    // `--batch N` overrides (a tiny batch leaves the fixed cost of the step's dispatches).
    if let Some(i) = args.iter().position(|a| a == "--batch") {
        batch = args[i + 1].parse().expect("--batch N");
    }
    // `--buffer-reads`: elementwise kernels read storage buffers, not texture copies.
    let opts = DeviceOptions {
        texture_reads: flag("--buffer-reads").then_some(false),
        ..Default::default()
    };
    let plain = Device::with_options(opts.clone()).expect("no wgpu adapter");
    println!("adapter: {}", plain.describe());
    println!("MLP {dims:?}, batch {batch}");
    let mut step = Step::new(&plain, dims, batch);
    for _ in 0..3 {
        step.run();
    }
    plain.sync().unwrap();
    let before = plain.stats().dispatches;
    let (mut times, mut recording) = (Vec::new(), Vec::new());
    const STEPS: usize = 300;
    for _ in 0..STEPS {
        let t = Instant::now();
        step.run();
        recording.push(t.elapsed().as_secs_f64());
        plain.sync().unwrap();
        times.push(t.elapsed().as_secs_f64());
    }
    recording.sort_by(|a, b| a.partial_cmp(b).unwrap());
    // As the criterion bench times it: the steps back to back, one sync at the end.
    let t = Instant::now();
    for _ in 0..STEPS {
        step.run();
    }
    plain.sync().unwrap();
    let back_to_back = t.elapsed().as_secs_f64() / STEPS as f64;
    println!(
        "back to back (one sync after {STEPS} steps): {:.2} ms per step",
        back_to_back * 1e3
    );
    if flag("--trace") {
        let ms: Vec<String> = times.iter().map(|t| format!("{:.0}", t * 1e3)).collect();
        println!("step times (ms): {}", ms.join(" "));
    }
    times.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let per_step = (plain.stats().dispatches - before) / (2 * STEPS) as u64;
    println!(
        "unprofiled: {:.2} ms per step fastest, {:.2} first quartile, {:.2} median of {STEPS}; \
         {per_step} dispatches per step",
        times[0] * 1e3,
        times[STEPS / 4] * 1e3,
        times[STEPS / 2] * 1e3
    );
    println!(
        "recording a step (before its sync): {:.2} ms median",
        recording[STEPS / 2] * 1e3
    );
    if time_only {
        return;
    }
    let dev = Device::with_options(DeviceOptions {
        profile: true,
        ..opts
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
