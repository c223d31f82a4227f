//! AI service configurations (admin role only, own tenant): list, create,
//! update, delete, rotate the key. API keys are write-only: stored sealed,
//! shown as their last four characters at most.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::Value as Json_;
use utoipa::ToSchema;

use super::AppState;
use super::chatbot::no_control;
use super::error::{ApiError, ErrorBody};
use super::extract::{ApiJson, Auth};
use crate::ai::Backend;
use crate::auth::Caller;
use crate::secrets::last4;
use crate::store::configs::{self, ConfigInput, ConfigRow, ConfigWriteError};
use crate::store::records::new_id;

/// A configuration as the API shows it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AiServiceConfig {
    /// Id.
    pub config_id: String,
    /// Unique name within the tenant.
    pub name: String,
    /// Service URL.
    pub service_url: String,
    /// Parameters.
    #[schema(value_type = Object)]
    pub parameters: Json_,
    /// Whether it is the default.
    pub is_default: bool,
    /// Last four characters of the API key, if one is set.
    pub api_key_last4: Option<String>,
    /// Created.
    pub created_at: String,
    /// Updated.
    pub updated_at: String,
}

impl From<ConfigRow> for AiServiceConfig {
    fn from(r: ConfigRow) -> Self {
        Self {
            config_id: r.config_id,
            name: r.name,
            service_url: r.service_url,
            parameters: serde_json::from_str(&r.parameters)
                .unwrap_or(Json_::Object(Default::default())),
            is_default: r.is_default,
            api_key_last4: r.api_key_last4,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

/// A configuration to create or replace.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AiServiceConfigInput {
    /// 1 to 100 characters, not blank, without control characters other
    /// than tabs and line breaks; unique within the tenant (compared
    /// without surrounding blanks).
    #[schema(
        min_length = 1,
        max_length = 100,
        pattern = "^[^\\u0000-\\u0008\\u000B\\u000C\\u000E-\\u001F\\u007F-\\u009F]*[^\\s\\u0000-\\u001F\\u007F-\\u009F][^\\u0000-\\u0008\\u000B\\u000C\\u000E-\\u001F\\u007F-\\u009F]*$"
    )]
    pub name: String,
    /// An http(s) URL with a host, without spaces or control characters.
    #[schema(format = "uri")]
    pub service_url: String,
    /// A JSON object (default `{}`).
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub parameters: Option<Json_>,
    /// Make it the default (the first configuration always is).
    #[serde(default)]
    pub is_default: bool,
    /// The service's API key; write-only. 1 to 4096 characters, not
    /// blank, without control characters.
    #[serde(default)]
    #[schema(
        min_length = 1,
        max_length = 4096,
        pattern = "^[^\\u0000-\\u001F\\u007F-\\u009F]*[^\\s\\u0000-\\u001F\\u007F-\\u009F][^\\u0000-\\u001F\\u007F-\\u009F]*$"
    )]
    pub api_key: Option<String>,
}

/// The list.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AiServiceConfigList {
    /// By name.
    pub configs: Vec<AiServiceConfig>,
}

fn admin(caller: &Caller) -> Result<(), ApiError> {
    if caller.is_admin() {
        Ok(())
    } else {
        Err(ApiError::forbidden("the admin role is required"))
    }
}

/// The longest API key accepted, in characters.
const MAX_KEY_CHARS: usize = 4096;

/// An API key: not blank, at most [`MAX_KEY_CHARS`] characters, and no
/// control characters at all (it travels in an HTTP header).
fn check_key(key: &str) -> Result<(), ApiError> {
    if key.trim().is_empty() {
        return Err(ApiError::invalid_field("api_key", "must not be empty"));
    }
    if key.chars().any(char::is_control) {
        return Err(ApiError::invalid_field(
            "api_key",
            "must not contain control characters",
        ));
    }
    if key.chars().count() > MAX_KEY_CHARS {
        return Err(ApiError::invalid_field(
            "api_key",
            format!("at most {MAX_KEY_CHARS} characters"),
        ));
    }
    Ok(())
}

