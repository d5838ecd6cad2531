//! The one-step changes of a credential: rotate its secret, end a rotation's
//! grace window, disable, enable, make primary, delete. Each takes the
//! organization's lock, changes one thing and records its audit event.

use serde_json::json;

use super::{lock_credential, new_secret};
use crate::domain::credential::Secret;
use crate::domain::{AuditAction, ClientId, CredentialStatus, Grace};
use crate::service::audit::EventExt;
use crate::service::{Actor, Error, Locked, Once, Result};
use crate::state::AppState;
use crate::storage::credentials::{self as repo, Credential};

#[derive(Debug)]
pub struct Rotated {
    pub client_id: ClientId,
    pub name: String,
    pub secret: Secret,
    /// With a grace window: until when the previous secret keeps working.
    pub previous_valid_until: Option<i64>,
}

/// Records `action` on `credential`, its name in the detail, and commits:
/// the ending of the one-step changes.
async fn named_event(
    locked: Locked,
    actor: &Actor,
    action: AuditAction,
    credential: &Credential,
) -> Result<()> {
    let event = actor
        .event(action)
        .target(&credential.client_id)
        .detail(json!({ "name": credential.name }));
    locked.commit(&event).await
}

/// Rotate Credential: a new secret, same client ID. With a grace window the
/// previous secret keeps working until it ends; without one it stops at once.
pub async fn rotate(
    app: &AppState,
    actor: &Actor,
    client_id: &ClientId,
    grace: Grace,
) -> Result<Rotated> {
    rotate_once(app, actor, client_id, grace, None).await
}

/// [`rotate`], at most once per idempotency key.
pub async fn rotate_once(
    app: &AppState,
    actor: &Actor,
    client_id: &ClientId,
    grace: Grace,
    once: Option<&Once>,
) -> Result<Rotated> {
    let (secret, stored) = new_secret(app);
    let (mut locked, credential) = lock_credential(app, actor, client_id).await?;
    locked.first_time(actor, once, "rotate").await?;
    let previous_valid_until = grace.seconds().map(|window| locked.now + window);
    repo::rotate(
        &mut locked.tx,
        credential.id,
        &stored,
        previous_valid_until,
        locked.now,
    )
    .await?;
    locked
        .remember(actor, once, "rotate", client_id.as_str())
        .await?;
    let event = actor
        .event(AuditAction::CredentialRotated)
        .target(client_id)
        .detail(json!({ "name": credential.name, "grace_seconds": grace.seconds().unwrap_or(0) }));
    locked.commit(&event).await?;
    Ok(Rotated {
        client_id: credential.client_id,
        name: credential.name,
        secret,
        previous_valid_until,
    })
}

/// Expire now: ends a rotation grace window. Returns the credential's name.
pub async fn expire_previous(
    app: &AppState,
    actor: &Actor,
    client_id: &ClientId,
) -> Result<String> {
    let (mut locked, credential) = lock_credential(app, actor, client_id).await?;
    if repo::expire_previous(&mut locked.tx, credential.id).await? {
        named_event(
            locked,
            actor,
            AuditAction::PreviousSecretExpired,
            &credential,
        )
        .await?;
    }
    Ok(credential.name)
}

/// Disable or Enable. A disabled credential gets no new tokens; tokens it
/// already has keep working until they expire, as the reference guide says.
/// Returns the credential's name.
pub async fn set_status(
    app: &AppState,
    actor: &Actor,
    client_id: &ClientId,
    status: CredentialStatus,
) -> Result<String> {
    let (mut locked, credential) = lock_credential(app, actor, client_id).await?;
    if credential.status != status {
        repo::set_status(&mut locked.tx, credential.id, status, locked.now).await?;
        let action = match status {
            CredentialStatus::Enabled => AuditAction::CredentialEnabled,
            CredentialStatus::Disabled => AuditAction::CredentialDisabled,
        };
        named_event(locked, actor, action, &credential).await?;
    }
    Ok(credential.name)
}

/// Make primary: the organization has exactly one. Returns the name.
pub async fn make_primary(app: &AppState, actor: &Actor, client_id: &ClientId) -> Result<String> {
    let (mut locked, credential) = lock_credential(app, actor, client_id).await?;
    if !credential.is_primary {
        repo::make_primary(&mut locked.tx, actor.org, credential.id, locked.now).await?;
        named_event(
            locked,
            actor,
            AuditAction::CredentialMadePrimary,
            &credential,
        )
        .await?;
    }
    Ok(credential.name)
}

/// Delete, except the primary: another must be made primary first.
/// Returns the name.
pub async fn delete(app: &AppState, actor: &Actor, client_id: &ClientId) -> Result<String> {
    let (mut locked, credential) = lock_credential(app, actor, client_id).await?;
    if credential.is_primary {
        return Err(Error::PrimaryCannotBeDeleted);
    }
    repo::delete(&mut locked.tx, credential.id).await?;
    named_event(locked, actor, AuditAction::CredentialDeleted, &credential).await?;
    Ok(credential.name)
}
