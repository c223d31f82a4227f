//! A second classifier beside the linear one: a network with one hidden
//! layer of rectified units over the same sparse features, trained by
//! mini-batch AdaGrad with dropout.
//!
//! The hidden layer lets features combine (a word means one thing next to
//! another and something else alone), which a linear model cannot
//! express. Only the rows of the first layer that a batch's features touch
//! are read and updated, so a step costs (features in the batch) × (hidden
//! units), whatever the vocabulary's size. Training is single-threaded and
//! seeded: the same data always gives the same network.

use super::adagrad::Rng;
use super::classifier::{add_rows, softmax_in_place as softmax};
use super::features::Sparse;

/// Settings of the hidden-layer network.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MlpSettings {
    /// Hidden units; 0 turns the network off.
    pub hidden: usize,
    /// Passes over the data.
    pub epochs: usize,
    /// AdaGrad's base learning rate.
    pub learning_rate: f32,
    /// Share of hidden units dropped at each training step.
    pub dropout: f32,
    /// Examples per step.
    pub batch: usize,
    /// Seed of the initial weights, the shuffle and the dropout.
    pub seed: u64,
    /// The network's share of the final probabilities (mixed with the
    /// linear model's); 1 uses the network alone.
    pub weight: f32,
    /// How many networks to train, each from its own seed, whose
    /// probabilities are averaged (an ensemble: they disagree on the
    /// utterances none of them is sure of). Each costs its training and
    /// prediction time; 0 turns the network off.
    pub networks: usize,
}

impl Default for MlpSettings {
    fn default() -> Self {
        Self {
            hidden: 256,
            epochs: 6,
            learning_rate: 0.05,
            dropout: 0.5,
            batch: 16,
            seed: 0x6d6c_7030,
            weight: 0.5,
            networks: 3,
        }
    }
}

impl MlpSettings {
    /// The settings of the ensemble's `member`-th network: its own seed
    /// (the first keeps `seed`).
    pub fn member(self, member: usize) -> Self {
        Self {
            seed: self.seed ^ (member as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15),
            ..self
        }
    }
}

/// A trained network.
#[derive(Debug, Clone, PartialEq)]
pub struct Mlp {
    hidden: usize,
    classes: usize,
    /// Row-major: w1[feature * hidden + unit].
    w1: Vec<f32>,
    b1: Vec<f32>,
    /// Row-major: w2[unit * classes + class].
    w2: Vec<f32>,
    b2: Vec<f32>,
}

/// AdaGrad's step on one weight.
#[inline]
fn step(w: &mut f32, sq: &mut f32, g: f32, rate: f32) {
    *sq += g * g;
    *w -= rate * g / sq.sqrt();
}

impl Mlp {
    /// The hidden layer's pre-activation for `x` (into `z`).
    #[inline(always)]
    fn hidden_input(&self, x: &Sparse, z: &mut [f32]) {
        z.copy_from_slice(&self.b1);
        add_rows(&self.w1, x, z);
    }

    /// The output scores for hidden activations `a` (into `out`).
    #[inline(always)]
    fn output(&self, a: &[f32], out: &mut [f32]) {
        out.copy_from_slice(&self.b2);
        for (&ak, row) in a.iter().zip(self.w2.chunks_exact(self.classes)) {
            if ak != 0.0 {
                for (o, w) in out.iter_mut().zip(row) {
                    *o += w * ak;
                }
            }
        }
    }

    /// (features, classes) of the network.
    pub(super) fn shape(&self) -> (usize, usize) {
        (self.w1.len() / self.hidden.max(1), self.classes)
    }

    /// Appends the network's bytes (see `nlu::model_cache`).
    pub(super) fn write(&self, out: &mut Vec<u8>) {
        use super::model_cache::{put_floats, put_len};
        put_len(out, self.hidden);
        put_len(out, self.classes);
        for part in [&self.w1, &self.b1, &self.w2, &self.b2] {
            put_floats(out, part);
        }
    }

    /// Reads a network that [`Mlp::write`] wrote; `None` unless its parts
    /// have the shapes its sizes give.
    pub(super) fn read(reader: &mut super::model_cache::Reader<'_>) -> Option<Self> {
        let hidden = reader.len()?;
        let classes = reader.len()?;
        let (w1, b1, w2, b2) = (
            reader.floats()?,
            reader.floats()?,
            reader.floats()?,
            reader.floats()?,
        );
        let fits = hidden > 0
            && w1.len() % hidden == 0
            && b1.len() == hidden
            && Some(w2.len()) == hidden.checked_mul(classes)
            && b2.len() == classes;
        fits.then_some(Self {
            hidden,
            classes,
            w1,
            b1,
            w2,
            b2,
        })
    }

