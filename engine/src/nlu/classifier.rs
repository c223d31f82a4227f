//! The intent classifier: multinomial logistic regression over sparse
//! features, trained by AdaGrad with L2 regularisation and a seeded
//! shuffle, so the same data always gives the same model. Its softmax
//! output is the confidence.

use super::features::Sparse;

/// Training settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TrainSettings {
    /// Passes over the data.
    pub epochs: usize,
    /// AdaGrad's base learning rate.
    pub learning_rate: f32,
    /// L2 penalty per example.
    pub l2: f32,
    /// Shuffle seed.
    pub seed: u64,
    /// Whether the final model averages the weights over all updates
    /// (smoother, usually generalises better).
    pub average: bool,
}

impl Default for TrainSettings {
    fn default() -> Self {
        Self {
            epochs: 40,
            learning_rate: 0.1,
            l2: 1e-5,
            seed: 0x5eed_5a1e,
            average: true,
        }
    }
}

/// A trained model.
#[derive(Debug, Clone)]
pub struct Classifier {
    classes: usize,
    /// Row-major: weights[feature * classes + class].
    weights: Vec<f32>,
    bias: Vec<f32>,
}

/// A small deterministic generator for shuffling (xorshift64*).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = (self.next() % (i as u64 + 1)) as usize;
            items.swap(i, j);
        }
    }
}

fn softmax_in_place(scores: &mut [f32]) {
    let max = scores.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let mut sum = 0.0;
    for s in scores.iter_mut() {
        *s = (*s - max).exp();
        sum += *s;
    }
    if sum > 0.0 {
        for s in scores.iter_mut() {
            *s /= sum;
        }
    }
}

impl Classifier {
    /// Trains on `(features, class)` pairs with `classes` classes over
    /// `dims` features.
    pub fn train(
        data: &[(Sparse, usize)],
        classes: usize,
        dims: usize,
        settings: TrainSettings,
    ) -> Self {
        let mut weights = vec![0.0f32; dims * classes];
        let mut grad_sq = vec![1e-6f32; dims * classes];
        let mut bias = vec![0.0f32; classes];
        let mut bias_sq = vec![1e-6f32; classes];
        // Averaging, done lazily: `sums` holds each weight times the steps
        // it has kept its value, up to `last` (per feature row).
        let mut sums = if settings.average {
            vec![0.0f32; dims * classes]
        } else {
            Vec::new()
        };
        let mut bias_sums = vec![0.0f32; classes];
        let mut last = vec![0u32; if settings.average { dims } else { 0 }];
        let mut step: u32 = 0;
        let mut order: Vec<usize> = (0..data.len()).collect();
        let mut rng = Rng(settings.seed | 1);
        let mut probs = vec![0.0f32; classes];
        for _ in 0..settings.epochs {
            rng.shuffle(&mut order);
            for &k in &order {
                let (x, y) = &data[k];
                probs.copy_from_slice(&bias);
                for &(i, v) in x {
                    let row = &weights[i as usize * classes..(i as usize + 1) * classes];
                    for (p, w) in probs.iter_mut().zip(row) {
                        *p += w * v;
                    }
                }
                softmax_in_place(&mut probs);
                // The gradient of the loss in each class's score.
                probs[*y] -= 1.0;
                if settings.average {
                    for (s, b) in bias_sums.iter_mut().zip(&bias) {
                        *s += b;
                    }
                }
                for ((b, sq), &g) in bias.iter_mut().zip(bias_sq.iter_mut()).zip(&probs) {
                    *sq += g * g;
                    *b -= settings.learning_rate * g / sq.sqrt();
                }
                // Row slices and zipped iterators, so the per-class loops
                // vectorise (the same arithmetic, in the same order).
                for &(i, v) in x {
                    let row = i as usize * classes..(i as usize + 1) * classes;
                    if settings.average {
                        let held = (step - last[i as usize]) as f32;
                        for (s, &w) in sums[row.clone()].iter_mut().zip(&weights[row.clone()]) {
                            *s += w * held;
                        }
                        last[i as usize] = step;
                    }
                    let rate = settings.learning_rate;
                    let l2 = settings.l2;
                    for ((w, sq), &r) in weights[row.clone()]
                        .iter_mut()
                        .zip(grad_sq[row].iter_mut())
                        .zip(&probs)
                    {
                        let g = r * v + l2 * *w;
                        *sq += g * g;
                        *w -= rate * g / sq.sqrt();
                    }
                }
                step += 1;
            }
        }
        if settings.average && step > 0 {
            let total = step as f32;
            for (feature, &seen) in last.iter().enumerate() {
                let held = (step - seen) as f32;
                let base = feature * classes;
                for c in 0..classes {
                    let sum = sums[base + c] + weights[base + c] * held;
                    weights[base + c] = sum / total;
                }
            }
            for (b, s) in bias.iter_mut().zip(&bias_sums) {
                *b = s / total;
            }
        }
        Self {
            classes,
            weights,
            bias,
        }
    }

    /// Class probabilities for `x`.
    pub fn predict(&self, x: &Sparse) -> Vec<f32> {
        let mut scores = self.bias.clone();
        for &(i, v) in x {
            let start = i as usize * self.classes;
            if let Some(row) = self.weights.get(start..start + self.classes) {
                for (s, w) in scores.iter_mut().zip(row) {
                    *s += w * v;
                }
            }
        }
        softmax_in_place(&mut scores);
        scores
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn separates_simple_classes_deterministically() {
        let data = vec![
            (vec![(0, 1.0)], 0),
            (vec![(1, 1.0)], 1),
            (vec![(0, 0.8), (2, 0.2)], 0),
            (vec![(1, 0.7), (2, 0.3)], 1),
        ];
        let a = Classifier::train(&data, 2, 3, TrainSettings::default());
        let b = Classifier::train(&data, 2, 3, TrainSettings::default());
        let p = a.predict(&vec![(0, 1.0)]);
        assert!(p[0] > 0.75, "{p:?}");
        assert_eq!(p, b.predict(&vec![(0, 1.0)]), "deterministic");
        let sum: f32 = p.iter().sum();
        assert!((sum - 1.0).abs() < 1e-5);
    }
}
