//! The plugin host against real components: the SDK's example, and a
//! hostile plugin that tries every misdeed the sandbox must contain. For
//! each: a clear error code naming the plugin, the engine still answers the
//! next request, and other plugins keep working.

#[path = "common/mod.rs"]
mod common;

use serde_json::json;
use switchboard::TenantId;
use switchboard::plugins::{
    ActionCall, CallContext, DispatchError, FailureCode, PluginHost, PluginRequest,
};
use switchboard::store::Db;
use tempfile::TempDir;

const HOSTILE: &str = r#"
[plugins]
builtin = false
cache_dir = "{cache}"

[plugins.breaker]
failure_threshold = 1000

[[plugin]]
name = "greeter"
path = "{wasm:greeter}"
grants = ["greeter.count_customers"]

[[plugin]]
name = "hostile"
path = "{wasm:hostile}"
grants = ["hostile.customers", "hostile.rename"]
limits = { deadline_ms = 300, memory_mib = 16, max_output_bytes = 65536, max_queries_per_request = 5 }
"#;

async fn start(text: &str) -> (TempDir, Db, PluginHost) {
    let dir = TempDir::new().expect("temp dir");
    let db = common::seeded_db(dir.path()).await;
    let config = common::config(dir.path(), text);
    let host = PluginHost::start(&config, Some(db.clone()))
        .await
        .expect("plugins load");
    (dir, db, host)
}

fn ctx(tenant: i64) -> CallContext {
    CallContext {
        tenant: TenantId::new(tenant),
        user_id: "agent-7".into(),
    }
}

fn request(intent: &str) -> PluginRequest {
    PluginRequest {
        intent: intent.into(),
        entities: vec![],
        text: String::new(),
    }
}

async fn failure(host: &PluginHost, intent: &str) -> (FailureCode, String) {
    match host.handle(&ctx(1), request(intent)).await {
        Err(DispatchError::Failed {
            plugin,
            code,
            message,
        }) => {
            assert_eq!(plugin, "hostile");
            (code, message)
        }
        other => panic!("{intent}: expected a plugin failure, got {other:?}"),
    }
}

/// The engine still answers, and the well-behaved plugin is unaffected.
async fn still_serving(host: &PluginHost) {
    let answer = host
        .handle(&ctx(1), request("hostile.behave"))
        .await
        .expect("the hostile plugin still answers a good request");
    assert_eq!(
        answer.structured_data["accounts"],
        json!(["ABC123", "KLM204"])
    );
    let answer = host
        .handle(&ctx(1), request("greeter.hello"))
        .await
        .expect("other plugins keep working");
    assert_eq!(answer.structured_data["customers"], json!(2));
}

#[tokio::test]
async fn each_misdeed_gets_its_own_clear_error_and_the_engine_keeps_serving() {
    let (_dir, db, host) = start(HOSTILE).await;
    let cases = [
        (
            "hostile.infinite_loop",
            FailureCode::PluginTimeout,
            "300 ms",
        ),
        (
            "hostile.memory_bomb",
            FailureCode::PluginMemoryExceeded,
            "16 MiB",
        ),
        (
            "hostile.huge_answer",
            FailureCode::PluginOutputTooLarge,
            "65536",
        ),
        ("hostile.panic", FailureCode::PluginTrap, "crashed"),
        (
            "hostile.ungranted_query",
            FailureCode::PluginQueryNotGranted,
            "hostile.secret",
        ),
        (
            "hostile.other_tenant",
            FailureCode::PluginTenantViolation,
            "tenant_id",
        ),
        (
            "hostile.garbage",
            FailureCode::PluginBadOutput,
            "JSON object",
        ),
        (
            "hostile.write_in_handle",
            FailureCode::PluginWriteOutsideExecute,
            "hostile.rename",
        ),
        (
            "hostile.query_flood",
            FailureCode::PluginQueryLimit,
            "more than 5",
        ),
        (
            "hostile.http_exfiltrate",
            FailureCode::PluginHttpNotAllowed,
            "127.0.0.1",
        ),
    ];
    for (intent, code, needle) in cases {
        let (got, message) = failure(&host, intent).await;
        assert_eq!(got, code, "{intent}: {message}");
        assert!(
            message.contains(needle),
            "{intent}: `{message}` should mention `{needle}`"
        );
        assert!(
            message.contains("hostile"),
            "{intent}: `{message}` should name the plugin"
        );
        assert!(
            !message.contains("backtrace") && !message.contains(".rs:"),
            "{intent}: no stack trace in `{message}`"
        );
        still_serving(&host).await;
    }
    // The write attempted in `handle` changed nothing.
    assert_eq!(common::names(&db, 1).await[0].1, "John Smith");
}

