//! External AI services: interpretation handed to a service instead of the
//! embedded NLU, safely.
//!
//! - Backends: [`http`] (the generic schema) and [`openai`] (any
//!   OpenAI-compatible `/v1/chat/completions` server, intents as tools).
//! - Which service: the one a request names, else the tenant's default
//!   configuration (config API), else `[ai] service_url`; none means the
//!   embedded NLU, at no extra cost.
//! - Before anything leaves: the service URL of a tenant's configuration
//!   is checked (no credentials, no link-local/metadata address, no
//!   loopback or private address unless `ai.allowed_hosts` lists the
//!   host); PII is masked ([`mask`]); the user is named by a pseudonym
//!   ([`AiServices::pseudonym`]); the request is signed ([`signing`]).
//! - On the way: a timeout per attempt, retries with backoff ([`retry`],
//!   [`client`]), a circuit breaker per service.
//! - On the way back: the reply is checked against the registry and
//!   canonicalised ([`reply`]); placeholders are mapped back.
//! - Interpretations (never answers) are cached per tenant ([`cache`]),
//!   keyed on the registry too, and checked against the registry again
//!   when read.
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
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use serde_json::Value as Json;
use sha2::{Digest, Sha256};

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
    /// A dedicated request-signing key (`ai.signing_secret` for the
    /// global service); `None`: the API key signs.
    pub signing_secret: Option<String>,
    /// Chosen by the operator (`[ai] service_url`): its URL is not checked
    /// against `ai.allowed_hosts`. A tenant's configuration never is.
    pub trusted: bool,
}

/// What the service is told about the query (all of it masked).
#[derive(Debug, Clone, Copy)]
pub struct Prompt<'a> {
    /// The masked text.
    pub text: &'a str,
    /// The masked earlier queries, oldest first.
    pub history: &'a [String],
    /// The caller, as a pseudonym (see [`AiServices::pseudonym`]).
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
    /// `rate_limited`, `client_error`, `too_large`, `invalid_reply`,
    /// `service_url_not_allowed`.
    pub reason: &'static str,
    /// The HTTP status of the service's error reply, if that was it.
    pub status: Option<u16>,
    /// Details for the log only (PII masked when `ai.mask_pii_in_logs` is
    /// on, credential-like strings redacted): they may quote the
    /// service's reply, so they are never shown to API callers.
    pub detail: String,
}

/// What API callers see: the reason code and at most the HTTP status,
/// never the service's words.
impl std::fmt::Display for Fallback {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.status {
            Some(status) => write!(f, "{} (HTTP {status})", self.reason),
            None => f.write_str(self.reason),
        }
    }
}

/// The label of the key that names users to services (HMAC-SHA256 key:
/// SHA-256 of this label and the master key).
const PSEUDONYM_LABEL: &str = "switchboard-ai-user-pseudonym:";

/// The master key the sealer uses when `CHATBOT_MASTER_KEY` is unset (the
/// same development fallback as [`Sealer::from_env`]).
const DEV_MASTER_KEY: &str = "switchboard-development-master-key";

/// A fingerprint of what the registry accepts: every intent name with the
/// entities it takes. Part of the cache key, so a reload that changes an
/// intent's entities never serves an interpretation made before it.
pub fn registry_fingerprint(registry: &IntentRegistry) -> String {
    let mut h = Sha256::new();
    for intent in registry.iter() {
        h.update(intent.spec.name.as_bytes());
        for entity in intent.entities() {
            h.update([1]);
            h.update(entity.as_bytes());
        }
        h.update([0]);
    }
    hex::encode(&h.finalize()[..16])
}

/// `reply` checked against `registry` exactly as a fresh reply is; `None`
/// when it would not pass unchanged (an unknown intent, an entity the
/// intent does not take...): a cache entry, possibly written by another
/// process (Redis holds no integrity), is never trusted as it is.
fn recheck(reply: &reply::CheckedReply, registry: &IntentRegistry) -> Option<reply::CheckedReply> {
    let entities: serde_json::Map<String, Json> = reply
        .entities
        .iter()
        .map(|(k, v)| (k.clone(), Json::String(v.clone())))
        .collect();
    let confidence = Json::from(f64::from(reply.confidence));
    let checked = reply::check(
        registry,
        &Json::String(reply.intent.clone()),
        &Json::Object(entities),
        Some(&confidence),
        0.0,
    )
    .ok()?;
    (checked == *reply).then_some(checked)
}

