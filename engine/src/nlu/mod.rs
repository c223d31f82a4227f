//! The embedded NLU: no network, no model download, deterministic, trained
//! at start-up from the example utterances in the plugins' manifests (plus
//! the engine's own out-of-scope examples for `none`).
//!
//! The pipeline, one module a stage:
//! [`text`] (words, stems, vocabulary, typo correction) →
//! [`entities`] (extract and canonicalise) →
//! [`features`] (TF-IDF over words with entity slots and character n-grams) →
//! [`classifier`] (multinomial logistic regression mixed with an ensemble of
//! the hidden-layer networks of [`mlp`]) →
//! [`followup`] (use the conversation's earlier queries).

mod adagrad;
pub mod bench;
pub mod classifier;
pub mod embedding;
pub mod entities;
pub mod eval;
pub mod features;
pub mod followup;
pub mod mlp;
pub mod model_cache;
mod oos;
mod simd;
pub mod text;
pub mod training;

use std::collections::BTreeMap;

use serde::Serialize;

use crate::registry::{IntentRegistry, NONE_INTENT};
use classifier::{Classifier, TrainSettings};
use entities::{Entity, Extractor};
use features::{FeatureSettings, Featurizer};
use mlp::MlpSettings;
use model_cache::ModelCache;
use text::Vocabulary;

pub use oos::OUT_OF_SCOPE;

/// One training utterance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct TrainingExample {
    /// The utterance.
    pub text: String,
    /// Its intent.
    pub intent: String,
}

/// The entities an intent takes.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct IntentSchema {
    /// Groups of alternatives that must each be satisfied.
    pub required: Vec<Vec<String>>,
    /// Optional entities.
    pub optional: Vec<String>,
}

impl IntentSchema {
    /// Whether the intent takes `entity`.
    pub fn takes(&self, entity: &str) -> bool {
        self.required.iter().flatten().any(|e| e == entity)
            || self.optional.iter().any(|e| e == entity)
    }
}

/// The most hidden units `--set hidden=` accepts (the first layer holds
/// features × units weights).
const MAX_HIDDEN: usize = 4096;

/// The most networks `--set networks=` accepts.
const MAX_NETWORKS: usize = 16;

/// Entities that identify what a question is about (a person's name too:
/// "Tom Becker's unpaid invoices" are his, not the overdue list); see
/// [`NluSettings::unused_identifier_factor`].
const IDENTIFIERS: &[&str] = &[
    "customer",
    "customer_name",
    "invoice",
    "device",
    "email",
    "phone",
];

/// Entities that only the business has (an account, invoice, ticket or
/// device): a question naming one is never out of scope. An e-mail address
/// or phone number can be anybody's, so they are not among them.
const BUSINESS_RECORDS: &[&str] = &["customer", "invoice", "ticket", "device"];

/// NLU settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NluSettings {
    /// Features.
    pub features: FeatureSettings,
    /// Training.
    pub train: TrainSettings,
    /// The hidden-layer network beside the linear model.
    pub network: MlpSettings,
    /// Below this confidence in the best intent, the answer is `none`.
    pub none_below: f32,
    /// Factor applied to an intent whose required entities are absent.
    pub missing_entity_factor: f32,
    /// Factor applied to an intent for each kind of identifier in the text
    /// (an account, a customer's name of two words or more, invoice,
    /// device, email address or phone number) that it does not take: the
    /// agent named it because it matters. A possessive or "that account"
    /// that points to the conversation's customer counts as naming them.
    pub unused_identifier_factor: f32,
}

impl Default for NluSettings {
    fn default() -> Self {
        Self {
            features: FeatureSettings::default(),
            train: TrainSettings::default(),
            network: MlpSettings::default(),
            none_below: 0.35,
            missing_entity_factor: 0.3,
            unused_identifier_factor: 0.5,
        }
    }
}

