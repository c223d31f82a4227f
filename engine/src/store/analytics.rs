//! Aggregates over a tenant's recorded queries and feedback for a time
//! window: what an admin reads to see how the assistant is used and which
//! phrasings it misunderstands. Every statement is scoped to one tenant.

use sqlx::Row;
use sqlx::any::AnyRow;

use super::{Db, StoreError};
use crate::TenantId;

/// A half-open window `[from, to)` of RFC 3339 UTC timestamps in the
/// format the engine stores (`2026-11-25T14:03:07.123Z`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Window {
    /// Inclusive start.
    pub from: String,
    /// Exclusive end.
    pub to: String,
}

/// Queries in one minute.
#[derive(Debug, Clone, PartialEq)]
pub struct MinuteCount {
    /// `YYYY-MM-DDTHH:MM`.
    pub minute: String,
    /// Queries.
    pub queries: i64,
}

/// Figures for one intent.
#[derive(Debug, Clone, PartialEq)]
pub struct IntentStats {
    /// The intent (`none` for out of scope).
    pub intent: String,
    /// Queries.
    pub queries: i64,
    /// Mean confidence.
    pub average_confidence: f64,
    /// Mean feedback rating, when any was given.
    pub average_rating: Option<f64>,
    /// Feedback given.
    pub ratings: i64,
}

/// A count under a key (user, status).
#[derive(Debug, Clone, PartialEq)]
pub struct KeyCount {
    /// The key.
    pub key: String,
    /// Queries.
    pub queries: i64,
}

/// One query of a "worst" list.
#[derive(Debug, Clone, PartialEq)]
pub struct QuerySample {
    /// Id.
    pub query_id: String,
    /// What the agent asked.
    pub text: String,
    /// The intent understood.
    pub intent: String,
    /// Its confidence.
    pub confidence: f64,
    /// How it ended.
    pub status: String,
    /// Rating, when rated.
    pub rating: Option<i64>,
    /// The rater's comment.
    pub comments: Option<String>,
    /// When.
    pub created_at: String,
}

/// Everything the analytics endpoint reports.
#[derive(Debug, Clone, PartialEq)]
pub struct Analytics {
    /// Queries in the window.
    pub total: i64,
    /// Per minute, oldest first (minutes without queries are absent).
    pub per_minute: Vec<MinuteCount>,
    /// Per intent, busiest first.
    pub by_intent: Vec<IntentStats>,
    /// Per user, busiest first.
    pub by_user: Vec<KeyCount>,
    /// Per outcome (`answered`, `out_of_scope`, `plugin_failed`, ...).
    pub by_status: Vec<KeyCount>,
    /// Lowest confidence first.
    pub lowest_confidence: Vec<QuerySample>,
    /// Lowest rating first.
    pub lowest_rated: Vec<QuerySample>,
}

fn key_counts(rows: &[AnyRow]) -> Result<Vec<KeyCount>, sqlx::Error> {
    rows.iter()
        .map(|r| {
            Ok(KeyCount {
                key: r.try_get(0)?,
                queries: r.try_get(1)?,
            })
        })
        .collect()
}

/// Reads rows selected as `q.query_id, q.text, q.intent, q.confidence,
/// q.status, f.rating, f.comments, q.created_at`.
fn samples(rows: &[AnyRow]) -> Result<Vec<QuerySample>, sqlx::Error> {
    rows.iter()
        .map(|r| {
            Ok(QuerySample {
                query_id: r.try_get(0)?,
                text: r.try_get(1)?,
                intent: r.try_get(2)?,
                confidence: r.try_get(3)?,
                status: r.try_get(4)?,
                rating: r.try_get(5)?,
                comments: r.try_get(6)?,
                created_at: r.try_get(7)?,
            })
        })
        .collect()
}

