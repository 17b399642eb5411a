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

impl Over {
    fn kernel(self, entry: &'static str) -> Kernel {
        Kernel::new(GROUP_NORM, entry).with("BATCH", (self == Over::Channels) as u32 as f64)
    }

    /// How many groups there are.
    fn groups(self, p: &Params) -> usize {
        match self {
            Over::Groups => (p.n * p.g) as usize,
            Over::Channels => p.c as usize,
        }
    }
}

/// Runs one entry point over `items` invocations.
fn run(entry: &'static str, over: Over, buffers: &[&Tensor], p: &Params, items: usize) {
    let dev = buffers[0].device();
    let bufs: Vec<&wgpu::Buffer> = buffers.iter().map(|t| t.buffer()).collect();
    dev.0.dispatch(
        &over.kernel(entry),
        &bufs,
        bytemuck::bytes_of(p),
        grid_1d(items, 64),
    );
}

/// Runs `entry`'s "4_tex" form (`textured`, x and dy read through flat textures, 4 values
/// per invocation where `items` counts values) when the device reads so and planes hold a
/// multiple of 4 values: `textured` leads the binding list, `buffers` follow. Else `entry`
/// on buffers alone (textured tensors first).
#[allow(clippy::too_many_arguments)]
fn run_maybe_tex(
    entry: &'static str,
    entry_tex: &'static str,
    over: Over,
    textured: &[&Tensor],
    buffers: &[&Tensor],
    p: &Params,
    items: usize,
    per_value: bool,
) {
    let rgba = wgpu::TextureFormat::Rgba32Float;
    let flats =
        p.s.is_multiple_of(4)
            .then(|| Flat::all(&textured.iter().map(|&t| (t, rgba)).collect::<Vec<_>>()))
            .flatten();
    let Some(flats) = flats else {
        let all: Vec<&Tensor> = textured.iter().chain(buffers).copied().collect();
        return run(entry, over, &all, p, items);
    };
    let items = if per_value { items / 4 } else { items };
    texture_pool::dispatch_reading(
        textured[0].device(),
        &over.kernel(entry_tex),
        flats,
        buffers,
        bytemuck::bytes_of(p),
        grid_1d(items, 64),
    );
}

/// Forward: (y of x's shape, stats [groups, 2]); records nothing.
fn forward(x: &Tensor, gamma: &Tensor, beta: &Tensor, p: &Params, over: Over) -> (Tensor, Tensor) {
    let dev = x.device();
    let (planes, groups) = ((p.n * p.c) as usize, over.groups(p));
    let moments = Tensor::uninit(dev, &[planes, 2], "group_norm (plane moments)");
    run_maybe_tex(
        "gn_plane_moments",
        "gn_plane_moments4_tex",
        over,
        &[x],
        &[&moments],
        p,
        planes,
        false,
    );
    let stats = Tensor::uninit(dev, &[groups, 2], "group_norm (stats)");
    run("gn_group_stats", over, &[&moments, &stats], p, groups);
    let y = Tensor::uninit(dev, x.shape(), "group_norm");
    let rest = [&stats, gamma, beta, &y];
    run_maybe_tex(
        "gn_apply",
        "gn_apply4_tex",
        over,
        &[x],
        &rest,
        p,
        x.numel(),
        true,
    );
    (y, stats)
}

/// Backward: (dx, dgamma, dbeta) for upstream dy; records nothing.
fn backward(
    dy: &Tensor,
    x: &Tensor,
    gamma: &Tensor,
    stats: &Tensor,
    p: &Params,
    over: Over,
) -> (Tensor, Tensor, Tensor) {
    let dev = x.device();
    let (n, c) = (p.n as usize, p.c as usize);
    // sums is [N, C, 2]: per plane (sum dy, sum dy * xhat).
    let sums = Tensor::uninit(dev, &[n, c, 2], "group_norm backward (plane sums)");
    let rest = [stats, &sums];
    run_maybe_tex(
        "gn_plane_grads",
        "gn_plane_grads4_tex",
        over,
        &[dy, x],
        &rest,
        p,
        n * c,
        false,
    );
    let groups = over.groups(p);
    let means = Tensor::uninit(dev, &[groups, 2], "group_norm backward (group means)");
    run("gn_group_grads", over, &[&sums, gamma, &means], p, groups);
    let dx = Tensor::uninit(dev, x.shape(), "group_norm backward");
    let rest = [stats, &means, gamma, &dx];
    run_maybe_tex(
        "gn_dx",
        "gn_dx4_tex",
        over,
        &[dy, x],
        &rest,
        p,
        x.numel(),
        true,
    );
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
    let (y, stats) = forward(x, gamma, beta, &p, over);
    let (xs, gm, bt, st) = (x.clone(), gamma.clone(), beta.clone(), stats.clone());
    let y = y.record(op, &[x, gamma, beta], move |g| {
        let (dx, dgamma, dbeta) = backward(g, &xs, &gm, &st, &p, over);
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
