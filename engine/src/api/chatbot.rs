//! The chatbot endpoints: query, feedback, history, and confirming or
//! cancelling a proposed action.

use std::sync::Arc;
use std::time::Instant;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::{Value as Json_, json};
use utoipa::{IntoParams, ToSchema};

use super::AppState;
use super::error::{ApiError, ErrorBody};
use super::extract::{ApiJson, ApiQuery, Auth};
use crate::ai::{SelectError, Selection};
use crate::auth::Caller;
use crate::plugins::{ActionCall, CallContext, DispatchError, FailureCode, ReportedKind};
use crate::query::Status;
use crate::store::records::{self, FeedbackOutcome, NewAction, NewQuery};

/// An earlier query of the conversation.
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct PreviousQuery {
    /// Its id, if it was asked through this API.
    #[serde(default)]
    pub query_id: Option<String>,
    /// Its text.
    pub text: String,
    /// When it was asked.
    #[serde(default)]
    pub timestamp: Option<String>,
}

/// The conversation around a query.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
pub struct QueryContext {
    /// Earlier queries, newest last.
    #[serde(default)]
    pub previous_queries: Vec<PreviousQuery>,
    /// Free-form context from the front end; it never grants anything.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub user_context: Option<Json_>,
}

/// A question from an agent.
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct QueryRequest {
    /// The question: at most `CHATBOT_MAX_QUERY_LENGTH` characters (the
    /// served document shows the configured limit), not blank, without
    /// control characters other than tabs and line breaks.
    #[schema(
        min_length = 1,
        max_length = 500,
        pattern = "^[^\\u0000-\\u0008\\u000B\\u000C\\u000E-\\u001F\\u007F-\\u009F]*[^\\s\\u0000-\\u001F\\u007F-\\u009F][^\\u0000-\\u0008\\u000B\\u000C\\u000E-\\u001F\\u007F-\\u009F]*$"
    )]
    pub text: String,
    /// Earlier queries.
    #[serde(default)]
    pub context: Option<QueryContext>,
    /// Must match the token's subject when given.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub user_id: Option<Json_>,
    /// Must match the token's tenant when given.
    #[serde(default)]
    #[schema(value_type = Option<i64>)]
    pub tenant_id: Option<Json_>,
    /// Follow-ups without sending history: the server uses this
    /// conversation's recent queries. 1 to 200 characters, without control
    /// characters other than tabs and line breaks.
    #[serde(default)]
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = "^[^\\u0000-\\u0008\\u000B\\u000C\\u000E-\\u001F\\u007F-\\u009F]*$"
    )]
    pub conversation_id: Option<String>,
    /// The AI service (a configuration's name) to interpret with;
    /// `embedded` for the embedded NLU. Default: the tenant's default
    /// configuration, else the configured service, else the embedded NLU.
    /// 1 to 100 characters, without control characters other than tabs
    /// and line breaks.
    #[serde(default)]
    #[schema(
        min_length = 1,
        max_length = 100,
        pattern = "^[^\\u0000-\\u0008\\u000B\\u000C\\u000E-\\u001F\\u007F-\\u009F]*$"
    )]
    pub ai_service: Option<String>,
}

/// A suggested next step.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SuggestedActionBody {
    /// What to do.
    pub action: String,
    /// Its parameters.
    #[schema(value_type = Object)]
    pub parameters: Json_,
    /// Label.
    pub description: String,
}

/// A proposed change waiting for confirmation.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PendingAction {
    /// Confirm with `POST /api/v1/chatbot/actions/{action_id}/confirm`.
    pub action_id: String,
    /// What confirming does.
    pub summary: String,
    /// `pending`.
    pub status: String,
    /// When it can no longer be confirmed.
    pub expires_at: String,
}

