//! A small CNN that classifies 32 x 32 MNIST digits in [-1, 1] (chapter 6's preprocessing), and
//! whose 128 penultimate features are what the Fréchet distance of generated digits compares.
//!
//! Legend: N = images, S = 32 (image side), F = 128 features, K = 10 classes.
//!
//!   x [N, 1, 32, 32]
//!   conv 3x3, 1 -> 8, stride 2, padding 1   -> [N, 8, 16, 16], ReLU
//!   conv 3x3, 8 -> 16, stride 2, padding 1  -> [N, 16, 8, 8],  ReLU
//!   conv 3x3, 16 -> 32, stride 2, padding 1 -> [N, 32, 4, 4],  ReLU
//!   flatten                                 -> [N, 512]
//!   Linear 512 -> 128                       -> [N, 128]  the features (`features()`)
//!   ReLU, Linear 128 -> 10                  -> [N, 10]   logits
//!
//! Small on purpose: about 0.23 M multiply-adds per image, so that training on a loaded 2-core
//! lavapipe machine takes minutes (a 16-32-64 version at full resolution cost 13 times more).
//! Measured (`classifier` subcommand defaults: 5 epochs, batch 64, Adam from 1e-3 with a cosine
//! decay): 98.73% on the 10,000 test images after 319 s on an idle 2-core lavapipe machine
//! (939 images/s). Two epochs gave 97.73% (an earlier build, on a loaded machine).
//!
//! Trained with cross-entropy, -mean_n log_softmax(logits)[n, label_n], built from existing ops
//! as a one-hot mask times log_softmax.

use std::path::Path;

use engine::checkpoint::Checkpoint;
use engine::ops::random::philox_stream_cpu;
use engine::optim::Optimizer;
use engine::{no_grad, Device, Tensor};

use super::{Conv2d, Linear};
use crate::data::Mnist;

/// Side of the images the classifier reads (lab 3 resizes MNIST's 28 x 28 to 32 x 32).
pub const SIDE: usize = 32;
/// Size of the penultimate feature vector.
pub const FEATURES: usize = 128;
/// Number of classes (digits).
pub const CLASSES: usize = 10;
/// Size of the flattened last convolution's output, 32 channels x 4 x 4.
const FLAT: usize = 32 * 4 * 4;

/// The CNN above: three convolutions and two linear layers.
pub struct Classifier {
    pub conv1: Conv2d,
    pub conv2: Conv2d,
    pub conv3: Conv2d,
    /// 512 -> 128: its output is the feature vector.
    pub fc1: Linear,
    /// 128 -> 10
    pub fc2: Linear,
}

impl Classifier {
    /// A fresh network with PyTorch's default initialisation (from the device RNG).
    pub fn new(dev: &Device) -> Classifier {
        Classifier {
            conv1: Conv2d::new(dev, 1, 8, 3, 2, 1),
            conv2: Conv2d::new(dev, 8, 16, 3, 2, 1),
            conv3: Conv2d::new(dev, 16, 32, 3, 2, 1),
            fc1: Linear::new(dev, FLAT, FEATURES),
            fc2: Linear::new(dev, FEATURES, CLASSES),
        }
    }

    /// x [N, 1, 32, 32] -> the penultimate features [N, 128] (before the last ReLU).
    pub fn features(&self, x: &Tensor) -> Tensor {
        assert!(
            x.rank() == 4 && x.shape()[1..] == [1, SIDE, SIDE],
            "Classifier: expects images [N, 1, {SIDE}, {SIDE}], got {:?}",
            x.shape()
        );
        let n = x.dim(0);
        let h = self.conv1.forward(x).relu(); // [N, 8, 16, 16]
        let h = self.conv2.forward(&h).relu(); // [N, 16, 8, 8]
        let h = self.conv3.forward(&h).relu(); // [N, 32, 4, 4]
        self.fc1.forward(&h.reshape(&[n, FLAT])) // [N, 128]
    }

    /// x [N, 1, 32, 32] -> logits [N, 10].
    pub fn forward(&self, x: &Tensor) -> Tensor {
        self.fc2.forward(&self.features(x).relu())
    }