impl NluSettings {
    /// Sets one setting by name, as `nlu-bench --set name=value` does
    /// (for choosing settings by cross-validation).
    pub fn set(&mut self, name: &str, value: &str) -> Result<(), String> {
        fn num<T: std::str::FromStr>(name: &str, value: &str) -> Result<T, String> {
            value
                .parse()
                .map_err(|_| format!("`{name}`: `{value}` is not a valid number"))
        }
        fn within<T: PartialOrd + std::fmt::Display>(
            name: &str,
            value: T,
            min: T,
            max: T,
        ) -> Result<T, String> {
            if value >= min && value <= max {
                Ok(value)
            } else {
                Err(format!("`{name}`: {value} is outside {min} to {max}"))
            }
        }
        fn flag(name: &str, value: &str) -> Result<bool, String> {
            value
                .parse()
                .map_err(|_| format!("`{name}`: `{value}` is not true or false"))
        }
        let f = &mut self.features;
        let t = &mut self.train;
        let n = &mut self.network;
        match name {
            "char_min" => f.char_min = num(name, value)?,
            "char_max" => f.char_max = num(name, value)?,
            "char_weight" => f.char_weight = num(name, value)?,
            "bigrams" => f.bigrams = flag(name, value)?,
            "trigrams" => f.trigrams = flag(name, value)?,
            "min_df" => f.min_df = num(name, value)?,
            "chars_from_surface" => f.chars_from_surface = flag(name, value)?,
            "embedding_weight" => f.embedding_weight = num(name, value)?,
            "embedding_dims" => f.embedding_dims = num(name, value)?,
            "epochs" => t.epochs = num(name, value)?,
            "learning_rate" => t.learning_rate = num(name, value)?,
            "l2" => t.l2 = num(name, value)?,
            "average" => t.average = flag(name, value)?,
            "min_gradient" => t.min_gradient = num(name, value)?,
            "parallel" => t.parallel = flag(name, value)?,
            "seed" => t.seed = num(name, value)?,
            "hidden" => n.hidden = within(name, num(name, value)?, 0, MAX_HIDDEN)?,
            "mlp_epochs" => n.epochs = num(name, value)?,
            "mlp_learning_rate" => n.learning_rate = within(name, num(name, value)?, 0.0, 10.0)?,
            "dropout" => n.dropout = within(name, num(name, value)?, 0.0, 0.95)?,
            "batch" => n.batch = within(name, num(name, value)?, 1, 4096)?,
            "mlp_weight" => n.weight = within(name, num(name, value)?, 0.0, 1.0)?,
            "networks" => n.networks = within(name, num(name, value)?, 0, MAX_NETWORKS)?,
            "none_below" => self.none_below = num(name, value)?,
            "missing_entity_factor" => self.missing_entity_factor = num(name, value)?,
            "unused_identifier_factor" => {
                self.unused_identifier_factor = within(name, num(name, value)?, 0.0, 1.0)?
            }
            _ => {
                return Err(format!(
                    "unknown setting `{name}` (known: char_min, char_max, char_weight, bigrams, trigrams, min_df, chars_from_surface, embedding_weight, embedding_dims, epochs, learning_rate, l2, average, min_gradient, parallel, seed, hidden, mlp_epochs, mlp_learning_rate, dropout, batch, mlp_weight, networks, none_below, missing_entity_factor, unused_identifier_factor)"
                ));
            }
        }
        Ok(())
    }
}

/// What the NLU made of a query.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Interpretation {
    /// The intent, or `none`.
    pub intent: String,
    /// Confidence in [0, 1].
    pub confidence: f32,
    /// Canonical entities the intent takes, by name.
    pub entities: BTreeMap<String, String>,
    /// The next most likely intents, best first.
    pub alternatives: Vec<(String, f32)>,
    /// Entities taken from earlier queries.
    pub from_history: Vec<String>,
    /// Whether the intent was carried over from the previous query.
    pub carried_intent: bool,
}

/// A trained NLU.
#[derive(Debug, Clone)]
pub struct Nlu {
    classes: Vec<String>,
    schemas: BTreeMap<String, IntentSchema>,
    vocabulary: Vocabulary,
    extractor: Extractor,
    featurizer: Featurizer,
    classifier: Classifier,
    settings: NluSettings,
    examples: Vec<TrainingExample>,
}

/// Training that could not be done.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NluError {
    /// No examples at all.
    #[error("no training examples")]
    Empty,
    /// An example names an intent nobody registered.
    #[error("training example `{text}` is for intent `{intent}`, which is not registered")]
    UnknownIntent {
        /// The utterance.
        text: String,
        /// Its intent.
        intent: String,
    },
}

impl Nlu {
    /// Trains on the examples of every intent in `registry`, the engine's
    /// out-of-scope examples, and `extra` (deployment training data).
    pub fn from_registry(
        registry: &IntentRegistry,
        extra: &[TrainingExample],
    ) -> Result<Self, NluError> {
        Self::from_registry_cached(registry, extra, None)
    }

