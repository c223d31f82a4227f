//! The interpretation cache: per tenant and service, keyed on the masked,
//! normalised text and the masked conversation that can change its
//! meaning. It holds interpretations only (with placeholders, so no PII),
//! never answers: the plugins always answer fresh. In process by default;
//! in Redis when `CHATBOT_REDIS_URL` is set, so replicas share it.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use redis::AsyncCommands;
use sha2::{Digest, Sha256};
use tokio::sync::OnceCell;

use super::reply::CheckedReply;
use crate::TenantId;

/// The cache key of an interpretation; `service` names the service, its
/// configuration version and the registry fingerprint.
pub fn key(tenant: TenantId, service: &str, text: &str, history: &[String]) -> String {
    let mut h = Sha256::new();
    h.update(service.as_bytes());
    h.update([0]);
    h.update(normalise(text).as_bytes());
    for earlier in history {
        h.update([0]);
        h.update(normalise(earlier).as_bytes());
    }
    format!(
        "switchboard:ai:v2:{}:{}",
        tenant.get(),
        hex::encode(h.finalize())
    )
}

/// Lower case, single spaces, trimmed; placeholders are kept as written.
fn normalise(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut in_placeholder = false;
    for word in text.split_whitespace() {
        if !out.is_empty() {
            out.push(' ');
        }
        for c in word.chars() {
            match c {
                '<' => in_placeholder = true,
                '>' => in_placeholder = false,
                _ => {}
            }
            if in_placeholder {
                out.push(c);
            } else {
                out.extend(c.to_lowercase());
            }
        }
    }
    out
}

/// Where interpretations are kept.
pub enum Cache {
    /// Nothing is cached.
    Off,
    /// In this process.
    Memory {
        /// Entries and when they expire.
        entries: Mutex<HashMap<String, (Instant, CheckedReply)>>,
        /// How long an entry lives.
        ttl: Duration,
        /// Most entries.
        max_entries: usize,
    },
    /// In Redis.
    Redis {
        /// The client.
        client: redis::Client,
        /// The connection, made on first use.
        connection: OnceCell<redis::aio::ConnectionManager>,
        /// After a failed connection, Redis is not tried again before this.
        retry_after: Mutex<Option<Instant>>,
        /// How long an entry lives.
        ttl: Duration,
    },
}

/// How long the cache is skipped after Redis could not be reached.
pub const REDIS_RETRY_AFTER: Duration = Duration::from_secs(10);

impl std::fmt::Debug for Cache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Off => "Cache::Off",
            Self::Memory { .. } => "Cache::Memory",
            Self::Redis { .. } => "Cache::Redis",
        })
    }
}

/// A Redis URL that cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("invalid Redis URL: {0}")]
pub struct CacheError(String);

impl Cache {
    /// A cache from the settings.
    pub fn new(
        enabled: bool,
        ttl: Duration,
        max_entries: usize,
        redis_url: Option<&str>,
    ) -> Result<Self, CacheError> {
        if !enabled {
            return Ok(Self::Off);
        }
        match redis_url {
            Some(url) => Ok(Self::Redis {
                client: redis::Client::open(url).map_err(|e| CacheError(e.to_string()))?,
                connection: OnceCell::new(),
                retry_after: Mutex::new(None),
                ttl,
            }),
            None => Ok(Self::Memory {
                entries: Mutex::new(HashMap::new()),
                ttl,
                max_entries,
            }),
        }
    }

    /// Whether anything is cached.
    pub fn enabled(&self) -> bool {
        !matches!(self, Self::Off)
    }

    async fn redis(
        client: &redis::Client,
        cell: &OnceCell<redis::aio::ConnectionManager>,
        retry_after: &Mutex<Option<Instant>>,
    ) -> Option<redis::aio::ConnectionManager> {
        if let Some(c) = cell.get() {
            return Some(c.clone());
        }
        // Redis down: a miss at once, rather than a connection attempt per
        // query.
        if retry_after
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .is_some_and(|t| Instant::now() < t)
        {
            return None;
        }
        let made = cell
            .get_or_try_init(|| async {
                let config = redis::aio::ConnectionManagerConfig::new()
                    .set_connection_timeout(Some(Duration::from_secs(1)))
                    .set_response_timeout(Some(Duration::from_secs(1)))
                    .set_number_of_retries(1);
                redis::aio::ConnectionManager::new_with_config(client.clone(), config).await
            })
            .await;
        match made {
            Ok(c) => Some(c.clone()),
            Err(error) => {
                tracing::warn!(%error, "interpretation cache: Redis unavailable");
                *retry_after.lock().unwrap_or_else(|p| p.into_inner()) =
                    Some(Instant::now() + REDIS_RETRY_AFTER);
                None
            }
        }
    }

