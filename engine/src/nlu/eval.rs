//! Scoring the NLU on a file in the intent catalogue's evaluation format:
//! intent accuracy, entity precision/recall/F1 (period and subject are not
//! scored), a per-intent table, confusion pairs and the worst cases.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value as Json;

use super::Nlu;

/// Entities that are free text and not scored.
pub const UNSCORED: [&str; 2] = ["period", "subject"];

/// One case of an evaluation file.
#[derive(Debug, Clone, Deserialize)]
pub struct Case {
    /// The query.
    pub text: String,
    /// Earlier queries, oldest first.
    #[serde(default)]
    pub history: Vec<String>,
    /// The expected intent.
    pub intent: String,
    /// The expected canonical entities.
    #[serde(default)]
    pub entities: BTreeMap<String, Json>,
}

/// A line that could not be read.
#[derive(Debug, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct CaseError {
    /// 1-based line number.
    pub line: usize,
    /// What is wrong.
    pub message: String,
}

/// Reads JSON lines; blank lines are skipped.
pub fn parse_cases(text: &str) -> Result<Vec<Case>, CaseError> {
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            serde_json::from_str(l).map_err(|e| CaseError {
                line: i + 1,
                message: e.to_string(),
            })
        })
        .collect()
}

/// Normalises an entity value for comparison: numbers as numbers.
pub fn normalise(value: &Json) -> String {
    match value {
        Json::String(s) => match s.parse::<f64>() {
            Ok(n) if !s.trim().is_empty() => super::entities::format_number(n),
            _ => s.clone(),
        },
        Json::Number(n) => n
            .as_f64()
            .map_or_else(|| n.to_string(), super::entities::format_number),
        other => other.to_string(),
    }
}

/// Per-intent figures.
#[derive(Debug, Clone, Default, Serialize)]
pub struct IntentScore {
    /// Cases with this gold intent.
    pub support: usize,
    /// Of those, predicted correctly.
    pub correct: usize,
    /// Cases predicted as this intent.
    pub predicted: usize,
    /// correct / predicted.
    pub precision: f64,
    /// correct / support.
    pub recall: f64,
}

/// A case the NLU got wrong.
#[derive(Debug, Clone, Serialize)]
pub struct Miss {
    /// The query.
    pub text: String,
    /// Earlier queries.
    pub history: Vec<String>,
    /// Expected intent.
    pub expected_intent: String,
    /// Predicted intent.
    pub predicted_intent: String,
    /// Confidence of the prediction.
    pub confidence: f32,
    /// Expected entities (scored ones).
    pub expected_entities: BTreeMap<String, String>,
    /// Predicted entities (scored ones).
    pub predicted_entities: BTreeMap<String, String>,
}

/// The whole report.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Number of cases.
    pub cases: usize,
    /// Intent accuracy.
    pub intent_accuracy: f64,
    /// Entity precision.
    pub entity_precision: f64,
    /// Entity recall.
    pub entity_recall: f64,
    /// Entity F1.
    pub entity_f1: f64,
    /// Per intent.
    pub per_intent: BTreeMap<String, IntentScore>,
    /// (expected, predicted, count), most frequent first.
    pub confusions: Vec<(String, String, usize)>,
    /// Wrong cases, most confidently wrong first.
    pub worst: Vec<Miss>,
}

fn ratio(a: usize, b: usize) -> f64 {
    if b == 0 { 1.0 } else { a as f64 / b as f64 }
}

