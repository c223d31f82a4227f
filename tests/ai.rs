//! External AI services, end to end through the REST API, against a real
//! stand-in AI server (axum on an ephemeral port) that records what it
//! receives and verifies signatures with the engine's own verifier. The
//! engine, plugins and database are the real ones (SQLite; the key
//! rotation test also on PostgreSQL); the cache tests use the in-process
//! cache and Redis at 127.0.0.1:6379.

#[path = "common/mod.rs"]
mod common;

use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode as AxStatus, Uri};
use reqwest::StatusCode;
use serde_json::{Value, json};
use switchboard::ai::AiServices;
use switchboard::ai::signing::{self, KEY_ID_HEADER, Verifier, VerifierKey, VerifyError};
use switchboard::api::{AppState, router};
use switchboard::auth::{Authenticator, Claims, now_secs};
use switchboard::config::{AiConfig, ApiConfig, Config};
use switchboard::plugins::PluginHost;
use switchboard::query::{QueryEngine, QuerySettings};
use switchboard::secrets::Sealer;
use switchboard::store::Db;
use tempfile::TempDir;

const SECRET: &str = "test-secret-of-sufficient-length";
const MASTER: &str = "ai-test-master-key";

// ---------------------------------------------------------------- stand-in

/// What the stand-in answers.
#[derive(Clone, Debug)]
enum Reply {
    Json(u16, Value),
    Raw(u16, String),
    /// Waits this many milliseconds, then answers `none`.
    Slow(u64),
    /// A chunked body (no content length) of this many bytes.
    Chunked(usize),
}

/// One request the stand-in received.
#[derive(Clone, Debug)]
struct Received {
    method: String,
    path: String,
    headers: HeaderMap,
    body: Bytes,
    verified: Option<Result<(), VerifyError>>,
}

impl Received {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }

    /// Everything that left the engine, as text.
    fn everything(&self) -> String {
        let mut all = format!("{} {}\n", self.method, self.path);
        // The signing headers are hashes and random hex (checked by the
        // verifier); everything else is scanned.
        for (k, v) in self
            .headers
            .iter()
            .filter(|(k, _)| !k.as_str().starts_with("x-switchboard-"))
        {
            all.push_str(&format!("{k}: {}\n", v.to_str().unwrap_or("")));
        }
        all.push_str(&String::from_utf8_lossy(&self.body));
        all
    }
}

#[derive(Default)]
struct StandInState {
    received: Mutex<Vec<Received>>,
    reply: Mutex<Option<Reply>>,
    verifier: Mutex<Option<Arc<Verifier>>>,
}

struct StandIn {
    url: String,
    state: Arc<StandInState>,
}

impl StandIn {
    async fn start() -> Self {
        let state = Arc::new(StandInState::default());
        let app = axum::Router::new()
            .fallback(handle)
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self { url, state }
    }

    fn reply(&self, reply: Reply) {
        *self.state.reply.lock().unwrap() = Some(reply);
    }

    fn verify_with(&self, keys: &[&str]) {
        let keys = keys
            .iter()
            .map(|k| VerifierKey {
                secret: (*k).to_owned(),
                not_after: None,
            })
            .collect();
        *self.state.verifier.lock().unwrap() = Some(Arc::new(Verifier::new(keys)));
    }

    fn received(&self) -> Vec<Received> {
        self.state.received.lock().unwrap().clone()
    }

    fn count(&self) -> usize {
        self.state.received.lock().unwrap().len()
    }
}

async fn handle(
    axum::extract::State(state): axum::extract::State<Arc<StandInState>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let path = uri
        .path_and_query()
        .map_or_else(|| uri.path().to_owned(), |p| p.as_str().to_owned());
    let verifier = state.verifier.lock().unwrap().clone();
    let verified =
        verifier.map(|v| v.verify(method.as_str(), &path, &headers, &body, signing::unix_now()));
    state.received.lock().unwrap().push(Received {
        method: method.to_string(),
        path,
        headers,
        body,
        verified: verified.clone(),
    });
    let json_type = [(axum::http::header::CONTENT_TYPE, "application/json")];
    if let Some(Err(e)) = verified {
        return (
            AxStatus::UNAUTHORIZED,
            json_type,
            json!({ "error": e.to_string() }).to_string(),
        )
            .into_response();
    }
    let reply = state.reply.lock().unwrap().clone();
    if let Some(Reply::Chunked(total)) = reply {
        let chunks = (0..total.div_ceil(8192))
            .map(|_| Ok::<_, std::convert::Infallible>(Bytes::from(vec![b' '; 8192])));
        let body = axum::body::Body::from_stream(futures_util::stream::iter(chunks));
        return (AxStatus::OK, json_type, body).into_response();
    }
    let reply: (AxStatus, _, String) = match reply {
        Some(Reply::Json(status, v)) => (
            AxStatus::from_u16(status).unwrap(),
            json_type,
            v.to_string(),
        ),
        Some(Reply::Raw(status, text)) => (AxStatus::from_u16(status).unwrap(), json_type, text),
        Some(Reply::Slow(ms)) => {
            tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
            (
                AxStatus::OK,
                json_type,
                json!({ "intent": "none", "confidence": 1.0 }).to_string(),
            )
        }
        Some(Reply::Chunked(_)) | None => (AxStatus::SERVICE_UNAVAILABLE, json_type, "{}".into()),
    };
    reply.into_response()
}

// ------------------------------------------------------------------ engine

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
    _dir: Option<Arc<TempDir>>,
}

