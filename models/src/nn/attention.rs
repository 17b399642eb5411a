//! Multi-head self-attention over the pixels of a feature map, with a residual connection:
//! the attention block of a diffusion U-Net.
//!
//! Legend: N = batch, C = channels, H x W = spatial, T = H*W tokens, heads = attention heads,
//! D = C / heads = head dim.
//!   x [N, C, H, W] -> tokens [N, T, C] -> q, k, v [N, T, C] (Linear C -> C each)
//!   -> heads [N*heads, T, D] -> fused attention -> [N, T, C] -> out projection [N, T, C]
//!   -> [N, C, H, W], + x.
//! There is no normalisation inside: put a GroupNorm in front where the model needs one.

use engine::{Device, Tensor};

use super::Linear;

pub struct SelfAttention2d {
    pub channels: usize,
    pub heads: usize,
    pub q: Linear,
    pub k: Linear,
    pub v: Linear,
    pub out: Linear,
}

impl SelfAttention2d {
    /// Four C -> C projections with PyTorch's default Linear initialisation.
    /// Panics unless `channels` is a multiple of `heads`.
    pub fn new(dev: &Device, channels: usize, heads: usize) -> SelfAttention2d {
        assert!(
            heads > 0 && channels.is_multiple_of(heads),
            "SelfAttention2d::new: {channels} channels do not split into {heads} heads"
        );
        SelfAttention2d {
            channels,
            heads,
            q: Linear::new(dev, channels, channels),
            k: Linear::new(dev, channels, channels),
            v: Linear::new(dev, channels, channels),
            out: Linear::new(dev, channels, channels),
        }
    }

    /// x [N, C, H, W] -> x + attention(x), the same shape.
    pub fn forward(&self, x: &Tensor) -> Tensor {
        let c = self.channels;
        assert!(
            x.rank() == 4 && x.dim(1) == c,
            "SelfAttention2d({c} channels): input must be [N, {c}, H, W], got shape {:?}",
            x.shape()
        );
        let (n, h, w) = (x.dim(0), x.dim(2), x.dim(3));
        let (heads, t) = (self.heads, h * w);
        let d = c / heads;
        // tokens is [N, T, C]
        let tokens = x.reshape(&[n, c, t]).transpose(1, 2);
        // [N, T, C] -> [N, T, heads, D] -> [N, heads, T, D] -> [N*heads, T, D]
        let split = |y: Tensor| {
            y.reshape(&[n, t, heads, d])
                .permute(&[0, 2, 1, 3])
                .reshape(&[n * heads, t, d])
        };
        let q = split(self.q.forward(&tokens));
        let k = split(self.k.forward(&tokens));
        let v = split(self.v.forward(&tokens));
        // a is [N*heads, T, D] -> [N, heads, T, D] -> [N, T, heads, D] = [N, T, C]
        let a = Tensor::attention(&q, &k, &v)
            .reshape(&[n, heads, t, d])
            .permute(&[0, 2, 1, 3])
            .reshape(&[n, t, c]);
        // [N, T, C] -> [N, C, T] -> [N, C, H, W]
        let y = self.out.forward(&a).transpose(1, 2).reshape(x.shape());
        x.add(&y)
    }

    /// "q.weight", "q.bias", "k.*", "v.*", "out.*", each after `prefix`.
    pub fn params(&self, prefix: &str) -> Vec<(String, Tensor)> {
        [
            ("q", &self.q),
            ("k", &self.k),
            ("v", &self.v),
            ("out", &self.out),
        ]
        .into_iter()
        .flat_map(|(name, l)| l.params(&format!("{prefix}{name}.")))
        .collect()
    }
}
