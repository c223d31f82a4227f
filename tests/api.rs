//! The REST API over real HTTP against a running server, on SQLite (a
//! temporary file) and on PostgreSQL (127.0.0.1:5432, a fresh database per
//! test): the seed's example on the demo data, every error status, tenant
//! isolation on every endpoint, permissions, actions, pagination.

#[path = "common/mod.rs"]
mod common;

use std::sync::Arc;

use reqwest::StatusCode;
use serde_json::{Value, json};
use switchboard::api::AppState;
use switchboard::auth::{Authenticator, Claims, now_secs};
use switchboard::config::{ApiConfig, Config};
use switchboard::plugins::PluginHost;
use switchboard::query::{QueryEngine, QuerySettings};
use switchboard::secrets::Sealer;
use switchboard::store::{Db, records};
use tempfile::TempDir;

const SECRET: &str = "test-secret-of-sufficient-length";

#[derive(Clone, Copy, Debug)]
enum Backend {
    Sqlite,
    Postgres,
}

struct Server {
    base: String,
    http: reqwest::Client,
    db: Db,
    pg_database: Option<String>,
    /// Starts the server's graceful shutdown.
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    /// The serving task; it ends once the shutdown is complete.
    served: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
    _dir: TempDir,
}

async fn start(backend: Backend) -> Server {
    let dir = TempDir::new().unwrap();
    let (url, pg_database) = match backend {
        Backend::Sqlite => (
            format!("sqlite://{}?mode=rwc", dir.path().join("api.db").display()),
            None,
        ),
        Backend::Postgres => {
            let (url, name) = common::fresh_pg("sb_test").await;
            (url, Some(name))
        }
    };
    let db = Db::open(&url, 4).await.unwrap();
    switchboard::demo::seed(&db, false).await.unwrap();
    let mut config = Config::default();
    config.plugins.cache_dir = Some(common::cache_dir());
    serve(&config, db, dir, pg_database).await
}

