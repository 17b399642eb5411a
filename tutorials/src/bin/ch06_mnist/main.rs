//! Chapter 6: a conditional U-Net trained by flow matching with classifier-free guidance on
//! MNIST, then sampled with guidance (MIT 6.S184 lab 3).
//!
//!     cargo run --release -p tutorials --bin ch06_mnist              # train, then sample
//!     cargo run --release -p tutorials --bin ch06_mnist -- train     # train (or --resume)
//!     cargo run --release -p tutorials --bin ch06_mnist -- sample    # sample the last checkpoint
//!     cargo run --release -p tutorials --bin ch06_mnist -- classifier   # then `eval`: score the samples
//!
//! Legend: N = batch, H = W = 32 (MNIST's 28 x 28 resized as in lab 3), P = H * W.
//! The chapter is thin: the model, the loss, the trainer and the guided field live in
//! `models::nn::unet`; here are the command line, the data batches, the loop with its progress
//! bar and checkpoints (`train.rs`), and sampling and figures (`sample.rs`).

mod data;
mod sample;
mod settings;
mod train;

use clap::{Parser, Subcommand};
use settings::{ModelArgs, SampleArgs, TrainArgs};
use tutorials::mnist_eval::{classifier_command, eval_command, ClassifierArgs, EvalArgs};

#[derive(Parser)]
#[command(
    about = "Chapter 6: a conditional U-Net on MNIST by flow matching with classifier-free guidance (lab 3)",
    args_conflicts_with_subcommands = true
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    /// With no subcommand: train, then sample.
    #[command(flatten)]
    model: ModelArgs,
    #[command(flatten)]
    train: TrainArgs,
    #[command(flatten)]
    sample: SampleArgs,
}

#[derive(Subcommand)]
enum Command {
    /// Train the U-Net (CFG flow matching on the CondOT path), with checkpoints and --resume.
    Train {
        #[command(flatten)]
        model: ModelArgs,
        #[command(flatten)]
        train: TrainArgs,
    },
    /// Sample the checkpoint with guidance w in {1, 3, 5}: PNG grids, safetensors, the noising figure.
    Sample {
        #[command(flatten)]
        model: ModelArgs,
        #[command(flatten)]
        sample: SampleArgs,
    },
    /// Train the MNIST classifier that `eval` uses (tutorials::mnist_eval).
    Classifier(ClassifierArgs),
    /// Score the samples_w{w}.safetensors in --out: classifier accuracy and Frechet distance per w.
    Eval(EvalArgs),
}

fn main() {
    let cli = Cli::parse();
    if let Err(e) = run(&cli) {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

fn run(cli: &Cli) -> Result<(), Box<dyn std::error::Error>> {
    // The evaluation commands open their own device.
    match &cli.command {
        Some(Command::Classifier(args)) => return classifier_command(args).map(drop),
        Some(Command::Eval(args)) => return eval_command(args).map(drop),
        _ => {}
    }
    let dev = engine::Device::new()?;
    println!("adapter: {}", dev.describe());
    match &cli.command {
        Some(Command::Train { model, train }) => {
            train::run(&dev, &model.resolve(), &train.resolve(model))
        }
        Some(Command::Sample { model, sample }) => {
            sample::run(&dev, &model.resolve(), &sample.resolve(model))
        }
        None => {
            let m = cli.model.resolve();
            train::run(&dev, &m, &cli.train.resolve(&cli.model))?;
            sample::run(&dev, &m, &cli.sample.resolve(&cli.model))
        }
        Some(Command::Classifier(_) | Command::Eval(_)) => unreachable!("handled above"),
    }
}
