//! The building blocks of lab 3's U-Net: the normalisation choice, the embedding adapters, the
//! residual layer, and the encoder / midcoder / decoder stages built from it.
//!
//! Legend: N = batch, C = channels, H, W = height and width at a stage, E = embedding dim
//! (40 in lab 3), L = residual layers per stage.

use engine::{Activation, Device, Tensor};

use super::UNetConfig;
use crate::nn::{BatchNorm2d, Conv2d, GroupNorm, Linear, SelfAttention2d};

/// Which normalisation the U-Net uses after each convolution.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NormKind {
    /// `nn.BatchNorm2d` (lab 3): batch statistics in training, running statistics in eval.
    Batch,
    /// `nn.GroupNorm`: statistics per sample over groups of channels, the same in training
    /// and in eval (see [`group_count`] for the number of groups).
    Group,
}

/// Groups of a GroupNorm over `c` channels: 8 (the usual choice) or the largest power of two
/// below it that divides `c`.
pub fn group_count(c: usize) -> usize {
    [8, 4, 2, 1]
        .into_iter()
        .find(|g| c.is_multiple_of(*g))
        .unwrap_or(1)
}

/// One normalisation layer over x [N, C, H, W].
pub enum Norm2d {
    Batch(BatchNorm2d),
    Group(GroupNorm),
}

impl Norm2d {
    pub fn new(dev: &Device, kind: NormKind, c: usize) -> Norm2d {
        match kind {
            NormKind::Batch => Norm2d::Batch(BatchNorm2d::new(dev, c)),
            NormKind::Group => Norm2d::Group(GroupNorm::new(dev, group_count(c), c)),
        }
    }

    /// x [N, C, H, W] -> [N, C, H, W]
    pub fn forward(&self, x: &Tensor) -> Tensor {
        match self {
            Norm2d::Batch(n) => n.forward(x),
            Norm2d::Group(n) => n.forward(x),
        }
    }

    /// Batch norm: batch statistics (true) or running statistics (false). Group norm: no-op.
    pub fn set_training(&mut self, on: bool) {
        if let Norm2d::Batch(n) = self {
            n.set_training(on);
        }
    }

    pub fn params(&self, prefix: &str) -> Vec<(String, Tensor)> {
        match self {
            Norm2d::Batch(n) => n.params(prefix),
            Norm2d::Group(n) => n.params(prefix),
        }
    }

    /// Batch norm's running mean and variance (not trained, but saved); none for group norm.
    pub fn buffers(&self, prefix: &str) -> Vec<(String, Tensor)> {
        match self {
            Norm2d::Batch(n) => n.buffers(prefix),
            Norm2d::Group(_) => Vec::new(),
        }
    }
}

/// Prefixes every name of `ps` with `prefix`.
pub fn prefixed(prefix: &str, ps: Vec<(String, Tensor)>) -> Vec<(String, Tensor)> {
    ps.into_iter()
        .map(|(n, t)| (format!("{prefix}{n}"), t))
        .collect()
}

/// SiLU -> norm -> Conv 3x3 (padding 1), keeping C and the size: lab 3's `block1` / `block2`.
pub struct ConvBlock {
    pub norm: Norm2d,
    pub conv: Conv2d,
}

impl ConvBlock {
    pub fn new(dev: &Device, norm: NormKind, c: usize) -> ConvBlock {
        ConvBlock {
            norm: Norm2d::new(dev, norm, c),
            conv: Conv2d::new(dev, c, c, 3, 1, 1),
        }
    }

    /// x [N, C, H, W] -> [N, C, H, W]
    pub fn forward(&self, x: &Tensor) -> Tensor {
        self.conv.forward(&self.norm.forward(&x.silu()))
    }

    pub fn params(&self, prefix: &str) -> Vec<(String, Tensor)> {
        let p = |name: &str| format!("{prefix}{name}");
        [self.norm.params(&p("norm.")), self.conv.params(&p("conv."))].concat()
    }
}

/// Linear(E, E) -> SiLU -> Linear(E, C): maps a time or label embedding to one offset per
/// channel.
pub struct Adapter {
    pub fc1: Linear,
    pub fc2: Linear,
}