    /// Mean cross-entropy of the batch x [N, 1, 32, 32] against `labels` [N] (each 0..=9).
    pub fn loss(&self, x: &Tensor, labels: &[u32]) -> Tensor {
        cross_entropy(&self.forward(x), labels)
    }

    /// The predicted digit of each image of x [N, 1, 32, 32] (no graph recorded).
    pub fn predict(&self, x: &Tensor) -> Vec<u32> {
        argmax_rows(&no_grad(|| self.forward(x)).to_vec(), CLASSES)
    }

    /// One optimizer step on a batch; returns the loss before the step (not read back).
    pub fn train_step(&self, opt: &mut dyn Optimizer, x: &Tensor, labels: &[u32]) -> Tensor {
        opt.zero_grad();
        let loss = self.loss(x, labels);
        loss.backward();
        opt.step();
        loss.detach()
    }

    /// Every parameter by name: `conv1.weight`, ..., `fc2.bias` after `prefix`.
    pub fn params(&self, prefix: &str) -> Vec<(String, Tensor)> {
        let mut p = self.conv1.params(&format!("{prefix}conv1."));
        p.extend(self.conv2.params(&format!("{prefix}conv2.")));
        p.extend(self.conv3.params(&format!("{prefix}conv3.")));
        p.extend(self.fc1.params(&format!("{prefix}fc1.")));
        p.extend(self.fc2.params(&format!("{prefix}fc2.")));
        p
    }

    /// Writes the parameters (and `meta`, e.g. the test accuracy) to a safetensors file.
    pub fn save(&self, path: impl AsRef<Path>, meta: &[(&str, String)]) -> engine::Result<()> {
        let mut ck = Checkpoint::new();
        for (name, t) in self.params("") {
            ck.insert(name, &t);
        }
        for (k, v) in meta {
            ck.set_meta(*k, v);
        }
        ck.save(path)
    }

    /// A classifier with the parameters of a file written by `save`, and the checkpoint (for
    /// its metadata). The error names the file and any missing or misshapen tensor.
    pub fn load(dev: &Device, path: impl AsRef<Path>) -> engine::Result<(Classifier, Checkpoint)> {
        let ck = Checkpoint::load(path)?;
        let net = Classifier::new(dev);
        for (name, t) in net.params("") {
            ck.restore(&name, &t)?;
        }
        Ok((net, ck))
    }

    /// Features [N, 128] (row-major) of images [N, 1, 32, 32] given as CPU data, `batch` at a time.
    pub fn features_of(&self, dev: &Device, images: &[f32], batch: usize) -> Vec<f32> {
        self.batched(dev, images, batch, |x| self.features(x).to_vec())
    }

    /// Predicted digits [N] of images [N, 1, 32, 32] given as CPU data, `batch` at a time.
    pub fn predict_all(&self, dev: &Device, images: &[f32], batch: usize) -> Vec<u32> {
        self.batched(dev, images, batch, |x| self.predict(x))
    }

    /// Runs `f` without recording on consecutive batches of images and concatenates the results.
    fn batched<T>(
        &self,
        dev: &Device,
        images: &[f32],
        batch: usize,
        f: impl Fn(&Tensor) -> Vec<T>,
    ) -> Vec<T> {
        let px = SIDE * SIDE;
        assert!(
            images.len().is_multiple_of(px) && batch > 0,
            "Classifier: {} values are not whole {SIDE} x {SIDE} images (batch {batch})",
            images.len()
        );
        let mut out = Vec::new();
        for chunk in images.chunks(batch * px) {
            let x = Tensor::from_slice(dev, chunk, &[chunk.len() / px, 1, SIDE, SIDE]);
            out.extend(no_grad(|| f(&x)));
        }
        out
    }
}

