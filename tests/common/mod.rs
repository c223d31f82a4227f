//! Helpers shared by the black-box tests: the plugin components the build
//! produced, a seeded SQLite database in a temporary folder, and
//! configuration files.

#![allow(dead_code)]

use std::path::{Path, PathBuf};

use switchboard::config::Config;
use switchboard::plugins::BUILT_WASM_DIR;
use switchboard::store::Db;

/// The component the build made for a test or example plugin.
pub fn wasm(name: &str) -> PathBuf {
    Path::new(BUILT_WASM_DIR).join(format!("switchboard_plugin_{name}.wasm"))
}

/// A compile cache shared by the tests of this run.
pub fn cache_dir() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("plugin-cache")
}

/// Opens a fresh SQLite database in `dir` with two tenants' customers:
/// tenant 1 has ABC123 and KLM204, tenant 2 has ABC123 (a different
/// person) and ZZZ999.
pub async fn seeded_db(dir: &Path) -> Db {
    let url = format!("sqlite://{}?mode=rwc", dir.join("test.db").display());
    let db = Db::open(&url, 4).await.expect("open test database");
    for (tenant, code, name) in [
        (1, "ABC123", "John Smith"),
        (1, "KLM204", "Garcia Logistics"),
        (2, "ABC123", "Tenant Two Person"),
        (2, "ZZZ999", "Secret Corp"),
    ] {
        sqlx::query(
            "INSERT INTO customers (tenant_id, account_code, name, created_on) VALUES ($1, $2, $3, '2024-01-01')",
        )
        .bind(tenant as i64)
        .bind(code)
        .bind(name)
        .execute(db.pool())
        .await
        .expect("seed customer");
    }
    db
}

/// Customer names of a tenant, by account code.
pub async fn names(db: &Db, tenant: i64) -> Vec<(String, String)> {
    use sqlx::Row;
    sqlx::query(
        "SELECT account_code, name FROM customers WHERE tenant_id = $1 ORDER BY account_code",
    )
    .bind(tenant)
    .fetch_all(db.pool())
    .await
    .expect("read customers")
    .into_iter()
    .map(|r| (r.get::<String, _>(0), r.get::<String, _>(1)))
    .collect()
}

/// Writes `text` to `dir/switchboard.toml` with `{cache}` replaced by the
/// shared compile cache and `{wasm:NAME}` by a component's path.
pub fn write_config(dir: &Path, text: &str) -> PathBuf {
    let mut text = text.replace("{cache}", &cache_dir().display().to_string());
    for name in ["greeter", "hostile", "clash"] {
        text = text.replace(
            &format!("{{wasm:{name}}}"),
            &wasm(name).display().to_string(),
        );
    }
    let path = dir.join("switchboard.toml");
    std::fs::write(&path, text).expect("write config");
    path
}

/// Writes and loads a configuration (no environment overrides).
pub fn config(dir: &Path, text: &str) -> Config {
    let path = write_config(dir, text);
    Config::load_with_env(Some(&path), |_| None).expect("valid test configuration")
}

/// The PostgreSQL server the tests use (127.0.0.1:5432, trust auth).
pub const PG_ADMIN: &str = "postgres://postgres@127.0.0.1:5432/test";

/// Creates an empty PostgreSQL database named `{prefix}_{uuid}` and
/// returns its URL and name; [`drop_pg`] removes it.
pub async fn fresh_pg(prefix: &str) -> (String, String) {
    let name = format!("{prefix}_{}", uuid::Uuid::new_v4().simple());
    sqlx::any::install_default_drivers();
    let admin = sqlx::AnyPool::connect(PG_ADMIN)
        .await
        .expect("PostgreSQL at 127.0.0.1:5432");
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&admin)
        .await
        .expect("create test database");
    admin.close().await;
    (format!("postgres://postgres@127.0.0.1:5432/{name}"), name)
}

/// Drops a database made by [`fresh_pg`], cutting its connections.
pub async fn drop_pg(name: &str) {
    if let Ok(admin) = sqlx::AnyPool::connect(PG_ADMIN).await {
        let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            .execute(&admin)
            .await;
    }
}
