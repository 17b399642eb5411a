//! MNIST batches for training: images resized to 32 x 32 and scaled to [-1, 1] as in lab 3,
//! drawn at random with replacement.
//!
//! Legend: N = batch, S = 32 (the side the U-Net sees).

use std::path::Path;

use engine::ops::random::philox_stream_cpu;
use engine::{Device, Tensor};
use models::data::{find_data_dir, load, Dataset, Mnist, Split};

/// The image side the U-Net works on (lab 3 resizes 28 -> 32 so it halves twice evenly).
pub const SIDE: usize = 32;

/// Added to the seed for the batch-index stream, so it differs from the label-dropout stream.
const INDEX_KEY: u64 = 0x9E37_79B9_7F4A_7C15;

/// One split of MNIST and a deterministic batch sampler over it.
pub struct Batches {
    pub data: Mnist,
    seed: u64,
}

impl Batches {
    /// Loads the training split from `--data DIR`, $MNIST_DIR or ../shared/data/mnist.
    pub fn load(explicit: Option<&Path>, seed: u64) -> Result<Batches, Box<dyn std::error::Error>> {
        let dir = find_data_dir(explicit, Dataset::Mnist)?;
        let data = load(&dir, Split::Train)?;
        println!("data: {} training images from {}", data.n, dir.display());
        Ok(Batches { data, seed })
    }

    /// Batch number `step`: N image indices from the CPU Philox stream (seed, step), so a
    /// resumed run sees the same batches. Returns images [N, 1, S, S] in [-1, 1] and labels [N].
    pub fn batch(&self, dev: &Device, step: u64, n: usize) -> (Tensor, Vec<u32>) {
        let bits = philox_stream_cpu(n, self.seed.wrapping_add(INDEX_KEY), step << 32);
        let idx: Vec<usize> = bits.iter().map(|&b| b as usize % self.data.n).collect();
        self.images(dev, &idx)
    }

    /// The images at `idx` [N, 1, S, S] and their labels [N].
    pub fn images(&self, dev: &Device, idx: &[usize]) -> (Tensor, Vec<u32>) {
        let mut pixels = Vec::with_capacity(idx.len() * SIDE * SIDE);
        for &i in idx {
            pixels.extend(self.data.to_f32(i..i + 1, SIDE));
        }
        let labels = idx.iter().map(|&i| self.data.labels[i] as u32).collect();
        (
            Tensor::from_vec(dev, pixels, &[idx.len(), 1, SIDE, SIDE]),
            labels,
        )
    }
}
