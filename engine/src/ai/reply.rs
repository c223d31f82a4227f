//! What a service says, checked against the intent registry and put in the
//! embedded NLU's canonical form. An intent nobody registered is refused;
//! an entity the intent does not take, of the wrong type, or that does not
//! canonicalise, is dropped: nothing unchecked is ever dispatched.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value as Json;

use super::mask::Masked;
use crate::nlu::entities::format_number;
use crate::nlu::{Interpretation, Nlu};
use crate::registry::{IntentRegistry, NONE_INTENT};

/// Longest entity value accepted, in characters.
pub const MAX_ENTITY_CHARS: usize = 200;

/// A reply that passed the registry check; entity values may still hold
/// placeholders (this is what the cache keeps: it holds no PII).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckedReply {
    /// A registered intent or `none`.
    pub intent: String,
    /// In [0, 1].
    pub confidence: f32,
    /// Entities the intent takes, as text.
    pub entities: BTreeMap<String, String>,
}

/// Checks the parts of a reply. `confidence` is `None` when the backend
/// has none (tool calls), and then `default_confidence` is used.
pub fn check(
    registry: &IntentRegistry,
    intent: &Json,
    entities: &Json,
    confidence: Option<&Json>,
    default_confidence: f32,
) -> Result<CheckedReply, String> {
    let intent = intent
        .as_str()
        .ok_or_else(|| "`intent` must be a string".to_owned())?
        .trim();
    let registered = registry.get(intent);
    if intent != NONE_INTENT && registered.is_none() {
        let shown: String = intent.chars().take(64).collect();
        return Err(format!("unknown intent `{shown}`"));
    }
    let confidence = match confidence {
        None => default_confidence,
        Some(c) => {
            let c = c
                .as_f64()
                .ok_or_else(|| "`confidence` must be a number".to_owned())?;
            if !(0.0..=1.0).contains(&c) {
                return Err("`confidence` must be between 0 and 1".to_owned());
            }
            c as f32
        }
    };
    let map = match entities {
        Json::Null => serde_json::Map::new(),
        Json::Object(m) => m.clone(),
        _ => return Err("`entities` must be an object".to_owned()),
    };
    let mut kept = BTreeMap::new();
    if let Some(spec) = registered {
        for (name, value) in map {
            if !spec.entities().any(|e| e == name) {
                continue;
            }
            let text = match value {
                Json::String(s) => s,
                Json::Number(n) => n.to_string(),
                _ => continue,
            };
            let text = text.trim();
            if text.is_empty()
                || text.chars().count() > MAX_ENTITY_CHARS
                || text.chars().any(char::is_control)
            {
                continue;
            }
            kept.insert(name, text.to_owned());
        }
    }
    Ok(CheckedReply {
        intent: intent.to_owned(),
        confidence,
        entities: kept,
    })
}

/// The canonical value of entity `name` typed as `value`, if it is one.
pub fn canonical(nlu: &Nlu, name: &str, value: &str) -> Option<String> {
    let value = value.trim();
    let found = || {
        nlu.extract(value)
            .into_iter()
            .find(|e| e.name == name)
            .map(|e| e.value)
    };
    match name {
        "limit" => value
            .parse::<f64>()
            .ok()
            .filter(|v| v.fract() == 0.0 && (1.0..=1000.0).contains(v))
            .map(format_number)
            .or_else(|| {
                nlu.extract(&format!("top {value}"))
                    .into_iter()
                    .find(|e| e.name == "limit")
                    .map(|e| e.value)
            }),
        "min_amount" => value
            .trim_start_matches(['$', '€', '£'])
            .replace(',', "")
            .parse::<f64>()
            .ok()
            .filter(|v| v.is_finite() && *v >= 0.0)
            .map(format_number),
        "customer" | "invoice" | "ticket" | "device" | "email" | "phone" | "region" | "status"
        | "priority" => found(),
        "customer_name" | "period" | "subject" => Some(found().unwrap_or_else(|| value.to_owned())),
        // A plugin's own entity: the engine has no rule for it.
        _ => Some(value.to_owned()),
    }
}

/// The interpretation of a checked reply for this request: placeholders
/// mapped back to the real values, then every entity canonicalised like
/// the embedded NLU's output (or dropped).
pub fn interpretation(reply: &CheckedReply, masked: &Masked, nlu: &Nlu) -> Interpretation {
    let mut entities = BTreeMap::new();
    for (name, value) in &reply.entities {
        if masked.has_unknown_placeholder(value) {
            continue;
        }
        let real = masked.unmask(value);
        if let Some(v) = canonical(nlu, name, &real) {
            entities.insert(name.clone(), v);
        }
    }
    Interpretation {
        intent: reply.intent.clone(),
        confidence: reply.confidence,
        entities,
        alternatives: Vec::new(),
        from_history: Vec::new(),
        carried_intent: false,
    }
}
