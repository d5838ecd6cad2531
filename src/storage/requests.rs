//! Credential requests: when an organization requires approval, an
//! administrator's New Credential waits here for an owner's decision.

use anyhow::Context;
use sqlx::FromRow;

use super::{Conn, is_unique_violation};
use crate::domain::ip::IpAllowlist;
use crate::domain::permission::{Permissions, SetType};
use crate::domain::request::APPROVAL_VALID_SECS;
use crate::domain::{
    ClientId, CredentialId, OrgId, RequestId, RequestRowId, RequestStatus, UserId,
};

#[derive(Debug, Clone, FromRow)]
pub struct Request {
    pub id: RequestRowId,
    pub request_id: RequestId,
    /// For a change to an existing credential: that credential. `None` for a
    /// new credential.
    pub credential_id: Option<CredentialId>,
    /// The client ID of the credential a change request is for.
    pub target_client_id: Option<ClientId>,
    pub name: String,
    pub description: Option<String>,
    pub permission_set: SetType,
    pub permissions: Permissions,
    pub ip_allowlist: IpAllowlist,
    pub justification: String,
    pub requested_by: UserId,
    pub requested_by_email: String,
    pub status: RequestStatus,
    pub decided_by: Option<String>,
    pub decided_at: Option<i64>,
    /// The reason given with a rejection.
    pub decision_note: Option<String>,
    pub created_at: i64,
    /// The expiry asked for, applied with the request.
    pub expires_at: Option<i64>,
}

pub struct NewRequest<'a> {
    pub org: OrgId,
    pub request_id: &'a RequestId,
    pub credential_id: Option<CredentialId>,
    pub name: &'a str,
    pub description: Option<&'a str>,
    pub permission_set: SetType,
    pub permissions: &'a Permissions,
    pub ip_allowlist: &'a IpAllowlist,
    pub justification: &'a str,
    pub requested_by: UserId,
    pub requested_by_email: &'a str,
    pub expires_at: Option<i64>,
}

const COLUMNS: &str =
    "id, request_id, credential_id, name, description, permission_set, permissions, ip_allowlist, justification,
    requested_by, requested_by_email, status, decided_by, decided_at, decision_note, created_at, expires_at,
    (SELECT c.client_id FROM credentials c WHERE c.id = credential_requests.credential_id) AS target_client_id";

/// Requests the Credentials page shows: active ones, and those rejected since `shown_since`.
pub async fn list(conn: &mut Conn, org: OrgId, shown_since: i64) -> anyhow::Result<Vec<Request>> {
    on!(conn, |e| sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM credential_requests
         WHERE organization_id = $1 AND (status IN ('pending', 'approved') OR (status IN ('rejected', 'cancelled', 'expired') AND decided_at >= $2))
         ORDER BY created_at, id"
    ))
    .bind(org)
    .bind(shown_since)
    .fetch_all(e)
    .await)
    .with_context(|| format!("listing the credential requests of organization {org}"))
}

pub async fn find(
    conn: &mut Conn,
    org: OrgId,
    request_id: &RequestId,
) -> anyhow::Result<Option<Request>> {
    on!(conn, |e| sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM credential_requests WHERE organization_id = $1 AND request_id = $2"
    ))
    .bind(org)
    .bind(request_id)
    .fetch_optional(e)
    .await)
    .with_context(|| format!("loading credential request {request_id}"))
}

/// `Ok(false)` when an active request holds the name already.
pub async fn insert(conn: &mut Conn, new: &NewRequest<'_>, now: i64) -> anyhow::Result<bool> {
    let inserted = on!(conn, |e| {
        sqlx::query(
            "INSERT INTO credential_requests
                (organization_id, request_id, name, name_key, description, permission_set, permissions, ip_allowlist,
                 justification, requested_by, requested_by_email, status, created_at, credential_id, expires_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)",
        )
        .bind(new.org)
        .bind(new.request_id)
        .bind(new.name)
        .bind(new.name.to_lowercase())
        .bind(new.description)
        .bind(new.permission_set)
        .bind(new.permissions)
        .bind(new.ip_allowlist)
        .bind(new.justification)
        .bind(new.requested_by)
        .bind(new.requested_by_email)
        .bind(RequestStatus::Pending)
        .bind(now)
        .bind(new.credential_id)
        .bind(new.expires_at)
        .execute(e)
        .await
        .map(|r| r.rows_affected())
    });
    match inserted {
        Ok(_) => Ok(true),
        Err(e) if is_unique_violation(&e) => Ok(false),
        Err(e) => Err(e).context("creating a credential request"),
    }
}

/// Records an owner's decision.
pub async fn decide(
    conn: &mut Conn,
    id: RequestRowId,
    status: RequestStatus,
    decided_by: &str,
    note: Option<&str>,
    now: i64,
) -> anyhow::Result<()> {
    on!(conn, |e| sqlx::query(
        "UPDATE credential_requests SET status = $1, decided_by = $2, decided_at = $3, decision_note = $4 WHERE id = $5"
    )
    .bind(status)
    .bind(decided_by)
    .bind(now)
    .bind(note)
    .bind(id)
    .execute(e)
    .await
    .map(|r| r.rows_affected()))
    .context("deciding a credential request")?;
    Ok(())
}

/// Marks an approved request done: its credential exists.
pub async fn complete(conn: &mut Conn, id: RequestRowId) -> anyhow::Result<()> {
    on!(conn, |e| sqlx::query(
        "UPDATE credential_requests SET status = $1 WHERE id = $2"
    )
    .bind(RequestStatus::Completed)
    .bind(id)
    .execute(e)
    .await
    .map(|r| r.rows_affected()))
    .context("completing a credential request")?;
    Ok(())
}

/// Approvals older than [`APPROVAL_VALID_SECS`] expire: their place and
/// name are free again. Run under the organization's lock before counting.
pub async fn expire_stale_approvals(conn: &mut Conn, org: OrgId, now: i64) -> anyhow::Result<()> {
    on!(conn, |e| sqlx::query(
        "UPDATE credential_requests SET status = $1
         WHERE organization_id = $2 AND status = $3 AND decided_at < $4"
    )
    .bind(RequestStatus::Expired)
    .bind(org)
    .bind(RequestStatus::Approved)
    .bind(now - APPROVAL_VALID_SECS)
    .execute(e)
    .await
    .map(|r| r.rows_affected()))
    .context("expiring old approvals")?;
    Ok(())
}

/// Cancels the member's pending and approved requests (they left, or lost
/// the permission to make them). Returns their request ids.
pub async fn cancel_for_member(
    conn: &mut Conn,
    org: OrgId,
    user: UserId,
    decided_by: &str,
    now: i64,
) -> anyhow::Result<Vec<RequestId>> {
    let ids: Vec<RequestId> = on!(conn, |e| sqlx::query_scalar(
        "SELECT request_id FROM credential_requests
         WHERE organization_id = $1 AND requested_by = $2 AND status IN ('pending', 'approved')
         ORDER BY id"
    )
    .bind(org)
    .bind(user)
    .fetch_all(e)
    .await)
    .context("finding a member's requests")?;
    on!(conn, |e| sqlx::query(
        "UPDATE credential_requests SET status = $1, decided_by = $2, decided_at = $3
         WHERE organization_id = $4 AND requested_by = $5 AND status IN ('pending', 'approved')"
    )
    .bind(RequestStatus::Cancelled)
    .bind(decided_by)
    .bind(now)
    .bind(org)
    .bind(user)
    .execute(e)
    .await
    .map(|r| r.rows_affected()))
    .context("cancelling a member's requests")?;
    Ok(ids)
}
