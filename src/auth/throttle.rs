//! Sign-in throttling: past a few failures for one account, or many from one
//! address, sign-in is refused for a while without even checking the password.
//! The account key is the typed email whether or not such a user exists, so
//! the throttle reveals nothing about which accounts exist.

use std::net::IpAddr;

use crate::domain::Email;
use crate::storage::Db;

pub const WINDOW_SECS: i64 = 15 * 60;
pub const MAX_PER_ACCOUNT: i64 = 5;
pub const MAX_PER_IP: i64 = 20;

pub fn account_key(email: &str) -> String {
    // Normalise the same way as stored emails, so "A@x" and "a@x" share a count.
    let normal = Email::parse(email)
        .map(|e| e.as_str().to_owned())
        .unwrap_or_else(|_| email.trim().to_lowercase());
    format!("email:{normal}")
}

pub fn ip_key(ip: IpAddr) -> String {
    format!("ip:{ip}")
}

/// `Some(seconds to wait)` when either key is over its limit.
pub async fn retry_after(
    db: &Db,
    account: &str,
    ip: &str,
    now: i64,
) -> anyhow::Result<Option<i64>> {
    let since = now - WINDOW_SECS;
    let mut wait = None;
    for (key, max) in [(account, MAX_PER_ACCOUNT), (ip, MAX_PER_IP)] {
        let (count, oldest) = db.failures_since(key, since).await?;
        if count >= max {
            let until = oldest.unwrap_or(now) + WINDOW_SECS;
            let secs = (until - now).max(1);
            wait = Some(wait.map_or(secs, |w: i64| w.max(secs)));
        }
    }
    Ok(wait)
}

pub async fn record_failure(db: &Db, account: &str, ip: &str, now: i64) -> anyhow::Result<()> {
    db.record_failure(&[account, ip], now, now - WINDOW_SECS)
        .await
}
