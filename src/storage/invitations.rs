//! Invitations to join an organization. The link's token is never stored:
//! only its keyed digest, by which the link is found.

use anyhow::Context;
use sqlx::FromRow;

use super::Conn;
use crate::domain::{Access, CredentialsPermission, OrgId, Role, UserId};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct InvitationId(pub i64);

#[derive(FromRow)]
struct Row {
    id: i64,
    organization_id: OrgId,
    organization_name: String,
    email: String,
    role: Role,
    credentials_permission: Option<CredentialsPermission>,
    invited_by_name: String,
    created_at: i64,
    expires_at: i64,
    accepted_at: Option<i64>,
    revoked_at: Option<i64>,
}

#[derive(Debug, Clone)]
pub struct Invitation {
    pub id: InvitationId,
    pub org: OrgId,
    pub org_name: String,
    pub email: String,
    pub access: Access,
    pub invited_by_name: String,
    pub created_at: i64,
    pub expires_at: i64,
    pub accepted_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

impl TryFrom<Row> for Invitation {
    type Error = anyhow::Error;

    fn try_from(row: Row) -> anyhow::Result<Invitation> {
        let access = Access::from_columns(row.role, row.credentials_permission)
            .with_context(|| format!("invitation {}: impossible role", row.id))?;
        Ok(Invitation {
            id: InvitationId(row.id),
            org: row.organization_id,
            org_name: row.organization_name,
            email: row.email,
            access,
            invited_by_name: row.invited_by_name,
            created_at: row.created_at,
            expires_at: row.expires_at,
            accepted_at: row.accepted_at,
            revoked_at: row.revoked_at,
        })
    }
}

const SELECT: &str = "SELECT i.id, i.organization_id, o.name AS organization_name, i.email, i.role,
        i.credentials_permission, i.invited_by_name, i.created_at, i.expires_at, i.accepted_at, i.revoked_at
     FROM invitations i JOIN organizations o ON o.id = i.organization_id";

pub struct NewInvitation<'a> {
    pub org: OrgId,
    pub email: &'a str,
    pub access: Access,
    pub token_digest: &'a str,
    pub invited_by: UserId,
    pub invited_by_name: &'a str,
    pub expires_at: i64,
}