fn validate(state: &AppState, body: AiServiceConfigInput) -> Result<ConfigInput, ApiError> {
    no_control("name", &body.name)?;
    let name = body.name.trim().to_owned();
    if name.is_empty() || body.name.chars().count() > 100 {
        return Err(ApiError::invalid_field(
            "name",
            "must be 1 to 100 characters, not blank",
        ));
    }
    // The URL parser would quietly drop tabs and line breaks and encode
    // spaces: a URL that needs that is refused instead.
    let clean = !body
        .service_url
        .chars()
        .any(|c| c.is_control() || c.is_whitespace());
    match reqwest::Url::parse(&body.service_url) {
        Ok(u)
            if clean
                && (u.scheme() == "http" || u.scheme() == "https")
                && u.host_str().is_some() => {}
        _ => {
            return Err(ApiError::invalid_field(
                "service_url",
                "must be an http(s) URL",
            ));
        }
    }
    let parameters = match body.parameters {
        None | Some(Json_::Null) => Json_::Object(Default::default()),
        Some(Json_::Object(m)) => {
            check_parameters(&m)?;
            Json_::Object(m)
        }
        Some(_) => {
            return Err(ApiError::invalid_field(
                "parameters",
                "must be a JSON object",
            ));
        }
    };
    let api_key = match body.api_key {
        Some(k) => {
            check_key(&k)?;
            Some((state.sealer.seal(&k), last4(&k)))
        }
        None => None,
    };
    Ok(ConfigInput {
        name,
        service_url: body.service_url,
        parameters: parameters.to_string(),
        api_key,
        is_default: body.is_default,
    })
}

/// The parameters the engine reads; others are kept as they are.
fn check_parameters(m: &serde_json::Map<String, Json_>) -> Result<(), ApiError> {
    let bad = |what: &str| Err(ApiError::invalid_field("parameters", what));
    if let Some(b) = m.get("backend")
        && b.as_str().is_none_or(|b| Backend::parse(b).is_none())
    {
        return bad("`backend` must be `http` or `openai`");
    }
    if m.get("model").is_some_and(|v| !v.is_string()) {
        return bad("`model` must be a string");
    }
    if m.get("enabled").is_some_and(|v| !v.is_boolean()) {
        return bad("`enabled` must be true or false");
    }
    if let Some(t) = m.get("timeout_secs")
        && !t.as_u64().is_some_and(|t| (1..=300).contains(&t))
    {
        return bad("`timeout_secs` must be an integer from 1 to 300");
    }
    if let Some(t) = m.get("max_retries")
        && t.as_u64().is_none_or(|t| t > 10)
    {
        return bad("`max_retries` must be an integer from 0 to 10");
    }
    let secretish = m.keys().find(|k| looks_secret(k));
    if let Some(k) = secretish {
        return Err(ApiError::invalid_field(
            "parameters",
            format!("`{k}` looks like a secret: parameters are not encrypted; use `api_key`"),
        ));
    }
    Ok(())
}

/// Whether a parameter's name says it holds a secret (`api_key`,
/// `signing_secret`, `access_token`, `password`, ...; not `max_tokens`).
fn looks_secret(name: &str) -> bool {
    let n = name.to_ascii_lowercase().replace('-', "_");
    n == "key"
        || n == "token"
        || n == "authorization"
        || n.ends_with("_key")
        || n.ends_with("apikey")
        || n.ends_with("_token")
        || n.ends_with("secret")
        || n.ends_with("password")
}

fn invalidate(state: &AppState, caller: &Caller) {
    if let Some(ai) = state.engine.ai() {
        ai.invalidate(caller.tenant);
    }
}

