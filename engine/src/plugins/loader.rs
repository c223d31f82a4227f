//! Building a [`PluginSet`] from the configuration: read or embed each
//! component, compile it once (through the cache), find its WIT version,
//! read and check its manifest, resolve what the admin granted, and
//! register its intents.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use super::breaker::Breaker;
use super::builtin::BUILTIN_PLUGINS;
use super::cache::CompileCache;
use super::error::LoadError;
use super::runtime::{MAX_PLUGIN_MEMORY_MIB, Runtime};
use super::set::{LoadedPlugin, PluginSet, PluginSource, VersionedGuest};
use super::sql;
use super::state::Grants;
use super::types::{NamedQuerySpec, PluginManifest, QueryAccess};
use super::v0_1_0;
use crate::config::{Config, PluginEntry, QueryAccessConfig};
use crate::registry::{IntentRegistry, NONE_INTENT};

/// The WIT versions this engine loads, oldest first.
pub const SUPPORTED_WIT_VERSIONS: &[&str] = &["0.1.0"];

struct Candidate {
    label: String,
    wasm: Vec<u8>,
    source: PluginSource,
    entry: Option<PluginEntry>,
}

fn invalid(plugin: &str, message: impl Into<String>) -> LoadError {
    LoadError::Invalid {
        plugin: plugin.to_owned(),
        message: message.into(),
    }
}

fn candidates(config: &Config) -> Result<Vec<Candidate>, LoadError> {
    let mut out = Vec::new();
    let entry_for = |name: &str| config.plugin.iter().find(|e| e.name == name).cloned();
    if config.plugins.builtin {
        for (name, wasm) in BUILTIN_PLUGINS {
            let entry = entry_for(name);
            if entry
                .as_ref()
                .is_some_and(|e| !e.enabled || e.path.is_some())
            {
                continue;
            }
            out.push(Candidate {
                label: (*name).to_owned(),
                wasm: wasm.to_vec(),
                source: PluginSource::Builtin,
                entry,
            });
        }
    }
    for entry in &config.plugin {
        let Some(path) = &entry.path else { continue };
        if !entry.enabled {
            continue;
        }
        let resolved = config.resolve_path(path);
        let wasm = std::fs::read(&resolved).map_err(|source| LoadError::Read {
            plugin: entry.name.clone(),
            path: resolved.display().to_string(),
            source,
        })?;
        out.push(Candidate {
            label: entry.name.clone(),
            wasm,
            source: PluginSource::File(resolved.display().to_string()),
            entry: Some(entry.clone()),
        });
    }
    Ok(out)
}

fn detect_version(
    runtime: &Runtime,
    label: &str,
    component: &wasmtime::component::Component,
) -> Result<VersionedGuest, LoadError> {
    let ty = component.component_type();
    let exports: Vec<String> = ty
        .exports(runtime.engine())
        .map(|(name, _)| name.to_owned())
        .collect();
    if exports.iter().any(|e| e == v0_1_0::GUEST_EXPORT) {
        let guest = v0_1_0::Guest::new(runtime.linker(), component).map_err(|e| {
            invalid(
                label,
                format!("cannot link against switchboard:plugin@0.1.0: {e}"),
            )
        })?;
        return Ok(VersionedGuest::V0_1_0(guest));
    }
    let found = exports
        .iter()
        .find(|e| e.starts_with("switchboard:plugin/guest@"))
        .map_or_else(
            || "it exports no `switchboard:plugin/guest` interface".to_owned(),
            |e| format!("it exports `{e}`"),
        );
    Err(invalid(
        label,
        format!(
            "not a Switchboard plugin of a supported version ({}): {found}",
            SUPPORTED_WIT_VERSIONS.join(", ")
        ),
    ))
}

fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

fn is_intent_name(s: &str) -> bool {
    s.split('.').count() >= 2 && s.split('.').all(is_identifier)
}

/// Checks a manifest's own consistency.
fn check_manifest(label: &str, m: &PluginManifest) -> Result<(), LoadError> {
    if m.name != label {
        return Err(invalid(
            label,
            format!(
                "its manifest calls it `{}`; the configuration calls it `{label}`",
                m.name
            ),
        ));
    }
    if m.version.trim().is_empty() {
        return Err(invalid(label, "its manifest has an empty version"));
    }
    if m.intents.is_empty() {
        return Err(invalid(label, "its manifest declares no intents"));
    }
    let mut query_names = BTreeSet::new();
    for q in &m.queries {
        if !query_names.insert(q.name.as_str()) {
            return Err(invalid(
                label,
                format!("query `{}` is declared twice", q.name),
            ));
        }
    }
    let mut intent_names = BTreeSet::new();
    for intent in &m.intents {
        let name = &intent.name;
        if name == NONE_INTENT || !is_intent_name(name) {
            return Err(invalid(
                label,
                format!(
                    "`{name}` is not a valid intent name: use dotted lower-case words like `billing.balance`"
                ),
            ));
        }
        if !intent_names.insert(name.as_str()) {
            return Err(invalid(label, format!("intent `{name}` is declared twice")));
        }
        if !is_identifier(&intent.permission) {
            return Err(invalid(
                label,
                format!(
                    "intent `{name}` has an invalid permission `{}`",
                    intent.permission
                ),
            ));
        }
        if intent.examples.iter().all(|e| e.trim().is_empty()) {
            return Err(invalid(
                label,
                format!("intent `{name}` has no example utterances"),
            ));
        }
        for entity in intent
            .required_entities
            .iter()
            .flatten()
            .chain(&intent.optional_entities)
        {
            if !is_identifier(entity) {
                return Err(invalid(
                    label,
                    format!("intent `{name}` has an invalid entity name `{entity}`"),
                ));
            }
        }
        if intent.required_entities.iter().any(Vec::is_empty) {
            return Err(invalid(
                label,
                format!("intent `{name}` has an empty required-entity group"),
            ));
        }
    }
    Ok(())
}

