//! The embedded NLU through the command line, exactly as other tools
//! script against it: `nlu` (JSON lines in and out), `nlu
//! --export-training`, and `eval` on the development set with the targets
//! asserted (intent accuracy ≥ 0.97, entity F1 ≥ 0.95).

#[path = "common/mod.rs"]
mod common;

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

fn switchboard(dir: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_switchboard"));
    cmd.current_dir(dir)
        .env("CHATBOT_PLUGIN_CACHE_DIR", common::cache_dir())
        .env_remove("CHATBOT_CONFIG");
    cmd
}

fn nlu_lines(input: &str) -> Vec<serde_json::Value> {
    let dir = tempfile::TempDir::new().unwrap();
    let mut child = switchboard(dir.path())
        .arg("nlu")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        !dir.path().join("switchboard.db").exists(),
        "nlu needs no database"
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn dev_set() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/data/nlu-dev.jsonl")
}

#[test]
fn nlu_answers_one_line_per_input_in_order() {
    let out = nlu_lines(concat!(
        r#"{"text": "show me billing for customer abc-123"}"#,
        "\n",
        r#"{"text": "any outages in the northern region?", "history": []}"#,
        "\n",
        "not json\n",
        r#"{"text": "what about the south?", "history": ["any outages in the north?"]}"#,
        "\n",
        r#"{"text": "top ten customers"}"#,
        "\n",
        r#"{"text": "tell me a joke"}"#,
        "\n",
    ));
    assert_eq!(out.len(), 6);
    assert_eq!(out[0]["intent"], "billing.customer_invoices");
    assert_eq!(out[0]["entities"]["customer"], "ABC123");
    let c = out[0]["confidence"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&c));
    assert_eq!(out[1]["intent"], "monitoring.outages");
    assert_eq!(out[1]["entities"]["region"], "north");
    assert!(
        out[2]["error"].is_string(),
        "a bad line gets an error line, in place"
    );
    assert_eq!(out[3]["intent"], "monitoring.outages");
    assert_eq!(out[3]["entities"]["region"], "south");
    assert_eq!(out[4]["intent"], "crm.top_customers");
    assert_eq!(out[4]["entities"]["limit"], 10, "numbers are JSON numbers");
    assert_eq!(out[5]["intent"], "none");
}

