//! Adam (Kingma & Ba 2015) with bias correction, and AdamW (Loshchilov & Hutter 2019).
//!
//!   Adam:  g <- g + wd * p   (an L2 penalty folded into the gradient)
//!   AdamW: p <- p - lr * wd * p   (decoupled decay)
//!   m <- b1 m + (1 - b1) g;  v <- b2 v + (1 - b2) g^2
//!   p <- p - lr * (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps)

use super::{check_params, multi, n32, Optimizer, Params};
use crate::kernels::{Kernel, OPTIM};
use crate::shape::grid_1d;
use crate::tensor::Tensor;
use crate::texture_pool::{self, Flat};

pub struct Adam {
    pub lr: f32,
    pub beta1: f32,
    pub beta2: f32,
    pub eps: f32,
    pub weight_decay: f32,
    /// true: AdamW's decoupled weight decay; false: L2 decay added to the gradient.
    pub decoupled: bool,
    params: Vec<Tensor>,
    m: Vec<Tensor>, // m[i], v[i] have params[i]'s shape
    v: Vec<Tensor>,
    steps: u64,
}

impl Adam {
    /// Adam with betas (0.9, 0.999), eps 1e-8, no weight decay.
    pub fn new(params: &[Tensor], lr: f32) -> Adam {
        check_params("Adam::new", params);
        Adam {
            lr,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 0.0,
            decoupled: false,
            params: params.to_vec(),
            m: params.iter().map(|p| p.zeros_like()).collect(),
            v: params.iter().map(|p| p.zeros_like()).collect(),
            steps: 0,
        }
    }

    /// AdamW: decoupled weight decay `weight_decay`.
    pub fn adamw(params: &[Tensor], lr: f32, weight_decay: f32) -> Adam {
        Adam {
            weight_decay,
            decoupled: true,
            ..Adam::new(params, lr)
        }
    }

    pub fn with_betas(self, beta1: f32, beta2: f32) -> Adam {
        Adam {
            beta1,
            beta2,
            ..self
        }
    }

    pub fn with_eps(self, eps: f32) -> Adam {
        Adam { eps, ..self }
    }

    /// L2 weight decay (or decoupled decay, for an optimizer made by `adamw`).
    pub fn with_weight_decay(self, weight_decay: f32) -> Adam {
        Adam {
            weight_decay,
            ..self
        }
    }
}

impl Optimizer for Adam {
    fn step(&mut self) {
        self.steps += 1;
        let t = self.steps as f64;
        let u = Params {
            lr: self.lr,
            momentum: self.beta1,
            beta2: self.beta2,
            eps: self.eps,
            weight_decay: self.weight_decay,
            bc1: (1.0 - (self.beta1 as f64).powf(t)) as f32,
            bc2: (1.0 - (self.beta2 as f64).powf(t)) as f32,
            ..Default::default()
        };
        let grads: Vec<Option<Tensor>> = self.params.iter().map(Tensor::grad).collect();
        let mut small: Vec<Vec<&Tensor>> = Vec::new();
        for (i, g) in grads.iter().enumerate() {
            let Some(g) = g else { continue };
            let (p, m, v) = (&self.params[i], &self.m[i], &self.v[i]);
            assert_eq!(
                g.shape(),
                p.shape(),
                "Adam: gradient shape {:?} != parameter shape {:?}",
                g.shape(),
                p.shape()
            );
            let n = n32("Adam", p);
            // CPU adapters: large tensors 4 values per invocation, read through flat textures.
            let rgba = wgpu::TextureFormat::Rgba32Float;
            let reads = [(p, rgba), (g, rgba), (m, rgba), (v, rgba)];
            let dev = p.device();
            if let Some(f) = n.is_multiple_of(4).then(|| Flat::all(&reads)).flatten() {
                let u = Params { n: n / 4, ..u };
                let k4 = Kernel::new(OPTIM, "adam_step4_tex")
                    .with("DECOUPLED", self.decoupled as u32 as f64);
                let grid = grid_1d(p.numel() / 4, 256);
                let outs = [p, m, v];
                texture_pool::dispatch_reading(dev, &k4, f, &outs, bytemuck::bytes_of(&u), grid);
            } else if multi::available(dev) && multi::holds_vec4s(&[p, g, m, v]) {
                small.push(vec![p, g, m, v]);
            } else {
                let k =
                    Kernel::new(OPTIM, "adam_step").with("DECOUPLED", self.decoupled as u32 as f64);
                dev.0.dispatch(
                    &k,
                    &[p.buffer(), g.buffer(), m.buffer(), v.buffer()],
                    bytemuck::bytes_of(&Params { n, ..u }),
                    grid_1d(p.numel(), 256),
                );
            }
        }
        // The rest several per dispatch.
        multi::adam(&small, self.decoupled, u);
    }

    fn zero_grad(&self) {
        self.params.iter().for_each(Tensor::zero_grad);
    }

    fn lr(&self) -> f32 {
        self.lr
    }

    fn set_lr(&mut self, lr: f32) {
        self.lr = lr;
    }

    fn step_count(&self) -> u64 {
        self.steps
    }

    fn set_step_count(&mut self, steps: u64) {
        self.steps = steps;
    }

    fn state(&self) -> Vec<(String, Tensor)> {
        let m = self
            .m
            .iter()
            .enumerate()
            .map(|(i, t)| (format!("m.{i}"), t.clone()));
        let v = self
            .v
            .iter()
            .enumerate()
            .map(|(i, t)| (format!("v.{i}"), t.clone()));
        m.chain(v).collect()
    }
}
