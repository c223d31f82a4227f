//! One plugin dispatch: a fresh instance from `InstancePre`, the `handle`
//! call, and the answer checked, with and without a named query on SQLite.
//!
//! Run with `cargo bench -p switchboard --bench dispatch`.

use std::path::Path;

use criterion::{Criterion, criterion_group, criterion_main};
use switchboard::TenantId;
use switchboard::config::Config;
use switchboard::plugins::{BUILT_WASM_DIR, CallContext, PluginHost, PluginRequest};
use switchboard::store::Db;

fn wasm(name: &str) -> String {
    Path::new(BUILT_WASM_DIR)
        .join(format!("switchboard_plugin_{name}.wasm"))
        .display()
        .to_string()
}

fn dispatch(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let dir = tempfile::TempDir::new().expect("temp dir");
    let toml = format!(
        r#"
[plugins]
builtin = false
cache_dir = "{cache}"
[[plugin]]
name = "greeter"
path = "{greeter}"
grants = ["greeter.count_customers"]
[[plugin]]
name = "hostile"
path = "{hostile}"
grants = ["hostile.customers"]
"#,
        cache = dir.path().join("cache").display(),
        greeter = wasm("greeter"),
        hostile = wasm("hostile"),
    );
    let config = Config::parse_str(&toml, "bench.toml").expect("config");
    let url = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("bench.db").display()
    );
    let (host, _db) = rt.block_on(async {
        let db = Db::open(&url, 4).await.expect("db");
        for i in 0..50 {
            sqlx::query("INSERT INTO customers (tenant_id, account_code, name, created_on) VALUES (1, $1, $2, '2024-01-01')")
                .bind(format!("ABC{i:03}"))
                .bind(format!("Customer {i}"))
                .execute(db.pool())
                .await
                .expect("seed");
        }
        (PluginHost::start(&config, Some(db.clone())).await.expect("plugins"), db)
    });
    let ctx = CallContext {
        tenant: TenantId::new(1),
        user_id: "bench".into(),
    };
    let request = |intent: &str| PluginRequest {
        intent: intent.into(),
        entities: vec![],
        text: String::new(),
    };

    let mut group = c.benchmark_group("dispatch");
    group.bench_function("fresh instance + handle (no query)", |b| {
        b.iter(|| {
            rt.block_on(host.handle(&ctx, request("hostile.counter")))
                .expect("answer")
        });
    });
    group.bench_function("fresh instance + handle + 1 named query (SQLite)", |b| {
        b.iter(|| {
            rt.block_on(host.handle(&ctx, request("greeter.hello")))
                .expect("answer")
        });
    });
    group.finish();
}

criterion_group!(benches, dispatch);
criterion_main!(benches);