pub async fn insert(
    conn: &mut Conn,
    new: &NewInvitation<'_>,
    now: i64,
) -> anyhow::Result<InvitationId> {
    let (role, permission) = new
        .access
        .membership_columns()
        .context("support access is not a membership")?;
    let id: i64 = on!(conn, |e| sqlx::query_scalar(
        "INSERT INTO invitations
            (organization_id, email, role, credentials_permission, token_digest, invited_by, invited_by_name,
             created_at, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id",
    )
    .bind(new.org)
    .bind(new.email)
    .bind(role)
    .bind(permission)
    .bind(new.token_digest)
    .bind(new.invited_by)
    .bind(new.invited_by_name)
    .bind(now)
    .bind(new.expires_at)
    .fetch_one(e)
    .await)
    .context("creating an invitation")?;
    Ok(InvitationId(id))
}

/// The invitation a link's token digest names, whatever its state.
pub async fn find_by_digest(conn: &mut Conn, digest: &str) -> anyhow::Result<Option<Invitation>> {
    let row: Option<Row> = on!(conn, |e| sqlx::query_as(&format!(
        "{SELECT} WHERE i.token_digest = $1"
    ))
    .bind(digest)
    .fetch_optional(e)
    .await)
    .context("loading an invitation")?;
    row.map(Invitation::try_from).transpose()
}

pub async fn find(
    conn: &mut Conn,
    org: OrgId,
    id: InvitationId,
) -> anyhow::Result<Option<Invitation>> {
    let row: Option<Row> = on!(conn, |e| sqlx::query_as(&format!(
        "{SELECT} WHERE i.organization_id = $1 AND i.id = $2"
    ))
    .bind(org)
    .bind(id.0)
    .fetch_optional(e)
    .await)
    .with_context(|| format!("loading invitation {}", id.0))?;
    row.map(Invitation::try_from).transpose()
}

/// Invitations neither accepted nor revoked (expired ones included), newest first.
pub async fn open(conn: &mut Conn, org: OrgId) -> anyhow::Result<Vec<Invitation>> {
    let rows: Vec<Row> = on!(conn, |e| sqlx::query_as(&format!(
        "{SELECT} WHERE i.organization_id = $1 AND i.accepted_at IS NULL AND i.revoked_at IS NULL
         ORDER BY i.created_at DESC, i.id DESC"
    ))
    .bind(org)
    .fetch_all(e)
    .await)
    .context("listing invitations")?;
    rows.into_iter().map(Invitation::try_from).collect()
}

/// Revokes every open invitation of `email` to the organization.
pub async fn revoke_open_for(
    conn: &mut Conn,
    org: OrgId,
    email: &str,
    now: i64,
) -> anyhow::Result<u64> {
    on!(conn, |e| sqlx::query(
        "UPDATE invitations SET revoked_at = $1
         WHERE organization_id = $2 AND email = $3 AND accepted_at IS NULL AND revoked_at IS NULL",
    )
    .bind(now)
    .bind(org)
    .bind(email)
    .execute(e)
    .await
    .map(|r| r.rows_affected()))
    .context("revoking invitations")
}

pub async fn revoke(conn: &mut Conn, id: InvitationId, now: i64) -> anyhow::Result<()> {
    on!(conn, |e| sqlx::query(
        "UPDATE invitations SET revoked_at = $1 WHERE id = $2"
    )
    .bind(now)
    .bind(id.0)
    .execute(e)
    .await
    .map(|r| r.rows_affected()))
    .context("revoking an invitation")?;
    Ok(())
}

/// Gives the invitation a new link (the old one stops working) and a new
/// expiry; its code, if one was sent, stops working too.
pub async fn renew(
    conn: &mut Conn,
    id: InvitationId,
    digest: &str,
    expires_at: i64,
) -> anyhow::Result<()> {
    on!(conn, |e| sqlx::query(
        "UPDATE invitations SET token_digest = $1, expires_at = $2,
            code_digest = NULL, code_expires_at = NULL, code_attempts = 0, codes_sent = 0
         WHERE id = $3"
    )
    .bind(digest)
    .bind(expires_at)
    .bind(id.0)
    .execute(e)
    .await
    .map(|r| r.rows_affected()))
    .context("renewing an invitation")?;
    Ok(())
}

pub async fn mark_accepted(conn: &mut Conn, id: InvitationId, now: i64) -> anyhow::Result<()> {
    on!(conn, |e| sqlx::query(
        "UPDATE invitations SET accepted_at = $1 WHERE id = $2"
    )
    .bind(now)
    .bind(id.0)
    .execute(e)
    .await
    .map(|r| r.rows_affected()))
    .context("accepting an invitation")?;
    Ok(())
}

/// How many invitations (new ones and sent again) the organization sent
/// since `since`, and when the oldest of them was sent. Counted from the
/// audit log, which records every one in the transaction that made it.
pub async fn sent_since(
    conn: &mut Conn,
    org: OrgId,
    since: i64,
) -> anyhow::Result<(i64, Option<i64>)> {
    let row: (i64, Option<i64>) = on!(conn, |e| sqlx::query_as(
        "SELECT COUNT(*), MIN(created_at) FROM audit_events
         WHERE organization_id = $1 AND action IN ('member.invited', 'member.invitation_resent')
           AND created_at > $2"
    )
    .bind(org)
    .bind(since)
    .fetch_one(e)
    .await)
    .context("counting invitations sent")?;
    Ok(row)
}

/// How many invitation codes were emailed to `email` since `since`, for
/// any organization's invitation.
pub async fn codes_sent_to(conn: &mut Conn, email: &str, since: i64) -> anyhow::Result<i64> {
    on!(conn, |e| sqlx::query_scalar(
        "SELECT COUNT(*) FROM audit_events
         WHERE action = 'member.invitation_code_sent' AND target = $1 AND created_at > $2"
    )
    .bind(email)
    .bind(since)
    .fetch_one(e)
    .await)
    .context("counting the codes sent to an address")
}

/// The one-time code of an invitation: its keyed digest (none when none was
/// sent, or it was used), until when it works, the wrong codes tried
/// against it, and how many codes were sent for the invitation.
#[derive(FromRow)]
pub struct Code {
    pub code_digest: Option<String>,
    pub code_expires_at: Option<i64>,
    pub code_attempts: i64,
    pub codes_sent: i64,
}

impl std::fmt::Debug for Code {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Code")
            .field("code_expires_at", &self.code_expires_at)
            .field("code_attempts", &self.code_attempts)
            .field("codes_sent", &self.codes_sent)
            .finish_non_exhaustive()
    }
}

