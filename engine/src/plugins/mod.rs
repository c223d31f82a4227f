//! The plugin host: sandboxed WebAssembly components run by wasmtime.
//!
//! Each plugin is compiled once (cached on disk), linked once
//! (`InstancePre`), and instantiated fresh for every call from the pooling
//! allocator, so no state survives between calls, users or tenants. A call
//! has a wall-clock deadline (epoch interruption), a memory cap, an output
//! cap and a cap on named queries; a plugin that breaks a rule gets that
//! request refused with a clear code, and one that keeps failing is taken
//! out of rotation by its circuit breaker. The whole set is swapped
//! atomically on reload.

mod breaker;
mod builtin;
mod cache;
pub mod error;
mod loader;
mod runtime;
pub mod set;
pub mod sql;
mod state;
pub mod tenant_scope;
pub mod types;
mod v0_1_0;

use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use tokio::sync::Semaphore;

pub use breaker::{Breaker, BreakerState, Pass};
pub use builtin::{BUILT_WASM_DIR, BUILTIN_PLUGINS};
pub use cache::{CacheOutcome, CompileCache};
pub use error::{DispatchError, FailureCode, LoadError};
pub use loader::SUPPORTED_WIT_VERSIONS;
pub use runtime::Runtime;
pub use set::{CallContext, LoadedPlugin, PluginInfo, PluginSet, PluginSource};
pub use types::{
    ActionCall, ActionOutcome, IntentKind, PluginAnswer, PluginManifest, PluginRequest, Proposal,
    ReportedKind, SuggestedAction,
};

use crate::config::Config;
use crate::store::Db;

/// The running plugin set and what it needs to run calls.
pub struct PluginHost {
    runtime: Arc<Runtime>,
    current: ArcSwap<PluginSet>,
    db: Option<Db>,
    permits: Arc<Semaphore>,
    /// How long a call waits for a permit before it is refused as busy.
    queue_timeout: Duration,
}

impl std::fmt::Debug for PluginHost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PluginHost")
            .field("plugins", &self.current.load().plugins.len())
            .finish_non_exhaustive()
    }
}

impl PluginHost {
    /// Starts the host and loads the plugins of `config`.
    pub async fn start(config: &Config, db: Option<Db>) -> Result<Self, LoadError> {
        let max = config.plugins.max_concurrent_calls;
        let runtime = Arc::new(Runtime::new(max)?);
        let set = {
            let runtime = runtime.clone();
            let config = config.clone();
            tokio::task::spawn_blocking(move || loader::load_set(&runtime, &config))
                .await
                .map_err(|e| LoadError::Host(e.to_string()))??
        };
        Ok(Self {
            runtime,
            current: ArcSwap::from_pointee(set),
            db,
            permits: Arc::new(Semaphore::new(max as usize)),
            queue_timeout: Duration::from_millis(config.plugins.queue_timeout_ms),
        })
    }

    /// Loads the plugins of `config` and swaps them in atomically. On error
    /// the running set is untouched and the error says why.
    pub async fn reload(&self, config: &Config) -> Result<Arc<PluginSet>, LoadError> {
        let set = self.reload_prepare(config).await?;
        self.swap(set.clone());
        Ok(set)
    }

    /// Loads the plugins of `config` into a new set without swapping it
    /// in, so a caller can prepare what depends on it (the NLU) first.
    pub async fn reload_prepare(&self, config: &Config) -> Result<Arc<PluginSet>, LoadError> {
        let runtime = self.runtime.clone();
        let config = config.clone();
        let set = tokio::task::spawn_blocking(move || loader::load_set(&runtime, &config))
            .await
            .map_err(|e| LoadError::Host(e.to_string()))??;
        Ok(Arc::new(set))
    }

    /// Makes `set` the running set, atomically.
    pub fn swap(&self, set: Arc<PluginSet>) {
        self.current.store(set);
    }

    /// The running set (a snapshot; a reload does not change it).
    pub fn set(&self) -> Arc<PluginSet> {
        self.current.load_full()
    }

    /// The database plugins query.
    pub fn db(&self) -> Option<&Db> {
        self.db.as_ref()
    }

