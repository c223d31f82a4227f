//! The chatbot's records: queries, feedback, proposed actions and AI
//! service configurations. Every function takes the caller's tenant and
//! scopes its SQL to it, so no call can reveal another tenant's row.

use sqlx::Row;
use sqlx::any::AnyRow;

use super::{Db, StoreError};
use crate::TenantId;

/// The current time, RFC 3339 UTC with milliseconds (sorts as text).
pub fn now_text() -> String {
    stamp(chrono::Utc::now())
}

/// A time in the stored format (RFC 3339 to the millisecond, UTC), which
/// sorts as text in time order.
fn stamp(at: chrono::DateTime<chrono::Utc>) -> String {
    at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// A new id.
pub fn new_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// A query to record.
#[derive(Debug, Clone)]
pub struct NewQuery {
    /// Its id.
    pub query_id: String,
    /// The tenant.
    pub tenant: TenantId,
    /// The user.
    pub user_id: String,
    /// The conversation, if any.
    pub conversation_id: Option<String>,
    /// The agent's text.
    pub text: String,
    /// The answer.
    pub response_text: String,
    /// JSON data, as text.
    pub structured_data: String,
    /// The intent.
    pub intent: String,
    /// Confidence.
    pub confidence: f64,
    /// Seconds it took.
    pub processing_time: f64,
    /// `answered`, `refused`, `failed`, ...
    pub status: String,
    /// Which interpreter understood it.
    pub interpreter: String,
    /// When.
    pub created_at: String,
}

/// A proposed action to record with its query.
#[derive(Debug, Clone)]
pub struct NewAction {
    /// Its id.
    pub action_id: String,
    /// The intent that proposed it.
    pub intent: String,
    /// The plugin that will execute it.
    pub plugin: String,
    /// The action name.
    pub action: String,
    /// JSON parameters, as text.
    pub parameters: String,
    /// What confirming does.
    pub summary: String,
    /// Permission needed to confirm.
    pub permission: String,
    /// When it expires.
    pub expires_at: String,
}

/// Records a query (and its proposed action) in one transaction, which it
/// may share with other requests' records (group commit, see
/// [`super::writer`]); returns once they are committed.
pub async fn insert_query(
    db: &Db,
    q: &NewQuery,
    action: Option<&NewAction>,
) -> Result<(), StoreError> {
    // When the writer task is gone (its runtime shut down), write here.
    if let Some(writer) = db.writer()
        && let Some(outcome) = writer.write(q.clone(), action.cloned()).await
    {
        return outcome;
    }
    let mut tx = db.begin_write().await?;
    write_query(&mut tx, q, action).await?;
    tx.commit().await?;
    Ok(())
}

const INSERT_QUERY: &str = "INSERT INTO chatbot_queries (query_id, tenant_id, user_id, conversation_id, text, response_text, structured_data, intent, confidence, processing_time, status, interpreter, created_at) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)";

const INSERT_ACTION: &str = "INSERT INTO chatbot_actions (action_id, query_id, tenant_id, user_id, intent, plugin, action, parameters, summary, permission, status, result, created_at, updated_at, expires_at) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 'pending', NULL, $11, $11, $12)";

/// Inserts a query and its action inside `tx`, on a direct SQLite
/// connection (the writer thread's; see [`super::direct`]).
pub(super) fn write_query_sqlite(
    tx: &rusqlite::Transaction<'_>,
    q: &NewQuery,
    action: Option<&NewAction>,
) -> Result<(), rusqlite::Error> {
    tx.prepare_cached(INSERT_QUERY)?.execute(rusqlite::params![
        q.query_id,
        q.tenant.get(),
        q.user_id,
        q.conversation_id,
        q.text,
        q.response_text,
        q.structured_data,
        q.intent,
        q.confidence,
        q.processing_time,
        q.status,
        q.interpreter,
        q.created_at,
    ])?;
    if let Some(a) = action {
        tx.prepare_cached(INSERT_ACTION)?
            .execute(rusqlite::params![
                a.action_id,
                q.query_id,
                q.tenant.get(),
                q.user_id,
                a.intent,
                a.plugin,
                a.action,
                a.parameters,
                a.summary,
                a.permission,
                q.created_at,
                a.expires_at,
            ])?;
    }
    Ok(())
}

/// Inserts a query and its action inside `tx`.
pub(super) async fn write_query(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    q: &NewQuery,
    action: Option<&NewAction>,
) -> Result<(), sqlx::Error> {
    sqlx::query(INSERT_QUERY)
        .bind(&q.query_id)
        .bind(q.tenant.get())
        .bind(&q.user_id)
        .bind(q.conversation_id.clone())
        .bind(&q.text)
        .bind(&q.response_text)
        .bind(&q.structured_data)
        .bind(&q.intent)
        .bind(q.confidence)
        .bind(q.processing_time)
        .bind(&q.status)
        .bind(&q.interpreter)
        .bind(&q.created_at)
        .execute(&mut **tx)
        .await?;
    if let Some(a) = action {
        sqlx::query(INSERT_ACTION)
            .bind(&a.action_id)
            .bind(&q.query_id)
            .bind(q.tenant.get())
            .bind(&q.user_id)
            .bind(&a.intent)
            .bind(&a.plugin)
            .bind(&a.action)
            .bind(&a.parameters)
            .bind(&a.summary)
            .bind(&a.permission)
            .bind(&q.created_at)
            .bind(&a.expires_at)
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

/// The texts of a conversation's newest `limit` queries, oldest first.
pub async fn conversation_texts(
    db: &Db,
    tenant: TenantId,
    user_id: &str,
    conversation_id: &str,
    limit: usize,
) -> Result<Vec<String>, StoreError> {
    let rows = sqlx::query(
        "SELECT text FROM chatbot_queries WHERE tenant_id = $1 AND user_id = $2 AND conversation_id = $3 \
         ORDER BY created_at DESC, query_id DESC LIMIT $4",
    )
    .bind(tenant.get())
    .bind(user_id)
    .bind(conversation_id)
    .bind(limit as i64)
    .fetch_all(db.pool())
    .await?;
    let mut texts: Vec<String> = rows
        .iter()
        .map(|r| r.try_get::<String, _>(0))
        .collect::<Result<_, _>>()?;
    texts.reverse();
    Ok(texts)
}

/// A page of a user's history.
#[derive(Debug, Clone)]
pub struct HistoryRow {
    /// Id.
    pub query_id: String,
    /// Text.
    pub text: String,
    /// Answer.
    pub response_text: String,
    /// When.
    pub timestamp: String,
    /// Feedback rating, if any.
    pub rating: Option<i64>,
}

/// The caller's queries, newest first, and how many there are.
pub async fn history(
    db: &Db,
    tenant: TenantId,
    user_id: &str,
    page: u32,
    page_size: u32,
) -> Result<(Vec<HistoryRow>, i64), StoreError> {
    let total: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM chatbot_queries WHERE tenant_id = $1 AND user_id = $2",
    )
    .bind(tenant.get())
    .bind(user_id)
    .fetch_one(db.pool())
    .await?;
    let offset = i64::from(page.saturating_sub(1)) * i64::from(page_size);
    let rows = sqlx::query(
        "SELECT q.query_id, q.text, q.response_text, q.created_at, f.rating FROM chatbot_queries q \
         LEFT JOIN chatbot_feedback f ON f.query_id = q.query_id AND f.tenant_id = q.tenant_id \
         WHERE q.tenant_id = $1 AND q.user_id = $2 ORDER BY q.created_at DESC, q.query_id DESC LIMIT $3 OFFSET $4",
    )
    .bind(tenant.get())
    .bind(user_id)
    .bind(i64::from(page_size))
    .bind(offset)
    .fetch_all(db.pool())
    .await?;
    let rows = rows
        .iter()
        .map(|r: &AnyRow| {
            Ok(HistoryRow {
                query_id: r.try_get(0)?,
                text: r.try_get(1)?,
                response_text: r.try_get(2)?,
                timestamp: r.try_get(3)?,
                rating: r.try_get(4)?,
            })
        })
        .collect::<Result<Vec<_>, sqlx::Error>>()?;
    Ok((rows, total))
}

/// Whether a query exists in the tenant.
pub async fn query_exists(db: &Db, tenant: TenantId, query_id: &str) -> Result<bool, StoreError> {
    let n: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM chatbot_queries WHERE tenant_id = $1 AND query_id = $2",
    )
    .bind(tenant.get())
    .bind(query_id)
    .fetch_one(db.pool())
    .await?;
    Ok(n > 0)
}

/// Outcome of recording feedback.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FeedbackOutcome {
    /// Recorded.
    Recorded,
    /// The query already has feedback.
    Duplicate,
}

