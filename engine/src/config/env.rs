//! `CHATBOT_*` environment variables, which override the file.

use std::path::PathBuf;
use std::str::FromStr;

use super::{Config, ConfigError};

/// Every variable read here, with the key it overrides.
pub const ENV_VARS: &[(&str, &str)] = &[
    ("CHATBOT_ADDR", "server.addr"),
    ("CHATBOT_SHUTDOWN_GRACE_SECS", "server.shutdown_grace_secs"),
    ("CHATBOT_DATABASE_URL", "database.url"),
    (
        "CHATBOT_DATABASE_MAX_CONNECTIONS",
        "database.max_connections",
    ),
    ("CHATBOT_BUILTIN_PLUGINS", "plugins.builtin"),
    ("CHATBOT_PLUGIN_CACHE_DIR", "plugins.cache_dir"),
    ("CHATBOT_PLUGIN_DEADLINE_MS", "plugins.limits.deadline_ms"),
    ("CHATBOT_PLUGIN_MEMORY_MIB", "plugins.limits.memory_mib"),
    (
        "CHATBOT_PLUGIN_MAX_OUTPUT_BYTES",
        "plugins.limits.max_output_bytes",
    ),
    (
        "CHATBOT_PLUGIN_MAX_QUERIES",
        "plugins.limits.max_queries_per_request",
    ),
    ("CHATBOT_JWT_SECRET", "auth.jwt_secret"),
    ("CHATBOT_JWT_PUBLIC_KEY_FILE", "auth.jwt_public_key_file"),
    ("CHATBOT_MAX_QUERY_LENGTH", "api.max_query_length"),
    ("CHATBOT_MAX_CONTEXT_SIZE", "api.max_context_size"),
    ("CHATBOT_ACTION_TTL_SECS", "api.action_ttl_secs"),
    ("CHATBOT_NLU_TRAINING_FILES", "nlu.training_files"),
    ("CHATBOT_AI_SERVICE_URL", "ai.service_url"),
    ("CHATBOT_AI_SERVICE_BACKEND", "ai.backend"),
    ("CHATBOT_AI_SERVICE_MODEL", "ai.model"),
    ("CHATBOT_AI_SERVICE_API_KEY", "ai.api_key"),
    ("CHATBOT_AI_SIGNING_SECRET", "ai.signing_secret"),
    ("CHATBOT_AI_ALLOWED_HOSTS", "ai.allowed_hosts"),
    ("CHATBOT_AI_TOTAL_TIMEOUT", "ai.total_timeout_secs"),
    ("CHATBOT_AI_SERVICE_TIMEOUT", "ai.timeout_secs"),
    ("CHATBOT_AI_SERVICE_MAX_RETRIES", "ai.max_retries"),
    ("CHATBOT_SIGN_REQUESTS", "ai.sign_requests"),
    ("CHATBOT_MASK_PII_IN_LOGS", "ai.mask_pii_in_logs"),
    ("CHATBOT_ENABLE_RESPONSE_CACHE", "ai.cache.enabled"),
    ("CHATBOT_CACHE_TTL", "ai.cache.ttl_secs"),
    ("CHATBOT_REDIS_URL", "ai.cache.redis_url"),
];

fn parse<T: FromStr>(var: &str, key: &str, value: &str, allowed: &str) -> Result<T, ConfigError> {
    value.trim().parse().map_err(|_| ConfigError::Invalid {
        source_name: format!("environment variable {var}"),
        key: key.to_owned(),
        message: format!("`{value}` is not {allowed}"),
    })
}

fn parse_bool(var: &str, key: &str, value: &str) -> Result<bool, ConfigError> {
    match value.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Ok(true),
        "0" | "false" | "no" | "off" => Ok(false),
        _ => Err(ConfigError::Invalid {
            source_name: format!("environment variable {var}"),
            key: key.to_owned(),
            message: format!("`{value}` is not a boolean (true/false, 1/0, yes/no, on/off)"),
        }),
    }
}

