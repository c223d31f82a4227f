//! Every catalogue intent answered from the demo data, in both tenants:
//! the core plugins called with canonical entities (as the NLU would pass
//! them), then a few questions end to end through the NLU.

#[path = "common/mod.rs"]
mod common;

use serde_json::{Value, json};
use switchboard::TenantId;
use switchboard::config::Config;
use switchboard::demo::{self, SeedOutcome};
use switchboard::plugins::{ActionCall, CallContext, PluginAnswer, PluginHost, PluginRequest};
use switchboard::query::{QueryEngine, QuerySettings, Status};
use switchboard::store::Db;
use tempfile::TempDir;

struct Demo {
    _dir: TempDir,
    db: Db,
    engine: QueryEngine,
}

async fn demo() -> Demo {
    let dir = TempDir::new().unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("demo.db").display());
    let db = Db::open(&url, 4).await.unwrap();
    assert!(matches!(
        demo::seed(&db, false).await.unwrap(),
        SeedOutcome::Seeded { .. }
    ));
    let mut config = Config::default();
    config.plugins.cache_dir = Some(common::cache_dir());
    let plugins = PluginHost::start(&config, Some(db.clone())).await.unwrap();
    let engine = QueryEngine::new(plugins, QuerySettings::default()).unwrap();
    Demo {
        _dir: dir,
        db,
        engine,
    }
}

fn ctx(tenant: i64) -> CallContext {
    CallContext {
        tenant: TenantId::new(tenant),
        user_id: "agent-1".into(),
    }
}

impl Demo {
    async fn ask(&self, tenant: i64, intent: &str, entities: &[(&str, &str)]) -> PluginAnswer {
        let request = PluginRequest {
            intent: intent.into(),
            entities: entities
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            text: String::new(),
        };
        self.engine
            .plugins()
            .handle(&ctx(tenant), request)
            .await
            .unwrap_or_else(|e| panic!("{intent} {entities:?}: {e}"))
    }
}

fn actions(answer: &PluginAnswer) -> Vec<&str> {
    answer
        .suggested_actions
        .iter()
        .map(|a| a.action.as_str())
        .collect()
}

#[tokio::test]
async fn seeding_twice_is_safe_and_reset_recreates() {
    let d = demo().await;
    assert!(matches!(
        demo::seed(&d.db, false).await.unwrap(),
        SeedOutcome::AlreadyPresent { customers: 24 }
    ));
    assert!(matches!(
        demo::seed(&d.db, true).await.unwrap(),
        SeedOutcome::Seeded { .. }
    ));
}

#[tokio::test]
async fn billing_intents() {
    let d = demo().await;
    let a = d
        .ask(1, "billing.customer_invoices", &[("customer", "ABC123")])
        .await;
    let first = &a.structured_data["invoices"][0];
    assert_eq!(a.structured_data["customer_id"], "ABC123");
    assert_eq!(
        *first,
        json!({ "invoice_id": "INV-2025-001", "amount": 99.99, "status": "paid", "date": "2025-02-01" })
    );
    assert!(a.response_text.contains("John Smith (ABC123)"));
    assert!(actions(&a).contains(&"billing.generate_invoice"));

    // Tenant 2's ABC123 is someone else, with other invoices.
    let b = d
        .ask(2, "billing.customer_invoices", &[("customer", "ABC123")])
        .await;
    assert_ne!(b.structured_data["invoices"][0]["amount"], json!(99.99));
    assert!(b.response_text.contains("Olivia Brown"));

    let paid = d
        .ask(
            1,
            "billing.customer_invoices",
            &[("customer", "ABC123"), ("status", "paid")],
        )
        .await;
    assert!(
        paid.structured_data["invoices"]
            .as_array()
            .unwrap()
            .iter()
            .all(|i| i["status"] == "paid")
    );

    let two = d
        .ask(
            1,
            "billing.customer_invoices",
            &[("customer_name", "John Smith")],
        )
        .await;
    assert_eq!(two.structured_data["error"], "ambiguous_customer");
    assert_eq!(
        two.structured_data["candidates"].as_array().unwrap().len(),
        2
    );
    assert!(two.response_text.contains("ABC123") && two.response_text.contains("DEF456"));

    let nobody = d
        .ask(1, "billing.customer_invoices", &[("customer", "NOP000")])
        .await;
    assert_eq!(nobody.structured_data["error"], "customer_not_found");

    let inv = d
        .ask(1, "billing.invoice_details", &[("invoice", "INV-2025-001")])
        .await;
    assert_eq!(inv.structured_data["customer_id"], "ABC123");
    assert_eq!(inv.structured_data["payments"].as_array().unwrap().len(), 1);

    let bal = d.ask(1, "billing.balance", &[("customer", "QWE555")]).await;
    assert!(
        bal.structured_data["balance"].as_f64().unwrap() > 0.0,
        "a late payer owes money"
    );

    let overdue = d
        .ask(1, "billing.overdue_invoices", &[("region", "west")])
        .await;
    let list = overdue.structured_data["invoices"].as_array().unwrap();
    assert!(!list.is_empty() && list.iter().all(|i| i["region"] == "west"));
    let big = d
        .ask(1, "billing.overdue_invoices", &[("min_amount", "200")])
        .await;
    assert!(
        big.structured_data["invoices"]
            .as_array()
            .unwrap()
            .iter()
            .all(|i| i["amount"].as_f64().unwrap() >= 200.0)
    );

    let pays = d
        .ask(
            1,
            "billing.payment_history",
            &[("customer", "ABC123"), ("period", "2025")],
        )
        .await;
    assert!(
        !pays.structured_data["payments"]
            .as_array()
            .unwrap()
            .is_empty()
    );

    let rev = d
        .ask(1, "billing.revenue_summary", &[("period", "last year")])
        .await;
    assert!(rev.structured_data["collected"].as_f64().unwrap() > 0.0);

    let generated = d
        .ask(1, "billing.generate_invoice", &[("customer", "ABC123")])
        .await;
    let proposal = generated.proposal.expect("a proposal, not a write");
    assert_eq!(proposal.parameters["customer"], "ABC123");
}

