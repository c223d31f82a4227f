//! The REST API: routes, shared state, and the OpenAPI document (served at
//! `/openapi.json`, with Swagger UI at `/docs` and ReDoc at `/redoc`).

pub mod analytics;
pub mod chatbot;
pub mod config;
pub mod error;
pub mod extract;

use std::path::PathBuf;
use std::sync::Arc;

use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use axum::routing::{get, post, put};
use axum::{Json, Router};
use serde::Serialize;
use serde_json::json;
use tokio_util::task::TaskTracker;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi, ToSchema};
use utoipa_redoc::{Redoc, Servable};
use utoipa_swagger_ui::SwaggerUi;

use crate::auth::Authenticator;
use crate::config::{ApiConfig, Config};
use crate::query::QueryEngine;
use crate::secrets::Sealer;
use crate::store::Db;
use error::{ApiError, ErrorBody};
use extract::Auth;

/// What every handler shares.
#[derive(Debug)]
pub struct AppState {
    /// Plugins and the NLU.
    pub engine: QueryEngine,
    /// The database.
    pub db: Db,
    /// Verifies bearer tokens.
    pub auth: Authenticator,
    /// Seals API keys.
    pub sealer: Sealer,
    /// Request limits.
    pub api: ApiConfig,
    /// Where the configuration was read from, for reloads.
    pub config_path: Option<PathBuf>,
    /// Work that outlives its request (a confirmed action runs to its end
    /// even if the client hangs up); a graceful shutdown waits for it.
    pub background: TaskTracker,
}

impl AppState {
    /// Re-reads the configuration, swaps in a new plugin set and retrains
    /// the NLU on it. An invalid file or a plugin that fails to load leaves
    /// the running set untouched; the error says why.
    pub async fn reload(&self) -> Result<usize, String> {
        let config = Config::load(self.config_path.as_deref()).map_err(|e| e.to_string())?;
        self.engine.reload(&config).await.map_err(|e| e.to_string())
    }
}

/// Reload outcome.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReloadResponse {
    /// `reloaded`.
    pub status: String,
    /// Plugins now loaded.
    pub plugins: usize,
}

/// Reloads the configuration and plugins (admin only).
#[utoipa::path(
    post, path = "/api/v1/admin/reload", tag = "admin",
    responses(
        (status = 200, body = ReloadResponse), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 422, description = "Invalid configuration or plugins; nothing changed", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
async fn reload(
    State(state): State<Arc<AppState>>,
    Auth(caller): Auth,
) -> Result<Json<ReloadResponse>, ApiError> {
    if !caller.is_admin() {
        return Err(ApiError::forbidden("the admin role is required"));
    }
    match state.reload().await {
        Ok(plugins) => Ok(Json(ReloadResponse {
            status: "reloaded".into(),
            plugins,
        })),
        Err(message) => Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "reload_refused",
            message,
        )),
    }
}

/// Liveness.
#[utoipa::path(get, path = "/healthz", tag = "operations", responses((status = 200, description = "The process is alive")))]
async fn healthz() -> Json<serde_json::Value> {
    Json(json!({ "status": "ok" }))
}

/// Readiness: the database answers and plugins are loaded.
#[utoipa::path(get, path = "/readyz", tag = "operations", responses((status = 200, description = "Ready"), (status = 503, description = "Not ready")))]
async fn readyz(State(state): State<Arc<AppState>>) -> (StatusCode, Json<serde_json::Value>) {
    let db = state.db.ping().await;
    let plugins = state.engine.plugins().set().plugins().count();
    let ready = db && plugins > 0;
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        status,
        Json(json!({ "ready": ready, "database": db, "plugins": plugins })),
    )
}

/// Prometheus metrics.
#[utoipa::path(get, path = "/metrics", tag = "operations", responses((status = 200, description = "Prometheus text format", content_type = "text/plain")))]
async fn metrics() -> ([(axum::http::HeaderName, &'static str); 1], String) {
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4",
        )],
        crate::telemetry::metrics_handle().render(),
    )
}

async fn not_found() -> ApiError {
    ApiError::not_found("no such endpoint")
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "this endpoint does not take that method",
    )
}

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
    }
}

/// The OpenAPI document.
#[derive(OpenApi)]
#[openapi(
    info(title = "Switchboard", description = "Intent engine API for ISP support agents. Tokens are JWTs with `sub`, `tenant_id`, `role`, `permissions` and `exp`."),
    paths(
        chatbot::query, chatbot::feedback, chatbot::history, chatbot::confirm, chatbot::cancel,
        analytics::analytics,
        config::list, config::create, config::update, config::delete, config::rotate_key,
        reload, healthz, readyz, metrics,
    ),
    modifiers(&BearerAuth),
    tags(
        (name = "chatbot", description = "Questions, feedback, history and actions"),
        (name = "config", description = "AI service configurations (admin)"),
        (name = "admin", description = "Administration"),
        (name = "operations", description = "Health and readiness"),
    )
)]
pub struct ApiDoc;

/// The OpenAPI document as served: [`ApiDoc`] with the configured limits.
pub fn openapi(api: &ApiConfig) -> utoipa::openapi::OpenApi {
    use utoipa::openapi::{RefOr, Schema};
    let mut doc = ApiDoc::openapi();
    let text = doc
        .components
        .as_mut()
        .and_then(|c| c.schemas.get_mut("QueryRequest"))
        .and_then(|s| match s {
            RefOr::T(Schema::Object(o)) => o.properties.get_mut("text"),
            _ => None,
        });
    if let Some(RefOr::T(Schema::Object(text))) = text {
        text.max_length = Some(api.max_query_length);
    }
    doc
}

/// The router with every route.
pub fn router(state: Arc<AppState>) -> Router {
    crate::telemetry::metrics_handle();
    let doc = openapi(&state.api);
    let api = Router::new()
        .route("/api/v1/chatbot/query", post(chatbot::query))
        .route("/api/v1/chatbot/feedback", post(chatbot::feedback))
        .route("/api/v1/chatbot/history", get(chatbot::history))
        .route("/api/v1/chatbot/analytics", get(analytics::analytics))
        .route(
            "/api/v1/chatbot/actions/{id}/confirm",
            post(chatbot::confirm),
        )
        .route("/api/v1/chatbot/actions/{id}/cancel", post(chatbot::cancel))
        .route(
            "/api/v1/chatbot/config",
            get(config::list).post(config::create),
        )
        .route(
            "/api/v1/chatbot/config/{config_id}",
            put(config::update).delete(config::delete),
        )
        .route(
            "/api/v1/chatbot/config/{config_id}/rotate-key",
            post(config::rotate_key),
        )
        .route("/api/v1/admin/reload", post(reload))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(64 * 1024))
        .route_layer(axum::middleware::from_fn(crate::telemetry::track))
        .with_state(state);
    Router::new()
        .merge(api)
        .merge(Redoc::with_url("/redoc", doc.clone()))
        .merge(SwaggerUi::new("/docs").url("/openapi.json", doc))
        .fallback(not_found)
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(|_| {
            use axum::response::IntoResponse;
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal_error",
                "internal error",
            )
            .into_response()
        }))
}
