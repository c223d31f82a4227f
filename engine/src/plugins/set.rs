//! A loaded set of plugins and how one call runs: a fresh instance in a
//! fresh store, with its deadline, memory cap and grants; the outcome
//! checked against the contract and turned into a clear error when the
//! plugin misbehaves.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::Value as Json;
use wasmtime::{Store, Trap, UpdateDeadline};

use super::breaker::{Breaker, BreakerState, Pass};
use super::error::{DispatchError, FailureCode};
use super::runtime::Runtime;
use super::state::{CallMode, CallScope, Grants, HostState};
use super::types::{
    ActionCall, ActionOutcome, IntentKind, PluginAnswer, PluginManifest, PluginRequest, Proposal,
    RawAnswer, RawOutcome, ReportedKind, SuggestedAction,
};
use super::v0_1_0;
use crate::TenantId;
use crate::config::Limits;
use crate::registry::IntentRegistry;
use crate::store::Db;

/// How many times `execute` is run again after a write conflict.
const EXECUTE_RETRIES: u32 = 5;

/// A guest built against one of the supported WIT versions.
pub(crate) enum VersionedGuest {
    /// `switchboard:plugin@0.1.0`.
    V0_1_0(v0_1_0::Guest),
}

impl VersionedGuest {
    /// The WIT version.
    pub fn wit_version(&self) -> &'static str {
        match self {
            Self::V0_1_0(_) => "0.1.0",
        }
    }
}

/// Where a plugin came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PluginSource {
    /// Compiled into the binary.
    Builtin,
    /// Loaded from a file.
    File(String),
}

/// Who is asking, as authenticated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallContext {
    /// The caller's tenant; every query is bound to it.
    pub tenant: TenantId,
    /// The caller's user id.
    pub user_id: String,
}

/// One loaded plugin.
pub struct LoadedPlugin {
    /// Its manifest.
    pub manifest: PluginManifest,
    /// Where it came from.
    pub source: PluginSource,
    /// Its effective limits.
    pub limits: Limits,
    /// What it was granted.
    pub grants: Arc<Grants>,
    /// Warnings found while loading (e.g. an intent's query not granted).
    pub warnings: Vec<String>,
    pub(crate) guest: VersionedGuest,
    pub(crate) breaker: Breaker,
}

impl std::fmt::Debug for LoadedPlugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoadedPlugin")
            .field("name", &self.manifest.name)
            .field("version", &self.manifest.version)
            .field("source", &self.source)
            .finish_non_exhaustive()
    }
}

/// A summary of a loaded plugin, for listings.
#[derive(Debug, Clone, Serialize)]
pub struct PluginInfo {
    /// Name.
    pub name: String,
    /// Version.
    pub version: String,
    /// Description.
    pub description: String,
    /// WIT version it was built against.
    pub wit_version: String,
    /// Where it came from.
    pub source: PluginSource,
    /// Its intents.
    pub intents: Vec<String>,
    /// Granted named queries.
    pub granted_queries: Vec<String>,
    /// Their SQL as the host runs it (positional parameters), for review.
    pub granted_sql: std::collections::BTreeMap<String, String>,
    /// Breaker state.
    pub breaker: BreakerState,
    /// Load warnings.
    pub warnings: Vec<String>,
}

impl LoadedPlugin {
    /// The plugin's name.
    pub fn name(&self) -> &str {
        &self.manifest.name
    }

    /// A summary for listings.
    pub fn info(&self) -> PluginInfo {
        PluginInfo {
            name: self.manifest.name.clone(),
            version: self.manifest.version.clone(),
            description: self.manifest.description.clone(),
            wit_version: self.guest.wit_version().to_owned(),
            source: self.source.clone(),
            intents: self
                .manifest
                .intents
                .iter()
                .map(|i| i.name.clone())
                .collect(),
            granted_queries: self.grants.queries.keys().cloned().collect(),
            granted_sql: self
                .grants
                .queries
                .iter()
                .map(|(name, q)| {
                    (
                        name.clone(),
                        format!(
                            "{} [{:?}; parameters: {}]",
                            q.sql,
                            q.access,
                            q.params.join(", ")
                        ),
                    )
                })
                .collect(),
            breaker: self.breaker.state(),
            warnings: self.warnings.clone(),
        }
    }

