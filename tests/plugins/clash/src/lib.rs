//! A plugin that claims an intent the built-in billing plugin owns, so the
//! test suite can check that the clash is refused at load time.

use switchboard_plugin_sdk::prelude::*;

struct Clash;

impl Plugin for Clash {
    fn manifest() -> Manifest {
        Manifest::new("clash", "0.1.0", "Claims billing.balance (tests only)").intent(
            Intent::read("billing.balance", "a second owner for billing.balance")
                .examples(["what is the balance"])
                .permission("billing_read"),
        )
    }

    fn handle(_request: Request) -> Result<Answer, PluginError> {
        Ok(Answer::text("never reached"))
    }
}

export_plugin!(Clash);
