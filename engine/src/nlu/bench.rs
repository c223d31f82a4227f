//! `switchboard nlu-bench`: train a fresh classifier on a public intent
//! dataset's train file, then (and only then) read and predict its test
//! file, and report accuracy, macro F1, per-intent precision/recall, timing,
//! and in-scope accuracy / out-of-scope recall when `none` is present.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Instant;

use serde::Serialize;

use super::{Nlu, NluSettings, TrainingExample};
use crate::registry::NONE_INTENT;

/// Per-intent figures.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ClassScore {
    /// Test cases with this gold intent.
    pub support: usize,
    /// Precision.
    pub precision: f64,
    /// Recall.
    pub recall: f64,
    /// F1.
    pub f1: f64,
}

/// The benchmark's result.
#[derive(Debug, Clone, Serialize)]
pub struct BenchReport {
    /// Training utterances.
    pub train_examples: usize,
    /// Test utterances.
    pub test_examples: usize,
    /// Overall accuracy.
    pub accuracy: f64,
    /// Macro F1 over the gold intents.
    pub macro_f1: f64,
    /// Accuracy on cases whose gold intent is not `none` (all cases when
    /// there is no `none`).
    pub in_scope_accuracy: f64,
    /// Share of `none` cases predicted `none` (null without `none`).
    pub oos_recall: Option<f64>,
    /// Seconds to train.
    pub train_seconds: f64,
    /// Predictions per second on one core.
    pub predict_per_second: f64,
    /// Per intent.
    pub per_intent: BTreeMap<String, ClassScore>,
}

/// A file that could not be read.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    /// I/O.
    #[error("{path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// The error.
        source: std::io::Error,
    },
    /// A bad line.
    #[error("{path}: line {line}: {message}")]
    Line {
        /// The file.
        path: String,
        /// 1-based line.
        line: usize,
        /// What is wrong.
        message: String,
    },
    /// Training failed.
    #[error("training: {0}")]
    Train(#[from] super::NluError),
}

/// Reads `{"text", "intent"}` JSON lines.
pub fn read_examples(path: &Path) -> Result<Vec<TrainingExample>, BenchError> {
    let name = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| BenchError::Read {
        path: name.clone(),
        source,
    })?;
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            serde_json::from_str::<TrainingExample>(l).map_err(|e| BenchError::Line {
                path: name.clone(),
                line: i + 1,
                message: e.to_string(),
            })
        })
        .collect()
}

/// Trains on `train`, then reads and predicts `test`.
pub fn run(train: &Path, test: &Path, settings: NluSettings) -> Result<BenchReport, BenchError> {
    let examples = read_examples(train)?;
    let train_examples = examples.len();
    let started = Instant::now();
    let nlu = Nlu::train(examples, BTreeMap::new(), settings)?;
    let train_seconds = started.elapsed().as_secs_f64();
    // The test file is read only now that training is done.
    let cases = read_examples(test)?;
    let has_none = nlu.intents().iter().any(|i| i == NONE_INTENT);
    let started = Instant::now();
    let predicted: Vec<String> = cases
        .iter()
        .map(|c| predict(&nlu, &c.text, has_none, settings.none_below))
        .collect();
    let predict_seconds = started.elapsed().as_secs_f64().max(1e-9);

    let mut tp: BTreeMap<&str, usize> = BTreeMap::new();
    let mut gold: BTreeMap<&str, usize> = BTreeMap::new();
    let mut pred: BTreeMap<&str, usize> = BTreeMap::new();
    let (mut correct, mut in_total, mut in_correct, mut oos_total, mut oos_hit) = (0, 0, 0, 0, 0);
    for (case, p) in cases.iter().zip(&predicted) {
        *gold.entry(case.intent.as_str()).or_default() += 1;
        *pred.entry(p.as_str()).or_default() += 1;
        let ok = *p == case.intent;
        if ok {
            correct += 1;
            *tp.entry(case.intent.as_str()).or_default() += 1;
        }
        if case.intent == NONE_INTENT {
            oos_total += 1;
            oos_hit += usize::from(ok);
        } else {
            in_total += 1;
            in_correct += usize::from(ok);
        }
    }
    let ratio = |a: usize, b: usize| if b == 0 { 0.0 } else { a as f64 / b as f64 };
    let mut per_intent = BTreeMap::new();
    for (&intent, &support) in &gold {
        let t = tp.get(intent).copied().unwrap_or(0);
        let precision = ratio(t, pred.get(intent).copied().unwrap_or(0));
        let recall = ratio(t, support);
        let f1 = if precision + recall > 0.0 {
            2.0 * precision * recall / (precision + recall)
        } else {
            0.0
        };
        per_intent.insert(
            intent.to_owned(),
            ClassScore {
                support,
                precision,
                recall,
                f1,
            },
        );
    }
    let macro_f1 = per_intent.values().map(|s| s.f1).sum::<f64>() / per_intent.len().max(1) as f64;
    Ok(BenchReport {
        train_examples,
        test_examples: cases.len(),
        accuracy: ratio(correct, cases.len()),
        macro_f1,
        in_scope_accuracy: ratio(in_correct, in_total),
        oos_recall: (oos_total > 0).then(|| ratio(oos_hit, oos_total)),
        train_seconds,
        predict_per_second: cases.len() as f64 / predict_seconds,
        per_intent,
    })
}

