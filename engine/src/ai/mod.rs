//! External AI services: interpretation handed to a service instead of the
//! embedded NLU, safely.
//!
//! - Backends: [`http`] (the generic schema) and [`openai`] (any
//!   OpenAI-compatible `/v1/chat/completions` server, intents as tools).
//! - Which service: the one a request names, else the tenant's default
//!   configuration (config API), else `[ai] service_url`; none means the
//!   embedded NLU, at no extra cost.
//! - Before anything leaves: PII is masked ([`mask`]); the request is
//!   signed ([`signing`]).
//! - On the way: a timeout per attempt, retries with backoff ([`retry`],
//!   [`client`]), a circuit breaker per service.
//! - On the way back: the reply is checked against the registry and
//!   canonicalised ([`reply`]); placeholders are mapped back.
//! - Interpretations (never answers) are cached per tenant ([`cache`]).
//!
//! Any failure is a fallback: the embedded NLU answers, and the outcome
//! says why.

pub mod cache;
pub mod client;
pub mod http;
pub mod mask;
pub mod openai;
pub mod reply;
pub mod retry;
pub mod signing;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use chrono::{DateTime, Utc};
use serde_json::Value as Json;

use crate::TenantId;
use crate::config::AiConfig;
use crate::nlu::{Interpretation, Nlu};
use crate::plugins::{Breaker, CallContext};
use crate::registry::IntentRegistry;
use crate::secrets::Sealer;
use crate::store::configs::{self, ServiceRow};
use crate::store::{Db, StoreError};
use cache::Cache;
use client::{CallError, CallSettings};
use mask::Masker;
use retry::Backoff;

/// How long a tenant's configurations are used before they are read again
/// (a write through this process's config API refreshes them at once).
pub const TENANT_REFRESH: Duration = Duration::from_secs(30);

/// The name of the service configured in `[ai]` / `CHATBOT_AI_SERVICE_URL`.
pub const GLOBAL_SERVICE: &str = "global";

/// How a service is spoken to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// The generic schema, see [`http`].
    Http,
    /// OpenAI-compatible chat completions with tools, see [`openai`].
    OpenAi,
}

impl Backend {
    /// `http` or `openai`.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "http" => Some(Self::Http),
            "openai" => Some(Self::OpenAi),
            _ => None,
        }
    }

    /// Its name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Http => "http",
            Self::OpenAi => "openai",
        }
    }
}

/// An API key of a service; the previous one of a rotation carries the
/// end of its grace period.
#[derive(Clone)]
pub struct ServiceKey {
    /// The key itself.
    pub secret: String,
    /// When it stops being used (`None`: the current key).
    pub valid_until: Option<DateTime<Utc>>,
}

impl std::fmt::Debug for ServiceKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServiceKey")
            .field("id", &signing::key_id(&self.secret))
            .field("valid_until", &self.valid_until)
            .finish()
    }
}

/// A service ready to be called.
#[derive(Debug, Clone)]
pub struct Service {
    /// Its breaker's and cache's key: the configuration id, or `global`.
    pub id: String,
    /// Its name (metrics, responses).
    pub name: String,
    /// Where it lives.
    pub url: reqwest::Url,
    /// How it is spoken to.
    pub backend: Backend,
    /// The model named in OpenAI-compatible requests.
    pub model: String,
    /// The current key first, then the previous one during a grace period.
    pub keys: Vec<ServiceKey>,
    /// Per attempt.
    pub timeout: Duration,
    /// Retries after the first attempt.
    pub max_retries: u32,
    /// Changes when the configuration does (part of the cache key).
    pub version: String,
}

/// What the service is told about the query (all of it masked).
#[derive(Debug, Clone, Copy)]
pub struct Prompt<'a> {
    /// The masked text.
    pub text: &'a str,
    /// The masked earlier queries, oldest first.
    pub history: &'a [String],
    /// The caller.
    pub user_id: &'a str,
    /// The caller's tenant.
    pub tenant: i64,
}

/// Which interpreter a request asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Selection<'a> {
    /// The tenant's default service, or the global one, or the embedded NLU.
    Default,
    /// A configuration by name (`embedded` for the embedded NLU).
    Named(&'a str),
}

