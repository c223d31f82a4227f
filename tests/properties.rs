//! Property tests (proptest; `cargo fuzz` needs a nightly toolchain, which
//! this project does not require): whatever text arrives, the parsers and
//! the NLU answer without panicking and keep their invariants. Failing
//! inputs proptest finds are kept in `proptest-regressions/` and replayed
//! first on every run.

#[path = "common/mod.rs"]
mod common;

use std::sync::{Arc, OnceLock};

use proptest::prelude::*;
use switchboard::auth::Authenticator;
use switchboard::config::Config;
use switchboard::nlu::Nlu;
use switchboard::nlu::training;
use switchboard::plugins::PluginHost;
use switchboard::query::{QueryEngine, QuerySettings};

/// The engine's real NLU, trained once on the built-in plugins' intents.
fn nlu() -> Arc<Nlu> {
    static NLU: OnceLock<Arc<Nlu>> = OnceLock::new();
    NLU.get_or_init(|| {
        let runtime = tokio::runtime::Runtime::new().expect("runtime");
        runtime.block_on(async {
            let mut config = Config::default();
            config.plugins.cache_dir = Some(common::cache_dir());
            let plugins = PluginHost::start(&config, None).await.expect("plugins");
            QueryEngine::new(plugins, QuerySettings::default())
                .expect("engine")
                .nlu()
        })
    })
    .clone()
}

/// Text an agent could send: any Unicode, plus the shapes the entity
/// rules look for (codes, amounts, phones, emails), mixed.
fn agent_text() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[ -~]{0,120}",
        "(show|bill|open|ping|any|what|how much) [A-Z]{3}-?[0-9]{3} ?(INV-[0-9]{4}-[0-9]{3})? ?(\\+?[0-9 ()-]{0,20})? ?[a-z@.]{0,20}",
        "[0-9٠-٩०-९A-Za-zÀ-ÿ€$£.,:;!?'\"()\\[\\]{}<>@#%&*+=/\\\\|~^ \\t\\u{200b}\\u{fe0f}]{0,80}",
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn the_nlu_answers_any_text(text in agent_text(), history in prop::collection::vec(agent_text(), 0..3)) {
        let nlu = nlu();
        let i = nlu.interpret(&text, &history);
        prop_assert!((0.0..=1.0).contains(&i.confidence), "confidence {}", i.confidence);
        prop_assert!(nlu.intents().contains(&i.intent), "unknown intent {}", i.intent);
        let schema = nlu.schema(&i.intent);
        for name in i.entities.keys() {
            prop_assert!(schema.is_some_and(|s| s.takes(name)), "{} does not take {name}", i.intent);
        }
        for e in nlu.extract(&text) {
            prop_assert!(e.span.0 <= e.span.1 && e.span.1 <= text.len());
            prop_assert!(text.is_char_boundary(e.span.0) && text.is_char_boundary(e.span.1));
        }
    }

    #[test]
    fn the_config_parser_reports_instead_of_panicking(text in any::<String>()) {
        let _ = Config::parse_str(&text, "fuzz.toml");
    }

    #[test]
    fn config_like_toml_is_validated_without_panicking(
        section in prop::sample::select(vec!["server", "database", "plugins", "plugins.limits", "plugins.breaker", "auth", "api", "nlu", "ai", "ai.cache"]),
        key in "[a-z_]{1,24}",
        value in prop_oneof![
            any::<i64>().prop_map(|v| v.to_string()),
            any::<bool>().prop_map(|v| v.to_string()),
            "\"[ -~]{0,30}\"",
            Just("[]".to_owned()),
            Just("[\"a\", 1]".to_owned()),
        ],
    ) {
        let text = format!("[{section}]\n{key} = {value}\n");
        if let Ok(config) = Config::parse_str(&text, "fuzz.toml") {
            let _ = config.validate();
        }
    }

    #[test]
    fn a_forged_or_garbled_token_is_refused(token in prop_oneof![
        any::<String>(),
        "[A-Za-z0-9_-]{0,40}\\.[A-Za-z0-9_-]{0,80}\\.[A-Za-z0-9_-]{0,40}",
        "eyJhbGciOiJIUzI1NiJ9\\.[A-Za-z0-9_-]{0,80}\\.[A-Za-z0-9_-]{0,43}",
        "eyJhbGciOiJub25lIn0\\.[A-Za-z0-9_-]{0,80}\\.",
    ]) {
        let auth = Authenticator::hs256("property-test-secret-0123456789");
        prop_assert!(auth.verify(&token).is_err());
    }

    #[test]
    fn training_files_report_instead_of_panicking(text in any::<String>(), yaml in "(nlu:\n)?(- intent: [a-z.]{0,10}\n)?(  examples: \\|\n)?(    - [ -~\\[\\]()]{0,30}\n){0,3}") {
        let _ = training::parse_jsonl(&text, "fuzz.jsonl");
        let _ = training::parse_rasa(&text, "fuzz.yml");
        if let Ok(examples) = training::parse_rasa(&yaml, "fuzz.yml") {
            for e in examples {
                prop_assert!(!e.example.text.trim().is_empty());
                prop_assert!(e.line >= 1 && e.line <= yaml.lines().count());
            }
        }
        let _ = training::strip_annotations(&text);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    /// The PII masker on any text: no panic, no masked value left in the
    /// masked text, and unmasking gives the text back.
    #[test]
    fn the_pii_masker_round_trips_any_text(text in prop_oneof![
        any::<String>(),
        "[ -~]{0,80}",
        "[a-z]{1,8}@[a-z]{1,8}\\.(com|org) (\\+[0-9]{1,3} )?[0-9 ]{6,18} [A-Z]{2}[0-9]{2}( [0-9A-Z]{4}){2,6} [0-9٠-٩०-९Kſ ]{0,20}",
    ]) {
        // A literal placeholder typed by the agent would be ambiguous.
        prop_assume!(!text.contains('<'));
        let masker = switchboard::ai::mask::Masker::default();
        let (masked_text, masked) = masker.mask(&text);
        prop_assert_eq!(masked.unmask(&masked_text), text.clone());
        for value in masked.values.values() {
            prop_assert!(!masked_text.contains(value.as_str()), "{value} left in {masked_text}");
        }
        let _ = switchboard::ai::mask::for_logs(&text);
    }
}
