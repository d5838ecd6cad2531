//! Sign-in throttling: past a few failures for one account, or many from one
//! address, sign-in is refused for a while without even checking the password.
//! The account key is the typed email whether or not such a user exists, so
//! the throttle reveals nothing about which accounts exist.

use std::net::IpAddr;

use crate::domain::Email;
use crate::storage::{Conn, throttle as failures};

pub const WINDOW_SECS: i64 = 15 * 60;
pub const MAX_PER_ACCOUNT: i64 = 5;
pub const MAX_PER_IP: i64 = 20;

pub fn account_key(email: &str) -> String {
    // Normalise the same way as stored emails, so "A@x" and "a@x" share a count.
    // Whatever was typed, within what any database stores: no control
    // characters, at most 254 characters.
    let normal = Email::parse(email)
        .map(|e| e.as_str().to_owned())
        .unwrap_or_else(|_| {
            email
                .trim()
                .to_lowercase()
                .chars()
                .filter(|c| !c.is_control())
                .take(254)
                .collect()
        });
    format!("email:{normal}")
}

pub fn ip_key(ip: IpAddr) -> String {
    format!("ip:{ip}")
}

/// `Some(seconds to wait)` when either key is over its limit.
/// Failures are kept this long: the longest window of any limit that counts
/// them (sign-in here, the token endpoint in `token_limits`).
pub const KEEP_SECS: i64 = WINDOW_SECS;

/// `Some(seconds to wait)` when any key has `max` or more failures in the
/// last `window` seconds: until its oldest failure leaves the window.
pub async fn wait_for(
    conn: &mut Conn,
    limits: &[(&str, i64)],
    window: i64,
    now: i64,
) -> anyhow::Result<Option<i64>> {
    let mut wait = None;
    for &(key, max) in limits {
        let (count, oldest) = failures::failures_since(conn, key, now - window).await?;
        if count >= max {
            let secs = (oldest.unwrap_or(now) + window - now).max(1);
            wait = Some(wait.map_or(secs, |w: i64| w.max(secs)));
        }
    }
    Ok(wait)
}

/// Records a failure for each key. Forgetting is by `KEEP_SECS`, never by a
/// caller's shorter window, so one limit cannot erase another's memory.
pub async fn record_failure(conn: &mut Conn, keys: &[&str], now: i64) -> anyhow::Result<()> {
    failures::record_failure(conn, keys, now, now - KEEP_SECS).await
}

/// `Some(seconds to wait)` while the account or the address is over its limit.
pub async fn retry_after(
    conn: &mut Conn,
    account: &str,
    ip: &str,
    now: i64,
) -> anyhow::Result<Option<i64>> {
    wait_for(
        conn,
        &[(account, MAX_PER_ACCOUNT), (ip, MAX_PER_IP)],
        WINDOW_SECS,
        now,
    )
    .await
}
