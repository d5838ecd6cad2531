//! A person's own account: signing in, and changing the password (which
//! ends every session of theirs).

use secrecy::SecretString;

use super::audit::{by_user, record_personal};
use super::{Error, Origin, Result};
use crate::auth::throttle;
use crate::domain::user::PASSWORD_MAX;
use crate::domain::{AuditAction, Email, Password};
use crate::state::AppState;
use crate::storage::audit::NewEvent;
use crate::storage::users::{self, User};

/// Checks an email and password. Past too many failures for the account or
/// the address, refuses without checking the password. Every failure is
/// counted and recorded; a success is recorded in each of the user's
/// organizations.
pub async fn sign_in(
    app: &AppState,
    email: &str,
    password: &SecretString,
    origin: &Origin,
) -> Result<User> {
    let now = app.now();
    let account_key = throttle::account_key(email);
    let ip_key = throttle::ip_key(origin.ip);
    let parsed = Email::parse(email).ok();
    let mut conn = app.db.acquire().await?;
    if let Some(wait) = throttle::retry_after(&mut conn, &account_key, &ip_key, now).await? {
        return Err(Error::SignInThrottled { retry_after: wait });
    }
    // An unknown email, or a password no account could have, is checked
    // against a dummy hash so every failure takes as long as a real one.
    let stored = match &parsed {
        Some(email) if secrecy::ExposeSecret::expose_secret(password).len() <= PASSWORD_MAX * 4 => {
            users::password_by_email(&mut conn, email.as_str()).await?
        }
        _ => None,
    };
    let user_id = stored.as_ref().map(|row| row.id);
    // The connection goes back to the pool while the hash runs.
    drop(conn);
    let ok = app
        .hasher
        .verify(password, stored.map(|row| row.password_hash))
        .await?;
    let mut conn = app.db.acquire().await?;
    let user = match (ok, user_id) {
        (true, Some(id)) => users::find(&mut conn, id).await?,
        _ => None,
    };
    let Some(user) = user else {
        throttle::record_failure(&mut conn, &[&account_key, &ip_key], now).await?;
        drop(conn);
        let failed = NewEvent {
            organization_id: None,
            actor_user_id: user_id,
            actor: parsed
                .as_ref()
                .map_or_else(|| "(not an email address)".to_owned(), |e| e.to_string()),
            action: AuditAction::SignInFailed,
            target: None,
            ip: Some(origin.ip.to_string()),
            user_agent: origin.user_agent.clone(),
            detail: serde_json::json!({}),
        };
        record_personal(app, failed).await?;
        return Err(Error::SignInFailed);
    };
    crate::storage::throttle::clear_failures(&mut conn, &account_key).await?;
    drop(conn);
    let event = by_user(user.id, &user.email, None, origin, AuditAction::SignIn);
    record_personal(app, event).await?;
    Ok(user)
}

/// Whether `current` is the user's password; for a form whose new password
/// was refused, so it can say both at once. Guesses count toward the same
/// limits as sign-in (per account and per address), and past them the
/// password is not checked at all.
pub async fn check_password(
    app: &AppState,
    user: &User,
    current: &SecretString,
    origin: &Origin,
) -> Result<()> {
    let now = app.now();
    let account_key = throttle::account_key(&user.email);
    let ip_key = throttle::ip_key(origin.ip);
    let stored = {
        let mut conn = app.db.acquire().await?;
        if let Some(wait) = throttle::retry_after(&mut conn, &account_key, &ip_key, now).await? {
            return Err(Error::SignInThrottled { retry_after: wait });
        }
        users::password_by_id(&mut conn, user.id).await?
    };
    let stored = stored.ok_or(Error::NotFound)?;
    if app
        .hasher
        .verify(current, Some(stored.password_hash))
        .await?
    {
        return Ok(());
    }
    {
        let mut conn = app.db.acquire().await?;
        throttle::record_failure(&mut conn, &[&account_key, &ip_key], now).await?;
    }
    let event = by_user(
        user.id,
        &user.email,
        None,
        origin,
        AuditAction::PasswordCheckFailed,
    );
    record_personal(app, event).await?;
    Err(Error::WrongPassword)
}

/// Sets a new password once the current one is proven. Every session of the
/// user ends; the caller starts a new one with the returned user.
pub async fn change_password(
    app: &AppState,
    user: &User,
    current: &SecretString,
    new: &Password,
    origin: &Origin,
) -> Result<User> {
    check_password(app, user, current, origin).await?;
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