    /// Routes `request` to the plugin that owns its intent.
    pub async fn handle(
        &self,
        ctx: &CallContext,
        request: PluginRequest,
    ) -> Result<PluginAnswer, DispatchError> {
        let set = self.set();
        let intent = set
            .registry()
            .get(&request.intent)
            .ok_or_else(|| DispatchError::UnknownIntent(request.intent.clone()))?;
        let kind = intent.kind();
        let plugin = set
            .plugin(&intent.plugin)
            .cloned()
            .ok_or_else(|| DispatchError::UnknownIntent(request.intent.clone()))?;
        let runtime = self.runtime.clone();
        let db = self.db.clone();
        run(&self.permits, self.queue_timeout, &plugin, async {
            plugin.handle(&runtime, db, ctx, &request, kind).await
        })
        .await
    }

    /// Executes a confirmed action with the plugin that owns `intent`.
    pub async fn execute(
        &self,
        ctx: &CallContext,
        intent: &str,
        call: ActionCall,
    ) -> Result<ActionOutcome, DispatchError> {
        let set = self.set();
        let owner = set
            .registry()
            .get(intent)
            .ok_or_else(|| DispatchError::UnknownIntent(intent.to_owned()))?;
        let plugin = set
            .plugin(&owner.plugin)
            .cloned()
            .ok_or_else(|| DispatchError::UnknownIntent(intent.to_owned()))?;
        let runtime = self.runtime.clone();
        let db = self.db.clone();
        let ctx = ctx.clone();
        // A confirmed action runs to its end even if the client goes away
        // meanwhile: its own task, not the request's.
        let permits = self.permits.clone();
        let queue_timeout = self.queue_timeout;
        let name = plugin.name().to_owned();
        tokio::spawn(async move {
            run(&permits, queue_timeout, &plugin, async {
                plugin.execute(&runtime, db, &ctx, &call).await
            })
            .await
        })
        .await
        .map_err(|e| DispatchError::Failed {
            plugin: name,
            code: FailureCode::PluginHostError,
            message: format!("the plugin call was aborted: {e}"),
        })?
    }
}

/// Counts a failed call of `plugin` in `switchboard_plugin_failures_total`.
fn count_failure(plugin: &str, code: FailureCode) {
    metrics::counter!("switchboard_plugin_failures_total", "plugin" => plugin.to_owned(), "code" => code.as_str())
        .increment(1);
}

/// Runs `call` to `plugin` under a permit of `permits` (bounded
/// concurrency) on the calling task, and records its duration and outcome.
/// A call that gets no permit within `queue_timeout` fails as
/// [`FailureCode::PluginBusy`] without touching the plugin or its breaker.
async fn run<T>(
    permits: &Semaphore,
    queue_timeout: Duration,
    plugin: &Arc<LoadedPlugin>,
    call: impl std::future::Future<Output = Result<T, DispatchError>>,
) -> Result<T, DispatchError> {
    let host_error = |message: String| DispatchError::Failed {
        plugin: plugin.name().to_owned(),
        code: FailureCode::PluginHostError,
        message,
    };
    let permit = match tokio::time::timeout(queue_timeout, permits.acquire()).await {
        Ok(permit) => permit.map_err(|e| host_error(e.to_string()))?,
        Err(_) => {
            count_failure(plugin.name(), FailureCode::PluginBusy);
            return Err(DispatchError::Failed {
                plugin: plugin.name().to_owned(),
                code: FailureCode::PluginBusy,
                message: format!(
                    "every plugin slot stayed busy for {} ms; try again",
                    queue_timeout.as_millis()
                ),
            });
        }
    };
    let started = std::time::Instant::now();
    // The call runs on this task, and yields at every epoch tick.
    let result = call.await;
    drop(permit);
    let name = plugin.name().to_owned();
    let outcome = match &result {
        Ok(_) => "ok",
        Err(DispatchError::Reported { .. }) => "reported",
        Err(DispatchError::Failed { code, .. }) => {
            count_failure(&name, *code);
            "failed"
        }
        Err(DispatchError::UnknownIntent(_)) => "unknown_intent",
    };
    metrics::histogram!("switchboard_plugin_call_duration_seconds", "plugin" => name.clone(), "outcome" => outcome)
            .record(started.elapsed().as_secs_f64());
    let open = plugin.breaker.state() != BreakerState::Closed;
    metrics::gauge!("switchboard_plugin_breaker_open", "plugin" => name).set(if open {
        1.0
    } else {
        0.0
    });
    result
}