pub async fn code(conn: &mut Conn, id: InvitationId) -> anyhow::Result<Code> {
    on!(conn, |e| sqlx::query_as(
        "SELECT code_digest, code_expires_at, code_attempts, codes_sent FROM invitations WHERE id = $1"
    )
    .bind(id.0)
    .fetch_one(e)
    .await)
    .context("loading an invitation's code")
}

/// Records a code sent: any earlier code stops working, and the count of
/// wrong codes starts again.
pub async fn code_sent(
    conn: &mut Conn,
    id: InvitationId,
    digest: Option<&str>,
    expires_at: i64,
) -> anyhow::Result<()> {
    on!(conn, |e| sqlx::query(
        "UPDATE invitations SET code_digest = $1, code_expires_at = $2, code_attempts = 0,
            codes_sent = codes_sent + 1
         WHERE id = $3"
    )
    .bind(digest)
    .bind(expires_at)
    .bind(id.0)
    .execute(e)
    .await
    .map(|r| r.rows_affected()))
    .context("recording an invitation code")?;
    Ok(())
}

/// Counts a wrong code.
pub async fn code_failed(conn: &mut Conn, id: InvitationId) -> anyhow::Result<()> {
    on!(conn, |e| sqlx::query(
        "UPDATE invitations SET code_attempts = code_attempts + 1 WHERE id = $1"
    )
    .bind(id.0)
    .execute(e)
    .await
    .map(|r| r.rows_affected()))
    .context("counting a wrong invitation code")?;
    Ok(())
}

/// The code was used: it works no more.
pub async fn code_used(conn: &mut Conn, id: InvitationId) -> anyhow::Result<()> {
    on!(conn, |e| sqlx::query(
        "UPDATE invitations SET code_digest = NULL, code_expires_at = NULL WHERE id = $1"
    )
    .bind(id.0)
    .execute(e)
    .await
    .map(|r| r.rows_affected()))
    .context("using an invitation code")?;
    Ok(())
}

/// Whether the user's address was proven (or the operator made the account).
pub async fn email_confirmed(conn: &mut Conn, user: UserId) -> anyhow::Result<bool> {
    on!(conn, |e| sqlx::query_scalar(
        "SELECT email_confirmed FROM users WHERE id = $1"
    )
    .bind(user)
    .fetch_one(e)
    .await)
    .context("reading whether an address was proven")
}

/// The holder of the address, who proved it, takes over an account whose
/// address was never proven: their name and password replace those whoever
/// made it chose, and every session of it ends.
pub async fn take_over(
    conn: &mut Conn,
    user: UserId,
    display_name: &str,
    password_hash: &str,
) -> anyhow::Result<()> {
    on!(conn, |e| sqlx::query(
        "UPDATE users SET display_name = $1, password_hash = $2, email_confirmed = TRUE,
            session_epoch = session_epoch + 1
         WHERE id = $3"
    )
    .bind(display_name)
    .bind(password_hash)
    .bind(user)
    .execute(e)
    .await
    .map(|r| r.rows_affected()))
    .context("taking over an unproven account")?;
    Ok(())
}
