//! One JSON POST to a service, done safely: a timeout per attempt, retries
//! with backoff on connection errors, timeouts, 429 and 5xx (never another
//! 4xx), the key in `Authorization`, an HMAC signature when signing is on
//! (with the service's signing secret, else its API key),
//! the previous key tried once during a rotation's grace period when the
//! service refuses the new one, and a cap on the size of the reply.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value as Json;

use super::retry::{Backoff, retryable_status};
use super::signing;
use super::{Service, ServiceKey};

/// Settings shared by every call.
#[derive(Debug, Clone, Copy)]
pub struct CallSettings {
    /// Sign requests.
    pub sign: bool,
    /// Largest reply read.
    pub max_response_bytes: usize,
    /// Backoff between retries.
    pub backoff: Backoff,
}

/// Why a call failed (after its retries).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CallError {
    /// No connection could be made.
    #[error("cannot connect: {0}")]
    Connect(String),
    /// The attempt ran past its timeout.
    #[error("timed out")]
    Timeout,
    /// The service answered with an error status.
    #[error("HTTP {status}: {message}")]
    Status {
        /// The status code.
        status: u16,
        /// The start of its body.
        message: String,
    },
    /// The reply is larger than allowed.
    #[error("reply larger than {0} bytes")]
    TooLarge(usize),
    /// The reply is not what the schema says.
    #[error("invalid reply: {0}")]
    Invalid(String),
}

impl CallError {
    /// A short label for metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Connect(_) => "connect",
            Self::Timeout => "timeout",
            Self::Status { status, .. } if *status == 429 => "rate_limited",
            Self::Status { status, .. } if *status >= 500 => "server_error",
            Self::Status { .. } => "client_error",
            Self::TooLarge(_) => "too_large",
            Self::Invalid(_) => "invalid_reply",
        }
    }

    /// Whether the failure says the service is unhealthy (a connection
    /// error, a timeout, 429 or 5xx), and so counts for its breaker; a 4xx
    /// or a reply that is too large or invalid does not.
    pub fn counts_for_breaker(&self) -> bool {
        self.retryable()
    }

    /// The HTTP status of an error reply.
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::Status { status, .. } => Some(*status),
            _ => None,
        }
    }

    fn retryable(&self) -> bool {
        match self {
            Self::Connect(_) | Self::Timeout => true,
            Self::Status { status, .. } => retryable_status(*status),
            Self::TooLarge(_) | Self::Invalid(_) => false,
        }
    }
}

fn classify(e: &reqwest::Error) -> CallError {
    if e.is_timeout() {
        CallError::Timeout
    } else if e.is_connect() || e.is_request() {
        CallError::Connect(without_url(e))
    } else {
        CallError::Invalid(without_url(e))
    }
}

/// reqwest's message without the URL (which may carry credentials).
fn without_url(e: &reqwest::Error) -> String {
    let mut text = e.to_string();
    if let Some(url) = e.url() {
        text = text.replace(url.as_str(), "<service>");
    }
    text
}