/// Records feedback on a query of the tenant (checked by the caller).
#[allow(clippy::too_many_arguments)]
pub async fn insert_feedback(
    db: &Db,
    tenant: TenantId,
    feedback_id: &str,
    query_id: &str,
    user_id: &str,
    rating: i64,
    comments: Option<&str>,
    created_at: &str,
) -> Result<FeedbackOutcome, StoreError> {
    let existing: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM chatbot_feedback WHERE query_id = $1")
            .bind(query_id)
            .fetch_one(db.pool())
            .await?;
    if existing > 0 {
        return Ok(FeedbackOutcome::Duplicate);
    }
    let result = sqlx::query(
        "INSERT INTO chatbot_feedback (feedback_id, query_id, tenant_id, user_id, rating, comments, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(feedback_id)
    .bind(query_id)
    .bind(tenant.get())
    .bind(user_id)
    .bind(rating)
    .bind(comments.map(str::to_owned))
    .bind(created_at)
    .execute(db.pool())
    .await;
    match result {
        Ok(_) => Ok(FeedbackOutcome::Recorded),
        // A concurrent insert won the race for the unique query_id.
        Err(sqlx::Error::Database(e)) if e.is_unique_violation() => Ok(FeedbackOutcome::Duplicate),
        Err(e) => Err(e.into()),
    }
}

/// A stored action.
#[derive(Debug, Clone)]
pub struct ActionRow {
    /// Id.
    pub action_id: String,
    /// The query that proposed it.
    pub query_id: String,
    /// Intent.
    pub intent: String,
    /// Plugin.
    pub plugin: String,
    /// Action name.
    pub action: String,
    /// JSON parameters.
    pub parameters: String,
    /// Summary.
    pub summary: String,
    /// Permission to confirm.
    pub permission: String,
    /// Status.
    pub status: String,
    /// Expiry.
    pub expires_at: String,
}

/// An action of the tenant.
pub async fn get_action(
    db: &Db,
    tenant: TenantId,
    action_id: &str,
) -> Result<Option<ActionRow>, StoreError> {
    let row = sqlx::query(
        "SELECT action_id, query_id, intent, plugin, action, parameters, summary, permission, status, expires_at \
         FROM chatbot_actions WHERE tenant_id = $1 AND action_id = $2",
    )
    .bind(tenant.get())
    .bind(action_id)
    .fetch_optional(db.pool())
    .await?;
    row.map(|r| {
        Ok(ActionRow {
            action_id: r.try_get(0)?,
            query_id: r.try_get(1)?,
            intent: r.try_get(2)?,
            plugin: r.try_get(3)?,
            action: r.try_get(4)?,
            parameters: r.try_get(5)?,
            summary: r.try_get(6)?,
            permission: r.try_get(7)?,
            status: r.try_get(8)?,
            expires_at: r.try_get(9)?,
        })
    })
    .transpose()
    .map_err(|e: sqlx::Error| e.into())
}

/// How long an action may stay `executing` before it is taken to have been
/// interrupted: longer than an `execute` can run even at the largest
/// deadline (60 s) with every write-conflict retry, so a replica does not
/// sweep another's live call. Should one outlive it anyway, its outcome
/// still replaces `interrupted` when it arrives.
pub const STUCK_AFTER: std::time::Duration = std::time::Duration::from_secs(900);

/// Marks every action (of any tenant) that has been `executing` since
/// before `cutoff` as `interrupted`: the engine that carried it out stopped
/// (a crash, a kill, a lost database) before recording the outcome, so
/// whether the change was made is unknown. Returns how many were marked.
pub async fn interrupt_stuck_actions(db: &Db, cutoff: &str) -> Result<u64, StoreError> {
    let result = serde_json::json!({
        "error": "interrupted: the engine stopped before it recorded the outcome, so whether the change was made is unknown; check before asking again"
    })
    .to_string();
    let done = sqlx::query(
        "UPDATE chatbot_actions SET status = 'interrupted', result = $1, updated_at = $2 \
         WHERE status = 'executing' AND updated_at < $3",
    )
    .bind(result)
    .bind(now_text())
    .bind(cutoff.to_owned())
    .execute(db.pool())
    .await?;
    Ok(done.rows_affected())
}

/// The timestamp `age` ago, in the stored format.
pub fn text_before(age: std::time::Duration) -> String {
    let age = chrono::Duration::from_std(age).unwrap_or(chrono::Duration::MAX);
    let at = chrono::Utc::now()
        .checked_sub_signed(age)
        .unwrap_or(chrono::DateTime::<chrono::Utc>::MIN_UTC);
    stamp(at)
}

/// Moves an action from `from` to `to`; false when it was not in `from`
/// (someone else got there first).
pub async fn transition_action(
    db: &Db,
    tenant: TenantId,
    action_id: &str,
    from: &str,
    to: &str,
    result: Option<&str>,
) -> Result<bool, StoreError> {
    let done = sqlx::query(
        "UPDATE chatbot_actions SET status = $1, result = COALESCE($2, result), updated_at = $3 \
         WHERE tenant_id = $4 AND action_id = $5 AND status = $6",
    )
    .bind(to)
    .bind(result.map(str::to_owned))
    .bind(now_text())
    .bind(tenant.get())
    .bind(action_id)
    .bind(from)
    .execute(db.pool())
    .await?;
    Ok(done.rows_affected() == 1)
}
