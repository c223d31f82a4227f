//! # Switchboard plugin SDK
//!
//! Write a Switchboard plugin as a small, typed piece of Rust: implement
//! [`Plugin`], describe your intents in a [`Manifest`], read data through
//! [`query`] (named queries the admin granted you), answer with an
//! [`Answer`], and export it with [`export_plugin!`]. Build it for
//! `wasm32-wasip2` and list the `.wasm` file in `switchboard.toml`.
//!
//! ```ignore
//! use switchboard_plugin_sdk::prelude::*;
//!
//! struct Greeter;
//!
//! impl Plugin for Greeter {
//!     fn manifest() -> Manifest {
//!         Manifest::new("greeter", "0.1.0", "Says hello")
//!             .intent(Intent::read("greeter.hello", "Greets the agent")
//!                 .examples(["say hello", "greet me"])
//!                 .permission("greeter_read"))
//!     }
//!
//!     fn handle(request: Request) -> Result<Answer, PluginError> {
//!         Ok(Answer::text(format!("Hello, agent {}!", request.user_id)))
//!     }
//! }
//!
//! export_plugin!(Greeter);
//! ```
//!
//! The contract underneath is the WIT package `switchboard:plugin@0.1.0`
//! (`plugin-sdk/wit/v0.1.0/plugin.wit`); this crate hides it behind plain
//! Rust types, so you rarely need [`bindings`] directly.

mod answer;
mod entities;
mod error;
pub mod host;
mod manifest;
mod query;

pub use answer::{ActionResult, Answer, ProposedAction, SuggestedAction};
pub use entities::Entities;
pub use error::PluginError;
pub use manifest::{Intent, IntentKind, Manifest, NamedQuery, QueryAccess};
pub use query::{Query, QueryError, Rows, Value, query};

/// The WIT version this SDK builds plugins against.
pub const WIT_VERSION: &str = "0.1.0";

/// Raw bindings generated from the WIT contract. The SDK's own types cover
/// everything a plugin needs; these are here for the [`export_plugin!`]
/// macro and for the curious.
#[doc(hidden)]
pub mod bindings {
    wit_bindgen::generate!({
        path: "wit/v0.1.0",
        world: "plugin",
        pub_export_macro: true,
        export_macro_name: "__switchboard_export_bindings",
        default_bindings_module: "switchboard_plugin_sdk::bindings",
    });
}

/// Everything a plugin usually imports.
pub mod prelude {
    pub use crate::host::{log_debug, log_error, log_info, log_warn, now};
    pub use crate::{
        ActionRequest, ActionResult, Answer, Entities, Intent, Manifest, NamedQuery, Plugin,
        PluginError, ProposedAction, Request, SuggestedAction, export_plugin, query,
    };
    pub use serde_json::json;
}

/// A question the engine routed to this plugin.
#[derive(Debug, Clone)]
pub struct Request {
    /// The intent the engine classified, one of those in your manifest.
    pub intent: String,
    /// Entities found in the question, in their canonical form.
    pub entities: Entities,
    /// The agent's text, with personal data masked.
    pub text: String,
    /// The agent asking. The tenant is applied by the host, never seen here.
    pub user_id: String,
}

/// A confirmed action, as proposed earlier by [`Answer::propose`].
#[derive(Debug, Clone)]
pub struct ActionRequest {
    /// The action's name, as proposed.
    pub action: String,
    /// The action's parameters, as proposed.
    pub parameters: serde_json::Value,
    /// The agent who confirmed it.
    pub user_id: String,
}

impl ActionRequest {
    /// A string parameter, or an `invalid-input` error naming it.
    pub fn param_str(&self, name: &str) -> Result<&str, PluginError> {
        self.parameters
            .get(name)
            .and_then(|v| v.as_str())
            .ok_or_else(|| PluginError::invalid_input(format!("missing parameter `{name}`")))
    }
}

/// A Switchboard plugin. Implement it on a unit struct and export that with
/// [`export_plugin!`].
pub trait Plugin {
    /// Describes the plugin: name, version, intents and named queries. Called
    /// once when the engine loads the plugin.
    fn manifest() -> Manifest;

    /// Answers a read intent, or proposes the change of an action intent
    /// with [`Answer::propose`]. Must not write: write queries are refused
    /// here.
    fn handle(request: Request) -> Result<Answer, PluginError>;

    /// Carries out an action an agent confirmed. The default refuses, for
    /// plugins without action intents.
    fn execute(action: ActionRequest) -> Result<ActionResult, PluginError> {
        Err(PluginError::invalid_input(format!(
            "this plugin has no action `{}`",
            action.action
        )))
    }
}

/// Glue between the generated bindings and [`Plugin`]; used by
/// [`export_plugin!`]. Not part of the stable API.
#[doc(hidden)]
pub mod __private {
    use crate::bindings::switchboard::plugin::types as wit;
    use crate::{ActionRequest, Entities, Plugin, Request};

    pub use crate::bindings::exports::switchboard::plugin::guest::Guest;

    pub fn manifest<P: Plugin>() -> wit::PluginManifest {
        P::manifest().into_wit()
    }

    pub fn handle<P: Plugin>(request: wit::Request) -> Result<wit::Answer, wit::PluginError> {
        let request = Request {
            intent: request.intent,
            entities: Entities::from_pairs(request.entities.into_iter().map(|e| (e.name, e.value))),
            text: request.text,
            user_id: request.user_id,
        };
        P::handle(request)
            .map(|a| a.into_wit())
            .map_err(|e| e.into_wit())
    }

    pub fn execute<P: Plugin>(
        action: wit::ActionRequest,
    ) -> Result<wit::ActionResult, wit::PluginError> {
        let parameters = serde_json::from_str(&action.parameters)
            .unwrap_or(serde_json::Value::Object(Default::default()));
        let action = ActionRequest {
            action: action.action,
            parameters,
            user_id: action.user_id,
        };
        P::execute(action)
            .map(|r| r.into_wit())
            .map_err(|e| e.into_wit())
    }
}

/// Exports a type implementing [`Plugin`] as the component's `guest`
/// interface. Use it once, at the crate root of your plugin.
#[macro_export]
macro_rules! export_plugin {
    ($plugin:ty) => {
        #[doc(hidden)]
        struct __SwitchboardGuest;

        impl $crate::__private::Guest for __SwitchboardGuest {
            fn manifest() -> $crate::bindings::switchboard::plugin::types::PluginManifest {
                $crate::__private::manifest::<$plugin>()
            }

            fn handle(
                request: $crate::bindings::switchboard::plugin::types::Request,
            ) -> ::core::result::Result<
                $crate::bindings::switchboard::plugin::types::Answer,
                $crate::bindings::switchboard::plugin::types::PluginError,
            > {
                $crate::__private::handle::<$plugin>(request)
            }

            fn execute(
                action: $crate::bindings::switchboard::plugin::types::ActionRequest,
            ) -> ::core::result::Result<
                $crate::bindings::switchboard::plugin::types::ActionResult,
                $crate::bindings::switchboard::plugin::types::PluginError,
            > {
                $crate::__private::execute::<$plugin>(action)
            }
        }

        $crate::bindings::__switchboard_export_bindings!(__SwitchboardGuest);
    };
}