/// Cross-validation on a training file alone.
#[derive(Debug, Clone, Serialize)]
pub struct CvReport {
    /// Folds.
    pub folds: usize,
    /// Whether each fold also held out whole intents, scored as out of
    /// scope (see [`cross_validate`]).
    pub unseen_intents: bool,
    /// Utterances.
    pub examples: usize,
    /// Accuracy over all held-out predictions.
    pub accuracy: f64,
    /// Accuracy on held-out cases whose intent is not `none`.
    pub in_scope_accuracy: f64,
    /// Held-out `none` cases predicted `none` (null without `none`).
    pub oos_recall: Option<f64>,
    /// With `none` in the data: the same held-out predictions scored at
    /// other `none_below` thresholds, to choose one.
    pub thresholds: Vec<ThresholdScore>,
    /// Seconds for all folds.
    pub seconds: f64,
}

/// K-fold cross-validation on `train` (stratified: the i-th utterance of
/// each intent goes to fold i mod K), for choosing settings without ever
/// looking at a test file. Folds train on both cores.
///
/// With `unseen_intents`, fold k also leaves out every utterance of the
/// k-th share of the intents (sorted by name; `none` is never left out)
/// and scores them as out of scope. A dataset's few `none` examples tend to
/// resemble each other, so ordinary folds flatter a rule that recognises
/// them; questions about a topic no intent covers, which is what a
/// deployment meets, look more like an intent the model never saw.
pub fn cross_validate(
    train: &Path,
    folds: usize,
    settings: NluSettings,
    unseen_intents: bool,
) -> Result<CvReport, BenchError> {
    let examples = read_examples(train)?;
    let folds = folds.max(2);
    // The folds run side by side on two threads, so each trains on one.
    let mut settings = settings;
    settings.train.parallel = false;
    let started = Instant::now();
    let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
    let fold_of: Vec<usize> = examples
        .iter()
        .map(|e| {
            let n = seen.entry(e.intent.as_str()).or_default();
            *n += 1;
            (*n - 1) % folds
        })
        .collect();
    // With `unseen_intents`: the fold that leaves each intent out.
    let intent_fold: BTreeMap<&str, usize> = seen
        .keys()
        .filter(|i| **i != NONE_INTENT)
        .enumerate()
        .map(|(n, i)| (*i, n % folds))
        .collect();
    let unseen_in = |e: &TrainingExample, k: usize| {
        unseen_intents && intent_fold.get(e.intent.as_str()) == Some(&k)
    };
    let run_fold = |k: usize| -> Result<Vec<(bool, bool, f32)>, BenchError> {
        let train: Vec<TrainingExample> = examples
            .iter()
            .zip(&fold_of)
            .filter(|(e, f)| **f != k && !unseen_in(e, k))
            .map(|(e, _)| e.clone())
            .collect();
        let nlu = Nlu::train(train, BTreeMap::new(), settings)?;
        // (gold is none, best intent is right, its probability)
        Ok(examples
            .iter()
            .zip(&fold_of)
            .filter(|(e, f)| **f == k || unseen_in(e, k))
            .map(|(case, _)| {
                let gold = if unseen_in(case, k) {
                    NONE_INTENT
                } else {
                    case.intent.as_str()
                };
                let ranked = nlu.classify(&case.text);
                let (intent, p) = ranked
                    .first()
                    .map_or((NONE_INTENT, 1.0), |(i, p)| (i.as_str(), *p));
                (gold == NONE_INTENT, intent == gold, p)
            })
            .collect())
    };
    let half = folds.div_ceil(2);
    let run_fold = &run_fold;
    let results: Vec<Result<_, BenchError>> = std::thread::scope(|scope| {
        let first = scope.spawn(move || (0..half).map(run_fold).collect::<Vec<_>>());
        let mut rest: Vec<_> = (half..folds).map(run_fold).collect();
        let mut all = first
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        all.append(&mut rest);
        all
    });
    let mut held_out = Vec::with_capacity(examples.len());
    for r in results {
        held_out.extend(r?);
    }
    let has_none = held_out.iter().any(|(gold_none, _, _)| *gold_none);
    let score = |threshold: f32| {
        let (mut correct, mut in_total, mut in_correct, mut oos_total, mut oos_hit) =
            (0, 0, 0, 0, 0);
        for &(gold_none, right, p) in &held_out {
            let says_none = has_none && p < threshold;
            let ok = if gold_none {
                says_none || right
            } else {
                right && !says_none
            };
            correct += usize::from(ok);
            if gold_none {
                oos_total += 1;
                oos_hit += usize::from(ok);
            } else {
                in_total += 1;
                in_correct += usize::from(ok);
            }
        }
        let ratio = |a: usize, b: usize| if b == 0 { 0.0 } else { a as f64 / b as f64 };
        ThresholdScore {
            none_below: threshold,
            accuracy: ratio(correct, held_out.len()),
            in_scope_accuracy: ratio(in_correct, in_total),
            oos_recall: (oos_total > 0).then(|| ratio(oos_hit, oos_total)),
        }
    };
    let at_setting = score(settings.none_below);
    let thresholds = if has_none {
        (1..=12).map(|i| score(i as f32 * 0.05)).collect()
    } else {
        Vec::new()
    };
    Ok(CvReport {
        folds,
        unseen_intents,
        examples: examples.len(),
        accuracy: at_setting.accuracy,
        in_scope_accuracy: at_setting.in_scope_accuracy,
        oos_recall: at_setting.oos_recall,
        thresholds,
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// Held-out figures at one `none_below` threshold.
#[derive(Debug, Clone, Serialize)]
pub struct ThresholdScore {
    /// The threshold.
    pub none_below: f32,
    /// Accuracy.
    pub accuracy: f64,
    /// In-scope accuracy.
    pub in_scope_accuracy: f64,
    /// Out-of-scope recall.
    pub oos_recall: Option<f64>,
}

/// The predicted intent of one text, `none` below the threshold.
fn predict(nlu: &Nlu, text: &str, has_none: bool, none_below: f32) -> String {
    let ranked = nlu.classify(text);
    match ranked.first() {
        Some((_, p)) if has_none && *p < none_below => NONE_INTENT.to_owned(),
        Some((intent, _)) => intent.clone(),
        None => NONE_INTENT.to_owned(),
    }
}

impl BenchReport {
    /// A readable report.
    pub fn to_text(&self) -> String {
        let mut out = format!(
            "train {} / test {} utterances\naccuracy {:.4}  macro F1 {:.4}  in-scope accuracy {:.4}  out-of-scope recall {}\ntraining {:.2} s, prediction {:.0} utterances/s\n\n",
            self.train_examples,
            self.test_examples,
            self.accuracy,
            self.macro_f1,
            self.in_scope_accuracy,
            self.oos_recall
                .map_or_else(|| "n/a".to_owned(), |r| format!("{r:.4}")),
            self.train_seconds,
            self.predict_per_second,
        );
        out.push_str(&format!(
            "{:<40} {:>7} {:>9} {:>7}\n",
            "intent", "support", "precision", "recall"
        ));
        for (name, s) in &self.per_intent {
            out.push_str(&format!(
                "{name:<40} {:>7} {:>9.3} {:>7.3}\n",
                s.support, s.precision, s.recall
            ));
        }
        out
    }
}
