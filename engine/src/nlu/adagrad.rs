//! Training the classifier: multinomial logistic regression by AdaGrad
//! with L2 regularisation, a seeded shuffle and weight averaging.
//!
//! The classes are split into two halves, each with its own weights. Per
//! example, a half scores its classes, and the two halves swap only their
//! softmax normaliser (the largest score and the sum of the exponentials)
//! before each updates its own classes. With enough work and a second core
//! the halves run on two threads in lock-step; otherwise one thread runs
//! both. The arithmetic is the same either way, so the same data always
//! gives the same model, on any machine.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use super::classifier::TrainSettings;
use super::features::Sparse;

/// Below this much work (examples × classes) one thread trains both
/// halves: the start-up training on the plugins' intents is too small to
/// gain from a second thread.
const PARALLEL_FROM: usize = 200_000;

/// A small deterministic generator for shuffling (xorshift64*).
pub(super) struct Rng(pub(super) u64);

impl Rng {
    pub(super) fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A uniform number in [0, 1).
    pub(super) fn unit(&mut self) -> f32 {
        (self.next() >> 40) as f32 / (1u64 << 24) as f32
    }

    /// Shuffles `items` in place (Fisher-Yates).
    pub(super) fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = (self.next() % (i as u64 + 1)) as usize;
            items.swap(i, j);
        }
    }
}

/// The trained parameters, feature-major: `weights[feature * classes + class]`.
pub(super) struct Trained {
    pub(super) weights: Vec<f32>,
    pub(super) bias: Vec<f32>,
}

/// One half of the classes and everything its updates touch.
struct Half {
    /// Its first class.
    first: usize,
    /// How many classes it has.
    n: usize,
    /// Feature-major: `weights[feature * n + class - first]`.
    weights: Vec<f32>,
    grad_sq: Vec<f32>,
    /// Each update times its step number (for the average; see `finish`).
    scaled: Vec<f32>,
    bias: Vec<f32>,
    bias_sq: Vec<f32>,
    bias_scaled: Vec<f64>,
    /// `exp(score - max)` of the current example, then its gradient.
    scores: Vec<f32>,
    active: Vec<(usize, f32)>,
}

impl Half {
    fn new(first: usize, n: usize, dims: usize, average: bool) -> Self {
        Self {
            first,
            n,
            weights: vec![0.0; dims * n],
            grad_sq: vec![1e-6; dims * n],
            scaled: if average {
                vec![0.0; dims * n]
            } else {
                Vec::new()
            },
            bias: vec![0.0; n],
            bias_sq: vec![1e-6; n],
            bias_scaled: vec![0.0; n],
            scores: vec![0.0; n],
            active: Vec::with_capacity(n),
        }
    }

    /// Scores `x`; returns the largest score and the sum of
    /// `exp(score - largest)`, which `scores` then holds.
    fn forward(&mut self, x: &Sparse) -> (f32, f32) {
        let n = self.n;
        if n == 0 {
            return (f32::NEG_INFINITY, 0.0);
        }
        self.scores.copy_from_slice(&self.bias);
        for &(i, v) in x {
            let row = &self.weights[i as usize * n..(i as usize + 1) * n];
            for (s, w) in self.scores.iter_mut().zip(row) {
                *s += w * v;
            }
        }
        let max = self
            .scores
            .iter()
            .copied()
            .fold(f32::NEG_INFINITY, f32::max);
        let mut sum = 0.0;
        for s in &mut self.scores {
            *s = (*s - max).exp();
            sum += *s;
        }
        (max, sum)
    }

