//! The credential lifecycle: create (or request, when approval is required),
//! edit, rotate, expire the previous secret, disable, enable, make primary,
//! delete. Each use case checks who may act and every rule under the
//! organization's write lock, and records its audit event with the change.

use serde_json::{Value, json};

use super::audit::EventExt;
use super::{Actor, Error, Locked, Once, Result, lock, may_edit_credentials};
use crate::domain::credential::{CredentialName, Description, Places, Secret};
use crate::domain::ip::IpAllowlist;
use crate::domain::permission::{Permissions, SetType};
use crate::domain::request::APPROVAL_VALID_SECS;
use crate::domain::{
    AuditAction, ClientId, CredentialId, Justification, Plan, RequestId, RequestStatus,
};
use crate::state::AppState;
use crate::storage::credentials::{
    self as repo, Card, Changes, Credential, NewCredential, StoredSecret,
};
use crate::storage::orgs;
use crate::storage::orgs::Organization;
use crate::storage::requests::{self, NewRequest, Request};

mod actions;
mod edit;
pub use actions::{
    Rotated, delete, expire_previous, make_primary, rotate, rotate_once, set_status,
};
use edit::keeps_policy_if_changed;
pub use edit::{Patch, Shown, edited_expiry};

/// Requests stay on the Credentials page while active, and for this long
/// after they were rejected.
pub const REJECTED_SHOWN_FOR_SECS: i64 = 7 * 24 * 3600;

/// What New Credential and Edit submit, parsed.
#[derive(Debug, Clone)]
pub struct Draft {
    pub name: CredentialName,
    pub description: Description,
    pub set: SetType,
    pub permissions: Permissions,
    pub ips: IpAllowlist,
    /// When it stops getting tokens; `None` for never.
    pub expires_at: Option<i64>,
}

impl Draft {
    /// The request for this draft: a new credential, or a change to `credential`.
    fn request<'a>(
        &'a self,
        actor: &'a Actor,
        request_id: &'a RequestId,
        credential: Option<CredentialId>,
        justification: &'a Justification,
    ) -> NewRequest<'a> {
        NewRequest {
            org: actor.org,
            request_id,
            credential_id: credential,
            name: self.name.as_str(),
            description: self.description.as_deref(),
            permission_set: self.set,
            permissions: &self.permissions,
            ip_allowlist: &self.ips,
            justification: justification.as_str(),
            requested_by: actor.user,
            requested_by_email: &actor.email,
            expires_at: self.expires_at,
        }
    }

    /// The audit log's view of the draft: everything but the justification.
    pub(crate) fn detail(&self) -> Value {
        json!({
            "name": self.name.as_str(),
            "description": self.description.as_deref(),
            "permission_set": self.set.key(),
            "permissions": self.permissions.to_scope_string(),
            "ip_allowlist": self.ips.to_stored(),
            "expires_at": self.expires_at.map(crate::domain::iso_time),
        })
    }
}

/// Refuses an expiry the organization's policy does not allow.
pub(crate) fn keeps_policy(org: &Organization, expires_at: Option<i64>, now: i64) -> Result<()> {
    use crate::domain::credential::expiry::{self, Breach};
    expiry::check(expires_at, org.max_credential_days, now).map_err(|breach| match breach {
        Breach::Missing(days) => Error::ExpiryRequired(days),
        Breach::TooFar(days) => Error::ExpiryTooFar(days),
    })
}

/// A credential that exists now, with the one copy of its secret there will
/// ever be: the caller shows it once and drops it.
#[derive(Debug)]
pub struct Created {
    pub client_id: ClientId,
    pub name: String,
    pub secret: Secret,
    pub is_primary: bool,
    /// The credential as stored, read in the transaction that made it, so
    /// the answer that carries the secret needs no second read.
    pub credential: Credential,
}

#[derive(Debug)]
pub enum CreateOutcome {
    Created(Box<Created>),
    /// Approval is required: an owner decides on the request first.
    Requested {
        request_id: RequestId,
        name: String,
    },
}

/// A new secret, and its digest and last four characters: all storage
/// ever keeps of it.
pub(crate) fn new_secret(app: &AppState) -> (Secret, StoredSecret) {
    let secret = Secret::generate(app.config.environment);
    let stored = StoredSecret {
        digest: app.keys.secret_digest(secret.expose()),
        hint: secret.hint().to_owned(),
    };
    (secret, stored)
}