    /// As [`Nlu::from_registry`], loading the trained classifier from
    /// `cache` when the same training was done before (and storing it
    /// there when not).
    pub fn from_registry_cached(
        registry: &IntentRegistry,
        extra: &[TrainingExample],
        cache: Option<&ModelCache>,
    ) -> Result<Self, NluError> {
        let mut schemas = BTreeMap::new();
        let mut examples = Vec::new();
        for intent in registry.iter() {
            schemas.insert(
                intent.spec.name.clone(),
                IntentSchema {
                    required: intent.spec.required_entities.clone(),
                    optional: intent.spec.optional_entities.clone(),
                },
            );
            for e in &intent.spec.examples {
                examples.push(TrainingExample {
                    text: e.clone(),
                    intent: intent.spec.name.clone(),
                });
            }
        }
        schemas.insert(NONE_INTENT.to_owned(), IntentSchema::default());
        for text in OUT_OF_SCOPE {
            examples.push(TrainingExample {
                text: (*text).to_owned(),
                intent: NONE_INTENT.to_owned(),
            });
        }
        for e in extra {
            if !schemas.contains_key(&e.intent) {
                return Err(NluError::UnknownIntent {
                    text: e.text.clone(),
                    intent: e.intent.clone(),
                });
            }
            examples.push(e.clone());
        }
        Self::train_cached(examples, schemas, NluSettings::default(), cache)
    }

    /// Trains on `examples`; `schemas` gives each intent's entities (an
    /// intent without a schema takes none).
    pub fn train(
        examples: Vec<TrainingExample>,
        schemas: BTreeMap<String, IntentSchema>,
        settings: NluSettings,
    ) -> Result<Self, NluError> {
        Self::train_cached(examples, schemas, settings, None)
    }

    /// As [`Nlu::train`], with the classifier from `cache` when the same
    /// training was done before (see [`model_cache`]).
    pub fn train_cached(
        examples: Vec<TrainingExample>,
        mut schemas: BTreeMap<String, IntentSchema>,
        settings: NluSettings,
        cache: Option<&ModelCache>,
    ) -> Result<Self, NluError> {
        if examples.is_empty() {
            return Err(NluError::Empty);
        }
        let mut vocabulary = Vocabulary::common();
        vocabulary.learn(examples.iter().map(|e| e.text.as_str()));
        let extractor = Extractor::new(vocabulary.clone());
        let mut classes: Vec<String> = examples.iter().map(|e| e.intent.clone()).collect();
        classes.sort_unstable();
        classes.dedup();
        for c in &classes {
            schemas.entry(c.clone()).or_default();
        }
        let docs: Vec<Vec<features::Token>> = examples
            .iter()
            .map(|e| features::analyse(&e.text, &extractor.extract(&e.text), &vocabulary))
            .collect();
        let featurizer = Featurizer::fit(&docs, settings.features);
        let data: Vec<(features::Sparse, usize)> = docs
            .iter()
            .zip(&examples)
            .map(|(d, e)| {
                let class = classes.binary_search(&e.intent).unwrap_or(0);
                (featurizer.transform(d), class)
            })
            .collect();
        let (classes_n, dims) = (classes.len(), featurizer.len());
        let train = || Classifier::train(&data, classes_n, dims, settings.train, settings.network);
        let classifier = match cache {
            None => train(),
            Some(cache) => {
                let key = ModelCache::key(&data, classes_n, dims, &settings);
                match cache
                    .load(&key)
                    .filter(|model| model.shape() == (dims, classes_n))
                {
                    Some(model) => {
                        tracing::debug!(dir = %cache.dir().display(), "NLU model loaded from the cache");
                        model
                    }
                    None => {
                        let model = train();
                        if let Err(error) = cache.store(&key, &model) {
                            tracing::warn!(dir = %cache.dir().display(), %error, "cannot cache the NLU model");
                        }
                        model
                    }
                }
            }
        };
        Ok(Self {
            classes,
            schemas,
            vocabulary,
            extractor,
            featurizer,
            classifier,
            settings,
            examples,
        })
    }

    /// The utterances this model was trained on.
    pub fn training_examples(&self) -> &[TrainingExample] {
        &self.examples
    }

    /// The intents it knows, `none` included.
    pub fn intents(&self) -> &[String] {
        &self.classes
    }

