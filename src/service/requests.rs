//! Credential requests, when an organization requires approval: an owner
//! other than the requester approves or rejects a pending request; the
//! requester then generates the key and sees it once.

use serde_json::json;

use super::audit::EventExt;
use super::credentials::{Created, new_secret};
use super::{Actor, Error, Locked, Result, lock};
use crate::domain::{AuditAction, ClientId, RequestId, RequestStatus};
use crate::state::AppState;
use crate::storage::credentials::{self as credentials_repo, NewCredential};
use crate::storage::requests::{self as repo, Request};

/// The decision an owner took, for the confirmation.
#[derive(Debug)]
pub struct Decided {
    pub name: String,
    pub requested_by: String,
}

pub async fn approve(app: &AppState, actor: &Actor, request_id: &RequestId) -> Result<Decided> {
    decide(app, actor, request_id, RequestStatus::Approved).await
}

pub async fn reject(app: &AppState, actor: &Actor, request_id: &RequestId) -> Result<Decided> {
    decide(app, actor, request_id, RequestStatus::Rejected).await
}

/// Owners only, never their own request, pending requests only.
async fn decide(
    app: &AppState,
    actor: &Actor,
    request_id: &RequestId,
    decision: RequestStatus,
) -> Result<Decided> {
    let mut locked = lock(app, actor).await?;
    if !locked.access.is_owner() {
        return Err(Error::OwnersDecide);
    }
    let request = find(&mut locked, actor, request_id).await?;
    if request.requested_by == actor.user {
        return Err(Error::OwnRequest);
    }
    if request.status != RequestStatus::Pending {
        return Err(Error::AlreadyDecided(request.status));
    }
    repo::decide(
        &mut locked.tx,
        request.id,
        decision,
        &actor.email,
        locked.now,
    )
    .await?;
    let action = match decision {
        RequestStatus::Approved => AuditAction::RequestApproved,
        _ => AuditAction::RequestRejected,
    };
    let event = actor
        .event(action)
        .target(&request.request_id)
        .detail(json!({ "name": request.name, "requested_by": request.requested_by_email }));
    locked.commit(&event).await?;
    Ok(Decided {
        name: request.name,
        requested_by: request.requested_by_email,
    })
}

/// The requester turns their approved request into a credential. The request
/// already holds a place and the name, which the credential takes over.
pub async fn generate(app: &AppState, actor: &Actor, request_id: &RequestId) -> Result<Created> {
    let (client_id, (secret, digest)) = (ClientId::generate(), new_secret(app));
    let mut locked = lock(app, actor).await?;
    locked.may_edit_credentials()?;
    let request = find(&mut locked, actor, request_id).await?;
    if request.requested_by != actor.user {
        return Err(Error::NotRequester);
    }
    if request.status != RequestStatus::Approved {
        return Err(Error::NotApproved(request.status));
    }
    let places = credentials_repo::places(&mut locked.tx, actor.org).await?;
    if places.without_one_request().is_full() {
        return Err(Error::LimitReached);
    }
    if credentials_repo::name_requested(&mut locked.tx, actor.org, &request.name, Some(request.id))
        .await?
    {
        return Err(Error::NameTaken);
    }
    let is_primary = places.credentials == 0;
    let new = NewCredential {
        org: actor.org,
        client_id: &client_id,
        name: &request.name,
        description: request.description.as_deref(),
        digest: &digest,
        created_by: &request.requested_by_email,
        is_primary,
        permission_set: request.permission_set,
        permissions: &request.permissions,
        ip_allowlist: &request.ip_allowlist,
    };
    if credentials_repo::insert(&mut locked.tx, &new, locked.now)
        .await?
        .is_none()
    {
        return Err(Error::NameTaken);
    }
    repo::complete(&mut locked.tx, request.id).await?;
    let event = actor
        .event(AuditAction::CredentialCreated)
        .target(&client_id)
        .detail(json!({
            "name": request.name, "request": request.request_id.as_str(), "approved_by": request.decided_by,
            "permission_set": request.permission_set.key(), "permissions": request.permissions.to_scope_string(),
            "ip_allowlist": request.ip_allowlist.to_stored(), "primary": is_primary,
        }));
    locked.commit(&event).await?;
    Ok(Created {
        client_id,
        name: request.name,
        secret,
        is_primary,
    })
}

async fn find(locked: &mut Locked, actor: &Actor, request_id: &RequestId) -> Result<Request> {
    repo::find(&mut locked.tx, actor.org, request_id)
        .await?
        .ok_or(Error::NotFound)
}
