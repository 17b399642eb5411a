//! The affine map of a fully connected layer as one op: out = x W + b.
//! Kernels: the bias epilogue of shaders/matmul_texture.wgsl (`matmul_texture_bias`,
//! `matmul_thin4_bias`) on adapters that run `matmul_texture`; elsewhere, and where that
//! epilogue does not apply, the product and a broadcast add (two ops, each with its backward).
//!
//! Legend: x is [M, K], weight is [K, N], bias is [N], out is [M, N].

use super::matmul_texture;
use crate::tensor::Tensor;

impl Tensor {
    /// x W + b: [M, K] @ [K, N] + [N] -> [M, N]. On CPU adapters the bias is added as the
    /// product is stored: one dispatch and one pass over out instead of two.
    pub fn linear(&self, weight: &Tensor, bias: &Tensor) -> Tensor {
        let (x, w, b) = (self, weight, bias);
        assert!(
            x.rank() == 2 && w.rank() == 2 && b.rank() == 1 && x.dim(1) == w.dim(0) && b.dim(0) == w.dim(1),
            "linear: x {:?} @ weight {:?} + bias {:?}: needs [M, K] @ [K, N] + [N]",
            x.shape(),
            w.shape(),
            b.shape()
        );
        x.same_device("linear", w);
        x.same_device("linear", b);
        let (m, k, n) = (x.dim(0), x.dim(1), w.dim(1));
        let dev = x.device();
        let fused = (dev.0.matmul_texture && k > 0 && matmul_texture::fits(dev, m, n, k))
            .then(|| matmul_texture::matmul_bias(x, w, b, [m, n, k], "linear"))
            .flatten();
        let Some(out) = fused else {
            return x.matmul(w).add(b);
        };
        let (x, w, b) = (x.clone(), w.clone(), b.clone());
        out.record("linear", &[self, weight, bias], move |g| {
            // dx = g W^T,  dW = x^T g,  db = sum of g over the rows.
            vec![
                x.requires_grad().then(|| g.matmul_t(&w, false, true)),
                w.requires_grad().then(|| x.matmul_t(g, true, false)),
                b.requires_grad().then(|| g.sum(&[0], false)),
            ]
        })
    }
}
