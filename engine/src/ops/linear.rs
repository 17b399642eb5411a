//! A fully connected layer's ops: out = x W + b (`linear`), and act(x W + b) (`linear_act`).
//! Kernels: the epilogues of shaders/matmul_texture.wgsl (`matmul_texture_bias`,
//! `matmul_thin4_bias`, and the `_bias_act` entries) on adapters that run `matmul_texture`;
//! elsewhere, and where the epilogue does not apply, the product, a broadcast add and the
//! activation as separate ops, each with its backward.
//!
//! Legend: x is [M, K], weight is [K, N], bias is [N], out is [M, N].

use super::matmul_texture::{self, Epilogue};
use super::Activation;
use crate::tensor::Tensor;

/// Checks the shapes and devices; returns (M, K, N).
fn dims(x: &Tensor, w: &Tensor, b: &Tensor, op: &str) -> (usize, usize, usize) {
    assert!(
        x.rank() == 2
            && w.rank() == 2
            && b.rank() == 1
            && x.dim(1) == w.dim(0)
            && b.dim(0) == w.dim(1),
        "{op}: x {:?} @ weight {:?} + bias {:?}: needs [M, K] @ [K, N] + [N]",
        x.shape(),
        w.shape(),
        b.shape()
    );
    x.same_device(op, w);
    x.same_device(op, b);
    (x.dim(0), x.dim(1), w.dim(1))
}

/// The fused product where it applies: (z, h) with h = act(z) when `act` is given.
fn fused(
    x: &Tensor,
    w: &Tensor,
    b: &Tensor,
    act: Option<Activation>,
    op: &str,
) -> Option<(Tensor, Option<Tensor>)> {
    let (m, k, n) = dims(x, w, b, op);
    let dev = x.device();
    let ep = Epilogue {
        bias: b,
        act: act.map(Activation::code),
    };
    (dev.0.matmul_texture && k > 0 && matmul_texture::fits(dev, m, n, k))
        .then(|| matmul_texture::matmul_epilogue(x, w, ep, [m, n, k], op))
        .flatten()
}

/// The gradients of x W + b from dz: dx = dz W^T, dW = x^T dz, db = sum of dz over rows
/// (`db` when it is already computed).
fn affine_grads(
    x: &Tensor,
    w: &Tensor,
    b: &Tensor,
    dz: &Tensor,
    db: Option<Tensor>,
) -> Vec<Option<Tensor>> {
    vec![
        x.requires_grad().then(|| dz.matmul_t(w, false, true)),
        w.requires_grad().then(|| x.matmul_t(dz, true, false)),
        b.requires_grad()
            .then(|| db.unwrap_or_else(|| dz.sum(&[0], false))),
    ]
}

impl Tensor {
    /// x W + b: [M, K] @ [K, N] + [N] -> [M, N]. On CPU adapters the bias is added as the
    /// product is stored: one dispatch and one pass over out instead of two.
    pub fn linear(&self, weight: &Tensor, bias: &Tensor) -> Tensor {
        let Some((out, _)) = fused(self, weight, bias, None, "linear") else {
            return self.matmul(weight).add(bias);
        };
        let (x, w, b) = (self.clone(), weight.clone(), bias.clone());
        out.record("linear", &[self, weight, bias], move |g| {
            affine_grads(&x, &w, &b, g, None)
        })
    }

    /// act(x W + b): `linear` followed by the activation, which on CPU adapters is applied in
    /// the same store (one dispatch writing z = x W + b, kept for the backward, and act(z)).
    pub fn linear_act(&self, weight: &Tensor, bias: &Tensor, act: Activation) -> Tensor {
        let Some((z, Some(h))) = fused(self, weight, bias, Some(act), "linear_act") else {
            return act.apply(&self.linear(weight, bias));
        };
        let (x, w, b) = (self.clone(), weight.clone(), bias.clone());
        h.record("linear_act", &[self, weight, bias], move |g| {
            // dz = g * act'(z), with db = its column sums in the same dispatch where it fits.
            match act.grad_and_colsum(&z, g) {
                Some((dz, db)) => affine_grads(&x, &w, &b, &dz, Some(db)),
                None => affine_grads(&x, &w, &b, &act.grad(&z, g), None),
            }
        })
    }
}