/// The answer.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct QueryResponse {
    /// The recorded query's id.
    pub query_id: String,
    /// Text for the agent.
    pub response_text: String,
    /// Structured data, shape per intent.
    #[schema(value_type = Object)]
    pub structured_data: Json_,
    /// Confidence in [0, 1].
    pub confidence: f32,
    /// Seconds taken.
    pub processing_time: f64,
    /// Next steps.
    pub suggested_actions: Vec<SuggestedActionBody>,
    /// The intent understood.
    pub intent: String,
    /// Entities used.
    #[schema(value_type = Object)]
    pub entities: Json_,
    /// Which interpreter understood the query: `embedded`, or
    /// `BACKEND:SERVICE` (e.g. `http:primary`) for an AI service.
    pub interpreter: String,
    /// Present when an AI service was chosen but failed (or its circuit
    /// is open) and the embedded NLU answered: `reason: detail`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fallback_reason: Option<String>,
    /// The conversation, when one was given.
    pub conversation_id: Option<String>,
    /// For action intents: the change to confirm.
    pub pending_action: Option<PendingAction>,
}

fn id_text(v: &Json_) -> Option<String> {
    match v {
        Json_::String(s) => Some(s.clone()),
        // `1.0` is the integer 1 (as JSON Schema counts it), not "1.0".
        Json_::Number(n) => {
            Some(super::extract::integer::whole(n).map_or_else(|| n.to_string(), |i| i.to_string()))
        }
        _ => None,
    }
}

/// Refuses NUL and other control characters (tabs and newlines aside),
/// which no database column should receive. The OpenAPI `pattern`s of the
/// text fields state the same rule (`[^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]`).
pub fn no_control(field: &str, value: &str) -> Result<(), ApiError> {
    if value
        .chars()
        .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
    {
        return Err(ApiError::invalid_field(
            field,
            "must not contain control characters",
        ));
    }
    Ok(())
}

/// Checks body identities against the token: a mismatch is 403.
pub fn check_identity(
    caller: &Caller,
    user_id: Option<&Json_>,
    tenant_id: Option<&Json_>,
) -> Result<(), ApiError> {
    if let Some(u) = user_id.filter(|v| !v.is_null()) {
        let u = id_text(u)
            .ok_or_else(|| ApiError::invalid_field("user_id", "must be a string or a number"))?;
        if u != caller.user_id {
            return Err(ApiError::forbidden("user_id does not match the token"));
        }
    }
    if let Some(t) = tenant_id.filter(|v| !v.is_null()) {
        let t =
            id_text(t).ok_or_else(|| ApiError::invalid_field("tenant_id", "must be a number"))?;
        if t != caller.tenant.to_string() {
            return Err(ApiError::forbidden("tenant_id does not match the token"));
        }
    }
    Ok(())
}

fn ctx(caller: &Caller) -> CallContext {
    CallContext {
        tenant: caller.tenant,
        user_id: caller.user_id.clone(),
    }
}

