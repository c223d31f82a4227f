//! The `switchboard` command: parses the command line and calls into the
//! library.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand};
use switchboard::TenantId;
use switchboard::api::AppState;
use switchboard::auth::{Authenticator, Claims, now_secs, parse_ttl};
use switchboard::config::Config;
use switchboard::demo;
use switchboard::nlu::entities::NUMERIC_ENTITIES;
use switchboard::nlu::eval;
use switchboard::plugins::{CallContext, DispatchError, PluginHost, PluginRequest};
use switchboard::query::{QueryEngine, QuerySettings};
use switchboard::secrets::Sealer;
use switchboard::server;
use switchboard::store::{Db, redact_url};

/// Switchboard: an intent engine for ISP support agents.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Cli {
    /// The admin configuration file (TOML). Without it, built-in defaults.
    #[arg(long, global = true, env = "CHATBOT_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Runs the HTTP server.
    Serve {
        /// Address to listen on (overrides the configuration).
        #[arg(long)]
        addr: Option<std::net::SocketAddr>,
    },
    /// Lists the loaded plugins, their versions and intents.
    Plugins {
        /// Prints JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Validates the configuration and loads every plugin, then exits.
    CheckConfig,
    /// Interprets JSON lines `{"text", "history"}` from stdin, one JSON line
    /// out per line in: `{"intent", "confidence", "entities"}`.
    Nlu {
        /// Writes the training utterances (`{"text", "intent"}` lines) instead.
        #[arg(long)]
        export_training: bool,
    },
    /// Scores the NLU on an evaluation file (the intent catalogue's format).
    Eval {
        /// A JSON-lines file of `{"text", "history", "intent", "entities"}`.
        file: PathBuf,
        /// Prints one JSON object instead of a report.
        #[arg(long)]
        json: bool,
    },
    /// Trains a fresh classifier on TRAIN and scores it on TEST (public
    /// intent benchmarks; `{"text", "intent"}` lines, `none` = out of scope).
    NluBench {
        /// Training file.
        #[arg(long)]
        train: PathBuf,
        /// Test file, read only after training (not with `--cv`).
        #[arg(long, required_unless_present = "cv")]
        test: Option<PathBuf>,
        /// Instead of testing: K-fold cross-validation on the train file.
        #[arg(long, value_name = "K", conflicts_with = "test")]
        cv: Option<usize>,
        /// With `--cv`: each fold also leaves out a K-th of the intents and
        /// scores their utterances as out of scope (how well questions on
        /// topics no intent covers are refused, without out-of-scope data).
        #[arg(long, requires = "cv")]
        unseen_intents: bool,
        /// Overrides one NLU setting, e.g. `--set epochs=30` (repeatable).
        #[arg(long = "set", value_name = "NAME=VALUE")]
        set: Vec<String>,
        /// Prints one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// Answers one question end to end on the local database.
    Ask {
        /// The question.
        text: String,
        /// Earlier questions of the conversation, oldest first (repeatable).
        #[arg(long = "history")]
        history: Vec<String>,
        /// The tenant to act for.
        #[arg(long, default_value_t = 1)]
        tenant: i64,
        /// The user to act as.
        #[arg(long, default_value = "cli")]
        user: String,
        /// Prints the whole outcome as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Prints a token signed with the configured secret (last word on stdout).
    Token {
        /// The user id (`sub`).
        #[arg(long)]
        user: String,
        /// The tenant id.
        #[arg(long)]
        tenant: i64,
        /// The role.
        #[arg(long, default_value = "support_agent")]
        role: String,
        /// Comma-separated permissions.
        #[arg(long, value_delimiter = ',')]
        permissions: Vec<String>,
        /// Lifetime: `90s`, `15m`, `1h`, `7d`.
        #[arg(long, default_value = "1h")]
        ttl: String,
    },
    /// Runs the migrations and seeds two demo tenants.
    DemoData {
        /// Deletes the demo tenants' data first.
        #[arg(long)]
        reset: bool,
    },
    /// Calls one intent of a plugin directly, bypassing the NLU (for admins).
    Call {
        /// The intent, e.g. `billing.customer_invoices`.
        intent: String,
        /// Entities as `name=value`, repeatable.
        #[arg(long = "entity", short = 'e')]
        entities: Vec<String>,
        /// The tenant to act for.
        #[arg(long, default_value_t = 1)]
        tenant: i64,
        /// The user to act as.
        #[arg(long, default_value = "cli")]
        user: String,
    },
}

fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("CHATBOT_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if std::env::var("CHATBOT_LOG_FORMAT").is_ok_and(|f| f == "json") {
        builder.json().init();
    } else {
        builder.init();
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    init_tracing();
    let cli = Cli::parse();
    match run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

async fn open(config: &Config) -> Result<(Db, PluginHost), String> {
    let db = Db::open(&config.database.url, config.database.max_connections)
        .await
        .map_err(|e| e.to_string())?;
    let plugins = PluginHost::start(config, Some(db.clone()))
        .await
        .map_err(|e| e.to_string())?;
    Ok((db, plugins))
}

/// Loads the plugins without a database and trains the NLU on them.
async fn offline_engine(config: &Config) -> Result<QueryEngine, String> {
    let plugins = PluginHost::start(config, None)
        .await
        .map_err(|e| e.to_string())?;
    engine_for(config, plugins)
}

/// Trains the engine on the plugins' intents and the `[nlu]` training files.
fn engine_for(config: &Config, plugins: PluginHost) -> Result<QueryEngine, String> {
    let training = switchboard::query::load_training(config).map_err(|e| e.to_string())?;
    // Trained models are kept beside the compiled plugins.
    let cache = switchboard::nlu::model_cache::ModelCache::new(config.cache_dir());
    QueryEngine::with_training_cached(plugins, QuerySettings::default(), &training, Some(&cache))
        .map_err(|e| e.to_string())
}

fn entities_json(entities: &std::collections::BTreeMap<String, String>) -> serde_json::Value {
    let mut map = serde_json::Map::new();
    for (k, v) in entities {
        let value = if NUMERIC_ENTITIES.contains(&k.as_str()) {
            v.parse::<i64>()
                .map(serde_json::Value::from)
                .or_else(|_| v.parse::<f64>().map(serde_json::Value::from))
                .unwrap_or_else(|_| serde_json::Value::String(v.clone()))
        } else {
            serde_json::Value::String(v.clone())
        };
        map.insert(k.clone(), value);
    }
    serde_json::Value::Object(map)
}

#[derive(serde::Deserialize)]
struct NluLine {
    text: String,
    #[serde(default)]
    history: Vec<String>,
}

fn run_nlu(nlu: &switchboard::nlu::Nlu, export: bool) -> Result<(), String> {
    use std::io::{BufRead, Write};
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let write = |out: &mut std::io::BufWriter<std::io::StdoutLock<'_>>, v: serde_json::Value| {
        writeln!(out, "{v}").map_err(|e| e.to_string())
    };
    if export {
        for e in nlu.training_examples() {
            write(
                &mut out,
                serde_json::json!({ "text": e.text, "intent": e.intent }),
            )?;
        }
        return out.flush().map_err(|e| e.to_string());
    }
    for line in std::io::stdin().lock().lines() {
        let line = line.map_err(|e| e.to_string())?;
        if line.trim().is_empty() {
            continue;
        }
        let value = match serde_json::from_str::<NluLine>(&line) {
            Ok(input) => {
                // One line out per line in, whatever happens to this one.
                match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    nlu.interpret(&input.text, &input.history)
                })) {
                    Ok(i) => serde_json::json!({
                        "intent": i.intent,
                        "confidence": (f64::from(i.confidence) * 1e4).round() / 1e4,
                        "entities": entities_json(&i.entities),
                    }),
                    Err(_) => {
                        serde_json::json!({ "error": "internal error interpreting this line" })
                    }
                }
            }
            Err(e) => serde_json::json!({ "error": format!("invalid input line: {e}") }),
        };
        write(&mut out, value)?;
    }
    out.flush().map_err(|e| e.to_string())
}