#[test]
fn export_training_lists_every_intent() {
    let dir = tempfile::TempDir::new().unwrap();
    let out = switchboard(dir.path())
        .args(["nlu", "--export-training"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let mut intents: Vec<String> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["intent"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    intents.sort();
    intents.dedup();
    assert_eq!(
        intents.len(),
        20,
        "19 catalogue intents and none: {intents:?}"
    );
}

/// `eval --json` of `file`: (intent accuracy, entity F1, the worst cases).
fn evaluate(file: &Path) -> (f64, f64, serde_json::Value) {
    let dir = tempfile::TempDir::new().unwrap();
    let out = switchboard(dir.path())
        .args(["eval", "--json"])
        .arg(file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    (
        report["intent_accuracy"].as_f64().unwrap(),
        report["entity_f1"].as_f64().unwrap(),
        report["worst"].clone(),
    )
}

#[test]
fn the_development_set_meets_the_targets() {
    let (accuracy, f1, worst) = evaluate(&dev_set());
    assert!(accuracy >= 0.97, "intent accuracy {accuracy}: {worst:#}");
    assert!(f1 >= 0.95, "entity F1 {f1}: {worst:#}");
}

/// Six sets (135, 135, 150, 140, 160 and 150 cases), written apart from
/// the development set and the plugins' examples (terse, chatty, misspelt,
/// other words for the same things; c to f also ISP jargon and callers'
/// stories). d (2026-12-04) and e and f (2026-12-07) were each scored
/// before anything was changed for them; f was only read, not tuned on,
/// except for three entity fixes. A regression guard for how the NLU
/// generalises: intent accuracy / entity F1 measured on 2026-12-07 0.978 /
/// 1.000 (a), 0.963 / 0.984 (b), 0.987 / 0.997 (c), 0.950 / 0.982 (d),
/// 0.994 / 0.997 (e; first reading 0.938 / 0.974) and 0.973 / 0.979 (f;
/// 0.980 / 0.965 on the code before that day's changes). The floors sit
/// two to ten cases under.
#[test]
fn the_probe_sets_stay_above_their_floors() {
    for (name, accuracy_floor, f1_floor) in [
        ("nlu-probe-a.jsonl", 0.92, 0.92),
        ("nlu-probe-b.jsonl", 0.92, 0.92),
        ("nlu-probe-c.jsonl", 0.92, 0.92),
        ("nlu-probe-d.jsonl", 0.92, 0.95),
        ("nlu-probe-e.jsonl", 0.95, 0.95),
        ("nlu-probe-f.jsonl", 0.95, 0.95),
    ] {
        let file = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../tests/data")
            .join(name);
        let (accuracy, f1, worst) = evaluate(&file);
        assert!(
            accuracy >= accuracy_floor,
            "{name}: intent accuracy {accuracy}: {worst:#}"
        );
        assert!(f1 >= f1_floor, "{name}: entity F1 {f1}: {worst:#}");
    }
}

/// A follow-up takes the entities its intent can use from the
/// conversation, as the catalogue says, with or without a word such as
/// "they" that refers back; a detail swap keeps the earlier customer.
#[test]
fn follow_ups_take_what_their_intent_uses_from_the_conversation() {
    let out = nlu_lines(concat!(
        r#"{"text": "any outages?", "history": ["how is the network in the central region"]}"#,
        "\n",
        r#"{"text": "urgent only pls", "history": ["open tickets for Tom Becker"]}"#,
        "\n",
        r#"{"text": "any outages?", "history": []}"#,
        "\n",
        r#"{"text": "what about INV-2025-001?", "history": ["balance for ABC123"]}"#,
        "\n",
        r#"{"text": "and OLT-NORTH-01?", "history": ["is ABC123 online"]}"#,
        "\n",
        r#"{"text": "and TCK-1003?", "history": ["open tickets for ABC123"]}"#,
        "\n",
        r#"{"text": "what about the south?", "history": ["any outages in the north"]}"#,
        "\n",
        r#"{"text": "what about the south?", "history": ["balance for ABC123"]}"#,
        "\n",
    ));
    assert_eq!(out[0]["intent"], "monitoring.outages");
    assert_eq!(out[0]["entities"]["region"], "central");
    assert_eq!(out[1]["intent"], "crm.open_tickets");
    assert_eq!(out[1]["entities"]["priority"], "urgent");
    assert_eq!(out[1]["entities"]["customer_name"], "Tom Becker");
    assert_eq!(out[2]["intent"], "monitoring.outages");
    assert!(out[2]["entities"].get("region").is_none(), "{}", out[2]);
    // A swapped detail the previous intent cannot use goes to the one
    // intent that can, without the previous query's customer.
    assert_eq!(out[3]["intent"], "billing.invoice_details", "{}", out[3]);
    assert_eq!(
        out[3]["entities"],
        serde_json::json!({ "invoice": "INV-2025-001" })
    );
    assert_eq!(out[4]["intent"], "monitoring.device_status", "{}", out[4]);
    assert_eq!(
        out[4]["entities"],
        serde_json::json!({ "device": "OLT-NORTH-01" })
    );
    // No intent takes a ticket: the conversation's intent goes on.
    assert_eq!(out[5]["intent"], "crm.open_tickets", "{}", out[5]);
    assert_eq!(out[5]["entities"]["customer"], "ABC123");
    // One the previous intent uses carries it over.
    assert_eq!(out[6]["intent"], "monitoring.outages", "{}", out[6]);
    assert_eq!(out[6]["entities"]["region"], "south");
    // Several intents take a region and a balance takes none: the best
    // ranked of them answers, not the balance again.
    assert_ne!(out[7]["intent"], "billing.balance", "{}", out[7]);
    assert_ne!(out[7]["intent"], "none", "{}", out[7]);
    assert_eq!(out[7]["entities"]["region"], "south", "{}", out[7]);
}

/// Agents' shorthand, a request beside chatter in another sentence, and a
/// region named with the way to it ("down south") read as what they mean.
#[test]
fn shorthand_chatter_and_pointed_regions_are_understood() {
    let out = nlu_lines(concat!(
        r#"{"text": "bal for QWE555", "history": []}"#,
        "\n",
        r#"{"text": "pmt hist for Tom Becker", "history": []}"#,
        "\n",
        r#"{"text": "Can you see whether Sofia Rossi is online? She says her kids cannot watch anything.", "history": []}"#,
        "\n",
        r#"{"text": "My cat is sick today. Is there an outage in the north?", "history": []}"#,
        "\n",
        r#"{"text": "It was a long day. I need a coffee.", "history": []}"#,
        "\n",
        r#"{"text": "and down south?", "history": ["revenue in the east last month"]}"#,
        "\n",
        r#"{"text": "what about out west?", "history": ["outages in central"]}"#,
        "\n",
    ));
    assert_eq!(out[0]["intent"], "billing.balance", "{}", out[0]);
    assert_eq!(out[0]["entities"]["customer"], "QWE555");
    assert_eq!(out[1]["intent"], "billing.payment_history", "{}", out[1]);
    // Each of these reads as out of scope as a whole; one of its
    // sentences asks for something.
    assert_eq!(
        out[2]["intent"], "monitoring.connection_status",
        "{}",
        out[2]
    );
    assert_eq!(out[2]["entities"]["customer_name"], "Sofia Rossi");
    assert_eq!(out[3]["intent"], "monitoring.outages", "{}", out[3]);
    assert_eq!(out[3]["entities"]["region"], "north");
    assert_eq!(out[4]["intent"], "none", "{}", out[4]);
    // "down" and "out" point to the region; they do not ask about outages.
    assert_eq!(out[5]["intent"], "billing.revenue_summary", "{}", out[5]);
    assert_eq!(out[5]["entities"]["region"], "south");
    assert_eq!(out[6]["intent"], "monitoring.outages", "{}", out[6]);
    assert_eq!(out[6]["entities"]["region"], "west");
}

#[test]
fn eval_reports_a_bad_file_with_its_line() {
    let dir = tempfile::TempDir::new().unwrap();
    let file = dir.path().join("bad.jsonl");
    std::fs::write(&file, "{\"text\": \"x\", \"intent\": \"none\"}\n{broken\n").unwrap();
    let out = switchboard(dir.path())
        .arg("eval")
        .arg(&file)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("line 2"));
}