    fn failed(&self, code: FailureCode, message: impl Into<String>) -> DispatchError {
        DispatchError::Failed {
            plugin: self.name().to_owned(),
            code,
            message: message.into(),
        }
    }

    fn new_store(&self, runtime: &Runtime, scope: CallScope) -> Store<HostState> {
        let memory = usize::try_from(self.limits.memory_mib << 20).unwrap_or(usize::MAX);
        new_store(runtime, scope, memory)
    }

    fn scope(&self, mode: CallMode, ctx: &CallContext, db: Option<Db>) -> CallScope {
        CallScope {
            plugin: self.name().to_owned(),
            mode,
            tenant: Some(ctx.tenant),
            user_id: ctx.user_id.clone(),
            grants: self.grants.clone(),
            db,
            max_queries: self.limits.max_queries_per_request,
            deadline: Instant::now() + Duration::from_millis(self.limits.deadline_ms),
            max_http_body: usize::try_from(self.limits.max_output_bytes).unwrap_or(usize::MAX),
        }
    }

    /// Turns a failed guest call into a clear, safe error.
    fn classify(&self, error: &wasmtime::Error, state: &HostState) -> DispatchError {
        if let Some(violation) = &state.violation {
            return self.failed(violation.code, violation.message.clone());
        }
        let name = self.name();
        if state.limiter.exceeded {
            return self.failed(
                FailureCode::PluginMemoryExceeded,
                format!(
                    "plugin `{name}` exceeded its memory limit of {} MiB",
                    self.limits.memory_mib
                ),
            );
        }
        match error.downcast_ref::<Trap>() {
            Some(Trap::Interrupt) => self.failed(
                FailureCode::PluginTimeout,
                format!(
                    "plugin `{name}` did not answer within {} ms",
                    self.limits.deadline_ms
                ),
            ),
            Some(trap) => self.failed(
                FailureCode::PluginTrap,
                format!("plugin `{name}` crashed: {trap}"),
            ),
            None => {
                tracing::error!(plugin = %name, error = ?error, "plugin call failed in the host");
                self.failed(
                    FailureCode::PluginTrap,
                    format!("plugin `{name}` failed: {}", first_line(&error.to_string())),
                )
            }
        }
    }

    /// Starts a guest call: the breaker's permission, then a fresh store.
    /// The pass goes to [`Self::conclude`]; if the call's future is dropped
    /// before that, the pass frees a half-open breaker's trial on drop.
    fn begin(
        &self,
        runtime: &Runtime,
        scope: CallScope,
    ) -> Result<(Store<HostState>, Pass<'_>), DispatchError> {
        let Some(pass) = self.breaker.admit() else {
            return Err(self.failed(
                FailureCode::PluginUnavailable,
                format!(
                    "plugin `{}` is out of rotation after repeated failures",
                    self.name()
                ),
            ));
        };
        Ok((self.new_store(runtime, scope), pass))
    }

