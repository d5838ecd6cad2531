//! Sign-in throttling: past a few failures, sign-in is refused for a while
//! without even checking the password, in a way nobody but the guesser
//! pays for (OWASP, "Slow Down Online Guessing Attacks with Device Cookies").
//!
//! A browser that signs in gets a device cookie: the account's id and a
//! random nonce, signed with a key derived from the server key. Failures
//! that come with a valid device cookie for the account count against that
//! device only ([`MAX_PER_DEVICE`]). Failures without one count against the
//! account's bucket of unknown devices ([`MAX_PER_ACCOUNT`]) and against the
//! address ([`MAX_PER_IP`]). So a guesser without the owner's browser can
//! pause sign-in from unknown devices, never from the owner's own browser,
//! which is checked only against its own count.
//!
//! The account key is the typed email whether or not such a user exists, so
//! the throttle reveals nothing about which accounts exist.
//!
//! An attempt is counted before its password is checked ([`begin`]) and taken
//! back when it succeeds or is refused, so concurrent guesses, on one
//! instance or several, cannot pass a limit together.

use std::fmt;
use std::net::IpAddr;

use subtle::ConstantTimeEq;

use crate::domain::{Email, UserId};
use crate::keys::Keys;
use crate::random;
use crate::storage::{Conn, throttle as failures};

pub const WINDOW_SECS: i64 = 15 * 60;
/// Failures from unknown devices, per account.
pub const MAX_PER_ACCOUNT: i64 = 5;
/// Failures from one device that signed in to the account before.
pub const MAX_PER_DEVICE: i64 = 5;
/// Wrong current passwords on the Account page in one session without a
/// device cookie; the session ends when they are used up.
pub const MAX_PER_SESSION: i64 = 5;
pub const MAX_PER_IP: i64 = 20;
/// How long a browser keeps its device cookie.
pub const DEVICE_COOKIE_DAYS: i64 = 365;

/// Base62 characters of a device's nonce (about 131 bits).
const NONCE_LEN: usize = 22;

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

/// The key of a session's own count of wrong passwords on the Account page:
/// `id` is derived from the session's sign-in (`http::session::guesser_id`),
/// never the session id.
pub fn session_key(id: &str) -> String {
    format!("session:{id}")
}

/// A browser that signed in to an account: what its device cookie says,
/// once the signature has been checked.
#[derive(Clone, PartialEq, Eq)]
pub struct Device {
    user: UserId,
    nonce: String,
}

impl fmt::Debug for Device {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Device({}, [redacted])", self.user)
    }
}

impl Device {
    /// A new device of `user`, for a browser that signed in without one.
    pub fn issue(user: UserId) -> Device {
        Device {
            user,
            nonce: random::token(NONCE_LEN),
        }
    }

    /// The account this device signed in to.
    pub fn user(&self) -> UserId {
        self.user
    }

    /// The key its failures count under.
    pub fn key(&self) -> String {
        format!("device:{}", self.nonce)
    }

    /// The cookie's value: `user.nonce.signature`.
    pub fn cookie_value(&self, keys: &Keys) -> String {
        let content = format!("{}.{}", self.user, self.nonce);
        let signature = keys.device_signature(&content);
        format!("{content}.{signature}")
    }

    /// The device a cookie names, if the server signed it. An altered or
    /// forged cookie is no device at all.
    pub fn from_cookie(keys: &Keys, value: &str) -> Option<Device> {
        let (content, signature) = value.rsplit_once('.')?;
        let (user, nonce) = content.split_once('.')?;
        let user = UserId(user.parse().ok()?);
        if nonce.len() != NONCE_LEN || !nonce.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return None;
        }
        let expected = keys.device_signature(content);
        bool::from(expected.as_bytes().ct_eq(signature.as_bytes())).then(|| Device {
            user,
            nonce: nonce.to_owned(),
        })
    }
}

/// One attempt, counted against its keys before the password is checked.
#[derive(Debug)]
pub struct Attempt {
    id: String,
    /// Whether this attempt is the last its first key allows: if it fails,
    /// that key is paused from now on.
    last_allowed: bool,
}

impl Attempt {
    /// Whether this attempt, failed, pauses its first key.
    pub fn pauses(&self) -> bool {
        self.last_allowed
    }
}

/// Counts an attempt against each key of `limits` (key, most failures in
/// [`WINDOW_SECS`]), and lets it go on if none is past its limit with it.
/// `Err(seconds to wait)` when one is; the attempt is then not counted.
///
/// Counting first and checking after holds under concurrency: of attempts
/// made together, each sees the others' rows, so no more than a limit's
/// worth can go on (a few more than necessary may be refused).
pub async fn begin(
    conn: &mut Conn,
    limits: &[(&str, i64)],
    now: i64,
) -> anyhow::Result<Result<Attempt, i64>> {
    let id = random::token(22);
    let keys: Vec<&str> = limits.iter().map(|&(key, _)| key).collect();
    failures::reserve(conn, &keys, &id, now, now - KEEP_SECS).await?;
    let mut wait: Option<i64> = None;
    let mut last_allowed = false;
    for (n, &(key, max)) in limits.iter().enumerate() {
        let (count, oldest) = failures::failures_since(conn, key, now - WINDOW_SECS).await?;
        if count > max {
            let secs = (oldest.unwrap_or(now) + WINDOW_SECS - now).max(1);
            wait = Some(wait.map_or(secs, |w| w.max(secs)));
        } else if n == 0 {
            last_allowed = count == max;
        }
    }
    if let Some(wait) = wait {
        failures::take_back(conn, &id).await?;
        return Ok(Err(wait));
    }
    Ok(Ok(Attempt { id, last_allowed }))
}

/// Takes back an attempt that was no failure (the password was right, or it
/// could not be checked).
pub async fn take_back(conn: &mut Conn, attempt: &Attempt) -> anyhow::Result<()> {
    failures::take_back(conn, &attempt.id).await
}

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_device_cookie_reads_back_only_unaltered_and_under_its_own_key() {
        let keys = Keys::random();
        let device = Device::issue(UserId(7));
        let value = device.cookie_value(&keys);
        assert_eq!(Device::from_cookie(&keys, &value), Some(device.clone()));
        assert_eq!(Device::from_cookie(&Keys::random(), &value), None);
        let (content, _) = value.rsplit_once('.').unwrap();
        let (_, nonce) = content.split_once('.').unwrap();
        let signature = keys.device_signature(content);
        for altered in [
            format!("8.{nonce}.{signature}"),
            format!("7.{}.{signature}", nonce.to_lowercase() + "x"),
            format!("{content}.{}", "0".repeat(64)),
            format!("{content}.{signature}."),
            content.to_owned(),
            String::new(),
        ] {
            assert_eq!(Device::from_cookie(&keys, &altered), None, "{altered}");
        }
        // The cookie never shows the nonce in a Debug print.
        assert!(!format!("{device:?}").contains(nonce));
    }
}
