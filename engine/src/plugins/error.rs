//! What can go wrong when loading or calling a plugin.

use serde::Serialize;

use super::types::ReportedKind;

/// Why a plugin call failed on the plugin's side. Each has a stable code for
/// clients; none carries a stack trace.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureCode {
    /// The call ran past its wall-clock deadline.
    PluginTimeout,
    /// The plugin tried to use more memory than its cap.
    PluginMemoryExceeded,
    /// The plugin trapped (a panic, `unreachable`, a bad memory access).
    PluginTrap,
    /// The answer was larger than the output cap.
    PluginOutputTooLarge,
    /// The answer did not fit the contract (e.g. invalid JSON).
    PluginBadOutput,
    /// The plugin called a named query it was not granted.
    PluginQueryNotGranted,
    /// The plugin tried to choose a tenant.
    PluginTenantViolation,
    /// The plugin ran a write query outside `execute`.
    PluginWriteOutsideExecute,
    /// The plugin made more named-query calls than allowed per request.
    PluginQueryLimit,
    /// The plugin tried an HTTP call it was not allowed.
    PluginHttpNotAllowed,
    /// The plugin is out of rotation after repeated failures.
    PluginUnavailable,
    /// The engine could not run the plugin (internal).
    PluginHostError,
    /// A write kept colliding with concurrent writes (e.g. two replicas
    /// taking the same next ticket number) after the host's retries.
    PluginWriteConflict,
    /// Every plugin slot stayed busy for longer than
    /// `plugins.queue_timeout_ms`: the engine is overloaded, not the plugin.
    PluginBusy,
}

impl FailureCode {
    /// The stable string form, as sent to clients.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::PluginTimeout => "plugin_timeout",
            Self::PluginMemoryExceeded => "plugin_memory_exceeded",
            Self::PluginTrap => "plugin_trap",
            Self::PluginOutputTooLarge => "plugin_output_too_large",
            Self::PluginBadOutput => "plugin_bad_output",
            Self::PluginQueryNotGranted => "plugin_query_not_granted",
            Self::PluginTenantViolation => "plugin_tenant_violation",
            Self::PluginWriteOutsideExecute => "plugin_write_outside_execute",
            Self::PluginQueryLimit => "plugin_query_limit",
            Self::PluginHttpNotAllowed => "plugin_http_not_allowed",
            Self::PluginUnavailable => "plugin_unavailable",
            Self::PluginHostError => "plugin_host_error",
            Self::PluginWriteConflict => "plugin_write_conflict",
            Self::PluginBusy => "plugin_busy",
        }
    }

    /// Whether the failure counts against the plugin's circuit breaker.
    pub fn counts_against_plugin(self) -> bool {
        !matches!(
            self,
            Self::PluginUnavailable
                | Self::PluginHostError
                | Self::PluginWriteConflict
                | Self::PluginBusy
        )
    }
}

impl std::fmt::Display for FailureCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A failed call to a plugin.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DispatchError {
    /// No loaded plugin owns the intent.
    #[error("no plugin handles intent `{0}`")]
    UnknownIntent(String),
    /// The plugin answered with its own error; `message` is for the agent.
    #[error("{plugin}: {message}")]
    Reported {
        /// The plugin.
        plugin: String,
        /// Which kind of error.
        kind: ReportedKind,
        /// The plugin's message.
        message: String,
    },
    /// The plugin failed (trap, timeout, violation...).
    #[error("plugin `{plugin}` failed ({code}): {message}")]
    Failed {
        /// The plugin.
        plugin: String,
        /// A stable code.
        code: FailureCode,
        /// A short, safe explanation.
        message: String,
    },
}

/// A plugin that could not be loaded, or a set that could not be built.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The `.wasm` file could not be read.
    #[error("plugin `{plugin}`: cannot read {path}: {source}")]
    Read {
        /// The plugin.
        plugin: String,
        /// Its path.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The component did not compile or does not fit any supported WIT
    /// version.
    #[error("plugin `{plugin}`: {message}")]
    Invalid {
        /// The plugin.
        plugin: String,
        /// What is wrong.
        message: String,
    },
    /// Two plugins claim the same intent.
    #[error("intent `{intent}` is claimed by both plugin `{first}` and plugin `{second}`")]
    IntentClash {
        /// The intent.
        intent: String,
        /// The plugin loaded first.
        first: String,
        /// The plugin loaded second.
        second: String,
    },
    /// Two plugins share a name.
    #[error("two plugins are named `{0}`")]
    DuplicateName(String),
    /// The engine itself failed to set up.
    #[error("plugin host: {0}")]
    Host(String),
}