/// Scores `nlu` on `cases`.
pub fn evaluate(nlu: &Nlu, cases: &[Case]) -> Report {
    let mut correct = 0;
    let (mut tp, mut fp, mut fn_) = (0usize, 0usize, 0usize);
    let mut per_intent: BTreeMap<String, IntentScore> = BTreeMap::new();
    let mut confusions: BTreeMap<(String, String), usize> = BTreeMap::new();
    let mut worst = Vec::new();
    for case in cases {
        let got = nlu.interpret(&case.text, &case.history);
        let expected: BTreeMap<String, String> = case
            .entities
            .iter()
            .filter(|(k, _)| !UNSCORED.contains(&k.as_str()))
            .map(|(k, v)| (k.clone(), normalise(v)))
            .collect();
        let predicted: BTreeMap<String, String> = got
            .entities
            .iter()
            .filter(|(k, _)| !UNSCORED.contains(&k.as_str()))
            .map(|(k, v)| (k.clone(), normalise(&Json::String(v.clone()))))
            .collect();
        let mut entity_ok = true;
        for (k, v) in &expected {
            if predicted.get(k) == Some(v) {
                tp += 1;
            } else {
                fn_ += 1;
                entity_ok = false;
            }
        }
        for (k, v) in &predicted {
            if expected.get(k) != Some(v) {
                fp += 1;
                entity_ok = false;
            }
        }
        let intent_ok = got.intent == case.intent;
        per_intent.entry(case.intent.clone()).or_default().support += 1;
        per_intent.entry(got.intent.clone()).or_default().predicted += 1;
        if intent_ok {
            correct += 1;
            per_intent.entry(case.intent.clone()).or_default().correct += 1;
        } else {
            *confusions
                .entry((case.intent.clone(), got.intent.clone()))
                .or_default() += 1;
        }
        if !intent_ok || !entity_ok {
            worst.push(Miss {
                text: case.text.clone(),
                history: case.history.clone(),
                expected_intent: case.intent.clone(),
                predicted_intent: got.intent.clone(),
                confidence: got.confidence,
                expected_entities: expected,
                predicted_entities: predicted,
            });
        }
    }
    for score in per_intent.values_mut() {
        score.precision = ratio(score.correct, score.predicted);
        score.recall = ratio(score.correct, score.support);
    }
    let mut confusions: Vec<(String, String, usize)> = confusions
        .into_iter()
        .map(|((a, b), n)| (a, b, n))
        .collect();
    confusions.sort_by(|a, b| b.2.cmp(&a.2).then_with(|| a.0.cmp(&b.0)));
    worst.sort_by(|a, b| {
        let wrong_a = a.expected_intent != a.predicted_intent;
        let wrong_b = b.expected_intent != b.predicted_intent;
        wrong_b
            .cmp(&wrong_a)
            .then(b.confidence.total_cmp(&a.confidence))
    });
    let precision = ratio(tp, tp + fp);
    let recall = ratio(tp, tp + fn_);
    let f1 = if precision + recall > 0.0 {
        2.0 * precision * recall / (precision + recall)
    } else {
        0.0
    };
    Report {
        cases: cases.len(),
        intent_accuracy: ratio(correct, cases.len()),
        entity_precision: precision,
        entity_recall: recall,
        entity_f1: f1,
        per_intent,
        confusions,
        worst,
    }
}

impl Report {
    /// A readable report for people.
    pub fn to_text(&self, max_worst: usize) -> String {
        let mut out = format!(
            "cases: {}\nintent accuracy: {:.3}\nentities: precision {:.3}, recall {:.3}, F1 {:.3}\n\n",
            self.cases,
            self.intent_accuracy,
            self.entity_precision,
            self.entity_recall,
            self.entity_f1
        );
        out.push_str(&format!(
            "{:<32} {:>7} {:>9} {:>7}\n",
            "intent", "support", "precision", "recall"
        ));
        for (name, s) in &self.per_intent {
            if s.support == 0 && s.predicted == 0 {
                continue;
            }
            out.push_str(&format!(
                "{name:<32} {:>7} {:>9.3} {:>7.3}\n",
                s.support, s.precision, s.recall
            ));
        }
        if !self.confusions.is_empty() {
            out.push_str("\nconfusions (expected → predicted):\n");
            for (a, b, n) in &self.confusions {
                out.push_str(&format!("  {n:>3}  {a} → {b}\n"));
            }
        }
        if !self.worst.is_empty() {
            out.push_str("\nworst cases:\n");
            for m in self.worst.iter().take(max_worst) {
                out.push_str(&format!(
                    "  {:?}{}\n      expected {} {:?}\n      got      {} ({:.2}) {:?}\n",
                    m.text,
                    if m.history.is_empty() {
                        String::new()
                    } else {
                        format!(" after {:?}", m.history)
                    },
                    m.expected_intent,
                    m.expected_entities,
                    m.predicted_intent,
                    m.confidence,
                    m.predicted_entities
                ));
            }
        }
        out
    }
}
