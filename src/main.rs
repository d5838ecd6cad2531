use std::io::Read;
use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use keyward::config::{Config, Environment, parse_networks};
use keyward::domain::{Access, DisplayName, Email, Password};
use keyward::keys::Keys;
use keyward::storage::Db;
use keyward::{AppState, demo, random, service};
use tower_sessions::session_store::ExpiredDeletion;
use tracing_subscriber::EnvFilter;

/// Keyward: the console for your organization's API credentials.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    #[command(flatten)]
    settings: Settings,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Args)]
struct Settings {
    /// Address to listen on.
    #[arg(
        long,
        env = "KEYWARD_ADDR",
        default_value = "127.0.0.1:8080",
        global = true
    )]
    addr: SocketAddr,
    /// sqlite://FILE (the default) or postgres://USER@HOST/DB
    #[arg(
        long,
        env = "DATABASE_URL",
        default_value = "sqlite://keyward.db",
        global = true
    )]
    database_url: String,
    /// The server key file (created with mode 0600 when missing); `KEYWARD_KEY`
    /// (64 hex digits) takes its place when set.
    /// Default: `keyward.key` beside the SQLite database file.
    #[arg(long, env = "KEYWARD_KEY_FILE", global = true)]
    key_file: Option<PathBuf>,
    /// Public base URL: the token issuer; https makes cookies Secure.
    #[arg(long, env = "KEYWARD_PUBLIC_URL", global = true)]
    public_url: Option<String>,
    /// The API audience shown with each credential and put in tokens.
    #[arg(
        long,
        env = "KEYWARD_AUDIENCE",
        default_value = "https://api.keyward.test",
        global = true
    )]
    audience: String,
    /// sandbox (secrets start kws_test_) or production (kws_live_).
    #[arg(
        long,
        env = "KEYWARD_ENVIRONMENT",
        default_value = "sandbox",
        global = true
    )]
    environment: Environment,
    /// Comma-separated addresses or CIDR ranges whose X-Forwarded-For is believed.
    #[arg(
        long,
        env = "KEYWARD_TRUSTED_PROXIES",
        default_value = "",
        global = true
    )]
    trusted_proxies: String,
    /// Token endpoint requests per second per client ID (bursts of twice that).
    #[arg(
        long,
        env = "KEYWARD_TOKEN_RATE_PER_CLIENT",
        default_value_t = 20,
        global = true
    )]
    token_rate_per_client: u32,
    /// Token endpoint requests per second per source address.
    #[arg(
        long,
        env = "KEYWARD_TOKEN_RATE_PER_IP",
        default_value_t = 50,
        global = true
    )]
    token_rate_per_ip: u32,
    /// API requests per minute per personal access token.
    #[arg(
        long,
        env = "KEYWARD_API_RATE_PER_MINUTE",
        default_value_t = 600,
        global = true
    )]
    api_rate_per_minute: u32,
    /// SMTP server for invitation emails: smtp://host:port (add ?tls=required
    /// for STARTTLS) or smtps://user:password@host:465. Without it, the
    /// console shows invitation links to copy.
    #[arg(long, env = "KEYWARD_SMTP_URL", global = true, hide_env_values = true)]
    smtp_url: Option<String>,
    /// The sender of Keyward's emails.
    #[arg(
        long,
        env = "KEYWARD_SMTP_FROM",
        default_value = "Keyward <keyward@localhost>",
        global = true
    )]
    smtp_from: String,
    /// Who trial organizations contact to upgrade (an address, a URL, a team).
    #[arg(
        long,
        env = "KEYWARD_UPGRADE_CONTACT",
        default_value = "the people who run this Keyward server",
        global = true
    )]
    upgrade_contact: String,
    /// GitHub's secret-scanning public keys document, saved as a JSON file:
    /// turns on the leaked-secret intake at POST /leaks/github.
    #[arg(long, env = "KEYWARD_LEAK_PUBLIC_KEYS", global = true)]
    leak_public_keys: Option<std::path::PathBuf>,
    /// Comma-separated addresses or CIDR ranges that webhook deliveries may
    /// reach although they are loopback or private (by default none).
    #[arg(
        long,
        env = "KEYWARD_WEBHOOK_ALLOWED_NETWORKS",
        default_value = "",
        global = true
    )]
    webhook_allowed_networks: String,
    /// Development only: accept http:// webhook URLs to loopback hosts.
    #[arg(long, env = "KEYWARD_WEBHOOK_ALLOW_HTTP", global = true)]
    webhook_allow_http: bool,
    /// Seconds before the first retry of a failed webhook delivery; each
    /// retry waits twice as long (at most 12 hours), for 3 days.
    #[arg(
        long,
        env = "KEYWARD_WEBHOOK_RETRY_BASE_SECS",
        default_value_t = 5,
        value_parser = clap::value_parser!(i64).range(1..=3600),
        global = true
    )]
    webhook_retry_base_secs: i64,
    /// Seconds between a stop signal and the server's stop, while /readyz
    /// answers 503 so a load balancer drains this instance first.
    #[arg(
        long,
        env = "KEYWARD_SHUTDOWN_DRAIN_SECS",
        default_value_t = 5,
        value_parser = clap::value_parser!(u64).range(0..=300),
        global = true
    )]
    shutdown_drain_secs: u64,
    /// A folder for scheduled backups of the SQLite database (off when unset).
    #[arg(long, env = "KEYWARD_BACKUP_DIR", global = true)]
    backup_dir: Option<PathBuf>,
    /// How often a scheduled backup is taken: 30m, 6h, 1d…
    #[arg(
        long,
        env = "KEYWARD_BACKUP_EVERY",
        default_value = "1d",
        value_parser = keyward::backup::parse_every,
        global = true
    )]
    backup_every: std::time::Duration,
    /// How many scheduled backups are kept (the oldest go first).
    #[arg(
        long,
        env = "KEYWARD_BACKUP_KEEP",
        default_value_t = 7,
        value_parser = clap::value_parser!(u64).range(1..=1000),
        global = true
    )]
    backup_keep: u64,
    /// Where to serve Prometheus metrics at /metrics, apart from the
    /// console (off when unset), e.g. 127.0.0.1:9464.
    #[arg(long, env = "KEYWARD_METRICS_ADDR", global = true)]
    metrics_addr: Option<SocketAddr>,
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

