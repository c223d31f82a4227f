//! `GET /api/v1/chatbot/analytics`: how the assistant is used in a time
//! window, for the caller's own tenant (admin or analyst role): queries
//! per minute, by intent, by user and by outcome, average confidence and
//! rating per intent, and the lowest-confidence and lowest-rated queries,
//! the list an admin turns into `[nlu]` training data.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use chrono::{DateTime, Duration, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::AppState;
use super::error::{ApiError, ErrorBody};
use super::extract::{ApiQuery, Auth};
use crate::store::analytics::{self, QuerySample, Window};

/// The longest window one request may cover.
const MAX_WINDOW_DAYS: i64 = 31;

/// The window and list size (query parameters).
#[derive(Debug, Clone, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AnalyticsParams {
    /// Start (RFC 3339, inclusive; default: 24 hours before `to`). Must
    /// be before `to`, and the window at most 31 days.
    #[param(value_type = String, format = DateTime, required = false)]
    pub from: Option<String>,
    /// End (RFC 3339, exclusive; default: now).
    #[param(value_type = String, format = DateTime, required = false)]
    pub to: Option<String>,
    /// Size of the lowest-confidence and lowest-rated lists (default 20,
    /// at most 100).
    #[param(value_type = i32, required = false, minimum = 1, maximum = 100)]
    pub limit: Option<u32>,
}

/// Queries in one minute.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct MinuteBucket {
    /// `YYYY-MM-DDTHH:MM` (UTC).
    pub minute: String,
    /// Queries.
    pub queries: i64,
}

/// Figures for one intent.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct IntentFigures {
    /// The intent (`none`: out of scope).
    pub intent: String,
    /// Queries.
    pub queries: i64,
    /// Mean confidence.
    pub average_confidence: f64,
    /// Mean rating (null when nobody rated).
    pub average_rating: Option<f64>,
    /// Ratings given.
    pub ratings: i64,
}

/// Queries by user.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct UserFigures {
    /// The user.
    pub user_id: String,
    /// Queries.
    pub queries: i64,
}

/// Queries by outcome.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct StatusFigures {
    /// `answered`, `plugin_message`, `out_of_scope`, `not_sure`,
    /// `missing_entities`, `forbidden`, `plugin_failed`.
    pub status: String,
    /// Queries.
    pub queries: i64,
    /// Share of all queries in the window.
    pub rate: f64,
}

/// One query of a list.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct QueryFigures {
    /// Id.
    pub query_id: String,
    /// What was asked.
    pub text: String,
    /// The intent understood.
    pub intent: String,
    /// Its confidence.
    pub confidence: f64,
    /// The outcome.
    pub status: String,
    /// Rating, when rated.
    pub rating: Option<i64>,
    /// The rater's comment.
    pub comments: Option<String>,
    /// When.
    pub timestamp: String,
}

impl From<QuerySample> for QueryFigures {
    fn from(s: QuerySample) -> Self {
        Self {
            query_id: s.query_id,
            text: s.text,
            intent: s.intent,
            confidence: s.confidence,
            status: s.status,
            rating: s.rating,
            comments: s.comments,
            timestamp: s.created_at,
        }
    }
}

/// The analytics of a window.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AnalyticsResponse {
    /// Window start (inclusive).
    pub from: String,
    /// Window end (exclusive).
    pub to: String,
    /// Queries in the window.
    pub total_queries: i64,
    /// Per minute with queries, oldest first.
    pub queries_per_minute: Vec<MinuteBucket>,
    /// Per intent, busiest first.
    pub by_intent: Vec<IntentFigures>,
    /// Per user, busiest first.
    pub by_user: Vec<UserFigures>,
    /// Per outcome, with its rate: the error rates by type.
    pub by_status: Vec<StatusFigures>,
    /// Lowest confidence first: candidates for new training utterances.
    pub lowest_confidence: Vec<QueryFigures>,
    /// Lowest rating first.
    pub lowest_rated: Vec<QueryFigures>,
}

fn parse_time(field: &str, value: &str) -> Result<DateTime<Utc>, ApiError> {
    DateTime::parse_from_rfc3339(value)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| {
            ApiError::invalid_field(
                field,
                format!("`{value}` is not an RFC 3339 time such as 2026-11-25T14:00:00Z"),
            )
        })
}

fn stored(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Usage analytics of the caller's tenant (admin or analyst role).
#[utoipa::path(
    get, path = "/api/v1/chatbot/analytics", tag = "chatbot",
    params(AnalyticsParams),
    responses(
        (status = 200, body = AnalyticsResponse), (status = 401, body = ErrorBody),
        (status = 403, description = "Neither admin nor analyst", body = ErrorBody),
        (status = 422, description = "Invalid window or limit", body = ErrorBody),
        (status = 503, description = "Database unavailable", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn analytics(
    State(state): State<Arc<AppState>>,
    Auth(caller): Auth,
    ApiQuery(params): ApiQuery<AnalyticsParams>,
) -> Result<Json<AnalyticsResponse>, ApiError> {
    if !matches!(caller.role.as_str(), "admin" | "analyst") {
        return Err(ApiError::forbidden("the admin or analyst role is required"));
    }
    let to = match &params.to {
        Some(v) => parse_time("to", v)?,
        None => Utc::now(),
    };
    let from = match &params.from {
        Some(v) => parse_time("from", v)?,
        None => to - Duration::hours(24),
    };
    if from >= to {
        return Err(ApiError::invalid_field("from", "must be before `to`"));
    }
    if to - from > Duration::days(MAX_WINDOW_DAYS) {
        return Err(ApiError::invalid_field(
            "from",
            format!("the window may cover at most {MAX_WINDOW_DAYS} days"),
        ));
    }
    let limit = params.limit.unwrap_or(20);
    if !(1..=100).contains(&limit) {
        return Err(ApiError::invalid_field(
            "limit",
            "must be between 1 and 100",
        ));
    }
    let window = Window {
        from: stored(from),
        to: stored(to),
    };
    let a = analytics::compute(&state.db, caller.tenant, &window, i64::from(limit)).await?;
    let total = a.total;
    Ok(Json(AnalyticsResponse {
        from: window.from,
        to: window.to,
        total_queries: total,
        queries_per_minute: a
            .per_minute
            .into_iter()
            .map(|m| MinuteBucket {
                minute: m.minute,
                queries: m.queries,
            })
            .collect(),
        by_intent: a
            .by_intent
            .into_iter()
            .map(|i| IntentFigures {
                intent: i.intent,
                queries: i.queries,
                average_confidence: i.average_confidence,
                average_rating: i.average_rating,
                ratings: i.ratings,
            })
            .collect(),
        by_user: a
            .by_user
            .into_iter()
            .map(|u| UserFigures {
                user_id: u.key,
                queries: u.queries,
            })
            .collect(),
        by_status: a
            .by_status
            .into_iter()
            .map(|s| StatusFigures {
                rate: if total > 0 {
                    s.queries as f64 / total as f64
                } else {
                    0.0
                },
                status: s.key,
                queries: s.queries,
            })
            .collect(),
        lowest_confidence: a.lowest_confidence.into_iter().map(Into::into).collect(),
        lowest_rated: a.lowest_rated.into_iter().map(Into::into).collect(),
    }))
}