async fn run(cli: Cli) -> Result<(), String> {
    let mut config = Config::load(cli.config.as_deref()).map_err(|e| e.to_string())?;
    match cli.command {
        Command::Serve { addr } => {
            if let Some(addr) = addr {
                config.server.addr = addr;
            }
            let (db, plugins) = open(&config).await?;
            let engine = engine_for(&config, plugins)?;
            let (auth, dev_secret) =
                Authenticator::from_config(&config).map_err(|e| e.to_string())?;
            if dev_secret {
                tracing::warn!(
                    "CHATBOT_JWT_SECRET is not set: using the development secret; never do this in production"
                );
            }
            let (sealer, dev_key) = Sealer::from_env();
            if dev_key {
                tracing::warn!(
                    "CHATBOT_MASTER_KEY is not set: API keys are sealed with the development key"
                );
            }
            switchboard::ai::mask::configure_logs(
                config.ai.mask_pii_in_logs,
                &config.ai.pii_patterns,
            );
            let ai = switchboard::ai::AiServices::new(&config.ai, Some(db.clone()), sealer.clone())
                .map_err(|e| e.to_string())?;
            let engine = engine.with_ai(Arc::new(ai));
            let state = Arc::new(AppState {
                engine,
                db,
                auth,
                sealer,
                api: config.api,
                config_path: cli.config.clone(),
                background: Default::default(),
            });
            server::serve(state, &config.server)
                .await
                .map_err(|e| format!("server failed: {e}"))
        }
        Command::Plugins { json } => {
            let (_db, plugins) = open(&config).await?;
            let infos = plugins.set().infos();
            if json {
                let text = serde_json::to_string_pretty(&infos).map_err(|e| e.to_string())?;
                println!("{text}");
            } else {
                for info in infos {
                    println!(
                        "{} {} (wit {}, {}) — {}",
                        info.name,
                        info.version,
                        info.wit_version,
                        match &info.source {
                            switchboard::plugins::PluginSource::Builtin => "built-in".to_owned(),
                            switchboard::plugins::PluginSource::File(p) => p.clone(),
                        },
                        info.description
                    );
                    for intent in &info.intents {
                        println!("    {intent}");
                    }
                    for warning in &info.warnings {
                        println!("    warning: {warning}");
                    }
                }
            }
            Ok(())
        }
        Command::CheckConfig => {
            let (_db, plugins) = open(&config).await?;
            let set = plugins.set();
            let (n_plugins, n_intents) = (set.plugins().count(), set.registry().len());
            let training = switchboard::query::load_training(&config).map_err(|e| e.to_string())?;
            let extra = training.len();
            engine_for(&config, plugins)?;
            println!(
                "configuration valid: {n_plugins} plugins, {n_intents} intents, {extra} deployment training utterances"
            );
            Ok(())
        }
        Command::Nlu { export_training } => {
            let engine = offline_engine(&config).await?;
            run_nlu(&engine.nlu(), export_training)
        }
        Command::Eval { file, json } => {
            let text = std::fs::read_to_string(&file)
                .map_err(|e| format!("cannot read {}: {e}", file.display()))?;
            let cases = eval::parse_cases(&text).map_err(|e| format!("{}: {e}", file.display()))?;
            let engine = offline_engine(&config).await?;
            let report = eval::evaluate(&engine.nlu(), &cases);
            if json {
                println!(
                    "{}",
                    serde_json::to_string(&report).map_err(|e| e.to_string())?
                );
            } else {
                print!("{}", report.to_text(20));
            }
            Ok(())
        }
        Command::Token {
            user,
            tenant,
            role,
            permissions,
            ttl,
        } => {
            let (auth, _) = Authenticator::from_config(&config).map_err(|e| e.to_string())?;
            let ttl = parse_ttl(&ttl)
                .ok_or_else(|| format!("`{ttl}` is not a duration like 90s, 15m, 1h or 7d"))?;
            let claims = Claims {
                sub: user,
                tenant_id: tenant,
                role,
                permissions: permissions
                    .into_iter()
                    .map(|p| p.trim().to_owned())
                    .filter(|p| !p.is_empty())
                    .collect(),
                exp: now_secs() + ttl,
            };
            println!("{}", auth.sign(&claims).map_err(|e| e.to_string())?);
            Ok(())
        }
        Command::NluBench {
            train,
            test,
            cv,
            unseen_intents,
            set,
            json,
        } => {
            let mut settings = switchboard::nlu::NluSettings::default();
            for item in &set {
                let (name, value) = item
                    .split_once('=')
                    .ok_or_else(|| format!("--set `{item}`: expected NAME=VALUE"))?;
                settings.set(name.trim(), value.trim())?;
            }
            let test = match (cv, test) {
                (Some(folds), _) => {
                    let report = switchboard::nlu::bench::cross_validate(
                        &train,
                        folds,
                        settings,
                        unseen_intents,
                    )
                    .map_err(|e| e.to_string())?;
                    if json {
                        println!(
                            "{}",
                            serde_json::to_string(&report).map_err(|e| e.to_string())?
                        );
                    } else {
                        println!(
                            "{}-fold cross-validation{} on {} utterances: accuracy {:.4}, in-scope accuracy {:.4}, out-of-scope recall {} ({:.1} s)",
                            report.folds,
                            if report.unseen_intents {
                                " with unseen intents as out of scope"
                            } else {
                                ""
                            },
                            report.examples,
                            report.accuracy,
                            report.in_scope_accuracy,
                            report
                                .oos_recall
                                .map_or_else(|| "n/a".to_owned(), |r| format!("{r:.4}")),
                            report.seconds
                        );
                        for t in &report.thresholds {
                            println!(
                                "  none_below {:.2}: accuracy {:.4}, in-scope {:.4}, out-of-scope recall {:.4}",
                                t.none_below,
                                t.accuracy,
                                t.in_scope_accuracy,
                                t.oos_recall.unwrap_or(0.0)
                            );
                        }
                    }
                    return Ok(());
                }
                (None, Some(test)) => test,
                (None, None) => return Err("--test or --cv is needed".to_owned()),
            };
            let report =
                switchboard::nlu::bench::run(&train, &test, settings).map_err(|e| e.to_string())?;
            if json {
                println!(
                    "{}",
                    serde_json::to_string(&report).map_err(|e| e.to_string())?
                );
            } else {
                print!("{}", report.to_text());
            }
            Ok(())
        }
        Command::DemoData { reset } => {
            let db = Db::open(&config.database.url, config.database.max_connections)
                .await
                .map_err(|e| e.to_string())?;
            match demo::seed(&db, reset).await.map_err(|e| e.to_string())? {
                demo::SeedOutcome::Seeded { customers } => println!(
                    "demo data written to {}: {} customers in tenant 1, {} in tenant 2",
                    redact_url(&config.database.url),
                    customers.0,
                    customers.1
                ),
                demo::SeedOutcome::AlreadyPresent { customers } => println!(
                    "demo data is already there ({customers} customers in tenant 1); use --reset to recreate it"
                ),
            }
            Ok(())
        }
        Command::Ask {
            text,
            history,
            tenant,
            user,
            json,
        } => {
            let (_db, plugins) = open(&config).await?;
            let engine = engine_for(&config, plugins)?;
            let ctx = CallContext {
                tenant: TenantId::new(tenant),
                user_id: user,
            };
            let outcome = engine.answer(&ctx, &text, &history, None).await;
            if json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&outcome).map_err(|e| e.to_string())?
                );
                return Ok(());
            }
            println!("{}", outcome.response_text);
            println!();
            println!(
                "intent: {} (confidence {:.2}, {} NLU){}",
                outcome.intent,
                outcome.confidence,
                outcome.interpreter,
                outcome
                    .plugin
                    .as_ref()
                    .map(|p| format!(", answered by {p}"))
                    .unwrap_or_default()
            );
            if !outcome.entities.is_empty() {
                let list: Vec<String> = outcome
                    .entities
                    .iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect();
                println!("entities: {}", list.join(", "));
            }
            if let Some(p) = &outcome.proposal {
                println!("proposed action (needs confirmation): {}", p.summary);
            }
            for a in &outcome.suggested_actions {
                println!(
                    "suggested: {} — {} {}",
                    a.description, a.action, a.parameters
                );
            }
            println!("data: {}", outcome.structured_data);
            Ok(())
        }
        Command::Call {
            intent,
            entities,
            tenant,
            user,
        } => {
            let (_db, plugins) = open(&config).await?;
            let mut pairs = Vec::new();
            for e in entities {
                let (k, v) = e
                    .split_once('=')
                    .ok_or_else(|| format!("`{e}` is not name=value"))?;
                pairs.push((k.trim().to_owned(), v.trim().to_owned()));
            }
            let ctx = CallContext {
                tenant: TenantId::new(tenant),
                user_id: user,
            };
            let request = PluginRequest {
                intent,
                entities: pairs,
                text: String::new(),
            };
            match plugins.handle(&ctx, request).await {
                Ok(answer) => {
                    let text = serde_json::to_string_pretty(&answer).map_err(|e| e.to_string())?;
                    println!("{text}");
                    Ok(())
                }
                Err(DispatchError::Reported { message, .. }) => {
                    println!("{message}");
                    Ok(())
                }
                Err(e) => Err(e.to_string()),
            }
        }
    }
}
