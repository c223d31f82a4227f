//! Answering one query end to end: interpret (embedded NLU, with the
//! conversation's earlier queries) → decide (out of scope, not sure,
//! missing entities, not permitted) → dispatch to the owning plugin → a
//! single outcome that the CLI prints and the API returns.

use std::collections::BTreeMap;
use std::sync::Arc;

use arc_swap::ArcSwap;
use serde::Serialize;
use serde_json::{Value as Json, json};

use crate::ai::{AiServices, SelectError, Selection};
use crate::config::Config;
use crate::nlu::model_cache::ModelCache;
use crate::nlu::training::{self, SourcedExample, TrainingDataError};
use crate::nlu::{Interpretation, Nlu, NluError, TrainingExample};
use crate::plugins::{
    CallContext, DispatchError, FailureCode, LoadError, PluginHost, PluginRequest, Proposal,
    SuggestedAction,
};
use crate::registry::{IntentRegistry, NONE_INTENT};

/// How the query ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Status {
    /// A plugin answered.
    Answered,
    /// The plugin answered with its own error message (e.g. not found).
    PluginMessage,
    /// Out of scope.
    OutOfScope,
    /// Confidence too low: the closest intents are suggested.
    NotSure,
    /// Required entities are missing.
    MissingEntities {
        /// Unsatisfied groups.
        missing: Vec<Vec<String>>,
    },
    /// The caller lacks the intent's permission.
    Forbidden {
        /// The permission needed.
        permission: String,
    },
    /// The plugin failed.
    PluginFailed {
        /// The plugin.
        plugin: String,
        /// Its failure code.
        code: FailureCode,
    },
}

/// The outcome of a query.
#[derive(Debug, Clone, Serialize)]
pub struct QueryOutcome {
    /// The intent understood (`none` when out of scope).
    pub intent: String,
    /// The NLU's confidence.
    pub confidence: f32,
    /// The entities used.
    pub entities: BTreeMap<String, String>,
    /// Text for the agent.
    pub response_text: String,
    /// JSON data.
    pub structured_data: Json,
    /// Next steps.
    pub suggested_actions: Vec<SuggestedAction>,
    /// For action intents: the change to confirm.
    pub proposal: Option<Proposal>,
    /// Which interpreter understood the query: `embedded`, or
    /// `BACKEND:SERVICE` for an AI service (e.g. `openai:local-llm`).
    pub interpreter: String,
    /// Why the embedded NLU answered although an AI service was chosen.
    pub fallback_reason: Option<String>,
    /// The plugin that answered, if any.
    pub plugin: Option<String>,
    /// How it ended.
    pub status: Status,
}

/// Settings for answering.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct QuerySettings {
    /// Below this confidence the engine says it is not sure.
    pub not_sure_below: f32,
}

impl Default for QuerySettings {
    fn default() -> Self {
        Self {
            not_sure_below: 0.35,
        }
    }
}

/// Plugins plus the NLU trained on them; both swapped together on reload.
pub struct QueryEngine {
    plugins: PluginHost,
    nlu: ArcSwap<Nlu>,
    /// One reload at a time, so plugins and NLU always match.
    reloading: tokio::sync::Mutex<()>,
    settings: QuerySettings,
    ai: Option<Arc<AiServices>>,
}

impl std::fmt::Debug for QueryEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QueryEngine")
            .field("plugins", &self.plugins)
            .finish_non_exhaustive()
    }
}

