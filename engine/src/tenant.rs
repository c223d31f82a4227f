//! The tenant a request acts for.

use std::fmt;

/// A tenant id taken from an authenticated request. Every named query a
/// plugin runs is bound to one; a plugin never chooses or sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TenantId(i64);

impl TenantId {
    /// Wraps an id that the caller has authenticated. Only the
    /// authentication layer and trusted tools (the CLI, tests) call this.
    pub fn new(id: i64) -> Self {
        Self(id)
    }

    /// The raw id, for binding into SQL.
    pub fn get(self) -> i64 {
        self.0
    }
}

impl fmt::Display for TenantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}
