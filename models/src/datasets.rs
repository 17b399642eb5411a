//! Labelled 2-D toy data as lab 2 defines it (its Moons / Circles samplers wrap scikit-learn's
//! `make_moons` / `make_circles` and multiply by `scale`; its checkerboard is a rejection
//! sampler). The randomness comes from the device generator (`dev.manual_seed` makes every
//! sampler reproducible); the geometry is computed on the CPU (n is at most a few thousand).
//!
//! One difference from scikit-learn: it places the points at evenly spaced angles
//! (`linspace`), which is a quadrature of the distribution rather than a sample of it; here
//! the angles are uniform random, so fresh batches are independent draws.

use std::f32::consts::PI;

use engine::{Device, Tensor};

use crate::density::Sampleable;
use crate::mixture::GaussianMixture;

/// A sampler of points with class labels.
pub trait LabeledSampler {
    /// n points [n, 2] and their labels [n] in 0..num_classes.
    fn sample_labeled(&self, dev: &Device, n: usize) -> (Tensor, Vec<u32>);
    fn num_classes(&self) -> usize;
}

impl LabeledSampler for GaussianMixture {
    /// Label = the component the point was drawn from.
    fn sample_labeled(&self, dev: &Device, n: usize) -> (Tensor, Vec<u32>) {
        let idx = self.sample_component_indices(dev, n);
        (self.sample_components(dev, &idx), idx)
    }
    fn num_classes(&self) -> usize {
        self.components().len()
    }
}

/// Lab 2's symmetric mixture: 5 modes N(m_k, I), m_k on the circle of radius 10.
pub fn symmetric_mixture() -> GaussianMixture {
    GaussianMixture::symmetric_2d(5, 1.0, 10.0)
}

/// Two interleaving half circles (scikit-learn's `make_moons`), times `scale`:
/// label 0 (outer moon): (cos a, sin a), a ~ U[0, pi);
/// label 1 (inner moon): (1 - cos a, 1/2 - sin a);
/// then N(0, noise^2) added to each coordinate, and everything times `scale` (so the noise std
/// is noise * scale). Half the points (n/2 rounded down) are label 0, alternating with label 1.
/// The unscaled moons span x in [-1, 2], y in [-1/2, 1].
#[derive(Clone, Copy, Debug)]
pub struct Moons {
    pub noise: f32,
    pub scale: f32,
}

impl Default for Moons {
    /// Lab 2: noise 0.05, scale 3.5.
    fn default() -> Moons {
        Moons {
            noise: 0.05,
            scale: 3.5,
        }
    }
}

/// Two concentric circles (scikit-learn's `make_circles`), times `scale`:
/// label 0: the unit circle, label 1: the circle of radius `factor`, angles uniform in
/// [0, 2 pi), N(0, noise^2) per coordinate added before scaling. Labels alternate (n/2 rounded
/// down of label 0).
#[derive(Clone, Copy, Debug)]
pub struct Circles {
    pub noise: f32,
    pub factor: f32,
    pub scale: f32,
}

impl Default for Circles {
    /// Lab 2: noise 0.05, factor 0.5, scale 5.
    fn default() -> Circles {
        Circles {
            noise: 0.05,
            factor: 0.5,
            scale: 5.0,
        }
    }
}

/// Lab 2's checkerboard: the square [-scale, scale)^2 cut into grid x grid cells of side
/// 2 scale / grid; cell (i, j) (i along x, j along y, from the lower-left corner) is filled
/// when i and j have the same parity, and the density is uniform on the filled cells. Lab 2
/// draws it by rejection; here a filled cell is picked uniformly and then a uniform point in
/// it (the same distribution). Label = the filled cell's rank in the order (i, j) = (0, 0),
/// (0, 2), ..., i.e. i-major over the filled cells.
#[derive(Clone, Copy, Debug)]
pub struct Checkerboard {
    pub grid: usize,
    pub scale: f32,
}

impl Default for Checkerboard {
    /// Grid 4, scale 5 (8 filled cells).
    fn default() -> Checkerboard {
        Checkerboard {
            grid: 4,
            scale: 5.0,
        }
    }
}

