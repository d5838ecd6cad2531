//! A person's own account: signing in, and changing the password (which
//! ends every session of theirs). Throttling of both is in `auth::throttle`.

use secrecy::SecretString;

use super::audit::{EventExt, by_user, record_personal};
use super::{Error, Origin, Result};
use crate::auth::throttle::{self, Device};
use crate::domain::user::PASSWORD_MAX;
use crate::domain::{AuditAction, Email, Password};
use crate::state::AppState;
use crate::storage::audit::NewEvent;
use crate::storage::users::{self, User};

/// Checks an email and password from a browser without a device cookie
/// (the invitation page): as [`sign_in_from`] with none.
pub async fn sign_in(
    app: &AppState,
    email: &str,
    password: &SecretString,
    origin: &Origin,
) -> Result<User> {
    sign_in_from(app, email, password, None, origin)
        .await
        .map(|signed_in| signed_in.user)
}

/// A successful sign-in: the user, and the device the browser is from now
/// on (the one it presented, or a new one), for its device cookie.
#[derive(Debug)]
pub struct SignedIn {
    pub user: User,
    pub device: Device,
}

/// Checks an email and password. A valid device cookie for this account
/// (`device`) is checked against its own count only; without one, the
/// account's count of unknown devices and the address's count apply. Past
/// its limit an attempt is refused without checking the password. Every
/// failure is counted and recorded, and the one that pauses sign-in says so
/// in the account's own log.
pub async fn sign_in_from(
    app: &AppState,
    email: &str,
    password: &SecretString,
    device: Option<Device>,
    origin: &Origin,
) -> Result<SignedIn> {
    let now = app.now();
    let parsed = Email::parse(email).ok();
    let mut conn = app.db.acquire().await?;
    // An unknown email, or a password no account could have, is checked
    // against a dummy hash so every failure takes as long as a real one.
    let stored = match &parsed {
        Some(email) if secrecy::ExposeSecret::expose_secret(password).len() <= PASSWORD_MAX * 4 => {
            users::password_by_email(&mut conn, email.as_str()).await?
        }
        _ => None,
    };
    let user_id = stored.as_ref().map(|row| row.id);
    // A device cookie speaks only for the account it was issued to.
    let device = device.filter(|d| Some(d.user()) == user_id);
    let bucket = match &device {
        Some(device) => device.key(),
        None => throttle::account_key(email),
    };
    let ip_key = throttle::ip_key(origin.ip);
    let limits = match &device {
        Some(_) => vec![(bucket.as_str(), throttle::MAX_PER_DEVICE)],
        None => vec![
            (bucket.as_str(), throttle::MAX_PER_ACCOUNT),
            (ip_key.as_str(), throttle::MAX_PER_IP),
        ],
    };
    let attempt = match throttle::begin(&mut conn, &limits, now).await? {
        Ok(attempt) => attempt,
        Err(retry_after) if device.is_some() => return Err(Error::DeviceThrottled { retry_after }),
        Err(retry_after) => return Err(Error::SignInThrottled { retry_after }),
    };
    // The connection goes back to the pool while the hash runs.
    drop(conn);
    let stored_hash = stored.map(|row| row.password_hash);
    let ok = match app.hasher.verify(password, stored_hash.clone()).await {
        Ok(ok) => ok,
        Err(error) => {
            // Not checked (the server is busy): no failure either.
            let mut conn = app.db.acquire().await?;
            throttle::take_back(&mut conn, &attempt).await?;
            return Err(error.into());
        }
    };
    let mut conn = app.db.acquire().await?;
    let user = match (ok, user_id) {
        (true, Some(id)) => users::find(&mut conn, id).await?,
        _ => None,
    };
    let Some(user) = user else {
        // The attempt's rows stay: they are the failure.
        drop(conn);
        let actor = parsed
            .as_ref()
            .map_or_else(|| "(not an email address)".to_owned(), |e| e.to_string());
        let event = |action| NewEvent {
            organization_id: None,
            actor_user_id: user_id,
            actor: actor.clone(),
            action,
            target: None,
            ip: Some(origin.ip.to_string()),
            user_agent: origin.user_agent.clone(),
            detail: serde_json::json!({}),
        };
        record_personal(app, event(AuditAction::SignInFailed)).await?;
        if attempt.pauses() {
            let pause = match &device {
                Some(_) => paused(
                    event(AuditAction::DeviceSignInPaused),
                    throttle::MAX_PER_DEVICE,
                ),
                None => paused(event(AuditAction::SignInPaused), throttle::MAX_PER_ACCOUNT),
            };
            record_personal(app, pause).await?;
        }
        return Err(Error::SignInFailed);
    };
    throttle::take_back(&mut conn, &attempt).await?;
    crate::storage::throttle::clear_failures(&mut conn, &bucket).await?;
    drop(conn);
    // A hash made before the pepper is keyed now, while the password is at
    // hand: a stolen database without the key then tests no guess of it.
    if let Some(old) = stored_hash.filter(|h| !crate::auth::PasswordHasher::is_keyed(h)) {
        let new = app.hasher.hash(password).await?;
        let mut conn = app.db.acquire().await?;
        users::rekey_password(&mut conn, user.id, &old, &new).await?;
    }
    let event = by_user(user.id, &user.email, None, origin, AuditAction::SignIn);
    record_personal(app, event).await?;
    let device = device.unwrap_or_else(|| Device::issue(user.id));
    Ok(SignedIn { user, device })
}