    /// The entity schema of an intent.
    pub fn schema(&self, intent: &str) -> Option<&IntentSchema> {
        self.schemas.get(intent)
    }

    /// Every entity in `text`, whatever the intent.
    pub fn extract(&self, text: &str) -> Vec<Entity> {
        self.extractor.extract(text)
    }

    /// Intent probabilities for `text` alone, best first.
    pub fn classify(&self, text: &str) -> Vec<(String, f32)> {
        let entities = self.extractor.extract(text);
        self.classify_with(text, &entities)
    }

    fn classify_with(&self, text: &str, entities: &[Entity]) -> Vec<(String, f32)> {
        let mut probs = self.probabilities(text, entities);
        // A message of several sentences that reads as out of scope, or
        // too unsure to answer, as a whole may still hold a request beside
        // its chatter ("Could you pull up her invoices? She says two are
        // missing."): the sentence that most clearly asks for something
        // registered answers, if it is surer than the whole.
        let whole_is_none = self.best_is_none(&probs);
        if whole_is_none || max_of(&probs) < self.settings.none_below {
            let spans: Vec<(usize, usize)> = entities.iter().map(|e| e.span).collect();
            let pieces = text::sentences(text, &spans);
            if pieces.len() > 1 {
                let in_scope = pieces
                    .into_iter()
                    .map(|(s, e)| {
                        let own: Vec<Entity> = entities
                            .iter()
                            .filter(|en| en.span.0 >= s && en.span.1 <= e)
                            .map(|en| Entity {
                                span: (en.span.0 - s, en.span.1 - s),
                                ..en.clone()
                            })
                            .collect();
                        self.probabilities(&text[s..e], &own)
                    })
                    .filter(|p| !self.best_is_none(p))
                    .filter(|p| whole_is_none || max_of(p) > max_of(&probs))
                    .max_by(|a, b| max_of(a).total_cmp(&max_of(b)));
                if let Some(piece) = in_scope {
                    probs = piece;
                }
            }
        }
        let mut ranked: Vec<(String, f32)> = self.classes.iter().cloned().zip(probs).collect();
        ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        ranked
    }

    /// The classifier's probabilities (in `classes` order) for `text`,
    /// whose entities are `entities`.
    fn probabilities(&self, text: &str, entities: &[Entity]) -> Vec<f32> {
        let words = features::analyse(text, entities, &self.vocabulary);
        let x = self.featurizer.transform(&words);
        if x.is_empty() {
            // Nothing known in the text: out of scope.
            self.classes
                .iter()
                .map(|c| if c == NONE_INTENT { 1.0 } else { 0.0 })
                .collect()
        } else {
            self.classifier.predict(&x)
        }
    }

    /// Whether `none` is the most likely class of `probs`.
    fn best_is_none(&self, probs: &[f32]) -> bool {
        probs
            .iter()
            .zip(&self.classes)
            .max_by(|a, b| a.0.total_cmp(b.0))
            .is_none_or(|(_, c)| c == NONE_INTENT)
    }

    /// Interprets `text` on its own.
    pub fn interpret_single(&self, text: &str) -> Interpretation {
        self.interpret_with_context(text, &[])
    }

