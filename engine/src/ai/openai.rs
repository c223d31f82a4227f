//! OpenAI-compatible services (the `openai` backend): Ollama, vLLM,
//! llama.cpp's server, hosted APIs. `POST .../v1/chat/completions` with the
//! registered intents offered as tools (one function per intent, its
//! parameters the intent's entities as a JSON schema, plus `none` for
//! out-of-scope questions) and `tool_choice: "required"`. The first tool
//! call of the reply becomes intent + entities. A server that ignores
//! `tool_choice` and answers in text is read as a tool call when the text
//! is a JSON object `{"name", "arguments"}`; otherwise the reply has no
//! tool call, which is an error (the embedded NLU answers).

use std::collections::BTreeMap;

use serde_json::{Value as Json, json};

use super::Prompt;
use super::reply::{CheckedReply, check};
use crate::registry::{IntentRegistry, NONE_INTENT};

/// The confidence given to a tool call (tool calls carry none).
pub const TOOL_CALL_CONFIDENCE: f32 = 0.9;

const SYSTEM: &str = "You route questions from the support agents of an internet service \
provider. Call exactly one function: the one whose description fits the question, with the \
entities the question names (keep placeholders such as <EMAIL_1> exactly as written). Call \
`none` when no function fits.";

/// The chat-completions endpoint for a service URL: the URL itself when
/// it ends in `/chat/completions`, else `.../v1/chat/completions`.
pub fn endpoint(url: &reqwest::Url) -> reqwest::Url {
    let path = url.path().trim_end_matches('/');
    if path.ends_with("/chat/completions") {
        return url.clone();
    }
    let mut u = url.clone();
    let new_path = if path.ends_with("/v1") {
        format!("{path}/chat/completions")
    } else {
        format!("{path}/v1/chat/completions")
    };
    u.set_path(&new_path);
    u
}

/// A function name for an intent (`[A-Za-z0-9_-]`, at most 64).
pub fn tool_name(intent: &str) -> String {
    intent
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .take(64)
        .collect()
}

fn entity_schema(name: &str) -> Json {
    match name {
        "limit" => json!({ "type": "integer", "description": "how many" }),
        "min_amount" => json!({ "type": "number", "description": "a minimum amount of money" }),
        "region" => {
            json!({ "type": "string", "enum": ["north", "south", "east", "west", "central"] })
        }
        "status" => json!({ "type": "string", "enum": ["paid", "unpaid", "overdue"] }),
        "priority" => json!({ "type": "string", "enum": ["low", "normal", "high", "urgent"] }),
        "customer" => {
            json!({ "type": "string", "description": "account code: three letters and three digits, e.g. ABC123" })
        }
        "customer_name" => {
            json!({ "type": "string", "description": "a customer's name as written" })
        }
        "invoice" => {
            json!({ "type": "string", "description": "invoice number, e.g. INV-2025-001" })
        }
        "ticket" => json!({ "type": "string", "description": "ticket number, e.g. TCK-1042" }),
        "device" => json!({ "type": "string", "description": "device name, e.g. OLT-NORTH-01" }),
        "email" => json!({ "type": "string", "description": "an email address" }),
        "phone" => json!({ "type": "string", "description": "a phone number" }),
        "period" => {
            json!({ "type": "string", "description": "a time period as written, e.g. last month" })
        }
        "subject" => json!({ "type": "string", "description": "what it is about" }),
        other => json!({ "type": "string", "description": other }),
    }
}

/// The tools for `registry`, and each tool name's intent.
pub fn tools(registry: &IntentRegistry) -> (Vec<Json>, BTreeMap<String, String>) {
    let mut names = BTreeMap::new();
    let mut tools = Vec::new();
    for intent in registry.iter() {
        let name = tool_name(&intent.spec.name);
        if names.contains_key(&name) {
            continue;
        }
        let mut properties = serde_json::Map::new();
        for e in intent.entities() {
            properties.insert(e.to_owned(), entity_schema(e));
        }
        let required: Vec<&str> = intent
            .spec
            .required_entities
            .iter()
            .filter(|g| g.len() == 1)
            .map(|g| g[0].as_str())
            .collect();
        let mut description = intent.spec.description.clone();
        for group in intent.spec.required_entities.iter().filter(|g| g.len() > 1) {
            description.push_str(&format!(" Needs one of: {}.", group.join(", ")));
        }
        tools.push(json!({
            "type": "function",
            "function": {
                "name": name,
                "description": description,
                "parameters": { "type": "object", "properties": properties, "required": required },
            }
        }));
        names.insert(name, intent.spec.name.clone());
    }
    tools.push(json!({
        "type": "function",
        "function": {
            "name": NONE_INTENT,
            "description": "The question is about something else: none of the other functions fits.",
            "parameters": { "type": "object", "properties": {} },
        }
    }));
    names.insert(NONE_INTENT.to_owned(), NONE_INTENT.to_owned());
    (tools, names)
}

