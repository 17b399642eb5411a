//! Lab 3's conditional U-Net (`MNISTUNet`): a vector field u_theta(x, t, y) on images, for flow
//! matching with classifier-free guidance.
//!
//! Legend: N = batch, H, W = image size (32 x 32 for MNIST resized), C_i = channels[i],
//! K = number of levels (channels.len()), E = embedding dims (40 in lab 3), L = residual layers
//! per stage.
//!
//!   t_emb = FourierEncoder(t)  [N, E_t];   y_emb = Embedding(11, E_y)[y]  [N, E_y]  (y = 10: null)
//!   x = SiLU(norm(Conv3x3(x)))                          [N, C_0, H, W]
//!   for i in 0..K-1:  x = Encoder(C_i -> C_{i+1})(x);  keep x          (H, W halve each time)
//!   x = Midcoder(C_{K-1})(x)                            [N, C_{K-1}, H / 2^(K-1), W / 2^(K-1)]
//!   for i in (0..K-1).rev():  x = Decoder(C_{i+1} -> C_i)(x + kept.pop())
//!   out = Conv3x3(C_0 -> 1)(x)                          [N, 1, H, W]
//!
//! Every residual layer adds per-channel offsets computed from t_emb and y_emb (see
//! [`blocks::ResidualLayer`]), which is how time and label reach every resolution.

mod blocks;
mod field;
mod trainer;

pub use blocks::{
    group_count, Adapter, ConvBlock, Decoder, Encoder, Midcoder, Norm2d, NormKind, ResidualLayer,
    ResidualStack,
};
pub use field::{cfg_condot_loss, drop_labels, GuidedUNet};
pub use trainer::{
    load_for_sampling, norm_name, read_config, write_config, TrainSettings, UNetTrainer, EMA_PREFIX,
};

use engine::{no_grad, Device, Tensor};

use crate::nn::{Conv2d, FourierEncoder, SelfAttention2d};
use blocks::prefixed;

/// Number of real classes (MNIST digits); the label `NUM_CLASSES` is the null label.
pub const NUM_CLASSES: usize = 10;
/// The null label of classifier-free guidance ("no label").
pub const NULL_LABEL: u32 = NUM_CLASSES as u32;

/// The shape of a U-Net.
#[derive(Clone, Debug, PartialEq)]
pub struct UNetConfig {
    /// Channels per level, from the input resolution down: [32, 64, 128] in lab 3.
    pub channels: Vec<usize>,
    /// Residual layers in every encoder, the midcoder and every decoder (lab 3: 2).
    pub layers: usize,
    /// Fourier time-embedding dim (even; lab 3: 40).
    pub t_dim: usize,
    /// Label-embedding dim (lab 3: 40).
    pub y_dim: usize,
    pub norm: NormKind,
    /// Self-attention in the midcoder (not in lab 3), with this many heads; 0 = none.
    pub attention_heads: usize,
}

impl UNetConfig {
    /// Lab 3's model: channels [32, 64, 128], 2 residual layers, embeddings of 40, batch norm,
    /// no attention (about 1.23 M parameters).
    pub fn lab3() -> UNetConfig {
        UNetConfig {
            channels: vec![32, 64, 128],
            layers: 2,
            t_dim: 40,
            y_dim: 40,
            norm: NormKind::Batch,
            attention_heads: 0,
        }
    }

    /// Chapter 6's default profile: lab 3's model at a quarter of its channels, one residual
    /// layer per stage and group norm (sized for a 2-core CPU).
    pub fn small() -> UNetConfig {
        UNetConfig {
            channels: vec![8, 16, 32],
            layers: 1,
            norm: NormKind::Group,
            ..UNetConfig::lab3()
        }
    }
}

/// The conditional U-Net u_theta(x, t, y).
pub struct UNet {
    pub config: UNetConfig,
    pub time_embedder: FourierEncoder,
    /// [11, E_y]: one row per digit, the last for the null label; N(0, 1) as `nn.Embedding`.
    pub y_embedder: Tensor,
    pub init_conv: Conv2d,
    pub init_norm: Norm2d,
    pub encoders: Vec<Encoder>,
    pub midcoder: Midcoder,
    /// In the order they run: decoders[0] works at the lowest resolution.
    pub decoders: Vec<Decoder>,
    pub final_conv: Conv2d,
}

impl UNet {
    pub fn new(dev: &Device, config: &UNetConfig) -> UNet {
        let c = &config.channels;
        assert!(
            !c.is_empty() && c.iter().all(|&ch| ch > 0),
            "UNet::new: channels must be a non-empty list of positive sizes, got {c:?}"
        );
        assert!(
            config.layers > 0,
            "UNet::new: needs at least one residual layer per stage"
        );
        let encoders = c
            .windows(2)
            .map(|w| Encoder::new(dev, config, w[0], w[1]))
            .collect();
        let decoders = c
            .windows(2)
            .rev()
            .map(|w| Decoder::new(dev, config, w[1], w[0]))
            .collect();
        let last = *c.last().unwrap();
        let attention = (config.attention_heads > 0)
            .then(|| SelfAttention2d::new(dev, last, config.attention_heads));
        UNet {
            config: config.clone(),
            time_embedder: FourierEncoder::new(dev, config.t_dim),
            y_embedder: no_grad(|| Tensor::randn(dev, &[NUM_CLASSES + 1, config.y_dim]))
                .set_requires_grad(true),
            init_conv: Conv2d::new(dev, 1, c[0], 3, 1, 1),
            init_norm: Norm2d::new(dev, config.norm, c[0]),
            encoders,
            midcoder: Midcoder {
                res: ResidualStack::new(dev, config, last),
                attention,
            },
            decoders,
            final_conv: Conv2d::new(dev, c[0], 1, 3, 1, 1),
        }
    }

