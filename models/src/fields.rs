//! Learned time-dependent fields on R^D: an MLP on [x, t] (a vector field u_t(x) or a score
//! s_t(x), the network is the same), and its label-conditional version for classifier-free
//! guidance. Legend: N = batch, D = data dimension, E = label-embedding size, L = labels.

use engine::{no_grad, Device, Tensor};

use crate::dynamics::Ode;
use crate::nn::{Activation, Mlp};
use crate::path::full_time;

/// Lab 2's hidden sizes.
pub const DEFAULT_HIDDEN: [usize; 4] = [64, 64, 64, 64];

/// A field evaluated at per-sample times: what the training losses need.
pub trait VectorField {
    /// x [N, D], t [N, 1] -> [N, D].
    fn forward(&self, x: &Tensor, t: &Tensor) -> Tensor;
}

impl<T: VectorField + ?Sized> VectorField for &T {
    fn forward(&self, x: &Tensor, t: &Tensor) -> Tensor {
        (**self).forward(x, t)
    }
}

/// Any `VectorField` as an `Ode` (t broadcast to every row), for the simulators.
pub struct FieldOde<F>(pub F);

impl<F: VectorField> Ode for FieldOde<F> {
    fn drift(&self, x: &Tensor, t: f32) -> Tensor {
        self.0.forward(x, &full_time(x.device(), x.dim(0), t))
    }
}

/// u_theta(x, t) = MLP([x, t]) with SiLU: D + 1 -> hidden... -> D.
pub struct MlpVectorField {
    pub mlp: Mlp,
    pub dim: usize,
}

impl MlpVectorField {
    /// `hidden` e.g. [64, 64, 64, 64] (`DEFAULT_HIDDEN`); weights from the device generator.
    pub fn new(dev: &Device, dim: usize, hidden: &[usize]) -> MlpVectorField {
        let dims = [&[dim + 1][..], hidden, &[dim]].concat();
        MlpVectorField {
            mlp: Mlp::new(dev, &dims, Activation::Silu),
            dim,
        }
    }

    /// x [N, D], t [N, 1] -> [N, D].
    pub fn forward(&self, x: &Tensor, t: &Tensor) -> Tensor {
        check_xt("MlpVectorField::forward", x, t, self.dim);
        self.mlp.forward(&Tensor::concat(&[x, t], 1)) // input [N, D + 1]
    }

    /// Named parameters ("mlp.layers.0.weight", ...).
    pub fn params(&self) -> Vec<(String, Tensor)> {
        prefixed("mlp.", self.mlp.params())
    }

    /// The parameter tensors (for an optimizer).
    pub fn param_tensors(&self) -> Vec<Tensor> {
        self.params().into_iter().map(|(_, t)| t).collect()
    }

    pub fn num_params(&self) -> usize {
        self.mlp.num_params()
    }
}

impl VectorField for MlpVectorField {
    fn forward(&self, x: &Tensor, t: &Tensor) -> Tensor {
        MlpVectorField::forward(self, x, t)
    }
}

impl Ode for MlpVectorField {
    fn drift(&self, x: &Tensor, t: f32) -> Tensor {
        self.forward(x, &full_time(x.device(), x.dim(0), t))
    }
}

/// u_theta(x, t, y) = MLP([x, t, emb(y)]) with a learned embedding table [L + 1, E] whose last
/// row is the null label (label = L: "no label", used for label dropout and for the
/// unconditional field of classifier-free guidance).
pub struct ConditionalMlpField {
    pub mlp: Mlp,
    /// [L + 1, E]
    pub embedding: Tensor,
    pub dim: usize,
    pub num_labels: usize,
}

impl ConditionalMlpField {
    pub fn new(
        dev: &Device,
        dim: usize,
        num_labels: usize,
        emb: usize,
        hidden: &[usize],
    ) -> ConditionalMlpField {
        let dims = [&[dim + 1 + emb][..], hidden, &[dim]].concat();
        let embedding =
            no_grad(|| Tensor::randn(dev, &[num_labels + 1, emb])).set_requires_grad(true);
        ConditionalMlpField {
            mlp: Mlp::new(dev, &dims, Activation::Silu),
            embedding,
            dim,
            num_labels,
        }
    }

    /// The null label's index, L.
    pub fn null_label(&self) -> u32 {
        self.num_labels as u32
    }

    /// x [N, D], t [N, 1], labels y [N] in 0..=L (L = null) -> [N, D].
    pub fn forward(&self, x: &Tensor, t: &Tensor, y: &[u32]) -> Tensor {
        check_xt("ConditionalMlpField::forward", x, t, self.dim);
        assert!(
            y.len() == x.dim(0),
            "ConditionalMlpField::forward: {} labels for x of shape {:?}",
            y.len(),
            x.shape()
        );
        let e = self.embedding.index_select(0, y); // [N, E]
        self.mlp.forward(&Tensor::concat(&[x, t, &e], 1)) // input [N, D + 1 + E]
    }

    /// The unconditional field u(x | null).
    pub fn forward_null(&self, x: &Tensor, t: &Tensor) -> Tensor {
        self.forward(x, t, &vec![self.null_label(); x.dim(0)])
    }

    pub fn params(&self) -> Vec<(String, Tensor)> {
        let mut p = vec![("embedding".to_string(), self.embedding.clone())];
        p.extend(prefixed("mlp.", self.mlp.params()));
        p
    }

    pub fn param_tensors(&self) -> Vec<Tensor> {
        self.params().into_iter().map(|(_, t)| t).collect()
    }
}

fn prefixed(prefix: &str, ps: Vec<(String, Tensor)>) -> Vec<(String, Tensor)> {
    ps.into_iter()
        .map(|(n, t)| (format!("{prefix}{n}"), t))
        .collect()
}

fn check_xt(who: &str, x: &Tensor, t: &Tensor, dim: usize) {
    assert!(
        x.rank() == 2 && x.dim(1) == dim && t.shape() == [x.dim(0), 1],
        "{who}: x {:?} and t {:?}, expected [N, {dim}] and [N, 1]",
        x.shape(),
        t.shape()
    );
}
