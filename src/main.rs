use std::io::Read;
use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};

use keyward::domain::{Access, DisplayName, Email, Password};
use keyward::jobs::webhooks::Deliveries;
use keyward::jobs::{self, Jobs};
use keyward::keys::Keys;
use keyward::settings::LogFormat;
use keyward::storage::Db;
use keyward::{AppState, demo, random, service};
use tracing_subscriber::EnvFilter;

/// Keyward: the console for your organization's API credentials.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    /// The configuration file (TOML); every key in it can be overridden by
    /// its KEYWARD_* variable, and those by flags. `keyward config reference`
    /// lists them.
    #[arg(long, env = "KEYWARD_CONFIG", global = true)]
    config: Option<PathBuf>,
    #[command(flatten)]
    flags: Flags,
    #[command(subcommand)]
    command: Option<Command>,
}

/// Command-line flags: the top layer, over `keyward.toml` and the
/// environment (see `keyward::settings`). Each names its setting's key.
#[derive(Args, serde::Serialize, Default)]
struct Flags {
    /// Address to listen on [addr, KEYWARD_ADDR].
    #[arg(long, global = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    addr: Option<SocketAddr>,
    /// sqlite://FILE or postgres://USER@HOST/DB [database_url, DATABASE_URL].
    #[arg(long, global = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    database_url: Option<String>,
    /// The server key file [key_file, KEYWARD_KEY_FILE].
    #[arg(long, global = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    key_file: Option<PathBuf>,
    /// Public base URL [public_url, KEYWARD_PUBLIC_URL].
    #[arg(long, global = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    public_url: Option<String>,
    /// sandbox or production [environment, KEYWARD_ENVIRONMENT].
    #[arg(long, global = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    environment: Option<String>,
    /// Prometheus metrics address [metrics_addr, KEYWARD_METRICS_ADDR].
    #[arg(long, global = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    metrics_addr: Option<SocketAddr>,
    /// text or json [log_format, KEYWARD_LOG_FORMAT].
    #[arg(long, global = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    log_format: Option<String>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server (the default).
    Serve {
        /// Seed the demo organizations and users.
        #[arg(long)]
        demo: bool,
    },
    /// Apply database migrations and exit.
    Migrate,
    /// The settings: `check` validates them and prints the effective values
    /// (secrets redacted); `reference` prints the table of every setting.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Ask the server at KEYWARD_ADDR whether it answers (a container's
    /// HEALTHCHECK): exit status 0 when PATH answers 200.
    Health {
        #[arg(long, default_value = "/healthz")]
        path: String,
    },
    /// Write a consistent copy of the SQLite database to FILE, while the
    /// server runs. The key file is not in it: back it up separately.
    Backup {
        /// Where to write it; must not exist.
        file: PathBuf,
    },
    /// Replace the SQLite database with the backup FILE, after checking
    /// it. Refused while a server uses the database.
    Restore { file: PathBuf },
    /// Manage users from scripts.
    #[command(subcommand)]
    User(UserCommand),
    /// Manage personal access tokens from scripts.
    #[command(subcommand)]
    Token(TokenCommand),
}

#[derive(Subcommand)]
enum ConfigCommand {
    Check,
    Reference,
}

#[derive(Subcommand)]
enum TokenCommand {
    /// Make a personal access token for a user and print it (once) on
    /// standard output, as the Account page would show it.
    Add {
        /// The user it acts as.
        #[arg(long)]
        email: String,
        /// Their organization (by name).
        #[arg(long)]
        org: String,
        /// What it is for, e.g. "ci deploy".
        #[arg(long)]
        name: String,
        /// read, or write (needs Can Edit).
        #[arg(long, default_value = "read")]
        access: String,
        /// Days until it expires (at most 365).
        #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(i64).range(1..=365))]
        days: i64,
    },
}

