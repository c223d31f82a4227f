//! The intent classifier: multinomial logistic regression over sparse
//! features (trained in `adagrad`), mixed with the average of a
//! few hidden-layer networks over the same features ([`super::mlp`], each
//! from its own seed) when they are on; the mixed probabilities are the
//! confidence.

use std::sync::atomic::{AtomicUsize, Ordering};

use super::features::Sparse;
use super::mlp::{Mlp, MlpSettings};

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
    /// A step leaves a class's weights alone when its share of the
    /// gradient (its probability, or one minus it for the right class) is
    /// below this; 0 updates every class at every step.
    pub min_gradient: f32,
    /// Whether a large training set may take a second thread (the model is
    /// the same either way; cross-validation, which runs folds side by
    /// side, turns it off).
    pub parallel: bool,
}

impl Default for TrainSettings {
    fn default() -> Self {
        Self {
            epochs: 20,
            learning_rate: 0.1,
            l2: 1e-5,
            seed: 0x5eed_5a1e,
            average: true,
            min_gradient: 0.0,
            parallel: true,
        }
    }
}

/// A trained model.
#[derive(Debug, Clone, PartialEq)]
pub struct Classifier {
    /// Row-major: weights[feature * classes + class].
    weights: Vec<f32>,
    bias: Vec<f32>,
    /// The networks (an ensemble) and their share of the probabilities.
    network: Option<(Vec<Mlp>, f32)>,
}

/// Adds to `out` the rows of `weights` (row-major, `out.len()` wide) that
/// `x`'s features select, each times its value; a feature past the last row
/// adds nothing.
///
/// Eight lanes wide on a CPU with AVX, with bit-identical sums (see
/// `nlu::simd`).
pub(super) fn add_rows(weights: &[f32], x: &Sparse, out: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    if super::simd::avx() {
        // SAFETY: `avx()` holds only on a CPU with AVX.
        unsafe { add_rows_avx(weights, x, out) };
        return;
    }
    add_rows_portable(weights, x, out);
}

/// `add_rows` compiled for AVX.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx")]
fn add_rows_avx(weights: &[f32], x: &Sparse, out: &mut [f32]) {
    add_rows_portable(weights, x, out);
}

/// `add_rows` for any CPU; inlined into the AVX version, where the
/// compiler vectorises it eight lanes wide.
#[inline(always)]
fn add_rows_portable(weights: &[f32], x: &Sparse, out: &mut [f32]) {
    let width = out.len();
    for &(i, v) in x {
        let start = i as usize * width;
        if let Some(row) = weights.get(start..start + width) {
            for (o, w) in out.iter_mut().zip(row) {
                *o += w * v;
            }
        }
    }
}