/// The Credentials page: the credentials, the requests it shows, and whether
/// the limit is reached. Anyone who may see the organization may read it.
pub struct Overview {
    pub credentials: Vec<Card>,
    pub requests: Vec<Request>,
    pub places: Places,
}

pub async fn overview(app: &AppState, actor: &Actor) -> Result<Overview> {
    let now = app.now();
    let shown_since = now - REJECTED_SHOWN_FOR_SECS;
    let mut conn = app.db.acquire().await?;
    let credentials = repo::list(&mut conn, actor.org, shown_since, now).await?;
    // Each credential row counts the requests; without any, skip that query.
    let has_requests = credentials.first().is_none_or(|c| c.shown_requests > 0);
    let mut requests = if has_requests {
        requests::list(&mut conn, actor.org, shown_since).await?
    } else {
        Vec::new()
    };
    // An approval not used within a week has expired, whether or not a
    // change has marked it so yet.
    for request in &mut requests {
        if request.status == RequestStatus::Approved
            && request
                .decided_at
                .is_some_and(|at| at < now - APPROVAL_VALID_SECS)
        {
            request.status = RequestStatus::Expired;
        }
    }
    let places = Places {
        credentials: credentials.len() as i64,
        active_requests: requests
            .iter()
            .filter(|r| r.status.is_active() && r.credential_id.is_none())
            .count() as i64,
    };
    Ok(Overview {
        credentials,
        requests,
        places,
    })
}

/// One credential, for a form or a confirmation, to someone who may change it.
pub async fn editable(
    app: &AppState,
    actor: &Actor,
    plan: Plan,
    client_id: &ClientId,
) -> Result<Credential> {
    may_edit_credentials(actor, plan)?;
    let mut conn = app.db.acquire().await?;
    repo::find(&mut conn, actor.org, client_id)
        .await?
        .ok_or(Error::NotFound)
}

/// What a caller read of a credential, to change it only if it is still
/// so: a digest of everything a change touches (not its last use).
pub fn version(c: &Credential) -> String {
    use sha2::{Digest, Sha256};
    // Every field a read answers with, named one by one: a field added to
    // `Credential` fails to compile here until it is given a place, so no
    // stored change can leave the version (and so an `If-Match`) standing.
    let Credential {
        id,
        client_id,
        name,
        description,
        is_primary,
        status,
        created_at,
        created_by,
        last_rotated_at,
        permission_set,
        permissions,
        ip_allowlist,
        expires_at,
        last_used_at,
        last_used_ip,
        secret_hint,
        leak_url,
        leaked_at,
    } = c;
    let state = json!([
        id.to_string(),
        client_id.as_str(),
        name,
        description,
        is_primary,
        status.as_str(),
        created_at,
        created_by,
        last_rotated_at,
        permission_set.key(),
        permissions.to_scope_string(),
        ip_allowlist.to_stored(),
        expires_at,
        last_used_at,
        last_used_ip,
        secret_hint,
        leak_url,
        leaked_at,
    ]);
    crate::keys::to_hex(&Sha256::digest(state.to_string().as_bytes())[..12])
}

/// One credential, to anyone who may see the organization (the API's read).
pub async fn get(app: &AppState, actor: &Actor, client_id: &ClientId) -> Result<Credential> {
    let mut conn = app.db.acquire().await?;
    repo::find(&mut conn, actor.org, client_id)
        .await?
        .ok_or(Error::NotFound)
}

/// What the New Credential form needs to know before it is filled in.
pub struct Room {
    /// The limit is reached: the form explains and cannot be sent.
    pub full: bool,
    /// The actor's New Credential becomes a request that needs a justification.
    pub needs_approval: bool,
}

pub async fn room(app: &AppState, actor: &Actor, plan: Plan) -> Result<Room> {
    may_edit_credentials(actor, plan)?;
    let mut conn = app.db.acquire().await?;
    let org = orgs::find(&mut conn, actor.org)
        .await?
        .ok_or(Error::NotFound)?;
    let places = repo::places(&mut conn, actor.org, app.now()).await?;
    Ok(Room {
        full: places.is_full(),
        needs_approval: needs_approval(&org, actor.access),
    })
}