type Outcome = Result<switchboard::plugins::PluginAnswer, DispatchError>;

/// Runs `first` and then `second` concurrently on the current task; returns
/// their outcomes and the order in which they finished.
async fn side_by_side(
    host: &PluginHost,
    first: &'static str,
    second: &'static str,
) -> ((Outcome, Outcome), Vec<&'static str>) {
    let finished = std::sync::Mutex::new(Vec::new());
    let call = |intent: &'static str| {
        let finished = &finished;
        async move {
            let outcome = host.handle(&ctx(1), request(intent)).await;
            finished.lock().unwrap().push(intent);
            outcome
        }
    };
    let outcomes = tokio::join!(call(first), call(second));
    (outcomes, finished.into_inner().unwrap())
}

/// Plugin calls run on the request's task. A plugin that spins must still
/// yield, so on a single-threaded runtime a call started after it finishes
/// first (an ordering, not a timing, assertion).
#[tokio::test(flavor = "current_thread")]
async fn a_spinning_plugin_leaves_the_executor_to_other_calls() {
    let (_dir, _db, host) = start(HOSTILE).await;
    let ((spin, hello), finished) =
        side_by_side(&host, "hostile.infinite_loop", "greeter.hello").await;
    assert!(
        matches!(
            spin,
            Err(DispatchError::Failed {
                code: FailureCode::PluginTimeout,
                ..
            })
        ),
        "{spin:?}"
    );
    assert_eq!(hello.unwrap().structured_data["customers"], json!(2));
    assert_eq!(finished, ["greeter.hello", "hostile.infinite_loop"]);
}

/// A granted query that runs long is stopped at the call's deadline, and
/// while it runs it does not hold the runtime: on a single-threaded runtime
/// a call started after it finishes first.
#[tokio::test(flavor = "current_thread")]
async fn a_slow_granted_query_times_out_without_holding_the_executor() {
    const SLOW: &str = "WITH RECURSIVE c(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM c WHERE n < 1000000000) SELECT COUNT(*) AS customers FROM c WHERE :tenant_id IS NOT NULL";
    let text = HOSTILE.replace(
        "grants = [\"greeter.count_customers\"]",
        &format!(
            "grants = [\"greeter.count_customers\"]\nqueries = {{ \"greeter.count_customers\" = {{ access = \"read\", sql = \"{SLOW}\" }} }}\nlimits = {{ deadline_ms = 300, memory_mib = 16, max_output_bytes = 65536, max_queries_per_request = 5 }}"
        ),
    );
    let (_dir, _db, host) = start(&text).await;
    let ((slow, behave), finished) = side_by_side(&host, "greeter.hello", "hostile.behave").await;
    match slow {
        Err(DispatchError::Failed { code, message, .. }) => {
            assert_eq!(code, FailureCode::PluginTimeout, "{message}");
            assert!(message.contains("greeter.count_customers"), "{message}");
        }
        other => panic!("expected a timeout, got {other:?}"),
    }
    behave.expect("the other call is answered");
    assert_eq!(finished, ["hostile.behave", "greeter.hello"]);
}

#[tokio::test]
async fn named_queries_see_only_the_callers_tenant() {
    let (_dir, _db, host) = start(HOSTILE).await;
    let one = host
        .handle(&ctx(1), request("hostile.behave"))
        .await
        .unwrap();
    let two = host
        .handle(&ctx(2), request("hostile.behave"))
        .await
        .unwrap();
    assert_eq!(one.structured_data["accounts"], json!(["ABC123", "KLM204"]));
    assert_eq!(two.structured_data["accounts"], json!(["ABC123", "ZZZ999"]));
    let nobody = host
        .handle(&ctx(3), request("hostile.behave"))
        .await
        .unwrap();
    assert_eq!(nobody.structured_data["accounts"], json!([]));
}

#[tokio::test]
async fn every_call_gets_a_fresh_instance() {
    let (_dir, _db, host) = start(HOSTILE).await;
    for _ in 0..3 {
        let answer = host
            .handle(&ctx(1), request("hostile.counter"))
            .await
            .unwrap();
        assert_eq!(
            answer.structured_data["calls"],
            json!(1),
            "no state survives a call"
        );
    }
}