/// A request named a service that does not exist.
#[derive(Debug, thiserror::Error)]
pub enum SelectError {
    /// No configuration of that name in the tenant.
    #[error("no AI service named `{0}`")]
    Unknown(String),
    /// The configurations could not be read.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Why the embedded NLU answered instead of the service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fallback {
    /// A short code: `circuit_open`, `timeout`, `connect`, `server_error`,
    /// `rate_limited`, `client_error`, `too_large`, `invalid_reply`.
    pub reason: &'static str,
    /// Details (PII masked when `ai.mask_pii_in_logs` is on).
    pub detail: String,
}

impl std::fmt::Display for Fallback {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.reason, self.detail)
    }
}

/// Releases a breaker's trial if the call it guards never finished.
struct TrialGuard<'a> {
    breaker: &'a Breaker,
    settled: bool,
}

impl Drop for TrialGuard<'_> {
    fn drop(&mut self) {
        if !self.settled {
            self.breaker.release_trial();
        }
    }
}

#[derive(Debug, Default)]
struct TenantEntry {
    loaded: Option<Instant>,
    default: Option<Arc<Service>>,
    by_name: HashMap<String, Arc<Service>>,
}

/// The services of every tenant, their breakers, the HTTP client, the
/// cache and the masker.
pub struct AiServices {
    db: Option<Db>,
    sealer: Sealer,
    config: AiConfig,
    global: Option<Arc<Service>>,
    tenants: ArcSwap<HashMap<TenantId, Arc<TenantEntry>>>,
    breakers: Mutex<HashMap<String, Arc<Breaker>>>,
    http: reqwest::Client,
    cache: Cache,
    masker: Masker,
}

impl std::fmt::Debug for AiServices {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AiServices")
            .field("global", &self.global.as_ref().map(|s| &s.name))
            .field("cache", &self.cache)
            .finish_non_exhaustive()
    }
}

/// The AI services could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum AiSetupError {
    /// The HTTP client could not be built.
    #[error("HTTP client: {0}")]
    Client(String),
    /// The cache could not be set up.
    #[error(transparent)]
    Cache(#[from] cache::CacheError),
    /// `[ai] service_url` is not a URL.
    #[error("ai.service_url is not a URL")]
    Url,
}