/// Whether `ip` is link-local (169.254.0.0/16, fe80::/10: cloud metadata
/// lives there), refused whatever `ai.allowed_hosts` says.
fn is_link_local(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_link_local(),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.is_link_local(),
            None => (v6.segments()[0] & 0xffc0) == 0xfe80,
        },
    }
}

/// Whether `ip` is loopback, private, shared (CGNAT), unspecified or
/// otherwise not on the public internet: allowed only for listed hosts.
fn is_internal(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            v4.is_loopback()
                || v4.is_private()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || a == 0
                || (a == 100 && (64..=127).contains(&b))
        }
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => is_internal(IpAddr::V4(v4)),
            None => {
                v6.is_loopback()
                    || v6.is_unspecified()
                    // fc00::/7, unique local
                    || (v6.segments()[0] & 0xfe00) == 0xfc00
            }
        },
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
    pseudonym_key: [u8; 32],
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
                signing_secret: config.signing_secret.clone(),
                trusted: true,
            })),
            None => None,
        };
        let cache = Cache::new(
            config.cache.enabled,
            Duration::from_secs(config.cache.ttl_secs),
            config.cache.max_entries,
            config.cache.redis_url.as_deref(),
        )?;
        // The sealer does not expose its key, so the master key is read
        // from where `Sealer::from_env` reads it, with the same fallback.
        let master = std::env::var("CHATBOT_MASTER_KEY")
            .ok()
            .filter(|k| !k.is_empty())
            .unwrap_or_else(|| DEV_MASTER_KEY.to_owned());
        let pseudonym_key: [u8; 32] =
            Sha256::digest(format!("{PSEUDONYM_LABEL}{master}").as_bytes()).into();
        Ok(Self {
            db,
            sealer,
            pseudonym_key,
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
            // The config API has no signing secret (and refuses secrets in
            // `parameters`): these services are signed with their API key.
            signing_secret: None,
            trusted: false,
        })
    }

    /// How the user is named to a service: the hex HMAC-SHA256 of
    /// `tenant|user_id` under a key derived from the master key
    /// (`CHATBOT_MASTER_KEY`). Stable for a user (across replicas and
    /// restarts with the same master key), meaningless to the service.
    pub fn pseudonym(&self, tenant: TenantId, user_id: &str) -> String {
        let mut m = <Hmac<Sha256> as Mac>::new_from_slice(&self.pseudonym_key)
            .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
        m.update(format!("{}|{user_id}", tenant.get()).as_bytes());
        hex::encode(m.finalize().into_bytes())
    }

    /// Whether `service`'s URL may be called: the operator's service
    /// always; a tenant's configuration only without credentials in the
    /// URL, never at a link-local (metadata) address, and at a loopback or
    /// private address only when `ai.allowed_hosts` lists its host. Every
    /// address the host resolves to is checked; the connection resolves it
    /// again (a DNS-rebinding gap this check does not close).
    pub async fn url_allowed(&self, service: &Service) -> Result<(), String> {
        if service.trusted {
            return Ok(());
        }
        let url = &service.url;
        if !url.username().is_empty() || url.password().is_some() {
            return Err("the service URL carries credentials".to_owned());
        }
        let host = url.host_str().ok_or("the service URL has no host")?;
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        let listed = self
            .config
            .allowed_hosts
            .iter()
            .map(|h| h.trim().trim_start_matches('[').trim_end_matches(']'))
            .any(|h| h.eq_ignore_ascii_case(bare));
        let ips: Vec<IpAddr> = match bare.parse::<IpAddr>() {
            Ok(ip) => vec![ip],
            Err(_) => {
                let port = url.port_or_known_default().unwrap_or(80);
                tokio::net::lookup_host((bare, port))
                    .await
                    .map_err(|_| "the service host does not resolve".to_owned())?
                    .map(|a| a.ip())
                    .collect()
            }
        };
        if ips.is_empty() {
            return Err("the service host does not resolve".to_owned());
        }
        for ip in ips {
            if is_link_local(ip) {
                return Err(format!("{ip} is a link-local address"));
            }
            if is_internal(ip) && !listed {
                return Err(format!(
                    "{ip} is internal and the host is not in ai.allowed_hosts"
                ));
            }
        }
        Ok(())
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

    /// `text` and its `history` masked together, and the mapping.
    fn mask_query(&self, text: &str, history: &[String]) -> (String, Vec<String>, mask::Masked) {
        let mut all: Vec<&str> = Vec::with_capacity(history.len() + 1);
        all.push(text);
        all.extend(history.iter().map(String::as_str));
        let (mut masked_texts, masked) = self.masker.mask_all(&all);
        let masked_text = masked_texts.remove(0);
        (masked_text, masked_texts, masked)
    }

    /// The cache key of a masked query to `service` under `registry`.
    fn cache_key(
        &self,
        service: &Service,
        tenant: TenantId,
        masked_text: &str,
        masked_history: &[String],
        registry: &IntentRegistry,
    ) -> String {
        cache::key(
            tenant,
            &format!(
                "{}@{}#{}",
                service.id,
                service.version,
                registry_fingerprint(registry)
            ),
            masked_text,
            masked_history,
        )
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
        let (masked_text, masked_history, masked) = self.mask_query(text, history);
        let key = self.cache_key(service, ctx.tenant, &masked_text, &masked_history, registry);
        if self.cache.enabled()
            && let Some(hit) = self.cache.get(&key).await
        {
            // A failing entry is a miss; the fresh reply overwrites it.
            match recheck(&hit, registry) {
                Some(checked) => return Ok(reply::interpretation(&checked, &masked, nlu)),
                None => {
                    metrics::counter!("switchboard_ai_cache_rejected_total", "service" => service.name.clone())
                        .increment(1);
                    tracing::warn!(service = %service.name, "a cached interpretation fails the registry check; ignored");
                }
            }
        }
        if let Err(why) = self.url_allowed(service).await {
            let reason = "service_url_not_allowed";
            metrics::counter!("switchboard_ai_fallbacks_total", "service" => service.name.clone(), "reason" => reason).increment(1);
            let detail = self.loggable(&why);
            tracing::warn!(service = %service.name, reason, %detail, "AI service URL refused; the embedded NLU answers");
            return Err(Fallback {
                reason,
                status: None,
                detail,
            });
        }
        let breaker = self.breaker(service);
        // A query abandoned mid-call (the client went away) drops the pass,
        // which frees a half-open breaker's trial.
        let Some(pass) = breaker.admit() else {
            metrics::counter!("switchboard_ai_fallbacks_total", "service" => service.name.clone(), "reason" => "circuit_open").increment(1);
            return Err(Fallback {
                reason: "circuit_open",
                status: None,
                detail: format!("the circuit breaker of `{}` is open", service.name),
            });
        };
        let user = self.pseudonym(ctx.tenant, &ctx.user_id);
        let prompt = Prompt {
            text: &masked_text,
            history: &masked_history,
            user_id: &user,
            tenant: ctx.tenant.get(),
        };
        // One deadline across every attempt and backoff wait.
        let total = Duration::from_secs(self.config.total_timeout_secs.max(1));
        let result = tokio::time::timeout(total, self.call(service, &prompt, registry))
            .await
            .unwrap_or(Err(CallError::Timeout));
        match result {
            Ok(checked) => {
                pass.succeeded();
                metrics::gauge!("switchboard_ai_breaker_open", "service" => service.name.clone())
                    .set(0.0);
                metrics::counter!("switchboard_ai_requests_total", "service" => service.name.clone(), "outcome" => "ok").increment(1);
                if self.cache.enabled() {
                    self.cache.put(key, &checked).await;
                }
                Ok(reply::interpretation(&checked, &masked, nlu))
            }
            Err(error) => {
                // Only an unhealthy service counts: a 4xx or a bad reply
                // says nothing about whether it is up.
                if error.counts_for_breaker() {
                    if pass.failed() {
                        metrics::gauge!("switchboard_ai_breaker_open", "service" => service.name.clone()).set(1.0);
                    }
                } else {
                    pass.inconclusive();
                }
                let reason = error.kind();
                let status = error.status();
                let detail = mask::redact_secrets(&self.loggable(&error.to_string()));
                metrics::counter!("switchboard_ai_requests_total", "service" => service.name.clone(), "outcome" => "error").increment(1);
                metrics::counter!("switchboard_ai_errors_total", "service" => service.name.clone(), "kind" => reason).increment(1);
                metrics::counter!("switchboard_ai_fallbacks_total", "service" => service.name.clone(), "reason" => reason).increment(1);
                tracing::warn!(service = %service.name, reason, %detail, "AI service failed; the embedded NLU answers");
                Err(Fallback {
                    reason,
                    status,
                    detail,
                })
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugins::types::{IntentKind, IntentSpec};
    use std::collections::BTreeMap;

    fn registry(optional: &[&str]) -> IntentRegistry {
        let mut r = IntentRegistry::new();
        r.register(
            "billing",
            IntentSpec {
                name: "billing.balance".into(),
                description: String::new(),
                examples: vec!["what does ABC123 owe".into(), "balance of KLM204".into()],
                required_entities: vec![vec!["customer".into()]],
                optional_entities: optional.iter().map(|e| (*e).to_owned()).collect(),
                permission: "billing_read".into(),
                kind: IntentKind::Read,
                queries: vec![],
            },
        )
        .unwrap();
        r
    }

    /// A service nobody listens on: any call to it fails with `connect`.
    fn services() -> (AiServices, Arc<Service>) {
        let mut config = AiConfig {
            service_url: Some("http://127.0.0.1:1/interpret".into()),
            max_retries: 0,
            ..AiConfig::default()
        };
        config.cache.enabled = true;
        let ai = AiServices::new(&config, None, Sealer::new("test-master")).unwrap();
        let service = ai.global.clone().unwrap();
        (ai, service)
    }

    fn reply(intent: &str, entities: &[(&str, &str)]) -> reply::CheckedReply {
        reply::CheckedReply {
            intent: intent.into(),
            confidence: 0.9,
            entities: entities
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect::<BTreeMap<_, _>>(),
        }
    }

    #[tokio::test]
    async fn a_poisoned_cache_entry_is_not_used() {
        let (ai, service) = services();
        let registry = registry(&[]);
        let nlu = Nlu::from_registry(&registry, &[]).unwrap();
        let ctx = CallContext {
            tenant: TenantId::new(1),
            user_id: "agent".into(),
        };
        let text = "what does ABC123 owe?";
        let (masked_text, masked_history, _) = ai.mask_query(text, &[]);
        let key = ai.cache_key(
            &service,
            ctx.tenant,
            &masked_text,
            &masked_history,
            &registry,
        );

        // A good entry is used (no call: the service is unreachable).
        ai.cache
            .put(
                key.clone(),
                &reply("billing.balance", &[("customer", "ABC123")]),
            )
            .await;
        let got = ai
            .interpret(&service, &ctx, text, &[], &nlu, &registry)
            .await
            .expect("the cached interpretation");
        assert_eq!(got.intent, "billing.balance");

        // An intent nobody registered, or an entity the intent does not
        // take: a miss, so the (unreachable) service is asked.
        for poisoned in [
            reply("admin.drop_tables", &[]),
            reply(
                "billing.balance",
                &[("customer", "ABC123"), ("sql", "DROP TABLE")],
            ),
            reply("billing.balance", &[("customer", "\u{0}ABC")]),
        ] {
            ai.cache.put(key.clone(), &poisoned).await;
            let got = ai
                .interpret(&service, &ctx, text, &[], &nlu, &registry)
                .await;
            assert_eq!(
                got.map_err(|f| f.reason),
                Err("connect"),
                "{poisoned:?} was used"
            );
        }
    }

    #[test]
    fn the_cache_key_changes_with_the_registry() {
        let (ai, service) = services();
        let t = TenantId::new(1);
        assert_ne!(
            ai.cache_key(&service, t, "q", &[], &registry(&[])),
            ai.cache_key(&service, t, "q", &[], &registry(&["period"])),
        );
    }

    #[test]
    fn user_pseudonyms_are_stable_per_tenant_and_hide_the_id() {
        let (ai, _) = services();
        let p = ai.pseudonym(TenantId::new(1), "john.smith@example.com");
        assert_eq!(p, ai.pseudonym(TenantId::new(1), "john.smith@example.com"));
        assert_ne!(p, ai.pseudonym(TenantId::new(2), "john.smith@example.com"));
        assert_eq!(p.len(), 64);
        assert!(!p.contains("john"));
    }

    #[test]
    fn internal_and_link_local_addresses_are_recognised() {
        for ip in ["169.254.169.254", "fe80::1", "::ffff:169.254.169.254"] {
            assert!(is_link_local(ip.parse().unwrap()), "{ip}");
        }
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "100.64.0.1",
            "0.0.0.0",
            "::1",
            "fd00::1",
            "::ffff:10.0.0.1",
        ] {
            assert!(is_internal(ip.parse().unwrap()), "{ip}");
        }
        for ip in ["8.8.8.8", "2001:4860:4860::8888"] {
            let ip: IpAddr = ip.parse().unwrap();
            assert!(!is_internal(ip) && !is_link_local(ip), "{ip}");
        }
    }

    #[test]
    fn the_fallback_shown_to_callers_has_no_detail() {
        let f = Fallback {
            reason: "client_error",
            status: Some(401),
            detail: "HTTP 401: Incorrect API key provided: sk-abc...wxyz".into(),
        };
        assert_eq!(f.to_string(), "client_error (HTTP 401)");
    }
}
