//! The entities the engine extracted from the agent's question.

use std::collections::BTreeMap;
use std::str::FromStr;

use crate::PluginError;

/// Entities by name, in the canonical forms of the intent catalogue
/// (`customer` = `ABC123`, `region` = `north`, `limit` = `5`, ...).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Entities(BTreeMap<String, String>);

impl Entities {
    /// Builds the set from name/value pairs (later pairs win).
    pub fn from_pairs<I, K, V>(pairs: I) -> Self
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        Self(
            pairs
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        )
    }

    /// The entity's value, if present.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }

    /// The entity's value, or an `invalid-input` error that tells the agent
    /// what to add.
    pub fn require(&self, name: &str) -> Result<&str, PluginError> {
        self.get(name)
            .ok_or_else(|| PluginError::invalid_input(format!("please tell me the {name}")))
    }

    /// The first of `names` that is present, with its name.
    pub fn first_of<'a>(&'a self, names: &[&'a str]) -> Option<(&'a str, &'a str)> {
        names.iter().find_map(|n| self.get(n).map(|v| (*n, v)))
    }

    /// The entity parsed as `T` (e.g. `limit` as `u32`); `None` when absent,
    /// an `invalid-input` error when present but not a `T`.
    pub fn parsed<T: FromStr>(&self, name: &str) -> Result<Option<T>, PluginError> {
        match self.get(name) {
            None => Ok(None),
            Some(v) => v
                .parse()
                .map(Some)
                .map_err(|_| PluginError::invalid_input(format!("`{v}` is not a valid {name}"))),
        }
    }

    /// Iterates over name/value pairs in name order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// Whether no entity was found.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}