/// Owners create directly; when the organization requires approval, an
/// administrator's New Credential is a request.
pub(crate) fn needs_approval(org: &orgs::Organization, access: crate::domain::Access) -> bool {
    org.require_approval && !access.is_owner()
}

/// New Credential: a credential and its secret, or, when approval is
/// required, a request (which then needs `justification`).
pub async fn create(
    app: &AppState,
    actor: &Actor,
    draft: &Draft,
    justification: Option<&Justification>,
) -> Result<CreateOutcome> {
    create_once(app, actor, draft, justification, None).await
}

/// [`create`], at most once per idempotency key.
pub async fn create_once(
    app: &AppState,
    actor: &Actor,
    draft: &Draft,
    justification: Option<&Justification>,
    once: Option<&Once>,
) -> Result<CreateOutcome> {
    let (client_id, (secret, stored)) = (ClientId::generate(), new_secret(app));
    let mut locked = lock(app, actor).await?;
    locked.may_edit_credentials()?;
    locked.first_time(actor, once, "create").await?;
    requests::expire_stale_approvals(&mut locked.tx, actor.org, locked.now).await?;
    let places = repo::places(&mut locked.tx, actor.org, locked.now).await?;
    if places.is_full() {
        return Err(Error::LimitReached);
    }
    keeps_policy(&locked.org, draft.expires_at, locked.now)?;
    if needs_approval(&locked.org, locked.access) {
        let justification = justification.ok_or(Error::JustificationRequired)?;
        return request(locked, actor, draft, justification, once).await;
    }
    let name = draft.name.as_str();
    if repo::name_requested(&mut locked.tx, actor.org, name, None).await? {
        return Err(Error::NameTaken);
    }
    let is_primary = places.credentials == 0;
    let new = NewCredential {
        org: actor.org,
        client_id: &client_id,
        name,
        description: draft.description.as_deref(),
        secret: &stored,
        created_by: &actor.email,
        is_primary,
        permission_set: draft.set,
        permissions: &draft.permissions,
        ip_allowlist: &draft.ips,
        expires_at: draft.expires_at,
    };
    let Some(id) = repo::insert(&mut locked.tx, &new, locked.now).await? else {
        return Err(Error::NameTaken);
    };
    let credential = repo::find_by_id(&mut locked.tx, actor.org, id)
        .await?
        .ok_or(Error::NotFound)?;
    locked
        .remember(actor, once, "create", client_id.as_str())
        .await?;
    let event = actor
        .event(AuditAction::CredentialCreated)
        .target(&client_id)
        .detail(draft.detail())
        .detail(json!({ "primary": is_primary }));
    locked.commit(&event).await?;
    Ok(CreateOutcome::Created(Box::new(Created {
        client_id,
        name: name.to_owned(),
        secret,
        is_primary,
        credential,
    })))
}

/// A request for approval, which holds a place and its name until decided.
async fn request(
    mut locked: Locked,
    actor: &Actor,
    draft: &Draft,
    justification: &Justification,
    once: Option<&Once>,
) -> Result<CreateOutcome> {
    let name = draft.name.as_str();
    if repo::name_exists(&mut locked.tx, actor.org, name).await? {
        return Err(Error::NameTaken);
    }
    let request_id = RequestId::generate();
    let new = draft.request(actor, &request_id, None, justification);
    if !requests::insert(&mut locked.tx, &new, locked.now).await? {
        return Err(Error::NameTaken);
    }
    locked
        .remember(actor, once, "create", request_id.as_str())
        .await?;
    let event = actor
        .event(AuditAction::CredentialRequested)
        .target(&request_id)
        .detail(draft.detail())
        .detail(json!({ "justification": justification.as_str() }));
    locked.commit(&event).await?;
    Ok(CreateOutcome::Requested {
        request_id,
        name: name.to_owned(),
    })
}

/// Opens the lock for a change to one credential that the actor may edit.
async fn lock_credential(
    app: &AppState,
    actor: &Actor,
    client_id: &ClientId,
) -> Result<(Locked, Credential)> {
    let mut locked = lock(app, actor).await?;
    locked.may_edit_credentials()?;
    let credential = repo::find(&mut locked.tx, actor.org, client_id)
        .await?
        .ok_or(Error::NotFound)?;
    Ok((locked, credential))
}