/// Answers a question.
#[utoipa::path(
    post, path = "/api/v1/chatbot/query", tag = "chatbot",
    request_body = QueryRequest,
    responses(
        (status = 200, description = "Answered (also for out-of-scope or unsure answers)", body = QueryResponse, links(
            ("ConfirmAction" = (operation_id = "confirm", parameters(("id" = "$response.body#/pending_action/action_id")))),
            ("CancelAction" = (operation_id = "cancel", parameters(("id" = "$response.body#/pending_action/action_id")))),
        )),
        (status = 400, description = "Malformed JSON", body = ErrorBody),
        (status = 401, description = "Missing, expired or forged token", body = ErrorBody),
        (status = 403, description = "Identity mismatch, or the intent's permission is missing (the query is still recorded)", body = ErrorBody),
        (status = 413, description = "Body over 64 KiB", body = ErrorBody),
        (status = 415, description = "Not sent as `application/json`", body = ErrorBody),
        (status = 422, description = "Invalid field (e.g. text empty or too long)", body = ErrorBody),
        (status = 502, description = "The plugin failed", body = ErrorBody),
        (status = 503, description = "Database unavailable, or every plugin slot busy (`plugin_busy`); retry after `Retry-After` seconds", body = ErrorBody),
        (status = 504, description = "The plugin timed out", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn query(
    State(state): State<Arc<AppState>>,
    Auth(caller): Auth,
    ApiJson(body): ApiJson<QueryRequest>,
) -> Result<Json<QueryResponse>, ApiError> {
    let started = Instant::now();
    check_identity(&caller, body.user_id.as_ref(), body.tenant_id.as_ref())?;
    // Checked as sent (the limits the OpenAPI document states), then
    // trimmed.
    no_control("text", &body.text)?;
    if let Some(c) = &body.conversation_id {
        no_control("conversation_id", c)?;
    }
    let max = state.api.max_query_length;
    let length = body.text.chars().count();
    if length > max {
        return Err(ApiError::invalid_field(
            "text",
            format!("is {length} characters; at most {max} are allowed"),
        ));
    }
    let text = body.text.trim();
    if text.is_empty() {
        return Err(ApiError::invalid_field("text", "must not be empty"));
    }
    if let Some(c) = &body.conversation_id
        && (c.is_empty() || c.chars().count() > 200)
    {
        return Err(ApiError::invalid_field(
            "conversation_id",
            "must be 1 to 200 characters",
        ));
    }
    let keep = state.api.max_context_size;
    let mut history: Vec<String> = body
        .context
        .as_ref()
        .map(|c| {
            c.previous_queries
                .iter()
                .map(|p| p.text.chars().take(max).collect())
                .collect()
        })
        .unwrap_or_default();
    if history.is_empty()
        && let Some(conversation) = &body.conversation_id
    {
        history = records::conversation_texts(
            &state.db,
            caller.tenant,
            &caller.user_id,
            conversation,
            keep,
        )
        .await?;
    }
    if history.len() > keep {
        history.drain(..history.len() - keep);
    }

    let selection = match body.ai_service.as_deref() {
        Some(name) => {
            no_control("ai_service", name)?;
            if name.is_empty() || name.chars().count() > 100 {
                return Err(ApiError::invalid_field(
                    "ai_service",
                    "must be 1 to 100 characters",
                ));
            }
            Selection::Named(name)
        }
        None => Selection::Default,
    };
    let perms: Vec<String> = caller.permissions.iter().cloned().collect();
    let outcome = state
        .engine
        .answer_with(&ctx(&caller), text, &history, Some(&perms), selection)
        .await
        .map_err(|e| match e {
            SelectError::Unknown(_) => ApiError::invalid_field("ai_service", e),
            SelectError::Store(s) => ApiError::unavailable(s),
        })?;
    let processing_time = started.elapsed().as_secs_f64();
    let (status_text, error) = match &outcome.status {
        Status::Forbidden { permission } => (
            "refused",
            Some(ApiError::forbidden(format!(
                "missing permission `{permission}` for intent `{}`",
                outcome.intent
            ))),
        ),
        Status::PluginFailed { plugin, code } => {
            let (status, code_text) = match code {
                FailureCode::PluginTimeout => (StatusCode::GATEWAY_TIMEOUT, "plugin_timeout"),
                FailureCode::PluginBusy => (StatusCode::SERVICE_UNAVAILABLE, "plugin_busy"),
                _ => (StatusCode::BAD_GATEWAY, "plugin_failed"),
            };
            (
                "failed",
                Some(ApiError::new(
                    status,
                    code_text,
                    format!("plugin `{plugin}` failed ({code})"),
                )),
            )
        }
        Status::OutOfScope => ("out_of_scope", None),
        Status::NotSure => ("not_sure", None),
        Status::MissingEntities { .. } => ("missing_entities", None),
        Status::PluginMessage => match outcome.structured_data["error"].as_str() {
            // The plugin's data source failed: not an answer.
            Some("unavailable") | Some("internal") => (
                "failed",
                Some(ApiError::new(
                    StatusCode::BAD_GATEWAY,
                    "plugin_failed",
                    format!(
                        "plugin `{}` could not answer: {}",
                        outcome.plugin.as_deref().unwrap_or("?"),
                        outcome.response_text
                    ),
                )),
            ),
            _ => ("plugin_message", None),
        },
        Status::Answered => ("answered", None),
    };

    let query_id = records::new_id();
    let created_at = records::now_text();
    let action = match (&outcome.proposal, &outcome.plugin, error.is_none()) {
        (Some(p), Some(plugin), true) => {
            let permission = state
                .engine
                .plugins()
                .set()
                .registry()
                .get(&outcome.intent)
                .map(|i| i.permission().to_owned())
                .unwrap_or_default();
            let expires =
                chrono::Utc::now() + chrono::Duration::seconds(state.api.action_ttl_secs as i64);
            Some(NewAction {
                action_id: records::new_id(),
                intent: outcome.intent.clone(),
                plugin: plugin.clone(),
                action: p.action.clone(),
                parameters: p.parameters.to_string(),
                summary: p.summary.clone(),
                permission,
                expires_at: expires.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            })
        }
        _ => None,
    };
    let record = NewQuery {
        query_id: query_id.clone(),
        tenant: caller.tenant,
        user_id: caller.user_id.clone(),
        conversation_id: body.conversation_id.clone(),
        text: text.to_owned(),
        response_text: match &error {
            Some(e) => e.message.clone(),
            None => outcome.response_text.clone(),
        },
        structured_data: outcome.structured_data.to_string(),
        intent: outcome.intent.clone(),
        confidence: f64::from(outcome.confidence),
        processing_time,
        status: status_text.to_owned(),
        interpreter: outcome.interpreter.clone(),
        created_at,
    };
    // Recorded before the answer leaves: if this fails, no answer is sent.
    let write_started = Instant::now();
    records::insert_query(&state.db, &record, action.as_ref()).await?;
    metrics::histogram!("switchboard_db_write_duration_seconds", "operation" => "insert_query")
        .record(write_started.elapsed().as_secs_f64());
    metrics::histogram!("switchboard_query_duration_seconds", "intent" => outcome.intent.clone(), "outcome" => status_text)
        .record(started.elapsed().as_secs_f64());
    metrics::counter!("switchboard_queries_total", "tenant" => caller.tenant.to_string(), "outcome" => status_text).increment(1);
    metrics::histogram!("switchboard_query_confidence").record(f64::from(outcome.confidence));
    if let Some(error) = error {
        return Err(error);
    }
    let mut entities = serde_json::Map::new();
    for (k, v) in &outcome.entities {
        entities.insert(k.clone(), Json_::String(v.clone()));
    }
    Ok(Json(QueryResponse {
        query_id,
        response_text: outcome.response_text,
        structured_data: outcome.structured_data,
        confidence: outcome.confidence,
        processing_time,
        suggested_actions: outcome
            .suggested_actions
            .into_iter()
            .map(|a| SuggestedActionBody {
                action: a.action,
                parameters: a.parameters,
                description: a.description,
            })
            .collect(),
        intent: outcome.intent,
        entities: Json_::Object(entities),
        interpreter: outcome.interpreter,
        fallback_reason: outcome.fallback_reason,
        conversation_id: body.conversation_id,
        pending_action: action.map(|a| PendingAction {
            action_id: a.action_id,
            summary: a.summary,
            status: "pending".into(),
            expires_at: a.expires_at,
        }),
    }))
}

/// Feedback on an answer.
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct FeedbackRequest {
    /// The query rated.
    #[schema(pattern = "^[^\\u0000-\\u0008\\u000B\\u000C\\u000E-\\u001F\\u007F-\\u009F]*$")]
    pub query_id: String,
    /// 1 to 5.
    #[schema(minimum = 1, maximum = 5)]
    #[serde(deserialize_with = "super::extract::integer::required")]
    pub rating: i64,
    /// Optional comments (at most 2000 characters, without control
    /// characters other than tabs and line breaks).
    #[serde(default)]
    #[schema(
        max_length = 2000,
        pattern = "^[^\\u0000-\\u0008\\u000B\\u000C\\u000E-\\u001F\\u007F-\\u009F]*$"
    )]
    pub comments: Option<String>,
    /// Must match the token's subject when given.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub user_id: Option<Json_>,
}