/// An AI configuration for tests: fast retries, no cache unless asked;
/// tenants' configurations may point at the stand-in on the loopback.
fn ai_config(service_url: Option<&str>) -> AiConfig {
    let mut ai = AiConfig {
        service_url: service_url.map(str::to_owned),
        api_key: Some("sk-global-test-key-0001".into()),
        retry_base_ms: 1,
        allowed_hosts: vec!["127.0.0.1".into()],
        ..AiConfig::default()
    };
    ai.cache.enabled = false;
    ai.breaker.failure_threshold = 100;
    ai
}

async fn open_db(backend: Backend, dir: &TempDir) -> (Db, Option<String>) {
    let (url, pg_database) = match backend {
        Backend::Sqlite => (
            format!("sqlite://{}?mode=rwc", dir.path().join("ai.db").display()),
            None,
        ),
        Backend::Postgres => {
            let (url, name) = common::fresh_pg("sb_ai").await;
            (url, Some(name))
        }
    };
    let db = Db::open(&url, 4).await.unwrap();
    switchboard::demo::seed(&db, false).await.unwrap();
    (db, pg_database)
}

async fn serve(db: Db, ai: &AiConfig) -> String {
    let mut config = Config::default();
    config.plugins.cache_dir = Some(common::cache_dir());
    let plugins = PluginHost::start(&config, Some(db.clone())).await.unwrap();
    let sealer = Sealer::new(MASTER);
    let services = AiServices::new(ai, Some(db.clone()), sealer.clone()).unwrap();
    let engine = QueryEngine::new(plugins, QuerySettings::default())
        .unwrap()
        .with_ai(Arc::new(services));
    let state = Arc::new(AppState {
        engine,
        db,
        auth: Authenticator::hs256(SECRET),
        sealer,
        api: ApiConfig::default(),
        config_path: None,
        background: Default::default(),
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router(state)).await });
    base
}

async fn start_with(backend: Backend, ai: AiConfig) -> Server {
    let dir = TempDir::new().unwrap();
    let (db, pg_database) = open_db(backend, &dir).await;
    let base = serve(db.clone(), &ai).await;
    Server {
        base,
        http: reqwest::Client::new(),
        db,
        pg_database,
        _dir: Some(Arc::new(dir)),
    }
}

async fn start(ai: AiConfig) -> Server {
    start_with(Backend::Sqlite, ai).await
}

fn token(user: &str, tenant: i64, role: &str) -> String {
    let claims = Claims {
        sub: user.into(),
        tenant_id: tenant,
        role: role.into(),
        permissions: [
            "billing_read",
            "customer_read",
            "network_read",
            "customer_write",
            "billing_write",
        ]
        .iter()
        .map(|p| (*p).to_owned())
        .collect(),
        exp: now_secs() + 3600,
    };
    Authenticator::hs256(SECRET).sign(&claims).unwrap()
}

impl Server {
    async fn finish(self) {
        if let Some(name) = self.pg_database {
            self.db.pool().close().await;
            common::drop_pg(&name).await;
        }
    }

    async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        token: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut r = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(token);
        if let Some(b) = body {
            r = r.json(&b);
        }
        let r = r.send().await.unwrap();
        let status = r.status();
        let text = r.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    async fn post(&self, path: &str, token: &str, body: Value) -> (StatusCode, Value) {
        self.send(reqwest::Method::POST, path, token, Some(body))
            .await
    }

    async fn ask_as(&self, tenant: i64, body: Value) -> Value {
        let (st, b) = self
            .post(
                "/api/v1/chatbot/query",
                &token("agent", tenant, "support_agent"),
                body,
            )
            .await;
        assert_eq!(st, StatusCode::OK, "{b}");
        b
    }

    async fn ask(&self, text: &str) -> Value {
        self.ask_as(1, json!({ "text": text })).await
    }

    async fn metrics(&self) -> String {
        self.http
            .get(format!("{}/metrics", self.base))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }
}

fn answer(intent: &str, entities: Value, confidence: f64) -> Reply {
    Reply::Json(
        200,
        json!({ "intent": intent, "entities": entities, "confidence": confidence }),
    )
}

// ------------------------------------------------------------------- tests

