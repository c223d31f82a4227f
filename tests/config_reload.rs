//! The admin configuration: precise errors for invalid files and
//! variables, and reloads that swap the plugin set atomically or leave it
//! untouched (in-process and through SIGHUP on a running server).

#[path = "common/mod.rs"]
mod common;

use std::collections::HashMap;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use switchboard::config::{Config, ConfigError};
use switchboard::plugins::PluginHost;
use tempfile::TempDir;

fn parse_error(text: &str) -> String {
    let dir = TempDir::new().unwrap();
    let path = common::write_config(dir.path(), text);
    Config::load_with_env(Some(&path), |_| None)
        .unwrap_err()
        .to_string()
}

#[test]
fn an_empty_file_means_the_defaults() {
    let dir = TempDir::new().unwrap();
    let path = common::write_config(dir.path(), "");
    let config = Config::load_with_env(Some(&path), |_| None).unwrap();
    assert!(config.plugins.builtin);
    assert_eq!(config.plugins.limits.deadline_ms, 200);
    assert_eq!(config.plugins.limits.memory_mib, 32);
    assert_eq!(config.plugins.limits.max_output_bytes, 1 << 20);
    assert_eq!(config.database.url, "sqlite://switchboard.db?mode=rwc");
}

#[test]
fn unknown_keys_name_the_file_line_and_the_allowed_keys() {
    let err = parse_error("[plugins]\nbuiltin = true\ndeadline = 5\n");
    assert!(err.contains("switchboard.toml"), "{err}");
    assert!(err.contains("line 3"), "{err}");
    assert!(err.contains("unknown field `deadline`"), "{err}");
    assert!(
        err.contains("builtin") && err.contains("limits"),
        "lists what is allowed: {err}"
    );
}

#[test]
fn wrong_types_are_refused_with_the_key() {
    let err = parse_error("[plugins.limits]\ndeadline_ms = \"fast\"\n");
    assert!(
        err.contains("line 2") && err.contains("deadline_ms"),
        "{err}"
    );
}

#[test]
fn out_of_range_limits_name_the_key_and_the_allowed_range() {
    let err = parse_error("[plugins.limits]\ndeadline_ms = 0\n");
    assert!(err.contains("`plugins.limits.deadline_ms`"), "{err}");
    assert!(err.contains("allowed 1 to 60000"), "{err}");

    let err = parse_error("[[plugin]]\nname = \"billing\"\nlimits = { memory_mib = 100000 }\n");
    assert!(err.contains("`plugin[0].limits.memory_mib`"), "{err}");
}

#[test]
fn plugin_entries_are_checked() {
    let err = parse_error("[[plugin]]\nname = \"reports\"\n");
    assert!(
        err.contains("`plugin[0].path`") && err.contains("not a built-in plugin"),
        "{err}"
    );

    let err = parse_error("[[plugin]]\nname = \"reports\"\npath = \"nowhere.wasm\"\n");
    assert!(
        err.contains("no such file") && err.contains("nowhere.wasm"),
        "{err}"
    );

    let err = parse_error("[[plugin]]\nname = \"Bad Name\"\n");
    assert!(
        err.contains("`plugin[0].name`") && err.contains("not a valid plugin name"),
        "{err}"
    );

    let err = parse_error("[[plugin]]\nname = \"billing\"\n[[plugin]]\nname = \"billing\"\n");
    assert!(
        err.contains("`plugin[1].name`") && err.contains("listed twice"),
        "{err}"
    );

    let err = parse_error("[[plugin]]\nname = \"billing\"\nhttp_hosts = [\"https://x/y\"]\n");
    assert!(err.contains("http_hosts"), "{err}");
}

#[test]
fn unsupported_database_urls_are_refused() {
    let err = parse_error("[database]\nurl = \"mysql://localhost/x\"\n");
    assert!(
        err.contains("`database.url`") && err.contains("sqlite://"),
        "{err}"
    );
}

#[test]
fn environment_variables_override_the_file() {
    let dir = TempDir::new().unwrap();
    let path = common::write_config(dir.path(), "[plugins.limits]\ndeadline_ms = 100\n");
    let env: HashMap<&str, &str> = [
        ("CHATBOT_PLUGIN_DEADLINE_MS", "250"),
        ("CHATBOT_DATABASE_URL", "postgres://postgres@127.0.0.1/test"),
        ("CHATBOT_BUILTIN_PLUGINS", "off"),
        ("CHATBOT_ADDR", "0.0.0.0:9000"),
    ]
    .into_iter()
    .collect();
    let config =
        Config::load_with_env(Some(&path), |k| env.get(k).map(|v| (*v).to_owned())).unwrap();
    assert_eq!(config.plugins.limits.deadline_ms, 250);
    assert_eq!(config.database.url, "postgres://postgres@127.0.0.1/test");
    assert!(!config.plugins.builtin);
    assert_eq!(config.server.addr.port(), 9000);
}

