//! What a plugin instance can reach: the per-call state behind every host
//! import. One `HostState` lives exactly as long as one call's instance.
//!
//! The host functions here are version-neutral; each WIT version's adapter
//! (`v0_1_0.rs`, ...) converts its types and calls them.

use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use sqlx::{Any, Transaction};
use wasmtime::ResourceLimiter;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use super::error::FailureCode;
use super::sql::{self, PreparedQuery, SqlRows, SqlValue, TENANT_PARAM};
use super::types::QueryAccess;
use crate::TenantId;
use crate::store::direct::SqliteFile;
use crate::store::{Db, DbKind};

/// Which export is running; decides what the plugin may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallMode {
    /// `manifest()` at load time: no data access at all.
    Manifest,
    /// `handle()`: read queries only.
    Handle,
    /// `execute()`: read and write queries, in one transaction.
    Execute,
}

/// A rule the plugin broke; the host ends the request with this code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct Violation {
    /// The code reported to the client.
    pub code: FailureCode,
    /// A safe explanation.
    pub message: String,
}

/// A named-query failure the plugin may handle itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QueryFailure {
    /// Missing or unknown parameters.
    InvalidParams(String),
    /// The database failed.
    Failed(String),
}

/// What the admin granted a plugin, shared by all its calls.
#[derive(Debug, Default)]
pub struct Grants {
    /// Granted named queries, prepared.
    pub queries: BTreeMap<String, PreparedQuery>,
    /// Hosts (`host` or `host:port`) it may call over HTTP.
    pub http_hosts: Vec<String>,
}

/// Everything one call needs to know.
#[derive(Debug)]
pub struct CallScope {
    /// The plugin's name, for logs and messages.
    pub plugin: String,
    /// Which export runs.
    pub mode: CallMode,
    /// The caller's tenant (absent while loading).
    pub tenant: Option<TenantId>,
    /// The caller.
    pub user_id: String,
    /// What the plugin may use.
    pub grants: Arc<Grants>,
    /// The database, if the engine has one.
    pub db: Option<Db>,
    /// Named-query calls allowed in this call.
    pub max_queries: u32,
    /// When the call must end.
    pub deadline: Instant,
    /// Cap on response bodies from HTTP.
    pub max_http_body: usize,
}

/// Refuses memory growth past the cap, and remembers that it did.
#[derive(Debug)]
pub struct MemoryLimiter {
    max_bytes: usize,
    /// Set when a growth was refused.
    pub exceeded: bool,
}

impl ResourceLimiter for MemoryLimiter {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.max_bytes {
            self.exceeded = true;
            return Ok(false);
        }
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= 100_000)
    }
}

/// WASI's wall clock, frozen at the start of the call with one-second
/// resolution: a plugin learns no more about time than the host's `now`
/// tells it, and cannot time anything.
struct FrozenWallClock(Duration);

impl wasmtime_wasi::HostWallClock for FrozenWallClock {
    fn resolution(&self) -> Duration {
        Duration::from_secs(1)
    }

    fn now(&self) -> Duration {
        self.0
    }
}

/// WASI's monotonic clock, which never advances.
struct FrozenMonotonicClock;

impl wasmtime_wasi::HostMonotonicClock for FrozenMonotonicClock {
    fn resolution(&self) -> u64 {
        1_000_000_000
    }

    fn now(&self) -> u64 {
        0
    }
}

const MAX_LOG_LINES: u32 = 200;
const MAX_LOG_BYTES: usize = 4096;

/// The store data of one plugin call.
pub struct HostState {
    wasi: WasiCtx,
    table: ResourceTable,
    /// The memory cap.
    pub limiter: MemoryLimiter,
    scope: CallScope,
    queries_run: u32,
    log_lines: u32,
    transaction: Option<Transaction<'static, Any>>,
    /// The read transaction of `handle` on SQLite, straight on the file.
    reader: Option<crate::store::direct::Reader>,
    /// The first rule the plugin broke, if any.
    pub violation: Option<Violation>,
    /// Whether a write of `execute` collided with a concurrent one (a
    /// unique key taken meanwhile, a serialisation failure, a busy
    /// database): the host retries the whole call.
    pub write_conflict: bool,
    /// Whether a named query of `execute` failed. PostgreSQL then refuses
    /// the rest of the transaction, and its COMMIT silently rolls back: the
    /// host must not report success.
    pub query_failed: bool,
    /// Whether `execute` sent a request that may change something outside
    /// (not GET or HEAD): such a call is never run again.
    pub external_effects: bool,
}

