//! The admin's configuration: `switchboard.toml`, overridden by `CHATBOT_*`
//! environment variables, validated in full before anything starts.
//!
//! Every setting has a default, so the engine runs with no file at all
//! (SQLite file `switchboard.db`, the three built-in plugins). Errors name
//! the file, the key, what is wrong and what is allowed.

mod env;
mod validate;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

pub use env::{ENV_VARS, apply_env};

/// The default database: an SQLite file in the working directory.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://switchboard.db?mode=rwc";

/// A configuration that could not be read or is invalid.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("{file}: cannot read: {source}")]
    Read {
        /// The file.
        file: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file is not valid TOML or does not fit the schema (the message
    /// carries line, column and the allowed keys or types).
    #[error("{file}: {message}")]
    Parse {
        /// The file.
        file: String,
        /// The parser's message.
        message: String,
    },
    /// A value is out of range or inconsistent.
    #[error("{source_name}: `{key}`: {message}")]
    Invalid {
        /// The file or environment variable the value came from.
        source_name: String,
        /// The key, e.g. `plugin[0].limits.deadline_ms`.
        key: String,
        /// What is wrong and what is allowed.
        message: String,
    },
}

/// The whole configuration.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// The HTTP server.
    pub server: ServerConfig,
    /// The database.
    pub database: DatabaseConfig,
    /// Settings for all plugins.
    pub plugins: PluginsConfig,
    /// Token verification.
    pub auth: AuthConfig,
    /// Limits of the chatbot API.
    pub api: ApiConfig,
    /// Deployment training data for the embedded NLU.
    pub nlu: NluConfig,
    /// External AI services (`[ai]`).
    pub ai: AiConfig,
    /// One entry per plugin to load or configure (`[[plugin]]`).
    #[serde(rename = "plugin")]
    pub plugin: Vec<PluginEntry>,
    /// Where the file was read from; relative plugin paths resolve against
    /// its folder.
    #[serde(skip)]
    pub source: Option<PathBuf>,
}

/// `[nlu]`
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct NluConfig {
    /// Files of extra utterances for registered intents: `.jsonl`
    /// (`{"text", "intent"}` a line) or Rasa `.yml`/`.yaml` NLU data.
    /// Relative paths resolve against the config file's folder. Read at
    /// start-up and on every reload.
    pub training_files: Vec<PathBuf>,
}

/// `[server]`
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// Address to listen on (`CHATBOT_ADDR`).
    pub addr: SocketAddr,
    /// Seconds a graceful shutdown waits, after the last request is
    /// answered, for confirmed actions whose client hung up
    /// (`CHATBOT_SHUTDOWN_GRACE_SECS`); 0 does not wait. An action cut off
    /// is later marked `interrupted` by the stuck-action sweep.
    pub shutdown_grace_secs: u64,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            addr: SocketAddr::from(([127, 0, 0, 1], 8080)),
            shutdown_grace_secs: 30,
        }
    }
}

/// `[auth]`: how bearer tokens are verified.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {
    /// HS256 secret (`CHATBOT_JWT_SECRET`). Without it and without a public
    /// key, a development secret is used and a warning logged.
    pub jwt_secret: Option<String>,
    /// PEM file of an RS256 public key (`CHATBOT_JWT_PUBLIC_KEY_FILE`);
    /// takes precedence over the secret.
    pub jwt_public_key_file: Option<PathBuf>,
}

/// `[api]`: request limits.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct ApiConfig {
    /// Longest query text, in characters (`CHATBOT_MAX_QUERY_LENGTH`).
    pub max_query_length: usize,
    /// Earlier queries used for follow-ups (`CHATBOT_MAX_CONTEXT_SIZE`).
    pub max_context_size: usize,
    /// Seconds a proposed action stays confirmable (`CHATBOT_ACTION_TTL_SECS`).
    pub action_ttl_secs: u64,
    /// Largest page of history.
    pub max_page_size: u32,
}

