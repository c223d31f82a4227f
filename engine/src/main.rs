//! The `switchboard` command: parses the command line and calls into the
//! library.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand};
use switchboard::TenantId;
use switchboard::config::Config;
use switchboard::plugins::{CallContext, DispatchError, PluginHost, PluginRequest};
use switchboard::server::{self, AppState};
use switchboard::store::Db;

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

async fn run(cli: Cli) -> Result<(), String> {
    let mut config = Config::load(cli.config.as_deref()).map_err(|e| e.to_string())?;
    match cli.command {
        Command::Serve { addr } => {
            if let Some(addr) = addr {
                config.server.addr = addr;
            }
            let (db, plugins) = open(&config).await?;
            let state = Arc::new(AppState {
                plugins,
                db,
                config_path: cli.config.clone(),
            });
            server::serve(state, config.server.addr)
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
            println!(
                "configuration valid: {} plugins, {} intents",
                set.plugins().count(),
                set.registry().len()
            );
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