/// Failure to build or reload the engine.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// Plugins failed to load.
    #[error(transparent)]
    Load(#[from] LoadError),
    /// The NLU could not be trained.
    #[error("NLU: {0}")]
    Nlu(#[from] NluError),
    /// A deployment training file is unreadable or names an unknown intent.
    #[error(transparent)]
    Training(#[from] TrainingDataError),
}

/// Reads the `[nlu] training_files` of `config`.
pub fn load_training(config: &Config) -> Result<Vec<SourcedExample>, TrainingDataError> {
    let mut all = Vec::new();
    for path in &config.nlu.training_files {
        all.extend(training::read_file(&config.resolve_path(path))?);
    }
    Ok(all)
}

fn train(
    registry: &IntentRegistry,
    extra: &[SourcedExample],
    cache: Option<&ModelCache>,
) -> Result<Nlu, EngineError> {
    training::check_intents(extra, |intent| {
        intent == NONE_INTENT || registry.get(intent).is_some()
    })?;
    let extra: Vec<TrainingExample> = extra.iter().map(|e| e.example.clone()).collect();
    Ok(Nlu::from_registry_cached(registry, &extra, cache)?)
}

impl QueryEngine {
    /// Wraps a started plugin host and trains the NLU on its intents.
    pub fn new(plugins: PluginHost, settings: QuerySettings) -> Result<Self, EngineError> {
        Self::with_training(plugins, settings, &[])
    }

    /// As [`QueryEngine::new`], also training on deployment utterances
    /// (see [`load_training`]); an utterance for an unregistered intent
    /// is an error naming its file and line.
    pub fn with_training(
        plugins: PluginHost,
        settings: QuerySettings,
        training: &[SourcedExample],
    ) -> Result<Self, EngineError> {
        Self::with_training_cached(plugins, settings, training, None)
    }

    /// As [`QueryEngine::with_training`], with the trained NLU model from
    /// `cache` when the same training was done before (see
    /// [`crate::nlu::model_cache`]).
    pub fn with_training_cached(
        plugins: PluginHost,
        settings: QuerySettings,
        training: &[SourcedExample],
        cache: Option<&ModelCache>,
    ) -> Result<Self, EngineError> {
        let nlu = train(plugins.set().registry(), training, cache)?;
        Ok(Self {
            plugins,
            nlu: ArcSwap::from_pointee(nlu),
            reloading: tokio::sync::Mutex::new(()),
            settings,
            ai: None,
        })
    }

    /// Lets queries be interpreted by external AI services.
    pub fn with_ai(mut self, ai: Arc<AiServices>) -> Self {
        self.ai = Some(ai);
        self
    }

    /// The external AI services, if set up.
    pub fn ai(&self) -> Option<&Arc<AiServices>> {
        self.ai.as_ref()
    }

    /// Answers `text` with the interpreter `selection` picks: an AI
    /// service when one applies (the embedded NLU answers if it fails,
    /// and the outcome says why), else the embedded NLU. Without AI
    /// services this is [`QueryEngine::answer`].
    pub async fn answer_with(
        &self,
        ctx: &CallContext,
        text: &str,
        history: &[String],
        permissions: Option<&[String]>,
        selection: Selection<'_>,
    ) -> Result<QueryOutcome, SelectError> {
        let Some(ai) = &self.ai else {
            return match selection {
                Selection::Named(name) if name != "embedded" => {
                    Err(SelectError::Unknown(name.to_owned()))
                }
                _ => Ok(self.answer(ctx, text, history, permissions).await),
            };
        };
        let Some(service) = ai.resolve(ctx.tenant, selection).await? else {
            return Ok(self.answer(ctx, text, history, permissions).await);
        };
        let nlu = self.nlu();
        let set = self.plugins.set();
        let started = std::time::Instant::now();
        match ai
            .interpret(&service, ctx, text, history, &nlu, set.registry())
            .await
        {
            Ok(interpretation) => {
                let interpreter = format!("{}:{}", service.backend.as_str(), service.name);
                metrics::histogram!("switchboard_interpretation_duration_seconds", "interpreter" => interpreter.clone())
                    .record(started.elapsed().as_secs_f64());
                Ok(self
                    .answer_interpreted(ctx, text, interpretation, &interpreter, permissions)
                    .await)
            }
            Err(fallback) => {
                let mut outcome = self.answer(ctx, text, history, permissions).await;
                outcome.fallback_reason = Some(fallback.to_string());
                Ok(outcome)
            }
        }
    }

    /// The plugin host.
    pub fn plugins(&self) -> &PluginHost {
        &self.plugins
    }

    /// The current NLU.
    pub fn nlu(&self) -> Arc<Nlu> {
        self.nlu.load_full()
    }

    /// Reloads plugins from `config` and retrains the NLU (or loads the
    /// model from `config`'s cache folder, when the same training was done
    /// before); on any error the running plugins and NLU stay as they were.
    pub async fn reload(&self, config: &Config) -> Result<usize, EngineError> {
        let _one_at_a_time = self.reloading.lock().await;
        // Load the new set and train on it before anything is swapped in.
        let set = self.plugins.reload_prepare(config).await?;
        let nlu = tokio::task::spawn_blocking({
            let set = set.clone();
            let config = config.clone();
            move || {
                let cache = ModelCache::new(config.cache_dir());
                train(set.registry(), &load_training(&config)?, Some(&cache))
            }
        })
        .await
        .map_err(|e| EngineError::Load(LoadError::Host(e.to_string())))??;
        let n = set.plugins().count();
        self.plugins.swap(set);
        self.nlu.store(Arc::new(nlu));
        Ok(n)
    }

    /// Answers `text` for `ctx`. `permissions`, when given, are checked
    /// against the intent's.
    pub async fn answer(
        &self,
        ctx: &CallContext,
        text: &str,
        history: &[String],
        permissions: Option<&[String]>,
    ) -> QueryOutcome {
        let nlu = self.nlu();
        let started = std::time::Instant::now();
        // Tens of microseconds: cheaper inline than a hop to the blocking
        // pool and back.
        let interpretation = nlu.interpret(text, history);
        metrics::histogram!("switchboard_interpretation_duration_seconds", "interpreter" => "embedded")
            .record(started.elapsed().as_secs_f64());
        self.answer_interpreted(ctx, text, interpretation, "embedded", permissions)
            .await
    }

    /// Answers an interpretation already made (by any interpreter).
    pub async fn answer_interpreted(
        &self,
        ctx: &CallContext,
        text: &str,
        interpretation: Interpretation,
        interpreter: &str,
        permissions: Option<&[String]>,
    ) -> QueryOutcome {
        let set = self.plugins.set();
        let registry = set.registry();
        let mut outcome = QueryOutcome {
            intent: interpretation.intent.clone(),
            confidence: interpretation.confidence,
            entities: interpretation.entities.clone(),
            response_text: String::new(),
            structured_data: json!({}),
            suggested_actions: Vec::new(),
            proposal: None,
            interpreter: interpreter.to_owned(),
            fallback_reason: None,
            plugin: None,
            status: Status::Answered,
        };
        let Some(intent) = registry.get(&interpretation.intent) else {
            outcome.intent = NONE_INTENT.to_owned();
            outcome.status = Status::OutOfScope;
            outcome.response_text = "Sorry, I can't help with that. I can answer questions about \
                billing (invoices, balances, payments, revenue), customers (profiles, plans, tickets) \
                and the network (outages, connections, usage, devices)."
                .to_owned();
            outcome.structured_data = json!({
                "capabilities": registry.iter().map(|i| json!({ "intent": i.spec.name, "description": i.spec.description })).collect::<Vec<_>>(),
            });
            outcome.suggested_actions = [
                "billing.overdue_invoices",
                "monitoring.outages",
                "crm.open_tickets",
            ]
            .iter()
            .filter_map(|name| registry.get(name))
            .map(|i| SuggestedAction {
                action: i.spec.name.clone(),
                parameters: json!({}),
                description: i.spec.description.clone(),
            })
            .collect();
            return outcome;
        };
        if interpretation.confidence < self.settings.not_sure_below {
            let mut candidates: Vec<(String, f32)> =
                vec![(interpretation.intent.clone(), interpretation.confidence)];
            candidates.extend(interpretation.alternatives.iter().cloned());
            candidates.truncate(3);
            let described: Vec<String> = candidates
                .iter()
                .filter_map(|(name, _)| {
                    registry
                        .get(name)
                        .map(|i| i.spec.description.to_lowercase())
                })
                .collect();
            outcome.status = Status::NotSure;
            outcome.response_text = format!(
                "I'm not sure what you mean. Did you want to: {}?",
                described.join(", or ")
            );
            outcome.structured_data = json!({
                "candidates": candidates.iter().map(|(i, c)| json!({ "intent": i, "confidence": c })).collect::<Vec<_>>(),
            });
            outcome.suggested_actions = candidates
                .iter()
                .filter_map(|(name, _)| registry.get(name))
                .map(|i| SuggestedAction {
                    action: i.spec.name.clone(),
                    parameters: json!(interpretation.entities),
                    description: i.spec.description.clone(),
                })
                .collect();
            return outcome;
        }
        if let Some(perms) = permissions
            && !perms.iter().any(|p| p == intent.permission())
        {
            outcome.status = Status::Forbidden {
                permission: intent.permission().to_owned(),
            };
            outcome.response_text = format!(
                "You need the `{}` permission for that.",
                intent.permission()
            );
            return outcome;
        }
        let present: Vec<&str> = interpretation.entities.keys().map(String::as_str).collect();
        let missing: Vec<Vec<String>> = intent
            .missing_entities(&present)
            .into_iter()
            .map(<[String]>::to_vec)
            .collect();
        if !missing.is_empty() {
            let wants: Vec<String> = missing.iter().map(|g| describe_group(g)).collect();
            outcome.response_text = format!(
                "To {} I need {}.",
                intent.spec.description.to_lowercase(),
                wants.join(" and ")
            );
            outcome.structured_data = json!({ "error": "missing_entity", "missing": missing });
            outcome.status = Status::MissingEntities { missing };
            return outcome;
        }
        outcome.plugin = Some(intent.plugin.clone());
        let request = PluginRequest {
            intent: interpretation.intent.clone(),
            entities: interpretation.entities.into_iter().collect(),
            text: text.to_owned(),
        };
        match self.plugins.handle(ctx, request).await {
            Ok(answer) => {
                outcome.response_text = answer.response_text;
                outcome.structured_data = answer.structured_data;
                outcome.suggested_actions = answer.suggested_actions;
                outcome.proposal = answer.proposal;
            }
            Err(DispatchError::Reported { message, kind, .. }) => {
                outcome.status = Status::PluginMessage;
                outcome.structured_data = json!({ "error": kind });
                outcome.response_text = message;
            }
            Err(DispatchError::Failed {
                plugin,
                code,
                message,
            }) => {
                outcome.response_text = format!(
                    "Sorry, that failed: {}",
                    crate::ai::mask::for_logs(&message)
                );
                outcome.structured_data = json!({ "error": code });
                outcome.status = Status::PluginFailed { plugin, code };
            }
            Err(DispatchError::UnknownIntent(name)) => {
                outcome.status = Status::OutOfScope;
                outcome.response_text = format!("No plugin handles `{name}` any more.");
            }
        }
        outcome
    }
}

fn entity_phrase(name: &str) -> &str {
    match name {
        "customer" => "a customer account code (like ABC123)",
        "customer_name" => "a customer name",
        "invoice" => "an invoice number (like INV-2025-001)",
        "device" => "a device name (like OLT-NORTH-01)",
        "email" => "an email address",
        "phone" => "a phone number",
        other => other,
    }
}

fn describe_group(group: &[String]) -> String {
    let parts: Vec<&str> = group.iter().map(|g| entity_phrase(g)).collect();
    parts.join(" or ")
}
