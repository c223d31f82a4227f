//! Observability: the Prometheus recorder behind `GET /metrics`, and the
//! per-request middleware (request id in `x-request-id`, a tracing span,
//! HTTP latency and status metrics).
//!
//! Metric names (all prefixed `switchboard_`): `http_requests_total`,
//! `http_request_duration_seconds` (method, route, status);
//! `query_duration_seconds` (intent, outcome), `queries_total` (tenant,
//! outcome), `query_confidence`; `interpretation_duration_seconds`
//! (interpreter); `plugin_call_duration_seconds` (plugin, outcome),
//! `plugin_failures_total` (plugin, code), `plugin_breaker_open` (plugin);
//! `db_write_duration_seconds` (operation); `feedback_rating`; external
//! AI services: `ai_request_duration_seconds` (service),
//! `ai_requests_total` (service, outcome), `ai_errors_total` (service,
//! kind), `ai_retries_total` (service, kind), `ai_fallbacks_total`
//! (service, reason), `ai_breaker_open` (service),
//! `ai_previous_key_used_total` (service), `ai_cache_total` (result);
//! storage: `group_commit_size` (records per commit),
//! `group_commit_duration_seconds`, `wal_checkpoint_duration_seconds`.

use std::sync::OnceLock;
use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::Response;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tracing::Instrument;

const LATENCY_BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Buckets of `switchboard_group_commit_size`: records per group commit,
/// up to the writer's batch limit of 256.
const COMMIT_SIZE_BUCKETS: [f64; 9] = [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0];

/// The process-wide recorder's handle (installed on first use).
pub fn metrics_handle() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let builder = || {
            PrometheusBuilder::new()
                .set_buckets(&LATENCY_BUCKETS)
                .and_then(|b| {
                    b.set_buckets_for_metric(
                        Matcher::Full("switchboard_query_confidence".into()),
                        &[0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 1.0],
                    )
                })
                .and_then(|b| {
                    b.set_buckets_for_metric(
                        Matcher::Full("switchboard_feedback_rating".into()),
                        &[1.0, 2.0, 3.0, 4.0, 5.0],
                    )
                })
                .and_then(|b| {
                    // Records per commit (1 to 256), not seconds.
                    b.set_buckets_for_metric(
                        Matcher::Full("switchboard_group_commit_size".into()),
                        &COMMIT_SIZE_BUCKETS,
                    )
                })
        };
        match builder().and_then(PrometheusBuilder::install_recorder) {
            Ok(handle) => handle,
            Err(error) => {
                // Another recorder is installed (e.g. by an embedding
                // application): render an empty one rather than fail.
                tracing::warn!(%error, "metrics recorder not installed");
                PrometheusBuilder::new().build_recorder().handle()
            }
        }
    })
}

/// Request id, span and HTTP metrics for every request.
pub async fn track(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let id = request
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty() && v.len() <= 128 && v.chars().all(|c| c.is_ascii_graphic()))
        .map_or_else(|| uuid::Uuid::new_v4().to_string(), str::to_owned);
    let method = request.method().as_str().to_owned();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let span = tracing::info_span!("request", request_id = %id, %method, %route);
    let mut response = next.run(request).instrument(span.clone()).await;
    let status = response.status().as_u16().to_string();
    let elapsed = started.elapsed().as_secs_f64();
    span.in_scope(|| tracing::debug!(%status, elapsed_ms = elapsed * 1000.0, "request done"));
    metrics::counter!("switchboard_http_requests_total", "method" => method.clone(), "route" => route.clone(), "status" => status.clone()).increment(1);
    metrics::histogram!("switchboard_http_request_duration_seconds", "method" => method, "route" => route, "status" => status).record(elapsed);
    if let Ok(v) = HeaderValue::from_str(&id) {
        response.headers_mut().insert("x-request-id", v);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Group commit sizes are counted in records, not in the latency
    /// buckets (which would put every batch of more than ten records in
    /// the same bucket).
    #[test]
    fn group_commit_sizes_have_buckets_of_their_own() {
        let handle = metrics_handle();
        metrics::histogram!("switchboard_group_commit_size").record(3.0);
        let text = handle.render();
        assert!(
            text.contains("switchboard_group_commit_size_bucket{le=\"4\"}"),
            "{text}"
        );
        assert!(
            !text.contains("switchboard_group_commit_size_bucket{le=\"0.0005\"}"),
            "{text}"
        );
    }

    /// The last bucket is the writer's batch limit, so a change to one
    /// cannot leave the other behind.
    #[test]
    fn commit_size_buckets_end_at_the_writer_batch_limit() {
        assert_eq!(
            COMMIT_SIZE_BUCKETS.last().copied(),
            Some(crate::store::writer::MAX_BATCH as f64)
        );
    }
}
