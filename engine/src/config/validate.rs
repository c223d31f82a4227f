//! Checks that go beyond the schema: ranges, names, consistency.

use std::collections::BTreeSet;

use super::{Config, ConfigError, Limits};

/// The names of the built-in plugins.
pub const BUILTIN_NAMES: [&str; 3] = ["billing", "crm", "monitoring"];

fn invalid(config: &Config, key: impl Into<String>, message: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        source_name: config.source_name(),
        key: key.into(),
        message: message.into(),
    }
}

fn check_range(
    config: &Config,
    key: &str,
    value: u64,
    min: u64,
    max: u64,
) -> Result<(), ConfigError> {
    if (min..=max).contains(&value) {
        Ok(())
    } else {
        Err(invalid(
            config,
            key,
            format!("{value} is out of range: allowed {min} to {max}"),
        ))
    }
}

fn check_limits(config: &Config, prefix: &str, limits: Limits) -> Result<(), ConfigError> {
    check_range(
        config,
        &format!("{prefix}.deadline_ms"),
        limits.deadline_ms,
        1,
        60_000,
    )?;
    check_range(
        config,
        &format!("{prefix}.memory_mib"),
        limits.memory_mib,
        1,
        4096,
    )?;
    check_range(
        config,
        &format!("{prefix}.max_output_bytes"),
        limits.max_output_bytes,
        64,
        64 * 1024 * 1024,
    )?;
    check_range(
        config,
        &format!("{prefix}.max_queries_per_request"),
        u64::from(limits.max_queries_per_request),
        0,
        10_000,
    )
}

/// Whether `name` is a valid plugin name: lower-case ASCII letters, digits,
/// `_` and `-`, starting with a letter, at most 64 characters.
pub fn is_valid_plugin_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_lowercase())
        && name.len() <= 64
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
}

impl Config {
    /// Checks everything the schema cannot.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let url = &self.database.url;
        if !(url.starts_with("sqlite:")
            || url.starts_with("postgres://")
            || url.starts_with("postgresql://"))
        {
            return Err(invalid(
                self,
                "database.url",
                format!(
                    "`{}` is not supported: use sqlite://FILE or postgres://...",
                    crate::store::redact_url(url)
                ),
            ));
        }
        check_range(
            self,
            "database.max_connections",
            u64::from(self.database.max_connections),
            1,
            1000,
        )?;
        check_limits(self, "plugins.limits", self.plugins.limits)?;
        check_range(
            self,
            "plugins.breaker.failure_threshold",
            u64::from(self.plugins.breaker.failure_threshold),
            1,
            1000,
        )?;
        check_range(
            self,
            "plugins.breaker.cooldown_secs",
            self.plugins.breaker.cooldown_secs,
            1,
            86_400,
        )?;
        check_range(
            self,
            "plugins.max_concurrent_calls",
            u64::from(self.plugins.max_concurrent_calls),
            1,
            1000,
        )?;
        check_range(
            self,
            "plugins.queue_timeout_ms",
            self.plugins.queue_timeout_ms,
            1,
            60_000,
        )?;

        check_range(
            self,
            "server.shutdown_grace_secs",
            self.server.shutdown_grace_secs,
            0,
            3600,
        )?;
        check_range(
            self,
            "api.max_query_length",
            self.api.max_query_length as u64,
            1,
            100_000,
        )?;
        check_range(
            self,
            "api.max_context_size",
            self.api.max_context_size as u64,
            0,
            100,
        )?;
        check_range(
            self,
            "api.action_ttl_secs",
            self.api.action_ttl_secs,
            1,
            30 * 86_400,
        )?;
        check_range(
            self,
            "api.max_page_size",
            u64::from(self.api.max_page_size),
            1,
            1000,
        )?;
        if let Some(secret) = &self.auth.jwt_secret
            && secret.len() < 16
        {
            return Err(invalid(
                self,
                "auth.jwt_secret",
                "is too short: use at least 16 characters",
            ));
        }
        if let Some(path) = &self.auth.jwt_public_key_file {
            let resolved = self.resolve_path(path);
            if !resolved.is_file() {
                return Err(invalid(
                    self,
                    "auth.jwt_public_key_file",
                    format!("no such file: {}", resolved.display()),
                ));
            }
        }

        self.validate_ai()?;

        let mut seen = BTreeSet::new();
        for (i, entry) in self.plugin.iter().enumerate() {
            let key = format!("plugin[{i}]");
            if !is_valid_plugin_name(&entry.name) {
                return Err(invalid(
                    self,
                    format!("{key}.name"),
                    format!(
                        "`{}` is not a valid plugin name: use lower-case letters, digits, `_` and `-`, starting with a letter",
                        entry.name
                    ),
                ));
            }
            if !seen.insert(entry.name.as_str()) {
                return Err(invalid(
                    self,
                    format!("{key}.name"),
                    format!("plugin `{}` is listed twice", entry.name),
                ));
            }
            match &entry.path {
                None if !BUILTIN_NAMES.contains(&entry.name.as_str()) => {
                    return Err(invalid(
                        self,
                        format!("{key}.path"),
                        format!(
                            "missing: `{}` is not a built-in plugin ({}), so it needs the path of its .wasm file",
                            entry.name,
                            BUILTIN_NAMES.join(", ")
                        ),
                    ));
                }
                Some(path) if entry.enabled => {
                    let resolved = self.resolve_path(path);
                    if !resolved.is_file() {
                        return Err(invalid(
                            self,
                            format!("{key}.path"),
                            format!("no such file: {}", resolved.display()),
                        ));
                    }
                }
                _ => {}
            }
            check_limits(
                self,
                &format!("{key}.limits"),
                entry.limits.over(self.plugins.limits),
            )?;
            for host in &entry.http_hosts {
                if host.is_empty() || host.contains('/') || host.contains(' ') {
                    return Err(invalid(
                        self,
                        format!("{key}.http_hosts"),
                        format!("`{host}` is not a host name: write `host` or `host:port`"),
                    ));
                }
            }
            for (name, query) in &entry.queries {
                if query.sql.trim().is_empty() {
                    return Err(invalid(
                        self,
                        format!("{key}.queries.{name}.sql"),
                        "is empty",
                    ));
                }
            }
        }
        Ok(())
    }
}