/// Whether `error` is a collision with a concurrent writer that a retry
/// of the whole transaction can resolve.
///
/// On SQLite, `execute` transactions begin IMMEDIATE and so run one at a
/// time: a unique-key error there is a genuine duplicate, never a race,
/// and only "busy" counts.
pub fn is_write_conflict(error: &sqlx::Error, kind: DbKind) -> bool {
    let Some(db) = error.as_database_error() else {
        return false;
    };
    let code = db.code();
    match kind {
        // Unique violation, serialisation failure, deadlock.
        DbKind::Postgres => matches!(code.as_deref(), Some("23505" | "40001" | "40P01")),
        // Busy, busy snapshot.
        DbKind::Sqlite => matches!(code.as_deref(), Some("5" | "517")),
    }
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

fn http_client() -> &'static reqwest::Client {
    static CLIENT: OnceLock<reqwest::Client> = OnceLock::new();
    CLIENT.get_or_init(|| {
        reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap_or_default()
    })
}

impl HostState {
    /// State for one call with a memory cap of `memory_bytes`.
    pub fn new(scope: CallScope, memory_bytes: usize) -> Self {
        // WASI with nothing granted: no preopened folders, no environment,
        // no arguments, no sockets, no name lookup, frozen clocks; output
        // is discarded.
        let since_epoch = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| Duration::from_secs(d.as_secs()))
            .unwrap_or_default();
        let wasi = WasiCtx::builder()
            .wall_clock(FrozenWallClock(since_epoch))
            .monotonic_clock(FrozenMonotonicClock)
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false)
            .build();
        Self {
            wasi,
            table: ResourceTable::new(),
            limiter: MemoryLimiter {
                max_bytes: memory_bytes,
                exceeded: false,
            },
            scope,
            queries_run: 0,
            log_lines: 0,
            transaction: None,
            reader: None,
            violation: None,
            write_conflict: false,
            query_failed: false,
            external_effects: false,
        }
    }

    fn violate(&mut self, code: FailureCode, message: String) -> Violation {
        let violation = Violation { code, message };
        if self.violation.is_none() {
            self.violation = Some(violation.clone());
        }
        violation
    }

    fn remaining(&self) -> Duration {
        self.scope
            .deadline
            .saturating_duration_since(Instant::now())
    }

    /// Runs a named query for the plugin. `Err` is a violation that ends
    /// the call; `Ok(Err(_))` a failure the plugin may handle.
    pub async fn run_query(
        &mut self,
        name: &str,
        params: Vec<(String, SqlValue)>,
    ) -> Result<Result<SqlRows, QueryFailure>, Violation> {
        let plugin = self.scope.plugin.clone();
        if self.scope.mode == CallMode::Manifest {
            return Ok(Err(QueryFailure::Failed(
                "queries are not available while the plugin loads".into(),
            )));
        }
        let Some(query) = self.scope.grants.queries.get(name).cloned() else {
            return Err(self.violate(
                FailureCode::PluginQueryNotGranted,
                format!("plugin `{plugin}` called query `{name}`, which it was not granted"),
            ));
        };
        if params
            .iter()
            .any(|(k, _)| k.eq_ignore_ascii_case(TENANT_PARAM))
        {
            return Err(self.violate(
                FailureCode::PluginTenantViolation,
                format!("plugin `{plugin}` tried to set `{TENANT_PARAM}` on query `{name}`; the tenant is set by the host"),
            ));
        }
        if query.access == QueryAccess::Write && self.scope.mode != CallMode::Execute {
            return Err(self.violate(
                FailureCode::PluginWriteOutsideExecute,
                format!("plugin `{plugin}` ran write query `{name}` outside a confirmed action"),
            ));
        }
        self.queries_run += 1;
        if self.queries_run > self.scope.max_queries {
            let max = self.scope.max_queries;
            return Err(self.violate(
                FailureCode::PluginQueryLimit,
                format!("plugin `{plugin}` made more than {max} queries in one request"),
            ));
        }
        let (Some(tenant), Some(db)) = (self.scope.tenant, self.scope.db.clone()) else {
            return Ok(Err(QueryFailure::Failed(
                "no database is configured".into(),
            )));
        };
        let given: BTreeMap<String, SqlValue> = params.into_iter().collect();
        let values = match query.bind_order(tenant.get(), &given) {
            Ok(values) => values,
            Err(message) => return Ok(Err(QueryFailure::InvalidParams(message))),
        };
        let remaining = self.remaining();
        let mode = self.scope.mode;
        // SQLite reads of `handle` (SELECT only, checked at load) run right
        // here, on this thread, in one read transaction for the call.
        if mode == CallMode::Handle
            && let Some(file) = db.sqlite()
        {
            return self.read_direct(file, name, query.sql, values).await;
        }
        let mut transaction = self.transaction.take();
        let outcome = tokio::time::timeout(remaining, async {
            if transaction.is_none() {
                let mut tx = if mode == CallMode::Execute {
                    db.begin_write().await?
                } else {
                    db.pool().begin().await?
                };
                if mode == CallMode::Handle && db.kind() == DbKind::Postgres {
                    sqlx::query("SET TRANSACTION READ ONLY")
                        .execute(&mut *tx)
                        .await?;
                }
                transaction = Some(tx);
            }
            let Some(tx) = transaction.as_mut() else {
                return Err(sqlx::Error::PoolClosed);
            };
            let bound = sql::bind(&query.sql, values);
            if query.returns_rows() {
                let rows = bound.fetch_all(&mut **tx).await?;
                sql::read_rows(&rows)
            } else {
                let done = bound.execute(&mut **tx).await?;
                Ok(SqlRows {
                    columns: vec!["rows_affected".into()],
                    rows: vec![vec![SqlValue::Int(
                        i64::try_from(done.rows_affected()).unwrap_or(i64::MAX),
                    )]],
                })
            }
        })
        .await;
        self.transaction = transaction;
        match outcome {
            Err(_elapsed) => Err(self.violate(
                FailureCode::PluginTimeout,
                format!("query `{name}` of plugin `{plugin}` ran past the deadline"),
            )),
            Ok(Err(error)) => {
                if mode == CallMode::Execute {
                    self.query_failed = true;
                    if is_write_conflict(&error, db.kind()) {
                        self.write_conflict = true;
                    }
                }
                let code = error
                    .as_database_error()
                    .and_then(|e| e.code())
                    .map(|c| c.into_owned());
                let error = crate::ai::mask::for_logs(&error.to_string()).into_owned();
                tracing::warn!(plugin = %plugin, query = %name, %error, ?code, "named query failed");
                Ok(Err(QueryFailure::Failed(format!("query `{name}` failed"))))
            }
            Ok(Ok(rows)) => Ok(Ok(rows)),
        }
    }

    /// A read of `handle` on a direct SQLite connection, in the call's read
    /// transaction, interrupted at the call's deadline.
    ///
    /// It starts on the calling task, which saves a thread hand-off for the
    /// usual read of well under a millisecond. One still running after
    /// [`INLINE_READ`] is interrupted and run again on the blocking pool
    /// (same snapshot, so the same answer), so a slow query never holds a
    /// runtime worker for more than that.
    async fn read_direct(
        &mut self,
        file: &Arc<SqliteFile>,
        name: &str,
        sql: String,
        values: Vec<SqlValue>,
    ) -> Result<Result<SqlRows, QueryFailure>, Violation> {
        let plugin = self.scope.plugin.clone();
        let deadline = self.scope.deadline;
        let inline_until = deadline.min(Instant::now() + INLINE_READ);
        let mut outcome = match self.reader.take() {
            Some(reader) => Ok(reader),
            None => file.reader(),
        }
        .map(|reader| {
            let rows = read_until(&reader, &sql, &values, inline_until);
            (reader, rows)
        });
        let interrupted = matches!(&outcome, Ok((_, Err(error))) if is_interrupted(error));
        if interrupted
            && Instant::now() < deadline
            && let Ok((reader, _)) = outcome
        {
            let slow = tokio::task::spawn_blocking(move || {
                let rows = read_until(&reader, &sql, &values, deadline);
                (reader, rows)
            });
            outcome = slow.await.map_err(|_| {
                rusqlite::Error::SqliteFailure(
                    rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_ABORT),
                    Some("the read's thread panicked".into()),
                )
            });
        }
        let outcome = outcome.and_then(|(reader, rows)| {
            self.reader = Some(reader);
            rows
        });
        match outcome {
            Ok(rows) => Ok(Ok(rows)),
            Err(error) if is_interrupted(&error) => Err(self.violate(
                FailureCode::PluginTimeout,
                format!("query `{name}` of plugin `{plugin}` ran past the deadline"),
            )),
            Err(error) => {
                let error = crate::ai::mask::for_logs(&error.to_string()).into_owned();
                tracing::warn!(plugin = %plugin, query = %name, %error, "named query failed");
                Ok(Err(QueryFailure::Failed(format!("query `{name}` failed"))))
            }
        }
    }

    /// Ends the call's transaction: commits when `commit`, else rolls back.
    /// Reads in `handle` are always rolled back.
    pub async fn finish(&mut self, commit: bool) -> Result<(), String> {
        // Dropping the reader ends its read transaction.
        self.reader = None;
        let Some(tx) = self.transaction.take() else {
            return Ok(());
        };
        let commit = commit && self.scope.mode == CallMode::Execute;
        let kind = self.scope.db.as_ref().map(Db::kind);
        // PostgreSQL aborted the transaction at the failed query; its COMMIT
        // would answer ROLLBACK without an error.
        let aborted = commit && self.query_failed && kind == Some(DbKind::Postgres);
        let outcome = if commit && !aborted {
            tx.commit().await
        } else {
            tx.rollback().await
        };
        if aborted {
            return Err(
                "a query of the action failed, so PostgreSQL rolled its transaction back; nothing was changed"
                    .to_owned(),
            );
        }
        outcome.map_err(|e| {
            if commit && kind.is_some_and(|k| is_write_conflict(&e, k)) {
                self.write_conflict = true;
            }
            format!("cannot finish the plugin's transaction: {e}")
        })
    }

    /// Structured logging from the plugin, capped in count and size.
    pub fn log(&mut self, level: tracing::Level, message: &str, fields: &[(String, String)]) {
        self.log_lines += 1;
        if self.log_lines > MAX_LOG_LINES {
            return;
        }
        let mut message: String = message.chars().take(MAX_LOG_BYTES).collect();
        if self.log_lines == MAX_LOG_LINES {
            message.push_str(" (further log lines of this call are dropped)");
        }
        let fields: String = fields
            .iter()
            .take(32)
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(" ");
        let fields: String = fields.chars().take(MAX_LOG_BYTES).collect();
        // Plugins log what they handle: PII is masked like everything
        // else the engine logs (`CHATBOT_MASK_PII_IN_LOGS`).
        let message = crate::ai::mask::for_logs(&message);
        let fields = crate::ai::mask::for_logs(&fields);
        let plugin = &self.scope.plugin;
        match level {
            tracing::Level::ERROR => {
                tracing::error!(target: "plugin", plugin = %plugin, fields = %fields, "{message}")
            }
            tracing::Level::WARN => {
                tracing::warn!(target: "plugin", plugin = %plugin, fields = %fields, "{message}")
            }
            tracing::Level::INFO => {
                tracing::info!(target: "plugin", plugin = %plugin, fields = %fields, "{message}")
            }
            tracing::Level::DEBUG => {
                tracing::debug!(target: "plugin", plugin = %plugin, fields = %fields, "{message}")
            }
            _ => tracing::trace!(target: "plugin", plugin = %plugin, fields = %fields, "{message}"),
        }
    }

    /// The current time, RFC 3339 UTC.
    pub fn now(&self) -> String {
        chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    }

    /// Outgoing HTTP, only to the hosts the admin listed.
    #[allow(clippy::type_complexity)]
    pub async fn http_fetch(
        &mut self,
        method: &str,
        url: &str,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
    ) -> Result<Result<(u16, Vec<(String, String)>, Vec<u8>), String>, Violation> {
        let plugin = self.scope.plugin.clone();
        let parsed = match reqwest::Url::parse(url) {
            Ok(u) if u.scheme() == "http" || u.scheme() == "https" => u,
            _ => return Ok(Err(format!("`{url}` is not an http(s) URL"))),
        };
        let host = parsed.host_str().unwrap_or_default().to_ascii_lowercase();
        let port = parsed.port_or_known_default().unwrap_or(0);
        let allowed = self.scope.mode != CallMode::Manifest
            && self.scope.grants.http_hosts.iter().any(|h| {
                let h = h.to_ascii_lowercase();
                h == host || h == format!("{host}:{port}")
            });
        if !allowed {
            return Err(self.violate(
                FailureCode::PluginHttpNotAllowed,
                format!("plugin `{plugin}` may not call host `{host}`"),
            ));
        }
        let Ok(method) = reqwest::Method::from_bytes(method.as_bytes()) else {
            return Ok(Err(format!("`{method}` is not an HTTP method")));
        };
        if self.scope.mode != CallMode::Execute
            && method != reqwest::Method::GET
            && method != reqwest::Method::HEAD
        {
            return Err(self.violate(
                FailureCode::PluginWriteOutsideExecute,
                format!("plugin `{plugin}` sent {method} outside a confirmed action; only GET and HEAD are allowed there"),
            ));
        }
        if method != reqwest::Method::GET && method != reqwest::Method::HEAD {
            self.external_effects = true;
        }
        let remaining = self.remaining();
        let max_body = self.scope.max_http_body;
        let result = async move {
            let mut request = http_client()
                .request(method, parsed)
                .timeout(remaining)
                .body(body);
            for (k, v) in headers {
                request = request.header(k, v);
            }
            let mut response = request.send().await.map_err(|e| e.to_string())?;
            let status = response.status().as_u16();
            let headers = response
                .headers()
                .iter()
                .map(|(k, v)| {
                    (
                        k.to_string(),
                        String::from_utf8_lossy(v.as_bytes()).into_owned(),
                    )
                })
                .collect();
            let mut body = Vec::new();
            while let Some(chunk) = response.chunk().await.map_err(|e| e.to_string())? {
                if body.len() + chunk.len() > max_body {
                    return Err(format!("response body over {max_body} bytes"));
                }
                body.extend_from_slice(&chunk);
            }
            Ok((status, headers, body))
        }
        .await;
        Ok(result)
    }
}

/// How long a direct SQLite read may run on the calling task before it
/// moves to the blocking pool.
const INLINE_READ: Duration = Duration::from_millis(2);

/// Runs one read on `reader`, interrupted at `until`; waiting for a lock
/// counts against the same limit.
fn read_until(
    reader: &crate::store::direct::Reader,
    sql: &str,
    values: &[SqlValue],
    until: Instant,
) -> Result<SqlRows, rusqlite::Error> {
    let conn = reader.connection();
    conn.busy_timeout(until.saturating_duration_since(Instant::now()))?;
    conn.progress_handler(1000, Some(move || Instant::now() >= until));
    sql::read_sqlite(conn, sql, values)
}

fn is_interrupted(error: &rusqlite::Error) -> bool {
    matches!(error, rusqlite::Error::SqliteFailure(e, _) if e.code == rusqlite::ErrorCode::OperationInterrupted)
}