impl Adapter {
    pub fn new(dev: &Device, emb: usize, c: usize) -> Adapter {
        Adapter {
            fc1: Linear::new(dev, emb, emb),
            fc2: Linear::new(dev, emb, c),
        }
    }

    /// e [N, E] -> [N, C, 1, 1], ready to broadcast over [N, C, H, W].
    pub fn forward(&self, e: &Tensor) -> Tensor {
        let out = self.fc2.forward(&self.fc1.forward_act(e, Activation::Silu)); // [N, C]
        out.reshape(&[out.dim(0), out.dim(1), 1, 1])
    }

    pub fn params(&self, prefix: &str) -> Vec<(String, Tensor)> {
        // Named after lab 3's nn.Sequential indices (0 and 2; 1 is the SiLU).
        let p = |name: &str| format!("{prefix}{name}");
        [self.fc1.params(&p("0.")), self.fc2.params(&p("2."))].concat()
    }
}

/// Lab 3's `ResidualLayer(C)`:
///   h = block1(x) + time_adapter(t_emb) + y_adapter(y_emb)   (per-channel offsets)
///   out = block2(h) + x
pub struct ResidualLayer {
    pub block1: ConvBlock,
    pub block2: ConvBlock,
    pub time_adapter: Adapter,
    pub y_adapter: Adapter,
}

impl ResidualLayer {
    pub fn new(dev: &Device, norm: NormKind, c: usize, t_dim: usize, y_dim: usize) -> Self {
        ResidualLayer {
            block1: ConvBlock::new(dev, norm, c),
            block2: ConvBlock::new(dev, norm, c),
            time_adapter: Adapter::new(dev, t_dim, c),
            y_adapter: Adapter::new(dev, y_dim, c),
        }
    }

    /// x [N, C, H, W], t_emb [N, E_t], y_emb [N, E_y] -> [N, C, H, W]
    pub fn forward(&self, x: &Tensor, t_emb: &Tensor, y_emb: &Tensor) -> Tensor {
        let h = self
            .block1
            .forward(x)
            .add(&self.time_adapter.forward(t_emb))
            .add(&self.y_adapter.forward(y_emb));
        self.block2.forward(&h).add(x)
    }

    fn norms(&mut self) -> [&mut Norm2d; 2] {
        [&mut self.block1.norm, &mut self.block2.norm]
    }

    pub fn params(&self, prefix: &str) -> Vec<(String, Tensor)> {
        let p = |name: &str| format!("{prefix}{name}");
        [
            self.block1.params(&p("block1.")),
            self.block2.params(&p("block2.")),
            self.time_adapter.params(&p("time_adapter.")),
            self.y_adapter.params(&p("y_adapter.")),
        ]
        .concat()
    }

    pub fn buffers(&self, prefix: &str) -> Vec<(String, Tensor)> {
        let p = |name: &str| format!("{prefix}{name}");
        [
            self.block1.norm.buffers(&p("block1.norm.")),
            self.block2.norm.buffers(&p("block2.norm.")),
        ]
        .concat()
    }
}

/// L residual layers on one resolution, applied in order: what every stage holds.
pub struct ResidualStack(pub Vec<ResidualLayer>);

impl ResidualStack {
    /// `cfg.layers` residual layers on C = `c` channels.
    pub fn new(dev: &Device, cfg: &UNetConfig, c: usize) -> Self {
        let (norm, t, y) = (cfg.norm, cfg.t_dim, cfg.y_dim);
        ResidualStack(
            (0..cfg.layers)
                .map(|_| ResidualLayer::new(dev, norm, c, t, y))
                .collect(),
        )
    }

    /// x [N, C, H, W] -> [N, C, H, W]
    pub fn forward(&self, x: &Tensor, t_emb: &Tensor, y_emb: &Tensor) -> Tensor {
        self.0
            .iter()
            .fold(x.clone(), |x, layer| layer.forward(&x, t_emb, y_emb))
    }