impl Default for ApiConfig {
    fn default() -> Self {
        Self {
            max_query_length: 500,
            max_context_size: 10,
            action_ttl_secs: 900,
            max_page_size: 100,
        }
    }
}

/// `[ai]`: interpretation by an external AI service, and how the engine
/// talks to one. A tenant's default configuration from the config API
/// takes precedence over `service_url` here.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct AiConfig {
    /// A service for every tenant without a configuration of its own
    /// (`CHATBOT_AI_SERVICE_URL`); none by default (embedded NLU).
    pub service_url: Option<String>,
    /// `http` (the generic schema) or `openai` (`/v1/chat/completions`
    /// with tools) (`CHATBOT_AI_SERVICE_BACKEND`).
    pub backend: String,
    /// The model named in OpenAI-compatible requests
    /// (`CHATBOT_AI_SERVICE_MODEL`).
    pub model: String,
    /// The service's API key (`CHATBOT_AI_SERVICE_API_KEY`); also the
    /// request-signing key when `signing_secret` is not set.
    pub api_key: Option<String>,
    /// A dedicated HMAC key for signing requests to this service
    /// (`CHATBOT_AI_SIGNING_SECRET`). Without it the API key signs, so
    /// anyone who sees one request can forge signed ones (a warning is
    /// logged once).
    pub signing_secret: Option<String>,
    /// Hosts (names or IP addresses, as written in the service URL) that a
    /// tenant's service configuration may point at although they are
    /// loopback or private (`CHATBOT_AI_ALLOWED_HOSTS`, comma-separated).
    /// Link-local and metadata addresses are refused whatever this says;
    /// the service of `service_url` is always allowed.
    pub allowed_hosts: Vec<String>,
    /// Overall deadline in seconds for one interpretation, across all its
    /// attempts and backoff waits (`CHATBOT_AI_TOTAL_TIMEOUT`).
    pub total_timeout_secs: u64,
    /// Seconds per attempt (`CHATBOT_AI_SERVICE_TIMEOUT`).
    pub timeout_secs: u64,
    /// Retries after the first attempt (`CHATBOT_AI_SERVICE_MAX_RETRIES`).
    pub max_retries: u32,
    /// First backoff delay in milliseconds; doubled per retry, with jitter.
    pub retry_base_ms: u64,
    /// Largest reply read from a service, in bytes.
    pub max_response_bytes: u64,
    /// Sign requests with HMAC-SHA256 (`CHATBOT_SIGN_REQUESTS`).
    pub sign_requests: bool,
    /// Mask PII in logs and error messages too (`CHATBOT_MASK_PII_IN_LOGS`).
    pub mask_pii_in_logs: bool,
    /// Per-service circuit breaker.
    pub breaker: BreakerConfig,
    /// Interpretation cache.
    pub cache: AiCacheConfig,
    /// Extra PII patterns to mask, besides the built-in ones.
    pub pii_patterns: Vec<PiiPattern>,
}

impl Default for AiConfig {
    fn default() -> Self {
        Self {
            service_url: None,
            backend: "http".to_owned(),
            model: "default".to_owned(),
            api_key: None,
            signing_secret: None,
            allowed_hosts: Vec::new(),
            total_timeout_secs: 15,
            timeout_secs: 10,
            max_retries: 3,
            retry_base_ms: 200,
            max_response_bytes: 256 * 1024,
            sign_requests: true,
            mask_pii_in_logs: true,
            breaker: BreakerConfig::default(),
            cache: AiCacheConfig::default(),
            pii_patterns: Vec::new(),
        }
    }
}

/// `[ai.cache]`: interpretations per tenant, in-process or in Redis.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct AiCacheConfig {
    /// Whether to cache (`CHATBOT_ENABLE_RESPONSE_CACHE`).
    pub enabled: bool,
    /// Seconds an interpretation is kept (`CHATBOT_CACHE_TTL`).
    pub ttl_secs: u64,
    /// Redis, shared by replicas (`CHATBOT_REDIS_URL`); in-process without.
    pub redis_url: Option<String>,
    /// Most entries kept in process.
    pub max_entries: usize,
}