/// No PII leaves the engine; the reply's placeholders come back as the real
/// values; the request is signed, the signature verifies, and a replay of
/// the very same request is refused.
#[tokio::test]
async fn pii_is_masked_signatures_verify_and_replays_are_refused() {
    let ai = StandIn::start().await;
    ai.verify_with(&["sk-global-test-key-0001"]);
    ai.reply(answer(
        "crm.find_customer",
        json!({ "email": "<EMAIL_1>" }),
        0.95,
    ));
    let s = start(ai_config(Some(&format!("{}/interpret", ai.url)))).await;
    let pii = [
        "john.smith@example.com",
        "+44 20 7946 0958",
        "4111 1111 1111 1111",
        "GB82 WEST 1234 5698 7654 32",
        "10.20.30.40",
    ];
    let text = format!(
        "find the customer with email {} (phone {}, card {}, iban {}, from {})",
        pii[0], pii[1], pii[2], pii[3], pii[4]
    );
    // The caller's id (the JWT `sub`) is often an email: it never leaves.
    let user = "agent.smith@corp.example";
    let (st, b) = s
        .post(
            "/api/v1/chatbot/query",
            &token(user, 1, "support_agent"),
            json!({ "text": text, "context": { "previous_queries": [{ "text": "who is mary.jones@example.org?" }] } }),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{b}");
    assert_eq!(b["interpreter"], "http:global", "{b}");
    assert_eq!(b["intent"], "crm.find_customer", "{b}");
    assert_eq!(
        b["entities"]["email"], "john.smith@example.com",
        "the placeholder is mapped back: {b}"
    );
    assert!(b.get("fallback_reason").is_none(), "{b}");

    let got = ai.received();
    assert_eq!(got.len(), 1);
    let r = &got[0];
    let everything = r.everything();
    for secret in pii.iter().chain(&[
        "mary.jones",
        "7946",
        "4111",
        "WEST",
        "10.20.30",
        "agent.smith",
        "corp.example",
    ]) {
        assert!(
            !everything.contains(secret),
            "{secret} left the engine: {everything}"
        );
    }
    let body = r.json();
    assert_eq!(r.path, "/interpret");
    assert!(
        body["query"].as_str().unwrap().contains("<EMAIL_1>"),
        "{body}"
    );
    for p in ["<PHONE_1>", "<CARD_1>", "<IBAN_1>", "<IP_1>"] {
        assert!(body["query"].as_str().unwrap().contains(p), "{p}: {body}");
    }
    assert_eq!(body["context"]["previous_queries"][0], "who is <EMAIL_2>?");
    assert_eq!(body["tenant_id"], 1);
    let pseudonym = body["user_id"].as_str().unwrap();
    assert!(
        pseudonym.len() == 64 && pseudonym.chars().all(|c| c.is_ascii_hexdigit()),
        "a pseudonym, not the user id: {pseudonym}"
    );
    // The same user gets the same pseudonym; another user another one.
    s.ask_as(1, json!({ "text": "any outages in the north?" }))
        .await;
    let again = ai.received();
    assert_ne!(
        again[1].json()["user_id"],
        pseudonym,
        "agent is not agent.smith"
    );
    for r in &again {
        assert!(!r.everything().contains(user), "{}", r.everything());
    }
    assert_eq!(r.verified, Some(Ok(())), "the signature verifies");
    assert_eq!(
        r.headers[KEY_ID_HEADER].to_str().unwrap(),
        signing::key_id("sk-global-test-key-0001")
    );

    // Replay the exact request: refused.
    let mut replay = reqwest::Client::new().post(format!("{}/interpret", ai.url));
    for (k, v) in &r.headers {
        if k != "host" && k != "content-length" {
            replay = replay.header(k, v);
        }
    }
    let st = replay.body(r.body.clone()).send().await.unwrap().status();
    assert_eq!(st, StatusCode::UNAUTHORIZED);
    assert_eq!(
        ai.received().last().unwrap().verified,
        Some(Err(VerifyError::Replayed))
    );
    // A tampered body with the same headers: refused too.
    let mut tampered = reqwest::Client::new().post(format!("{}/interpret", ai.url));
    for (k, v) in &r.headers {
        if k != "host" && k != "content-length" && k != signing::NONCE_HEADER {
            tampered = tampered.header(k, v);
        }
    }
    let st = tampered
        .header(signing::NONCE_HEADER, "ffffffffffffffffffffffffffffffff")
        .body(r.body.iter().rev().copied().collect::<Vec<u8>>())
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(st, StatusCode::UNAUTHORIZED);
    s.finish().await;
}

/// 503 is retried (3 retries: 4 attempts), 400 is not; both end with the
/// embedded NLU answering and saying why. Retries are in the metrics.
#[tokio::test]
async fn retries_on_503_and_none_on_400() {
    let ai = StandIn::start().await;
    let s = start(ai_config(Some(&ai.url))).await;
    ai.reply(Reply::Json(503, json!({ "error": "busy" })));
    let b = s.ask("any outages in the north?").await;
    assert_eq!(ai.count(), 4, "one attempt and three retries");
    assert_eq!(b["interpreter"], "embedded", "{b}");
    assert_eq!(
        b["intent"], "monitoring.outages",
        "the embedded NLU answered: {b}"
    );
    assert!(
        b["fallback_reason"]
            .as_str()
            .unwrap()
            .starts_with("server_error"),
        "{b}"
    );

    ai.reply(Reply::Json(400, json!({ "error": "bad request" })));
    let b = s.ask("any outages in the south?").await;
    assert_eq!(ai.count(), 5, "a 400 is never retried");
    assert!(
        b["fallback_reason"]
            .as_str()
            .unwrap()
            .starts_with("client_error"),
        "{b}"
    );

    ai.reply(Reply::Json(429, json!({ "error": "slow down" })));
    s.ask("any outages in the east?").await;
    assert_eq!(ai.count(), 9, "429 is retried like 503");

    let m = s.metrics().await;
    assert!(
        m.contains("switchboard_ai_retries_total{service=\"global\",kind=\"server_error\"}"),
        "{m}"
    );
    assert!(m.contains("switchboard_ai_request_duration_seconds"), "{m}");
    assert!(m.contains("switchboard_ai_errors_total"), "{m}");
    s.finish().await;
}

/// An attempt that runs past the timeout is abandoned and retried; in the
/// end the embedded NLU answers.
#[tokio::test]
async fn a_slow_service_times_out_and_is_retried() {
    let ai = StandIn::start().await;
    let mut cfg = ai_config(Some(&ai.url));
    cfg.timeout_secs = 1;
    cfg.max_retries = 1;
    let s = start(cfg).await;
    ai.reply(Reply::Slow(5_000));
    let b = s.ask("any outages in the north?").await;
    assert_eq!(b["interpreter"], "embedded", "{b}");
    assert_eq!(b["intent"], "monitoring.outages");
    assert!(
        b["fallback_reason"]
            .as_str()
            .unwrap()
            .starts_with("timeout"),
        "{b}"
    );
    assert_eq!(ai.count(), 2, "the timed-out attempt was retried once");
    s.finish().await;
}

/// After `failure_threshold` failed queries the breaker opens: the service
/// is not called any more and the embedded NLU answers, saying so.
#[tokio::test]
async fn the_breaker_opens_and_the_embedded_nlu_answers() {
    let ai = StandIn::start().await;
    let mut cfg = ai_config(None);
    cfg.max_retries = 0;
    cfg.breaker.failure_threshold = 2;
    cfg.breaker.cooldown_secs = 3600;
    let s = start(cfg).await;
    let (st, _) = s
        .post(
            "/api/v1/chatbot/config",
            &token("root", 1, "admin"),
            json!({ "name": "breaker-test", "service_url": ai.url }),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED);
    ai.reply(Reply::Json(500, json!({})));
    for _ in 0..2 {
        let b = s.ask("show me billing for customer ABC123").await;
        assert_eq!(b["interpreter"], "embedded");
        assert!(
            b["fallback_reason"]
                .as_str()
                .unwrap()
                .starts_with("server_error")
        );
    }
    assert_eq!(ai.count(), 2);
    ai.reply(answer(
        "billing.balance",
        json!({ "customer": "ABC123" }),
        0.9,
    ));
    let b = s.ask("show me billing for customer ABC123").await;
    assert_eq!(ai.count(), 2, "an open breaker sends nothing");
    assert_eq!(b["interpreter"], "embedded");
    assert_eq!(b["intent"], "billing.customer_invoices", "{b}");
    assert_eq!(b["entities"]["customer"], "ABC123");
    assert!(
        b["fallback_reason"]
            .as_str()
            .unwrap()
            .starts_with("circuit_open"),
        "{b}"
    );
    assert!(
        s.metrics()
            .await
            .contains("switchboard_ai_breaker_open{service=\"breaker-test\"} 1"),
        "breaker state in the metrics"
    );
    s.finish().await;
}

/// Unknown intents, huge bodies, wrong types and garbage are refused
/// cleanly (the embedded NLU answers); an entity the intent does not take,
/// or that is not what it claims to be, is dropped, never dispatched.
#[tokio::test]
async fn malformed_and_hostile_replies_are_refused() {
    let ai = StandIn::start().await;
    let mut cfg = ai_config(Some(&ai.url));
    cfg.max_response_bytes = 16 * 1024;
    let s = start(cfg).await;
    let cases = [
        (
            answer("admin.drop_tables", json!({}), 0.99),
            "invalid_reply",
        ),
        (answer("none; DROP TABLE", json!({}), 0.99), "invalid_reply"),
        (
            Reply::Raw(
                200,
                format!(
                    "{{\"intent\":\"billing.balance\",\"pad\":\"{}\"}}",
                    "x".repeat(100_000)
                ),
            ),
            "too_large",
        ),
        (Reply::Chunked(200_000), "too_large"),
        (
            Reply::Json(200, json!({ "intent": 5, "confidence": 0.9 })),
            "invalid_reply",
        ),
        (
            Reply::Json(
                200,
                json!({ "intent": "billing.balance", "confidence": "high" }),
            ),
            "invalid_reply",
        ),
        (
            Reply::Json(200, json!({ "intent": "billing.balance", "confidence": 7 })),
            "invalid_reply",
        ),
        (
            Reply::Json(
                200,
                json!({ "intent": "billing.balance", "entities": ["ABC123"], "confidence": 0.9 }),
            ),
            "invalid_reply",
        ),
        (
            Reply::Json(200, json!({ "intent": "billing.balance" })),
            "invalid_reply",
        ),
        (
            Reply::Json(200, json!(["billing.balance"])),
            "invalid_reply",
        ),
        (
            Reply::Raw(200, "<html>not json</html>".into()),
            "invalid_reply",
        ),
    ];
    for (reply, reason) in cases {
        ai.reply(reply.clone());
        let b = s.ask("what does ABC123 owe?").await;
        assert_eq!(b["interpreter"], "embedded", "{reply:?}: {b}");
        assert_eq!(
            b["intent"], "billing.balance",
            "the embedded NLU answered: {b}"
        );
        let why = b["fallback_reason"].as_str().unwrap_or_default();
        assert!(why.starts_with(reason), "{reply:?}: {why}");
        assert!(why.len() < 400, "no huge echo: {why}");
    }

    // Accepted, with the bad entities dropped.
    ai.reply(answer(
        "billing.balance",
        json!({ "customer": "abc-123", "sql": "DROP TABLE customers", "region": { "x": 1 }, "period": ["x"] }),
        0.9,
    ));
    let b = s.ask("what does ABC123 owe?").await;
    assert_eq!(b["interpreter"], "http:global", "{b}");
    assert_eq!(
        b["entities"],
        json!({ "customer": "ABC123" }),
        "canonical, nothing else: {b}"
    );
    assert!(
        b["response_text"].as_str().unwrap().contains("John Smith"),
        "{b}"
    );

    // A value that is not an account code is dropped: the engine asks.
    ai.reply(answer(
        "billing.balance",
        json!({ "customer": "'; DELETE FROM invoices; --" }),
        0.9,
    ));
    let b = s.ask("what does ABC123 owe?").await;
    assert_eq!(b["interpreter"], "http:global");
    assert_eq!(b["entities"], json!({}), "{b}");
    assert!(
        b["response_text"].as_str().unwrap().contains("I need"),
        "{b}"
    );
    s.finish().await;
}

/// An OpenAI-compatible exchange: intents offered as tools with their
/// entities as JSON-schema parameters, the tool call becomes intent and
/// (canonical) entities; a reply without a tool call falls back; a server
/// that ignores `tool_choice` and writes the call as text still works.
#[tokio::test]
async fn openai_tool_calling_end_to_end() {
    let ai = StandIn::start().await;
    ai.verify_with(&["sk-openai-test-key-42"]);
    let s = start(ai_config(None)).await;
    let admin = token("root", 1, "admin");
    let (st, b) = s
        .post(
            "/api/v1/chatbot/config",
            &admin,
            json!({ "name": "local", "service_url": ai.url, "api_key": "sk-openai-test-key-42",
                    "parameters": { "backend": "openai", "model": "tiny-model" } }),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{b}");

    ai.reply(Reply::Json(
        200,
        json!({ "id": "c1", "object": "chat.completion", "choices": [{ "index": 0, "finish_reason": "tool_calls",
            "message": { "role": "assistant", "content": null, "tool_calls": [{ "id": "call_1", "type": "function",
                "function": { "name": "billing_balance", "arguments": "{\"customer\": \"abc-123\"}" } }] } }] }),
    ));
    let b = s
        .ask("how much does the customer with mail john.smith@example.com owe, account abc-123?")
        .await;
    assert_eq!(b["interpreter"], "openai:local", "{b}");
    assert_eq!(b["intent"], "billing.balance");
    assert_eq!(b["entities"]["customer"], "ABC123", "canonicalised: {b}");
    assert!(
        b["response_text"].as_str().unwrap().contains("John Smith"),
        "{b}"
    );

    let got = ai.received();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].path, "/v1/chat/completions");
    assert_eq!(got[0].verified, Some(Ok(())));
    assert!(!got[0].everything().contains("john.smith"), "masked");
    let req = got[0].json();
    assert_eq!(req["model"], "tiny-model");
    assert_eq!(req["tool_choice"], "required");
    let tools = req["tools"].as_array().unwrap();
    let find = |name: &str| {
        tools
            .iter()
            .find(|t| t["function"]["name"] == name)
            .unwrap_or_else(|| panic!("no tool {name}"))
            .clone()
    };
    let balance = find("billing_balance");
    assert_eq!(balance["type"], "function");
    assert_eq!(balance["function"]["parameters"]["type"], "object");
    assert!(balance["function"]["parameters"]["properties"]["customer"].is_object());
    assert!(balance["function"]["parameters"]["properties"]["customer_name"].is_object());
    let invoice = find("billing_invoice_details");
    assert_eq!(
        invoice["function"]["parameters"]["required"],
        json!(["invoice"])
    );
    let top = find("crm_top_customers");
    assert_eq!(
        top["function"]["parameters"]["properties"]["limit"]["type"],
        "integer"
    );
    find("none");
    assert_eq!(tools.len(), 20, "19 catalogue intents and none");
    let user = req["messages"][1]["content"].as_str().unwrap();
    assert!(user.contains("<EMAIL_1>"), "{user}");

    // No tool call: the server answered in prose.
    ai.reply(Reply::Json(
        200,
        json!({ "choices": [{ "message": { "role": "assistant", "content": "I think it is about billing." } }] }),
    ));
    let b = s.ask("any outages in the north?").await;
    assert_eq!(b["interpreter"], "embedded");
    assert_eq!(b["intent"], "monitoring.outages");
    assert_eq!(b["fallback_reason"], "invalid_reply", "{b}");

    // Malformed arguments and unknown tools.
    for call in [
        json!({ "name": "billing_balance", "arguments": "{not json" }),
        json!({ "name": "shell_exec", "arguments": "{}" }),
        json!({ "name": 42, "arguments": "{}" }),
    ] {
        ai.reply(Reply::Json(
            200,
            json!({ "choices": [{ "message": { "tool_calls": [{ "type": "function", "function": call }] } }] }),
        ));
        let b = s.ask("any outages in the north?").await;
        assert_eq!(b["interpreter"], "embedded", "{call}: {b}");
        assert!(
            b["fallback_reason"]
                .as_str()
                .unwrap()
                .starts_with("invalid_reply")
        );
    }

    // A server that ignores tool_choice and writes the call as text.
    ai.reply(Reply::Json(
        200,
        json!({ "choices": [{ "message": { "role": "assistant",
            "content": "{\"name\": \"monitoring_outages\", \"arguments\": {\"region\": \"Northern\"}}" } }] }),
    ));
    let b = s.ask("is the northern network down?").await;
    assert_eq!(b["interpreter"], "openai:local", "{b}");
    assert_eq!(b["intent"], "monitoring.outages");
    assert_eq!(b["entities"]["region"], "north", "{b}");

    // The request may name the embedded NLU, or a service that is not there.
    let b = s
        .ask_as(
            1,
            json!({ "text": "any outages in the north?", "ai_service": "embedded" }),
        )
        .await;
    assert_eq!(b["interpreter"], "embedded");
    assert!(b.get("fallback_reason").is_none());
    let (st, b) = s
        .post(
            "/api/v1/chatbot/query",
            &token("agent", 1, "support_agent"),
            json!({ "text": "any outages?", "ai_service": "nope" }),
        )
        .await;
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{b}");
    assert!(
        b["error"]["message"]
            .as_str()
            .unwrap()
            .contains("ai_service")
    );
    // Another tenant does not see this tenant's service.
    let (st, _) = s
        .post(
            "/api/v1/chatbot/query",
            &token("agent", 2, "support_agent"),
            json!({ "text": "any outages?", "ai_service": "local" }),
        )
        .await;
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY);
    s.finish().await;
}