    pub fn set_training(&mut self, on: bool) {
        for layer in &mut self.0 {
            layer.norms().into_iter().for_each(|n| n.set_training(on));
        }
    }

    pub fn params(&self, prefix: &str) -> Vec<(String, Tensor)> {
        let each = self.0.iter().enumerate();
        each.flat_map(|(i, l)| l.params(&format!("{prefix}{i}.")))
            .collect()
    }

    pub fn buffers(&self, prefix: &str) -> Vec<(String, Tensor)> {
        let each = self.0.iter().enumerate();
        each.flat_map(|(i, l)| l.buffers(&format!("{prefix}{i}.")))
            .collect()
    }
}

/// Lab 3's `Encoder(C_in, C_out)`: L residual layers on C_in, then a stride-2 Conv 3x3
/// (padding 1) to C_out: [N, C_in, H, W] -> [N, C_out, H/2, W/2].
pub struct Encoder {
    pub res: ResidualStack,
    pub downsample: Conv2d,
}

impl Encoder {
    pub fn new(dev: &Device, cfg: &UNetConfig, cin: usize, cout: usize) -> Self {
        Encoder {
            res: ResidualStack::new(dev, cfg, cin),
            downsample: Conv2d::new(dev, cin, cout, 3, 2, 1),
        }
    }

    /// x [N, C_in, H, W] -> [N, C_out, H/2, W/2]
    pub fn forward(&self, x: &Tensor, t_emb: &Tensor, y_emb: &Tensor) -> Tensor {
        self.downsample.forward(&self.res.forward(x, t_emb, y_emb))
    }

    pub fn params(&self, prefix: &str) -> Vec<(String, Tensor)> {
        let p = |name: &str| format!("{prefix}{name}");
        [
            self.res.params(&p("res.")),
            self.downsample.params(&p("downsample.")),
        ]
        .concat()
    }
}

/// Lab 3's `Midcoder(C)`: L residual layers at the lowest resolution, then (optionally, not in
/// lab 3) multi-head self-attention over its H * W positions with a residual add.
pub struct Midcoder {
    pub res: ResidualStack,
    pub attention: Option<SelfAttention2d>,
}

impl Midcoder {
    /// x [N, C, H, W] -> [N, C, H, W]
    pub fn forward(&self, x: &Tensor, t_emb: &Tensor, y_emb: &Tensor) -> Tensor {
        let h = self.res.forward(x, t_emb, y_emb);
        match &self.attention {
            Some(a) => a.forward(&h),
            None => h,
        }
    }

    pub fn params(&self, prefix: &str) -> Vec<(String, Tensor)> {
        let mut p = self.res.params(&format!("{prefix}res."));
        if let Some(a) = &self.attention {
            p.extend(a.params(&format!("{prefix}attention.")));
        }
        p
    }
}

/// Lab 3's `Decoder(C_in, C_out)`: bilinear x2 upsampling, Conv 3x3 (padding 1) to C_out, then
/// L residual layers on C_out: [N, C_in, H, W] -> [N, C_out, 2H, 2W].
pub struct Decoder {
    pub upsample_conv: Conv2d,
    pub res: ResidualStack,
}

impl Decoder {
    pub fn new(dev: &Device, cfg: &UNetConfig, cin: usize, cout: usize) -> Self {
        Decoder {
            upsample_conv: Conv2d::new(dev, cin, cout, 3, 1, 1),
            res: ResidualStack::new(dev, cfg, cout),
        }
    }

    /// x [N, C_in, H, W] -> [N, C_out, 2H, 2W]
    pub fn forward(&self, x: &Tensor, t_emb: &Tensor, y_emb: &Tensor) -> Tensor {
        let up = self.upsample_conv.forward(&x.upsample_bilinear2d(2));
        self.res.forward(&up, t_emb, y_emb)
    }

    pub fn params(&self, prefix: &str) -> Vec<(String, Tensor)> {
        let p = |name: &str| format!("{prefix}{name}");
        [
            self.upsample_conv.params(&p("upsample.")),
            self.res.params(&p("res.")),
        ]
        .concat()
    }
}
