//! Abuse limits on the OAuth endpoints.
//!
//! Request rates per client and per source address use `governor` in memory:
//! each instance enforces them on its own (documented in the README).
//!
//! Failed client authentications are counted in the database, so every
//! instance sees them: per presented client ID (well-formed ones only, known
//! or not) and per address; a malformed client ID counts against its address
//! alone, so nobody can make all unknown IDs share one count. Past a
//! threshold a *wrong* secret is answered 429 instead of 401. The right
//! secret still gets its token: client IDs are public and secrets carry 256
//! bits, so a lockout would protect nothing and would only let strangers
//! lock a credential's owner out.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::time::Duration;

use governor::clock::Clock as _;
use governor::middleware::NoOpMiddleware;
use governor::state::keyed::DefaultKeyedStateStore;
use governor::{Quota, RateLimiter};

use crate::auth::throttle;
use crate::clock::RateClock;
use crate::domain::ClientId;
use crate::storage::Conn;

pub const FAILURE_WINDOW_SECS: i64 = 5 * 60;
pub const MAX_FAILURES_PER_CLIENT: i64 = 20;
pub const MAX_FAILURES_PER_IP: i64 = 100;

type Limiter<K> =
    RateLimiter<K, DefaultKeyedStateStore<K>, RateClock, NoOpMiddleware<governor::nanos::Nanos>>;

pub struct TokenLimits {
    per_client: Limiter<String>,
    per_ip: Limiter<IpAddr>,
    clock: RateClock,
}

fn quota(per_second: u32) -> Quota {
    let rate = NonZeroU32::new(per_second.max(1)).unwrap_or(NonZeroU32::MIN);
    let burst = NonZeroU32::new(per_second.max(1).saturating_mul(2)).unwrap_or(NonZeroU32::MIN);
    Quota::per_second(rate).allow_burst(burst)
}

impl TokenLimits {
    /// Sustained requests per second per client ID and per address; bursts of twice that.
    /// Time is the app's `clock`.
    pub fn new(per_client: u32, per_ip: u32, clock: RateClock) -> TokenLimits {
        TokenLimits {
            per_client: RateLimiter::new(quota(per_client), Default::default(), clock.clone()),
            per_ip: RateLimiter::new(quota(per_ip), Default::default(), clock.clone()),
            clock,
        }
    }

    /// `Err(seconds to wait)` when the address is over its rate.
    pub fn check_ip(&self, ip: IpAddr) -> Result<(), u64> {
        self.per_ip
            .check_key(&ip)
            .map_err(|not_until| wait_secs(not_until.wait_time_from(self.clock.now())))
    }

    /// `Err(seconds to wait)` when the client is over its rate.
    pub fn check_client(&self, client_id: &str) -> Result<(), u64> {
        self.per_client
            .check_key(&client_id.to_owned())
            .map_err(|not_until| wait_secs(not_until.wait_time_from(self.clock.now())))
    }

    /// Forgets keys that have been quiet, so memory stays bounded.
    pub fn prune(&self) {
        self.per_client.retain_recent();
        self.per_ip.retain_recent();
    }
}

fn wait_secs(wait: Duration) -> u64 {
    wait.as_secs().max(1)
}

pub fn client_key(client_id: &ClientId) -> String {
    format!("client:{client_id}")
}

pub fn ip_key(ip: IpAddr) -> String {
    format!("token-ip:{ip}")
}

/// `Some(seconds)` while the presented client ID (if any) or the address has
/// failed too often.
pub async fn locked_out(
    conn: &mut Conn,
    client: Option<&str>,
    ip: &str,
    now: i64,
) -> anyhow::Result<Option<i64>> {
    let mut limits = vec![(ip, MAX_FAILURES_PER_IP)];
    limits.extend(client.map(|key| (key, MAX_FAILURES_PER_CLIENT)));
    throttle::wait_for(conn, &limits, FAILURE_WINDOW_SECS, now).await
}

// Failures must be kept at least as long as this window counts them.
const _: () = assert!(FAILURE_WINDOW_SECS <= throttle::KEEP_SECS);
