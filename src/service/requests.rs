//! Credential requests, when an organization requires approval: an owner
//! other than the requester approves or rejects a pending request; the
//! requester then generates the key of a new credential and sees it once,
//! while an approved change to an existing credential applies at once.
//! Owners can cancel a pending or approved request; an approval not used
//! within a week expires.

use serde_json::json;

use super::audit::EventExt;
use super::credentials::{Created, Draft, apply, new_secret};
use super::{Actor, Error, Locked, Result, lock};
use crate::domain::credential::{CredentialName, Description};
use crate::domain::{AuditAction, ClientId, DecisionNote, RequestId, RequestStatus};
use crate::state::AppState;
use crate::storage::credentials::{self as credentials_repo, NewCredential};
use crate::storage::requests::{self as repo, Request};

/// The decision an owner took, for the confirmation.
#[derive(Debug)]
pub struct Decided {
    pub name: String,
    pub requested_by: String,
    /// An approved change to an existing credential, applied already.
    pub applied: bool,
}

pub async fn approve(app: &AppState, actor: &Actor, request_id: &RequestId) -> Result<Decided> {
    decide(app, actor, request_id, RequestStatus::Approved, None).await
}

/// Rejects a pending request, with an optional reason the requester sees.
pub async fn reject(
    app: &AppState,
    actor: &Actor,
    request_id: &RequestId,
    reason: Option<&DecisionNote>,
) -> Result<Decided> {
    decide(app, actor, request_id, RequestStatus::Rejected, reason).await
}

/// A request the actor may decide, for the Reject dialog.
pub async fn decidable(app: &AppState, actor: &Actor, request_id: &RequestId) -> Result<Request> {
    let mut locked = lock(app, actor).await?;
    decidable_under_lock(&mut locked, actor, request_id).await
}

/// Owners only, never their own request, pending requests only.
async fn decidable_under_lock(
    locked: &mut Locked,
    actor: &Actor,
    request_id: &RequestId,
) -> Result<Request> {
    if !locked.access.is_owner() {
        return Err(Error::OwnersDecide);
    }
    let request = find(locked, actor, request_id).await?;
    if request.requested_by == actor.user {
        return Err(Error::OwnRequest);
    }
    if request.status != RequestStatus::Pending {
        return Err(Error::AlreadyDecided(request.status));
    }
    Ok(request)
}

async fn decide(
    app: &AppState,
    actor: &Actor,
    request_id: &RequestId,
    decision: RequestStatus,
    reason: Option<&DecisionNote>,
) -> Result<Decided> {
    let mut locked = lock(app, actor).await?;
    let request = decidable_under_lock(&mut locked, actor, request_id).await?;
    // Approving promises a credential, so it asks what any change of
    // credentials asks (a trial organization holds none); rejecting does not.
    if decision == RequestStatus::Approved {
        locked.may_edit_credentials()?;
    }
    repo::decide(
        &mut locked.tx,
        request.id,
        decision,
        &actor.email,
        reason.map(DecisionNote::as_str),
        locked.now,
    )
    .await?;
    let action = match decision {
        RequestStatus::Approved => AuditAction::RequestApproved,
        _ => AuditAction::RequestRejected,
    };
    let decided = actor
        .event(action)
        .target(&request.request_id)
        .detail(match reason {
            Some(reason) => json!({ "name": request.name, "requested_by": request.requested_by_email, "reason": reason.as_str() }),
            None => json!({ "name": request.name, "requested_by": request.requested_by_email }),
        });
    let applied = match (decision, request.credential_id) {
        (RequestStatus::Approved, Some(credential)) => {
            apply_change(&mut locked, actor, &request, credential).await?;
            true
        }
        _ => false,
    };
    locked.commit(&decided).await?;
    Ok(Decided {
        name: request.name,
        requested_by: request.requested_by_email,
        applied,
    })
}

/// The expiry an approved change leaves: the one it asked for (the
/// credential's own when the request left it as it was), unless a policy
/// that took effect since forbids it; then the credential keeps the expiry
/// it has, or gets the latest the policy allows when it has none.
fn approved_expiry(locked: &Locked, asked: Option<i64>, current: Option<i64>) -> Option<i64> {
    use crate::service::credentials::keeps_policy;
    if keeps_policy(&locked.org, asked, locked.now).is_ok() {
        return asked;
    }
    if keeps_policy(&locked.org, current, locked.now).is_ok() {
        return current;
    }
    locked
        .org
        .max_credential_days
        .map(|days| crate::domain::credential::expiry::latest(days, locked.now))
}

