//! Housekeeping: expired sessions are deleted hourly, so the table does not
//! grow without end; the rate-limit state of quiet clients, addresses and
//! tokens is forgotten every minute, so memory stays bounded.

use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tower_sessions::session_store::ExpiredDeletion;

use super::{after_each, every};
use crate::auth::api_limits::ApiLimits;
use crate::auth::token_limits::TokenLimits;
use crate::storage::sessions::Sessions;

/// Deletes expired sessions every hour until `shutdown`.
pub fn sessions(store: Sessions, shutdown: CancellationToken) -> JoinHandle<()> {
    every(after_each(Duration::from_secs(3600)), shutdown, move || {
        let store = store.clone();
        async move {
            if let Err(error) = store.delete_expired().await {
                tracing::warn!(error = %error, "deleting expired sessions failed");
            }
        }
    })
}

/// Forgets quiet rate-limit keys every minute until `shutdown`.
pub fn limits(
    tokens: Arc<TokenLimits>,
    api: Arc<ApiLimits>,
    shutdown: CancellationToken,
) -> JoinHandle<()> {
    every(after_each(Duration::from_secs(60)), shutdown, move || {
        tokens.prune();
        api.prune();
        std::future::ready(())
    })
}