/// Applies the variables that `env` returns to `config`.
pub fn apply_env(
    config: &mut Config,
    env: impl Fn(&str) -> Option<String>,
) -> Result<(), ConfigError> {
    for (var, key) in ENV_VARS {
        let Some(value) = env(var) else { continue };
        match *var {
            "CHATBOT_ADDR" => {
                config.server.addr =
                    parse(var, key, &value, "a socket address like 127.0.0.1:8080")?;
            }
            "CHATBOT_DATABASE_URL" => config.database.url = value,
            "CHATBOT_DATABASE_MAX_CONNECTIONS" => {
                config.database.max_connections = parse(var, key, &value, "a positive integer")?;
            }
            "CHATBOT_BUILTIN_PLUGINS" => config.plugins.builtin = parse_bool(var, key, &value)?,
            "CHATBOT_PLUGIN_CACHE_DIR" => config.plugins.cache_dir = Some(PathBuf::from(value)),
            "CHATBOT_PLUGIN_DEADLINE_MS" => {
                config.plugins.limits.deadline_ms = parse(var, key, &value, "an integer")?;
            }
            "CHATBOT_PLUGIN_MEMORY_MIB" => {
                config.plugins.limits.memory_mib = parse(var, key, &value, "an integer")?;
            }
            "CHATBOT_PLUGIN_MAX_OUTPUT_BYTES" => {
                config.plugins.limits.max_output_bytes = parse(var, key, &value, "an integer")?;
            }
            "CHATBOT_PLUGIN_MAX_QUERIES" => {
                config.plugins.limits.max_queries_per_request =
                    parse(var, key, &value, "an integer")?;
            }
            "CHATBOT_JWT_SECRET" => config.auth.jwt_secret = Some(value),
            "CHATBOT_JWT_PUBLIC_KEY_FILE" => {
                config.auth.jwt_public_key_file = Some(PathBuf::from(value))
            }
            "CHATBOT_SHUTDOWN_GRACE_SECS" => {
                config.server.shutdown_grace_secs = parse(var, key, &value, "an integer")?;
            }
            "CHATBOT_MAX_QUERY_LENGTH" => {
                config.api.max_query_length = parse(var, key, &value, "an integer")?;
            }
            "CHATBOT_MAX_CONTEXT_SIZE" => {
                config.api.max_context_size = parse(var, key, &value, "an integer")?;
            }
            "CHATBOT_ACTION_TTL_SECS" => {
                config.api.action_ttl_secs = parse(var, key, &value, "an integer")?;
            }
            "CHATBOT_NLU_TRAINING_FILES" => {
                config.nlu.training_files = value
                    .split(',')
                    .map(str::trim)
                    .filter(|p| !p.is_empty())
                    .map(PathBuf::from)
                    .collect();
            }
            "CHATBOT_AI_SERVICE_URL" => {
                config.ai.service_url = Some(value).filter(|v| !v.trim().is_empty());
            }
            "CHATBOT_AI_SERVICE_BACKEND" => config.ai.backend = value.trim().to_owned(),
            "CHATBOT_AI_SERVICE_MODEL" => config.ai.model = value,
            "CHATBOT_AI_SERVICE_API_KEY" => {
                config.ai.api_key = Some(value).filter(|v| !v.is_empty());
            }
            "CHATBOT_AI_SIGNING_SECRET" => {
                config.ai.signing_secret = Some(value).filter(|v| !v.is_empty());
            }
            "CHATBOT_AI_ALLOWED_HOSTS" => {
                config.ai.allowed_hosts = value
                    .split(',')
                    .map(str::trim)
                    .filter(|h| !h.is_empty())
                    .map(str::to_owned)
                    .collect();
            }
            "CHATBOT_AI_TOTAL_TIMEOUT" => {
                config.ai.total_timeout_secs = parse(var, key, &value, "a number of seconds")?;
            }
            "CHATBOT_AI_SERVICE_TIMEOUT" => {
                config.ai.timeout_secs = parse(var, key, &value, "a number of seconds")?;
            }
            "CHATBOT_AI_SERVICE_MAX_RETRIES" => {
                config.ai.max_retries = parse(var, key, &value, "an integer")?;
            }
            "CHATBOT_SIGN_REQUESTS" => config.ai.sign_requests = parse_bool(var, key, &value)?,
            "CHATBOT_MASK_PII_IN_LOGS" => {
                config.ai.mask_pii_in_logs = parse_bool(var, key, &value)?;
            }
            "CHATBOT_ENABLE_RESPONSE_CACHE" => {
                config.ai.cache.enabled = parse_bool(var, key, &value)?;
            }
            "CHATBOT_CACHE_TTL" => {
                config.ai.cache.ttl_secs = parse(var, key, &value, "a number of seconds")?;
            }
            "CHATBOT_REDIS_URL" => {
                config.ai.cache.redis_url = Some(value).filter(|v| !v.trim().is_empty());
            }
            // Every variable of ENV_VARS has an arm above; the test
            // `every_listed_variable_is_applied` keeps the two in step.
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_listed_variable_is_applied() {
        let value = |var: &str| -> String {
            match var {
                "CHATBOT_ADDR" => "127.0.0.1:9999".into(),
                "CHATBOT_DATABASE_URL" => "postgres://x@y/z".into(),
                "CHATBOT_BUILTIN_PLUGINS"
                | "CHATBOT_SIGN_REQUESTS"
                | "CHATBOT_MASK_PII_IN_LOGS"
                | "CHATBOT_ENABLE_RESPONSE_CACHE" => "false".into(),
                "CHATBOT_AI_SERVICE_URL" => "http://ai.internal:9000/interpret".into(),
                "CHATBOT_REDIS_URL" => "redis://127.0.0.1:6379".into(),
                "CHATBOT_AI_SERVICE_BACKEND" => "openai".into(),
                "CHATBOT_PLUGIN_CACHE_DIR" | "CHATBOT_JWT_PUBLIC_KEY_FILE" => "/nowhere".into(),
                "CHATBOT_JWT_SECRET" => "a-secret-from-the-environment".into(),
                _ => "7".into(),
            }
        };
        for (var, key) in ENV_VARS {
            let mut config = Config::default();
            let before = format!("{config:?}");
            apply_env(&mut config, |k| (k == *var).then(|| value(k))).unwrap();
            assert_ne!(format!("{config:?}"), before, "{var} does not change {key}");
        }
    }
}
