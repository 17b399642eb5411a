//! The training state of a U-Net trained by CFG flow matching — model, Adam, the EMA of the
//! weights, the step — and its checkpoint, from which a resumed run continues bit for bit.
//!
//! What makes a resume exact: the checkpoint holds the parameters, batch norm's running
//! statistics, Adam's moments and step count, the EMA shadows and update count, and the
//! device generator's (seed, offset) (which draws t and eps); label dropout is a function of
//! (seed, step) alone ([`drop_labels`]), and so is the chapter's choice of each batch.

use engine::checkpoint::Checkpoint;
use engine::optim::{Adam, Ema, Optimizer};
use engine::{Error, Result, Tensor};

use super::{cfg_condot_loss, drop_labels, NormKind, UNet, UNetConfig};

/// Prefix of the EMA shadows in a checkpoint: `ema.<parameter name>`.
pub const EMA_PREFIX: &str = "ema.";

/// How to train, besides the model's shape.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TrainSettings {
    /// Adam's learning rate (lab 3: 1e-3).
    pub lr: f32,
    /// Probability of replacing a label by the null label (lab 3: 0.1).
    pub eta: f32,
    /// EMA decay (with the warm-up of `engine::optim::Ema`).
    pub ema_decay: f32,
    /// Seeds the label dropout stream (the device generator is seeded by the caller).
    pub seed: u64,
}

/// A U-Net and everything needed to keep training it.
pub struct UNetTrainer {
    pub unet: UNet,
    pub opt: Adam,
    pub ema: Ema,
    pub settings: TrainSettings,
    /// Steps taken so far.
    pub step: u64,
}

impl UNetTrainer {
    /// Puts `unet` in training mode with a fresh Adam and an EMA starting at its weights.
    pub fn new(mut unet: UNet, settings: TrainSettings) -> UNetTrainer {
        unet.set_training(true);
        let params = unet.param_tensors();
        UNetTrainer {
            opt: Adam::new(&params, settings.lr),
            ema: Ema::new(&params, settings.ema_decay, true),
            unet,
            settings,
            step: 0,
        }
    }

    /// One step on the batch z [N, 1, H, W] with labels [N]: labels dropped to null with
    /// probability eta, the CondOT flow-matching loss, backward, Adam, EMA. Returns the loss
    /// (rank 0, not read back: reading waits for the GPU).
    pub fn train_step(&mut self, z: &Tensor, labels: &[u32]) -> Tensor {
        let s = &self.settings;
        let y = drop_labels(labels, s.eta, s.seed, self.step);
        let loss = cfg_condot_loss(&self.unet, z, &y);
        loss.backward();
        self.opt.step();
        self.opt.zero_grad();
        self.ema.update();
        self.step += 1;
        loss
    }

    /// Parameters, buffers and EMA shadows by their checkpoint names.
    fn named_state(&self) -> Vec<(String, Tensor)> {
        let params = self.unet.params();
        let shadows = params
            .iter()
            .zip(self.ema.shadow())
            .map(|((n, _), s)| (format!("{EMA_PREFIX}{n}"), s.clone()))
            .collect::<Vec<_>>();
        let mut all = params;
        all.extend(self.unet.buffers());
        all.extend(shadows);
        all
    }

    /// The whole training state (see the module comment), with the model's shape as metadata.
    pub fn checkpoint(&self) -> Checkpoint {
        let named = self.named_state();
        let refs: Vec<(&str, &Tensor)> = named.iter().map(|(n, t)| (n.as_str(), t)).collect();
        let mut ck = Checkpoint::training(
            &refs,
            &self.opt,
            self.unet.params()[0].1.device(),
            self.step,
        );
        ck.set_meta("ema.updates", self.ema.update_count());
        write_config(&mut ck, &self.unet.config);
        ck
    }

    /// Restores a state saved by [`UNetTrainer::checkpoint`]; the model's shape must match.
    pub fn restore(&mut self, ck: &Checkpoint) -> Result<()> {
        let saved = read_config(ck)?;
        if saved != self.unet.config {
            return Err(Error::Checkpoint(format!(
                "the checkpoint holds a U-Net {saved:?}, but the model is {:?}",
                self.unet.config
            )));
        }
        let named = self.named_state();
        let refs: Vec<(&str, &Tensor)> = named.iter().map(|(n, t)| (n.as_str(), t)).collect();
        let dev = self.unet.params()[0].1.device().clone();
        self.step = ck.restore_training(&refs, &mut self.opt, &dev)?;
        self.ema.set_update_count(ck.meta_u64("ema.updates")?);
        Ok(())
    }
}

/// Stores the U-Net's shape as metadata `unet.*`.
pub fn write_config(ck: &mut Checkpoint, c: &UNetConfig) {
    let channels: Vec<String> = c.channels.iter().map(usize::to_string).collect();
    ck.set_meta("unet.channels", channels.join(","));
    ck.set_meta("unet.layers", c.layers);
    ck.set_meta("unet.t_dim", c.t_dim);
    ck.set_meta("unet.y_dim", c.y_dim);
    ck.set_meta("unet.norm", norm_name(c.norm));
    ck.set_meta("unet.attention_heads", c.attention_heads);
}

/// The U-Net shape stored by [`write_config`].
pub fn read_config(ck: &Checkpoint) -> Result<UNetConfig> {
    let bad = |what: &str| Error::Checkpoint(format!("bad or missing U-Net metadata `{what}`"));
    let channels = ck
        .meta("unet.channels")
        .ok_or_else(|| bad("unet.channels"))?
        .split(',')
        .map(|s| s.parse::<usize>().map_err(|_| bad("unet.channels")))
        .collect::<Result<Vec<_>>>()?;
    let norm = match ck.meta("unet.norm") {
        Some("batch") => NormKind::Batch,
        Some("group") => NormKind::Group,
        _ => return Err(bad("unet.norm")),
    };
    Ok(UNetConfig {
        channels,
        layers: ck.meta_u64("unet.layers")? as usize,
        t_dim: ck.meta_u64("unet.t_dim")? as usize,
        y_dim: ck.meta_u64("unet.y_dim")? as usize,
        norm,
        attention_heads: ck.meta_u64("unet.attention_heads")? as usize,
    })
}

/// "batch" or "group".
pub fn norm_name(n: NormKind) -> &'static str {
    match n {
        NormKind::Batch => "batch",
        NormKind::Group => "group",
    }
}

/// Loads the weights for sampling from a training checkpoint into `unet`: the EMA shadows
/// (`ema = true`) or the raw parameters, and the buffers; then switches to eval mode.
pub fn load_for_sampling(unet: &mut UNet, ck: &Checkpoint, ema: bool) -> Result<()> {
    for (name, t) in unet.params() {
        let stored = if ema {
            format!("{EMA_PREFIX}{name}")
        } else {
            name
        };
        ck.restore(&stored, &t)?;
    }
    for (name, t) in unet.buffers() {
        ck.restore(&name, &t)?;
    }
    unet.set_training(false);
    Ok(())
}