/// Reads at most `cap` bytes of the body.
async fn read_capped(mut response: reqwest::Response, cap: usize) -> Result<Vec<u8>, CallError> {
    if response.content_length().is_some_and(|n| n > cap as u64) {
        return Err(CallError::TooLarge(cap));
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| classify(&e))? {
        if body.len() + chunk.len() > cap {
            return Err(CallError::TooLarge(cap));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

fn usable_keys(keys: &[ServiceKey]) -> Vec<&ServiceKey> {
    let now = chrono::Utc::now();
    keys.iter()
        .filter(|k| k.valid_until.is_none_or(|t| t > now))
        .collect()
}

/// POSTs `body` to `url` as JSON and returns the JSON reply.
pub async fn post_json(
    http: &reqwest::Client,
    service: &Service,
    url: &reqwest::Url,
    body: &Json,
    settings: CallSettings,
) -> Result<Json, CallError> {
    let bytes = serde_json::to_vec(body).map_err(|e| CallError::Invalid(e.to_string()))?;
    let path = match url.query() {
        Some(q) => format!("{}?{q}", url.path()),
        None => url.path().to_owned(),
    };
    let keys = usable_keys(&service.keys);
    let mut retry = 0;
    loop {
        let started = Instant::now();
        let mut result = attempt(
            http,
            service,
            url,
            &path,
            &bytes,
            keys.first().copied(),
            settings,
        )
        .await;
        // The service refuses the new key: during the grace period of a
        // rotation, the previous one may still be what it knows.
        if let Err(CallError::Status {
            status: 401 | 403, ..
        }) = &result
            && let Some(previous) = keys.get(1)
        {
            metrics::counter!("switchboard_ai_previous_key_used_total", "service" => service.name.clone())
                .increment(1);
            result = attempt(http, service, url, &path, &bytes, Some(*previous), settings).await;
        }
        metrics::histogram!("switchboard_ai_request_duration_seconds", "service" => service.name.clone())
            .record(started.elapsed().as_secs_f64());
        match result {
            Ok(v) => return Ok(v),
            Err(e) if e.retryable() && retry < service.max_retries => {
                metrics::counter!("switchboard_ai_retries_total", "service" => service.name.clone(), "kind" => e.kind())
                    .increment(1);
                tokio::time::sleep(settings.backoff.delay(retry)).await;
                retry += 1;
            }
            Err(e) => return Err(e),
        }
    }
}

/// Set once the "signing with the API key" warning has been logged.
static WEAK_SIGNING_WARNED: AtomicBool = AtomicBool::new(false);

async fn attempt(
    http: &reqwest::Client,
    service: &Service,
    url: &reqwest::Url,
    path: &str,
    bytes: &[u8],
    key: Option<&ServiceKey>,
    settings: CallSettings,
) -> Result<Json, CallError> {
    let mut request = http
        .post(url.clone())
        .timeout(service.timeout)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .header(reqwest::header::ACCEPT, "application/json");
    if let Some(key) = key {
        request = request.bearer_auth(&key.secret);
    }
    // A dedicated signing secret when there is one; else the API key (which
    // the service also receives as the bearer token: whoever sees one
    // request can sign others, hence the warning).
    let signing_key = match (&service.signing_secret, key) {
        (Some(secret), _) => Some(secret.as_str()),
        (None, Some(key)) => {
            if settings.sign && !WEAK_SIGNING_WARNED.swap(true, Ordering::Relaxed) {
                tracing::warn!(
                    service = %service.name,
                    "AI requests are signed with the service's API key: set ai.signing_secret \
                     (CHATBOT_AI_SIGNING_SECRET) for a dedicated signing key"
                );
            }
            Some(key.secret.as_str())
        }
        (None, None) => None,
    };
    if settings.sign
        && let Some(signing_key) = signing_key
    {
        let headers = signing::sign(
            signing_key,
            "POST",
            path,
            signing::unix_now(),
            &signing::new_nonce(),
            bytes,
        );
        for (name, value) in headers {
            request = request.header(name, value);
        }
    }
    let response = request
        .body(bytes.to_vec())
        .send()
        .await
        .map_err(|e| classify(&e))?;
    let status = response.status().as_u16();
    if !(200..300).contains(&status) {
        let body = read_capped(response, 4096).await.unwrap_or_default();
        let message: String = String::from_utf8_lossy(&body).chars().take(200).collect();
        return Err(CallError::Status { status, message });
    }
    let body = read_capped(response, settings.max_response_bytes).await?;
    serde_json::from_slice(&body).map_err(|e| CallError::Invalid(format!("not JSON: {e}")))
}

/// The default wait when nothing else is configured.
pub const DEFAULT_BACKOFF_CAP: Duration = Duration::from_secs(5);