#[tokio::test]
async fn actions_propose_on_handle_and_write_only_on_execute_in_the_callers_tenant() {
    let (_dir, db, host) = start(HOSTILE).await;
    let answer = host
        .handle(&ctx(1), request("hostile.action"))
        .await
        .unwrap();
    let proposal = answer.proposal.expect("an action intent proposes");
    assert_eq!(proposal.action, "rename");
    assert_eq!(
        common::names(&db, 1).await[0].1,
        "John Smith",
        "handle never writes"
    );

    let outcome = host
        .execute(
            &ctx(1),
            "hostile.action",
            ActionCall {
                action: proposal.action.clone(),
                parameters: proposal.parameters.clone(),
            },
        )
        .await
        .unwrap();
    assert_eq!(outcome.structured_data["rows_affected"], json!(2));
    assert!(
        common::names(&db, 1)
            .await
            .iter()
            .all(|(_, n)| n == "Renamed")
    );
    assert_eq!(
        common::names(&db, 2).await,
        vec![
            ("ABC123".to_owned(), "Tenant Two Person".to_owned()),
            ("ZZZ999".to_owned(), "Secret Corp".to_owned())
        ],
        "another tenant's rows are untouched"
    );
}

#[tokio::test]
async fn a_plugin_that_fails_after_writing_has_its_write_rolled_back() {
    let (_dir, db, host) = start(HOSTILE).await;
    let result = host
        .execute(
            &ctx(1),
            "hostile.action",
            ActionCall {
                action: "rename".into(),
                parameters: json!({ "name": "fail-after-write" }),
            },
        )
        .await;
    match result {
        Err(DispatchError::Failed { code, .. }) => assert_eq!(code, FailureCode::PluginTrap),
        other => panic!("expected a trap, got {other:?}"),
    }
    assert_eq!(common::names(&db, 1).await[0].1, "John Smith");
}

#[tokio::test]
async fn a_plugin_that_keeps_failing_is_taken_out_of_rotation() {
    let text = HOSTILE.replace("failure_threshold = 1000", "failure_threshold = 2");
    let (_dir, _db, host) = start(&text).await;
    for _ in 0..2 {
        let (code, _) = failure(&host, "hostile.panic").await;
        assert_eq!(code, FailureCode::PluginTrap);
    }
    let (code, message) = failure(&host, "hostile.behave").await;
    assert_eq!(code, FailureCode::PluginUnavailable, "{message}");
    let info = host.set().plugin("hostile").unwrap().info();
    assert_eq!(info.breaker, switchboard::plugins::BreakerState::Open);
    // Other plugins are unaffected.
    host.handle(&ctx(1), request("greeter.hello"))
        .await
        .unwrap();
}

/// A half-open breaker's trial whose request goes away mid-call (the
/// client disconnected) must not leave the plugin out of rotation for good.
#[tokio::test]
async fn a_trial_call_dropped_mid_call_lets_the_next_call_try_again() {
    let text = HOSTILE.replace(
        "failure_threshold = 1000",
        "failure_threshold = 2\ncooldown_secs = 1",
    );
    let (_dir, _db, host) = start(&text).await;
    for _ in 0..2 {
        let (code, _) = failure(&host, "hostile.panic").await;
        assert_eq!(code, FailureCode::PluginTrap);
    }
    let (code, _) = failure(&host, "hostile.behave").await;
    assert_eq!(code, FailureCode::PluginUnavailable);
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    // The trial spins; its future is dropped long before the deadline.
    let abandoned = tokio::time::timeout(
        std::time::Duration::from_millis(30),
        host.handle(&ctx(1), request("hostile.infinite_loop")),
    )
    .await;
    assert!(
        abandoned.is_err(),
        "the trial was still running: {abandoned:?}"
    );
    // A new trial is let through and succeeds.
    still_serving(&host).await;
    let info = host.set().plugin("hostile").unwrap().info();
    assert_eq!(info.breaker, switchboard::plugins::BreakerState::Closed);
}

#[tokio::test]
async fn a_plugin_reported_error_reaches_the_agent_and_is_not_a_failure() {
    let (_dir, _db, host) = start(HOSTILE).await;
    let err = host
        .execute(
            &ctx(1),
            "hostile.action",
            ActionCall {
                action: "rename".into(),
                parameters: json!({}),
            },
        )
        .await
        .unwrap_err();
    match err {
        DispatchError::Reported {
            plugin, message, ..
        } => {
            assert_eq!(plugin, "hostile");
            assert!(message.contains("missing parameter `name`"), "{message}");
        }
        other => panic!("expected the plugin's own error, got {other:?}"),
    }
}

#[tokio::test]
async fn unknown_intents_are_refused() {
    let (_dir, _db, host) = start(HOSTILE).await;
    let err = host
        .handle(&ctx(1), request("billing.balance"))
        .await
        .unwrap_err();
    assert_eq!(err, DispatchError::UnknownIntent("billing.balance".into()));
}

