//! Building answers: text, structured data, suggested next actions and, for
//! action intents, the change to confirm.

use serde_json::Value as Json;

use crate::bindings::switchboard::plugin::types as wit;

/// A next step offered to the agent (a button in the front end).
#[derive(Debug, Clone)]
pub struct SuggestedAction {
    action: String,
    parameters: Json,
    description: String,
}

impl SuggestedAction {
    /// `action` names what to do (often another intent), `parameters` is a
    /// JSON object, `description` the label shown to the agent.
    pub fn new(
        action: impl Into<String>,
        parameters: Json,
        description: impl Into<String>,
    ) -> Self {
        Self {
            action: action.into(),
            parameters,
            description: description.into(),
        }
    }
}

/// A change an action intent proposes; it runs only after an agent confirms.
#[derive(Debug, Clone)]
pub struct ProposedAction {
    action: String,
    parameters: Json,
    summary: String,
}

impl ProposedAction {
    /// `summary` tells the agent what confirming will do.
    pub fn new(action: impl Into<String>, parameters: Json, summary: impl Into<String>) -> Self {
        Self {
            action: action.into(),
            parameters,
            summary: summary.into(),
        }
    }
}

/// The answer to a request, built fluently.
#[derive(Debug, Clone)]
pub struct Answer {
    text: String,
    data: Json,
    actions: Vec<SuggestedAction>,
    proposal: Option<ProposedAction>,
}

impl Answer {
    /// An answer with this text and no data yet.
    pub fn text(text: impl Into<String>) -> Self {
        Self {
            text: text.into(),
            data: Json::Object(Default::default()),
            actions: Vec::new(),
            proposal: None,
        }
    }

    /// Sets the structured data (document its shape per intent).
    pub fn data(mut self, data: Json) -> Self {
        self.data = data;
        self
    }

    /// Adds a suggested next action.
    pub fn suggest(mut self, action: SuggestedAction) -> Self {
        self.actions.push(action);
        self
    }

    /// Proposes a change for the agent to confirm (action intents only).
    pub fn propose(mut self, proposal: ProposedAction) -> Self {
        self.proposal = Some(proposal);
        self
    }

    pub(crate) fn into_wit(self) -> wit::Answer {
        wit::Answer {
            response_text: self.text,
            structured_data: self.data.to_string(),
            suggested_actions: self
                .actions
                .into_iter()
                .map(|a| wit::SuggestedAction {
                    action: a.action,
                    parameters: a.parameters.to_string(),
                    description: a.description,
                })
                .collect(),
            proposal: self.proposal.map(|p| wit::ProposedAction {
                action: p.action,
                parameters: p.parameters.to_string(),
                summary: p.summary,
            }),
        }
    }
}

/// The outcome of a confirmed action.
#[derive(Debug, Clone)]
pub struct ActionResult {
    text: String,
    data: Json,
}

impl ActionResult {
    /// A result with this text and no data.
    pub fn text(text: impl Into<String>) -> Self {
        Self {
            text: text.into(),
            data: Json::Object(Default::default()),
        }
    }

    /// Sets the structured data.
    pub fn data(mut self, data: Json) -> Self {
        self.data = data;
        self
    }

    pub(crate) fn into_wit(self) -> wit::ActionResult {
        wit::ActionResult {
            response_text: self.text,
            structured_data: self.data.to_string(),
        }
    }
}
