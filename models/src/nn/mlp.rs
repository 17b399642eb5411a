//! A multi-layer perceptron: Linear -> act -> Linear -> act -> ... -> Linear.

use engine::{Device, Tensor};

use super::Linear;

/// SiLU, ReLU or tanh: the engine's, which `Tensor::linear_act` can apply in a product's store.
pub use engine::Activation;

pub struct Mlp {
    pub layers: Vec<Linear>,
    pub activation: Activation,
}

impl Mlp {
    /// `dims` = [in, hidden..., out]; e.g. [2, 256, 256, 256, 2] has three hidden layers.
    pub fn new(dev: &Device, dims: &[usize], activation: Activation) -> Mlp {
        assert!(
            dims.len() >= 2,
            "Mlp: dims {dims:?} need at least an input and an output size"
        );
        let layers = dims
            .windows(2)
            .map(|w| Linear::new(dev, w[0], w[1]))
            .collect();
        Mlp { layers, activation }
    }

    /// x [..., in] -> [..., out]
    pub fn forward(&self, x: &Tensor) -> Tensor {
        let (last, hidden) = self.layers.split_last().expect("Mlp has layers");
        let mut h = x.clone();
        for layer in hidden {
            h = layer.forward_act(&h, self.activation);
        }
        last.forward(&h)
    }

    /// Every parameter, named "layers.{i}.weight" / "layers.{i}.bias".
    pub fn params(&self) -> Vec<(String, Tensor)> {
        self.layers
            .iter()
            .enumerate()
            .flat_map(|(i, l)| l.params(&format!("layers.{i}.")))
            .collect()
    }

    pub fn num_params(&self) -> usize {
        self.params().iter().map(|(_, t)| t.numel()).sum()
    }
}
