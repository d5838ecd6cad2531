//! Webhook delivery: the worker that empties the outbox.
//!
//! Every instance runs one. It claims due deliveries with a lease
//! (`storage::deliveries::claim_due`: `FOR UPDATE SKIP LOCKED` on PostgreSQL),
//! fairly: round robin across organizations and their endpoints, with at
//! most [`PER_ENDPOINT`] deliveries in flight per endpoint and
//! [`PER_ORGANIZATION`] per organization, on every instance together. Each
//! send runs as a task of its own, and the worker claims again as soon as
//! one ends or every [`POLL`]: a receiver that never answers holds its own
//! endpoint's share for 10 seconds, never another endpoint's delivery.
//!
//! The outcome is recorded per attempt: delivered on a 2xx answer, failed at
//! once for an address the guard refuses, otherwise retried with
//! exponential backoff and jitter until three days after the event. Told to
//! stop, the worker claims nothing more and finishes the sends it holds. A
//! delivery whose instance dies (or gives up waiting) mid-send is claimed
//! again once its lease ends: at least once, and with healthy instances
//! exactly once.

use std::sync::Arc;
use std::time::Duration;

use futures_util::future::join_all;
use tokio::task::{JoinHandle, JoinSet};
use tokio_util::sync::CancellationToken;

use crate::clock::Clock;
use crate::domain::webhook::{self, DeliveryError, SigningSecret};
use crate::keys::Keys;
use crate::state::AppState;
use crate::storage::Db;
use crate::storage::deliveries::{self as repo, AttemptOutcome, Attempted, Due, Fairness};
use crate::webhook_client::{Answer, Sender, seal_context, signed_headers};

/// How long a claimed delivery is reserved for the instance sending it:
/// far longer than one send takes (at most the client's timeout, then
/// recording).
const LEASE_SECS: i64 = 120;
/// At most this many deliveries of one endpoint are in flight at once.
pub const PER_ENDPOINT: i64 = 4;
/// At most this many deliveries of one organization are in flight at once.
pub const PER_ORGANIZATION: i64 = 8;
/// At most this many sends run at once on one instance.
const MAX_IN_FLIGHT: usize = 64;
/// What [`Deliveries::run_once`] claims in one round.
const BATCH: i64 = 10;
/// How often the worker looks for due deliveries when no send ended: a
/// delivery queued meanwhile goes out within this (well under a second).
const POLL: Duration = Duration::from_millis(500);

/// What the worker needs: the outbox, the key that opens the signing
/// secrets, the clock, the HTTP client and the retry policy.
#[derive(Clone)]
pub struct Deliveries {
    pub db: Db,
    pub keys: Arc<Keys>,
    pub clock: Arc<dyn Clock>,
    pub sender: Sender,
    pub retry_base_secs: i64,
}

impl From<&AppState> for Deliveries {
    fn from(app: &AppState) -> Deliveries {
        Deliveries {
            db: app.db.clone(),
            keys: app.keys.clone(),
            clock: app.clock.clone(),
            sender: app.webhook_sender.clone(),
            retry_base_secs: app.config.webhook.retry_base_secs,
        }
    }
}

/// Runs the worker until `shutdown`, then finishes the sends in hand.
pub fn start(deliveries: Deliveries, shutdown: CancellationToken) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut sending = JoinSet::new();
        while !shutdown.is_cancelled() {
            let room = MAX_IN_FLIGHT.saturating_sub(sending.len());
            if room > 0 {
                match deliveries.claim(room as i64).await {
                    Ok(due) => {
                        for due in due {
                            let deliveries = deliveries.clone();
                            sending.spawn(async move { deliveries.attempt_logged(due).await });
                        }
                    }
                    Err(error) => {
                        tracing::warn!(error = format!("{error:#}"), "claiming webhooks failed")
                    }
                }
            }
            // Claim again when a send ends (its endpoint may have more), or
            // after the poll interval for deliveries that became due.
            tokio::select! {
                () = shutdown.cancelled() => {}
                Some(_) = sending.join_next(), if !sending.is_empty() => {}
                _ = tokio::time::sleep(POLL) => {}
            }
            // One claim for every send that ended meanwhile.
            while sending.try_join_next().is_some() {}
        }
        // Each send ends within the client's timeout; its outcome is recorded.
        while sending.join_next().await.is_some() {}
    })
}

impl Deliveries {
    async fn claim(&self, limit: i64) -> anyhow::Result<Vec<Due>> {
        let fairness = Fairness {
            limit,
            per_endpoint: PER_ENDPOINT,
            per_org: PER_ORGANIZATION,
        };
        let mut conn = self.db.acquire().await?;
        repo::claim_due(&mut conn, self.clock.unix(), LEASE_SECS, fairness).await
    }

    /// One round, as tests drive it: claims due deliveries (fairly, as the
    /// worker does), sends them, and returns once every outcome is recorded.
    /// Returns how many were attempted.
    pub async fn run_once(&self) -> anyhow::Result<usize> {
        let due = self.claim(BATCH).await?;
        let count = due.len();
        let results = join_all(due.into_iter().map(|d| self.attempt(d))).await;
        for result in results {
            result?;
        }
        Ok(count)
    }

    async fn attempt_logged(&self, due: Due) {
        if let Err(error) = self.attempt(due).await {
            tracing::warn!(
                error = format!("{error:#}"),
                "recording a webhook attempt failed"
            );
        }
    }

    async fn attempt(&self, due: Due) -> anyhow::Result<()> {
        let mut conn = self.db.acquire().await?;
        let Some(endpoint) = repo::endpoint_of(&mut conn, due.endpoint_id).await? else {
            return Ok(()); // deleted meanwhile: its deliveries went with it
        };
        drop(conn);
        // The attempt's own time, which receivers compare with their clock.
        let now = self.clock.unix();
        let context = seal_context(endpoint.organization_id);
        let mut secrets = vec![endpoint.secret.clone()];
        if endpoint.previous_until.is_some_and(|until| until > now) {
            secrets.extend(endpoint.previous_secret.clone());
        }
        let secrets: Vec<SigningSecret> = secrets
            .iter()
            .filter_map(|sealed| self.keys.open(sealed, &context))
            .map(SigningSecret::from_stored)
            .collect();
        let headers = signed_headers(&secrets, &due.message_id, now, &due.payload);
        let answer = if secrets.is_empty() {
            Answer::refused(DeliveryError::SecretUnreadable)
        } else {
            self.sender
                .post(&endpoint.url, &headers, due.payload.clone())
                .await
        };
        let now = self.clock.unix();
        let outcome = match answer.error {
            None => AttemptOutcome::Delivered,
            Some(error) if !error.is_retried() => AttemptOutcome::GaveUp,
            Some(_) => {
                let wait =
                    webhook::retry_wait(self.retry_base_secs, due.attempts, rand::random::<f64>());
                if now + wait > due.give_up_at {
                    AttemptOutcome::GaveUp
                } else {
                    AttemptOutcome::RetryAt(now + wait)
                }
            }
        };
        crate::telemetry::webhook_delivery(match outcome {
            AttemptOutcome::Delivered => "delivered",
            AttemptOutcome::RetryAt(_) => "retry",
            AttemptOutcome::GaveUp => "failed",
        });
        let attempted = Attempted {
            claimed_until: due.locked_until,
            response_status: answer.status.map(i64::from),
            error: answer.error,
            outcome,
        };
        let mut conn = self.db.acquire().await?;
        repo::record_attempt(&mut conn, &due, &attempted, now, webhook::FAILING_AFTER).await
    }
}
