//! Normalisation layers' ops: batch norm (training and eval mode) and the composed group
//! norm (the fused one is in group_norm.rs).
//!
//! Legend: N = batch, C = channels, S = product of the spatial axes (1 when there are none),
//! G = groups. Every input is x [N, C, *spatial], viewed as [N, C, S] or [N, G, C/G * S].
//!
//! There are no kernels here: batch norm's training mode runs group norm's fused kernels
//! (ops/group_norm.rs) with a channel's values over the batch as a group, and the other ops
//! are composed from existing primitives (reshape, mean with keepdim, sub, square, sqrt, div,
//! broadcasting mul/add), so autodiff derives their backward. `update_running_stat` is the
//! one in-place GPU write (a buffer copy), used by a batch-norm layer's running statistics.

use crate::autograd::no_grad;
use crate::tensor::Tensor;

/// Checks x is [N, C, *spatial] and a per-channel parameter is [C]; returns (N, C, S).
pub(super) fn check_nc(op: &str, x: &Tensor, params: &[(&str, &Tensor)]) -> (usize, usize, usize) {
    assert!(
        x.rank() >= 2,
        "{op}: x must be [N, C, *spatial], got shape {:?}",
        x.shape()
    );
    let (n, c) = (x.dim(0), x.dim(1));
    for (name, p) in params {
        assert!(
            p.shape() == [c],
            "{op}: {name} must be [C] = [{c}] for x of shape {:?}, got shape {:?}",
            x.shape(),
            p.shape()
        );
        x.same_device(op, p);
    }
    let s = x.numel() / (n * c).max(1);
    (n, c, s)
}

/// y * gamma + beta per channel: y [N, C, S], gamma/beta [C] -> [N, C, S].
fn affine(y: &Tensor, gamma: &Tensor, beta: &Tensor) -> Tensor {
    let c = gamma.numel();
    y.mul(&gamma.reshape(&[c, 1])).add(&beta.reshape(&[c, 1]))
}

/// (x - mean) / sqrt(var + eps), with mean and biased variance of x over `axes` (kept as 1).
/// Returns (normalised x, mean, biased variance); the statistics keep their graph.
fn standardise(x: &Tensor, axes: &[isize], eps: f32) -> (Tensor, Tensor, Tensor) {
    let mean = x.mean(axes, true);
    let xc = x.sub(&mean);
    let var = xc.square().mean(axes, true);
    let y = xc.div(&var.add_scalar(eps).sqrt());
    (y, mean, var)
}

impl Tensor {
    /// `group_norm` composed from primitives (mean, sub, square, sqrt, div, broadcasting
    /// mul/add), its backward derived by autodiff: the reference the fused kernels of
    /// `group_norm` (ops/group_norm.rs) are tested against.
    pub fn group_norm_composed(
        &self,
        groups: usize,
        gamma: &Tensor,
        beta: &Tensor,
        eps: f32,
    ) -> Tensor {
        let op = "group_norm";
        let (n, c, s) = check_nc(op, self, &[("gamma", gamma), ("beta", beta)]);
        assert!(
            groups > 0 && c.is_multiple_of(groups),
            "{op}: {c} channels (x of shape {:?}) do not split into {groups} groups",
            self.shape()
        );
        // xg is [N, G, C/G * S]: one row per group.
        let xg = self.reshape(&[n, groups, c / groups * s]);
        let (y, _, _) = standardise(&xg, &[-1], eps);
        affine(&y.reshape(&[n, c, s]), gamma, beta).reshape(self.shape())
    }

    /// Batch norm, training mode: x [N, C, *spatial], gamma/beta [C]. Statistics per channel
    /// over N and the spatial axes; the normalisation uses the biased variance.
    /// Returns (y of x's shape, batch mean [C], batch variance [C] unbiased (divided by
    /// N*S - 1), the statistics detached). Panics when a channel has a single value.
    pub fn batch_norm_train(
        &self,
        gamma: &Tensor,
        beta: &Tensor,
        eps: f32,
    ) -> (Tensor, Tensor, Tensor) {
        let op = "batch_norm_train";
        let (n, c, s) = check_nc(op, self, &[("gamma", gamma), ("beta", beta)]);
        let count = n * s;
        assert!(
            count > 1,
            "{op}: x of shape {:?} has {count} value per channel; training needs more than 1",
            self.shape()
        );
        // The fused kernels (ops/group_norm.rs): stats [C, 2] is each channel's (mean,
        // 1 / sqrt(biased var + eps)).
        let (y, stats) = self.batch_norm_fused(gamma, beta, eps);
        let (mean, var_unbiased) = no_grad(|| {
            let unbias = count as f32 / (count - 1) as f32;
            let rstd = stats.narrow(1, 1, 1).reshape(&[c]);
            // var = 1 / rstd^2 - eps, not below 0 (rounding, when var is far below eps)
            let var = rstd.powf(-2.0).add_scalar(-eps).relu();
            (stats.narrow(1, 0, 1).reshape(&[c]), var.mul_scalar(unbias))
        });
        (y, mean, var_unbiased)
    }

    /// Batch norm, eval mode: x [N, C, *spatial] normalised with given statistics
    /// mean/var [C] (a layer's running statistics), then y * gamma + beta.
    pub fn batch_norm_eval(
        &self,
        gamma: &Tensor,
        beta: &Tensor,
        mean: &Tensor,
        var: &Tensor,
        eps: f32,
    ) -> Tensor {
        let op = "batch_norm_eval";
        let params = [
            ("gamma", gamma),
            ("beta", beta),
            ("mean", mean),
            ("var", var),
        ];
        let (n, c, s) = check_nc(op, self, &params);
        // scale and shift are [C]: y = x * scale + shift, scale = gamma / sqrt(var + eps),
        // shift = beta - mean * scale.
        let scale = gamma.div(&var.add_scalar(eps).sqrt());
        let shift = beta.sub(&mean.mul(&scale));
        affine(&self.reshape(&[n, c, s]), &scale, &shift).reshape(self.shape())
    }

    /// In place, on the GPU, outside the graph: self <- (1 - momentum) * self + momentum *
    /// batch (PyTorch's running statistics). `self` keeps its buffer, so handles to it
    /// (e.g. a checkpoint's list of buffers) see the new values.
    pub fn update_running_stat(&self, batch: &Tensor, momentum: f32) {
        let op = "update_running_stat";
        assert!(
            self.shape() == batch.shape(),
            "{op}: running statistic of shape {:?} and batch statistic of shape {:?} differ",
            self.shape(),
            batch.shape()
        );
        self.same_device(op, batch);
        let bytes = (self.numel() * 4) as u64;
        if bytes == 0 {
            return;
        }
        let new = no_grad(|| {
            self.mul_scalar(1.0 - momentum)
                .add(&batch.mul_scalar(momentum))
        });
        self.device()
            .0
            .encode(|enc| enc.copy_buffer_to_buffer(new.buffer(), 0, self.buffer(), 0, bytes));
    }
}
