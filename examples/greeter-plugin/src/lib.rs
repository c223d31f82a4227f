//! The smallest complete Switchboard plugin: one read intent that counts the
//! caller's customers through a named query, and one action intent that
//! proposes a note and writes it only after an agent confirms.
//!
//! Build it with `cargo build --release --target wasm32-wasip2 -p
//! switchboard-plugin-greeter` and list it in `switchboard.toml`:
//!
//! ```toml
//! [[plugin]]
//! name = "greeter"
//! path = "target/wasm32-wasip2/release/switchboard_plugin_greeter.wasm"
//! grants = ["greeter.count_customers"]
//! ```

use serde::Deserialize;
use switchboard_plugin_sdk::prelude::*;

struct Greeter;

#[derive(Deserialize)]
struct Count {
    customers: i64,
}

impl Plugin for Greeter {
    fn manifest() -> Manifest {
        Manifest::new(
            "greeter",
            "0.1.0",
            "Greets the agent and counts their customers",
        )
        .intent(
            Intent::read(
                "greeter.hello",
                "Greets the agent with the number of customers",
            )
            .examples([
                "say hello",
                "greet me",
                "hello there",
                "how many customers do we have",
            ])
            .optional(["customer_name"])
            .permission("customer_read")
            .queries(["greeter.count_customers"]),
        )
        .query(
            NamedQuery::read(
                "greeter.count_customers",
                "SELECT COUNT(*) AS customers FROM customers WHERE tenant_id = :tenant_id",
            )
            .describe("Counts the tenant's customers"),
        )
    }

    fn handle(request: Request) -> Result<Answer, PluginError> {
        let count = query("greeter.count_customers")
            .fetch_optional::<Count>()?
            .map_or(0, |c| c.customers);
        let name = request.entities.get("customer_name").unwrap_or("agent");
        log_info("greeted", &[("customers", &count.to_string())]);
        Ok(
            Answer::text(format!("Hello, {name}! You have {count} customers."))
                .data(json!({ "customers": count, "at": now() })),
        )
    }
}

export_plugin!(Greeter);
