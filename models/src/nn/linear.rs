//! A fully connected layer: y = x W + b (`Tensor::linear`: one dispatch on CPU adapters).

use engine::{no_grad, Activation, Device, Tensor};

pub struct Linear {
    /// [in, out]: stored so the forward is a plain `x @ W` with no transpose.
    pub weight: Tensor,
    /// [out]
    pub bias: Tensor,
}

impl Linear {
    /// PyTorch's default initialisation: W and b uniform in ±1/sqrt(in), from the device RNG.
    pub fn new(dev: &Device, fan_in: usize, fan_out: usize) -> Linear {
        let k = 1.0 / (fan_in as f32).sqrt();
        let uniform = |shape: &[usize]| {
            no_grad(|| Tensor::rand(dev, shape).mul_scalar(2.0 * k).add_scalar(-k))
        };
        Linear {
            weight: uniform(&[fan_in, fan_out]).set_requires_grad(true),
            bias: uniform(&[fan_out]).set_requires_grad(true),
        }
    }

    /// x [..., in] -> [..., out]
    pub fn forward(&self, x: &Tensor) -> Tensor {
        self.apply(x, |x2| x2.linear(&self.weight, &self.bias))
    }

    /// act(x W + b), x [..., in] -> [..., out]: one dispatch on CPU adapters.
    pub fn forward_act(&self, x: &Tensor, act: Activation) -> Tensor {
        self.apply(x, |x2| x2.linear_act(&self.weight, &self.bias, act))
    }

    /// `f` on x with its leading axes folded into one: [..., in] -> [n, in] -> [n, out] -> [..., out].
    fn apply(&self, x: &Tensor, f: impl Fn(&Tensor) -> Tensor) -> Tensor {
        let (fan_in, fan_out) = (self.weight.dim(0), self.weight.dim(1));
        assert!(
            x.dim(-1) == fan_in,
            "Linear({fan_in} -> {fan_out}): input of shape {:?} has {} features",
            x.shape(),
            x.dim(-1)
        );
        if x.rank() == 2 {
            return f(x);
        }
        let lead = &x.shape()[..x.rank() - 1];
        let n: usize = lead.iter().product();
        f(&x.reshape(&[n, fan_in])).reshape(&[lead, &[fan_out]].concat())
    }

    pub fn params(&self, prefix: &str) -> Vec<(String, Tensor)> {
        vec![
            (format!("{prefix}weight"), self.weight.clone()),
            (format!("{prefix}bias"), self.bias.clone()),
        ]
    }
}