    /// Class probabilities for `x`.
    pub fn predict(&self, x: &Sparse) -> Vec<f32> {
        #[cfg(target_arch = "x86_64")]
        if super::simd::avx() {
            // SAFETY: `avx()` holds only on a CPU with AVX.
            return unsafe { self.predict_avx(x) };
        }
        self.predict_portable(x)
    }

    /// `predict` compiled for AVX: wider vectors, the same operations in
    /// the same order (see `nlu::simd`).
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx")]
    fn predict_avx(&self, x: &Sparse) -> Vec<f32> {
        self.predict_portable(x)
    }

    #[inline(always)]
    fn predict_portable(&self, x: &Sparse) -> Vec<f32> {
        let mut z = vec![0.0; self.hidden];
        self.hidden_input(x, &mut z);
        for zk in &mut z {
            *zk = zk.max(0.0);
        }
        let mut out = vec![0.0; self.classes];
        self.output(&z, &mut out);
        softmax(&mut out);
        out
    }

    /// Trains on `(features, class)` pairs with `classes` classes over
    /// `dims` features. `settings.hidden` must be at least 1.
    pub fn train(
        data: &[(Sparse, usize)],
        classes: usize,
        dims: usize,
        settings: MlpSettings,
    ) -> Self {
        let h = settings.hidden.max(1);
        let mut rng = Rng(settings.seed | 1);
        // Small random first layer (a uniform spread with the standard
        // deviation 0.05); the second scaled to the hidden width.
        let spread = 0.05 * 3f32.sqrt();
        let w1: Vec<f32> = (0..dims * h)
            .map(|_| (rng.unit() * 2.0 - 1.0) * spread)
            .collect();
        let out_spread = (3.0 / h as f32).sqrt();
        let w2: Vec<f32> = (0..h * classes)
            .map(|_| (rng.unit() * 2.0 - 1.0) * out_spread)
            .collect();
        let mut net = Self {
            hidden: h,
            classes,
            w1,
            b1: vec![0.0; h],
            w2,
            b2: vec![0.0; classes],
        };
        let mut trainer = Trainer::new(&net, dims, settings);
        let mut order: Vec<u32> = (0..data.len() as u32).collect();
        for _ in 0..settings.epochs {
            rng.shuffle(&mut order);
            for batch in order.chunks(settings.batch.max(1)) {
                trainer.step(&mut net, data, batch, &mut rng);
            }
        }
        net
    }
}

/// The optimiser's state and scratch space.
struct Trainer {
    settings: MlpSettings,
    sq1: Vec<f32>,
    sq_b1: Vec<f32>,
    sq2: Vec<f32>,
    sq_b2: Vec<f32>,
    /// Per example of a batch: pre-activations, then the kept activations.
    z: Vec<f32>,
    a: Vec<f32>,
    /// Per example: the gradient at the hidden layer's input.
    dz: Vec<f32>,
    g2: Vec<f32>,
    g_b2: Vec<f32>,
    g_b1: Vec<f32>,
    g_row: Vec<f32>,
    out: Vec<f32>,
    dh: Vec<f32>,
    /// (feature, example in batch, value) of the batch, sorted by feature.
    touched: Vec<(u32, u32, f32)>,
}

impl Trainer {
    fn new(net: &Mlp, dims: usize, settings: MlpSettings) -> Self {
        let (h, c) = (net.hidden, net.classes);
        let batch = settings.batch.max(1);
        Self {
            settings,
            sq1: vec![1e-6; dims * h],
            sq_b1: vec![1e-6; h],
            sq2: vec![1e-6; h * c],
            sq_b2: vec![1e-6; c],
            z: vec![0.0; batch * h],
            a: vec![0.0; batch * h],
            dz: vec![0.0; batch * h],
            g2: vec![0.0; h * c],
            g_b2: vec![0.0; c],
            g_b1: vec![0.0; h],
            g_row: vec![0.0; h],
            out: vec![0.0; c],
            dh: vec![0.0; h],
            touched: Vec::new(),
        }
    }