/// Softmax of `scores`, in place.
pub(super) fn softmax_in_place(scores: &mut [f32]) {
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
    /// `dims` features (see `adagrad`); the networks too unless
    /// `network.hidden`, `network.networks` or `network.weight` is 0. With a
    /// second core the linear model and the networks share both: each core
    /// takes the next network when it is free (the result is the same
    /// either way).
    pub fn train(
        data: &[(Sparse, usize)],
        classes: usize,
        dims: usize,
        settings: TrainSettings,
        network: MlpSettings,
    ) -> Self {
        let weight = network.weight.clamp(0.0, 1.0);
        let members = network.networks;
        if network.hidden == 0 || members == 0 || weight == 0.0 {
            let trained = super::adagrad::train(data, classes, dims, settings);
            return Self {
                weights: trained.weights,
                bias: trained.bias,
                network: None,
            };
        }
        let train_member = |member: usize| Mlp::train(data, classes, dims, network.member(member));
        let side_by_side =
            settings.parallel && std::thread::available_parallelism().is_ok_and(|n| n.get() >= 2);
        let (trained, networks) = if side_by_side {
            // The linear model stays on one thread; the other core starts on
            // the networks, and this one joins it when the linear model is done.
            let linear = TrainSettings {
                parallel: false,
                ..settings
            };
            let next = AtomicUsize::new(0);
            let take_networks = || {
                let mut done = Vec::new();
                loop {
                    let member = next.fetch_add(1, Ordering::Relaxed);
                    if member >= members {
                        break done;
                    }
                    done.push((member, train_member(member)));
                }
            };
            std::thread::scope(|scope| {
                let helper = scope.spawn(take_networks);
                let trained = super::adagrad::train(data, classes, dims, linear);
                let mut networks = take_networks();
                match helper.join() {
                    Ok(theirs) => networks.extend(theirs),
                    Err(panic) => std::panic::resume_unwind(panic),
                }
                // In member order, so the average sums in the same order.
                networks.sort_by_key(|(member, _)| *member);
                (trained, networks.into_iter().map(|(_, n)| n).collect())
            })
        } else {
            (
                super::adagrad::train(data, classes, dims, settings),
                (0..members).map(train_member).collect(),
            )
        };
        Self {
            weights: trained.weights,
            bias: trained.bias,
            network: Some((networks, weight)),
        }
    }

    /// Class probabilities for `x`: the linear model's, mixed with the
    /// networks' average.
    pub fn predict(&self, x: &Sparse) -> Vec<f32> {
        let mut probs = self.predict_linear(x);
        if let Some((networks, weight)) = &self.network {
            for p in &mut probs {
                *p *= 1.0 - weight;
            }
            let share = weight / networks.len().max(1) as f32;
            for net in networks {
                for (p, n) in probs.iter_mut().zip(net.predict(x)) {
                    *p += share * n;
                }
            }
        }
        probs
    }

    /// (features, classes) of the model.
    pub(super) fn shape(&self) -> (usize, usize) {
        let classes = self.bias.len();
        (self.weights.len() / classes.max(1), classes)
    }

    /// Appends the model's bytes (see `nlu::model_cache`).
    pub(super) fn write(&self, out: &mut Vec<u8>) {
        use super::model_cache::{put_floats, put_len};
        put_floats(out, &self.weights);
        put_floats(out, &self.bias);
        match &self.network {
            None => put_len(out, 0),
            Some((networks, weight)) => {
                put_len(out, networks.len());
                put_floats(out, &[*weight]);
                for net in networks {
                    net.write(out);
                }
            }
        }
    }

    /// Reads a model that [`Classifier::write`] wrote; `None` if the bytes
    /// are not one (its shapes must agree, so it can never index out of
    /// bounds).
    pub(super) fn read(reader: &mut super::model_cache::Reader<'_>) -> Option<Self> {
        let weights = reader.floats()?;
        let bias = reader.floats()?;
        let classes = bias.len();
        if classes == 0 || weights.len() % classes != 0 {
            return None;
        }
        let networks = reader.len()?;
        let network = if networks == 0 {
            None
        } else {
            let weight = match reader.floats()?.as_slice() {
                [w] => *w,
                _ => return None,
            };
            let dims = weights.len() / classes;
            let nets = (0..networks)
                .map(|_| Mlp::read(reader).filter(|n| n.shape() == (dims, classes)))
                .collect::<Option<Vec<Mlp>>>()?;
            Some((nets, weight))
        };
        Some(Self {
            weights,
            bias,
            network,
        })
    }

    /// The linear model's class probabilities for `x`.
    fn predict_linear(&self, x: &Sparse) -> Vec<f32> {
        let mut scores = self.bias.clone();
        add_rows(&self.weights, x, &mut scores);
        softmax_in_place(&mut scores);
        scores
    }
}

#[cfg(test)]
mod tests {
    use super::super::adagrad::Rng;
    use super::*;

    /// The linear model alone.
    fn linear_only() -> MlpSettings {
        MlpSettings {
            hidden: 0,
            ..MlpSettings::default()
        }
    }

