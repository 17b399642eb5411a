//! Chapter 0: the engine at work. Fits an MLP to a 1-D function by gradient descent, with a
//! progress bar, checkpoints and `--resume`, then prints what it measured and a plot.
//!
//!     cargo run --release -p tutorials --bin ch00_engine
//!
//! Everything runs on the GPU through the engine: data sampling (the device's Philox RNG), the
//! target function, the forward pass, autodiff, and Adam.

use std::path::PathBuf;
use std::time::Instant;

use clap::Parser;
use engine::checkpoint::Checkpoint;
use engine::optim::{Adam, Optimizer, WarmupCosine};
use engine::{no_grad, Device, Tensor};
use models::nn::{Activation, Mlp};
use tutorials::{progress::training_bar, term_plot::plot};

#[derive(Parser)]
#[command(about = "Chapter 0: fit an MLP to f(x) = sin(3x) exp(-x^2/4) + x/2 on [-2, 2]")]
struct Args {
    /// Training steps.
    #[arg(long, default_value_t = 2000)]
    steps: u64,
    /// Points per batch, drawn fresh every step.
    #[arg(long, default_value_t = 256)]
    batch: usize,
    /// Width of each of the 3 hidden layers.
    #[arg(long, default_value_t = 64)]
    hidden: usize,
    /// Peak learning rate (linear warm-up, then cosine decay).
    #[arg(long, default_value_t = 3e-3)]
    lr: f32,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Folder for the checkpoint.
    #[arg(long, default_value = "out/ch00_engine")]
    out: PathBuf,
    /// Save a checkpoint every this many steps (and at the end).
    #[arg(long, default_value_t = 500)]
    checkpoint_every: u64,
    /// Continue from the checkpoint in --out.
    #[arg(long)]
    resume: bool,
    /// A tiny run (for tests): 100 steps.
    #[arg(long)]
    quick: bool,
}

/// The function to learn, built from engine ops: f(x) = sin(3x) exp(-x^2/4) + x/2.
fn target(x: &Tensor) -> Tensor {
    x.mul_scalar(3.0)
        .sin()
        .mul(&x.square().mul_scalar(-0.25).exp())
        .add(&x.mul_scalar(0.5))
}

fn main() {
    let mut args = Args::parse();
    if args.quick {
        args.steps = args.steps.min(100);
    }
    if let Err(e) = run(&args) {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

fn run(args: &Args) -> Result<(), Box<dyn std::error::Error>> {
    let dev = Device::new()?;
    println!("adapter: {}", dev.describe());
    dev.manual_seed(args.seed);
    let h = args.hidden;
    let mlp = Mlp::new(&dev, &[1, h, h, h, 1], Activation::Silu);
    let named = mlp.params();
    let named: Vec<(&str, &Tensor)> = named.iter().map(|(n, t)| (n.as_str(), t)).collect();
    let params: Vec<Tensor> = named.iter().map(|(_, t)| (*t).clone()).collect();
    println!(
        "model: MLP 1 -> {h} -> {h} -> {h} -> 1 (SiLU), {} parameters",
        mlp.num_params()
    );
    let mut opt = Adam::new(&params, args.lr);
    let schedule = WarmupCosine {
        base_lr: args.lr,
        min_lr: args.lr * 0.05,
        warmup_steps: args.steps / 20,
        total_steps: args.steps,
    };

    std::fs::create_dir_all(&args.out)
        .map_err(|e| format!("creating {}: {e}", args.out.display()))?;
    let ckpt_path = args.out.join("checkpoint.safetensors");
    let mut start = 0;
    if args.resume {
        let ck = Checkpoint::load(&ckpt_path)?;
        start = ck.restore_training(&named, &mut opt, &dev)?;
        println!("resumed from {} at step {start}", ckpt_path.display());
    }

    let bar = training_bar(args.steps, start);
    let t0 = Instant::now();
    let mut last_loss = f32::NAN;
    for step in start..args.steps {
        opt.set_lr(schedule.lr(step));
        // x ~ U[-2, 2), y = f(x): sampled on the GPU each step.
        let x = Tensor::rand(&dev, &[args.batch, 1])
            .mul_scalar(4.0)
            .add_scalar(-2.0);
        let y = target(&x);
        let loss = mlp.forward(&x).mse_loss(&y);
        loss.backward();
        opt.step();
        opt.zero_grad();
        if step % 50 == 0 || step + 1 == args.steps {
            last_loss = loss.item(); // a readback waits for the GPU: do it rarely
            bar.set_message(format!("loss {last_loss:.3e}"));
        }
        bar.inc(1);
        if (step + 1) % args.checkpoint_every == 0 || step + 1 == args.steps {
            Checkpoint::training(&named, &opt, &dev, step + 1).save(&ckpt_path)?;
        }
    }
    dev.sync()?;
    bar.finish();
    let secs = t0.elapsed().as_secs_f64();
    let trained = args.steps - start;

    // Evaluate on an even grid, without recording a graph.
    let n = 401;
    let (xs, fit, truth) = no_grad(|| {
        let x = Tensor::linspace(&dev, -2.0, 2.0, n).reshape(&[n, 1]);
        (x.to_vec(), mlp.forward(&x).to_vec(), target(&x).to_vec())
    });
    let mse: f64 = fit
        .iter()
        .zip(&truth)
        .map(|(a, b)| ((a - b) as f64).powi(2))
        .sum::<f64>()
        / n as f64;

    println!();
    println!(
        "trained {trained} steps in {secs:.1} s: {:.1} steps/s ({:.2} ms per step)",
        trained as f64 / secs,
        1e3 * secs / trained.max(1) as f64
    );
    println!("last batch loss (MSE): {last_loss:.3e}");
    println!("MSE against f on a grid of {n} points in [-2, 2]: {mse:.2e}");
    println!("checkpoint: {}", ckpt_path.display());
    let every = |v: &[f32]| {
        xs.iter()
            .zip(v)
            .step_by(5)
            .map(|(&a, &b)| (a, b))
            .collect::<Vec<_>>()
    };
    let (t, f) = (every(&truth), every(&fit));
    println!("\n{}", plot(&[("f(x)", '.', &t), ("MLP", '*', &f)], 72, 18));
    Ok(())
}