#[tokio::test]
async fn the_builtin_plugins_load_with_no_configuration() {
    let dir = TempDir::new().unwrap();
    let db = common::seeded_db(dir.path()).await;
    let mut config = switchboard::config::Config::default();
    config.plugins.cache_dir = Some(common::cache_dir());
    let host = PluginHost::start(&config, Some(db)).await.unwrap();
    let set = host.set();
    let names: Vec<_> = set.plugins().map(|p| p.name().to_owned()).collect();
    assert_eq!(names, ["billing", "crm", "monitoring"]);
    for info in set.infos() {
        assert_eq!(info.wit_version, "0.1.0");
        assert!(
            !info.granted_queries.is_empty(),
            "{} has its own queries granted",
            info.name
        );
    }
}

mod load_errors {
    use super::*;

    async fn load_error(text: &str) -> String {
        let dir = TempDir::new().unwrap();
        let config = common::config(dir.path(), text);
        PluginHost::start(&config, None)
            .await
            .unwrap_err()
            .to_string()
    }

    #[tokio::test]
    async fn an_intent_clash_names_both_plugins() {
        let err = load_error(
            r#"
[plugins]
cache_dir = "{cache}"
[[plugin]]
name = "clash"
path = "{wasm:clash}"
"#,
        )
        .await;
        assert!(
            err.contains("billing.balance") && err.contains("`billing`") && err.contains("`clash`"),
            "{err}"
        );
    }

    #[tokio::test]
    async fn a_name_that_differs_from_the_manifest_is_refused() {
        let err = load_error(
            r#"
[plugins]
builtin = false
cache_dir = "{cache}"
[[plugin]]
name = "impostor"
path = "{wasm:hostile}"
"#,
        )
        .await;
        assert!(err.contains("manifest calls it `hostile`"), "{err}");
    }

    #[tokio::test]
    async fn a_file_that_is_not_a_component_is_refused() {
        let dir = TempDir::new().unwrap();
        std::fs::write(dir.path().join("junk.wasm"), b"definitely not wasm").unwrap();
        let config = common::config(
            dir.path(),
            r#"
[plugins]
builtin = false
cache_dir = "{cache}"
[[plugin]]
name = "junk"
path = "junk.wasm"
"#,
        );
        let err = PluginHost::start(&config, None)
            .await
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("plugin `junk`") && err.contains("not a valid WebAssembly component"),
            "{err}"
        );
    }

    #[tokio::test]
    async fn granting_an_undefined_query_is_refused() {
        let err = load_error(
            r#"
[plugins]
builtin = false
cache_dir = "{cache}"
[[plugin]]
name = "greeter"
path = "{wasm:greeter}"
grants = ["greeter.drop_everything"]
"#,
        )
        .await;
        assert!(
            err.contains("greeter.drop_everything") && err.contains("greeter.count_customers"),
            "{err}"
        );
    }

    /// The load error of greeter with its query replaced by `sql`.
    async fn admin_query_error(sql: &str) -> String {
        let config = r#"
[plugins]
builtin = false
cache_dir = "{cache}"
[[plugin]]
name = "greeter"
path = "{wasm:greeter}"
grants = ["greeter.count_customers"]
queries = { "greeter.count_customers" = { access = "read", sql = "SQL" } }
"#
        .replace("SQL", sql);
        load_error(&config).await
    }

    #[tokio::test]
    async fn an_admin_query_without_tenant_scope_is_refused() {
        let err = admin_query_error("SELECT COUNT(*) AS customers FROM customers").await;
        assert!(
            err.contains("greeter.count_customers") && err.contains(":tenant_id"),
            "{err}"
        );
        // Mentioning the tenant is not enough: the table must be pinned to it.
        let err = admin_query_error(
            "SELECT COUNT(*) AS customers FROM customers WHERE :tenant_id IS NOT NULL",
        )
        .await;
        assert!(
            err.contains("greeter.count_customers")
                && err.contains("does not pin table `customers`"),
            "{err}"
        );
    }

    #[tokio::test]
    async fn an_admin_query_replaces_the_plugins_own() {
        let dir = TempDir::new().unwrap();
        let db = common::seeded_db(dir.path()).await;
        let config = common::config(
            dir.path(),
            r#"
[plugins]
builtin = false
cache_dir = "{cache}"
[[plugin]]
name = "greeter"
path = "{wasm:greeter}"
grants = ["greeter.count_customers"]
queries = { "greeter.count_customers" = { access = "read", sql = "SELECT 42 AS customers WHERE :tenant_id IS NOT NULL" } }
"#,
        );
        let host = PluginHost::start(&config, Some(db)).await.unwrap();
        let answer = host
            .handle(&ctx(1), request("greeter.hello"))
            .await
            .unwrap();
        assert_eq!(answer.structured_data["customers"], json!(42));
    }
}