    /// x [N, 1, H, W], t [N] in [0, 1], labels y [N] in 0..=10 (10 = null) -> [N, 1, H, W].
    /// H and W must be multiples of 2^(K-1).
    pub fn forward(&self, x: &Tensor, t: &Tensor, y: &[u32]) -> Tensor {
        self.check_input(x, t, y);
        let t_emb = self.time_embedder.forward(t); // [N, E_t]
        let y_emb = self.y_embedder.index_select(0, y); // [N, E_y]
        let mut h = self.init_norm.forward(&self.init_conv.forward(x)).silu(); // [N, C_0, H, W]
        let mut kept = Vec::with_capacity(self.encoders.len());
        for enc in &self.encoders {
            h = enc.forward(&h, &t_emb, &y_emb);
            kept.push(h.clone());
        }
        h = self.midcoder.forward(&h, &t_emb, &y_emb);
        for dec in &self.decoders {
            let skip = kept.pop().expect("one kept activation per decoder");
            h = dec.forward(&h.add(&skip), &t_emb, &y_emb);
        }
        self.final_conv.forward(&h)
    }

    fn check_input(&self, x: &Tensor, t: &Tensor, y: &[u32]) {
        let factor = 1 << (self.config.channels.len() - 1);
        assert!(
            x.rank() == 4
                && x.dim(1) == 1
                && x.dim(2).is_multiple_of(factor)
                && x.dim(3).is_multiple_of(factor),
            "UNet::forward: x must be [N, 1, H, W] with H and W multiples of {factor}, got {:?}",
            x.shape()
        );
        let n = x.dim(0);
        assert!(
            t.shape() == [n],
            "UNet::forward: t must be [N] = [{n}] for x {:?}, got {:?}",
            x.shape(),
            t.shape()
        );
        assert!(
            y.len() == n,
            "UNet::forward: {} labels for x of shape {:?}",
            y.len(),
            x.shape()
        );
        if let Some(bad) = y.iter().find(|&&l| l > NULL_LABEL) {
            panic!(
                "UNet::forward: label {bad} is not a digit 0..=9 or the null label {NULL_LABEL}"
            );
        }
    }

    /// Batch norm: batch statistics and running-statistic updates (true, for training) or the
    /// running statistics (false, for sampling). No effect with group norm.
    pub fn set_training(&mut self, on: bool) {
        self.init_norm.set_training(on);
        for e in &mut self.encoders {
            e.res.set_training(on);
        }
        self.midcoder.res.set_training(on);
        for d in &mut self.decoders {
            d.res.set_training(on);
        }
    }

    /// Every trained tensor by name ("encoders.0.res.1.block1.conv.weight").
    pub fn params(&self) -> Vec<(String, Tensor)> {
        let mut p = self.time_embedder.params("time_embedder.");
        p.push(("y_embedder.weight".into(), self.y_embedder.clone()));
        p.extend(self.init_conv.params("init_conv."));
        p.extend(self.init_norm.params("init_norm."));
        for (i, e) in self.encoders.iter().enumerate() {
            p.extend(e.params(&format!("encoders.{i}.")));
        }
        p.extend(self.midcoder.params("midcoder."));
        for (i, d) in self.decoders.iter().enumerate() {
            p.extend(d.params(&format!("decoders.{i}.")));
        }
        p.extend(self.final_conv.params("final_conv."));
        p
    }

    /// The parameter tensors alone, in `params` order (for optimizers and the EMA).
    pub fn param_tensors(&self) -> Vec<Tensor> {
        self.params().into_iter().map(|(_, t)| t).collect()
    }

    /// Saved but not trained: batch norm's running statistics (empty with group norm).
    pub fn buffers(&self) -> Vec<(String, Tensor)> {
        let mut b = self.init_norm.buffers("init_norm.");
        for (i, e) in self.encoders.iter().enumerate() {
            b.extend(e.res.buffers(&format!("encoders.{i}.res.")));
        }
        b.extend(self.midcoder.res.buffers("midcoder.res."));
        for (i, d) in self.decoders.iter().enumerate() {
            b.extend(d.res.buffers(&format!("decoders.{i}.res.")));
        }
        prefixed("buffers.", b)
    }

    /// Multiply-add FLOPs (2 per multiply-add) of all the convolutions of one forward pass of
    /// a batch of `n` images of `h` x `w`; a training step's convolutions cost about 3 times
    /// this (forward, gradient of the input, gradient of the weight).
    pub fn conv_flops(&self, n: usize, h: usize, w: usize) -> u64 {
        let c = &self.config.channels;
        // A 3x3 conv from cin to cout channels with an output of px pixels.
        let conv = |cin: usize, cout: usize, px: usize| (2 * n * cout * px * cin * 9) as u64;
        let px = |level: usize| (h >> level) * (w >> level);
        let stack =
            |ch: usize, level: usize| 2 * self.config.layers as u64 * conv(ch, ch, px(level));
        let k = c.len() - 1;
        let mut f = conv(1, c[0], px(0)) + conv(c[0], 1, px(0)); // init and final convs
        for i in 0..k {
            f += stack(c[i], i) + conv(c[i], c[i + 1], px(i + 1)); // encoder i
            f += conv(c[i + 1], c[i], px(i)) + stack(c[i], i); // decoder i
        }
        f + stack(c[k], k) // midcoder
    }

    /// The number of trained scalars.
    pub fn num_params(&self) -> usize {
        self.params().iter().map(|(_, t)| t.numel()).sum()
    }
}