#[test]
fn invalid_environment_variables_are_named() {
    let err = Config::load_with_env(None, |k| {
        (k == "CHATBOT_PLUGIN_MEMORY_MIB").then(|| "lots".to_owned())
    })
    .unwrap_err();
    assert!(matches!(err, ConfigError::Invalid { .. }));
    let text = err.to_string();
    assert!(
        text.contains("CHATBOT_PLUGIN_MEMORY_MIB") && text.contains("`lots`"),
        "{text}"
    );

    let err = Config::load_with_env(None, |k| {
        (k == "CHATBOT_PLUGIN_DEADLINE_MS").then(|| "0".to_owned())
    })
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("deadline_ms"),
        "validated after overrides: {err}"
    );
}

const GREETER_ONLY: &str = r#"
[plugins]
builtin = false
cache_dir = "{cache}"
[[plugin]]
name = "greeter"
path = "{wasm:greeter}"
grants = ["greeter.count_customers"]
"#;

const WITH_BUILTINS: &str = r#"
[plugins]
cache_dir = "{cache}"
[[plugin]]
name = "greeter"
path = "{wasm:greeter}"
grants = ["greeter.count_customers"]
"#;

const WITH_CLASH: &str = r#"
[plugins]
cache_dir = "{cache}"
[[plugin]]
name = "clash"
path = "{wasm:clash}"
"#;

fn intents(host: &PluginHost) -> Vec<String> {
    host.set()
        .registry()
        .iter()
        .map(|i| i.spec.name.clone())
        .collect()
}

#[tokio::test]
async fn a_good_reload_swaps_the_set_and_a_bad_one_keeps_it() {
    let dir = TempDir::new().unwrap();
    let db = common::seeded_db(dir.path()).await;
    let host = PluginHost::start(&common::config(dir.path(), GREETER_ONLY), Some(db))
        .await
        .unwrap();
    assert_eq!(intents(&host), ["greeter.hello"]);
    let before = host.set();

    let set = host
        .reload(&common::config(dir.path(), WITH_BUILTINS))
        .await
        .unwrap();
    assert_eq!(set.plugins().count(), 4);
    assert_eq!(
        intents(&host).len(),
        20,
        "19 catalogue intents and greeter.hello"
    );
    assert_eq!(
        before.plugins().count(),
        1,
        "a snapshot taken before is unchanged"
    );

    let err = host
        .reload(&common::config(dir.path(), WITH_CLASH))
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("billing.balance") && err.contains("`clash`"),
        "{err}"
    );
    assert_eq!(intents(&host).len(), 20, "the running set is untouched");
}

