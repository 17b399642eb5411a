//! Exponential moving average of the weights (sampling from diffusion / flow models uses the
//! averaged weights): shadow <- d * shadow + (1 - d) * p, with the warm-up
//! d_t = min(decay, (1 + t) / (10 + t)) at the t-th update (t from 0) when `warmup` is on.

use super::{check_params, clone_tensor, copy_into, multi, n32, Params};
use crate::kernels::{Kernel, OPTIM};
use crate::shape::grid_1d;
use crate::tensor::Tensor;
use crate::texture_pool::{self, Flat};

pub struct Ema {
    pub decay: f32,
    pub warmup: bool,
    params: Vec<Tensor>,
    shadow: Vec<Tensor>, // shadow[i] has params[i]'s shape
    updates: u64,
}

impl Ema {
    /// Shadow copies of `params` (copied on the GPU).
    pub fn new(params: &[Tensor], decay: f32, warmup: bool) -> Ema {
        check_params("Ema::new", params);
        let shadow = params.iter().map(|p| clone_tensor("Ema::new", p)).collect();
        Ema {
            decay,
            warmup,
            params: params.to_vec(),
            shadow,
            updates: 0,
        }
    }

    /// The decay the next update uses.
    pub fn current_decay(&self) -> f32 {
        let t = self.updates as f64;
        if self.warmup {
            (self.decay as f64).min((1.0 + t) / (10.0 + t)) as f32
        } else {
            self.decay
        }
    }

    /// Moves every shadow towards its parameter.
    pub fn update(&mut self) {
        let d = self.current_decay();
        let u = Params {
            momentum: d,
            ..Default::default()
        };
        let mut small: Vec<Vec<&Tensor>> = Vec::new();
        for (p, s) in self.params.iter().zip(&self.shadow) {
            let n = n32("Ema", p);
            // CPU adapters: large tensors 4 values per invocation, read through flat textures.
            let rgba = wgpu::TextureFormat::Rgba32Float;
            let reads = [(p, rgba), (s, rgba)];
            let dev = p.device();
            if let Some(f) = n.is_multiple_of(4).then(|| Flat::all(&reads)).flatten() {
                let u = Params { n: n / 4, ..u };
                let k4 = Kernel::new(OPTIM, "ema_update4_tex");
                let grid = grid_1d(p.numel() / 4, 256);
                texture_pool::dispatch_reading(dev, &k4, f, &[s], bytemuck::bytes_of(&u), grid);
            } else if multi::available(dev) && multi::holds_vec4s(&[p, s]) {
                small.push(vec![p, s]);
            } else {
                dev.0.dispatch(
                    &Kernel::new(OPTIM, "ema_update"),
                    &[p.buffer(), s.buffer()],
                    bytemuck::bytes_of(&Params { n, ..u }),
                    grid_1d(p.numel(), 256),
                );
            }
        }
        // The rest several per dispatch.
        multi::ema(&small, u);
        self.updates += 1;
    }

    /// The averaged weights, in the order of the parameters given to `new`.
    pub fn shadow(&self) -> &[Tensor] {
        &self.shadow
    }

    /// Writes the averaged weights into `params` (e.g. a model used for sampling).
    pub fn copy_to(&self, params: &[Tensor]) {
        assert_eq!(
            params.len(),
            self.shadow.len(),
            "Ema::copy_to: {} tensors for {} shadows",
            params.len(),
            self.shadow.len()
        );
        for (s, p) in self.shadow.iter().zip(params) {
            copy_into("Ema::copy_to", s, p);
        }
    }

    pub fn update_count(&self) -> u64 {
        self.updates
    }

    /// Restores the update count (the warm-up depends on it) when resuming from a checkpoint.
    pub fn set_update_count(&mut self, updates: u64) {
        self.updates = updates;
    }
}