/// -mean_n log_softmax(logits)[n, labels[n]] for logits [N, K]: the one-hot mask [N, K] times
/// log_softmax, summed and divided by -N.
pub fn cross_entropy(logits: &Tensor, labels: &[u32]) -> Tensor {
    assert!(
        logits.rank() == 2 && logits.dim(0) == labels.len() && logits.dim(0) > 0,
        "cross_entropy: logits of shape {:?} need [N, K] with N = {} labels",
        logits.shape(),
        labels.len()
    );
    let (n, k) = (logits.dim(0), logits.dim(1));
    let picked = logits
        .log_softmax()
        .mul(&one_hot(logits.device(), labels, k)); // [N, K]
    picked.sum_all().mul_scalar(-1.0 / n as f32)
}

/// [N, K] with a 1 at (n, labels[n]) and 0 elsewhere. Panics on a label >= K.
pub fn one_hot(dev: &Device, labels: &[u32], k: usize) -> Tensor {
    let mut v = vec![0.0; labels.len() * k];
    for (n, &l) in labels.iter().enumerate() {
        assert!(
            (l as usize) < k,
            "one_hot: label {l} at index {n} is not below {k}"
        );
        v[n * k + l as usize] = 1.0;
    }
    Tensor::from_vec(dev, v, &[labels.len(), k])
}

/// The index of the largest value of each row of `v` [N, K] (the first on ties).
pub fn argmax_rows(v: &[f32], k: usize) -> Vec<u32> {
    v.chunks_exact(k)
        .map(|row| {
            let mut best = 0;
            for (j, &x) in row.iter().enumerate() {
                if x > row[best] {
                    best = j;
                }
            }
            best as u32
        })
        .collect()
}

/// A permutation of 0..n from a seeded Fisher-Yates shuffle (CPU Philox stream of `seed`).
pub fn shuffled(n: usize, seed: u64) -> Vec<usize> {
    let bits = philox_stream_cpu(n, seed, 0);
    let mut p: Vec<usize> = (0..n).collect();
    for i in (1..n).rev() {
        // j uniform in 0..=i (multiply-shift; the bias is below 2^-32 * n)
        let j = ((bits[i] as u64 * (i as u64 + 1)) >> 32) as usize;
        p.swap(i, j);
    }
    p
}

/// Labelled images held on the CPU, ready for batches: `images` [N, 1, 32, 32] in [-1, 1].
pub struct LabelledImages {
    /// [N, 1, 32, 32] row-major
    pub images: Vec<f32>,
    /// [N], each 0..=9
    pub labels: Vec<u32>,
}

impl LabelledImages {
    /// The first `n` images of an MNIST split (all of them when `n` is 0 or too large), resized
    /// to 32 x 32 and scaled to [-1, 1] as in chapter 6.
    pub fn from_mnist(data: &Mnist, n: usize) -> LabelledImages {
        let n = if n == 0 { data.n } else { n.min(data.n) };
        LabelledImages {
            images: data.to_f32(0..n, SIDE),
            labels: data.labels[..n].iter().map(|&l| l as u32).collect(),
        }
    }

    pub fn len(&self) -> usize {
        self.labels.len()
    }

    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Image `i` [1, 32, 32].
    pub fn image(&self, i: usize) -> &[f32] {
        &self.images[i * SIDE * SIDE..(i + 1) * SIDE * SIDE]
    }

    /// The images at `idx` as a tensor [len, 1, 32, 32] and their labels.
    pub fn batch(&self, dev: &Device, idx: &[usize]) -> (Tensor, Vec<u32>) {
        let data: Vec<f32> = idx.iter().flat_map(|&i| self.image(i).to_vec()).collect();
        let labels = idx.iter().map(|&i| self.labels[i]).collect();
        (
            Tensor::from_vec(dev, data, &[idx.len(), 1, SIDE, SIDE]),
            labels,
        )
    }

    /// The fraction of images `net` labels correctly, `batch` at a time.
    pub fn accuracy(&self, dev: &Device, net: &Classifier, batch: usize) -> f64 {
        let pred = net.predict_all(dev, &self.images, batch);
        let right = pred
            .iter()
            .zip(&self.labels)
            .filter(|(p, l)| p == l)
            .count();
        right as f64 / self.len().max(1) as f64
    }
}
