//! The real side of the comparison: class-matched sets of MNIST test digits and their
//! classifier features, computed once per image and cached.
//!
//! Legend: N = images in a set, F = 128 features, counts[d] = images of digit d in a set.
//! For counts c, set A takes, for every digit d, the first c[d] images of a seeded shuffle of
//! the test images of digit d, and set B the next c[d]: A and B are disjoint, of the same
//! size and class mix, and the same A serves every samples file with that class mix.

use std::collections::HashMap;

use engine::Device;
use models::fid::frechet_distance_of;
use models::nn::classifier::{shuffled, LabelledImages, FEATURES};
use models::nn::Classifier;

use super::{Result, EVAL_BATCH};

/// Test images grouped by digit (each group in a seeded random order), with a feature cache.
pub struct RealFeatures {
    test: LabelledImages,
    /// by_digit[d]: indices of the test images of digit d, shuffled
    by_digit: Vec<Vec<usize>>,
    /// test index -> its features [F]
    cache: HashMap<usize, Vec<f32>>,
}

impl RealFeatures {
    pub fn new(test: LabelledImages, seed: u64) -> RealFeatures {
        let order = shuffled(test.len(), seed ^ 0x7e57);
        let mut by_digit = vec![Vec::new(); 10];
        for i in order {
            by_digit[test.labels[i] as usize].push(i);
        }
        RealFeatures {
            test,
            by_digit,
            cache: HashMap::new(),
        }
    }

    /// The test indices of sets A and B for `counts` (see the module comment). Errors when a
    /// digit has fewer than 2 counts[d] test images.
    pub fn reference_pair(&self, counts: &[usize; 10]) -> Result<(Vec<usize>, Vec<usize>)> {
        let (mut a, mut b) = (Vec::new(), Vec::new());
        for (d, &c) in counts.iter().enumerate() {
            let pool = &self.by_digit[d];
            if 2 * c > pool.len() {
                return Err(format!(
                    "two disjoint real sets need 2 x {c} test images of digit {d}, but the test set holds {}: \
                     evaluate fewer samples (--max-samples)",
                    pool.len()
                )
                .into());
            }
            a.extend_from_slice(&pool[..c]);
            b.extend_from_slice(&pool[c..2 * c]);
        }
        Ok((a, b))
    }

    /// Features [len, F] (row-major) of the test images `idx`, computing the missing ones.
    pub fn features(&mut self, dev: &Device, net: &Classifier, idx: &[usize]) -> Vec<f32> {
        let mut missing: Vec<usize> = idx
            .iter()
            .copied()
            .filter(|i| !self.cache.contains_key(i))
            .collect();
        missing.sort_unstable();
        missing.dedup();
        if !missing.is_empty() {
            let images: Vec<f32> = missing
                .iter()
                .flat_map(|&i| self.test.image(i).to_vec())
                .collect();
            let feats = net.features_of(dev, &images, EVAL_BATCH);
            for (&i, f) in missing.iter().zip(feats.chunks_exact(FEATURES)) {
                self.cache.insert(i, f.to_vec());
            }
        }
        idx.iter().flat_map(|i| self.cache[i].clone()).collect()
    }

    /// The Fréchet distance between the features of sets A and B for `counts`: how far two
    /// real sets of this size and class mix already are from each other.
    pub fn floor(&mut self, dev: &Device, net: &Classifier, counts: &[usize; 10]) -> Result<f64> {
        let (a, b) = self.reference_pair(counts)?;
        if a.len() < 2 {
            return Err(
                format!("the floor needs sets of at least 2 images, got {}", a.len()).into(),
            );
        }
        let fa = self.features(dev, net, &a);
        let fb = self.features(dev, net, &b);
        Ok(frechet_distance_of(&fa, &fb, FEATURES))
    }
}

/// n images spread over the ten digits as evenly as possible (the first n % 10 digits get one more).
pub fn balanced_counts(n: usize) -> [usize; 10] {
    std::array::from_fn(|d| n / 10 + usize::from(d < n % 10))
}