    #[test]
    fn separates_simple_classes_deterministically() {
        let data = vec![
            (vec![(0, 1.0)], 0),
            (vec![(1, 1.0)], 1),
            (vec![(0, 0.8), (2, 0.2)], 0),
            (vec![(1, 0.7), (2, 0.3)], 1),
        ];
        let a = Classifier::train(&data, 2, 3, TrainSettings::default(), linear_only());
        let b = Classifier::train(&data, 2, 3, TrainSettings::default(), linear_only());
        let p = a.predict(&vec![(0, 1.0)]);
        assert!(p[0] > 0.75, "{p:?}");
        assert_eq!(p, b.predict(&vec![(0, 1.0)]), "deterministic");
        let sum: f32 = p.iter().sum();
        assert!((sum - 1.0).abs() < 1e-5);
    }

    /// The plain definition: every weight after every step, summed
    /// (written with indices, to read like the formula).
    #[allow(clippy::needless_range_loop)]
    fn explicit_average(data: &[(Sparse, usize)], classes: usize, dims: usize) -> Vec<f32> {
        let settings = TrainSettings {
            average: false,
            min_gradient: 0.0,
            ..TrainSettings::default()
        };
        let (rate, l2) = (settings.learning_rate, settings.l2);
        let mut w = vec![0.0f32; dims * classes];
        let mut sq = vec![1e-6f32; dims * classes];
        let mut sum = vec![0.0f64; dims * classes];
        let mut order: Vec<usize> = (0..data.len()).collect();
        let mut rng = Rng(settings.seed | 1);
        let mut b = vec![0.0f32; classes];
        let mut bsq = vec![1e-6f32; classes];
        let mut steps = 0.0;
        for _ in 0..settings.epochs {
            rng.shuffle(&mut order);
            for &k in &order {
                let (x, y) = &data[k];
                let mut p = b.clone();
                for &(i, v) in x {
                    for c in 0..classes {
                        p[c] += w[i as usize * classes + c] * v;
                    }
                }
                softmax_in_place(&mut p);
                p[*y] -= 1.0;
                for c in 0..classes {
                    bsq[c] += p[c] * p[c];
                    b[c] -= rate * p[c] / bsq[c].sqrt();
                }
                for &(i, v) in x {
                    for c in 0..classes {
                        let j = i as usize * classes + c;
                        let g = p[c] * v + l2 * w[j];
                        sq[j] += g * g;
                        w[j] -= rate * g / sq[j].sqrt();
                    }
                }
                for (s, &w) in sum.iter_mut().zip(&w) {
                    *s += f64::from(w);
                }
                steps += 1.0;
            }
        }
        sum.iter().map(|s| (s / steps) as f32).collect()
    }

    fn three_classes() -> Vec<(Sparse, usize)> {
        vec![
            (vec![(0, 1.0), (3, 0.5)], 0),
            (vec![(1, 1.0)], 1),
            (vec![(2, 0.9), (3, 0.4)], 2),
            (vec![(0, 0.6), (1, 0.6)], 0),
            (vec![(1, 0.8), (2, 0.3)], 1),
            (vec![(2, 1.0)], 2),
        ]
    }

    #[test]
    fn the_averaged_model_is_the_mean_of_the_weights_after_every_step() {
        let data = three_classes();
        let model = Classifier::train(
            &data,
            3,
            4,
            TrainSettings {
                min_gradient: 0.0,
                ..TrainSettings::default()
            },
            linear_only(),
        );
        let expected = explicit_average(&data, 3, 4);
        for (got, want) in model.weights.iter().zip(&expected) {
            assert!(
                (got - want).abs() < 1e-4,
                "{:?} vs {expected:?}",
                model.weights
            );
        }
    }

    /// Two networks of 8 units over `three_classes`, at `weight`.
    fn ensemble(weight: f32, parallel: bool) -> (Classifier, MlpSettings) {
        let network = MlpSettings {
            hidden: 8,
            epochs: 30,
            networks: 2,
            weight,
            ..MlpSettings::default()
        };
        let settings = TrainSettings {
            parallel,
            ..TrainSettings::default()
        };
        (
            Classifier::train(&three_classes(), 3, 4, settings, network),
            network,
        )
    }