fn write_error(e: ConfigWriteError) -> ApiError {
    match e {
        ConfigWriteError::DuplicateName(_) => ApiError::conflict(e.to_string()),
        ConfigWriteError::NotFound(_) => ApiError::not_found(e.to_string()),
        ConfigWriteError::LastDefault => ApiError::conflict(e.to_string()),
        ConfigWriteError::Store(s) => ApiError::unavailable(s),
    }
}

/// Lists the tenant's configurations.
#[utoipa::path(
    get, path = "/api/v1/chatbot/config", tag = "config",
    responses(
        (status = 200, body = AiServiceConfigList), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 503, description = "Database unavailable", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn list(
    State(state): State<Arc<AppState>>,
    Auth(caller): Auth,
) -> Result<Json<AiServiceConfigList>, ApiError> {
    admin(&caller)?;
    let rows = configs::list(&state.db, caller.tenant).await?;
    Ok(Json(AiServiceConfigList {
        configs: rows.into_iter().map(Into::into).collect(),
    }))
}

/// Creates a configuration.
#[utoipa::path(
    post, path = "/api/v1/chatbot/config", tag = "config",
    request_body = AiServiceConfigInput,
    responses(
        (status = 201, body = AiServiceConfig, links(
            ("UpdateConfig" = (operation_id = "update", parameters(("config_id" = "$response.body#/config_id")))),
            ("DeleteConfig" = (operation_id = "delete", parameters(("config_id" = "$response.body#/config_id")))),
            ("RotateKey" = (operation_id = "rotate_key", parameters(("config_id" = "$response.body#/config_id")))),
        )),
        (status = 400, description = "Malformed JSON", body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 409, description = "Name taken", body = ErrorBody),
        (status = 413, description = "Body over 64 KiB", body = ErrorBody),
        (status = 415, description = "Not sent as `application/json`", body = ErrorBody),
        (status = 422, description = "Invalid field", body = ErrorBody),
        (status = 503, description = "Database unavailable", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn create(
    State(state): State<Arc<AppState>>,
    Auth(caller): Auth,
    ApiJson(body): ApiJson<AiServiceConfigInput>,
) -> Result<(StatusCode, Json<AiServiceConfig>), ApiError> {
    admin(&caller)?;
    let input = validate(&state, body)?;
    let row = configs::create(&state.db, caller.tenant, &new_id(), &input)
        .await
        .map_err(write_error)?;
    invalidate(&state, &caller);
    Ok((StatusCode::CREATED, Json(row.into())))
}

/// Replaces a configuration (its key is kept unless a new one is given).
#[utoipa::path(
    put, path = "/api/v1/chatbot/config/{config_id}", tag = "config",
    params(("config_id" = String, Path, description = "The configuration")),
    request_body = AiServiceConfigInput,
    responses(
        (status = 200, body = AiServiceConfig),
        (status = 400, description = "Malformed JSON", body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, description = "No such configuration in the caller's tenant", body = ErrorBody),
        (status = 409, description = "Name taken, or it is the only default", body = ErrorBody),
        (status = 413, description = "Body over 64 KiB", body = ErrorBody),
        (status = 415, description = "Not sent as `application/json`", body = ErrorBody),
        (status = 422, description = "Invalid field", body = ErrorBody),
        (status = 503, description = "Database unavailable", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn update(
    State(state): State<Arc<AppState>>,
    Auth(caller): Auth,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<AiServiceConfigInput>,
) -> Result<Json<AiServiceConfig>, ApiError> {
    admin(&caller)?;
    let input = validate(&state, body)?;
    let row = configs::update(&state.db, caller.tenant, &id, &input)
        .await
        .map_err(write_error)?;
    invalidate(&state, &caller);
    Ok(Json(row.into()))
}

/// Deletes a configuration.
#[utoipa::path(
    delete, path = "/api/v1/chatbot/config/{config_id}", tag = "config",
    params(("config_id" = String, Path, description = "The configuration")),
    responses(
        (status = 204, description = "Deleted"), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, description = "No such configuration in the caller's tenant", body = ErrorBody),
        (status = 503, description = "Database unavailable", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn delete(
    State(state): State<Arc<AppState>>,
    Auth(caller): Auth,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    admin(&caller)?;
    configs::delete(&state.db, caller.tenant, &id)
        .await
        .map_err(write_error)?;
    invalidate(&state, &caller);
    Ok(StatusCode::NO_CONTENT)
}

/// Default grace period of a rotated key: one day.
pub const DEFAULT_GRACE_SECS: u64 = 86_400;

/// A new key for a configuration.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RotateKeyInput {
    /// The new API key; write-only. 1 to 4096 characters, not blank,
    /// without control characters.
    #[schema(
        min_length = 1,
        max_length = 4096,
        pattern = "^[^\\u0000-\\u001F\\u007F-\\u009F]*[^\\s\\u0000-\\u001F\\u007F-\\u009F][^\\u0000-\\u001F\\u007F-\\u009F]*$"
    )]
    pub api_key: String,
    /// Seconds the previous key stays in use when the service refuses the
    /// new one (default 86400, at most 30 days; 0 retires it at once).
    #[serde(default, deserialize_with = "super::extract::integer::optional")]
    #[schema(minimum = 0, maximum = 2592000)]
    pub grace_period_secs: Option<u64>,
}

/// The configuration after a rotation (no key is ever returned).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RotateKeyResponse {
    /// The configuration, with the new key's last four characters.
    pub config: AiServiceConfig,
    /// The previous key's last four characters, if there was one.
    pub previous_key_last4: Option<String>,
    /// Until when the previous key is still used.
    pub previous_key_valid_until: Option<String>,
}

/// Replaces the API key; the previous key stays usable for a grace period.
#[utoipa::path(
    post, path = "/api/v1/chatbot/config/{config_id}/rotate-key", tag = "config",
    params(("config_id" = String, Path, description = "The configuration")),
    request_body = RotateKeyInput,
    responses(
        (status = 200, body = RotateKeyResponse),
        (status = 400, description = "Malformed JSON", body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, description = "No such configuration in the caller's tenant", body = ErrorBody),
        (status = 413, description = "Body over 64 KiB", body = ErrorBody),
        (status = 415, description = "Not sent as `application/json`", body = ErrorBody),
        (status = 422, description = "Invalid field", body = ErrorBody),
        (status = 503, description = "Database unavailable", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn rotate_key(
    State(state): State<Arc<AppState>>,
    Auth(caller): Auth,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<RotateKeyInput>,
) -> Result<Json<RotateKeyResponse>, ApiError> {
    admin(&caller)?;
    let key = body.api_key;
    check_key(&key)?;
    let grace = body.grace_period_secs.unwrap_or(DEFAULT_GRACE_SECS);
    if grace > 30 * 86_400 {
        return Err(ApiError::invalid_field(
            "grace_period_secs",
            "at most 2592000 (30 days)",
        ));
    }
    let until = (chrono::Utc::now() + chrono::Duration::seconds(grace as i64))
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let rotated = configs::rotate_key(
        &state.db,
        caller.tenant,
        &id,
        &state.sealer.seal(&key),
        &last4(&key),
        &until,
    )
    .await
    .map_err(write_error)?;
    invalidate(&state, &caller);
    Ok(Json(RotateKeyResponse {
        config: rotated.row.into(),
        previous_key_last4: rotated.previous_last4,
        previous_key_valid_until: rotated.previous_valid_until,
    }))
}

#[cfg(test)]
mod tests {
    use super::looks_secret;

    #[test]
    fn secret_looking_parameters() {
        for n in [
            "api_key",
            "apiKey",
            "signing_secret",
            "access-token",
            "password",
            "key",
        ] {
            assert!(looks_secret(n), "{n}");
        }
        for n in ["model", "max_tokens", "temperature", "backend", "keyword"] {
            assert!(!looks_secret(n), "{n}");
        }
    }
}
