//! Adapter for plugins built against `switchboard:plugin@0.1.0`.
//!
//! One such module exists per released WIT version, and none is ever
//! removed: it converts that version's types to the engine's own
//! ([`super::types`]) and implements that version's host imports on
//! [`HostState`]. A new version adds `v0_2_0.rs` beside this one.

use wasmtime::Store;
use wasmtime::component::{Component, HasSelf, Linker};

use super::sql::{SqlRows, SqlValue};
use super::state::{HostState, QueryFailure};
use super::types::{
    IntentKind, IntentSpec, NamedQuerySpec, PluginManifest, PluginRequest, QueryAccess, RawAnswer,
    RawOutcome, ReportedKind,
};

wasmtime::component::bindgen!({
    path: "../plugin-sdk/wit/v0.1.0",
    world: "plugin",
    imports: { default: async | trappable },
    exports: { default: async },
});

use self::switchboard::plugin::host as wit_host;
use self::switchboard::plugin::types as wit;

/// The export name that identifies this version.
pub const GUEST_EXPORT: &str = "switchboard:plugin/guest@0.1.0";

/// Adds this version's host imports to `linker`.
pub fn add_to_linker(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    self::switchboard::plugin::host::add_to_linker::<HostState, HasSelf<HostState>>(linker, |s| s)?;
    self::switchboard::plugin::types::add_to_linker::<HostState, HasSelf<HostState>>(linker, |s| s)
}

impl wit::Host for HostState {}

fn to_sql(value: wit::Value) -> SqlValue {
    match value {
        wit::Value::Null => SqlValue::Null,
        wit::Value::Boolean(b) => SqlValue::Bool(b),
        wit::Value::Integer(i) => SqlValue::Int(i),
        wit::Value::Float(f) => SqlValue::Float(f),
        wit::Value::Text(s) => SqlValue::Text(s),
    }
}

fn from_sql(value: SqlValue) -> wit::Value {
    match value {
        SqlValue::Null => wit::Value::Null,
        SqlValue::Bool(b) => wit::Value::Boolean(b),
        SqlValue::Int(i) => wit::Value::Integer(i),
        SqlValue::Float(f) => wit::Value::Float(f),
        SqlValue::Text(s) => wit::Value::Text(s),
    }
}

fn rows_to_wit(rows: SqlRows) -> wit_host::QueryResult {
    wit_host::QueryResult {
        columns: rows.columns,
        rows: rows
            .rows
            .into_iter()
            .map(|r| r.into_iter().map(from_sql).collect())
            .collect(),
    }
}

impl wit_host::Host for HostState {
    async fn query(
        &mut self,
        name: String,
        params: Vec<(String, wit::Value)>,
    ) -> wasmtime::Result<Result<wit_host::QueryResult, wit_host::QueryError>> {
        let params = params.into_iter().map(|(k, v)| (k, to_sql(v))).collect();
        match self.run_query(&name, params).await {
            Err(violation) => Err(wasmtime::Error::new(violation)),
            Ok(Ok(rows)) => Ok(Ok(rows_to_wit(rows))),
            Ok(Err(QueryFailure::InvalidParams(m))) => {
                Ok(Err(wit_host::QueryError::InvalidParams(m)))
            }
            Ok(Err(QueryFailure::Failed(m))) => Ok(Err(wit_host::QueryError::Failed(m))),
        }
    }

    async fn log(
        &mut self,
        level: wit_host::LogLevel,
        message: String,
        fields: Vec<(String, String)>,
    ) -> wasmtime::Result<()> {
        let level = match level {
            wit_host::LogLevel::Trace => tracing::Level::TRACE,
            wit_host::LogLevel::Debug => tracing::Level::DEBUG,
            wit_host::LogLevel::Info => tracing::Level::INFO,
            wit_host::LogLevel::Warn => tracing::Level::WARN,
            wit_host::LogLevel::Error => tracing::Level::ERROR,
        };
        HostState::log(self, level, &message, &fields);
        Ok(())
    }

    async fn now(&mut self) -> wasmtime::Result<String> {
        Ok(HostState::now(self))
    }

    async fn http_fetch(
        &mut self,
        request: wit_host::HttpRequest,
    ) -> wasmtime::Result<Result<wit_host::HttpResponse, String>> {
        match HostState::http_fetch(
            self,
            &request.method,
            &request.url,
            request.headers,
            request.body,
        )
        .await
        {
            Err(violation) => Err(wasmtime::Error::new(violation)),
            Ok(Ok((status, headers, body))) => Ok(Ok(wit_host::HttpResponse {
                status,
                headers,
                body,
            })),
            Ok(Err(message)) => Ok(Err(message)),
        }
    }
}