    /// Interprets `text`, knowing that the entities named in `available`
    /// can be supplied by the conversation. Intents whose required
    /// entities can be found neither in the text nor there are made less
    /// likely (an intent the agent's words fit but whose subject is absent
    /// is usually the wrong one: "ping ZTR991's router" is about a
    /// customer's connection, not a device). So is an intent, other than
    /// `none`, for each kind of identifier the text names outside a
    /// ticket's subject, or points back to, that it cannot use (see
    /// [`NluSettings::unused_identifier_factor`]).
    pub fn interpret_with_context(&self, text: &str, available: &[&str]) -> Interpretation {
        let entities = self.extractor.extract(text);
        let mut ranked = self.classify_with(text, &entities);
        let present: Vec<&str> = entities
            .iter()
            .map(|e| e.name)
            .chain(available.iter().copied())
            .collect();
        // The kinds of identifier the text names, each once; one inside a
        // ticket's free-text subject ("...: OLT-NORTH-01 keeps dropping")
        // describes the problem, not what the question is about.
        let subject = entities
            .iter()
            .find(|e| e.name == "subject")
            .map(|e| e.span);
        let mut identifiers: Vec<&str> = entities
            .iter()
            .filter(|e| IDENTIFIERS.contains(&e.name))
            // A one-word name may be a place or a product ("an outage in
            // Galway"); a fuller one names a customer.
            .filter(|e| e.name != "customer_name" || e.value.contains(' '))
            .filter(|e| subject.is_none_or(|(s, end)| e.span.0 < s || e.span.1 > end))
            .map(|e| e.name)
            .collect();
        // A word pointing back to the conversation's customer ("their
        // invoices", "that account") makes the question about them too.
        let customer_known = available
            .iter()
            .any(|name| matches!(*name, "customer" | "customer_name"));
        if customer_known && text::points_to_a_person(text) {
            identifiers.push("customer");
        }
        identifiers.sort_unstable();
        identifiers.dedup();
        let mut total = 0.0;
        for (intent, p) in &mut ranked {
            let schema = self.schemas.get(intent.as_str());
            let satisfied = schema.is_none_or(|s| {
                s.required
                    .iter()
                    .all(|group| group.iter().any(|e| present.contains(&e.as_str())))
            });
            if !satisfied {
                *p *= self.settings.missing_entity_factor;
            }
            if let Some(schema) = schema
                && intent != NONE_INTENT
            {
                for name in &identifiers {
                    if !schema.takes(name) {
                        *p *= self.settings.unused_identifier_factor;
                    }
                }
            }
            total += *p;
        }
        if total > 0.0 {
            for (_, p) in &mut ranked {
                *p /= total;
            }
        }
        ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        // A question that names an account, invoice, ticket or device is
        // about the business, whatever its wording: never out of scope.
        let names_a_subject = entities.iter().any(|e| BUSINESS_RECORDS.contains(&e.name));
        if names_a_subject && ranked.first().is_some_and(|(i, _)| i == NONE_INTENT) {
            let none_p = ranked.first().map_or(0.0, |(_, p)| *p);
            ranked.remove(0);
            let rest = (1.0 - none_p).max(f32::EPSILON);
            for (_, p) in &mut ranked {
                *p /= rest;
            }
            ranked.push((NONE_INTENT.to_owned(), 0.0));
        }
        let (mut intent, mut confidence) = ranked
            .first()
            .cloned()
            .unwrap_or((NONE_INTENT.to_owned(), 1.0));
        if intent != NONE_INTENT && confidence < self.settings.none_below {
            intent = NONE_INTENT.to_owned();
            confidence = 1.0 - confidence;
        }
        let alternatives = ranked
            .iter()
            .filter(|(i, _)| *i != intent && i != NONE_INTENT)
            .take(3)
            .cloned()
            .collect();
        let entities = self.keep_for(&intent, &entities);
        Interpretation {
            intent,
            confidence: confidence.clamp(0.0, 1.0),
            entities,
            alternatives,
            from_history: Vec::new(),
            carried_intent: false,
        }
    }

    /// The entities of `all` that `intent` takes.
    fn keep_for(&self, intent: &str, all: &[Entity]) -> BTreeMap<String, String> {
        let Some(schema) = self.schemas.get(intent) else {
            return BTreeMap::new();
        };
        let kept: Vec<Entity> = all
            .iter()
            .filter(|e| schema.takes(e.name))
            .cloned()
            .collect();
        entities::to_map(&kept)
    }

    /// Interprets `text` in a conversation whose earlier queries are
    /// `history` (oldest first); see [`followup`].
    pub fn interpret(&self, text: &str, history: &[String]) -> Interpretation {
        followup::resolve(self, text, history)
    }
}

