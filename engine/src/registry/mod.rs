//! The intent registry: every intent name is owned by exactly one plugin,
//! with the entities it takes and the permission it needs, as the plugin's
//! manifest declares them.

use std::collections::BTreeMap;

use crate::plugins::error::LoadError;
use crate::plugins::types::{IntentKind, IntentSpec};

/// The reserved intent for out-of-scope questions, answered by the engine.
pub const NONE_INTENT: &str = "none";

/// An intent and its owner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegisteredIntent {
    /// The plugin that owns it.
    pub plugin: String,
    /// Its declaration.
    pub spec: IntentSpec,
}

impl RegisteredIntent {
    /// Read or action.
    pub fn kind(&self) -> IntentKind {
        self.spec.kind
    }

    /// The permission an agent needs.
    pub fn permission(&self) -> &str {
        &self.spec.permission
    }

    /// Required entity groups that `present` leaves unsatisfied.
    pub fn missing_entities<'a>(&'a self, present: &[&str]) -> Vec<&'a [String]> {
        self.spec
            .required_entities
            .iter()
            .filter(|group| !group.iter().any(|e| present.contains(&e.as_str())))
            .map(Vec::as_slice)
            .collect()
    }

    /// Every entity the intent takes, required or optional.
    pub fn entities(&self) -> impl Iterator<Item = &str> {
        self.spec
            .required_entities
            .iter()
            .flatten()
            .chain(self.spec.optional_entities.iter())
            .map(String::as_str)
    }
}

/// All registered intents.
#[derive(Debug, Clone, Default)]
pub struct IntentRegistry {
    intents: BTreeMap<String, RegisteredIntent>,
}

impl IntentRegistry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers `spec` for `plugin`; a name already taken is an error
    /// naming both plugins.
    pub fn register(&mut self, plugin: &str, spec: IntentSpec) -> Result<(), LoadError> {
        if let Some(existing) = self.intents.get(&spec.name) {
            return Err(LoadError::IntentClash {
                intent: spec.name,
                first: existing.plugin.clone(),
                second: plugin.to_owned(),
            });
        }
        self.intents.insert(
            spec.name.clone(),
            RegisteredIntent {
                plugin: plugin.to_owned(),
                spec,
            },
        );
        Ok(())
    }

    /// The intent named `name`.
    pub fn get(&self, name: &str) -> Option<&RegisteredIntent> {
        self.intents.get(name)
    }

    /// All intents, by name.
    pub fn iter(&self) -> impl Iterator<Item = &RegisteredIntent> {
        self.intents.values()
    }

    /// How many intents are registered.
    pub fn len(&self) -> usize {
        self.intents.len()
    }

    /// Whether none are.
    pub fn is_empty(&self) -> bool {
        self.intents.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(name: &str) -> IntentSpec {
        IntentSpec {
            name: name.into(),
            description: String::new(),
            examples: vec![],
            required_entities: vec![vec!["customer".into(), "customer_name".into()]],
            optional_entities: vec!["period".into()],
            permission: "billing_read".into(),
            kind: IntentKind::Read,
            queries: vec![],
        }
    }

    #[test]
    fn a_clash_names_both_plugins() {
        let mut r = IntentRegistry::new();
        r.register("billing", spec("billing.balance")).unwrap();
        let err = r.register("rogue", spec("billing.balance")).unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("`billing`")
                && text.contains("`rogue`")
                && text.contains("billing.balance"),
            "{text}"
        );
    }

    #[test]
    fn missing_entities_respects_alternatives() {
        let mut r = IntentRegistry::new();
        r.register("billing", spec("billing.balance")).unwrap();
        let i = r.get("billing.balance").unwrap();
        assert!(i.missing_entities(&["customer_name"]).is_empty());
        assert_eq!(i.missing_entities(&["period"]).len(), 1);
        assert_eq!(
            i.entities().collect::<Vec<_>>(),
            ["customer", "customer_name", "period"]
        );
    }
}