impl Settings {
    fn config(&self) -> anyhow::Result<Config> {
        let public_url = self
            .public_url
            .clone()
            .unwrap_or_else(|| format!("http://{}", self.addr))
            .trim_end_matches('/')
            .to_owned();
        Ok(Config {
            addr: self.addr,
            database_url: self.database_url.clone(),
            key_file: self
                .key_file
                .clone()
                .unwrap_or_else(|| default_key_file(&self.database_url)),
            public_url,
            audience: self.audience.clone(),
            environment: self.environment,
            trusted_proxies: parse_networks(&self.trusted_proxies).map_err(anyhow::Error::msg)?,
            token_rate_per_client: self.token_rate_per_client,
            token_rate_per_ip: self.token_rate_per_ip,
            api_rate_per_minute: self.api_rate_per_minute,
            smtp_url: self.smtp_url.clone().filter(|url| !url.is_empty()),
            smtp_from: self.smtp_from.clone(),
            upgrade_contact: self.upgrade_contact.clone(),
            leak_public_keys: self.leak_public_keys.clone(),
            webhook_allowed_networks: parse_networks(&self.webhook_allowed_networks)
                .map_err(|e| anyhow::anyhow!("KEYWARD_WEBHOOK_ALLOWED_NETWORKS: {e}"))?,
            webhook_allow_http: self.webhook_allow_http,
            webhook_retry_base_secs: self.webhook_retry_base_secs,
        })
    }
}