/// What a pause event records: after how many failures, and for how long.
fn paused(event: NewEvent, failures: i64) -> NewEvent {
    event.detail(serde_json::json!({
        "failures": failures,
        "minutes": throttle::WINDOW_SECS / 60,
    }))
}

/// Who is guessing the current password on the Account page, as far as the
/// throttle can tell: the browser's device, when its cookie is valid for
/// this account, else the session (a random id kept in it).
pub struct Guesser {
    pub device: Option<Device>,
    pub session: String,
}

/// Whether `current` is the user's password; for a form whose new password
/// was refused, so it can say both at once. Wrong guesses count against the
/// guessing device (as failed sign-ins from it do), or without a device
/// cookie against the session and the address: never against the account,
/// so whoever holds a session cannot lock its owner out. The guess that uses
/// up the limit ends the session ([`Error::TooManyWrongPasswords`]); past
/// the limit the password is not checked at all.
pub async fn check_password(
    app: &AppState,
    user: &User,
    current: &SecretString,
    guesser: &Guesser,
    origin: &Origin,
) -> Result<()> {
    let now = app.now();
    let device = guesser.device.as_ref().filter(|d| d.user() == user.id);
    let ip_key = throttle::ip_key(origin.ip);
    let bucket = match device {
        Some(device) => device.key(),
        None => throttle::session_key(&guesser.session),
    };
    let limits = match device {
        Some(_) => vec![(bucket.as_str(), throttle::MAX_PER_DEVICE)],
        None => vec![
            (bucket.as_str(), throttle::MAX_PER_SESSION),
            (ip_key.as_str(), throttle::MAX_PER_IP),
        ],
    };
    let event = |action| by_user(user.id, &user.email, None, origin, action);
    let (attempt, stored) = {
        let mut conn = app.db.acquire().await?;
        let attempt = match throttle::begin(&mut conn, &limits, now).await? {
            Ok(attempt) => attempt,
            Err(retry_after) => {
                // This session's (or browser's) own share is used up, by
                // guesses made one after another or sent together: it ends,
                // whichever guess got here last. A full address only waits.
                let own =
                    throttle::wait_for(&mut conn, &limits[..1], throttle::WINDOW_SECS, now).await?;
                drop(conn);
                if own.is_some() {
                    return end_guessing_sessions(app, user, event).await;
                }
                return Err(Error::SignInThrottled { retry_after });
            }
        };
        (attempt, users::password_by_id(&mut conn, user.id).await?)
    };
    let verified = match stored {
        Some(stored) => app
            .hasher
            .verify(current, Some(stored.password_hash))
            .await
            .map_err(Error::from),
        None => Err(Error::NotFound),
    };
    match verified {
        Ok(false) => {}
        // Right, or not checked: no failure either way.
        done => {
            let mut conn = app.db.acquire().await?;
            throttle::take_back(&mut conn, &attempt).await?;
            return done.map(|_| ());
        }
    }
    record_personal(app, event(AuditAction::PasswordCheckFailed)).await?;
    if !attempt.pauses() {
        return Err(Error::WrongPassword);
    }
    if device.is_some() {
        let pause = paused(
            event(AuditAction::DeviceSignInPaused),
            throttle::MAX_PER_DEVICE,
        );
        record_personal(app, pause).await?;
    }
    end_guessing_sessions(app, user, event).await
}

/// Every session of the account ends, in the database: a request of the
/// guessing session still in flight cannot save it back to life, and a
/// thief's copy of it is worthless. The owner signs in again (a browser
/// known by its device cookie is never paused by someone else's guesses).
async fn end_guessing_sessions(
    app: &AppState,
    user: &User,
    event: impl Fn(AuditAction) -> NewEvent,
) -> Result<()> {
    {
        let mut conn = app.db.acquire().await?;
        users::end_sessions(&mut conn, user.id).await?;
    }
    let ended = event(AuditAction::SignedOutAfterWrongPasswords).detail(serde_json::json!({
        "failures": throttle::MAX_PER_SESSION,
    }));
    record_personal(app, ended).await?;
    Err(Error::TooManyWrongPasswords)
}

/// Sets a new password once the current one is proven. Every session of the
/// user ends; the caller starts a new one with the returned user.
pub async fn change_password(
    app: &AppState,
    user: &User,
    current: &SecretString,
    guesser: &Guesser,
    new: &Password,
    origin: &Origin,
) -> Result<User> {
    check_password(app, user, current, guesser, origin).await?;
    let hash = app.hasher.hash(new.secret()).await?;
    let mut tx = app.db.begin().await?;
    users::set_password(&mut tx, user.id, &hash).await?;
    // Every personal access token of theirs ends with the old password.
    crate::storage::api_tokens::revoke_for_user(
        &mut tx,
        user.id,
        crate::storage::api_tokens::Scope::Everywhere,
        &user.email,
        app.now(),
    )
    .await?;
    let user = users::find(&mut tx, user.id)
        .await?
        .ok_or(Error::NotFound)?;
    tx.commit().await?;
    let event = by_user(
        user.id,
        &user.email,
        None,
        origin,
        AuditAction::PasswordChanged,
    );
    record_personal(app, event).await?;
    Ok(user)
}