    /// One AdaGrad step on the mean loss of `batch`.
    fn step(&mut self, net: &mut Mlp, data: &[(Sparse, usize)], batch: &[u32], rng: &mut Rng) {
        let (h, c) = (net.hidden, net.classes);
        let scale = 1.0 / batch.len() as f32;
        let keep = 1.0 - self.settings.dropout.clamp(0.0, 0.95);
        self.g2.fill(0.0);
        self.g_b2.fill(0.0);
        self.g_b1.fill(0.0);
        for (e, &k) in batch.iter().enumerate() {
            let (x, y) = &data[k as usize];
            let z = &mut self.z[e * h..(e + 1) * h];
            net.hidden_input(x, z);
            let a = &mut self.a[e * h..(e + 1) * h];
            for (ak, &zk) in a.iter_mut().zip(z.iter()) {
                // Inverted dropout: kept units are scaled up in training so
                // that prediction needs no scaling.
                *ak = if zk > 0.0 && rng.unit() < keep {
                    zk / keep
                } else {
                    0.0
                };
            }
            net.output(a, &mut self.out);
            softmax(&mut self.out);
            if let Some(p) = self.out.get_mut(*y) {
                *p -= 1.0;
            }
            for g in &mut self.out {
                *g *= scale;
            }
            // Output layer gradient, and the hidden layer's.
            for (gb, &g) in self.g_b2.iter_mut().zip(&self.out) {
                *gb += g;
            }
            self.dh.fill(0.0);
            for (k, (&ak, row)) in a.iter().zip(net.w2.chunks_exact(c)).enumerate() {
                if ak == 0.0 {
                    continue;
                }
                let grow = &mut self.g2[k * c..(k + 1) * c];
                let mut back = 0.0;
                for ((gw, &w), &g) in grow.iter_mut().zip(row).zip(&self.out) {
                    *gw += ak * g;
                    back += w * g;
                }
                self.dh[k] = back;
            }
            let dz = &mut self.dz[e * h..(e + 1) * h];
            for ((d, &back), &ak) in dz.iter_mut().zip(&self.dh).zip(a.iter()) {
                // A dropped or inactive unit passes no gradient.
                *d = if ak != 0.0 { back / keep } else { 0.0 };
            }
            for (gb, &d) in self.g_b1.iter_mut().zip(dz.iter()) {
                *gb += d;
            }
        }
        let rate = self.settings.learning_rate;
        for ((w, sq), &g) in net.w2.iter_mut().zip(&mut self.sq2).zip(&self.g2) {
            if g != 0.0 {
                step(w, sq, g, rate);
            }
        }
        for ((w, sq), &g) in net.b2.iter_mut().zip(&mut self.sq_b2).zip(&self.g_b2) {
            step(w, sq, g, rate);
        }
        for ((w, sq), &g) in net.b1.iter_mut().zip(&mut self.sq_b1).zip(&self.g_b1) {
            step(w, sq, g, rate);
        }
        // First layer: the rows of the batch's features, each updated once
        // with its gradient summed over the batch.
        self.touched.clear();
        for (e, &k) in batch.iter().enumerate() {
            for &(i, v) in &data[k as usize].0 {
                self.touched.push((i, e as u32, v));
            }
        }
        self.touched.sort_unstable_by_key(|t| (t.0, t.1));
        let mut start = 0;
        while start < self.touched.len() {
            let feature = self.touched[start].0;
            let mut end = start;
            self.g_row.fill(0.0);
            while end < self.touched.len() && self.touched[end].0 == feature {
                let (_, e, v) = self.touched[end];
                let e = e as usize;
                for (g, &d) in self.g_row.iter_mut().zip(&self.dz[e * h..(e + 1) * h]) {
                    *g += v * d;
                }
                end += 1;
            }
            let row = feature as usize * h;
            if let (Some(w), Some(sq)) =
                (net.w1.get_mut(row..row + h), self.sq1.get_mut(row..row + h))
            {
                for ((w, sq), &g) in w.iter_mut().zip(sq).zip(&self.g_row) {
                    if g != 0.0 {
                        step(w, sq, g, rate);
                    }
                }
            }
            start = end;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// XOR of two features: no linear model separates it.
    fn xor() -> Vec<(Sparse, usize)> {
        let mut data = Vec::new();
        for _ in 0..50 {
            data.push((vec![(0, 1.0), (3, 1.0)], 0));
            data.push((vec![(1, 1.0), (2, 1.0)], 0));
            data.push((vec![(0, 1.0), (2, 1.0)], 1));
            data.push((vec![(1, 1.0), (3, 1.0)], 1));
        }
        data
    }

    fn settings() -> MlpSettings {
        MlpSettings {
            hidden: 16,
            epochs: 40,
            learning_rate: 0.1,
            dropout: 0.0,
            ..MlpSettings::default()
        }
    }

    #[test]
    fn learns_what_a_linear_model_cannot() {
        let net = Mlp::train(&xor(), 2, 4, settings());
        for (x, y) in xor().iter().take(4) {
            let p = net.predict(x);
            assert!(p[*y] > 0.9, "{x:?} -> {p:?}, want class {y}");
        }
    }

    #[test]
    fn training_is_deterministic_and_probabilities_sum_to_one() {
        let with_dropout = MlpSettings {
            dropout: 0.3,
            ..settings()
        };
        let a = Mlp::train(&xor(), 2, 4, with_dropout);
        let b = Mlp::train(&xor(), 2, 4, with_dropout);
        let x = vec![(0, 1.0), (3, 1.0)];
        assert_eq!(a.predict(&x), b.predict(&x));
        let sum: f32 = a.predict(&x).iter().sum();
        assert!((sum - 1.0).abs() < 1e-5);
        // A feature index past the trained ones is ignored, not a panic.
        assert_eq!(a.predict(&vec![(99, 1.0)]).len(), 2);
    }
}
