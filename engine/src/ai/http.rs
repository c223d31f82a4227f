//! The generic AI service (the `http` backend).
//!
//! Request: `POST service_url` with
//! `{"query": "<masked text>", "context": {"previous_queries": ["<masked>", ...]}, "user_id": "3f9a…", "tenant_id": 1}`;
//! `user_id` is a pseudonym (64 hex characters, stable per user and
//! tenant, see [`super::AiServices::pseudonym`]), never the caller's id.
//!
//! Reply (200, JSON, at most `ai.max_response_bytes`):
//! `{"intent": "billing.balance", "entities": {"customer": "ABC123"}, "confidence": 0.93}`:
//! `intent` a registered intent name or `none`; `entities` an object of
//! strings or numbers (optional); `confidence` a number in [0, 1].

use serde_json::{Value as Json, json};

use super::Prompt;
use super::reply::{CheckedReply, check};
use crate::registry::IntentRegistry;

/// The request body.
pub fn request_body(prompt: &Prompt<'_>) -> Json {
    json!({
        "query": prompt.text,
        "context": { "previous_queries": prompt.history },
        "user_id": prompt.user_id,
        "tenant_id": prompt.tenant,
    })
}

/// Checks a reply.
pub fn parse(reply: &Json, registry: &IntentRegistry) -> Result<CheckedReply, String> {
    let Json::Object(o) = reply else {
        return Err("the reply is not a JSON object".to_owned());
    };
    let intent = o.get("intent").ok_or("`intent` is missing")?;
    let confidence = o.get("confidence").ok_or("`confidence` is missing")?;
    check(
        registry,
        intent,
        o.get("entities").unwrap_or(&Json::Null),
        Some(confidence),
        0.0,
    )
}