/// An approved change applies at once, by the owner who approved it.
async fn apply_change(
    locked: &mut Locked,
    actor: &Actor,
    request: &Request,
    credential: crate::domain::CredentialId,
) -> Result<()> {
    let before = credentials_repo::find_by_id(&mut locked.tx, actor.org, credential)
        .await?
        .ok_or(Error::NotFound)?;
    let draft = Draft {
        name: CredentialName::parse(&request.name).map_err(|e| anyhow::anyhow!(e.message))?,
        description: Description::parse(request.description.as_deref().unwrap_or(""))
            .map_err(|e| anyhow::anyhow!(e.message))?,
        set: request.permission_set,
        permissions: request.permissions.clone(),
        ips: request.ip_allowlist.clone(),
        expires_at: approved_expiry(locked, request.expires_at, before.expires_at),
    };
    apply(locked, &before, &draft).await?;
    repo::complete(&mut locked.tx, request.id).await?;
    let event = actor
        .event(AuditAction::CredentialUpdated)
        .target(&before.client_id)
        .detail(json!({
            "request": request.request_id.as_str(),
            "requested_by": request.requested_by_email,
            "before": before.detail(),
            "after": draft.detail(),
        }));
    super::audit::record(&mut locked.tx, &event, locked.now).await?;
    Ok(())
}

/// An owner cancels a pending or approved request, or its requester
/// withdraws it: its place and name are free again.
pub async fn cancel(app: &AppState, actor: &Actor, request_id: &RequestId) -> Result<Decided> {
    let mut locked = lock(app, actor).await?;
    repo::expire_stale_approvals(&mut locked.tx, actor.org, locked.now).await?;
    let request = find(&mut locked, actor, request_id).await?;
    if !locked.access.is_owner() && request.requested_by != actor.user {
        return Err(Error::NotYoursToCancel);
    }
    if !request.status.is_active() {
        return Err(Error::NotCancellable(request.status));
    }
    repo::decide(
        &mut locked.tx,
        request.id,
        RequestStatus::Cancelled,
        &actor.email,
        None,
        locked.now,
    )
    .await?;
    let event = actor
        .event(AuditAction::RequestCancelled)
        .target(&request.request_id)
        .detail(json!({ "name": request.name, "requested_by": request.requested_by_email }));
    locked.commit(&event).await?;
    Ok(Decided {
        name: request.name,
        requested_by: request.requested_by_email,
        applied: false,
    })
}

/// The requester turns their approved request into a credential. The request
/// already holds a place and the name, which the credential takes over.
pub async fn generate(app: &AppState, actor: &Actor, request_id: &RequestId) -> Result<Created> {
    let (client_id, (secret, stored)) = (ClientId::generate(), new_secret(app));
    let mut locked = lock(app, actor).await?;
    locked.may_edit_credentials()?;
    repo::expire_stale_approvals(&mut locked.tx, actor.org, locked.now).await?;
    let request = find(&mut locked, actor, request_id).await?;
    if request.requested_by != actor.user {
        return Err(Error::NotRequester);
    }
    if request.status != RequestStatus::Approved || request.credential_id.is_some() {
        return Err(Error::NotApproved(request.status));
    }
    let places = credentials_repo::places(&mut locked.tx, actor.org, locked.now).await?;
    if places.without_one_request().is_full() {
        return Err(Error::LimitReached);
    }
    if credentials_repo::name_requested(&mut locked.tx, actor.org, &request.name, Some(request.id))
        .await?
    {
        return Err(Error::NameTaken);
    }
    // The expiry asked for, checked against the policy as it is now; a
    // request made before a policy took effect gets the longest it allows.
    let expires_at = request.expires_at.or_else(|| {
        locked
            .org
            .max_credential_days
            .map(|days| crate::domain::credential::expiry::latest(days, locked.now))
    });
    crate::service::credentials::keeps_policy(&locked.org, expires_at, locked.now)?;
    let is_primary = places.credentials == 0;
    let new = NewCredential {
        org: actor.org,
        client_id: &client_id,
        name: &request.name,
        description: request.description.as_deref(),
        secret: &stored,
        created_by: &request.requested_by_email,
        is_primary,
        permission_set: request.permission_set,
        permissions: &request.permissions,
        ip_allowlist: &request.ip_allowlist,
        expires_at,
    };
    let Some(id) = credentials_repo::insert(&mut locked.tx, &new, locked.now).await? else {
        return Err(Error::NameTaken);
    };
    let credential = credentials_repo::find_by_id(&mut locked.tx, actor.org, id)
        .await?
        .ok_or(Error::NotFound)?;
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
        credential,
    })
}

async fn find(locked: &mut Locked, actor: &Actor, request_id: &RequestId) -> Result<Request> {
    repo::find(&mut locked.tx, actor.org, request_id)
        .await?
        .ok_or(Error::NotFound)
}
