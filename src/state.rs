use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::auth::PasswordHasher;
use crate::auth::api_limits::ApiLimits;
use crate::auth::leak_keys::LeakKeys;
use crate::auth::token_limits::TokenLimits;
use crate::clock::{Clock, RateClock, SystemClock};
use crate::keys::Keys;
use crate::mail::Mailer;
use crate::settings::Settings;
use crate::storage::Db;
use crate::webhook_client::{Guard, Sender};

/// Everything a handler may need, cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub db: Db,
    pub config: Arc<Settings>,
    pub hasher: PasswordHasher,
    pub keys: Arc<Keys>,
    pub token_limits: Arc<TokenLimits>,
    pub api_limits: Arc<ApiLimits>,
    /// GitHub's secret-scanning keys, when the leak intake is on.
    pub leak_keys: Option<Arc<LeakKeys>>,
    pub clock: Arc<dyn Clock>,
    pub mailer: Mailer,
    /// The HTTP client of webhook deliveries, with its address guard.
    pub webhook_sender: Sender,
    /// Set once the first organization exists; `/setup` is closed from then on.
    setup_done: Arc<AtomicBool>,
    /// Set when the process was asked to stop: `/readyz` answers 503 so a
    /// load balancer stops sending requests before the server stops.
    draining: Arc<AtomicBool>,
}

impl AppState {
    /// The state of a server: builds each component the settings name
    /// (the mailer, the webhook client, the leak keys) once, and fails,
    /// naming the setting, when one cannot be built.
    pub fn new(db: Db, settings: Settings, keys: Keys) -> anyhow::Result<Self> {
        Self::with_clock(db, settings, keys, Arc::new(SystemClock))
    }

    pub fn with_clock(
        db: Db,
        settings: Settings,
        keys: Keys,
        clock: Arc<dyn Clock>,
    ) -> anyhow::Result<Self> {
        let workers = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2);
        let rate_clock = RateClock(clock.clone());
        let mailer = match &settings.smtp_url {
            Some(url) => Mailer::smtp(url, &settings.smtp_from)?,
            None => Mailer::none(),
        };
        let webhook_sender = Sender::new(Guard::new(settings.webhook.allowed_networks.to_vec()))?;
        let leak_keys = match settings.leak_public_keys.as_deref() {
            Some(path) => Some(Arc::new(LeakKeys::load(path)?)),
            None => None,
        };
        Ok(AppState {
            mailer,
            webhook_sender,
            token_limits: Arc::new(TokenLimits::new(
                settings.token_rate_per_client,
                settings.token_rate_per_ip,
                rate_clock.clone(),
            )),
            api_limits: Arc::new(ApiLimits::new(settings.api_rate_per_minute, rate_clock)),
            leak_keys,
            db,
            config: Arc::new(settings),
            hasher: PasswordHasher::new(workers, keys.password_pepper()),
            keys: Arc::new(keys),
            clock,
            setup_done: Arc::new(AtomicBool::new(false)),
            draining: Arc::new(AtomicBool::new(false)),
        })
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
