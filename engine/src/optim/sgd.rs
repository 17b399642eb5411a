//! SGD with momentum, in PyTorch's form: buf = momentum * buf + g; p -= lr * buf.

use super::{check_params, n32, Optimizer, Params};
use crate::kernels::{Kernel, OPTIM};
use crate::shape::grid_1d;
use crate::tensor::Tensor;

pub struct Sgd {
    pub lr: f32,
    pub momentum: f32,
    params: Vec<Tensor>,
    buf: Vec<Tensor>, // buf[i] has params[i]'s shape
    steps: u64,
}

impl Sgd {
    pub fn new(params: &[Tensor], lr: f32, momentum: f32) -> Sgd {
        check_params("Sgd::new", params);
        let buf = params.iter().map(|p| p.zeros_like()).collect();
        Sgd {
            lr,
            momentum,
            params: params.to_vec(),
            buf,
            steps: 0,
        }
    }
}

impl Optimizer for Sgd {
    fn step(&mut self) {
        for (p, b) in self.params.iter().zip(&self.buf) {
            let Some(g) = p.grad() else { continue };
            assert_eq!(
                g.shape(),
                p.shape(),
                "Sgd: gradient shape {:?} != parameter shape {:?}",
                g.shape(),
                p.shape()
            );
            let u = Params {
                n: n32("Sgd", p),
                lr: self.lr,
                momentum: self.momentum,
                ..Default::default()
            };
            let k = Kernel::new(OPTIM, "sgd_step");
            p.device().0.dispatch(
                &k,
                &[p.buffer(), g.buffer(), b.buffer()],
                bytemuck::bytes_of(&u),
                grid_1d(p.numel(), 256),
            );
        }
        self.steps += 1;
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
        self.buf
            .iter()
            .enumerate()
            .map(|(i, b)| (format!("momentum.{i}"), b.clone()))
            .collect()
    }
}