impl Config {
    fn validate_ai(&self) -> Result<(), ConfigError> {
        let ai = &self.ai;
        if let Some(url) = &ai.service_url {
            match reqwest::Url::parse(url) {
                Ok(u) if matches!(u.scheme(), "http" | "https") && u.host_str().is_some() => {}
                _ => {
                    return Err(invalid(
                        self,
                        "ai.service_url",
                        format!("`{url}` is not an http(s) URL"),
                    ));
                }
            }
        }
        if !matches!(ai.backend.as_str(), "http" | "openai") {
            return Err(invalid(
                self,
                "ai.backend",
                format!("`{}` is not a backend: use `http` or `openai`", ai.backend),
            ));
        }
        check_range(self, "ai.timeout_secs", ai.timeout_secs, 1, 300)?;
        check_range(
            self,
            "ai.total_timeout_secs",
            ai.total_timeout_secs,
            1,
            3600,
        )?;
        check_range(self, "ai.max_retries", u64::from(ai.max_retries), 0, 10)?;
        check_range(self, "ai.retry_base_ms", ai.retry_base_ms, 1, 60_000)?;
        check_range(
            self,
            "ai.max_response_bytes",
            ai.max_response_bytes,
            1024,
            16 * 1024 * 1024,
        )?;
        check_range(
            self,
            "ai.breaker.failure_threshold",
            u64::from(ai.breaker.failure_threshold),
            1,
            1000,
        )?;
        check_range(
            self,
            "ai.breaker.cooldown_secs",
            ai.breaker.cooldown_secs,
            1,
            86_400,
        )?;
        check_range(self, "ai.cache.ttl_secs", ai.cache.ttl_secs, 1, 30 * 86_400)?;
        check_range(
            self,
            "ai.cache.max_entries",
            ai.cache.max_entries as u64,
            1,
            10_000_000,
        )?;
        if let Some(url) = &ai.cache.redis_url
            && !(url.starts_with("redis://") || url.starts_with("rediss://"))
        {
            return Err(invalid(
                self,
                "ai.cache.redis_url",
                "must start with redis:// or rediss://",
            ));
        }
        for (i, p) in ai.pii_patterns.iter().enumerate() {
            let key = format!("ai.pii_patterns[{i}]");
            if p.name.is_empty()
                || p.name.len() > 32
                || !p
                    .name
                    .chars()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
            {
                return Err(invalid(
                    self,
                    format!("{key}.name"),
                    format!(
                        "`{}` is not a placeholder name: use 1 to 32 upper-case letters, digits and `_`",
                        p.name
                    ),
                ));
            }
            if let Err(e) = regex::Regex::new(&p.regex) {
                return Err(invalid(
                    self,
                    format!("{key}.regex"),
                    format!("is not a valid regular expression: {e}"),
                ));
            }
            if regex::Regex::new(&p.regex).is_ok_and(|r| r.is_match("")) {
                return Err(invalid(
                    self,
                    format!("{key}.regex"),
                    "matches the empty text: it would mask nothing useful",
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error_of(toml: &str) -> String {
        Config::parse_str(toml, "t.toml")
            .unwrap()
            .validate()
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn ai_settings_are_checked_and_named() {
        assert!(error_of("[ai]\nbackend = \"grpc\"").contains("`ai.backend`"));
        assert!(error_of("[ai]\nservice_url = \"ftp://x\"").contains("`ai.service_url`"));
        assert!(error_of("[ai]\ntimeout_secs = 0").contains("`ai.timeout_secs`"));
        assert!(error_of("[ai.cache]\nredis_url = \"http://x\"").contains("`ai.cache.redis_url`"));
        assert!(
            error_of("[[ai.pii_patterns]]\nname = \"emp\"\nregex = \"E\\\\d+\"")
                .contains("`ai.pii_patterns[0].name`")
        );
        assert!(
            error_of("[[ai.pii_patterns]]\nname = \"EMP\"\nregex = \"(\"")
                .contains("`ai.pii_patterns[0].regex`")
        );
        let ok = Config::parse_str(
            "[ai]\nservice_url = \"https://ai.internal/x\"\nbackend = \"openai\"\n[[ai.pii_patterns]]\nname = \"EMP\"\nregex = \"EMP-\\\\d{6}\"",
            "t.toml",
        )
        .unwrap();
        assert_eq!(ok.validate().map_err(|e| e.to_string()), Ok(()));
    }
}
