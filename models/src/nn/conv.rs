//! A 2-D convolution layer: y = conv2d(x, W, stride, padding) + b, over NCHW tensors.

use engine::{no_grad, Device, Tensor};

pub struct Conv2d {
    /// [Cout, Cin, k, k]
    pub weight: Tensor,
    /// [Cout]
    pub bias: Tensor,
    pub stride: usize,
    pub padding: usize,
}

impl Conv2d {
    /// A `kernel` x `kernel` convolution from `cin` to `cout` channels with PyTorch's default
    /// initialisation: weight and bias uniform in ±1/sqrt(cin * kernel * kernel), from the
    /// device RNG.
    pub fn new(
        dev: &Device,
        cin: usize,
        cout: usize,
        kernel: usize,
        stride: usize,
        padding: usize,
    ) -> Conv2d {
        let k = 1.0 / ((cin * kernel * kernel) as f32).sqrt();
        let uniform = |shape: &[usize]| {
            no_grad(|| Tensor::rand(dev, shape).mul_scalar(2.0 * k).add_scalar(-k))
        };
        Conv2d {
            weight: uniform(&[cout, cin, kernel, kernel]).set_requires_grad(true),
            bias: uniform(&[cout]).set_requires_grad(true),
            stride,
            padding,
        }
    }

    /// x [N, Cin, H, W] -> [N, Cout, OH, OW], OH = (H + 2*padding - k) / stride + 1.
    pub fn forward(&self, x: &Tensor) -> Tensor {
        x.conv2d(&self.weight, Some(&self.bias), self.stride, self.padding)
    }

    /// `prefix`weight and `prefix`bias.
    pub fn params(&self, prefix: &str) -> Vec<(String, Tensor)> {
        vec![
            (format!("{prefix}weight"), self.weight.clone()),
            (format!("{prefix}bias"), self.bias.clone()),
        ]
    }
}