impl AiServices {
    /// Services from `config` (`[ai]`), with tenants' configurations read
    /// from `db` and their keys opened with `sealer`.
    pub fn new(config: &AiConfig, db: Option<Db>, sealer: Sealer) -> Result<Self, AiSetupError> {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(config.timeout_secs.clamp(1, 10)))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| AiSetupError::Client(e.to_string()))?;
        let global = match &config.service_url {
            Some(url) => Some(Arc::new(Service {
                id: GLOBAL_SERVICE.to_owned(),
                name: GLOBAL_SERVICE.to_owned(),
                url: reqwest::Url::parse(url).map_err(|_| AiSetupError::Url)?,
                backend: Backend::parse(&config.backend).unwrap_or(Backend::Http),
                model: config.model.clone(),
                keys: config
                    .api_key
                    .iter()
                    .map(|k| ServiceKey {
                        secret: k.clone(),
                        valid_until: None,
                    })
                    .collect(),
                timeout: Duration::from_secs(config.timeout_secs),
                max_retries: config.max_retries,
                version: String::new(),
            })),
            None => None,
        };
        let cache = Cache::new(
            config.cache.enabled,
            Duration::from_secs(config.cache.ttl_secs),
            config.cache.max_entries,
            config.cache.redis_url.as_deref(),
        )?;
        Ok(Self {
            db,
            sealer,
            masker: Masker::new(&config.pii_patterns),
            config: config.clone(),
            global,
            tenants: ArcSwap::from_pointee(HashMap::new()),
            breakers: Mutex::new(HashMap::new()),
            http,
            cache,
        })
    }

    /// The masker (for log lines and error messages).
    pub fn masker(&self) -> &Masker {
        &self.masker
    }

    /// `text` as it may be logged or put in an error message: masked
    /// unless `ai.mask_pii_in_logs` is off.
    pub fn loggable(&self, text: &str) -> String {
        if self.config.mask_pii_in_logs {
            self.masker.redact(text)
        } else {
            text.to_owned()
        }
    }

    /// Forgets what was read of `tenant`'s configurations (after a write).
    pub fn invalidate(&self, tenant: TenantId) {
        self.tenants.rcu(|map| {
            let mut map = HashMap::clone(map);
            map.remove(&tenant);
            map
        });
    }

    fn service_from_row(&self, row: &ServiceRow) -> Option<Service> {
        let params: Json = serde_json::from_str(&row.row.parameters).unwrap_or(Json::Null);
        if params.get("enabled").and_then(Json::as_bool) == Some(false) {
            return None;
        }
        let url = reqwest::Url::parse(&row.row.service_url).ok()?;
        let backend = params
            .get("backend")
            .and_then(Json::as_str)
            .and_then(Backend::parse)
            .unwrap_or(Backend::Http);
        let mut keys = Vec::new();
        if let Some(sealed) = &row.sealed_key {
            match self.sealer.open(sealed) {
                Ok(secret) => keys.push(ServiceKey {
                    secret,
                    valid_until: None,
                }),
                Err(_) => tracing::warn!(
                    config = %row.row.config_id,
                    "an AI service key cannot be opened with this master key"
                ),
            }
        }
        for (sealed, until) in &row.previous_keys {
            if let (Ok(secret), Ok(until)) = (
                self.sealer.open(sealed),
                DateTime::parse_from_rfc3339(until),
            ) {
                keys.push(ServiceKey {
                    secret,
                    valid_until: Some(until.with_timezone(&Utc)),
                });
            }
        }
        Some(Service {
            id: row.row.config_id.clone(),
            name: row.row.name.clone(),
            url,
            backend,
            model: params
                .get("model")
                .and_then(Json::as_str)
                .unwrap_or(&self.config.model)
                .to_owned(),
            keys,
            timeout: Duration::from_secs(
                params
                    .get("timeout_secs")
                    .and_then(Json::as_u64)
                    .unwrap_or(self.config.timeout_secs)
                    .clamp(1, 300),
            ),
            max_retries: params
                .get("max_retries")
                .and_then(Json::as_u64)
                .map_or(self.config.max_retries, |n| n.min(10) as u32),
            version: row.row.updated_at.clone(),
        })
    }

    async fn tenant(&self, tenant: TenantId) -> Result<Arc<TenantEntry>, StoreError> {
        if let Some(entry) = self.tenants.load().get(&tenant)
            && entry.loaded.is_some_and(|t| t.elapsed() < TENANT_REFRESH)
        {
            return Ok(entry.clone());
        }
        let mut entry = TenantEntry {
            loaded: Some(Instant::now()),
            ..TenantEntry::default()
        };
        if let Some(db) = &self.db {
            for row in configs::services(db, tenant).await? {
                let Some(service) = self.service_from_row(&row) else {
                    continue;
                };
                let service = Arc::new(service);
                if row.row.is_default {
                    entry.default = Some(service.clone());
                }
                entry.by_name.insert(row.row.name.clone(), service);
            }
        }
        let entry = Arc::new(entry);
        self.tenants.rcu(|map| {
            let mut map = HashMap::clone(map);
            map.insert(tenant, entry.clone());
            map
        });
        Ok(entry)
    }

    /// The service that interprets a query of `tenant`, if any.
    pub async fn resolve(
        &self,
        tenant: TenantId,
        selection: Selection<'_>,
    ) -> Result<Option<Arc<Service>>, SelectError> {
        match selection {
            Selection::Named("embedded") => Ok(None),
            Selection::Named(name) => {
                let entry = self.tenant(tenant).await?;
                if let Some(s) = entry.by_name.get(name) {
                    return Ok(Some(s.clone()));
                }
                match &self.global {
                    Some(g) if name == GLOBAL_SERVICE => Ok(Some(g.clone())),
                    _ => Err(SelectError::Unknown(name.to_owned())),
                }
            }
            Selection::Default => {
                let entry = self.tenant(tenant).await?;
                Ok(entry.default.clone().or_else(|| self.global.clone()))
            }
        }
    }

    fn breaker(&self, service: &Service) -> Arc<Breaker> {
        let mut breakers = self.breakers.lock().unwrap_or_else(|p| p.into_inner());
        breakers
            .entry(service.id.clone())
            .or_insert_with(|| {
                Arc::new(Breaker::new(
                    self.config.breaker.failure_threshold,
                    Duration::from_secs(self.config.breaker.cooldown_secs),
                ))
            })
            .clone()
    }

    fn settings(&self) -> CallSettings {
        CallSettings {
            sign: self.config.sign_requests,
            max_response_bytes: usize::try_from(self.config.max_response_bytes)
                .unwrap_or(usize::MAX),
            backoff: Backoff {
                base: Duration::from_millis(self.config.retry_base_ms),
                cap: client::DEFAULT_BACKOFF_CAP,
            },
        }
    }

    /// Interprets `text` (with the conversation's `history`) with
    /// `service`; any failure is a [`Fallback`].
    pub async fn interpret(
        &self,
        service: &Service,
        ctx: &CallContext,
        text: &str,
        history: &[String],
        nlu: &Nlu,
        registry: &IntentRegistry,
    ) -> Result<Interpretation, Fallback> {
        let mut all: Vec<&str> = Vec::with_capacity(history.len() + 1);
        all.push(text);
        all.extend(history.iter().map(String::as_str));
        let (mut masked_texts, masked) = self.masker.mask_all(&all);
        let masked_text = masked_texts.remove(0);
        let masked_history = masked_texts;
        let key = cache::key(
            ctx.tenant,
            &format!("{}@{}", service.id, service.version),
            &masked_text,
            &masked_history,
        );
        if self.cache.enabled()
            && let Some(hit) = self.cache.get(&key).await
        {
            return Ok(reply::interpretation(&hit, &masked, nlu));
        }
        let breaker = self.breaker(service);
        if !breaker.allow() {
            metrics::counter!("switchboard_ai_fallbacks_total", "service" => service.name.clone(), "reason" => "circuit_open").increment(1);
            return Err(Fallback {
                reason: "circuit_open",
                detail: format!("the circuit breaker of `{}` is open", service.name),
            });
        }
        let prompt = Prompt {
            text: &masked_text,
            history: &masked_history,
            user_id: &ctx.user_id,
            tenant: ctx.tenant.get(),
        };
        // A query abandoned mid-call (the client went away) must not leave
        // a half-open breaker waiting for a trial that never ends.
        let mut guard = TrialGuard {
            breaker: &breaker,
            settled: false,
        };
        let result = self.call(service, &prompt, registry).await;
        guard.settled = true;
        match result {
            Ok(checked) => {
                breaker.record_success();
                metrics::gauge!("switchboard_ai_breaker_open", "service" => service.name.clone())
                    .set(0.0);
                metrics::counter!("switchboard_ai_requests_total", "service" => service.name.clone(), "outcome" => "ok").increment(1);
                if self.cache.enabled() {
                    self.cache.put(key, &checked).await;
                }
                Ok(reply::interpretation(&checked, &masked, nlu))
            }
            Err(error) => {
                if breaker.record_failure() {
                    metrics::gauge!("switchboard_ai_breaker_open", "service" => service.name.clone()).set(1.0);
                }
                let reason = error.kind();
                let detail = self.loggable(&error.to_string());
                metrics::counter!("switchboard_ai_requests_total", "service" => service.name.clone(), "outcome" => "error").increment(1);
                metrics::counter!("switchboard_ai_errors_total", "service" => service.name.clone(), "kind" => reason).increment(1);
                metrics::counter!("switchboard_ai_fallbacks_total", "service" => service.name.clone(), "reason" => reason).increment(1);
                tracing::warn!(service = %service.name, reason, %detail, "AI service failed; the embedded NLU answers");
                Err(Fallback { reason, detail })
            }
        }
    }

    async fn call(
        &self,
        service: &Service,
        prompt: &Prompt<'_>,
        registry: &IntentRegistry,
    ) -> Result<reply::CheckedReply, CallError> {
        let settings = self.settings();
        match service.backend {
            Backend::Http => {
                let body = http::request_body(prompt);
                let reply =
                    client::post_json(&self.http, service, &service.url, &body, settings).await?;
                http::parse(&reply, registry).map_err(CallError::Invalid)
            }
            Backend::OpenAi => {
                let (tools, names) = openai::tools(registry);
                let body = openai::request_body(&service.model, prompt, tools);
                let url = openai::endpoint(&service.url);
                let reply = client::post_json(&self.http, service, &url, &body, settings).await?;
                openai::parse(&reply, registry, &names).map_err(CallError::Invalid)
            }
        }
    }
}