    /// Ends a guest call begun with [`Self::begin`]: checks its `outcome`
    /// with `validate`, ends its transaction (committed only when
    /// `commit_on_ok` and all went well), and keeps the breaker's books.
    async fn conclude<T>(
        &self,
        (mut store, pass): (Store<HostState>, Pass<'_>),
        outcome: wasmtime::Result<Result<T, (ReportedKind, String)>>,
        commit_on_ok: bool,
        validate: impl FnOnce(T) -> Result<T, (FailureCode, String)>,
    ) -> Result<T, DispatchError> {
        let mut result = match outcome {
            Err(error) => {
                let _ = store.data_mut().finish(false).await;
                Err(self.classify(&error, store.data()))
            }
            Ok(Err((kind, message))) => {
                let _ = store.data_mut().finish(false).await;
                Err(DispatchError::Reported {
                    plugin: self.name().to_owned(),
                    kind,
                    message,
                })
            }
            Ok(Ok(value)) => match validate(value) {
                Err((code, message)) => {
                    let _ = store.data_mut().finish(false).await;
                    Err(self.failed(code, message))
                }
                Ok(value) => match store.data_mut().finish(commit_on_ok).await {
                    Ok(()) => Ok(value),
                    Err(message) => Err(self.failed(FailureCode::PluginHostError, message)),
                },
            },
        };
        // A collision is worth a retry only if nothing left the engine.
        if result.is_err() && store.data().write_conflict && !store.data().external_effects {
            // Everything was rolled back; the caller may retry.
            result = Err(self.failed(
                FailureCode::PluginWriteConflict,
                format!(
                    "plugin `{}`: a write collided with a concurrent one",
                    self.name()
                ),
            ));
        }
        match &result {
            Err(DispatchError::Failed { code, message, .. }) if code.counts_against_plugin() => {
                let message = crate::ai::mask::for_logs(message);
                tracing::warn!(plugin = %self.name(), code = %code, "{message}");
                if pass.failed() {
                    tracing::error!(
                        plugin = %self.name(),
                        failures = self.breaker.consecutive_failures(),
                        "plugin taken out of rotation after repeated failures"
                    );
                }
            }
            Err(DispatchError::Failed { .. }) => pass.inconclusive(),
            _ => pass.succeeded(),
        }
        result
    }

    /// Answers `request` on a fresh instance.
    pub async fn handle(
        &self,
        runtime: &Runtime,
        db: Option<Db>,
        ctx: &CallContext,
        request: &PluginRequest,
        kind: IntentKind,
    ) -> Result<PluginAnswer, DispatchError> {
        let scope = self.scope(CallMode::Handle, ctx, db);
        let max = self.limits.max_output_bytes;
        let (mut store, pass) = self.begin(runtime, scope)?;
        let outcome = match &self.guest {
            VersionedGuest::V0_1_0(g) => g.handle(&mut store, request, &ctx.user_id).await,
        };
        let raw = self
            .conclude((store, pass), outcome, false, |raw: RawAnswer| {
                check_answer_size(&raw, max)
                    .map(|()| raw)
                    .map_err(|(code, m)| (code, format!("plugin `{}`: {m}", self.name())))
            })
            .await?;
        self.validate_answer(raw, kind)
    }

    /// Executes a confirmed action on a fresh instance.
    pub async fn execute(
        &self,
        runtime: &Runtime,
        db: Option<Db>,
        ctx: &CallContext,
        call: &ActionCall,
    ) -> Result<ActionOutcome, DispatchError> {
        // A write that collides with a concurrent one (two replicas taking
        // the same next number) was rolled back whole: run it again.
        let mut attempt = 0u32;
        loop {
            let result = self.execute_once(runtime, db.clone(), ctx, call).await;
            match &result {
                Err(DispatchError::Failed {
                    code: FailureCode::PluginWriteConflict,
                    ..
                }) if attempt < EXECUTE_RETRIES => {
                    attempt += 1;
                    metrics::counter!("switchboard_plugin_write_retries_total", "plugin" => self.name().to_owned())
                        .increment(1);
                    // Spread the retries of colliding writers apart.
                    let jitter = u64::from(uuid::Uuid::new_v4().as_bytes()[0] % 20);
                    tokio::time::sleep(Duration::from_millis(5 * u64::from(attempt) + jitter))
                        .await;
                }
                _ => return result,
            }
        }
    }

    async fn execute_once(
        &self,
        runtime: &Runtime,
        db: Option<Db>,
        ctx: &CallContext,
        call: &ActionCall,
    ) -> Result<ActionOutcome, DispatchError> {
        let scope = self.scope(CallMode::Execute, ctx, db);
        let max = self.limits.max_output_bytes;
        let parameters = call.parameters.to_string();
        let plugin = self.name().to_owned();
        let (mut store, pass) = self.begin(runtime, scope)?;
        let outcome = match &self.guest {
            VersionedGuest::V0_1_0(g) => {
                g.execute(&mut store, &call.action, &parameters, &ctx.user_id)
                    .await
            }
        };
        self.conclude((store, pass), outcome, true, |raw: RawOutcome| {
            // Checked before the transaction commits: a bad answer
            // leaves no write behind.
            let size = raw.response_text.len() + raw.structured_data.len();
            if size as u64 > max {
                return Err((
                    FailureCode::PluginOutputTooLarge,
                    format!("plugin `{plugin}` returned {size} bytes; the limit is {max}"),
                ));
            }
            if let Err(e) = parse_json(&raw.structured_data) {
                return Err((
                    FailureCode::PluginBadOutput,
                    format!("plugin `{plugin}` returned invalid structured_data: {e}"),
                ));
            }
            Ok(raw)
        })
        .await
        .and_then(|raw| {
            let structured_data = parse_json(&raw.structured_data).map_err(|e| {
                self.failed(
                    FailureCode::PluginBadOutput,
                    format!(
                        "plugin `{}` returned invalid structured_data: {e}",
                        self.name()
                    ),
                )
            })?;
            Ok(ActionOutcome {
                plugin: self.name().to_owned(),
                response_text: raw.response_text,
                structured_data,
            })
        })
    }

    fn validate_answer(
        &self,
        raw: RawAnswer,
        kind: IntentKind,
    ) -> Result<PluginAnswer, DispatchError> {
        let name = self.name();
        let bad = |what: String| {
            self.failed(
                FailureCode::PluginBadOutput,
                format!("plugin `{name}` {what}"),
            )
        };
        if raw.response_text.trim().is_empty() {
            return Err(bad("returned an empty response_text".into()));
        }
        let structured_data = parse_json(&raw.structured_data)
            .map_err(|e| bad(format!("returned invalid structured_data: {e}")))?;
        let mut suggested_actions = Vec::with_capacity(raw.suggested_actions.len());
        for (action, parameters, description) in raw.suggested_actions {
            let parameters = parse_object(&parameters).map_err(|e| {
                bad(format!(
                    "returned invalid parameters for suggested action `{action}`: {e}"
                ))
            })?;
            suggested_actions.push(SuggestedAction {
                action,
                parameters,
                description,
            });
        }
        let proposal = match raw.proposal {
            None => None,
            Some(_) if kind == IntentKind::Read => {
                return Err(bad("proposed an action for a read intent".into()));
            }
            Some((action, parameters, summary)) => Some(Proposal {
                parameters: parse_object(&parameters).map_err(|e| {
                    bad(format!(
                        "returned invalid parameters for proposal `{action}`: {e}"
                    ))
                })?,
                action,
                summary,
            }),
        };
        Ok(PluginAnswer {
            plugin: name.to_owned(),
            response_text: raw.response_text,
            structured_data,
            suggested_actions,
            proposal,
        })
    }

    /// Calls `manifest()` on a fresh instance (at load time).
    pub(crate) async fn read_manifest(
        guest: &VersionedGuest,
        runtime: &Runtime,
        label: &str,
        limits: Limits,
    ) -> Result<PluginManifest, String> {
        let scope = CallScope {
            plugin: label.to_owned(),
            mode: CallMode::Manifest,
            tenant: None,
            user_id: String::new(),
            grants: Arc::new(Grants::default()),
            db: None,
            max_queries: 0,
            deadline: Instant::now() + Duration::from_millis(limits.deadline_ms.max(1000)),
            max_http_body: 0,
        };
        let memory = usize::try_from(limits.memory_mib << 20).unwrap_or(usize::MAX);
        let mut store = new_store(runtime, scope, memory);
        let manifest = match guest {
            VersionedGuest::V0_1_0(g) => g.manifest(&mut store).await,
        };
        manifest.map_err(|e| match e.downcast_ref::<Trap>() {
            Some(Trap::Interrupt) => "manifest() did not return in time".to_owned(),
            Some(trap) => format!("manifest() trapped: {trap}"),
            None => format!("manifest() failed: {}", first_line(&e.to_string())),
        })
    }
}

/// A store for one call of `scope` with a memory cap of `memory` bytes.
/// The guest yields to the executor at every epoch tick and is interrupted
/// at the scope's deadline.
fn new_store(runtime: &Runtime, scope: CallScope, memory: usize) -> Store<HostState> {
    let deadline = scope.deadline;
    let mut store = Store::new(runtime.engine(), HostState::new(scope, memory));
    store.limiter(|state| &mut state.limiter);
    store.set_epoch_deadline(1);
    store.epoch_deadline_callback(move |_| {
        if Instant::now() >= deadline {
            Ok(UpdateDeadline::Interrupt)
        } else {
            Ok(UpdateDeadline::YieldCustom(
                1,
                Box::pin(tokio::task::yield_now()),
            ))
        }
    });
    store
}

fn first_line(text: &str) -> String {
    text.lines()
        .next()
        .unwrap_or_default()
        .chars()
        .take(300)
        .collect()
}

fn parse_json(text: &str) -> Result<Json, String> {
    if text.trim().is_empty() {
        return Ok(Json::Object(Default::default()));
    }
    serde_json::from_str(text).map_err(|e| e.to_string())
}

fn parse_object(text: &str) -> Result<Json, String> {
    match parse_json(text)? {
        Json::Object(map) => Ok(Json::Object(map)),
        other => Err(format!("expected a JSON object, got {}", kind_of(&other))),
    }
}

fn kind_of(v: &Json) -> &'static str {
    match v {
        Json::Null => "null",
        Json::Bool(_) => "a boolean",
        Json::Number(_) => "a number",
        Json::String(_) => "a string",
        Json::Array(_) => "an array",
        Json::Object(_) => "an object",
    }
}

