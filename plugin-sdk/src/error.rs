//! The error a plugin returns: a message the agent reads as is.

use crate::bindings::switchboard::plugin::types as wit;

/// A failure the agent should read. Keep messages short and helpful
/// ("customer ABC123 not found"); never put stack traces or SQL in them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PluginError {
    /// The thing asked about does not exist.
    NotFound(String),
    /// The request is incomplete or inconsistent.
    InvalidInput(String),
    /// A backing system is unavailable.
    Unavailable(String),
    /// Anything else.
    Internal(String),
}

impl PluginError {
    /// A [`PluginError::NotFound`].
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::NotFound(message.into())
    }

    /// A [`PluginError::InvalidInput`].
    pub fn invalid_input(message: impl Into<String>) -> Self {
        Self::InvalidInput(message.into())
    }

    /// A [`PluginError::Unavailable`].
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::Unavailable(message.into())
    }

    /// A [`PluginError::Internal`].
    pub fn internal(message: impl Into<String>) -> Self {
        Self::Internal(message.into())
    }

    pub(crate) fn into_wit(self) -> wit::PluginError {
        match self {
            Self::NotFound(m) => wit::PluginError::NotFound(m),
            Self::InvalidInput(m) => wit::PluginError::InvalidInput(m),
            Self::Unavailable(m) => wit::PluginError::Unavailable(m),
            Self::Internal(m) => wit::PluginError::Internal(m),
        }
    }
}

impl std::fmt::Display for PluginError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::NotFound(m)
            | Self::InvalidInput(m)
            | Self::Unavailable(m)
            | Self::Internal(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for PluginError {}

impl From<crate::QueryError> for PluginError {
    fn from(error: crate::QueryError) -> Self {
        Self::Unavailable(format!("data query failed: {error}"))
    }
}