#[derive(Subcommand)]
enum UserCommand {
    /// Add a user; the password is read from standard input.
    Add {
        #[arg(long)]
        email: String,
        #[arg(long)]
        name: String,
        /// Make the user platform support staff (read-only in every organization).
        #[arg(long)]
        support: bool,
        /// Add the user to this organization (by name)...
        #[arg(long, requires = "role")]
        org: Option<String>,
        /// ...with this role: owner, admin-edit or admin-view.
        #[arg(long, requires = "org")]
        role: Option<String>,
    },
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    match run().await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            // A plain message for people and scripts, not a backtrace.
            eprintln!("keyward: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run() -> anyhow::Result<()> {
    let cli = Cli::parse();
    if let Some(Command::Config(ConfigCommand::Reference)) = &cli.command {
        print!("{}", keyward::settings::reference_table());
        return Ok(());
    }
    let settings = keyward::settings::load(
        cli.config.as_deref(),
        figment::providers::Serialized::globals(&cli.flags),
    )?;
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn"));
    if settings.log_format == LogFormat::Json {
        tracing_subscriber::fmt()
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .with_env_filter(filter)
            .with_writer(std::io::stderr)
            .init();
    } else {
        tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_writer(std::io::stderr)
            .init();
    }
    if let Some(Command::Config(ConfigCommand::Check)) = &cli.command {
        match &cli.config {
            Some(path) => println!(
                "# {} with the environment and flags over it",
                path.display()
            ),
            None => println!("# defaults with the environment and flags over them"),
        }
        print!("{}", settings.redacted());
        return Ok(());
    }
    let command = cli.command.unwrap_or(Command::Serve { demo: false });
    if let Command::Health { path } = &command {
        return health(settings.addr, path).await;
    }
    // A restore replaces the database file: nothing may have it open.
    if let Command::Restore { file } = &command {
        keyward::backup::restore(&settings.database_url, file).await?;
        println!("restored {} from {}", settings.database_url, file.display());
        return Ok(());
    }
    // Running servers share this lock; a restore needs it alone.
    let _server_lock = match command {
        Command::Serve { .. } => keyward::backup::hold(&settings.database_url)?,
        _ => None,
    };
    let db = Db::connect(&settings.database_url).await?;
    if let Command::Backup { file } = &command {
        keyward::backup::backup(&db, &settings.database_url, file).await?;
        println!(
            "backed up to {} (the key file is not in it: keep it separately)",
            file.display()
        );
        return Ok(());
    }
    if let Command::Migrate = command {
        // Migrating needs no server key, so none is created for it.
        println!("migrations applied");
        return Ok(());
    }
    let keys = Keys::load_or_create(
        &settings.key_file,
        std::env::var("KEYWARD_KEY").ok().as_deref(),
    )?;
    let state = AppState::new(db, settings, keys)?;
    match command {
        Command::Serve { demo } => {
            if state.config.backup.dir.is_some()
                && keyward::backup::sqlite_file(&state.config.database_url).is_none()
            {
                anyhow::bail!(
                    "KEYWARD_BACKUP_DIR is for the SQLite database; back PostgreSQL up with pg_dump"
                );
            }
            if let Some(addr) = state.config.metrics_addr {
                let handle = keyward::telemetry::install()?;
                keyward::telemetry::serve(addr, handle, state.db.clone()).await?;
            }
            serve(state, demo).await
        }
        Command::Migrate
        | Command::Config(_)
        | Command::Backup { .. }
        | Command::Restore { .. }
        | Command::Health { .. } => Ok(()),
        Command::User(UserCommand::Add {
            email,
            name,
            support,
            org,
            role,
        }) => add_user(&state, &email, &name, support, org.zip(role)).await,
        Command::Token(TokenCommand::Add {
            email,
            org,
            name,
            access,
            days,
        }) => add_token(&state, &email, &org, &name, &access, days).await,
    }
}

async fn health(addr: SocketAddr, path: &str) -> anyhow::Result<()> {
    let mut addr = addr;
    if addr.ip().is_unspecified() {
        addr.set_ip(std::net::IpAddr::from([127, 0, 0, 1]));
    }
    let url = format!("http://{addr}{path}");
    let answer = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(5))
        .no_proxy()
        .build()?
        .get(&url)
        .send()
        .await
        .with_context(|| format!("{url} does not answer"))?;
    anyhow::ensure!(
        answer.status().is_success(),
        "{url} answered {}",
        answer.status()
    );
    Ok(())
}

