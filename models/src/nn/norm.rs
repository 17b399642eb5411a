//! Normalisation layers: `GroupNorm` and `BatchNorm2d`, as PyTorch's nn.GroupNorm and
//! nn.BatchNorm2d (eps 1e-5, gamma = 1 and beta = 0 at init, batch-norm momentum 0.1).
//!
//! Legend: x is [N, C, *spatial] (N = batch, C = channels).

use std::cell::Cell;

use engine::{Device, Tensor};

/// PyTorch's default eps of both layers.
pub const NORM_EPS: f32 = 1e-5;

/// Per-channel scale 1 and shift 0, as parameters.
fn affine_params(dev: &Device, channels: usize) -> (Tensor, Tensor) {
    (
        Tensor::ones(dev, &[channels]).set_requires_grad(true),
        Tensor::zeros(dev, &[channels]).set_requires_grad(true),
    )
}

/// nn.GroupNorm(groups, channels): normalises each group of channels/groups channels over
/// them and all spatial positions, then scales and shifts per channel.
pub struct GroupNorm {
    pub groups: usize,
    pub eps: f32,
    /// gamma [C]
    pub weight: Tensor,
    /// beta [C]
    pub bias: Tensor,
}

impl GroupNorm {
    /// Panics unless `channels` is a multiple of `groups`.
    pub fn new(dev: &Device, groups: usize, channels: usize) -> GroupNorm {
        assert!(
            groups > 0 && channels.is_multiple_of(groups),
            "GroupNorm::new: {channels} channels do not split into {groups} groups"
        );
        let (weight, bias) = affine_params(dev, channels);
        GroupNorm {
            groups,
            eps: NORM_EPS,
            weight,
            bias,
        }
    }

    /// x [N, C, *spatial] -> the same shape.
    pub fn forward(&self, x: &Tensor) -> Tensor {
        x.group_norm(self.groups, &self.weight, &self.bias, self.eps)
    }

    pub fn params(&self, prefix: &str) -> Vec<(String, Tensor)> {
        vec![
            (format!("{prefix}weight"), self.weight.clone()),
            (format!("{prefix}bias"), self.bias.clone()),
        ]
    }
}

/// nn.BatchNorm2d(channels). In training mode (the default) it normalises with the batch's
/// statistics and updates the running ones: running = (1 - momentum) * running + momentum *
/// batch, with the unbiased batch variance; in eval mode it normalises with the running ones.
pub struct BatchNorm2d {
    pub eps: f32,
    pub momentum: f32,
    /// gamma [C]
    pub weight: Tensor,
    /// beta [C]
    pub bias: Tensor,
    /// [C], starts at 0; updated in place (its buffer never changes).
    pub running_mean: Tensor,
    /// [C], starts at 1; updated in place.
    pub running_var: Tensor,
    training: Cell<bool>,
}

impl BatchNorm2d {
    pub fn new(dev: &Device, channels: usize) -> BatchNorm2d {
        let (weight, bias) = affine_params(dev, channels);
        BatchNorm2d {
            eps: NORM_EPS,
            momentum: 0.1,
            weight,
            bias,
            running_mean: Tensor::zeros(dev, &[channels]),
            running_var: Tensor::ones(dev, &[channels]),
            training: Cell::new(true),
        }
    }

    /// Training mode (batch statistics, running ones updated) or eval mode (running ones).
    pub fn set_training(&self, on: bool) {
        self.training.set(on);
    }

    pub fn is_training(&self) -> bool {
        self.training.get()
    }

    /// x [N, C, H, W] (any number of spatial axes works) -> the same shape. In training mode
    /// each call updates the running statistics.
    pub fn forward(&self, x: &Tensor) -> Tensor {
        if !self.training.get() {
            return x.batch_norm_eval(
                &self.weight,
                &self.bias,
                &self.running_mean,
                &self.running_var,
                self.eps,
            );
        }
        let (y, mean, var) = x.batch_norm_train(&self.weight, &self.bias, self.eps);
        self.running_mean.update_running_stat(&mean, self.momentum);
        self.running_var.update_running_stat(&var, self.momentum);
        y
    }

    pub fn params(&self, prefix: &str) -> Vec<(String, Tensor)> {
        vec![
            (format!("{prefix}weight"), self.weight.clone()),
            (format!("{prefix}bias"), self.bias.clone()),
        ]
    }

    /// The running statistics by name, for checkpoints (live handles: restoring writes
    /// into them).
    pub fn buffers(&self, prefix: &str) -> Vec<(String, Tensor)> {
        vec![
            (format!("{prefix}running_mean"), self.running_mean.clone()),
            (format!("{prefix}running_var"), self.running_var.clone()),
        ]
    }
}