/// What became of an Edit.
#[derive(Debug)]
pub enum Updated {
    Saved,
    /// Approval is required and the change widens the credential's
    /// permissions or addresses: an owner decides first.
    Requested {
        request_id: RequestId,
    },
}

/// Edit: name, description, permissions and IP addresses. When the
/// organization requires approval, an administrator's edit that widens what
/// the credential may do, or from where, is a request an owner approves
/// (with `justification`); narrowing and renaming apply at once.
pub async fn update(
    app: &AppState,
    actor: &Actor,
    client_id: &ClientId,
    patch: &Patch,
    justification: Option<&Justification>,
    expected_version: Option<&str>,
) -> Result<Updated> {
    let (mut locked, before) = lock_credential(app, actor, client_id).await?;
    // Compared under the lock: of two scripts that read the same version,
    // the second to write is refused instead of overwriting the first.
    if expected_version.is_some_and(|v| v != version(&before)) {
        return Err(Error::Stale);
    }
    // The fields the change leaves out are taken as stored now.
    let draft = &patch.onto(&before)?;
    let name = draft.name.as_str();
    if repo::name_requested(&mut locked.tx, actor.org, name, None).await? {
        return Err(Error::NameTaken);
    }
    // Before a request is made of it, too.
    keeps_policy_if_changed(&locked.org, before.expires_at, draft.expires_at, locked.now)?;
    // A longer life (a later date, or none) widens as much as a scope does.
    let lives_longer = match (before.expires_at, draft.expires_at) {
        (Some(_), None) => true,
        (Some(was), Some(now)) => now > was,
        (None, _) => false,
    };
    let widens = !draft.permissions.is_within(&before.permissions)
        || !draft.ips.is_within(&before.ip_allowlist)
        || lives_longer;
    if widens && needs_approval(&locked.org, locked.access) {
        let justification = justification.ok_or(Error::WideningNeedsApproval)?;
        let request_id = RequestId::generate();
        let new = draft.request(actor, &request_id, Some(before.id), justification);
        requests::insert(&mut locked.tx, &new, locked.now).await?;
        let event = actor
            .event(AuditAction::ChangeRequested)
            .target(client_id)
            .detail(json!({
                "request": request_id.as_str(),
                "before": before.detail(),
                "after": draft.detail(),
                "justification": justification.as_str(),
            }));
        locked.commit(&event).await?;
        return Ok(Updated::Requested { request_id });
    }
    write(&mut locked, &before, draft).await?;
    let event = actor
        .event(AuditAction::CredentialUpdated)
        .target(client_id)
        .detail(json!({ "before": before.detail(), "after": draft.detail() }));
    locked.commit(&event).await?;
    Ok(Updated::Saved)
}

/// Writes an approved edit of `before`, checking a changed expiry against
/// the policy in force now; the name must be free.
pub(crate) async fn apply(locked: &mut Locked, before: &Credential, draft: &Draft) -> Result<()> {
    keeps_policy_if_changed(&locked.org, before.expires_at, draft.expires_at, locked.now)?;
    write(locked, before, draft).await
}

/// Writes an edit of `before` whose rules were checked; the name must be free.
async fn write(locked: &mut Locked, before: &Credential, draft: &Draft) -> Result<()> {
    let changes = Changes {
        name: draft.name.as_str(),
        description: draft.description.as_deref(),
        permission_set: draft.set,
        permissions: &draft.permissions,
        ip_allowlist: &draft.ips,
        expires_at: draft.expires_at,
    };
    if repo::update(&mut locked.tx, before.id, &changes, locked.now).await? {
        if draft.expires_at != before.expires_at {
            crate::storage::reminders::forget(&mut locked.tx, before.id).await?;
        }
        Ok(())
    } else {
        Err(Error::NameTaken)
    }
}

impl Credential {
    /// The audit log's view of what Edit may change.
    pub(crate) fn detail(&self) -> Value {
        json!({
            "name": self.name,
            "description": self.description,
            "permission_set": self.permission_set.key(),
            "permissions": self.permissions.to_scope_string(),
            "ip_allowlist": self.ip_allowlist.to_stored(),
            "expires_at": self.expires_at.map(crate::domain::iso_time),
        })
    }
}
