//! `switchboard nlu-bench` on the small Braun et al. corpora (CC BY-SA 3.0,
//! copied under tests/data/braun): a regression guard with floors a little
//! under what was measured with the shipped settings (chatbot 1.000,
//! askubuntu 0.908, webapps 0.831; the earlier settings, one network and 40
//! linear passes: 0.991, 0.917, 0.831; the linear model alone: 1.000,
//! 0.927, 0.814), not a timing test.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The folder of a Braun corpus.
fn corpus_dir(corpus: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/data/braun")
        .join(corpus)
}

/// Runs `switchboard nlu-bench --json ARGS`, which must succeed.
fn nlu_bench<I: AsRef<OsStr>>(args: impl IntoIterator<Item = I>) -> serde_json::Value {
    let out = Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .args(["nlu-bench", "--json"])
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn bench(corpus: &str) -> serde_json::Value {
    let dir = corpus_dir(corpus);
    nlu_bench([
        OsStr::new("--train"),
        dir.join("train.jsonl").as_os_str(),
        OsStr::new("--test"),
        dir.join("test.jsonl").as_os_str(),
    ])
}

#[test]
fn braun_corpora_stay_above_their_floors() {
    for (corpus, floor) in [("chatbot", 0.98), ("askubuntu", 0.89), ("webapps", 0.79)] {
        let r = bench(corpus);
        let accuracy = r["accuracy"].as_f64().unwrap();
        assert!(
            accuracy >= floor,
            "{corpus}: accuracy {accuracy} below {floor}"
        );
        for key in [
            "macro_f1",
            "in_scope_accuracy",
            "train_seconds",
            "predict_per_second",
        ] {
            assert!(r[key].is_number(), "{corpus}: {key} missing");
        }
        assert!(r["oos_recall"].is_null(), "no `none` in Braun");
    }
}

#[test]
fn a_bad_training_line_is_named() {
    let dir = tempfile::TempDir::new().unwrap();
    let train = dir.path().join("train.jsonl");
    std::fs::write(
        &train,
        "{\"text\": \"a\", \"intent\": \"x\"}\n{\"text\": 1}\n",
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .args(["nlu-bench", "--train"])
        .arg(&train)
        .arg("--test")
        .arg(&train)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("line 2"));
}

/// `--cv K --unseen-intents`: each fold leaves out a K-th of the intents and
/// scores their utterances as out of scope, so the report has an
/// out-of-scope recall (and a threshold table) even for data without
/// `none`; plain cross-validation on the same data has neither.
#[test]
fn cross_validation_can_score_unseen_intents_as_out_of_scope() {
    let train = corpus_dir("askubuntu").join("train.jsonl");
    let cv = |extra: &[&str]| -> serde_json::Value {
        let mut args = vec![OsStr::new("--cv"), OsStr::new("5"), OsStr::new("--train")];
        args.push(train.as_os_str());
        args.extend(extra.iter().map(OsStr::new));
        nlu_bench(args)
    };
    let plain = cv(&[]);
    assert_eq!(plain["unseen_intents"], false);
    assert!(plain["oos_recall"].is_null(), "no `none` in Braun");
    assert_eq!(plain["thresholds"].as_array().unwrap().len(), 0);

    let unseen = cv(&["--unseen-intents"]);
    assert_eq!(unseen["unseen_intents"], true);
    let in_scope = unseen["in_scope_accuracy"].as_f64().unwrap();
    assert!(in_scope > 0.6, "in-scope accuracy {in_scope}");
    let table = unseen["thresholds"].as_array().unwrap();
    assert_eq!(table.len(), 12);
    let recall = |t: &serde_json::Value| t["oos_recall"].as_f64().unwrap();
    // A higher threshold refuses at least as much of the unseen intents.
    for pair in table.windows(2) {
        assert!(recall(&pair[1]) >= recall(&pair[0]), "{pair:?}");
    }
    assert!(recall(&table[11]) > 0.0, "nothing unseen refused at 0.6");
    assert!(unseen["oos_recall"].is_number());
}
