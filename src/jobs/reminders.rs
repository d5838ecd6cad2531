//! Expiry reminders: every minute, the reminders due go out
//! (`service::expiry` decides which, and words and records each). Told to
//! stop, the job finishes the reminder in hand (its emails too) and leaves
//! the rest due, for the next round of this or another instance.

use std::time::Duration;

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::service::expiry;
use crate::state::AppState;

const PERIOD: Duration = Duration::from_secs(60);

/// Runs a round at once, then every minute, until `shutdown`.
pub fn start(app: AppState, shutdown: CancellationToken) -> JoinHandle<()> {
    let stop = shutdown.clone();
    super::every(tokio::time::interval(PERIOD), shutdown, move || {
        let (app, stop) = (app.clone(), stop.clone());
        async move {
            if let Err(error) = round(&app, &stop).await {
                tracing::warn!(
                    error = format!("{error:#}"),
                    "expiry reminders round failed"
                );
            }
        }
    })
}

/// One round, as tests drive it: sends what is due. Returns how many
/// reminders went out.
pub async fn run_once(app: &AppState) -> anyhow::Result<usize> {
    round(app, &CancellationToken::new()).await
}

async fn round(app: &AppState, stop: &CancellationToken) -> anyhow::Result<usize> {
    let mut sent = 0;
    for reminder in expiry::due(app).await? {
        if stop.is_cancelled() {
            break;
        }
        if expiry::remind(app, &reminder).await? {
            sent += 1;
        }
    }
    Ok(sent)
}
