//! The HTTP server: health and readiness, and the plugin set reloaded on
//! SIGHUP. (The chatbot API routes build on this.)

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;

use crate::config::Config;
use crate::query::QueryEngine;
use crate::store::Db;

/// What every handler shares.
#[derive(Debug)]
pub struct AppState {
    /// Plugins and the NLU.
    pub engine: QueryEngine,
    /// The database.
    pub db: Db,
    /// Where the configuration was read from, for reloads.
    pub config_path: Option<PathBuf>,
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

/// The router.
pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .with_state(state)
}

async fn healthz() -> Json<serde_json::Value> {
    Json(json!({ "status": "ok" }))
}

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

/// Serves until SIGTERM or SIGINT; reloads plugins on SIGHUP.
pub async fn serve(state: Arc<AppState>, addr: SocketAddr) -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    tracing::info!(addr = %listener.local_addr()?, "switchboard listening");
    spawn_sighup_reload(state.clone());
    axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown_signal())
        .await
}

fn spawn_sighup_reload(state: Arc<AppState>) {
    #[cfg(unix)]
    tokio::spawn(async move {
        use tokio::signal::unix::{SignalKind, signal};
        let Ok(mut hup) = signal(SignalKind::hangup()) else {
            return;
        };
        while hup.recv().await.is_some() {
            match state.reload().await {
                Ok(n) => tracing::info!(plugins = n, "configuration reloaded"),
                Err(error) => {
                    tracing::error!(%error, "reload refused; the running plugins are unchanged")
                }
            }
        }
    });
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut s) = signal(SignalKind::terminate()) {
            s.recv().await;
        } else {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutting down");
}