async fn add_token(
    state: &AppState,
    email: &str,
    org: &str,
    name: &str,
    access: &str,
    days: i64,
) -> anyhow::Result<()> {
    use keyward::domain::api_token::{TokenAccess, TokenName};
    let access = TokenAccess::parse(access).context("--access must be read or write")?;
    let name = TokenName::parse(name).map_err(|e| anyhow::anyhow!(e.message))?;
    let (user, org_id) = service::setup::find_member(state, email, org).await?;
    let draft = service::api_tokens::Draft {
        name,
        org: org_id,
        access,
        expires_at: state.now() + days * 86_400,
    };
    let origin = service::Origin {
        ip: std::net::IpAddr::from([127, 0, 0, 1]),
        user_agent: Some("keyward token add".to_owned()),
    };
    let token = service::api_tokens::create(state, &user, &draft, &origin).await?;
    println!("{}", token.expose());
    Ok(())
}

async fn serve(state: AppState, demo: bool) -> anyhow::Result<()> {
    if demo {
        let (password, generated) = match std::env::var("KEYWARD_DEMO_PASSWORD") {
            Ok(p) if !p.is_empty() => (p, false),
            _ => (random::token(16), true),
        };
        demo::seed(&state, &password).await?;
        // On standard output, as every command's result: the log is on
        // standard error (one JSON object a line with KEYWARD_LOG_FORMAT=json).
        println!("Demo data ready. Sign in as owner@acme.test, admin@acme.test, viewer@acme.test,");
        println!("owner@globex.test or support@keyward.test with the password:");
        if generated {
            println!("    {password}    (set KEYWARD_DEMO_PASSWORD to choose it)");
        } else {
            println!("    the value of KEYWARD_DEMO_PASSWORD");
        }
    }
    let addr = state.config.addr;
    let public_url = state.config.public_url.clone();
    let store = keyward::http::session_store(&state).await?;
    // Listening first: a server that cannot start claims no work.
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr}"))?;
    let mut running = Jobs::default();
    running.add(
        "sessions",
        jobs::housekeeping::sessions(store.clone(), running.shutdown()),
    );
    running.add(
        "rate limits",
        jobs::housekeeping::limits(
            state.token_limits.clone(),
            state.api_limits.clone(),
            running.shutdown(),
        ),
    );
    running.add(
        "webhook deliveries",
        jobs::webhooks::start(Deliveries::from(&state), running.shutdown()),
    );
    running.add(
        "expiry reminders",
        jobs::reminders::start(state.clone(), running.shutdown()),
    );
    if let Some(dir) = &state.config.backup.dir {
        let (db, url) = (state.db.clone(), state.config.database_url.clone());
        let (every, keep) = (
            state.config.backup.every.0,
            state.config.backup.keep as usize,
        );
        running.add(
            "backups",
            jobs::backups::start(db, url, dir.clone(), every, keep, running.shutdown()),
        );
    }
    let draining = state.clone();
    let drain = std::time::Duration::from_secs(state.config.shutdown_drain_secs);
    let router = keyward::app(state, store);
    tracing::info!(%addr, "Keyward is listening; open {public_url}");
    axum::serve(
        listener,
        router.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(async move {
        shutdown_signal().await;
        draining.start_draining();
        tracing::info!(seconds = drain.as_secs(), "draining: /readyz answers 503");
        // The jobs stop claiming work at once and have the drain to finish
        // what they hold.
        tokio::join!(running.stop_within(drain), tokio::time::sleep(drain));
        tracing::info!("shutting down: finishing requests in flight");
    })
    .await?;
    tracing::info!("stopped");
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
}

async fn add_user(
    state: &AppState,
    email: &str,
    name: &str,
    support: bool,
    membership: Option<(String, String)>,
) -> anyhow::Result<()> {
    let email = Email::parse(email).map_err(|e| anyhow::anyhow!(e.message))?;
    let name = DisplayName::parse(name).map_err(|e| anyhow::anyhow!(e.message))?;
    let mut raw = String::new();
    std::io::stdin()
        .read_to_string(&mut raw)
        .context("reading the password from standard input")?;
    let password = Password::parse(raw.trim_end_matches(['\r', '\n']))
        .map_err(|e| anyhow::anyhow!(e.message))?;
    let membership = match &membership {
        Some((org, role)) => Some((
            org.as_str(),
            Access::parse_choice(role).context("--role must be owner, admin-edit or admin-view")?,
        )),
        None => None,
    };
    service::setup::add_user(state, &email, &name, &password, support, membership).await?;
    println!("added {email}");
    Ok(())
}