/// The largest of `probs`.
fn max_of(probs: &[f32]) -> f32 {
    probs.iter().copied().fold(0.0, f32::max)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utterances() -> Vec<TrainingExample> {
        [
            ("show the invoices", "billing.invoices"),
            ("list my invoices please", "billing.invoices"),
            ("which bills are unpaid", "billing.invoices"),
            ("any outage in the north", "monitoring.outages"),
            ("is the network down", "monitoring.outages"),
            ("outages near me", "monitoring.outages"),
            ("tell me a joke", "none"),
            ("what is the weather", "none"),
        ]
        .iter()
        .map(|(text, intent)| TrainingExample {
            text: (*text).to_owned(),
            intent: (*intent).to_owned(),
        })
        .collect()
    }

    /// The second training with the same data loads the first one's model
    /// from the cache: a different model planted under its key is what the
    /// engine then uses (so the cache, not training, supplied it), and
    /// without the cache the model is trained as before.
    #[test]
    fn a_cached_model_is_loaded_instead_of_trained() {
        let dir = tempfile::tempdir().unwrap();
        let cache = ModelCache::new(dir.path());
        let settings = NluSettings::default();
        let train = |cache: Option<&ModelCache>| {
            Nlu::train_cached(utterances(), BTreeMap::new(), settings, cache).unwrap()
        };
        let first = train(Some(&cache));
        let fresh = train(None);
        let text = "show me the invoices";
        assert_eq!(first.classify(text), fresh.classify(text));
        assert_eq!(first.classify(text)[0].0, "billing.invoices");

        let files: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        assert_eq!(files.len(), 1, "{files:?}");
        let stem = files[0].file_stem().unwrap().to_str().unwrap();
        let key: model_cache::Key = hex::decode(stem).unwrap().try_into().unwrap();
        let (dims, classes) = cache.load(&key).expect("stored").shape();
        // A linear model that only ever saw `none` (the last class).
        let planted = Classifier::train(
            &[(vec![(0, 1.0)], classes - 1)],
            classes,
            dims,
            TrainSettings::default(),
            MlpSettings {
                hidden: 0,
                ..MlpSettings::default()
            },
        );
        cache.store(&key, &planted).unwrap();
        assert_eq!(train(Some(&cache)).classify(text)[0].0, "none");
        assert_eq!(train(None).classify(text)[0].0, "billing.invoices");
    }

    /// An identifier in the text that an intent does not take makes that
    /// intent `unused_identifier_factor` times as likely, relative to one
    /// that takes it; other entities change nothing.
    #[test]
    fn an_identifier_an_intent_cannot_use_counts_against_it() {
        let schemas = BTreeMap::from([
            (
                "billing.invoices".to_owned(),
                IntentSchema {
                    required: Vec::new(),
                    optional: vec!["invoice".to_owned()],
                },
            ),
            (
                "monitoring.outages".to_owned(),
                IntentSchema {
                    required: Vec::new(),
                    optional: vec!["region".to_owned()],
                },
            ),
        ]);
        let odds = |factor: f32, text: &str| {
            let settings = NluSettings {
                unused_identifier_factor: factor,
                none_below: 0.0,
                ..NluSettings::default()
            };
            let nlu = Nlu::train(utterances(), schemas.clone(), settings).unwrap();
            let found = nlu.interpret_single(text);
            let p = |intent: &str| {
                if found.intent == intent {
                    found.confidence
                } else {
                    found
                        .alternatives
                        .iter()
                        .find(|(i, _)| i == intent)
                        .map_or(0.0, |(_, p)| *p)
                }
            };
            p("monitoring.outages") / p("billing.invoices")
        };
        let text = "any outage affecting invoice INV-2025-001";
        let (plain, halved) = (odds(1.0, text), odds(0.5, text));
        assert!(plain > 0.0, "both intents are in the running");
        assert!(
            (halved / plain - 0.5).abs() < 1e-3,
            "outages cannot use the invoice: {plain} -> {halved}"
        );
        // A region is not an identifier: both factors give the same odds.
        let text = "any outage for invoices in the north";
        assert!((odds(0.5, text) / odds(1.0, text) - 1.0).abs() < 1e-3);
    }

    #[test]
    fn settings_are_set_by_name_within_their_bounds() {
        let mut settings = NluSettings::default();
        settings.set("hidden", "0").unwrap();
        settings.set("dropout", "0.2").unwrap();
        settings.set("mlp_weight", "1").unwrap();
        assert_eq!(settings.network.hidden, 0);
        assert_eq!(settings.network.dropout, 0.2);
        assert_eq!(settings.network.weight, 1.0);
        for (name, value, says) in [
            ("hidden", "5000", "outside 0 to 4096"),
            ("dropout", "1", "outside 0 to 0.95"),
            ("mlp_weight", "-0.1", "outside 0 to 1"),
            ("batch", "0", "outside 1 to 4096"),
            ("networks", "17", "outside 0 to 16"),
            ("unused_identifier_factor", "1.5", "outside 0 to 1"),
            ("hidden", "many", "not a valid number"),
            ("hiden", "1", "unknown setting"),
        ] {
            let error = settings.set(name, value).unwrap_err();
            assert!(error.contains(says), "{name}={value}: {error}");
        }
        assert_eq!(
            settings.network.hidden, 0,
            "a refused value changes nothing"
        );
    }
}
