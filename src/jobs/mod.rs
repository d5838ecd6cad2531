//! Background work, one module per job. `keyward serve` starts each with
//! what it needs and a shutdown signal, and keeps its handle in [`Jobs`].
//!
//! On SIGTERM (or Ctrl-C) every job is told at once: it claims no new work,
//! finishes what it holds (the webhook send, the reminder, the backup in
//! hand), and ends. `serve` waits for them within the drain, while the
//! instance stops being ready; a job still running when the drain ends is
//! abandoned, and what it held comes back to be done again (a webhook
//! delivery's claim is a lease; a reminder is recorded in the transaction
//! that decides it). Jobs read the app's clock and call use cases for the
//! rules.

use std::future::Future;
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio::time::Interval;
pub use tokio_util::sync::CancellationToken;

pub mod backups;
pub mod housekeeping;
pub mod reminders;
pub mod webhooks;

/// The jobs a server runs, stopped together.
#[derive(Default)]
pub struct Jobs {
    shutdown: CancellationToken,
    running: Vec<(&'static str, JoinHandle<()>)>,
}

impl Jobs {
    /// The signal a job started for this server watches.
    pub fn shutdown(&self) -> CancellationToken {
        self.shutdown.child_token()
    }

    /// Keeps the handle of the job `name`, to await it at shutdown.
    pub fn add(&mut self, name: &'static str, handle: JoinHandle<()>) {
        self.running.push((name, handle));
    }

    /// Tells every job to stop and waits for them, at most `within`. One
    /// still running then is abandoned (and logged).
    pub async fn stop_within(self, within: Duration) {
        self.shutdown.cancel();
        let deadline = tokio::time::Instant::now() + within;
        for (name, mut handle) in self.running {
            match tokio::time::timeout_at(deadline, &mut handle).await {
                Ok(Ok(())) => {}
                Ok(Err(error)) => tracing::error!(job = name, error = %error, "a job failed"),
                Err(_) => {
                    handle.abort();
                    tracing::warn!(job = name, "a job did not finish within the drain");
                }
            }
        }
    }
}

/// Runs `round` at each tick of `ticks` until `shutdown`. A round under way
/// is finished first: the signal is looked at between rounds.
pub fn every<F, Fut>(
    mut ticks: Interval,
    shutdown: CancellationToken,
    mut round: F,
) -> JoinHandle<()>
where
    F: FnMut() -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    tokio::spawn(async move {
        loop {
            tokio::select! {
                biased;
                () = shutdown.cancelled() => break,
                _ = ticks.tick() => round().await,
            }
        }
    })
}

/// Ticks every `period`, the first one after a period (not at once).
pub fn after_each(period: Duration) -> Interval {
    tokio::time::interval_at(tokio::time::Instant::now() + period, period)
}