/// The request body.
pub fn request_body(model: &str, prompt: &Prompt<'_>, tools: Vec<Json>) -> Json {
    let mut user = String::new();
    if !prompt.history.is_empty() {
        user.push_str("Earlier questions in this conversation, oldest first:\n");
        for h in prompt.history {
            user.push_str("- ");
            user.push_str(h);
            user.push('\n');
        }
        user.push_str("\nThe question now: ");
    }
    user.push_str(prompt.text);
    json!({
        "model": model,
        "temperature": 0,
        "messages": [
            { "role": "system", "content": SYSTEM },
            { "role": "user", "content": user },
        ],
        "tools": tools,
        "tool_choice": "required",
    })
}

/// The first tool call of a reply: (function name, arguments).
fn first_call(reply: &Json) -> Result<(Json, Json), String> {
    let message = reply
        .get("choices")
        .and_then(|c| c.get(0))
        .and_then(|c| c.get("message"))
        .ok_or("no `choices[0].message` in the reply")?;
    if let Some(call) = message
        .get("tool_calls")
        .and_then(|c| c.get(0))
        .and_then(|c| c.get("function"))
        .or_else(|| message.get("function_call"))
    {
        return Ok((
            call.get("name").cloned().unwrap_or(Json::Null),
            call.get("arguments").cloned().unwrap_or(Json::Null),
        ));
    }
    // A server that ignores `tool_choice` may write the call as text.
    if let Some(Json::Object(o)) = message
        .get("content")
        .and_then(Json::as_str)
        .and_then(|c| serde_json::from_str::<Json>(c.trim()).ok())
        && let Some(name) = o.get("name")
    {
        let args = o
            .get("arguments")
            .or_else(|| o.get("parameters"))
            .cloned()
            .unwrap_or(Json::Null);
        return Ok((name.clone(), args));
    }
    Err("the reply has no tool call".to_owned())
}

/// Checks a reply; `names` maps tool names back to intents.
pub fn parse(
    reply: &Json,
    registry: &IntentRegistry,
    names: &BTreeMap<String, String>,
) -> Result<CheckedReply, String> {
    let (name, arguments) = first_call(reply)?;
    let name = name
        .as_str()
        .ok_or("the tool call's name is not a string")?;
    let intent = names.get(name).ok_or_else(|| {
        let shown: String = name.chars().take(64).collect();
        format!("unknown tool `{shown}`")
    })?;
    // `arguments` is a JSON string in OpenAI's API, an object in some
    // servers.
    let arguments = match arguments {
        Json::String(s) if s.trim().is_empty() => Json::Null,
        Json::String(s) => serde_json::from_str(&s)
            .map_err(|_| "the tool call's arguments are not JSON".to_owned())?,
        other => other,
    };
    check(
        registry,
        &Json::String(intent.clone()),
        &arguments,
        None,
        TOOL_CALL_CONFIDENCE,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints() {
        for (given, want) in [
            ("http://h:1", "http://h:1/v1/chat/completions"),
            ("http://h:1/v1", "http://h:1/v1/chat/completions"),
            ("http://h:1/api/v1/", "http://h:1/api/v1/chat/completions"),
            (
                "http://h:1/x/chat/completions",
                "http://h:1/x/chat/completions",
            ),
        ] {
            let u = reqwest::Url::parse(given).unwrap();
            assert_eq!(endpoint(&u).as_str(), want);
        }
        assert_eq!(tool_name("billing.balance"), "billing_balance");
    }
}
