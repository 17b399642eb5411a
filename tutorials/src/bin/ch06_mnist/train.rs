//! `train`: CFG flow matching of the U-Net on MNIST with a progress bar, checkpoints every
//! `--checkpoint-every` steps and `--resume`.
//!
//! Legend: N = batch, S = 32, K = logged losses.

use std::error::Error;
use std::time::Instant;

use engine::checkpoint::Checkpoint;
use engine::Device;
use models::nn::unet::{norm_name, TrainSettings, UNet, UNetConfig, UNetTrainer};
use tutorials::out::Output;
use tutorials::plot::{color, Line, LineChart};
use tutorials::progress::training_bar;

use crate::data::Batches;
use crate::settings::{Model, Train};

/// The checkpoint's file name in the output folder.
pub const CHECKPOINT: &str = "checkpoint.safetensors";
/// The checkpoint tensor holding the logged (step, loss) pairs [K, 2], so a resumed run's
/// loss curve covers the whole training.
const HISTORY: &str = "loss_history";
/// Read the loss back (which waits for the GPU) every this many steps.
const LOG_EVERY: u64 = 10;

/// One line describing the model.
pub fn describe(c: &UNetConfig) -> String {
    let attention = match c.attention_heads {
        0 => "no attention".to_string(),
        h => format!("attention with {h} heads"),
    };
    format!(
        "U-Net channels {:?}, {} residual layer(s) per stage, {} norm, embeddings {}/{}, {attention}",
        c.channels,
        c.layers,
        norm_name(c.norm),
        c.t_dim,
        c.y_dim
    )
}

pub fn run(dev: &Device, m: &Model, t: &Train) -> Result<(), Box<dyn Error>> {
    dev.manual_seed(m.seed);
    let batches = Batches::load(m.data.as_deref(), m.seed)?;
    let mut out = Output::create(&m.out)?;
    let unet = UNet::new(dev, &m.config);
    println!("model ({} profile): {}", m.profile, describe(&m.config));
    println!("parameters: {}", unet.num_params());
    let settings = TrainSettings {
        lr: t.lr,
        eta: t.eta,
        ema_decay: t.ema_decay,
        seed: m.seed,
    };
    let mut trainer = UNetTrainer::new(unet, settings);
    let ckpt_path = m.out.join(CHECKPOINT);
    let mut history: Vec<(f32, f32)> = Vec::new(); // (step, loss)
    if t.resume {
        let ck = Checkpoint::load(&ckpt_path)?;
        trainer.restore(&ck)?;
        if let Some((_, h)) = ck.get(HISTORY) {
            history = h.chunks_exact(2).map(|p| (p[0], p[1])).collect();
        }
        println!(
            "resumed from {} at step {}",
            ckpt_path.display(),
            trainer.step
        );
    }
    let start = trainer.step;
    println!(
        "training: steps {start} -> {}, batch {}, Adam lr {}, eta {}, EMA decay {}",
        t.steps, t.batch, t.lr, t.eta, t.ema_decay
    );
    let bar = training_bar(t.steps, start);
    let clock = Instant::now();
    for step in start..t.steps {
        let (z, labels) = batches.batch(dev, step, t.batch); // z [N, 1, S, S]
        let loss = trainer.train_step(&z, &labels);
        let last = step + 1 == t.steps;
        if step % LOG_EVERY == 0 || last {
            let v = loss.item();
            history.push(((step + 1) as f32, v));
            bar.set_message(format!("loss {v:.4}"));
        }
        bar.inc(1);
        if (step + 1) % t.checkpoint_every == 0 || last {
            let mut ck = trainer.checkpoint();
            let flat: Vec<f32> = history.iter().flat_map(|&(s, l)| [s, l]).collect();
            ck.insert_data(HISTORY, &[history.len(), 2], flat);
            ck.save(&ckpt_path)?;
        }
    }
    dev.sync()?;
    bar.finish();
    let secs = clock.elapsed().as_secs_f64();
    let trained = t.steps.saturating_sub(start);
    println!(
        "trained {trained} steps in {secs:.1} s ({:.3} s per step, {:.2} steps/s)",
        secs / trained.max(1) as f64,
        trained as f64 / secs.max(1e-9)
    );
    if let (Some(first), Some(last)) = (history.first(), history.last()) {
        println!(
            "loss: {:.4} at step {} -> {:.4} at step {}",
            first.1, first.0, last.1, last.0
        );
    }
    println!("checkpoint: {}", ckpt_path.display());
    let points = history.iter().map(|&(s, l)| (s as f64, l as f64)).collect();
    let chart = LineChart::new(
        format!("CFG flow-matching loss (every {LOG_EVERY} steps, one batch each)"),
        "step",
        "per-pixel MSE",
    )
    .line(Line::new(points, color(0)));
    out.png("loss.png", (800, 450), &chart)?;
    out.print_written();
    Ok(())
}
