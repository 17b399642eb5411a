//! Training objectives for chapters 3-5 and a small Adam loop.
//! Legend: N = batch, D = dimension. Every loss returns a rank-0 tensor:
//! the squared error summed over the D dimensions and averaged over the N samples, with
//! t ~ U[0, 1) per sample from the device's generator.

use std::time::Instant;

use engine::optim::{Adam, Optimizer};
use engine::Tensor;

use crate::fields::{ConditionalMlpField, VectorField};
use crate::path::{uniform_time, ConditionalPath, GaussianPath};

/// sum over dims, mean over the batch of (a - b)^2: [N, D] x [N, D] -> [].
pub fn batch_squared_error(a: &Tensor, b: &Tensor) -> Tensor {
    a.sub(b)
        .square()
        .sum_all()
        .mul_scalar(1.0 / a.dim(0) as f32)
}

/// Conditional flow matching: E_{t, z, x ~ p_t(.|z)} ||u_theta(x, t) - u_t(x | z)||^2 for the
/// data batch z [N, D].
pub fn flow_matching_loss(
    field: &impl VectorField,
    path: &impl ConditionalPath,
    z: &Tensor,
) -> Tensor {
    let t = uniform_time(z.device(), z.dim(0));
    let x = path.sample_conditional_path(z, &t);
    let target = path.conditional_vector_field(&x, z, &t);
    batch_squared_error(&field.forward(&x, &t), &target)
}

/// How denoising score matching weights the times.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScoreWeighting {
    /// ||s_theta - (alpha z - x) / beta^2||^2: the plain objective. The target -eps / beta
    /// blows up as t -> 1 (beta -> 0), so its variance is large there.
    Plain,
    /// beta_t^2 ||s_theta - target||^2 = ||beta_t s_theta + eps||^2 (lab 2's suggestion to tame
    /// the variance near t = 1; the minimiser is the same score).
    BetaSquared,
}

/// Denoising score matching: E ||s_theta(x, t) - grad log p_t(x | z)||^2 on the Gaussian path.
pub fn score_matching_loss(
    score: &impl VectorField,
    path: &GaussianPath,
    z: &Tensor,
    weighting: ScoreWeighting,
) -> Tensor {
    let t = uniform_time(z.device(), z.dim(0));
    let x = path.sample_conditional_path(z, &t);
    let target = path.conditional_score(&x, z, &t);
    let pred = score.forward(&x, &t);
    match weighting {
        ScoreWeighting::Plain => batch_squared_error(&pred, &target),
        ScoreWeighting::BetaSquared => {
            let b = path.beta.value_t(&t); // [N, 1]
            batch_squared_error(&pred.mul(&b), &target.mul(&b))
        }
    }
}

/// Labels with each one replaced by the null label with probability eta (uniforms from the
/// device's generator, read back).
pub fn drop_labels(field: &ConditionalMlpField, z: &Tensor, labels: &[u32], eta: f32) -> Vec<u32> {
    let u = Tensor::rand(z.device(), &[labels.len()]).to_vec();
    labels
        .iter()
        .zip(u)
        .map(|(&y, u)| if u < eta { field.null_label() } else { y })
        .collect()
}

/// Classifier-free-guidance training: conditional flow matching with the labels [N] of the
/// batch z [N, D] dropped to the null label with probability eta, so one network learns
/// both u_t(x | y) and u_t(x | null) (the unconditional marginal field).
pub fn cfg_flow_matching_loss(
    field: &ConditionalMlpField,
    path: &impl ConditionalPath,
    z: &Tensor,
    labels: &[u32],
    eta: f32,
) -> Tensor {
    assert!(
        labels.len() == z.dim(0),
        "cfg_flow_matching_loss: {} labels for a batch of shape {:?}",
        labels.len(),
        z.shape()
    );
    let y = drop_labels(field, z, labels, eta);
    let t = uniform_time(z.device(), z.dim(0));
    let x = path.sample_conditional_path(z, &t);
    let target = path.conditional_vector_field(&x, z, &t);
    batch_squared_error(&field.forward(&x, &t, &y), &target)
}

/// What the progress callback sees after each step.
#[derive(Clone, Copy, Debug)]
pub struct Progress {
    /// Steps done so far (1-based).
    pub step: usize,
    pub steps: usize,
    pub loss: f32,
    pub steps_per_sec: f64,
}

/// The loss after every step and the mean training speed.
#[derive(Clone, Debug)]
pub struct TrainReport {
    pub losses: Vec<f32>,
    pub steps_per_sec: f64,
    pub seconds: f64,
}

/// Runs `steps` Adam steps (lr, default betas) on `params`: each step calls `loss(step)` for a
/// rank-0 loss (sampling its own batch), backpropagates, updates and clears the gradients,
/// then reads the loss back and calls `progress`.
pub fn train(
    params: &[Tensor],
    lr: f32,
    steps: usize,
    mut loss: impl FnMut(usize) -> Tensor,
    mut progress: impl FnMut(Progress),
) -> TrainReport {
    let mut opt = Adam::new(params, lr);
    opt.zero_grad();
    let start = Instant::now();
    let mut losses = Vec::with_capacity(steps);
    for step in 0..steps {
        let l = loss(step);
        l.backward();
        opt.step();
        opt.zero_grad();
        let v = l.item();
        losses.push(v);
        let secs = start.elapsed().as_secs_f64();
        progress(Progress {
            step: step + 1,
            steps,
            loss: v,
            steps_per_sec: (step + 1) as f64 / secs.max(1e-9),
        });
    }
    let seconds = start.elapsed().as_secs_f64();
    TrainReport {
        losses,
        steps_per_sec: steps as f64 / seconds.max(1e-9),
        seconds,
    }
}

impl TrainReport {
    /// The mean loss over the first (or last) `k` steps.
    pub fn mean_first(&self, k: usize) -> f32 {
        mean(&self.losses[..k.min(self.losses.len())])
    }
    pub fn mean_last(&self, k: usize) -> f32 {
        mean(&self.losses[self.losses.len().saturating_sub(k)..])
    }
}

fn mean(v: &[f32]) -> f32 {
    v.iter().sum::<f32>() / v.len().max(1) as f32
}