/// A plugin built against 0.1.0, pre-linked for fast instantiation.
pub struct Guest {
    pre: PluginPre<HostState>,
}

fn reported(error: wit::PluginError) -> (ReportedKind, String) {
    match error {
        wit::PluginError::NotFound(m) => (ReportedKind::NotFound, m),
        wit::PluginError::InvalidInput(m) => (ReportedKind::InvalidInput, m),
        wit::PluginError::Unavailable(m) => (ReportedKind::Unavailable, m),
        wit::PluginError::Internal(m) => (ReportedKind::Internal, m),
    }
}

impl Guest {
    /// Links `component` against the host's imports.
    pub fn new(linker: &Linker<HostState>, component: &Component) -> wasmtime::Result<Self> {
        let pre = linker.instantiate_pre(component)?;
        Ok(Self {
            pre: PluginPre::new(pre)?,
        })
    }

    /// Calls `manifest()` on a fresh instance.
    pub async fn manifest(&self, store: &mut Store<HostState>) -> wasmtime::Result<PluginManifest> {
        let plugin = self.pre.instantiate_async(&mut *store).await?;
        let m = plugin
            .switchboard_plugin_guest()
            .call_manifest(&mut *store)
            .await?;
        Ok(PluginManifest {
            name: m.name,
            version: m.version,
            description: m.description,
            intents: m
                .intents
                .into_iter()
                .map(|i| IntentSpec {
                    name: i.name,
                    description: i.description,
                    examples: i.examples,
                    required_entities: i.required_entities,
                    optional_entities: i.optional_entities,
                    permission: i.permission,
                    kind: match i.kind {
                        wit::IntentKind::Read => IntentKind::Read,
                        wit::IntentKind::Action => IntentKind::Action,
                    },
                    queries: i.queries,
                })
                .collect(),
            queries: m
                .queries
                .into_iter()
                .map(|q| NamedQuerySpec {
                    name: q.name,
                    description: q.description,
                    access: match q.access {
                        wit::QueryAccess::Read => QueryAccess::Read,
                        wit::QueryAccess::Write => QueryAccess::Write,
                    },
                    sql: q.sql,
                })
                .collect(),
        })
    }

    /// Calls `handle()` on a fresh instance.
    pub async fn handle(
        &self,
        store: &mut Store<HostState>,
        request: &PluginRequest,
        user_id: &str,
    ) -> wasmtime::Result<Result<RawAnswer, (ReportedKind, String)>> {
        let plugin = self.pre.instantiate_async(&mut *store).await?;
        let request = wit::Request {
            intent: request.intent.clone(),
            entities: request
                .entities
                .iter()
                .map(|(name, value)| wit::Entity {
                    name: name.clone(),
                    value: value.clone(),
                })
                .collect(),
            text: request.text.clone(),
            user_id: user_id.to_owned(),
        };
        let result = plugin
            .switchboard_plugin_guest()
            .call_handle(&mut *store, &request)
            .await?;
        Ok(result
            .map(|a| RawAnswer {
                response_text: a.response_text,
                structured_data: a.structured_data,
                suggested_actions: a
                    .suggested_actions
                    .into_iter()
                    .map(|s| (s.action, s.parameters, s.description))
                    .collect(),
                proposal: a.proposal.map(|p| (p.action, p.parameters, p.summary)),
            })
            .map_err(reported))
    }

    /// Calls `execute()` on a fresh instance.
    pub async fn execute(
        &self,
        store: &mut Store<HostState>,
        action: &str,
        parameters: &str,
        user_id: &str,
    ) -> wasmtime::Result<Result<RawOutcome, (ReportedKind, String)>> {
        let plugin = self.pre.instantiate_async(&mut *store).await?;
        let request = wit::ActionRequest {
            action: action.to_owned(),
            parameters: parameters.to_owned(),
            user_id: user_id.to_owned(),
        };
        let result = plugin
            .switchboard_plugin_guest()
            .call_execute(&mut *store, &request)
            .await?;
        Ok(result
            .map(|r| RawOutcome {
                response_text: r.response_text,
                structured_data: r.structured_data,
            })
            .map_err(reported))
    }
}