    /// Updates this half's classes for `x` of class `y`, given both halves'
    /// normalisers; `now` is the step number (from 1).
    fn backward(
        &mut self,
        x: &Sparse,
        y: usize,
        own_max: f32,
        norms: [(f32, f32); 2],
        now: f32,
        settings: &TrainSettings,
    ) {
        let n = self.n;
        if n == 0 {
            return;
        }
        let scale = normaliser_scale(own_max, norms);
        for s in &mut self.scores {
            *s *= scale;
        }
        // The gradient of the loss in each class's score.
        if let Some(g) = y
            .checked_sub(self.first)
            .and_then(|c| self.scores.get_mut(c))
        {
            *g -= 1.0;
        }
        let (rate, l2) = (settings.learning_rate, settings.l2);
        for (((b, sq), s), &g) in self
            .bias
            .iter_mut()
            .zip(self.bias_sq.iter_mut())
            .zip(self.bias_scaled.iter_mut())
            .zip(&self.scores)
        {
            *sq += g * g;
            let d = -rate * g / sq.sqrt();
            *b += d;
            *s += f64::from(now) * f64::from(d);
        }
        self.active.clear();
        self.active.extend(
            self.scores
                .iter()
                .enumerate()
                .filter(|(_, g)| g.abs() >= settings.min_gradient)
                .map(|(c, &g)| (c, g)),
        );
        let update = |w: &mut f32, sq: &mut f32, r: f32, v: f32| -> f32 {
            let g = r * v + l2 * *w;
            *sq += g * g;
            let d = -rate * g / sq.sqrt();
            *w += d;
            d
        };
        for &(i, v) in x {
            let row = i as usize * n..(i as usize + 1) * n;
            if self.active.len() == n {
                // Every class: zipped row slices, so the loop vectorises.
                let w = &mut self.weights[row.clone()];
                let sq = &mut self.grad_sq[row.clone()];
                if settings.average {
                    for (((w, sq), s), &r) in w
                        .iter_mut()
                        .zip(sq)
                        .zip(&mut self.scaled[row])
                        .zip(&self.scores)
                    {
                        *s += now * update(w, sq, r, v);
                    }
                } else {
                    for ((w, sq), &r) in w.iter_mut().zip(sq).zip(&self.scores) {
                        update(w, sq, r, v);
                    }
                }
            } else {
                for &(c, r) in &self.active {
                    let j = row.start + c;
                    let d = update(&mut self.weights[j], &mut self.grad_sq[j], r, v);
                    if settings.average {
                        self.scaled[j] += now * d;
                    }
                }
            }
        }
    }

    /// Replaces the weights by their mean over all `steps` steps: with
    /// `scaled` the sum of every update times its step number, that mean is
    /// `((steps + 1) · w − scaled) / steps`.
    fn finish(&mut self, steps: u32, average: bool) {
        if !average || steps == 0 {
            return;
        }
        let total = f64::from(steps);
        let mean = |w: f32, s: f64| (((total + 1.0) * f64::from(w) - s) / total) as f32;
        for (w, &s) in self.weights.iter_mut().zip(&self.scaled) {
            *w = mean(*w, f64::from(s));
        }
        for (b, &s) in self.bias.iter_mut().zip(&self.bias_scaled) {
            *b = mean(*b, s);
        }
    }
}

/// What one half's `exp(score - own_max)` is multiplied by to become a
/// probability, from both halves' `(max, sum)`, combined in a fixed order.
fn normaliser_scale(own_max: f32, norms: [(f32, f32); 2]) -> f32 {
    let max = norms[0].0.max(norms[1].0);
    let total: f32 = norms
        .iter()
        .filter(|(_, s)| *s > 0.0)
        .map(|(m, s)| s * (m - max).exp())
        .sum();
    if total > 0.0 {
        (own_max - max).exp() / total
    } else {
        0.0
    }
}

/// Where the two threads leave their normaliser of each step for the
/// other: one slot per half and step parity. A half cannot run two steps
/// ahead of the other (it waits for the other's value of every step), so
/// two slots are enough.
struct Exchange {
    published: [AtomicU64; 2],
    values: [[AtomicU64; 2]; 2],
    /// Set when a thread panics, so the other stops waiting for it.
    failed: AtomicBool,
}

impl Exchange {
    fn new() -> Self {
        Self {
            published: [AtomicU64::new(0), AtomicU64::new(0)],
            values: Default::default(),
            failed: AtomicBool::new(false),
        }
    }

    fn publish(&self, half: usize, step: u64, (max, sum): (f32, f32)) {
        let packed = (u64::from(max.to_bits()) << 32) | u64::from(sum.to_bits());
        self.values[half][(step & 1) as usize].store(packed, Ordering::Relaxed);
        self.published[half].store(step, Ordering::Release);
    }

    fn wait(&self, half: usize, step: u64) -> (f32, f32) {
        let mut spins = 0u32;
        while self.published[half].load(Ordering::Acquire) < step {
            if self.failed.load(Ordering::Relaxed) {
                panic!("the other training thread failed");
            }
            spins += 1;
            if spins < 2_000 {
                std::hint::spin_loop();
            } else {
                std::thread::yield_now();
            }
        }
        let packed = self.values[half][(step & 1) as usize].load(Ordering::Relaxed);
        (
            f32::from_bits((packed >> 32) as u32),
            f32::from_bits(packed as u32),
        )
    }
}

/// Marks the exchange failed if its thread unwinds.
struct FailOnPanic<'a>(&'a Exchange);

impl Drop for FailOnPanic<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.0.failed.store(true, Ordering::Relaxed);
        }
    }
}