struct Server {
    child: Child,
    base: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

fn start_server(dir: &Path, config: &Path) -> Server {
    let port = free_port();
    let child = Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .args(["serve", "--addr", &format!("127.0.0.1:{port}"), "--config"])
        .arg(config)
        .env(
            "CHATBOT_DATABASE_URL",
            format!("sqlite://{}?mode=rwc", dir.join("server.db").display()),
        )
        .current_dir(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start switchboard serve");
    Server {
        child,
        base: format!("http://127.0.0.1:{port}"),
    }
}

async fn plugin_count(server: &Server) -> Option<u64> {
    let r = reqwest::get(format!("{}/readyz", server.base)).await.ok()?;
    let body: serde_json::Value = serde_json::from_str(&r.text().await.ok()?).ok()?;
    body["plugins"].as_u64()
}

async fn wait_for(server: &Server, want: u64) -> u64 {
    // Generous: a reload trains the NLU in a debug build, and the suite
    // runs other servers beside this one on a two-core machine (it took
    // over 30 s there once); a passing run returns as soon as it matches.
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut last = 0;
    while Instant::now() < deadline {
        if let Some(n) = plugin_count(server).await {
            last = n;
            if n == want {
                return n;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    last
}

#[tokio::test]
async fn sighup_reloads_a_running_server_and_a_bad_file_changes_nothing() {
    let dir = TempDir::new().unwrap();
    let path = common::write_config(dir.path(), GREETER_ONLY);
    let mut server = start_server(dir.path(), &path);
    assert_eq!(
        wait_for(&server, 1).await,
        1,
        "the server starts with one plugin"
    );

    common::write_config(dir.path(), WITH_BUILTINS);
    let pid = server.child.id().to_string();
    let hup = |pid: &str| {
        Command::new("kill")
            .args(["-HUP", pid])
            .status()
            .expect("send SIGHUP")
    };
    assert!(hup(&pid).success());
    assert_eq!(
        wait_for(&server, 4).await,
        4,
        "SIGHUP swapped in the new set"
    );

    std::fs::write(&path, "[plugins\nbroken").unwrap();
    assert!(hup(&pid).success());
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        plugin_count(&server).await,
        Some(4),
        "an invalid file leaves the set untouched"
    );
    assert!(
        server.child.try_wait().unwrap().is_none(),
        "the server is still running"
    );
}

#[test]
fn an_invalid_file_stops_the_engine_from_starting() {
    let dir = TempDir::new().unwrap();
    let path = common::write_config(dir.path(), "[plugins.limits]\nmemory_mib = 0\n");
    let output = Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .args(["check-config", "--config"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("plugins.limits.memory_mib"), "{stderr}");
}

#[test]
fn plugins_lists_the_builtin_plugins_from_any_folder() {
    let dir = TempDir::new().unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .args(["plugins", "--json"])
        .env(
            "CHATBOT_DATABASE_URL",
            format!("sqlite://{}?mode=rwc", dir.path().join("x.db").display()),
        )
        .env("CHATBOT_PLUGIN_CACHE_DIR", common::cache_dir())
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let list: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let names: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["billing", "crm", "monitoring"]);
    let intents: usize = list
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["intents"].as_array().unwrap().len())
        .sum();
    assert_eq!(intents, 19);
}

/// Runs `switchboard eval --json` on `cases` with the config in `dir`.
fn eval_with(dir: &Path, config: &Path, cases: &str) -> std::process::Output {
    let file = dir.join("cases.jsonl");
    std::fs::write(&file, cases).unwrap();
    Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .args(["eval", "--json", "--config"])
        .arg(config)
        .arg(&file)
        .env("CHATBOT_PLUGIN_CACHE_DIR", common::cache_dir())
        .output()
        .unwrap()
}

fn accuracy(output: &std::process::Output) -> f64 {
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    report["intent_accuracy"].as_f64().unwrap()
}

#[test]
fn deployment_training_files_teach_new_phrasings() {
    let dir = TempDir::new().unwrap();
    // Slang no built-in example uses, for an intent that exists.
    let cases = r#"{"text": "gimme the dosh tally for XYZ789", "history": [], "intent": "billing.balance", "entities": {"customer": "XYZ789"}}
"#;
    let plain = common::write_config(dir.path(), "");
    assert_eq!(accuracy(&eval_with(dir.path(), &plain, cases)), 0.0);

    std::fs::write(
        dir.path().join("extra.jsonl"),
        "{\"text\": \"dosh tally for ABC123\", \"intent\": \"billing.balance\"}\n\
         {\"text\": \"what's the dosh tally of KLM204\", \"intent\": \"billing.balance\"}\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("extra.yml"),
        "version: \"3.1\"\nnlu:\n- intent: billing.balance\n  examples: |\n    - gimme the dosh tally on [QRS456](customer)\n    - dosh tally please for [ABC123](customer)\n",
    )
    .unwrap();
    let trained = common::write_config(
        dir.path(),
        "[nlu]\ntraining_files = [\"extra.jsonl\", \"extra.yml\"]\n",
    );
    assert_eq!(accuracy(&eval_with(dir.path(), &trained, cases)), 1.0);
}

#[test]
fn a_training_utterance_for_an_unknown_intent_names_file_and_line() {
    let dir = TempDir::new().unwrap();
    std::fs::write(
        dir.path().join("extra.jsonl"),
        "{\"text\": \"balance of ABC123\", \"intent\": \"billing.balance\"}\n\n\
         {\"text\": \"order a pizza\", \"intent\": \"food.order_pizza\"}\n",
    )
    .unwrap();
    let config = common::write_config(dir.path(), "[nlu]\ntraining_files = [\"extra.jsonl\"]\n");
    let output = Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .args(["check-config", "--config"])
        .arg(&config)
        .env(
            "CHATBOT_DATABASE_URL",
            format!("sqlite://{}?mode=rwc", dir.path().join("x.db").display()),
        )
        .env("CHATBOT_PLUGIN_CACHE_DIR", common::cache_dir())
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("extra.jsonl:3: intent `food.order_pizza` is not registered"),
        "{stderr}"
    );
}