fn check_answer_size(raw: &RawAnswer, max: u64) -> Result<(), (FailureCode, String)> {
    let size = raw.response_text.len()
        + raw.structured_data.len()
        + raw
            .suggested_actions
            .iter()
            .map(|(a, p, d)| a.len() + p.len() + d.len())
            .sum::<usize>()
        + raw
            .proposal
            .as_ref()
            .map_or(0, |(a, p, s)| a.len() + p.len() + s.len());
    if size as u64 > max {
        return Err((
            FailureCode::PluginOutputTooLarge,
            format!("the answer is {size} bytes; the limit is {max}"),
        ));
    }
    Ok(())
}

/// The plugins loaded from one configuration, and their intents.
#[derive(Debug, Default)]
pub struct PluginSet {
    pub(crate) plugins: Vec<Arc<LoadedPlugin>>,
    pub(crate) registry: IntentRegistry,
}

impl PluginSet {
    /// The intent registry.
    pub fn registry(&self) -> &IntentRegistry {
        &self.registry
    }

    /// The plugins, in load order.
    pub fn plugins(&self) -> impl Iterator<Item = &Arc<LoadedPlugin>> {
        self.plugins.iter()
    }

    /// The plugin named `name`.
    pub fn plugin(&self, name: &str) -> Option<&Arc<LoadedPlugin>> {
        self.plugins.iter().find(|p| p.name() == name)
    }

    /// Summaries of every plugin.
    pub fn infos(&self) -> Vec<PluginInfo> {
        self.plugins.iter().map(|p| p.info()).collect()
    }
}