impl Default for AiCacheConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            ttl_secs: 3600,
            redis_url: None,
            max_entries: 10_000,
        }
    }
}

/// `[[ai.pii_patterns]]`: an admin's pattern, masked as `<NAME_n>`.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct PiiPattern {
    /// Placeholder name: upper-case letters, digits and `_`.
    pub name: String,
    /// A regular expression (Rust `regex` syntax).
    pub regex: String,
}

/// `[database]`
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseConfig {
    /// `sqlite://...` or `postgres://...` (`CHATBOT_DATABASE_URL`).
    pub url: String,
    /// Connection pool size.
    pub max_connections: u32,
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        Self {
            url: DEFAULT_DATABASE_URL.to_owned(),
            max_connections: 8,
        }
    }
}

/// `[plugins]`: settings for every plugin.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct PluginsConfig {
    /// Load the built-in billing, crm and monitoring plugins
    /// (`CHATBOT_BUILTIN_PLUGINS`).
    pub builtin: bool,
    /// Where compiled plugins are cached (`CHATBOT_PLUGIN_CACHE_DIR`);
    /// default: `$XDG_CACHE_HOME/switchboard`, `~/.cache/switchboard`, or
    /// `.switchboard-cache` in the working directory. Created owner-only.
    pub cache_dir: Option<PathBuf>,
    /// Default limits; a `[[plugin]]` entry may override each.
    pub limits: Limits,
    /// When a plugin is taken out of rotation.
    pub breaker: BreakerConfig,
    /// Plugin instances that may run at once, across all plugins.
    pub max_concurrent_calls: u32,
    /// How long a call waits for one of those instances before it is
    /// refused as busy (`503 plugin_busy`), in milliseconds.
    pub queue_timeout_ms: u64,
}

impl Default for PluginsConfig {
    fn default() -> Self {
        Self {
            builtin: true,
            cache_dir: None,
            limits: Limits::default(),
            breaker: BreakerConfig::default(),
            max_concurrent_calls: 64,
            queue_timeout_ms: 1000,
        }
    }
}

/// Limits on one plugin call.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// Wall-clock deadline of a call, in milliseconds.
    pub deadline_ms: u64,
    /// Linear memory cap, in MiB.
    pub memory_mib: u64,
    /// Cap on the size of what a call returns, in bytes.
    pub max_output_bytes: u64,
    /// Cap on named-query calls per request.
    pub max_queries_per_request: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            deadline_ms: 200,
            memory_mib: 32,
            max_output_bytes: 1024 * 1024,
            max_queries_per_request: 16,
        }
    }
}

/// Per-plugin overrides of [`Limits`]; unset keys take the defaults.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct LimitOverrides {
    /// See [`Limits::deadline_ms`].
    pub deadline_ms: Option<u64>,
    /// See [`Limits::memory_mib`].
    pub memory_mib: Option<u64>,
    /// See [`Limits::max_output_bytes`].
    pub max_output_bytes: Option<u64>,
    /// See [`Limits::max_queries_per_request`].
    pub max_queries_per_request: Option<u32>,
}

impl LimitOverrides {
    /// The effective limits over `defaults`.
    pub fn over(&self, defaults: Limits) -> Limits {
        Limits {
            deadline_ms: self.deadline_ms.unwrap_or(defaults.deadline_ms),
            memory_mib: self.memory_mib.unwrap_or(defaults.memory_mib),
            max_output_bytes: self.max_output_bytes.unwrap_or(defaults.max_output_bytes),
            max_queries_per_request: self
                .max_queries_per_request
                .unwrap_or(defaults.max_queries_per_request),
        }
    }
}

/// `[plugins.breaker]`: a plugin that fails `failure_threshold` times in a
/// row is taken out of rotation for `cooldown_secs`, then tried again.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct BreakerConfig {
    /// Consecutive failures that open the breaker.
    pub failure_threshold: u32,
    /// Seconds out of rotation before one trial call.
    pub cooldown_secs: u64,
}