/// Serves the API on an ephemeral port with the plugins of `config` over
/// `db` (seeded by the caller).
async fn serve(config: &Config, db: Db, dir: TempDir, pg_database: Option<String>) -> Server {
    let plugins = PluginHost::start(config, Some(db.clone())).await.unwrap();
    let engine = QueryEngine::new(plugins, QuerySettings::default()).unwrap();
    let state = Arc::new(AppState {
        engine,
        db: db.clone(),
        auth: Authenticator::hs256(SECRET),
        sealer: Sealer::new("test-master-key"),
        api: ApiConfig::default(),
        config_path: None,
        background: Default::default(),
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let served = tokio::spawn(switchboard::server::serve_until(
        state,
        listener,
        async move {
            let _ = stopped.await;
        },
        std::time::Duration::from_secs(config.server.shutdown_grace_secs),
    ));
    Server {
        base,
        http: reqwest::Client::new(),
        db,
        pg_database,
        stop: Some(stop),
        served: Some(served),
        _dir: dir,
    }
}

/// Sends a request to the server at `base`; the body is JSON, or the raw
/// text as a JSON string when it is not.
async fn send_to(
    http: &reqwest::Client,
    base: &str,
    method: reqwest::Method,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut req = http.request(method, format!("{base}{path}"));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status();
    let text = resp.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

impl Server {
    /// Shuts the server down gracefully, as SIGTERM does, and waits until
    /// it has finished.
    async fn shut_down(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(served) = self.served.take() {
            served.await.unwrap().unwrap();
        }
    }

    async fn finish(self) {
        if let Some(name) = self.pg_database {
            self.db.pool().close().await;
            common::drop_pg(&name).await;
        }
    }

    fn token(&self, user: &str, tenant: i64, role: &str, perms: &[&str]) -> String {
        token_with(SECRET, user, tenant, role, perms, now_secs() + 3600)
    }

    fn agent(&self, user: &str, tenant: i64) -> String {
        self.token(
            user,
            tenant,
            "support_agent",
            &[
                "billing_read",
                "customer_read",
                "network_read",
                "customer_write",
                "billing_write",
            ],
        )
    }

    async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        send_to(&self.http, &self.base, method, path, token, body).await
    }

    /// Starts a POST on a task of its own, for a request that must be in
    /// flight while the test goes on.
    fn spawn_post(
        &self,
        path: &str,
        token: &str,
        body: Value,
    ) -> tokio::task::JoinHandle<(StatusCode, Value)> {
        let (http, base, path, token) = (
            self.http.clone(),
            self.base.clone(),
            path.to_owned(),
            token.to_owned(),
        );
        tokio::spawn(async move {
            send_to(
                &http,
                &base,
                reqwest::Method::POST,
                &path,
                Some(&token),
                Some(body),
            )
            .await
        })
    }

    async fn post(&self, path: &str, token: &str, body: Value) -> (StatusCode, Value) {
        self.send(reqwest::Method::POST, path, Some(token), Some(body))
            .await
    }

    async fn get(&self, path: &str, token: &str) -> (StatusCode, Value) {
        self.send(reqwest::Method::GET, path, Some(token), None)
            .await
    }

    async fn ask(&self, token: &str, text: &str) -> (StatusCode, Value) {
        self.post("/api/v1/chatbot/query", token, json!({ "text": text }))
            .await
    }
}

fn token_with(
    secret: &str,
    user: &str,
    tenant: i64,
    role: &str,
    perms: &[&str],
    exp: u64,
) -> String {
    Authenticator::hs256(secret)
        .sign(&Claims {
            sub: user.into(),
            tenant_id: tenant,
            role: role.into(),
            permissions: perms.iter().map(|p| (*p).to_owned()).collect(),
            exp,
        })
        .unwrap()
}

fn code(body: &Value) -> &str {
    body["error"]["code"].as_str().unwrap_or_default()
}

async fn seed_example(s: &Server) {
    let token = s.token(
        "42",
        1,
        "support_agent",
        &["billing_read", "customer_read", "network_read"],
    );
    let (status, body) = s
        .post(
            "/api/v1/chatbot/query",
            &token,
            json!({
                "text": "Show me billing information for customer ABC123",
                "context": { "previous_queries": [], "user_context": { "role": "admin" } },
                "user_id": "42",
                "tenant_id": 1,
            }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["structured_data"]["customer_id"], "ABC123");
    assert_eq!(
        body["structured_data"]["invoices"][0],
        json!({ "invoice_id": "INV-2025-001", "amount": 99.99, "status": "paid", "date": "2025-02-01" })
    );
    assert!(body["query_id"].as_str().is_some_and(|q| !q.is_empty()));
    assert!(body["processing_time"].as_f64().is_some_and(|t| t >= 0.0));
    let confidence = body["confidence"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&confidence));
    assert!(
        body["suggested_actions"].as_array().is_some_and(|a| a
            .iter()
            .all(|x| x["action"].is_string()
                && x["parameters"].is_object()
                && x["description"].is_string()))
    );
    assert!(body["response_text"].as_str().unwrap().contains("ABC123"));
    // Tenant 2's ABC123 is someone else.
    let (_, other) = s
        .ask(
            &s.agent("7", 2),
            "Show me billing information for customer ABC123",
        )
        .await;
    assert_ne!(
        other["structured_data"]["invoices"][0]["amount"],
        json!(99.99)
    );
}

async fn errors(s: &Server) {
    let agent = s.agent("42", 1);
    let (st, b) = s
        .send(
            reqwest::Method::POST,
            "/api/v1/chatbot/query",
            None,
            Some(json!({ "text": "hi" })),
        )
        .await;
    assert_eq!((st, code(&b)), (StatusCode::UNAUTHORIZED, "unauthorized"));
    let forged = token_with(
        "another-secret-entirely-here",
        "42",
        1,
        "admin",
        &["billing_read"],
        now_secs() + 60,
    );
    assert_eq!(s.ask(&forged, "hi").await.0, StatusCode::UNAUTHORIZED);
    let expired = token_with(
        SECRET,
        "42",
        1,
        "admin",
        &["billing_read"],
        now_secs() - 3600,
    );
    let (st, b) = s.ask(&expired, "hi").await;
    assert_eq!(st, StatusCode::UNAUTHORIZED);
    assert!(b["error"]["message"].as_str().unwrap().contains("expired"));

    let resp = s
        .http
        .post(format!("{}/api/v1/chatbot/query", s.base))
        .bearer_auth(&agent)
        .header("content-type", "application/json")
        .body("{\"text\": ")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let b: Value = serde_json::from_str(&resp.text().await.unwrap()).unwrap();
    assert_eq!(code(&b), "malformed_json");

    let resp = s
        .http
        .post(format!("{}/api/v1/chatbot/query", s.base))
        .bearer_auth(&agent)
        .body("text=hi")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);

    let (st, b) = s
        .post("/api/v1/chatbot/query", &agent, json!({ "context": {} }))
        .await;
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        b["error"]["message"].as_str().unwrap().contains("text"),
        "{b}"
    );
    let (st, b) = s
        .post("/api/v1/chatbot/query", &agent, json!({ "text": 42 }))
        .await;
    assert_eq!(
        (st, code(&b)),
        (StatusCode::UNPROCESSABLE_ENTITY, "invalid_field")
    );
    let (st, b) = s.ask(&agent, "   ").await;
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{b}");
    let (st, b) = s.ask(&agent, &"a".repeat(501)).await;
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        b["error"]["message"].as_str().unwrap().contains("500"),
        "{b}"
    );
    let resp = s
        .http
        .post(format!("{}/api/v1/chatbot/query", s.base))
        .bearer_auth(&agent)
        .json(&json!({ "text": "x".repeat(100_000) }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::PAYLOAD_TOO_LARGE);

    let (st, _) = s
        .post(
            "/api/v1/chatbot/query",
            &agent,
            json!({ "text": "hi", "user_id": "43" }),
        )
        .await;
    assert_eq!(st, StatusCode::FORBIDDEN);
    let (st, _) = s
        .post(
            "/api/v1/chatbot/query",
            &agent,
            json!({ "text": "hi", "tenant_id": 2 }),
        )
        .await;
    assert_eq!(st, StatusCode::FORBIDDEN);

    // Missing permission: 403 naming it, and the query is still recorded.
    let network_only = s.token("55", 1, "support_agent", &["network_read"]);
    let (st, b) = s.ask(&network_only, "outstanding balance for KLM204").await;
    assert_eq!(st, StatusCode::FORBIDDEN);
    assert!(
        b["error"]["message"]
            .as_str()
            .unwrap()
            .contains("billing_read"),
        "{b}"
    );
    let (_, h) = s.get("/api/v1/chatbot/history", &network_only).await;
    assert_eq!(h["total"], 1, "a refused query is recorded");

    let (st, b) = s.get("/api/v1/nowhere", &agent).await;
    assert_eq!((st, code(&b)), (StatusCode::NOT_FOUND, "not_found"));
    let (st, b) = s
        .send(
            reqwest::Method::DELETE,
            "/api/v1/chatbot/query",
            Some(&agent),
            None,
        )
        .await;
    assert_eq!(
        (st, code(&b)),
        (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed")
    );
}

async fn history_and_pagination(s: &Server) {
    let me = s.agent("h1", 1);
    for text in [
        "any outages in the north?",
        "network health",
        "top 5 customers",
    ] {
        assert_eq!(s.ask(&me, text).await.0, StatusCode::OK);
    }
    let (st, b) = s
        .get("/api/v1/chatbot/history?page=1&page_size=2", &me)
        .await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(b["total"], 3);
    let q = b["queries"].as_array().unwrap();
    assert_eq!(q.len(), 2);
    assert_eq!(q[0]["text"], "top 5 customers", "newest first");
    let (_, b) = s
        .get("/api/v1/chatbot/history?page=2&page_size=2", &me)
        .await;
    assert_eq!(b["queries"].as_array().unwrap().len(), 1);
    assert_eq!(b["queries"][0]["text"], "any outages in the north?");
    let (_, b) = s
        .get("/api/v1/chatbot/history?page=3&page_size=2", &me)
        .await;
    assert_eq!(b["queries"], json!([]));
    let (_, b) = s.get("/api/v1/chatbot/history?page_size=1000", &me).await;
    assert_eq!(b["page_size"], 100, "capped");
    assert_eq!(
        s.get("/api/v1/chatbot/history?page=0", &me).await.0,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    assert_eq!(
        s.get("/api/v1/chatbot/history?page_size=abc", &me).await.0,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    assert_eq!(
        s.get("/api/v1/chatbot/history?page=-1", &me).await.0,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    // Other users, and the same user id in another tenant, see none of it.
    let (_, b) = s.get("/api/v1/chatbot/history", &s.agent("h2", 1)).await;
    assert_eq!(b["total"], 0);
    let (_, b) = s.get("/api/v1/chatbot/history", &s.agent("h1", 2)).await;
    assert_eq!(b["total"], 0);
}

async fn feedback(s: &Server) {
    let me = s.agent("f1", 1);
    let (_, answer) = s.ask(&me, "what plan is ABC123 on").await;
    let id = answer["query_id"].as_str().unwrap().to_owned();
    let (st, b) = s
        .post(
            "/api/v1/chatbot/feedback",
            &me,
            json!({ "query_id": id, "rating": 5, "comments": "great" }),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{b}");
    assert_eq!(b["status"], "received");
    assert!(b["feedback_id"].is_string() && b["timestamp"].is_string());
    let (st, b) = s
        .post(
            "/api/v1/chatbot/feedback",
            &me,
            json!({ "query_id": id, "rating": 4 }),
        )
        .await;
    assert_eq!((st, code(&b)), (StatusCode::CONFLICT, "conflict"));
    let (_, h) = s.get("/api/v1/chatbot/history", &me).await;
    assert_eq!(h["queries"][0]["rating"], 5);
    // Another tenant cannot see or rate it.
    let (st, _) = s
        .post(
            "/api/v1/chatbot/feedback",
            &s.agent("f1", 2),
            json!({ "query_id": id, "rating": 1 }),
        )
        .await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    let (st, _) = s
        .post(
            "/api/v1/chatbot/feedback",
            &me,
            json!({ "query_id": "nope", "rating": 3 }),
        )
        .await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    let (st, b) = s
        .post(
            "/api/v1/chatbot/feedback",
            &me,
            json!({ "query_id": id, "rating": 6 }),
        )
        .await;
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(b["error"]["message"].as_str().unwrap().contains("rating"));
}

async fn actions(s: &Server) {
    let me = s.agent("a1", 1);
    let (st, b) = s.ask(&me, "open a ticket for KLM204: no internet").await;
    assert_eq!(st, StatusCode::OK, "{b}");
    assert_eq!(b["intent"], "crm.create_ticket");
    let id = b["pending_action"]["action_id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(b["pending_action"]["status"], "pending");
    let confirm = format!("/api/v1/chatbot/actions/{id}/confirm");

    let (st, _) = s.post(&confirm, &s.agent("a1", 2), json!({})).await;
    assert_eq!(st, StatusCode::NOT_FOUND, "another tenant never sees it");
    let reader = s.token("a2", 1, "support_agent", &["customer_read"]);
    let (st, b) = s.post(&confirm, &reader, json!({})).await;
    assert_eq!(st, StatusCode::FORBIDDEN);
    assert!(
        b["error"]["message"]
            .as_str()
            .unwrap()
            .contains("customer_write")
    );

    let (st, b) = s.post(&confirm, &me, json!({})).await;
    assert_eq!(st, StatusCode::OK, "{b}");
    assert_eq!(b["status"], "executed");
    let ticket = b["structured_data"]["ticket_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (st, _) = s.post(&confirm, &me, json!({})).await;
    assert_eq!(st, StatusCode::CONFLICT, "executed once");
    let (st, _) = s
        .post(
            &format!("/api/v1/chatbot/actions/{id}/cancel"),
            &me,
            json!({}),
        )
        .await;
    assert_eq!(st, StatusCode::CONFLICT);
    let (_, tickets) = s.ask(&me, "open tickets for KLM204").await;
    assert!(
        tickets["structured_data"]["tickets"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["ticket_id"] == ticket.as_str())
    );

    let (_, b) = s.ask(&me, "generate an invoice for ZTR991").await;
    let id = b["pending_action"]["action_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (st, b) = s
        .post(
            &format!("/api/v1/chatbot/actions/{id}/cancel"),
            &me,
            json!({}),
        )
        .await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(b["status"], "cancelled");
    let (st, _) = s
        .post(
            &format!("/api/v1/chatbot/actions/{id}/confirm"),
            &me,
            json!({}),
        )
        .await;
    assert_eq!(st, StatusCode::CONFLICT);
    let (st, _) = s
        .post("/api/v1/chatbot/actions/unknown/confirm", &me, json!({}))
        .await;
    assert_eq!(st, StatusCode::NOT_FOUND);

    // An engine that died mid-change leaves its action `executing`; the
    // sweeper marks it `interrupted` once it is older than any call can
    // run, and leaves a live one alone.
    let mut ids = Vec::new();
    for text in [
        "open a ticket for KLM204: router keeps rebooting",
        "open a ticket for ZTR991: slow evenings",
    ] {
        let (_, b) = s.ask(&me, text).await;
        let id = b["pending_action"]["action_id"]
            .as_str()
            .unwrap()
            .to_owned();
        assert!(
            records::transition_action(
                &s.db,
                switchboard::TenantId::new(1),
                &id,
                "pending",
                "executing",
                None
            )
            .await
            .unwrap()
        );
        ids.push(id);
    }
    sqlx::query(
        "UPDATE chatbot_actions SET updated_at = '2000-01-01T00:00:00.000Z' WHERE action_id = $1",
    )
    .bind(&ids[0])
    .execute(s.db.pool())
    .await
    .unwrap();
    let cutoff = records::text_before(records::STUCK_AFTER);
    assert_eq!(
        records::interrupt_stuck_actions(&s.db, &cutoff)
            .await
            .unwrap(),
        1
    );
    for (id, status) in ids.iter().zip(["interrupted", "executing"]) {
        let (st, b) = s
            .post(
                &format!("/api/v1/chatbot/actions/{id}/confirm"),
                &me,
                json!({}),
            )
            .await;
        assert_eq!(st, StatusCode::CONFLICT, "{b}");
        let message = b["error"]["message"].as_str().unwrap();
        assert!(
            message.ends_with(&format!("is already {status}")),
            "{message}"
        );
    }
    assert_eq!(
        records::interrupt_stuck_actions(&s.db, &cutoff)
            .await
            .unwrap(),
        0
    );
}

async fn config_endpoints(s: &Server) {
    let admin = s.token("root", 1, "admin", &[]);
    let agent = s.agent("x", 1);
    assert_eq!(
        s.get("/api/v1/chatbot/config", &agent).await.0,
        StatusCode::FORBIDDEN
    );
    let (st, first) = s
        .post("/api/v1/chatbot/config", &admin, json!({ "name": "ollama", "service_url": "http://127.0.0.1:11434", "api_key": "sk-secret-9876" }))
        .await;
    assert_eq!(st, StatusCode::CREATED, "{first}");
    assert_eq!(first["is_default"], true, "the first is the default");
    assert_eq!(first["api_key_last4"], "9876");
    assert!(
        !first.to_string().contains("sk-secret"),
        "keys are never returned"
    );
    let (st, _) = s
        .post(
            "/api/v1/chatbot/config",
            &admin,
            json!({ "name": "ollama", "service_url": "http://x.example" }),
        )
        .await;
    assert_eq!(st, StatusCode::CONFLICT);
    let (st, b) = s
        .post(
            "/api/v1/chatbot/config",
            &admin,
            json!({ "name": "bad", "service_url": "ftp://x" }),
        )
        .await;
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        b["error"]["message"]
            .as_str()
            .unwrap()
            .contains("service_url")
    );
    let (st, second) = s
        .post("/api/v1/chatbot/config", &admin, json!({ "name": "vllm", "service_url": "https://vllm.example/v1", "is_default": true, "parameters": { "model": "m" } }))
        .await;
    assert_eq!(st, StatusCode::CREATED);
    let (_, list) = s.get("/api/v1/chatbot/config", &admin).await;
    let defaults: Vec<&Value> = list["configs"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["is_default"] == true)
        .collect();
    assert_eq!(defaults.len(), 1, "exactly one default");
    assert_eq!(defaults[0]["name"], "vllm");

    let first_id = first["config_id"].as_str().unwrap();
    let second_id = second["config_id"].as_str().unwrap();
    let (st, b) = s
        .send(reqwest::Method::PUT, &format!("/api/v1/chatbot/config/{second_id}"), Some(&admin), Some(json!({ "name": "vllm", "service_url": "https://vllm.example/v1", "is_default": false })))
        .await;
    assert_eq!(st, StatusCode::CONFLICT, "the only default stays: {b}");

    // Another tenant's admin sees nothing and can change nothing.
    let other = s.token("root", 2, "admin", &[]);
    let (_, list2) = s.get("/api/v1/chatbot/config", &other).await;
    assert_eq!(list2["configs"], json!([]));
    let (st, _) = s
        .send(
            reqwest::Method::DELETE,
            &format!("/api/v1/chatbot/config/{first_id}"),
            Some(&other),
            None,
        )
        .await;
    assert_eq!(st, StatusCode::NOT_FOUND);

    let (st, _) = s
        .send(
            reqwest::Method::DELETE,
            &format!("/api/v1/chatbot/config/{second_id}"),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(st, StatusCode::NO_CONTENT);
    let (_, list) = s.get("/api/v1/chatbot/config", &admin).await;
    assert_eq!(
        list["configs"][0]["is_default"], true,
        "the remaining one became the default"
    );

    // The key is sealed at rest.
    let sealed =
        switchboard::store::configs::sealed_key(&s.db, switchboard::TenantId::new(1), first_id)
            .await
            .unwrap()
            .unwrap();
    assert!(!sealed.contains("sk-secret"));
    assert_eq!(
        Sealer::new("test-master-key").open(&sealed).unwrap(),
        "sk-secret-9876"
    );
}

async fn conversations_and_docs(s: &Server) {
    let me = s.agent("c1", 1);
    let (st, _) = s
        .post(
            "/api/v1/chatbot/query",
            &me,
            json!({ "text": "How much does KLM204 owe?", "conversation_id": "conv-1" }),
        )
        .await;
    assert_eq!(st, StatusCode::OK);
    let (_, b) = s
        .post(
            "/api/v1/chatbot/query",
            &me,
            json!({ "text": "what plan are they on?", "conversation_id": "conv-1" }),
        )
        .await;
    assert_eq!(b["intent"], "crm.customer_plan");
    assert_eq!(
        b["structured_data"]["customer_id"], "KLM204",
        "history comes from the server"
    );
    assert_eq!(b["conversation_id"], "conv-1");

    let (st, spec) = s.get("/openapi.json", &me).await;
    assert_eq!(st, StatusCode::OK);
    for path in [
        "/api/v1/chatbot/query",
        "/api/v1/chatbot/feedback",
        "/api/v1/chatbot/history",
        "/api/v1/chatbot/actions/{id}/confirm",
        "/api/v1/chatbot/config/{config_id}",
    ] {
        assert!(spec["paths"][path].is_object(), "{path} documented");
    }
    assert!(spec["components"]["securitySchemes"]["bearer"].is_object());
    for page in ["/docs/", "/redoc"] {
        let r = s
            .http
            .get(format!("{}{page}", s.base))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{page}");
    }
}

async fn analytics(s: &Server) {
    let path = "/api/v1/chatbot/analytics";
    let a1 = s.agent("an1", 1);
    let a2 = s.agent("an2", 1);
    let (_, plan) = s.ask(&a1, "what plan is ABC123 on").await;
    s.ask(&a1, "what plan is KLM204 on").await;
    s.ask(&a2, "show invoices for ABC123").await;
    let (_, weather) = s.ask(&a2, "will it rain this weekend").await;
    // Tenant 2 asks too; tenant 1's analytics must not count it.
    s.ask(&s.agent("other", 2), "what plan is ABC123 on").await;
    let plan_id = plan["query_id"].as_str().unwrap();
    let (st, b) = s
        .post(
            "/api/v1/chatbot/feedback",
            &a1,
            json!({ "query_id": plan_id, "rating": 2, "comments": "wrong plan" }),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{b}");

    // Agents may not read analytics; analysts and admins may.
    let (st, b) = s.get(path, &a1).await;
    assert_eq!(st, StatusCode::FORBIDDEN, "{b}");
    let analyst = s.token("boss", 1, "analyst", &[]);
    let (st, b) = s.get(path, &analyst).await;
    assert_eq!(st, StatusCode::OK, "{b}");
    assert_eq!(b["total_queries"], 4, "{b}");
    let minutes: i64 = b["queries_per_minute"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["queries"].as_i64().unwrap())
        .sum();
    assert_eq!(minutes, 4);
    let by_intent = b["by_intent"].as_array().unwrap();
    assert_eq!(by_intent[0]["intent"], "crm.customer_plan", "{b}");
    assert_eq!(by_intent[0]["queries"], 2);
    assert_eq!(by_intent[0]["ratings"], 1);
    assert_eq!(by_intent[0]["average_rating"], 2.0);
    assert!(by_intent.iter().any(|i| i["intent"] == "none"));
    let users: Vec<(&str, i64)> = b["by_user"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| {
            (
                u["user_id"].as_str().unwrap(),
                u["queries"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(users, vec![("an1", 2), ("an2", 2)]);
    let out_of_scope = b["by_status"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["status"] == "out_of_scope")
        .unwrap();
    assert_eq!(out_of_scope["queries"], 1);
    assert_eq!(out_of_scope["rate"], 0.25);
    // Sorted by confidence, the out-of-scope question among them.
    let confidences: Vec<f64> = b["lowest_confidence"]
        .as_array()
        .unwrap()
        .iter()
        .map(|q| q["confidence"].as_f64().unwrap())
        .collect();
    assert_eq!(confidences.len(), 4);
    assert!(
        confidences.windows(2).all(|w| w[0] <= w[1]),
        "{confidences:?}"
    );
    assert!(
        b["lowest_confidence"]
            .as_array()
            .unwrap()
            .iter()
            .any(|q| q["query_id"] == weather["query_id"])
    );
    let rated = b["lowest_rated"].as_array().unwrap();
    assert_eq!(rated.len(), 1);
    assert_eq!(rated[0]["query_id"], plan_id);
    assert_eq!(rated[0]["comments"], "wrong plan");

    // The window and limit are honoured and checked.
    let admin = s.token("root", 1, "admin", &[]);
    let (st, b) = s.get(&format!("{path}?limit=1"), &admin).await;
    assert_eq!(st, StatusCode::OK, "{b}");
    assert_eq!(b["lowest_confidence"].as_array().unwrap().len(), 1);
    let (st, b) = s
        .get(
            &format!("{path}?from=2020-01-01T00:00:00Z&to=2020-01-02T00:00:00Z"),
            &admin,
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{b}");
    assert_eq!(b["total_queries"], 0);
    for bad in [
        "from=yesterday",
        "to=2020-13-01T00:00:00Z",
        "from=2020-01-02T00:00:00Z&to=2020-01-01T00:00:00Z",
        "from=2020-01-01T00:00:00Z&to=2020-06-01T00:00:00Z",
        "limit=0",
        "limit=101",
    ] {
        let (st, b) = s.get(&format!("{path}?{bad}"), &admin).await;
        assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{bad}: {b}");
    }
    // Tenant 2's admin sees only tenant 2.
    let (st, b) = s.get(path, &s.token("root2", 2, "admin", &[])).await;
    assert_eq!(st, StatusCode::OK, "{b}");
    assert_eq!(b["total_queries"], 1);
}

/// What Schemathesis (`scripts/schemathesis.sh`) found: the OpenAPI
/// document and the server must agree on what is valid.
async fn documented_limits(s: &Server) {
    let agent = s.agent("d1", 1);
    let admin = s.token("root", 1, "admin", &[]);

    // The document: query parameters are in the query, optional and
    // bounded; limits are stated; every JSON body documents 400/413/415.
    let (_, spec) = s.get("/openapi.json", &agent).await;
    let params = &spec["paths"]["/api/v1/chatbot/history"]["get"]["parameters"];
    for p in params.as_array().unwrap() {
        assert_eq!(p["in"], "query", "{p}");
        assert_eq!(p["required"], false, "{p}");
        assert_eq!(p["schema"]["minimum"], 1, "{p}");
    }
    let limit = &spec["paths"]["/api/v1/chatbot/analytics"]["get"]["parameters"][2];
    assert_eq!(
        (&limit["name"], &limit["in"], &limit["schema"]["maximum"]),
        (&json!("limit"), &json!("query"), &json!(100))
    );
    let schemas = &spec["components"]["schemas"];
    assert_eq!(
        schemas["QueryRequest"]["properties"]["text"]["maxLength"], 500,
        "the configured limit"
    );
    assert_eq!(
        schemas["FeedbackRequest"]["properties"]["rating"]["maximum"],
        5
    );
    for (path, method) in [
        ("/api/v1/chatbot/query", "post"),
        ("/api/v1/chatbot/feedback", "post"),
        ("/api/v1/chatbot/config", "post"),
        ("/api/v1/chatbot/config/{config_id}", "put"),
        ("/api/v1/chatbot/config/{config_id}/rotate-key", "post"),
    ] {
        let responses = &spec["paths"][path][method]["responses"];
        for status in ["400", "413", "415", "422"] {
            assert!(responses[status].is_object(), "{method} {path} {status}");
        }
    }

    // Text: the limits apply to the text as sent.
    let (st, b) = s.ask(&agent, "network health\u{b}").await;
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{b}");
    let (st, b) = s.ask(&agent, &format!("{} ", "a".repeat(500))).await;
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{b}");
    // Up to 200 characters of conversation id, however many bytes.
    let (st, b) = s
        .post(
            "/api/v1/chatbot/query",
            &agent,
            json!({ "text": "network health", "conversation_id": "é".repeat(200) }),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{b}");

    // An integer may be written `4.0`, as JSON Schema allows; not `4.5`.
    let (st, b) = s
        .post(
            "/api/v1/chatbot/query",
            &agent,
            json!({ "text": "network health", "tenant_id": 1.0 }),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{b}");
    let (_, answer) = s.ask(&agent, "network health").await;
    let id = answer["query_id"].as_str().unwrap();
    let (st, b) = s
        .post(
            "/api/v1/chatbot/feedback",
            &agent,
            json!({ "query_id": id, "rating": 4.5 }),
        )
        .await;
    assert_eq!(
        (st, code(&b)),
        (StatusCode::UNPROCESSABLE_ENTITY, "invalid_field"),
        "{b}"
    );
    let (st, b) = s
        .post(
            "/api/v1/chatbot/feedback",
            &agent,
            json!({ "query_id": id, "rating": 4.0 }),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{b}");

    // Configurations: names and keys without control characters, URLs
    // without blanks, limits counted in characters.
    let path = "/api/v1/chatbot/config";
    for bad in [
        json!({ "name": "a\u{0}b", "service_url": "http://x.example" }),
        json!({ "name": format!(" {} ", "n".repeat(100)), "service_url": "http://x.example" }),
        json!({ "name": "spaces", "service_url": "http://x.example/a b" }),
        json!({ "name": "tabs", "service_url": "http://x.\texample" }),
        json!({ "name": "key", "service_url": "http://x.example", "api_key": "sk-1\n" }),
    ] {
        let (st, b) = s.post(path, &admin, bad.clone()).await;
        assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{bad}: {b}");
    }
    let (st, created) = s
        .post(
            path,
            &admin,
            json!({ "name": "wide", "service_url": "http://x.example", "api_key": "é".repeat(3000) }),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{created}");
    let id = created["config_id"].as_str().unwrap();
    let (st, b) = s
        .post(
            &format!("{path}/{id}/rotate-key"),
            &admin,
            json!({ "api_key": "sk-new-1234", "grace_period_secs": 60.0 }),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{b}");
    let (st, b) = s
        .post(
            &format!("{path}/{id}/rotate-key"),
            &admin,
            json!({ "api_key": "sk-\u{7f}-1234" }),
        )
        .await;
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{b}");

    // Analytics times are RFC 3339 as sent, without surrounding blanks.
    let (st, b) = s
        .get(
            "/api/v1/chatbot/analytics?from=%202020-01-01T00:00:00Z&to=2020-01-02T00:00:00Z",
            &admin,
        )
        .await;
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{b}");
}

macro_rules! on_both {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            use super::*;
            $(#[tokio::test] async fn $name() { let s = start(Backend::Sqlite).await; super::$name(&s).await; s.finish().await; })*
        }
        mod postgres {
            use super::*;
            $(#[tokio::test] async fn $name() { let s = start(Backend::Postgres).await; super::$name(&s).await; s.finish().await; })*
        }
    };
}

on_both!(
    seed_example,
    errors,
    history_and_pagination,
    feedback,
    actions,
    config_endpoints,
    conversations_and_docs,
    analytics,
    documented_limits
);

/// A server on SQLite with the core plugins and the hostile one, granted
/// `grants` (a TOML list) and cut off after `deadline_ms`.
async fn hostile_server(grants: &str, deadline_ms: u64) -> Server {
    hostile_server_with(grants, deadline_ms, "").await
}

/// As [`hostile_server`], with `plugins` (TOML keys) added to `[plugins]`.
async fn hostile_server_with(grants: &str, deadline_ms: u64, plugins: &str) -> Server {
    let (config, db, dir) = hostile_setup(grants, deadline_ms, plugins).await;
    serve(&config, db, dir, None).await
}

/// The configuration, seeded database and folder of [`hostile_server_with`],
/// for a test that changes the configuration before serving.
async fn hostile_setup(grants: &str, deadline_ms: u64, plugins: &str) -> (Config, Db, TempDir) {
    let dir = TempDir::new().unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("h.db").display());
    let db = Db::open(&url, 4).await.unwrap();
    switchboard::demo::seed(&db, false).await.unwrap();
    let config = common::config(
        dir.path(),
        &format!(
            r#"
[plugins]
cache_dir = "{{cache}}"
{plugins}
[plugins.breaker]
failure_threshold = 100
[[plugin]]
name = "hostile"
path = "{{wasm:hostile}}"
grants = {grants}
limits = {{ deadline_ms = {deadline_ms} }}
"#
        ),
    );
    (config, db, dir)
}

/// A plugin that fails gets 502, one that runs past its deadline 504; the
/// failed query is still recorded, and the server keeps answering.
#[tokio::test]
async fn plugin_failures_are_502_and_504() {
    let s = hostile_server(r#"["hostile.customers"]"#, 100).await;
    let token = s.token("9", 1, "support_agent", &["hostile_read", "network_read"]);

    let (st, b) = s.ask(&token, "hostile infinite_loop").await;
    assert_eq!(
        (st, code(&b)),
        (StatusCode::GATEWAY_TIMEOUT, "plugin_timeout"),
        "{b}"
    );
    let (st, b) = s.ask(&token, "hostile panic").await;
    assert_eq!(
        (st, code(&b)),
        (StatusCode::BAD_GATEWAY, "plugin_failed"),
        "{b}"
    );
    assert!(
        !b.to_string().contains("panicked"),
        "no stack trace or panic text: {b}"
    );
    let (st, _) = s.ask(&token, "any outages in the north?").await;
    assert_eq!(st, StatusCode::OK, "the engine keeps serving");
    let (_, h) = s.get("/api/v1/chatbot/history", &token).await;
    assert_eq!(h["total"], 3, "failed queries are recorded too");
}

/// A client that hangs up mid-confirm does not leave the action
/// `executing`: the change runs to its end (here, the plugin's deadline)
/// and its outcome is recorded.
#[tokio::test]
async fn a_confirmed_action_is_settled_even_if_the_client_hangs_up() {
    let s = hostile_server(r#"["hostile.customers", "hostile.rename"]"#, 300).await;
    let token = s.token("9", 1, "support_agent", &["hostile_read", "hostile_write"]);
    let id = propose_stall(&s, &token).await;
    confirm_and_hang_up(&s, &token, &id).await;
    let mut status = String::from("executing");
    for _ in 0..200 {
        status = action_status(&s, &id).await;
        if status != "executing" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    assert_eq!(
        status, "failed",
        "the timed-out change is recorded as failed"
    );
}

/// Asks for the hostile `stall` action and returns its pending action's id.
async fn propose_stall(s: &Server, token: &str) -> String {
    let (st, b) = s.ask(token, "hostile stall").await;
    assert_eq!(
        (st, &b["intent"]),
        (StatusCode::OK, &json!("hostile.stall")),
        "{b}"
    );
    b["pending_action"]["action_id"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// Confirms action `id` and gives up waiting after 150 ms, as a client
/// that hangs up mid-call.
async fn confirm_and_hang_up(s: &Server, token: &str, id: &str) {
    let hung_up = s
        .http
        .post(format!("{}/api/v1/chatbot/actions/{id}/confirm", s.base))
        .bearer_auth(token)
        .json(&json!({}))
        .timeout(std::time::Duration::from_millis(150))
        .send()
        .await;
    assert!(
        hung_up.is_err_and(|e| e.is_timeout()),
        "the client gave up first"
    );
}

/// The status of action `id`, read from the database.
async fn action_status(s: &Server, id: &str) -> String {
    sqlx::query_scalar("SELECT status FROM chatbot_actions WHERE action_id = $1")
        .bind(id)
        .fetch_one(s.db.pool())
        .await
        .unwrap()
}

/// A graceful shutdown waits for a confirmed action whose client has
/// already hung up: when the server has stopped, the outcome is recorded
/// and nothing is left `executing`.
#[tokio::test]
async fn a_shutdown_waits_for_confirmed_actions_to_be_settled() {
    let mut s = hostile_server(r#"["hostile.customers", "hostile.rename"]"#, 600).await;
    let token = s.token("9", 1, "support_agent", &["hostile_read", "hostile_write"]);
    let id = propose_stall(&s, &token).await;
    confirm_and_hang_up(&s, &token, &id).await;
    assert_eq!(action_status(&s, &id).await, "executing");
    // No connection is left open, so the HTTP server stops at once; the
    // shutdown must still wait for the change to end (at its deadline).
    s.shut_down().await;
    assert_eq!(
        action_status(&s, &id).await,
        "failed",
        "the timed-out change is recorded before the server is done"
    );
}

/// `server.shutdown_grace_secs` bounds that wait: with 0 the server is done
/// while the change is still executing (a later sweep settles it).
#[tokio::test]
async fn a_shutdown_waits_no_longer_than_its_grace() {
    let (mut config, db, dir) =
        hostile_setup(r#"["hostile.customers", "hostile.rename"]"#, 600, "").await;
    config.server.shutdown_grace_secs = 0;
    let mut s = serve(&config, db, dir, None).await;
    let token = s.token("9", 1, "support_agent", &["hostile_read", "hostile_write"]);
    let id = propose_stall(&s, &token).await;
    confirm_and_hang_up(&s, &token, &id).await;
    s.shut_down().await;
    assert_eq!(
        action_status(&s, &id).await,
        "executing",
        "the server did not wait for the change"
    );
}

/// The outcome of a change that outlived the stuck-action sweep replaces
/// `interrupted`: the sweep only guessed, the outcome is known.
#[tokio::test]
async fn a_late_outcome_replaces_interrupted() {
    let s = hostile_server(r#"["hostile.customers", "hostile.rename"]"#, 600).await;
    let token = s.token("9", 1, "support_agent", &["hostile_read", "hostile_write"]);
    let id = propose_stall(&s, &token).await;
    let confirm = s.spawn_post(
        &format!("/api/v1/chatbot/actions/{id}/confirm"),
        &token,
        json!({}),
    );
    let mut status = action_status(&s, &id).await;
    for _ in 0..100 {
        if status == "executing" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        status = action_status(&s, &id).await;
    }
    assert_eq!(status, "executing");
    // A sweep whose cutoff is later than the claim (as if the call had
    // run for longer than `STUCK_AFTER`).
    let swept = records::interrupt_stuck_actions(&s.db, "9999-12-31T23:59:59.999Z")
        .await
        .unwrap();
    assert_eq!(swept, 1);
    assert_eq!(action_status(&s, &id).await, "interrupted");
    let (st, b) = confirm.await.unwrap();
    assert_eq!(
        (st, code(&b)),
        (StatusCode::GATEWAY_TIMEOUT, "plugin_timeout"),
        "{b}"
    );
    assert_eq!(action_status(&s, &id).await, "failed");
    let result: String =
        sqlx::query_scalar("SELECT result FROM chatbot_actions WHERE action_id = $1")
            .bind(&id)
            .fetch_one(s.db.pool())
            .await
            .unwrap();
    assert!(!result.contains("interrupted"), "{result}");
}

/// With every plugin slot held past `queue_timeout_ms`, a query gets a
/// clear 503 `plugin_busy` with `Retry-After` (and is recorded), a confirm
/// gets the same and its action stays pending; once the slot is free,
/// both work again.
#[tokio::test]
async fn calls_that_find_every_plugin_slot_busy_get_503() {
    let s = hostile_server_with(
        r#"["hostile.customers", "hostile.rename"]"#,
        500,
        "max_concurrent_calls = 1\nqueue_timeout_ms = 50",
    )
    .await;
    let token = s.token(
        "9",
        1,
        "support_agent",
        &["hostile_read", "hostile_write", "network_read"],
    );
    let id = propose_stall(&s, &token).await;
    // Holds the only slot until its deadline.
    let busy = s.spawn_post(
        "/api/v1/chatbot/query",
        &token,
        json!({ "text": "hostile infinite_loop" }),
    );
    tokio::time::sleep(std::time::Duration::from_millis(150)).await;

    let r = s
        .http
        .post(format!("{}/api/v1/chatbot/query", s.base))
        .bearer_auth(&token)
        .json(&json!({ "text": "any outages in the north?" }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(r.headers()["retry-after"], "1");
    let b: Value = r.json().await.unwrap();
    assert_eq!(code(&b), "plugin_busy", "{b}");

    let (st, b) = s
        .post(
            &format!("/api/v1/chatbot/actions/{id}/confirm"),
            &token,
            json!({}),
        )
        .await;
    assert_eq!(
        (st, code(&b)),
        (StatusCode::SERVICE_UNAVAILABLE, "plugin_busy"),
        "{b}"
    );
    assert_eq!(action_status(&s, &id).await, "pending", "still confirmable");

    assert_eq!(busy.await.unwrap().0, StatusCode::GATEWAY_TIMEOUT);
    let (st, b) = s.ask(&token, "any outages in the north?").await;
    assert_eq!(st, StatusCode::OK, "{b}");
    let (_, h) = s.get("/api/v1/chatbot/history", &token).await;
    assert_eq!(
        h["total"], 4,
        "the stall proposal, the loop, the refused and the answered query are recorded"
    );
    let (st, b) = s
        .post(
            &format!("/api/v1/chatbot/actions/{id}/cancel"),
            &token,
            json!({}),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "the action was still pending: {b}");
}

/// Metrics in Prometheus text, and a request id on every response.
#[tokio::test]
async fn metrics_and_request_ids() {
    let s = start(Backend::Sqlite).await;
    let me = s.agent("m1", 1);
    let r = s
        .http
        .post(format!("{}/api/v1/chatbot/query", s.base))
        .bearer_auth(&me)
        .header("x-request-id", "req-123")
        .json(&json!({ "text": "any outages in the north?" }))
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.headers()["x-request-id"],
        "req-123",
        "an incoming id is kept"
    );
    let r = s
        .http
        .get(format!("{}/healthz", s.base))
        .send()
        .await
        .unwrap();
    assert!(
        r.headers()
            .get("x-request-id")
            .is_some_and(|v| !v.is_empty()),
        "one is made otherwise"
    );
    let text = s
        .http
        .get(format!("{}/metrics", s.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for name in [
        "switchboard_http_requests_total",
        "switchboard_query_duration_seconds",
        "switchboard_plugin_call_duration_seconds",
        "switchboard_query_confidence",
    ] {
        assert!(text.contains(name), "{name} missing from /metrics");
    }
    let (st, b) = s
        .post(
            "/api/v1/chatbot/query",
            &me,
            json!({ "text": "outages\u{0} in the north" }),
        )
        .await;
    assert_eq!(
        (st, code(&b)),
        (StatusCode::UNPROCESSABLE_ENTITY, "invalid_field"),
        "control characters refused"
    );
    s.finish().await;
}
