use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::auth::PasswordHasher;
use crate::auth::api_limits::ApiLimits;
use crate::auth::leak_keys::LeakKeys;
use crate::auth::token_limits::TokenLimits;
use crate::clock::{Clock, RateClock, SystemClock};
use crate::config::Config;
use crate::keys::Keys;
use crate::mail::Mailer;
use crate::storage::Db;
use crate::webhook_client::{Guard, Sender};

/// Everything a handler may need, cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub db: Db,
    pub config: Arc<Config>,
    pub hasher: PasswordHasher,
    pub keys: Arc<Keys>,
    pub token_limits: Arc<TokenLimits>,
    pub api_limits: Arc<ApiLimits>,
    /// GitHub's secret-scanning keys, when the leak intake is on.
    pub leak_keys: Option<Arc<LeakKeys>>,
    pub clock: Arc<dyn Clock>,
    pub mailer: Mailer,
    /// The HTTP client of webhook deliveries, with its address guard
    /// (`keyward serve` checks it can be built before it gets here).
    pub webhook_sender: Option<Sender>,
    /// Set once the first organization exists; `/setup` is closed from then on.
    setup_done: Arc<AtomicBool>,
    /// Set when the process was asked to stop: `/readyz` answers 503 so a
    /// load balancer stops sending requests before the server stops.
    draining: Arc<AtomicBool>,
}

impl AppState {
    pub fn new(db: Db, config: Config, keys: Keys) -> Self {
        Self::with_clock(db, config, keys, Arc::new(SystemClock))
    }

    pub fn with_clock(db: Db, config: Config, keys: Keys, clock: Arc<dyn Clock>) -> Self {
        let workers = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2);
        let rate_clock = RateClock(clock.clone());
        let token_limits = Arc::new(TokenLimits::new(
            config.token_rate_per_client,
            config.token_rate_per_ip,
            rate_clock.clone(),
        ));
        // `keyward serve` checks the SMTP settings before it gets here.
        let mailer = match &config.smtp_url {
            Some(url) => Mailer::smtp(url, &config.smtp_from).unwrap_or_else(|error| {
                tracing::error!(error = format!("{error:#}"), "email is off");
                Mailer::none()
            }),
            None => Mailer::none(),
        };
        AppState {
            mailer,
            webhook_sender: Sender::new(Guard::new(config.webhook_allowed_networks.clone()))
                .map_err(|error| tracing::error!(error = format!("{error:#}"), "webhooks are off"))
                .ok(),
            token_limits,
            api_limits: Arc::new(ApiLimits::new(config.api_rate_per_minute, rate_clock)),
            // `keyward serve` checks the file before it gets here.
            leak_keys: config.leak_public_keys.as_deref().and_then(|path| {
                LeakKeys::load(path)
                    .map_err(|error| {
                        tracing::error!(error = format!("{error:#}"), "leak intake is off")
                    })
                    .ok()
                    .map(Arc::new)
            }),
            db,
            config: Arc::new(config),
            hasher: PasswordHasher::new(workers, keys.password_pepper()),
            keys: Arc::new(keys),
            clock,
            setup_done: Arc::new(AtomicBool::new(false)),
            draining: Arc::new(AtomicBool::new(false)),
        }
    }

    /// Marks the instance as stopping (see `/readyz`).
    pub fn start_draining(&self) {
        self.draining.store(true, Ordering::Relaxed);
    }

    pub fn is_draining(&self) -> bool {
        self.draining.load(Ordering::Relaxed)
    }

    pub fn now(&self) -> i64 {
        self.clock.unix()
    }

    /// Whether the first organization exists. Once true it stays true, so the
    /// database is asked only until then.
    pub async fn is_set_up(&self) -> anyhow::Result<bool> {
        if self.setup_done.load(Ordering::Relaxed) {
            return Ok(true);
        }
        let done = crate::storage::users::count(&mut self.db.acquire().await?).await? > 0;
        if done {
            self.setup_done.store(true, Ordering::Relaxed);
        }
        Ok(done)
    }
}