/// Resolves the named queries the admin granted.
fn resolve_grants(
    label: &str,
    manifest: &PluginManifest,
    entry: Option<&PluginEntry>,
    builtin: bool,
) -> Result<(Grants, Vec<String>), LoadError> {
    let mut available: BTreeMap<String, NamedQuerySpec> = manifest
        .queries
        .iter()
        .map(|q| (q.name.clone(), q.clone()))
        .collect();
    if let Some(entry) = entry {
        for (name, q) in &entry.queries {
            available.insert(
                name.clone(),
                NamedQuerySpec {
                    name: name.clone(),
                    description: "defined by the admin".into(),
                    access: match q.access {
                        QueryAccessConfig::Read => QueryAccess::Read,
                        QueryAccessConfig::Write => QueryAccess::Write,
                    },
                    sql: q.sql.clone(),
                },
            );
        }
    }
    let granted: Vec<String> = match entry.and_then(|e| e.grants.clone()) {
        Some(list) => list,
        None if builtin => available.keys().cloned().collect(),
        None => Vec::new(),
    };
    let mut queries = BTreeMap::new();
    for name in granted {
        let Some(spec) = available.get(&name) else {
            return Err(invalid(
                label,
                format!(
                    "grants query `{name}`, which neither the plugin nor the configuration defines (defined: {})",
                    if available.is_empty() {
                        "none".to_owned()
                    } else {
                        available.keys().cloned().collect::<Vec<_>>().join(", ")
                    }
                ),
            ));
        };
        let prepared = sql::prepare(&spec.name, spec.access, &spec.sql)
            .map_err(|e| invalid(label, format!("query `{name}` {e}")))?;
        queries.insert(name, prepared);
    }
    let mut warnings = Vec::new();
    for intent in &manifest.intents {
        for q in &intent.queries {
            if !queries.contains_key(q) {
                warnings.push(format!(
                    "intent `{}` uses query `{q}`, which is not granted",
                    intent.name
                ));
            }
        }
    }
    let http_hosts = entry.map(|e| e.http_hosts.clone()).unwrap_or_default();
    Ok((
        Grants {
            queries,
            http_hosts,
        },
        warnings,
    ))
}

/// Loads every enabled plugin of `config` into a new set. Nothing is
/// swapped in here: an error leaves whatever set the caller holds intact.
pub fn load_set(runtime: &Runtime, config: &Config) -> Result<PluginSet, LoadError> {
    let cache = CompileCache::new(config.cache_dir());
    let mut registry = IntentRegistry::new();
    let mut plugins: Vec<Arc<LoadedPlugin>> = Vec::new();
    for candidate in candidates(config)? {
        let label = candidate.label.as_str();
        let limits = candidate.entry.as_ref().map_or(config.plugins.limits, |e| {
            e.limits.over(config.plugins.limits)
        });
        if limits.memory_mib > MAX_PLUGIN_MEMORY_MIB {
            return Err(invalid(
                label,
                format!(
                    "memory limit {} MiB is above the engine's maximum of {MAX_PLUGIN_MEMORY_MIB} MiB",
                    limits.memory_mib
                ),
            ));
        }
        let (component, outcome) = cache.load(runtime.engine(), &candidate.wasm).map_err(|e| {
            invalid(
                label,
                format!(
                    "not a valid WebAssembly component: {}",
                    e.to_string().lines().next().unwrap_or_default()
                ),
            )
        })?;
        tracing::debug!(plugin = label, ?outcome, "compiled plugin ready");
        let guest = detect_version(runtime, label, &component)?;
        let manifest = block_on(LoadedPlugin::read_manifest(&guest, runtime, label, limits))
            .and_then(|manifest| manifest)
            .map_err(|m| invalid(label, m))?;
        check_manifest(label, &manifest)?;
        if plugins.iter().any(|p| p.name() == manifest.name) {
            return Err(LoadError::DuplicateName(manifest.name));
        }
        let builtin = candidate.source == PluginSource::Builtin;
        let (grants, warnings) =
            resolve_grants(label, &manifest, candidate.entry.as_ref(), builtin)?;
        for warning in &warnings {
            tracing::warn!(plugin = label, "{warning}");
        }
        for intent in &manifest.intents {
            registry.register(&manifest.name, intent.clone())?;
        }
        plugins.push(Arc::new(LoadedPlugin {
            manifest,
            source: candidate.source,
            limits,
            grants: Arc::new(grants),
            warnings,
            guest,
            breaker: Breaker::new(
                config.plugins.breaker.failure_threshold,
                Duration::from_secs(config.plugins.breaker.cooldown_secs),
            ),
        }));
    }
    Ok(PluginSet { plugins, registry })
}

/// Runs `future` to completion on this thread, which must not be one of
/// the async executor's (loading runs on the blocking pool, or outside
/// any runtime).
fn block_on<F: std::future::Future>(future: F) -> Result<F::Output, String> {
    match tokio::runtime::Handle::try_current() {
        Ok(handle) => Ok(handle.block_on(future)),
        Err(_) => tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .map(|rt| rt.block_on(future))
            .map_err(|e| format!("cannot start a runtime to load the plugin: {e}")),
    }
}