#[tokio::test]
async fn generate_invoice_writes_only_on_execute() {
    let d = demo().await;
    let count = |tenant: i64| {
        let db = d.db.clone();
        async move {
            sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM invoices WHERE tenant_id = $1")
                .bind(tenant)
                .fetch_one(db.pool())
                .await
                .unwrap()
        }
    };
    let before = (count(1).await, count(2).await);
    let generated = d
        .ask(1, "billing.generate_invoice", &[("customer", "KLM204")])
        .await;
    assert_eq!(count(1).await, before.0, "handle never writes");
    let p = generated.proposal.unwrap();
    let done = d
        .engine
        .plugins()
        .execute(
            &ctx(1),
            "billing.generate_invoice",
            ActionCall {
                action: p.action,
                parameters: p.parameters,
            },
        )
        .await
        .unwrap();
    assert_eq!(count(1).await, before.0 + 1);
    assert_eq!(count(2).await, before.1, "tenant 2 untouched");
    let id = done.structured_data["invoice_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let shown = d
        .ask(1, "billing.invoice_details", &[("invoice", &id)])
        .await;
    assert_eq!(shown.structured_data["customer_id"], "KLM204");
    assert_eq!(shown.structured_data["status"], "unpaid");
}

#[tokio::test]
async fn crm_intents() {
    let d = demo().await;
    let p = d
        .ask(1, "crm.customer_profile", &[("customer", "KLM204")])
        .await;
    assert_eq!(p.structured_data["name"], "Garcia Logistics");
    let p2 = d
        .ask(2, "crm.customer_profile", &[("customer", "KLM204")])
        .await;
    assert_eq!(p2.structured_data["name"], "Nordic Freight");

    let f = d
        .ask(1, "crm.find_customer", &[("customer_name", "garcia")])
        .await;
    assert_eq!(f.structured_data["customers"].as_array().unwrap().len(), 2);
    let e = d
        .ask(1, "crm.find_customer", &[("email", "chen.wei@example.com")])
        .await;
    assert_eq!(e.structured_data["customers"][0]["customer_id"], "ZTR991");
    // A name with a title (from an AI service, or an admin's call) is
    // looked up without it.
    let titled = d
        .ask(1, "crm.find_customer", &[("customer_name", "Dr. Chen Wei")])
        .await;
    assert_eq!(
        titled.structured_data["customers"][0]["customer_id"],
        "ZTR991"
    );
    let titled = d
        .ask(
            1,
            "billing.customer_invoices",
            &[("customer_name", "Ms Chen Wei")],
        )
        .await;
    assert_eq!(titled.structured_data["customer_id"], "ZTR991");
    let none_in_2 = d
        .ask(2, "crm.find_customer", &[("email", "chen.wei@example.com")])
        .await;
    assert_eq!(
        none_in_2.structured_data["customers"],
        json!([]),
        "no leak across tenants"
    );

    let top = d
        .ask(
            1,
            "crm.top_customers",
            &[("limit", "3"), ("region", "east")],
        )
        .await;
    let list = top.structured_data["customers"].as_array().unwrap();
    assert_eq!(list.len(), 3);
    assert!(list.iter().all(|c| c["region"] == "east"));

    let plan = d
        .ask(1, "crm.customer_plan", &[("customer", "ABC123")])
        .await;
    assert_eq!(plan.structured_data["plan"]["code"], "FIBER500");

    let urgent = d
        .ask(1, "crm.open_tickets", &[("priority", "urgent")])
        .await;
    assert!(
        urgent.structured_data["tickets"]
            .as_array()
            .unwrap()
            .iter()
            .all(|t| t["priority"] == "urgent")
    );
    let mine = d
        .ask(1, "crm.open_tickets", &[("customer", "ABC123")])
        .await;
    assert!(
        mine.structured_data["tickets"]
            .as_array()
            .unwrap()
            .iter()
            .all(|t| t["customer_id"] == "ABC123")
    );

    let t = d
        .ask(
            1,
            "crm.create_ticket",
            &[("customer", "KLM204"), ("subject", "no internet")],
        )
        .await;
    let proposal = t.proposal.unwrap();
    let done = d
        .engine
        .plugins()
        .execute(
            &ctx(1),
            "crm.create_ticket",
            ActionCall {
                action: proposal.action,
                parameters: proposal.parameters,
            },
        )
        .await
        .unwrap();
    assert_eq!(done.structured_data["subject"], "no internet");

    let u = d
        .ask(
            1,
            "crm.update_contact",
            &[("customer", "ZTR991"), ("phone", "5550109999")],
        )
        .await;
    let proposal = u.proposal.unwrap();
    d.engine
        .plugins()
        .execute(
            &ctx(1),
            "crm.update_contact",
            ActionCall {
                action: proposal.action,
                parameters: proposal.parameters,
            },
        )
        .await
        .unwrap();
    let after = d
        .ask(1, "crm.customer_profile", &[("customer", "ZTR991")])
        .await;
    assert_eq!(after.structured_data["phone"], "5550109999");
    assert_eq!(
        after.structured_data["email"], "chen.wei@example.com",
        "email kept"
    );
}

#[tokio::test]
async fn monitoring_intents() {
    let d = demo().await;
    let o = d.ask(1, "monitoring.outages", &[("region", "north")]).await;
    assert_eq!(o.structured_data["outages"][0]["outage_id"], "OUT-1001");
    let south = d.ask(1, "monitoring.outages", &[("region", "south")]).await;
    assert_eq!(
        south.structured_data["outages"],
        json!([]),
        "resolved outages are not active"
    );
    let t2 = d.ask(2, "monitoring.outages", &[]).await;
    let ids: Vec<&Value> = t2.structured_data["outages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| &o["outage_id"])
        .collect();
    assert_eq!(ids, [&json!("OUT-2001")]);

    let c = d
        .ask(1, "monitoring.connection_status", &[("customer", "ABC123")])
        .await;
    assert!(!c.structured_data["devices"].as_array().unwrap().is_empty());
    assert_eq!(c.structured_data["outages"][0]["region"], "north");

    let u = d
        .ask(
            1,
            "monitoring.usage",
            &[("customer", "ABC123"), ("period", "last month")],
        )
        .await;
    assert_eq!(u.structured_data["months"].as_array().unwrap().len(), 1);

    let h = d
        .ask(1, "monitoring.network_health", &[("region", "east")])
        .await;
    assert_eq!(h.structured_data["regions"][0]["region"], "east");
    assert_eq!(h.structured_data["regions"][0]["active_outages"], 1);

    let dev = d
        .ask(1, "monitoring.device_status", &[("device", "OLT-EAST-02")])
        .await;
    assert_eq!(dev.structured_data["status"], "offline");
    let missing = d
        .ask(1, "monitoring.device_status", &[("device", "OLT-MOON-01")])
        .await;
    assert_eq!(missing.structured_data["error"], "device_not_found");
}

#[tokio::test]
async fn questions_end_to_end() {
    let d = demo().await;
    let o = d
        .engine
        .answer(
            &ctx(1),
            "Show me billing information for customer ABC123",
            &[],
            None,
        )
        .await;
    assert_eq!(o.intent, "billing.customer_invoices");
    assert_eq!(
        o.structured_data["invoices"][0]["invoice_id"],
        "INV-2025-001"
    );

    let none = d
        .engine
        .answer(&ctx(1), "write a sonnet about autumn leaves", &[], None)
        .await;
    assert_eq!(none.status, Status::OutOfScope);
    assert!(none.response_text.contains("can't help"));

    let missing = d
        .engine
        .answer(&ctx(1), "show me the invoice details", &[], None)
        .await;
    assert!(
        matches!(missing.status, Status::MissingEntities { .. })
            || missing.intent != "billing.invoice_details",
        "{missing:?}"
    );

    let follow = d
        .engine
        .answer(
            &ctx(1),
            "and what plan are they on?",
            &["How much does KLM204 owe?".to_owned()],
            None,
        )
        .await;
    assert_eq!(follow.intent, "crm.customer_plan");
    assert_eq!(follow.structured_data["customer_id"], "KLM204");

    let forbidden = d
        .engine
        .answer(
            &ctx(1),
            "outstanding balance of ABC123",
            &[],
            Some(&["network_read".to_owned()]),
        )
        .await;
    assert_eq!(
        forbidden.status,
        Status::Forbidden {
            permission: "billing_read".into()
        }
    );
}
