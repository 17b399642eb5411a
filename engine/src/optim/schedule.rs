//! Learning-rate schedules: a function of the step, set on the optimizer before each step.

/// Linear warm-up from 0 to `base_lr` over `warmup_steps`, then a half cosine from `base_lr`
/// down to `min_lr` at `total_steps`, and `min_lr` after that.
#[derive(Clone, Copy, Debug)]
pub struct WarmupCosine {
    pub base_lr: f32,
    pub min_lr: f32,
    pub warmup_steps: u64,
    pub total_steps: u64,
}

impl WarmupCosine {
    pub fn lr(&self, step: u64) -> f32 {
        let (base, min) = (self.base_lr as f64, self.min_lr as f64);
        if step < self.warmup_steps {
            return (base * step as f64 / self.warmup_steps as f64) as f32;
        }
        let span = self.total_steps.saturating_sub(self.warmup_steps).max(1) as f64;
        let progress = ((step - self.warmup_steps) as f64 / span).min(1.0);
        (min + 0.5 * (base - min) * (1.0 + (std::f64::consts::PI * progress).cos())) as f32
    }
}