/// Feedback recorded.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct FeedbackResponse {
    /// Its id.
    pub feedback_id: String,
    /// `received`.
    pub status: String,
    /// When.
    pub timestamp: String,
}

/// Rates an answer (once per query).
#[utoipa::path(
    post, path = "/api/v1/chatbot/feedback", tag = "chatbot",
    request_body = FeedbackRequest,
    responses(
        (status = 200, body = FeedbackResponse),
        (status = 400, description = "Malformed JSON", body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, description = "No such query in the caller's tenant", body = ErrorBody),
        (status = 409, description = "The query already has feedback", body = ErrorBody),
        (status = 413, description = "Body over 64 KiB", body = ErrorBody),
        (status = 415, description = "Not sent as `application/json`", body = ErrorBody),
        (status = 422, description = "Invalid field", body = ErrorBody),
        (status = 503, description = "Database unavailable", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn feedback(
    State(state): State<Arc<AppState>>,
    Auth(caller): Auth,
    ApiJson(body): ApiJson<FeedbackRequest>,
) -> Result<Json<FeedbackResponse>, ApiError> {
    check_identity(&caller, body.user_id.as_ref(), None)?;
    no_control("query_id", &body.query_id)?;
    if let Some(c) = &body.comments {
        no_control("comments", c)?;
    }
    if !(1..=5).contains(&body.rating) {
        return Err(ApiError::invalid_field(
            "rating",
            format!("{} is not between 1 and 5", body.rating),
        ));
    }
    if body
        .comments
        .as_ref()
        .is_some_and(|c| c.chars().count() > 2000)
    {
        return Err(ApiError::invalid_field(
            "comments",
            "at most 2000 characters",
        ));
    }
    if !records::query_exists(&state.db, caller.tenant, &body.query_id).await? {
        return Err(ApiError::not_found(format!("no query `{}`", body.query_id)));
    }
    let feedback_id = records::new_id();
    let timestamp = records::now_text();
    match records::insert_feedback(
        &state.db,
        caller.tenant,
        &feedback_id,
        &body.query_id,
        &caller.user_id,
        body.rating,
        body.comments.as_deref(),
        &timestamp,
    )
    .await?
    {
        FeedbackOutcome::Recorded => {
            metrics::histogram!("switchboard_feedback_rating").record(body.rating as f64);
            Ok(Json(FeedbackResponse {
                feedback_id,
                status: "received".into(),
                timestamp,
            }))
        }
        FeedbackOutcome::Duplicate => Err(ApiError::conflict(format!(
            "query `{}` already has feedback",
            body.query_id
        ))),
    }
}

/// Paging of the history (query parameters).
#[derive(Debug, Clone, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct HistoryParams {
    /// 1-based page (default 1).
    #[param(value_type = i64, required = false, minimum = 1, maximum = 4294967295_u64)]
    pub page: Option<u32>,
    /// Page size (default 10; larger sizes are capped at the configured
    /// maximum, 100 by default).
    #[param(value_type = i64, required = false, minimum = 1, maximum = 4294967295_u64)]
    pub page_size: Option<u32>,
}

/// One past query.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct HistoryItem {
    /// Id.
    pub query_id: String,
    /// Text.
    pub text: String,
    /// Answer.
    pub response_text: String,
    /// When.
    pub timestamp: String,
    /// Feedback rating.
    pub rating: Option<i64>,
}