    /// The cached interpretation under `key`.
    pub async fn get(&self, key: &str) -> Option<CheckedReply> {
        let found = match self {
            Self::Off => return None,
            Self::Memory { entries, .. } => {
                let mut entries = entries.lock().unwrap_or_else(|p| p.into_inner());
                match entries.get(key) {
                    Some((expires, reply)) if *expires > Instant::now() => Some(reply.clone()),
                    Some(_) => {
                        entries.remove(key);
                        None
                    }
                    None => None,
                }
            }
            Self::Redis {
                client,
                connection,
                retry_after,
                ..
            } => {
                let text: Option<String> = match Self::redis(client, connection, retry_after).await
                {
                    None => None,
                    Some(mut c) => match c.get(key).await {
                        Ok(t) => t,
                        Err(error) => {
                            tracing::warn!(%error, "interpretation cache: Redis read failed");
                            None
                        }
                    },
                };
                text.and_then(|t| serde_json::from_str(&t).ok())
            }
        };
        metrics::counter!("switchboard_ai_cache_total", "result" => if found.is_some() { "hit" } else { "miss" })
            .increment(1);
        found
    }

    /// Keeps `reply` under `key`.
    pub async fn put(&self, key: String, reply: &CheckedReply) {
        match self {
            Self::Off => {}
            Self::Memory {
                entries,
                ttl,
                max_entries,
            } => {
                let now = Instant::now();
                let mut entries = entries.lock().unwrap_or_else(|p| p.into_inner());
                if entries.len() >= *max_entries {
                    entries.retain(|_, (expires, _)| *expires > now);
                }
                if entries.len() >= *max_entries
                    && let Some(k) = entries.keys().next().cloned()
                {
                    entries.remove(&k);
                }
                entries.insert(key, (now + *ttl, reply.clone()));
            }
            Self::Redis {
                client,
                connection,
                retry_after,
                ttl,
            } => {
                let Some(mut c) = Self::redis(client, connection, retry_after).await else {
                    return;
                };
                let Ok(text) = serde_json::to_string(reply) else {
                    return;
                };
                let written: Result<(), redis::RedisError> =
                    c.set_ex(key, text, ttl.as_secs().max(1)).await;
                if let Err(error) = written {
                    tracing::warn!(%error, "interpretation cache: Redis write failed");
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn an_unreachable_redis_is_a_miss_not_an_error() {
        // Port 1 on the loopback: nothing listens there.
        let cache = Cache::new(
            true,
            Duration::from_secs(60),
            10,
            Some("redis://127.0.0.1:1"),
        )
        .unwrap();
        let reply = CheckedReply {
            intent: "none".into(),
            confidence: 1.0,
            entities: Default::default(),
        };
        cache.put("k".into(), &reply).await;
        assert_eq!(cache.get("k").await, None);
        if let Cache::Redis { retry_after, .. } = &cache {
            assert!(retry_after.lock().unwrap().is_some(), "not retried at once");
        }
    }

    #[tokio::test]
    async fn memory_entries_are_capped_and_off_keeps_nothing() {
        let cache = Cache::new(true, Duration::from_secs(60), 2, None).unwrap();
        let reply = CheckedReply {
            intent: "none".into(),
            confidence: 1.0,
            entities: Default::default(),
        };
        for k in ["a", "b", "c"] {
            cache.put(k.into(), &reply).await;
        }
        let mut hits = 0;
        for k in ["a", "b", "c"] {
            hits += usize::from(cache.get(k).await.is_some());
        }
        assert_eq!(hits, 2, "at most max_entries are kept");
        assert!(cache.get("c").await.is_some(), "the newest is kept");
        let off = Cache::new(false, Duration::from_secs(60), 2, None).unwrap();
        off.put("a".into(), &reply).await;
        assert_eq!(off.get("a").await, None);
    }

    #[test]
    fn keys_ignore_case_and_spacing_but_not_tenant_placeholders_or_history() {
        let t1 = TenantId::new(1);
        let k = key(t1, "s", "Find  <EMAIL_1> please", &[]);
        assert_eq!(k, key(t1, "s", "find <EMAIL_1> PLEASE ", &[]));
        assert_ne!(k, key(TenantId::new(2), "s", "find <EMAIL_1> please", &[]));
        assert_ne!(k, key(t1, "s", "find <email_1> please", &[]));
        assert_ne!(
            k,
            key(t1, "s", "find <EMAIL_1> please", &["earlier".into()])
        );
        assert_ne!(k, key(t1, "other", "find <EMAIL_1> please", &[]));
    }
}
