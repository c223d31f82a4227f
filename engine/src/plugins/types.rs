//! The engine's own view of what plugins say and answer, independent of the
//! WIT version they were built against. Each version adapter converts into
//! these types.

use serde::Serialize;
use serde_json::Value as Json;

/// Whether an intent reads or proposes a change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum IntentKind {
    /// Answers from data.
    Read,
    /// Proposes a change to confirm.
    Action,
}

/// Whether a named query reads or writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum QueryAccess {
    /// Read-only; allowed in `handle` and `execute`.
    Read,
    /// Writes; allowed only in `execute`.
    Write,
}

/// SQL a plugin ships (or an admin wrote), before validation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NamedQuerySpec {
    /// The name grants refer to.
    pub name: String,
    /// A sentence for the reviewing admin.
    pub description: String,
    /// Read or write.
    pub access: QueryAccess,
    /// SQL with `:name` parameters.
    pub sql: String,
}

/// One intent, as a manifest declares it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IntentSpec {
    /// Globally unique name.
    pub name: String,
    /// What it answers.
    pub description: String,
    /// Training utterances.
    pub examples: Vec<String>,
    /// Groups of alternatives, each of which must be satisfied.
    pub required_entities: Vec<Vec<String>>,
    /// Optional entities.
    pub optional_entities: Vec<String>,
    /// Permission an agent needs.
    pub permission: String,
    /// Read or action.
    pub kind: IntentKind,
    /// Named queries it uses.
    pub queries: Vec<String>,
}

/// What a plugin says about itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PluginManifest {
    /// Plugin name.
    pub name: String,
    /// Plugin version.
    pub version: String,
    /// One line about it.
    pub description: String,
    /// Its intents.
    pub intents: Vec<IntentSpec>,
    /// Its named queries.
    pub queries: Vec<NamedQuerySpec>,
}

/// A question for a plugin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginRequest {
    /// The classified intent.
    pub intent: String,
    /// Canonical entities, by name.
    pub entities: Vec<(String, String)>,
    /// The (masked) text.
    pub text: String,
}

/// A suggested next step.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SuggestedAction {
    /// What to do.
    pub action: String,
    /// A JSON object.
    pub parameters: Json,
    /// Label for the agent.
    pub description: String,
}

/// A change proposed by an action intent.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Proposal {
    /// The action name `execute` receives.
    pub action: String,
    /// A JSON object.
    pub parameters: Json,
    /// What confirming does.
    pub summary: String,
}

/// A plugin's answer, validated.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PluginAnswer {
    /// The plugin that answered.
    pub plugin: String,
    /// Text for the agent.
    pub response_text: String,
    /// JSON data.
    pub structured_data: Json,
    /// Next steps.
    pub suggested_actions: Vec<SuggestedAction>,
    /// For action intents: the change to confirm.
    pub proposal: Option<Proposal>,
}

/// A confirmed action for a plugin.
#[derive(Debug, Clone, PartialEq)]
pub struct ActionCall {
    /// The action name, as proposed.
    pub action: String,
    /// Its parameters, as proposed.
    pub parameters: Json,
}

/// The outcome of a confirmed action.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ActionOutcome {
    /// The plugin that executed it.
    pub plugin: String,
    /// Text for the agent.
    pub response_text: String,
    /// JSON data.
    pub structured_data: Json,
}

/// The kinds of error a plugin may report itself; its message is shown to
/// the agent as is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ReportedKind {
    /// The thing asked about does not exist.
    NotFound,
    /// The request is incomplete.
    InvalidInput,
    /// A backing system is unavailable.
    Unavailable,
    /// Anything else.
    Internal,
}

/// Raw output of a guest call before the host validates it.
#[derive(Debug, Clone)]
pub(crate) struct RawAnswer {
    pub response_text: String,
    pub structured_data: String,
    pub suggested_actions: Vec<(String, String, String)>,
    pub proposal: Option<(String, String, String)>,
}

/// Raw output of `execute`.
#[derive(Debug, Clone)]
pub(crate) struct RawOutcome {
    pub response_text: String,
    pub structured_data: String,
}
