//! Requests per minute per personal access token on `/api/v1`, in memory
//! with `governor` (each instance enforces its own, like the token endpoint's
//! rates), told to clients with the IETF `RateLimit-Policy` and `RateLimit`
//! fields (draft-ietf-httpapi-ratelimit-headers) and 429 with `Retry-After`.

use std::num::NonZeroU32;

use governor::clock::Clock as _;
use governor::middleware::StateInformationMiddleware;
use governor::state::keyed::DefaultKeyedStateStore;
use governor::{Quota, RateLimiter};

use crate::clock::RateClock;

type Limiter =
    RateLimiter<String, DefaultKeyedStateStore<String>, RateClock, StateInformationMiddleware>;

pub struct ApiLimits {
    per_token: Limiter,
    per_minute: u32,
    clock: RateClock,
}

/// What a request may be told about its token's quota.
#[derive(Debug, Clone)]
pub struct TokenQuota {
    /// Requests per minute.
    pub limit: u32,
    /// Requests left now.
    pub remaining: u32,
    /// Seconds until the quota is whole again (or, refused, until one request is allowed).
    pub reset: u64,
    /// Refused: wait this many seconds.
    pub retry_after: Option<u64>,
}

impl TokenQuota {
    /// `RateLimit-Policy` and `RateLimit` header values.
    pub fn headers(&self) -> (String, String) {
        (
            format!("\"per-token\";q={};w=60", self.limit),
            format!("\"per-token\";r={};t={}", self.remaining, self.reset),
        )
    }
}

impl ApiLimits {
    /// Time is the app's `clock`.
    pub fn new(per_minute: u32, clock: RateClock) -> ApiLimits {
        let per_minute = per_minute.max(1);
        let n = NonZeroU32::new(per_minute).unwrap_or(NonZeroU32::MIN);
        ApiLimits {
            per_token: Limiter::new(Quota::per_minute(n), Default::default(), clock.clone()),
            per_minute,
            clock,
        }
    }

    /// Counts one request of `token`.
    pub fn check(&self, token: &str) -> TokenQuota {
        let limit = self.per_minute;
        let refill = |missing: u32| (u64::from(missing) * 60).div_ceil(u64::from(limit));
        match self.per_token.check_key(&token.to_owned()) {
            Ok(state) => {
                let remaining = state.remaining_burst_capacity();
                TokenQuota {
                    limit,
                    remaining,
                    reset: refill(limit.saturating_sub(remaining)),
                    retry_after: None,
                }
            }
            Err(not_until) => {
                let wait = not_until.wait_time_from(self.clock.now()).as_secs().max(1);
                TokenQuota {
                    limit,
                    remaining: 0,
                    reset: wait,
                    retry_after: Some(wait),
                }
            }
        }
    }

    /// Forgets tokens that have been quiet, so memory stays bounded.
    pub fn prune(&self) {
        self.per_token.retain_recent();
    }
}
