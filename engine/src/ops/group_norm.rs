//! Group norm and batch norm (training mode) as fused kernels, forward and backward side by
//! side: the same kernels, whose groups of values sharing statistics are group norm's (per
//! sample, C/G channels) or batch norm's (one channel over the batch). Kernels:
//! shaders/group_norm.wgsl (its header has the maths). `Tensor::group_norm_composed` (in
//! norm.rs) is the same op composed from primitives, kept as the reference the tests compare
//! against: on lavapipe a U-Net step spent about half its time in the composed op's ~40
//! dispatches per layer (models/examples/unet_profile.rs), as lab 3's did in the composed
//! batch norm's.
//!
//! Legend: N = batch, C = channels, G = groups, S = spatial size.
//!   x is [N, C, *spatial] (viewed as [N, C, S]), gamma and beta are [C]
//!   stats is [N * G, 2] (batch norm: [C, 2]): each group's (mean, rstd), saved for the
//!   backward

use super::norm::check_nc;
use crate::kernels::{Kernel, GROUP_NORM};
use crate::shape::grid_1d;
use crate::tensor::Tensor;
use crate::texture_pool::{self, Flat};

/// Mirrors `Params` in group_norm.wgsl.
#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct Params {
    n: u32,
    c: u32,
    g: u32,
    s: u32,
    eps: f32,
    _pad: [u32; 3],
}

/// Which values share statistics: group norm's groups, or batch norm's channels (the
/// kernels' BATCH; `Params::g` is then C).
#[derive(Clone, Copy, PartialEq)]
enum Over {
    Groups,
    Channels,
}

/// One normalisation's sizes and groups: what every dispatch of it needs.
#[derive(Clone, Copy)]
struct Norm {
    p: Params,
    over: Over,
}

impl Norm {
    fn kernel(&self, entry: &'static str) -> Kernel {
        Kernel::new(GROUP_NORM, entry).with("BATCH", (self.over == Over::Channels) as u32 as f64)
    }

    /// How many groups there are.
    fn groups(&self) -> usize {
        match self.over {
            Over::Groups => (self.p.n * self.p.g) as usize,
            Over::Channels => self.p.c as usize,
        }
    }

    /// Runs one entry point over `items` invocations.
    fn run(&self, entry: &'static str, buffers: &[&Tensor], items: usize) {
        let dev = buffers[0].device();
        let bufs: Vec<&wgpu::Buffer> = buffers.iter().map(|t| t.buffer()).collect();
        dev.0.dispatch(
            &self.kernel(entry),
            &bufs,
            bytemuck::bytes_of(&self.p),
            grid_1d(items, 64),
        );
    }

    /// Runs `entry`'s "4_tex" form (`textured`, x and dy read through flat textures, 4 values
    /// per invocation where `items` counts values) when the device reads so and planes hold a
    /// multiple of 4 values: `textured` leads the binding list, `buffers` follow. Else `entry`
    /// on buffers alone (textured tensors first).
    fn run_maybe_tex(
        &self,
        (entry, entry_tex): (&'static str, &'static str),
        textured: &[&Tensor],
        buffers: &[&Tensor],
        items: usize,
        per_value: bool,
    ) {
        let rgba = wgpu::TextureFormat::Rgba32Float;
        let flats = self
            .p
            .s
            .is_multiple_of(4)
            .then(|| Flat::all(&textured.iter().map(|&t| (t, rgba)).collect::<Vec<_>>()))
            .flatten();
        let Some(flats) = flats else {
            let all: Vec<&Tensor> = textured.iter().chain(buffers).copied().collect();
            return self.run(entry, &all, items);
        };
        let items = if per_value { items / 4 } else { items };
        texture_pool::dispatch_reading(
            textured[0].device(),
            &self.kernel(entry_tex),
            flats,
            buffers,
            bytemuck::bytes_of(&self.p),
            grid_1d(items, 64),
        );
    }
}

/// Forward: (y of x's shape, stats [groups, 2]); records nothing.
fn forward(x: &Tensor, gamma: &Tensor, beta: &Tensor, norm: &Norm) -> (Tensor, Tensor) {
    let dev = x.device();
    let p = &norm.p;
    let (planes, groups) = ((p.n * p.c) as usize, norm.groups());
    let moments = Tensor::uninit(dev, &[planes, 2], "group_norm (plane moments)");
    let entries = ("gn_plane_moments", "gn_plane_moments4_tex");
    norm.run_maybe_tex(entries, &[x], &[&moments], planes, false);
    let stats = Tensor::uninit(dev, &[groups, 2], "group_norm (stats)");
    norm.run("gn_group_stats", &[&moments, &stats], groups);
    let y = Tensor::uninit(dev, x.shape(), "group_norm");
    let rest = [&stats, gamma, beta, &y];
    norm.run_maybe_tex(("gn_apply", "gn_apply4_tex"), &[x], &rest, x.numel(), true);
    (y, stats)
}