/// The example order of every epoch, shuffled with the seed.
fn schedule(examples: usize, settings: &TrainSettings) -> Vec<u32> {
    let mut order: Vec<u32> = (0..examples as u32).collect();
    let mut rng = Rng(settings.seed | 1);
    let mut all = Vec::with_capacity(examples * settings.epochs);
    for _ in 0..settings.epochs {
        rng.shuffle(&mut order);
        all.extend_from_slice(&order);
    }
    all
}

/// Trains one half on two threads, in lock-step with the other half.
fn run_half(
    half: &mut Half,
    me: usize,
    data: &[(Sparse, usize)],
    order: &[u32],
    exchange: &Exchange,
    settings: &TrainSettings,
) {
    let _guard = FailOnPanic(exchange);
    for (step, &k) in (1u64..).zip(order) {
        let (x, y) = &data[k as usize];
        let own = half.forward(x);
        exchange.publish(me, step, own);
        let other = exchange.wait(1 - me, step);
        let norms = if me == 0 { [own, other] } else { [other, own] };
        half.backward(x, *y, own.0, norms, step as f32, settings);
    }
}

/// Trains on `(features, class)` pairs with `classes` classes over `dims`
/// features.
pub(super) fn train(
    data: &[(Sparse, usize)],
    classes: usize,
    dims: usize,
    settings: TrainSettings,
) -> Trained {
    let two_threads = settings.parallel
        && data.len() * classes >= PARALLEL_FROM
        && std::thread::available_parallelism().is_ok_and(|n| n.get() >= 2);
    train_on(data, classes, dims, settings, two_threads)
}

/// [`train`] on one or two threads.
fn train_on(
    data: &[(Sparse, usize)],
    classes: usize,
    dims: usize,
    settings: TrainSettings,
    two_threads: bool,
) -> Trained {
    let split = classes.div_ceil(2);
    let mut halves = [
        Half::new(0, split, dims, settings.average),
        Half::new(split, classes - split, dims, settings.average),
    ];
    let order = schedule(data.len(), &settings);
    if two_threads {
        let exchange = Exchange::new();
        let [first, second] = &mut halves;
        std::thread::scope(|scope| {
            let worker = scope.spawn(|| run_half(second, 1, data, &order, &exchange, &settings));
            run_half(first, 0, data, &order, &exchange, &settings);
            if let Err(panic) = worker.join() {
                std::panic::resume_unwind(panic);
            }
        });
    } else {
        for (step, &k) in (1u32..).zip(&order) {
            let (x, y) = &data[k as usize];
            let norms = [halves[0].forward(x), halves[1].forward(x)];
            for (half, own) in halves.iter_mut().zip(norms) {
                half.backward(x, *y, own.0, norms, step as f32, &settings);
            }
        }
    }
    let steps = order.len() as u32;
    let mut weights = vec![0.0f32; dims * classes];
    let mut bias = vec![0.0f32; classes];
    for half in &mut halves {
        half.finish(steps, settings.average);
        if half.n == 0 {
            continue;
        }
        for (row, own) in weights
            .chunks_exact_mut(classes)
            .zip(half.weights.chunks_exact(half.n))
        {
            row[half.first..half.first + half.n].copy_from_slice(own);
        }
        bias[half.first..half.first + half.n].copy_from_slice(&half.bias);
    }
    Trained { weights, bias }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Five classes over eight features, with some overlap.
    fn data() -> Vec<(Sparse, usize)> {
        (0..40u32)
            .map(|k| {
                let class = (k % 5) as usize;
                let x = vec![
                    (class as u32, 1.0),
                    (5 + k % 3, 0.5),
                    ((class as u32 + 1) % 5, 0.25),
                ];
                (x, class)
            })
            .collect()
    }

    #[test]
    fn two_threads_train_the_same_model_as_one() {
        for settings in [
            TrainSettings::default(),
            TrainSettings {
                min_gradient: 0.01,
                average: false,
                ..TrainSettings::default()
            },
        ] {
            let one = train_on(&data(), 5, 8, settings, false);
            let two = train_on(&data(), 5, 8, settings, true);
            assert_eq!(one.weights, two.weights);
            assert_eq!(one.bias, two.bias);
            assert!(one.weights.iter().any(|w| *w != 0.0));
        }
    }

    #[test]
    fn a_single_class_leaves_the_second_half_empty() {
        let data = vec![(vec![(0, 1.0)], 0), (vec![(1, 1.0)], 0)];
        let model = train_on(&data, 1, 2, TrainSettings::default(), true);
        assert_eq!(model.bias.len(), 1);
        assert!(model.weights.iter().all(|w| w.is_finite()));
    }
}
