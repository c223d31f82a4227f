//! Running the HTTP server: bind, serve the API, reload on SIGHUP, and shut
//! down gracefully on SIGTERM or SIGINT.

use std::sync::Arc;
use std::time::Duration;

use crate::api::{self, AppState};
use crate::config::ServerConfig;
use crate::store::records;

/// Serves on `config.addr` until SIGTERM or SIGINT; reloads plugins on
/// SIGHUP.
pub async fn serve(state: Arc<AppState>, config: &ServerConfig) -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::bind(config.addr).await?;
    tracing::info!(addr = %listener.local_addr()?, "switchboard listening");
    let grace = Duration::from_secs(config.shutdown_grace_secs);
    serve_until(state, listener, shutdown_signal(), grace).await
}

/// Serves on `listener` until `shutdown` completes, then stops accepting,
/// finishes the requests in flight and waits up to `grace` for confirmed
/// actions whose client has gone, so that each one's outcome is recorded
/// before the process exits. Each is bounded by its plugin's deadline and
/// the database's timeouts, so `grace` is only a backstop; an action cut
/// off by it is marked `interrupted` by a later sweep (see
/// [`records::STUCK_AFTER`]).
pub async fn serve_until(
    state: Arc<AppState>,
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
    grace: Duration,
) -> std::io::Result<()> {
    spawn_sighup_reload(state.clone());
    spawn_stuck_action_sweeper(state.clone());
    let served = axum::serve(listener, api::router(state.clone()))
        .with_graceful_shutdown(shutdown)
        .await;
    finish_background(&state, grace).await;
    served
}

async fn finish_background(state: &AppState, grace: Duration) {
    state.background.close();
    if !state.background.is_empty() {
        tracing::info!(
            actions = state.background.len(),
            "waiting for confirmed actions to finish"
        );
    }
    if tokio::time::timeout(grace, state.background.wait())
        .await
        .is_err()
    {
        tracing::warn!(
            actions = state.background.len(),
            "confirmed actions still running at shutdown; a later sweep marks them interrupted"
        );
    }
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

/// Every minute (and once at start), marks actions left `executing` by a
/// crashed engine as `interrupted`, so they do not stay in limbo.
fn spawn_stuck_action_sweeper(state: Arc<AppState>) {
    tokio::spawn(async move {
        let mut every = tokio::time::interval(std::time::Duration::from_secs(60));
        loop {
            every.tick().await;
            let cutoff = records::text_before(records::STUCK_AFTER);
            match records::interrupt_stuck_actions(&state.db, &cutoff).await {
                Ok(0) => {}
                Ok(n) => tracing::warn!(
                    actions = n,
                    "actions left executing by an interrupted engine marked interrupted"
                ),
                Err(error) => tracing::warn!(%error, "sweeping stuck actions failed"),
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