/// Backward: (dx, dgamma, dbeta) for upstream dy; records nothing.
fn backward(
    dy: &Tensor,
    x: &Tensor,
    gamma: &Tensor,
    stats: &Tensor,
    norm: &Norm,
) -> (Tensor, Tensor, Tensor) {
    let dev = x.device();
    let (n, c) = (norm.p.n as usize, norm.p.c as usize);
    // sums is [N, C, 2]: per plane (sum dy, sum dy * xhat).
    let sums = Tensor::uninit(dev, &[n, c, 2], "group_norm backward (plane sums)");
    let entries = ("gn_plane_grads", "gn_plane_grads4_tex");
    norm.run_maybe_tex(entries, &[dy, x], &[stats, &sums], n * c, false);
    let groups = norm.groups();
    let means = Tensor::uninit(dev, &[groups, 2], "group_norm backward (group means)");
    norm.run("gn_group_grads", &[&sums, gamma, &means], groups);
    let dx = Tensor::uninit(dev, x.shape(), "group_norm backward");
    let rest = [stats, &means, gamma, &dx];
    norm.run_maybe_tex(("gn_dx", "gn_dx4_tex"), &[dy, x], &rest, x.numel(), true);
    // [C, 2] summed over the batch: (dbeta, dgamma) per channel.
    let per_c = sums.sum(&[0], false);
    let dbeta = per_c.narrow(1, 0, 1).reshape(&[c]);
    let dgamma = per_c.narrow(1, 1, 1).reshape(&[c]);
    (dx, dgamma, dbeta)
}

/// The op, recorded: (y, stats [groups, 2] detached) for x [N, C, *spatial] normalised over
/// `over`'s groups (`groups` of them for group norm; C for batch norm).
fn normalise(
    op: &'static str,
    x: &Tensor,
    over: Over,
    groups: usize,
    gamma: &Tensor,
    beta: &Tensor,
    eps: f32,
) -> (Tensor, Tensor) {
    let (n, c, s) = check_nc(op, x, &[("gamma", gamma), ("beta", beta)]);
    let u = |what: &str, v: usize| {
        u32::try_from(v).unwrap_or_else(|_| panic!("{op}: {what} {v} does not fit in 32 bits"))
    };
    let p = Params {
        n: u("batch", n),
        c: u("channels", c),
        g: u("groups", groups),
        s: u("spatial size", s),
        eps,
        _pad: [0; 3],
    };
    let norm = Norm { p, over };
    let (y, stats) = forward(x, gamma, beta, &norm);
    let (xs, gm, bt, st) = (x.clone(), gamma.clone(), beta.clone(), stats.clone());
    let y = y.record(op, &[x, gamma, beta], move |g| {
        let (dx, dgamma, dbeta) = backward(g, &xs, &gm, &st, &norm);
        vec![
            xs.requires_grad().then_some(dx),
            gm.requires_grad().then_some(dgamma),
            bt.requires_grad().then_some(dbeta),
        ]
    });
    (y, stats)
}

impl Tensor {
    /// nn.GroupNorm: x [N, C, *spatial], gamma/beta [C] -> x's shape. Mean and biased
    /// variance over each group of C/groups channels and all spatial positions, then the
    /// per-channel affine y * gamma + beta. Panics unless C is a multiple of `groups`.
    pub fn group_norm(&self, groups: usize, gamma: &Tensor, beta: &Tensor, eps: f32) -> Tensor {
        let op = "group_norm";
        let (_, c, _) = check_nc(op, self, &[("gamma", gamma), ("beta", beta)]);
        assert!(
            groups > 0 && c.is_multiple_of(groups),
            "{op}: {c} channels (x of shape {:?}) do not split into {groups} groups",
            self.shape()
        );
        if self.numel() == 0 {
            return Tensor::zeros(self.device(), self.shape());
        }
        normalise(op, self, Over::Groups, groups, gamma, beta, eps).0
    }

    /// Batch norm's normalisation in training mode, fused: x [N, C, *spatial] normalised with
    /// each channel's mean and biased variance over the batch and the spatial axes, then
    /// y * gamma + beta. Returns (y, stats [C, 2]: each channel's (mean, 1 / sqrt(var +
    /// eps)), detached). `batch_norm_train` (norm.rs) is built on it. x must be non-empty.
    pub(crate) fn batch_norm_fused(
        &self,
        gamma: &Tensor,
        beta: &Tensor,
        eps: f32,
    ) -> (Tensor, Tensor) {
        normalise(
            "batch_norm_train",
            self,
            Over::Channels,
            self.dim(1),
            gamma,
            beta,
            eps,
        )
    }
}