    #[test]
    fn an_ensemble_averages_networks_trained_from_their_own_seeds() {
        let (model, network) = ensemble(1.0, false);
        let members: Vec<Mlp> = (0..2)
            .map(|m| Mlp::train(&three_classes(), 3, 4, network.member(m)))
            .collect();
        let x = vec![(0, 0.7), (3, 0.7)];
        let (a, b) = (members[0].predict(&x), members[1].predict(&x));
        assert_ne!(a, b, "the members start from different seeds");
        for ((got, a), b) in model.predict(&x).iter().zip(&a).zip(&b) {
            assert!((got - (a + b) / 2.0).abs() < 1e-6, "{got} vs {a}, {b}");
        }
        assert_eq!(
            network.member(0).seed,
            network.seed,
            "the first keeps its seed"
        );
    }

    #[test]
    fn an_ensemble_trained_on_two_threads_is_the_one_trained_on_one() {
        let (one, _) = ensemble(0.5, false);
        let (two, _) = ensemble(0.5, true);
        for (x, y) in &three_classes() {
            let p = two.predict(x);
            assert_eq!(p, one.predict(x));
            let sum: f32 = p.iter().sum();
            assert!((sum - 1.0).abs() < 1e-5, "{p:?}");
            let best = (0..3).max_by(|&a, &b| p[a].total_cmp(&p[b]));
            assert_eq!(best, Some(*y), "{p:?}");
        }
    }

    /// Random sparse examples: 19 classes over 300 features, widths that
    /// are not multiples of eight, so vector loops have tails.
    fn random_examples(n: usize, rng: &mut Rng) -> Vec<(Sparse, usize)> {
        (0..n)
            .map(|_| {
                let mut x: Sparse = (0..12)
                    .map(|_| ((rng.next() % 300) as u32, rng.unit() + 0.1))
                    .collect();
                x.sort_by_key(|f| f.0);
                x.dedup_by_key(|f| f.0);
                let class = (x[0].0 % 19) as usize;
                (x, class)
            })
            .collect()
    }

    /// The AVX loops (where the CPU has AVX, as on the machines this runs
    /// on) train the same model, bit for bit, as the portable ones, and it
    /// predicts the same probabilities either way.
    #[test]
    fn the_avx_loops_compute_what_the_portable_ones_do() {
        let mut rng = Rng(0x5eed);
        let data = random_examples(400, &mut rng);
        let settings = TrainSettings {
            parallel: false,
            epochs: 5,
            ..TrainSettings::default()
        };
        let network = MlpSettings {
            hidden: 37,
            epochs: 2,
            networks: 2,
            ..MlpSettings::default()
        };
        let train = || Classifier::train(&data, 19, 300, settings, network);
        let fast = train();
        let portable = super::super::simd::portable(train);
        assert!(fast == portable, "the same weights, bit for bit");
        for (x, _) in random_examples(50, &mut rng) {
            let p = fast.predict(&x);
            assert_eq!(p, portable.predict(&x));
            assert_eq!(p, super::super::simd::portable(|| fast.predict(&x)));
        }
        assert!(
            fast.predict(&data[0].0) != portable.predict(&data[1].0),
            "the comparison can tell models apart"
        );
    }

    #[test]
    fn skipping_small_gradients_keeps_the_decisions() {
        let data = three_classes();
        // Long enough for some gradients to fall under the cut.
        let epochs = 40;
        let full = Classifier::train(
            &data,
            3,
            4,
            TrainSettings {
                min_gradient: 0.0,
                epochs,
                ..TrainSettings::default()
            },
            linear_only(),
        );
        let sparse = Classifier::train(
            &data,
            3,
            4,
            TrainSettings {
                min_gradient: 0.05,
                epochs,
                ..TrainSettings::default()
            },
            linear_only(),
        );
        assert_ne!(full.weights, sparse.weights, "some updates were skipped");
        for (x, y) in &data {
            for model in [&full, &sparse] {
                let p = model.predict(x);
                let best = (0..3).max_by(|&a, &b| p[a].total_cmp(&p[b]));
                assert_eq!(best, Some(*y), "{p:?}");
            }
        }
    }
}
