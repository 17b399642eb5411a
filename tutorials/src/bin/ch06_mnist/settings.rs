//! The command line of chapter 6 and the profiles it resolves to.
//!
//! A profile sets every size (`--profile default`: sized for about half an hour on a 2-core CPU
//! through lavapipe; `--profile full`: lab 3's model and schedule, for a GPU; `--quick`: a tiny
//! run for the tests). Each flag given explicitly overrides its profile's value.

use std::path::PathBuf;

use clap::{Args, ValueEnum};
use models::nn::unet::{NormKind, UNetConfig};

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Profile {
    /// Channels [8, 16, 32], 1 residual layer, 3600 steps of batch 32, lr 3e-3, 20 Euler steps:
    /// sized for about half an hour on a 2-core CPU through lavapipe.
    Default,
    /// Lab 3: channels [32, 64, 128], 2 residual layers, 5000 steps of batch 250, lr 1e-3.
    Full,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Norm {
    Batch,
    Group,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Sampler {
    /// Euler's method (order 1), lab 3's sampler.
    Euler,
    /// Heun's method (order 2): two field evaluations per step.
    Heun,
}

/// Options every subcommand shares: the model's shape, the data, the output folder.
#[derive(Args, Clone, Debug)]
pub struct ModelArgs {
    #[arg(long, value_enum, default_value_t = Profile::Default)]
    pub profile: Profile,
    /// A tiny model and run (for the tests): seconds.
    #[arg(long)]
    pub quick: bool,
    /// Channels per level, comma-separated (e.g. 32,64,128).
    #[arg(long, value_delimiter = ',')]
    pub channels: Option<Vec<usize>>,
    /// Residual layers per stage.
    #[arg(long)]
    pub layers: Option<usize>,
    /// Normalisation after each convolution (default: group, see the README for why).
    #[arg(long, value_enum)]
    pub norm: Option<Norm>,
    /// Self-attention heads in the midcoder (0 = none, as in lab 3).
    #[arg(long)]
    pub attention_heads: Option<usize>,
    /// The MNIST folder (else $MNIST_DIR, else ../shared/data/mnist).
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Output folder.
    #[arg(long, default_value = "out/ch06_mnist")]
    pub out: PathBuf,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

/// Training options.
#[derive(Args, Clone, Debug)]
pub struct TrainArgs {
    /// Training steps (in all, counting those before a --resume).
    #[arg(long)]
    pub steps: Option<u64>,
    /// Images per batch.
    #[arg(long)]
    pub batch: Option<usize>,
    /// Adam's learning rate (constant, as in lab 3).
    #[arg(long)]
    pub lr: Option<f32>,
    /// Probability of dropping a label to null (lab 3: 0.1).
    #[arg(long, default_value_t = 0.1)]
    pub eta: f32,
    /// EMA decay of the weights used for sampling.
    #[arg(long, default_value_t = 0.999)]
    pub ema_decay: f32,
    /// Save a checkpoint every this many steps (and at the end).
    #[arg(long)]
    pub checkpoint_every: Option<u64>,
    /// Continue from the checkpoint in --out.
    #[arg(long)]
    pub resume: bool,
}

/// Sampling options.
#[derive(Args, Clone, Debug)]
pub struct SampleArgs {
    #[arg(long, value_enum, default_value_t = Sampler::Euler)]
    pub sampler: Sampler,
    /// ODE steps from t = 0 to 1 (lab 3 and `--profile full`: 100; default profile: 20).
    #[arg(long)]
    pub sample_steps: Option<usize>,
    /// Guidance weights, comma-separated (w = 1: no guidance).
    #[arg(long, value_delimiter = ',', default_values_t = vec![1.0, 3.0, 5.0])]
    pub w: Vec<f32>,
    /// Samples per row (each digit and the null label).
    #[arg(long)]
    pub per_class: Option<usize>,
    /// Sample with the raw weights instead of their EMA.
    #[arg(long)]
    pub raw_weights: bool,
}

/// Resolved model and I/O settings.
pub struct Model {
    pub config: UNetConfig,
    pub data: Option<PathBuf>,
    pub out: PathBuf,
    pub seed: u64,
    pub profile: &'static str,
}

/// Resolved training settings.
pub struct Train {
    pub steps: u64,
    pub batch: usize,
    pub lr: f32,
    pub eta: f32,
    pub ema_decay: f32,
    pub checkpoint_every: u64,
    pub resume: bool,
}

/// Resolved sampling settings.
pub struct Sample {
    pub sampler: Sampler,
    pub steps: usize,
    pub w: Vec<f32>,
    pub per_class: usize,
    pub ema: bool,
}

impl ModelArgs {
    pub fn resolve(&self) -> Model {
        let (channels, layers, emb, profile) = match (self.quick, self.profile) {
            (true, _) => (vec![4, 8], 1, 8, "quick"),
            (false, Profile::Default) => (vec![8, 16, 32], 1, 40, "default"),
            (false, Profile::Full) => (vec![32, 64, 128], 2, 40, "full"),
        };
        let norm = match self.norm.unwrap_or(Norm::Group) {
            Norm::Batch => NormKind::Batch,
            Norm::Group => NormKind::Group,
        };
        Model {
            config: UNetConfig {
                channels: self.channels.clone().unwrap_or(channels),
                layers: self.layers.unwrap_or(layers),
                t_dim: emb,
                y_dim: emb,
                norm,
                attention_heads: self.attention_heads.unwrap_or(0),
            },
            data: self.data.clone(),
            out: self.out.clone(),
            seed: self.seed,
            profile,
        }
    }
}

impl TrainArgs {
    pub fn resolve(&self, m: &ModelArgs) -> Train {
        // (steps, batch, lr, checkpoint every)
        let (steps, batch, lr, every) = match (m.quick, m.profile) {
            (true, _) => (6, 8, 2e-3, 3),
            (false, Profile::Default) => (3600, 32, 3e-3, 200),
            (false, Profile::Full) => (5000, 250, 1e-3, 500),
        };
        Train {
            steps: self.steps.unwrap_or(steps),
            batch: self.batch.unwrap_or(batch),
            lr: self.lr.unwrap_or(lr),
            eta: self.eta,
            ema_decay: self.ema_decay,
            checkpoint_every: self.checkpoint_every.unwrap_or(every).max(1),
            resume: self.resume,
        }
    }
}

impl SampleArgs {
    pub fn resolve(&self, m: &ModelArgs) -> Sample {
        let (steps, per_class) = match (m.quick, m.profile) {
            (true, _) => (4, 2),
            (false, Profile::Default) => (20, 10),
            (false, Profile::Full) => (100, 10),
        };
        Sample {
            sampler: self.sampler,
            steps: self.sample_steps.unwrap_or(steps).max(1),
            w: self.w.clone(),
            per_class: self.per_class.unwrap_or(per_class).max(1),
            ema: !self.raw_weights,
        }
    }
}
