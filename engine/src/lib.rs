//! # Switchboard engine
//!
//! The library behind the `switchboard` binary. A query flows through the
//! modules in this order:
//!
//! - [`api`] and [`auth`]: the REST API with JWT authentication.
//! - [`config`]: the admin's `switchboard.toml` and `CHATBOT_*` overrides,
//!   validated up front.
//! - [`registry`]: which plugin owns which intent, with its entities and
//!   permission, built from the plugins' manifests.
//! - [`plugins`]: the wasmtime host that runs each plugin in a sandbox, a
//!   fresh instance per call, with limits, named queries scoped to the
//!   caller's tenant, and a circuit breaker.
//! - [`nlu`]: the embedded NLU, trained from the plugins' examples.
//! - [`ai`]: external AI services that may interpret instead (masked,
//!   signed, retried, breaker-guarded, cached, with the NLU as fallback).
//! - [`query`]: one query end to end: interpret, decide, dispatch.
//! - [`store`]: the database (SQLite by default, PostgreSQL in production)
//!   and its migrations.

pub mod ai;
pub mod api;
pub mod auth;
mod cache_file;
pub mod config;
pub mod demo;
pub mod nlu;
pub mod plugins;
pub mod query;
pub mod registry;
pub mod secrets;
pub mod server;
pub mod store;
pub mod telemetry;
pub mod tenant;

pub use tenant::TenantId;
