//! Training and sampling the U-Net as a vector field: the classifier-free-guidance flow-matching
//! loss on the CondOT path, label dropout, and the guided field as an ODE for the simulators.
//!
//! Legend: N = batch, H, W = image size, P = H * W pixels.
//!
//! CondOT path (lab 3's Gaussian path with alpha_t = t, beta_t = 1 - t):
//!   x_t = t z + (1 - t) eps,   eps ~ N(0, I),   t ~ U[0, 1)
//!   u_t(x_t | z) = z - eps     (d/dt of x_t: the regression target)
//! Guided field (the course's convention, as `crate::guidance::guided_field`):
//!   u~_t(x | y) = (1 - w) u_t(x | null) + w u_t(x | y)

use engine::ops::random::{philox_stream_cpu, uniform_from_bits};
use engine::Tensor;

use super::{UNet, NULL_LABEL};
use crate::dynamics::Ode;

/// Labels [N] with each replaced by the null label with probability `eta`. The uniforms come
/// from the CPU Philox stream (seed, stream << 32), so a given (seed, stream) — a training
/// step — always drops the same labels, also after a resume, and the GPU is not waited for.
pub fn drop_labels(labels: &[u32], eta: f32, seed: u64, stream: u64) -> Vec<u32> {
    let bits = philox_stream_cpu(labels.len(), seed, stream << 32);
    labels
        .iter()
        .zip(bits)
        .map(|(&y, b)| {
            if uniform_from_bits(b) < eta {
                NULL_LABEL
            } else {
                y
            }
        })
        .collect()
}

/// The flow-matching loss on the CondOT path for the data batch z [N, 1, H, W] with labels y
/// [N] (already dropped to null where wanted): the mean over all N * P pixels of
/// (u_theta(x_t, t, y) - (z - eps))^2. t and eps come from the device's generator.
pub fn cfg_condot_loss(unet: &UNet, z: &Tensor, y: &[u32]) -> Tensor {
    assert!(
        z.rank() == 4 && y.len() == z.dim(0),
        "cfg_condot_loss: z must be [N, 1, H, W] with N labels, got {:?} and {} labels",
        z.shape(),
        y.len()
    );
    let n = z.dim(0);
    let t = Tensor::rand(z.device(), &[n]); // [N]
    let eps = z.randn_like(); // [N, 1, H, W]
    let tb = t.reshape(&[n, 1, 1, 1]);
    // x_t = t z + (1 - t) eps = eps + t (z - eps)
    let target = z.sub(&eps); // u_t(x_t | z) [N, 1, H, W]
    let x = eps.add(&tb.mul(&target));
    unet.forward(&x, &t, y).mse_loss(&target)
}

/// The guided field of a trained U-Net for fixed labels and weight w, as an `Ode` on images
/// flattened to rows x [N, P] (what `simulate` steps). With w != 1 the conditional and the null
/// pass run as one batch of 2N.
pub struct GuidedUNet<'a> {
    pub unet: &'a UNet,
    /// [N] digits 0..=9 (or the null label).
    pub labels: Vec<u32>,
    pub w: f32,
    /// (H, W) of the images.
    pub size: (usize, usize),
}

impl Ode for GuidedUNet<'_> {
    fn drift(&self, x: &Tensor, t: f32) -> Tensor {
        let (n, (h, w)) = (self.labels.len(), self.size);
        assert!(
            x.shape() == [n, h * w],
            "GuidedUNet: x {:?} for {n} labels and {h} x {w} images",
            x.shape()
        );
        let img = x.reshape(&[n, 1, h, w]);
        let dev = x.device();
        let u = if self.w == 1.0 {
            self.unet
                .forward(&img, &Tensor::full(dev, &[n], t), &self.labels)
        } else {
            // [x; x] with labels [y; null]: one forward of 2N gives both fields.
            let both = Tensor::concat(&[&img, &img], 0); // [2N, 1, H, W]
            let labels = [&self.labels[..], &vec![NULL_LABEL; n]].concat();
            let out = self
                .unet
                .forward(&both, &Tensor::full(dev, &[2 * n], t), &labels);
            let (cond, null) = (out.narrow(0, 0, n), out.narrow(0, n, n));
            null.mul_scalar(1.0 - self.w).add(&cond.mul_scalar(self.w))
        };
        u.reshape(&[n, h * w])
    }
}