/// `keyward.key` in the directory of a `sqlite:` database file, else in the
/// working directory.
fn default_key_file(database_url: &str) -> PathBuf {
    let file = database_url
        .strip_prefix("sqlite://")
        .or_else(|| database_url.strip_prefix("sqlite:"))
        .map(|rest| rest.split('?').next().unwrap_or(""))
        .filter(|path| !path.is_empty() && *path != ":memory:");
    match file.and_then(|path| std::path::Path::new(path).parent()) {
        Some(dir) if !dir.as_os_str().is_empty() => dir.join("keyward.key"),
        _ => PathBuf::from("keyward.key"),
    }
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
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn"));
    // Read before the flags, so that their own errors are logged as asked.
    match std::env::var("KEYWARD_LOG_FORMAT").as_deref() {
        Ok("json") => tracing_subscriber::fmt()
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .with_env_filter(filter)
            .init(),
        Ok("text") | Ok("") | Err(_) => tracing_subscriber::fmt().with_env_filter(filter).init(),
        Ok(other) => anyhow::bail!("KEYWARD_LOG_FORMAT must be text or json, not `{other}`"),
    }
    let cli = Cli::parse();
    let config = cli.settings.config()?;
    let drain_secs = cli.settings.shutdown_drain_secs;
    let metrics_addr = cli.settings.metrics_addr;
    let schedule = cli.settings.backup_dir.clone().map(|dir| {
        (
            dir,
            cli.settings.backup_every,
            cli.settings.backup_keep as usize,
        )
    });
    let command = cli.command.unwrap_or(Command::Serve { demo: false });
    if let Command::Health { path } = &command {
        return health(config.addr, path).await;
    }
    // A restore replaces the database file: nothing may have it open.
    if let Command::Restore { file } = &command {
        keyward::backup::restore(&config.database_url, file).await?;
        println!("restored {} from {}", config.database_url, file.display());
        return Ok(());
    }
    // Running servers share this lock; a restore needs it alone.
    let _server_lock = match command {
        Command::Serve { .. } => keyward::backup::hold(&config.database_url)?,
        _ => None,
    };
    let db = Db::connect(&config.database_url).await?;
    if let Command::Backup { file } = &command {
        keyward::backup::backup(&db, &config.database_url, file).await?;
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
        &config.key_file,
        std::env::var("KEYWARD_KEY").ok().as_deref(),
    )?;
    if let Some(url) = &config.smtp_url {
        keyward::mail::Mailer::smtp(url, &config.smtp_from)?;
    }
    if let Some(path) = &config.leak_public_keys {
        keyward::auth::leak_keys::LeakKeys::load(path)?;
    }
    let state = AppState::new(db, config, keys);
    match command {
        Command::Serve { demo } => {
            if let Some((dir, every, keep)) = schedule {
                if keyward::backup::sqlite_file(&state.config.database_url).is_none() {
                    anyhow::bail!(
                        "KEYWARD_BACKUP_DIR is for the SQLite database; back PostgreSQL up with pg_dump"
                    );
                }
                keyward::backup::spawn_schedule(
                    state.db.clone(),
                    state.config.database_url.clone(),
                    dir,
                    every,
                    keep,
                );
            }
            if let Some(addr) = metrics_addr {
                let handle = keyward::telemetry::install()?;
                keyward::telemetry::serve(addr, handle, state.db.clone()).await?;
            }
            serve(state, demo, drain_secs).await
        }
        Command::Migrate
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

async fn serve(state: AppState, demo: bool, drain_secs: u64) -> anyhow::Result<()> {
    if demo {
        let (password, generated) = match std::env::var("KEYWARD_DEMO_PASSWORD") {
            Ok(p) if !p.is_empty() => (p, false),
            _ => (random::token(16), true),
        };
        demo::seed(&state, &password).await?;
        // On standard error: standard output is the log, one JSON object a
        // line with KEYWARD_LOG_FORMAT=json.
        eprintln!(
            "Demo data ready. Sign in as owner@acme.test, admin@acme.test, viewer@acme.test,"
        );
        eprintln!("owner@globex.test or support@keyward.test with the password:");
        if generated {
            eprintln!("    {password}    (set KEYWARD_DEMO_PASSWORD to choose it)");
        } else {
            eprintln!("    the value of KEYWARD_DEMO_PASSWORD");
        }
    }
    let addr = state.config.addr;
    let public_url = state.config.public_url.clone();
    let store = keyward::http::session_store(&state).await?;
    // Expired sessions are deleted hourly, so the table does not grow without end.
    tokio::spawn(
        store
            .clone()
            .continuously_delete_expired(tokio::time::Duration::from_secs(3600)),
    );
    // Rate-limit state of quiet clients, addresses and tokens is forgotten every minute.
    let (limits, api_limits) = (state.token_limits.clone(), state.api_limits.clone());
    tokio::spawn(async move {
        let mut every = tokio::time::interval(std::time::Duration::from_secs(60));
        loop {
            every.tick().await;
            limits.prune();
            api_limits.prune();
        }
    });
    keyward::webhooks::spawn(state.clone());
    service::expiry::spawn(state.clone());
    let draining = state.clone();
    let drain = std::time::Duration::from_secs(drain_secs);
    let router = keyward::app(state, store);
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr}"))?;
    tracing::info!(%addr, "Keyward is listening; open {public_url}");
    axum::serve(
        listener,
        router.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(async move {
        shutdown_signal().await;
        draining.start_draining();
        tracing::info!(seconds = drain.as_secs(), "draining: /readyz answers 503");
        tokio::time::sleep(drain).await;
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