impl Default for BreakerConfig {
    fn default() -> Self {
        Self {
            failure_threshold: 5,
            cooldown_secs: 30,
        }
    }
}

/// Access of an admin-defined named query.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum QueryAccessConfig {
    /// Read-only.
    Read,
    /// Writes; only inside `execute`.
    Write,
}

/// A named query written by the admin in the TOML (adds to, or replaces,
/// the plugin's own SQL of the same name).
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct QueryConfig {
    /// `read` or `write`.
    pub access: QueryAccessConfig,
    /// The SQL, with `:name` parameters and `:tenant_id`.
    pub sql: String,
}

/// `[[plugin]]`: one plugin to load, or a built-in one to configure.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct PluginEntry {
    /// The plugin's name; must match its manifest.
    pub name: String,
    /// The component's `.wasm` file; relative to the config file's folder.
    /// Omit it to configure a built-in plugin of this name.
    pub path: Option<PathBuf>,
    /// Whether to load it (default true).
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Named queries granted. For a plugin with a `path` nothing is granted
    /// unless listed; for a built-in plugin, omitting it grants the
    /// plugin's own (reviewed) queries.
    pub grants: Option<Vec<String>>,
    /// Hosts (`host` or `host:port`) the plugin may call over HTTP.
    #[serde(default)]
    pub http_hosts: Vec<String>,
    /// Limit overrides.
    #[serde(default)]
    pub limits: LimitOverrides,
    /// Admin-written named queries, by name.
    #[serde(default)]
    pub queries: BTreeMap<String, QueryConfig>,
}

fn yes() -> bool {
    true
}

impl Config {
    /// Reads `path`, applies the process's `CHATBOT_*` variables and
    /// validates the result.
    pub fn load(path: Option<&Path>) -> Result<Self, ConfigError> {
        Self::load_with_env(path, |k| std::env::var(k).ok())
    }

    /// As [`Config::load`], with the environment given by `env` (for tests).
    pub fn load_with_env(
        path: Option<&Path>,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigError> {
        let mut config = match path {
            Some(path) => Self::read_file(path)?,
            None => Self::default(),
        };
        apply_env(&mut config, env)?;
        config.validate()?;
        Ok(config)
    }

    /// Parses a file without environment overrides or validation.
    pub fn read_file(path: &Path) -> Result<Self, ConfigError> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            file: file.clone(),
            source,
        })?;
        let mut config = Self::parse_str(&text, &file)?;
        config.source = Some(path.to_path_buf());
        Ok(config)
    }

    /// Parses TOML text; `file` names it in errors.
    pub fn parse_str(text: &str, file: &str) -> Result<Self, ConfigError> {
        toml::from_str(text).map_err(|e| ConfigError::Parse {
            file: file.to_owned(),
            message: e.to_string().trim_end().to_owned(),
        })
    }

    /// The name errors use for the file this came from.
    pub fn source_name(&self) -> String {
        self.source
            .as_ref()
            .map_or_else(|| "configuration".to_owned(), |p| p.display().to_string())
    }

    /// Resolves a plugin path against the config file's folder.
    pub fn resolve_path(&self, path: &Path) -> PathBuf {
        if path.is_absolute() {
            return path.to_path_buf();
        }
        match self.source.as_ref().and_then(|s| s.parent()) {
            Some(dir) => dir.join(path),
            None => path.to_path_buf(),
        }
    }

    /// The compiled-plugin cache folder.
    pub fn cache_dir(&self) -> PathBuf {
        if let Some(dir) = &self.plugins.cache_dir {
            return dir.clone();
        }
        if let Some(xdg) = std::env::var_os("XDG_CACHE_HOME") {
            return PathBuf::from(xdg).join("switchboard");
        }
        if let Some(home) = std::env::var_os("HOME") {
            return PathBuf::from(home).join(".cache").join("switchboard");
        }
        // Never a shared temporary folder: compiled code is trusted.
        PathBuf::from(".switchboard-cache")
    }
}