impl Checkerboard {
    /// The filled cells (i, j) in label order.
    pub fn cells(&self) -> Vec<(usize, usize)> {
        let g = self.grid;
        (0..g)
            .flat_map(|i| (0..g).map(move |j| (i, j)))
            .filter(|&(i, j)| i % 2 == j % 2)
            .collect()
    }
    pub fn cell_side(&self) -> f32 {
        2.0 * self.scale / self.grid as f32
    }
}

/// Uniforms [n, k] and normals [n, m] from the device generator, read back.
fn draws(dev: &Device, n: usize, k: usize, m: usize) -> (Vec<f32>, Vec<f32>) {
    (
        Tensor::rand(dev, &[n, k]).to_vec(),
        Tensor::randn(dev, &[n, m]).to_vec(),
    )
}

/// Label of the i-th point of two alternating classes, with n/2 (rounded down) of class 0.
fn alternating(i: usize) -> u32 {
    if i.is_multiple_of(2) {
        1
    } else {
        0
    }
}

impl LabeledSampler for Moons {
    fn sample_labeled(&self, dev: &Device, n: usize) -> (Tensor, Vec<u32>) {
        let (u, e) = draws(dev, n, 1, 2);
        let labels: Vec<u32> = (0..n).map(alternating).collect();
        let mut xy = Vec::with_capacity(2 * n);
        for (i, &y) in labels.iter().enumerate() {
            let a = PI * u[i];
            let (px, py) = if y == 0 {
                (a.cos(), a.sin())
            } else {
                (1.0 - a.cos(), 0.5 - a.sin())
            };
            xy.push(self.scale * (px + self.noise * e[2 * i]));
            xy.push(self.scale * (py + self.noise * e[2 * i + 1]));
        }
        (Tensor::from_vec(dev, xy, &[n, 2]), labels)
    }
    fn num_classes(&self) -> usize {
        2
    }
}

impl LabeledSampler for Circles {
    fn sample_labeled(&self, dev: &Device, n: usize) -> (Tensor, Vec<u32>) {
        let (u, e) = draws(dev, n, 1, 2);
        let labels: Vec<u32> = (0..n).map(alternating).collect();
        let mut xy = Vec::with_capacity(2 * n);
        for (i, &y) in labels.iter().enumerate() {
            let a = 2.0 * PI * u[i];
            let r = if y == 0 { 1.0 } else { self.factor };
            xy.push(self.scale * (r * a.cos() + self.noise * e[2 * i]));
            xy.push(self.scale * (r * a.sin() + self.noise * e[2 * i + 1]));
        }
        (Tensor::from_vec(dev, xy, &[n, 2]), labels)
    }
    fn num_classes(&self) -> usize {
        2
    }
}

impl LabeledSampler for Checkerboard {
    fn sample_labeled(&self, dev: &Device, n: usize) -> (Tensor, Vec<u32>) {
        let cells = self.cells();
        let (u, _) = draws(dev, n, 3, 1);
        let side = self.cell_side();
        let mut xy = Vec::with_capacity(2 * n);
        let mut labels = Vec::with_capacity(n);
        for r in u.chunks(3) {
            let c = ((r[0] * cells.len() as f32) as usize).min(cells.len() - 1);
            let (i, j) = cells[c];
            xy.push(-self.scale + side * (i as f32 + r[1]));
            xy.push(-self.scale + side * (j as f32 + r[2]));
            labels.push(c as u32);
        }
        (Tensor::from_vec(dev, xy, &[n, 2]), labels)
    }
    fn num_classes(&self) -> usize {
        self.cells().len()
    }
}

impl Sampleable for Moons {
    fn sample(&self, dev: &Device, n: usize) -> Tensor {
        self.sample_labeled(dev, n).0
    }
}

impl Sampleable for Circles {
    fn sample(&self, dev: &Device, n: usize) -> Tensor {
        self.sample_labeled(dev, n).0
    }
}

impl Sampleable for Checkerboard {
    fn sample(&self, dev: &Device, n: usize) -> Tensor {
        self.sample_labeled(dev, n).0
    }
}