/// A page of history.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct HistoryResponse {
    /// Newest first.
    pub queries: Vec<HistoryItem>,
    /// All of the caller's queries.
    pub total: i64,
    /// This page.
    pub page: u32,
    /// Its size.
    pub page_size: u32,
}

/// The caller's own queries, newest first.
#[utoipa::path(
    get, path = "/api/v1/chatbot/history", tag = "chatbot",
    params(HistoryParams),
    responses(
        (status = 200, body = HistoryResponse), (status = 401, body = ErrorBody),
        (status = 422, description = "Invalid page or page size", body = ErrorBody),
        (status = 503, description = "Database unavailable", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn history(
    State(state): State<Arc<AppState>>,
    Auth(caller): Auth,
    ApiQuery(params): ApiQuery<HistoryParams>,
) -> Result<Json<HistoryResponse>, ApiError> {
    let page = params.page.unwrap_or(1);
    if page == 0 {
        return Err(ApiError::invalid_field("page", "starts at 1"));
    }
    let page_size = params.page_size.unwrap_or(10);
    if page_size == 0 {
        return Err(ApiError::invalid_field("page_size", "must be at least 1"));
    }
    let page_size = page_size.min(state.api.max_page_size);
    let (rows, total) =
        records::history(&state.db, caller.tenant, &caller.user_id, page, page_size).await?;
    Ok(Json(HistoryResponse {
        queries: rows
            .into_iter()
            .map(|r| HistoryItem {
                query_id: r.query_id,
                text: r.text,
                response_text: r.response_text,
                timestamp: r.timestamp,
                rating: r.rating,
            })
            .collect(),
        total,
        page,
        page_size,
    }))
}

/// The outcome of confirming or cancelling.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ActionResponse {
    /// The action.
    pub action_id: String,
    /// `executed`, `cancelled`.
    pub status: String,
    /// Text for the agent.
    pub response_text: String,
    /// Data.
    #[schema(value_type = Object)]
    pub structured_data: Json_,
}

async fn load_pending(
    state: &AppState,
    caller: &Caller,
    id: &str,
) -> Result<records::ActionRow, ApiError> {
    if id.len() > 100 || no_control("id", id).is_err() {
        return Err(ApiError::not_found("no such action"));
    }
    let action = records::get_action(&state.db, caller.tenant, id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no action `{id}`")))?;
    if action.status == "pending" && action.expires_at < records::now_text() {
        records::transition_action(&state.db, caller.tenant, id, "pending", "expired", None)
            .await?;
        return Err(ApiError::conflict(format!(
            "action `{id}` expired at {}",
            action.expires_at
        )));
    }
    if action.status != "pending" {
        return Err(ApiError::conflict(format!(
            "action `{id}` is already {}",
            action.status
        )));
    }
    Ok(action)
}

/// Carries out a proposed action (once).
#[utoipa::path(
    post, path = "/api/v1/chatbot/actions/{id}/confirm", tag = "chatbot",
    params(("id" = String, Path, description = "The pending action's id")),
    responses(
        (status = 200, body = ActionResponse),
        (status = 401, body = ErrorBody),
        (status = 403, description = "Missing the action's permission", body = ErrorBody),
        (status = 404, description = "No such action in the caller's tenant", body = ErrorBody),
        (status = 409, description = "Already executing, executed, interrupted, cancelled, failed or expired, or the change kept colliding with concurrent changes", body = ErrorBody),
        (status = 422, description = "The plugin refused the change (not found or invalid input)", body = ErrorBody),
        (status = 502, description = "The plugin failed", body = ErrorBody),
        (status = 503, description = "Database unavailable, or every plugin slot busy (`plugin_busy`, the action stays pending); retry after `Retry-After` seconds", body = ErrorBody),
        (status = 504, description = "The plugin timed out", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn confirm(
    State(state): State<Arc<AppState>>,
    Auth(caller): Auth,
    Path(id): Path<String>,
) -> Result<Json<ActionResponse>, ApiError> {
    let action = load_pending(&state, &caller, &id).await?;
    if !caller.has(&action.permission) {
        return Err(ApiError::forbidden(format!(
            "missing permission `{}` to confirm this action",
            action.permission
        )));
    }
    // The change runs in a task of its own, from claiming the action to
    // recording the outcome: a client that hangs up mid-call must not leave
    // it `executing` (see `records::interrupt_stuck_actions` for a crash).
    let task = state
        .background
        .spawn(execute_confirmed(state.clone(), caller.clone(), id, action));
    task.await.unwrap_or_else(|_| {
        Err(ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "carrying out the action failed unexpectedly",
        ))
    })
}

/// Records an executed action's outcome. If the sweep took it for
/// interrupted meanwhile (a call that ran longer than
/// [`records::STUCK_AFTER`]), the outcome, now known, replaces that.
async fn settle(
    state: &AppState,
    caller: &Caller,
    id: &str,
    to: &str,
    result: &str,
) -> Result<(), ApiError> {
    for from in ["executing", "interrupted"] {
        if records::transition_action(&state.db, caller.tenant, id, from, to, Some(result)).await? {
            return Ok(());
        }
    }
    Ok(())
}

/// Claims a confirmed action (`pending` → `executing`), executes it and
/// records its outcome.
async fn execute_confirmed(
    state: Arc<AppState>,
    caller: Caller,
    id: String,
    action: records::ActionRow,
) -> Result<Json<ActionResponse>, ApiError> {
    if !records::transition_action(&state.db, caller.tenant, &id, "pending", "executing", None)
        .await?
    {
        return Err(ApiError::conflict(format!(
            "action `{id}` is already being handled"
        )));
    }
    let parameters: Json_ = serde_json::from_str(&action.parameters).unwrap_or_else(|_| json!({}));
    let call = ActionCall {
        action: action.action.clone(),
        parameters,
    };
    match state
        .engine
        .plugins()
        .execute(&ctx(&caller), &action.intent, call)
        .await
    {
        Ok(outcome) => {
            let result = json!({ "response_text": outcome.response_text, "structured_data": outcome.structured_data });
            settle(&state, &caller, &id, "executed", &result.to_string()).await?;
            Ok(Json(ActionResponse {
                action_id: id,
                status: "executed".into(),
                response_text: outcome.response_text,
                structured_data: outcome.structured_data,
            }))
        }
        Err(DispatchError::Failed {
            code: FailureCode::PluginBusy,
            plugin,
            ..
        }) => {
            // Nothing ran: the action stays confirmable.
            records::transition_action(&state.db, caller.tenant, &id, "executing", "pending", None)
                .await?;
            Err(ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "plugin_busy",
                format!(
                    "plugin `{plugin}` could not be run: every plugin slot is busy; the action is still pending, confirm it again shortly"
                ),
            ))
        }
        Err(error) => {
            let result = json!({ "error": error.to_string() });
            settle(&state, &caller, &id, "failed", &result.to_string()).await?;
            Err(match error {
                DispatchError::Reported { message, kind, .. } => match kind {
                    ReportedKind::NotFound | ReportedKind::InvalidInput => {
                        ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "action_refused", message)
                    }
                    _ => ApiError::new(StatusCode::BAD_GATEWAY, "plugin_failed", message),
                },
                DispatchError::Failed {
                    code: FailureCode::PluginTimeout,
                    plugin,
                    ..
                } => ApiError::new(
                    StatusCode::GATEWAY_TIMEOUT,
                    "plugin_timeout",
                    format!("plugin `{plugin}` timed out"),
                ),
                DispatchError::Failed {
                    code: FailureCode::PluginWriteConflict,
                    ..
                } => ApiError::new(
                    StatusCode::CONFLICT,
                    "write_conflict",
                    "the change kept colliding with concurrent changes and was not made; ask again",
                ),
                DispatchError::Failed { code, plugin, .. } => ApiError::new(
                    StatusCode::BAD_GATEWAY,
                    "plugin_failed",
                    format!("plugin `{plugin}` failed ({code})"),
                ),
                DispatchError::UnknownIntent(i) => ApiError::new(
                    StatusCode::BAD_GATEWAY,
                    "plugin_failed",
                    format!("no plugin handles `{i}` any more"),
                ),
            })
        }
    }
}

/// Cancels a proposed action.
#[utoipa::path(
    post, path = "/api/v1/chatbot/actions/{id}/cancel", tag = "chatbot",
    params(("id" = String, Path, description = "The pending action's id")),
    responses(
        (status = 200, body = ActionResponse),
        (status = 401, body = ErrorBody),
        (status = 403, description = "Missing the action's permission", body = ErrorBody),
        (status = 404, description = "No such action in the caller's tenant", body = ErrorBody),
        (status = 409, description = "Already executing, executed, interrupted, cancelled, failed or expired", body = ErrorBody),
        (status = 503, description = "Database unavailable", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn cancel(
    State(state): State<Arc<AppState>>,
    Auth(caller): Auth,
    Path(id): Path<String>,
) -> Result<Json<ActionResponse>, ApiError> {
    let action = load_pending(&state, &caller, &id).await?;
    if !caller.has(&action.permission) {
        return Err(ApiError::forbidden(format!(
            "missing permission `{}` to cancel this action",
            action.permission
        )));
    }
    if !records::transition_action(&state.db, caller.tenant, &id, "pending", "cancelled", None)
        .await?
    {
        return Err(ApiError::conflict(format!(
            "action `{id}` is already being handled"
        )));
    }
    Ok(Json(ActionResponse {
        action_id: id,
        status: "cancelled".into(),
        response_text: format!("Cancelled: {}", action.summary),
        structured_data: json!({}),
    }))
}