/// Keys are sealed in the database and never returned; rotating keeps the
/// previous key in use for the grace period (the engine falls back to it
/// when the service refuses the new one), and not after.
async fn keys_are_encrypted_and_rotated(backend: Backend) {
    let ai = StandIn::start().await;
    let s = start_with(backend, ai_config(None)).await;
    let admin = token("root", 1, "admin");
    let (k1, k2, k3) = (
        "sk-first-secret-key-1111",
        "sk-second-secret-key-2222",
        "sk-third-secret-key-3333",
    );
    let (st, created) = s
        .post(
            "/api/v1/chatbot/config",
            &admin,
            json!({ "name": "primary", "service_url": ai.url, "api_key": k1 }),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{created}");
    let id = created["config_id"].as_str().unwrap().to_owned();
    assert!(!created.to_string().contains("first-secret"));
    assert_eq!(created["api_key_last4"], "1111");

    let stored: Option<String> =
        sqlx::query_scalar("SELECT api_key_encrypted FROM ai_service_configs WHERE config_id = $1")
            .bind(&id)
            .fetch_one(s.db.pool())
            .await
            .unwrap();
    let stored = stored.unwrap();
    assert!(!stored.contains("first-secret") && !stored.contains(&hex::encode(k1)));
    assert_eq!(
        Sealer::new(MASTER).open(&stored).unwrap(),
        k1,
        "AEAD under the master key"
    );
    assert!(Sealer::new("another-master").open(&stored).is_err());

    ai.verify_with(&[k1]);
    ai.reply(answer(
        "billing.balance",
        json!({ "customer": "ABC123" }),
        0.9,
    ));
    let b = s.ask("what does ABC123 owe?").await;
    assert_eq!(b["interpreter"], "http:primary", "{b}");
    assert_eq!(
        ai.received()[0].headers["authorization"],
        format!("Bearer {k1}")
    );

    // Rotate to k2; the service still only knows k1.
    let (st, rotated) = s
        .post(
            &format!("/api/v1/chatbot/config/{id}/rotate-key"),
            &admin,
            json!({ "api_key": k2, "grace_period_secs": 3600 }),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{rotated}");
    assert!(!rotated.to_string().contains("secret-key"), "{rotated}");
    assert_eq!(rotated["config"]["api_key_last4"], "2222");
    assert_eq!(rotated["previous_key_last4"], "1111");
    assert!(rotated["previous_key_valid_until"].is_string());
    let before = ai.count();
    let b = s.ask("what does KLM204 owe?").await;
    assert_eq!(
        b["interpreter"], "http:primary",
        "the previous key still works: {b}"
    );
    let tried: Vec<(String, bool)> = ai.received()[before..]
        .iter()
        .map(|r| {
            (
                r.headers[KEY_ID_HEADER].to_str().unwrap().to_owned(),
                r.verified == Some(Ok(())),
            )
        })
        .collect();
    assert_eq!(
        tried,
        vec![(signing::key_id(k2), false), (signing::key_id(k1), true)],
        "new key first, then the previous one"
    );

    // The service learns k2: used directly.
    ai.verify_with(&[k2]);
    let before = ai.count();
    let b = s.ask("what does ABC123 owe now?").await;
    assert_eq!(b["interpreter"], "http:primary", "{b}");
    assert_eq!(ai.count(), before + 1);

    // Rotate to k3 with no grace: k2 is retired at once.
    let (st, _) = s
        .post(
            &format!("/api/v1/chatbot/config/{id}/rotate-key"),
            &admin,
            json!({ "api_key": k3, "grace_period_secs": 0 }),
        )
        .await;
    assert_eq!(st, StatusCode::OK);
    let before = ai.count();
    let b = s.ask("what does KLM204 owe now?").await;
    assert_eq!(b["interpreter"], "embedded", "{b}");
    assert!(
        b["fallback_reason"]
            .as_str()
            .unwrap()
            .starts_with("client_error")
    );
    assert_eq!(
        ai.count(),
        before + 1,
        "only k3 was tried, once (401 is not retried)"
    );

    // Nothing returns a key; other roles and tenants cannot rotate.
    let (_, list) = s
        .send(reqwest::Method::GET, "/api/v1/chatbot/config", &admin, None)
        .await;
    assert!(!list.to_string().contains("secret-key"), "{list}");
    let (st, _) = s
        .post(
            &format!("/api/v1/chatbot/config/{id}/rotate-key"),
            &token("agent", 1, "support_agent"),
            json!({ "api_key": "sk-x-yyyyyyyyyyyy" }),
        )
        .await;
    assert_eq!(st, StatusCode::FORBIDDEN);
    let (st, _) = s
        .post(
            &format!("/api/v1/chatbot/config/{id}/rotate-key"),
            &token("root", 2, "admin"),
            json!({ "api_key": "sk-x-yyyyyyyyyyyy" }),
        )
        .await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    let (st, _) = s
        .post(
            "/api/v1/chatbot/config",
            &admin,
            json!({ "name": "leaky", "service_url": ai.url, "parameters": { "signing_secret": "x" } }),
        )
        .await;
    assert_eq!(
        st,
        StatusCode::UNPROCESSABLE_ENTITY,
        "secrets never go in parameters"
    );
    s.finish().await;
}

#[tokio::test]
async fn keys_are_encrypted_and_rotated_sqlite() {
    keys_are_encrypted_and_rotated(Backend::Sqlite).await;
}

#[tokio::test]
async fn keys_are_encrypted_and_rotated_postgres() {
    keys_are_encrypted_and_rotated(Backend::Postgres).await;
}

/// A repeated question is interpreted once (per tenant); the answer is
/// always fresh; two questions that differ only in PII share the cached
/// interpretation and each gets its own values back.
#[tokio::test]
async fn the_cache_hits_on_a_repeat_per_tenant_and_answers_stay_fresh() {
    let ai = StandIn::start().await;
    let mut cfg = ai_config(Some(&ai.url));
    cfg.cache.enabled = true;
    let s = start(cfg).await;
    ai.reply(answer(
        "crm.customer_profile",
        json!({ "customer": "ABC123" }),
        0.9,
    ));
    let b = s.ask("Who is ABC123?").await;
    assert_eq!(b["interpreter"], "http:global");
    assert!(
        b["response_text"].as_str().unwrap().contains("John Smith"),
        "{b}"
    );
    sqlx::query("UPDATE customers SET name = 'Johnny Smithers' WHERE tenant_id = 1 AND account_code = 'ABC123'")
        .execute(s.db.pool())
        .await
        .unwrap();
    let b = s.ask("who  is abc123?").await;
    assert_eq!(ai.count(), 1, "the repeat is a cache hit");
    assert_eq!(b["interpreter"], "http:global");
    assert!(
        b["response_text"]
            .as_str()
            .unwrap()
            .contains("Johnny Smithers"),
        "the answer is fresh: {b}"
    );
    let b = s.ask_as(2, json!({ "text": "Who is ABC123?" })).await;
    assert_eq!(ai.count(), 2, "another tenant has its own cache");
    assert_eq!(b["interpreter"], "http:global");

    ai.reply(answer(
        "crm.find_customer",
        json!({ "email": "<EMAIL_1>" }),
        0.9,
    ));
    let b = s
        .ask("find the customer with email john.smith@example.com")
        .await;
    assert_eq!(b["entities"]["email"], "john.smith@example.com");
    let b = s
        .ask("find the customer with email garcia@example.net")
        .await;
    assert_eq!(ai.count(), 3, "same masked text: a hit");
    assert_eq!(
        b["entities"]["email"], "garcia@example.net",
        "its own value back: {b}"
    );
    let b = s
        .ask_as(
            1,
            json!({ "text": "find the customer with email garcia@example.net", "context": { "previous_queries": [{ "text": "any outages?" }] } }),
        )
        .await;
    assert_eq!(ai.count(), 4, "the conversation is part of the key");
    assert_eq!(b["interpreter"], "http:global");
    let m = s.metrics().await;
    assert!(
        m.contains("switchboard_ai_cache_total{result=\"hit\"}"),
        "{m}"
    );
    assert!(
        m.contains("switchboard_ai_cache_total{result=\"miss\"}"),
        "{m}"
    );
    s.finish().await;
}

/// With Redis, two replicas share interpretations.
#[tokio::test]
async fn the_redis_cache_is_shared_by_replicas() {
    let ai = StandIn::start().await;
    let mut cfg = ai_config(None);
    cfg.cache.enabled = true;
    cfg.cache.redis_url = Some("redis://127.0.0.1:6379".into());
    let a = start(cfg.clone()).await;
    let b_base = serve(a.db.clone(), &cfg).await;
    let b = Server {
        base: b_base,
        http: reqwest::Client::new(),
        db: a.db.clone(),
        pg_database: None,
        _dir: None,
    };
    // A configuration of its own (a fresh id), so no earlier run's entry
    // can answer.
    let (st, _) = a
        .post(
            "/api/v1/chatbot/config",
            &token("root", 1, "admin"),
            json!({ "name": "shared", "service_url": ai.url }),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED);
    ai.reply(answer(
        "billing.balance",
        json!({ "customer": "KLM204" }),
        0.9,
    ));
    let first = a.ask("what does KLM204 owe?").await;
    assert_eq!(first["interpreter"], "http:shared", "{first}");
    let second = b.ask("what does KLM204 owe?").await;
    assert_eq!(second["interpreter"], "http:shared", "{second}");
    assert_eq!(ai.count(), 1, "the second replica used the shared cache");
    assert_eq!(second["entities"]["customer"], "KLM204");
    a.finish().await;
}

/// The service's error body never reaches API callers: the fallback
/// reason is the code and the status only (OpenAI's 401 echoes part of the
/// key it was sent).
#[tokio::test]
async fn the_services_error_body_is_not_echoed_to_callers() {
    let ai = StandIn::start().await;
    let mut cfg = ai_config(Some(&ai.url));
    cfg.max_retries = 0;
    let s = start(cfg).await;
    let leaky = "Incorrect API key provided: sk-live-abcdefgh1234wxyz. Bearer tok-987654";
    for (reply, reason) in [
        (
            Reply::Json(401, json!({ "error": { "message": leaky } })),
            "client_error (HTTP 401)",
        ),
        (
            Reply::Json(503, json!({ "error": { "message": leaky } })),
            "server_error (HTTP 503)",
        ),
        (
            Reply::Raw(200, format!("<html>{leaky}</html>")),
            "invalid_reply",
        ),
        (
            answer(&format!("unknown {leaky}"), json!({}), 0.9),
            "invalid_reply",
        ),
    ] {
        ai.reply(reply);
        let b = s.ask("any outages in the north?").await;
        assert_eq!(b["interpreter"], "embedded", "{b}");
        assert_eq!(b["fallback_reason"], reason, "{b}");
        let all = b.to_string();
        for secret in ["sk-live", "wxyz", "tok-987654", "Incorrect"] {
            assert!(!all.contains(secret), "{secret} reached the caller: {all}");
        }
    }
    s.finish().await;
}

/// With `ai.signing_secret`, requests are signed with it, not with the API
/// key the service also receives: a verifier that only knows the API key
/// refuses them.
#[tokio::test]
async fn a_dedicated_signing_secret_signs_requests() {
    let ai = StandIn::start().await;
    let signing_secret = "a-dedicated-signing-secret-0042";
    ai.verify_with(&[signing_secret]);
    ai.reply(answer(
        "billing.balance",
        json!({ "customer": "ABC123" }),
        0.9,
    ));
    let mut cfg = ai_config(Some(&format!("{}/interpret", ai.url)));
    cfg.signing_secret = Some(signing_secret.into());
    let s = start(cfg).await;
    let b = s.ask("what does ABC123 owe?").await;
    assert_eq!(b["interpreter"], "http:global", "{b}");
    let got = ai.received();
    let r = &got[0];
    assert_eq!(r.verified, Some(Ok(())), "signed with the signing secret");
    assert_eq!(
        r.headers[KEY_ID_HEADER].to_str().unwrap(),
        signing::key_id(signing_secret)
    );
    assert_eq!(
        r.headers["authorization"], "Bearer sk-global-test-key-0001",
        "the API key still authenticates"
    );
    // Whoever holds only the API key (which every request carries) cannot
    // produce or check these signatures.
    let api_key_only = Verifier::with_key("sk-global-test-key-0001");
    assert_eq!(
        api_key_only.verify("POST", &r.path, &r.headers, &r.body, signing::unix_now()),
        Err(VerifyError::UnknownKey)
    );
    s.finish().await;
}

/// A tenant's configuration cannot make the engine call internal
/// addresses: credentials in the URL and link-local (metadata) addresses
/// are always refused, loopback and private ones unless the host is in
/// `ai.allowed_hosts`. The operator's own service is always allowed.
#[tokio::test]
async fn tenant_service_urls_cannot_reach_internal_addresses() {
    let ai = StandIn::start().await;
    ai.reply(answer("monitoring.outages", json!({}), 0.9));
    let port = ai.url.rsplit(':').next().unwrap().to_owned();
    let mut cfg = ai_config(Some(&ai.url));
    // 169.254.169.254 listed: link-local is refused all the same.
    cfg.allowed_hosts = vec!["169.254.169.254".into(), "[::1]".into()];
    let s = start(cfg).await;
    // The operator's service on the loopback: allowed.
    let b = s.ask("any outages in the north?").await;
    assert_eq!(b["interpreter"], "http:global", "{b}");
    assert_eq!(ai.count(), 1);

    let admin = token("root", 1, "admin");
    let cases = [
        ("loopback", ai.url.clone()),
        ("localhost", format!("http://localhost:{port}/")),
        ("private", "http://10.0.0.7:8080/interpret".to_owned()),
        (
            "metadata",
            "http://169.254.169.254/latest/meta-data".to_owned(),
        ),
        ("mapped", "http://[::ffff:169.254.169.254]/".to_owned()),
        ("v6-link-local", "http://[fe80::1]:8080/".to_owned()),
        ("credentials", format!("http://user:pw@127.0.0.1:{port}/")),
    ];
    for (name, url) in &cases {
        let (st, created) = s
            .post(
                "/api/v1/chatbot/config",
                &admin,
                json!({ "name": name, "service_url": url }),
            )
            .await;
        assert_eq!(st, StatusCode::CREATED, "{name}: {created}");
        let b = s
            .ask_as(
                1,
                json!({ "text": "any outages in the north?", "ai_service": name }),
            )
            .await;
        assert_eq!(b["interpreter"], "embedded", "{name}: {b}");
        assert_eq!(
            b["fallback_reason"], "service_url_not_allowed",
            "{name}: {b}"
        );
    }
    assert_eq!(ai.count(), 1, "nothing was sent to a refused URL");
    s.finish().await;

    // With the loopback listed, a tenant's configuration may use it.
    let s = start(ai_config(None)).await;
    let (st, _) = s
        .post(
            "/api/v1/chatbot/config",
            &token("root", 1, "admin"),
            json!({ "name": "local", "service_url": ai.url }),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED);
    let b = s
        .ask_as(
            1,
            json!({ "text": "any outages in the north?", "ai_service": "local" }),
        )
        .await;
    assert_eq!(b["interpreter"], "http:local", "{b}");
    assert_eq!(ai.count(), 2);
    s.finish().await;
}

/// `ai.total_timeout_secs` bounds a whole interpretation, retries and
/// backoff included.
#[tokio::test]
async fn the_total_deadline_bounds_retries() {
    let ai = StandIn::start().await;
    let mut cfg = ai_config(Some(&ai.url));
    cfg.timeout_secs = 2;
    cfg.max_retries = 3;
    cfg.total_timeout_secs = 1;
    let s = start(cfg).await;
    ai.reply(Reply::Slow(5_000));
    let started = std::time::Instant::now();
    let b = s.ask("any outages in the north?").await;
    assert!(
        started.elapsed() < std::time::Duration::from_millis(1_900),
        "took {:?}",
        started.elapsed()
    );
    assert_eq!(b["interpreter"], "embedded", "{b}");
    assert_eq!(b["fallback_reason"], "timeout", "{b}");
    assert_eq!(ai.count(), 1, "no retry after the deadline");
    s.finish().await;
}

/// A 4xx or an invalid reply says nothing about the service's health: the
/// breaker does not open on them.
#[tokio::test]
async fn client_errors_and_invalid_replies_do_not_open_the_breaker() {
    let ai = StandIn::start().await;
    let mut cfg = ai_config(Some(&ai.url));
    cfg.max_retries = 0;
    cfg.breaker.failure_threshold = 2;
    cfg.breaker.cooldown_secs = 3600;
    let s = start(cfg).await;
    for reply in [
        Reply::Json(400, json!({ "error": "bad" })),
        Reply::Json(404, json!({ "error": "nope" })),
        answer("admin.drop_tables", json!({}), 0.9),
        Reply::Raw(200, "not json".into()),
    ] {
        ai.reply(reply);
        let b = s.ask("any outages in the north?").await;
        assert_eq!(b["interpreter"], "embedded", "{b}");
        assert_ne!(b["fallback_reason"], "circuit_open", "{b}");
    }
    ai.reply(answer(
        "billing.balance",
        json!({ "customer": "ABC123" }),
        0.9,
    ));
    let b = s.ask("what does ABC123 owe?").await;
    assert_eq!(
        b["interpreter"], "http:global",
        "the breaker stayed closed: {b}"
    );
    // 5xx still opens it.
    ai.reply(Reply::Json(500, json!({})));
    for _ in 0..2 {
        s.ask("any outages in the north?").await;
    }
    let b = s.ask("any outages in the north?").await;
    assert_eq!(b["fallback_reason"], "circuit_open", "{b}");
    s.finish().await;
}