/// Computes the analytics of `tenant` over `window`; the two lists hold at
/// most `limit` queries each.
pub async fn compute(
    db: &Db,
    tenant: TenantId,
    window: &Window,
    limit: i64,
) -> Result<Analytics, StoreError> {
    let pool = db.pool();
    // Every statement is scoped by `$1` tenant, `$2` from and `$3` to.
    let scoped = |sql: &'static str| {
        sqlx::query(sql)
            .bind(tenant.get())
            .bind(window.from.clone())
            .bind(window.to.clone())
    };
    let total: i64 = scoped(
        "SELECT COUNT(*) FROM chatbot_queries q \
         WHERE q.tenant_id = $1 AND q.created_at >= $2 AND q.created_at < $3",
    )
    .fetch_one(pool)
    .await?
    .try_get(0)?;

    let minutes = scoped(
        "SELECT SUBSTR(q.created_at, 1, 16) AS minute, COUNT(*) FROM chatbot_queries q \
         WHERE q.tenant_id = $1 AND q.created_at >= $2 AND q.created_at < $3 \
         GROUP BY SUBSTR(q.created_at, 1, 16) ORDER BY minute",
    )
    .fetch_all(pool)
    .await?;
    let per_minute = minutes
        .iter()
        .map(|r| {
            Ok(MinuteCount {
                minute: r.try_get(0)?,
                queries: r.try_get(1)?,
            })
        })
        .collect::<Result<Vec<_>, sqlx::Error>>()?;

    // AVG of a BIGINT is NUMERIC on PostgreSQL, which `Any` cannot decode:
    // average doubles instead.
    let intents = scoped(
        "SELECT q.intent, COUNT(*), CAST(AVG(q.confidence) AS DOUBLE PRECISION), \
         CAST(AVG(CAST(f.rating AS DOUBLE PRECISION)) AS DOUBLE PRECISION), COUNT(f.rating) \
         FROM chatbot_queries q LEFT JOIN chatbot_feedback f ON f.query_id = q.query_id AND f.tenant_id = q.tenant_id \
         WHERE q.tenant_id = $1 AND q.created_at >= $2 AND q.created_at < $3 \
         GROUP BY q.intent ORDER BY COUNT(*) DESC, q.intent",
    )
    .fetch_all(pool)
    .await?;
    let by_intent = intents
        .iter()
        .map(|r| {
            Ok(IntentStats {
                intent: r.try_get(0)?,
                queries: r.try_get(1)?,
                average_confidence: r.try_get(2)?,
                average_rating: r.try_get(3)?,
                ratings: r.try_get(4)?,
            })
        })
        .collect::<Result<Vec<_>, sqlx::Error>>()?;

    let users = scoped(
        "SELECT q.user_id, COUNT(*) FROM chatbot_queries q \
         WHERE q.tenant_id = $1 AND q.created_at >= $2 AND q.created_at < $3 \
         GROUP BY q.user_id ORDER BY COUNT(*) DESC, q.user_id",
    )
    .fetch_all(pool)
    .await?;
    let statuses = scoped(
        "SELECT q.status, COUNT(*) FROM chatbot_queries q \
         WHERE q.tenant_id = $1 AND q.created_at >= $2 AND q.created_at < $3 \
         GROUP BY q.status ORDER BY COUNT(*) DESC, q.status",
    )
    .fetch_all(pool)
    .await?;

    let lowest_confidence = scoped(
        "SELECT q.query_id, q.text, q.intent, q.confidence, q.status, f.rating, f.comments, q.created_at \
         FROM chatbot_queries q \
         LEFT JOIN chatbot_feedback f ON f.query_id = q.query_id AND f.tenant_id = q.tenant_id \
         WHERE q.tenant_id = $1 AND q.created_at >= $2 AND q.created_at < $3 \
         ORDER BY q.confidence, q.created_at DESC, q.query_id LIMIT $4",
    )
    .bind(limit)
    .fetch_all(pool)
    .await?;
    let lowest_rated = scoped(
        "SELECT q.query_id, q.text, q.intent, q.confidence, q.status, f.rating, f.comments, q.created_at \
         FROM chatbot_queries q \
         JOIN chatbot_feedback f ON f.query_id = q.query_id AND f.tenant_id = q.tenant_id \
         WHERE q.tenant_id = $1 AND q.created_at >= $2 AND q.created_at < $3 \
         ORDER BY f.rating, q.created_at DESC, q.query_id LIMIT $4",
    )
    .bind(limit)
    .fetch_all(pool)
    .await?;

    Ok(Analytics {
        total,
        per_minute,
        by_intent,
        by_user: key_counts(&users)?,
        by_status: key_counts(&statuses)?,
        lowest_confidence: samples(&lowest_confidence)?,
        lowest_rated: samples(&lowest_rated)?,
    })
}
