//! Personal access tokens. The token itself is never stored: only its keyed
//! digest (by which a request's token is found) and its last four characters.

use anyhow::Context;
use sqlx::FromRow;

use super::{Conn, Either};
use crate::domain::api_token::TokenAccess;
use crate::domain::{Access, CredentialsPermission, OrgId, Role, UserId};

/// A token as its owner's list and the Members page show it.
#[derive(Debug, Clone, FromRow)]
pub struct ApiTokenRow {
    pub token_id: String,
    pub user_id: UserId,
    pub user_email: String,
    pub organization_id: OrgId,
    pub organization_name: String,
    pub name: String,
    pub access: TokenAccess,
    pub hint: String,
    pub created_at: i64,
    pub expires_at: i64,
    pub last_used_at: Option<i64>,
    pub last_used_ip: Option<String>,
    pub revoked_at: Option<i64>,
}

const SELECT: &str = "SELECT t.token_id, t.user_id, u.email AS user_email, t.organization_id,
        o.name AS organization_name, t.name, t.access, t.hint, t.created_at, t.expires_at,
        t.last_used_at, t.last_used_ip, t.revoked_at
     FROM api_tokens t
     JOIN users u ON u.id = t.user_id
     JOIN organizations o ON o.id = t.organization_id";

pub struct NewApiToken<'a> {
    pub token_id: &'a str,
    pub user: UserId,
    pub org: OrgId,
    pub name: &'a str,
    pub access: TokenAccess,
    pub digest: &'a str,
    pub hint: &'a str,
    pub expires_at: i64,
}

pub async fn insert(conn: &mut Conn, new: &NewApiToken<'_>, now: i64) -> anyhow::Result<()> {
    on!(conn, |e| sqlx::query(
        "INSERT INTO api_tokens (token_id, user_id, organization_id, name, access, digest, hint, created_at, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(new.token_id)
    .bind(new.user)
    .bind(new.org)
    .bind(new.name)
    .bind(new.access)
    .bind(new.digest)
    .bind(new.hint)
    .bind(now)
    .bind(new.expires_at)
    .execute(e)
    .await
    .map(|r| r.rows_affected()))
    .context("storing a personal access token")?;
    Ok(())
}

/// A user's tokens that still work or ended in the last 30 days, newest first.
pub async fn list_for_user(
    conn: &mut Conn,
    user: UserId,
    since: i64,
) -> anyhow::Result<Vec<ApiTokenRow>> {
    on!(conn, |e| sqlx::query_as(&format!(
        "{SELECT} WHERE t.user_id = $1 AND COALESCE(t.revoked_at, t.expires_at) >= $2
         ORDER BY t.created_at DESC, t.id DESC"
    ))
    .bind(user)
    .bind(since)
    .fetch_all(e)
    .await)
    .context("listing a user's tokens")
}

/// The tokens of an organization's members that still work, for its owners.
pub async fn list_for_org(
    conn: &mut Conn,
    org: OrgId,
    now: i64,
) -> anyhow::Result<Vec<ApiTokenRow>> {
    on!(conn, |e| sqlx::query_as(&format!(
        "{SELECT} WHERE t.organization_id = $1 AND t.revoked_at IS NULL AND t.expires_at > $2
         ORDER BY u.email, t.created_at DESC, t.id DESC"
    ))
    .bind(org)
    .bind(now)
    .fetch_all(e)
    .await)
    .context("listing an organization's tokens")
}

pub async fn find(conn: &mut Conn, token_id: &str) -> anyhow::Result<Option<ApiTokenRow>> {
    on!(conn, |e| sqlx::query_as(&format!(
        "{SELECT} WHERE t.token_id = $1"
    ))
    .bind(token_id)
    .fetch_optional(e)
    .await)
    .context("loading a token")
}

#[derive(FromRow)]
struct AuthRow {
    id: i64,
    token_id: String,
    user_id: UserId,
    email: String,
    organization_id: OrgId,
    name: String,
    access: TokenAccess,
    expires_at: i64,
    revoked_at: Option<i64>,
    last_used_at: Option<i64>,
    role: Option<Role>,
    credentials_permission: Option<CredentialsPermission>,
}

/// A presented token, with what its user may do in its organization now
/// (`member_access` is `None` once they are no longer a member).
pub struct Presented {
    pub id: i64,
    pub token_id: String,
    pub user: UserId,
    pub email: String,
    pub org: OrgId,
    pub name: String,
    pub access: TokenAccess,
    pub expires_at: i64,
    pub revoked_at: Option<i64>,
    pub last_used_at: Option<i64>,
    pub member_access: Option<Access>,
}

/// The token whose digest this is, in one indexed read.
pub async fn find_by_digest(conn: &mut Conn, digest: &str) -> anyhow::Result<Option<Presented>> {
    let row: Option<AuthRow> = on!(conn, |e| sqlx::query_as(
        "SELECT t.id, t.token_id, t.user_id, u.email, t.organization_id, t.name, t.access, t.expires_at,
                t.revoked_at, t.last_used_at, m.role, m.credentials_permission
         FROM api_tokens t
         JOIN users u ON u.id = t.user_id
         LEFT JOIN memberships m ON m.organization_id = t.organization_id AND m.user_id = t.user_id
         WHERE t.digest = $1",
    )
    .bind(digest)
    .fetch_optional(e)
    .await)
    .context("finding a token by digest")?;
    Ok(row.map(|r| Presented {
        member_access: r
            .role
            .and_then(|role| Access::from_columns(role, r.credentials_permission)),
        id: r.id,
        token_id: r.token_id,
        user: r.user_id,
        email: r.email,
        org: r.organization_id,
        name: r.name,
        access: r.access,
        expires_at: r.expires_at,
        revoked_at: r.revoked_at,
        last_used_at: r.last_used_at,
    }))
}

/// Records a use: at most once a minute, so reads stay cheap.
pub async fn touch(conn: &mut Conn, id: i64, ip: &str, now: i64) -> anyhow::Result<()> {
    on!(conn, |e| sqlx::query(
        "UPDATE api_tokens SET last_used_at = $1, last_used_ip = $2
         WHERE id = $3 AND (last_used_at IS NULL OR last_used_at < $4)",
    )
    .bind(now)
    .bind(ip)
    .bind(id)
    .bind(now - 60)
    .execute(e)
    .await
    .map(|r| r.rows_affected()))
    .context("recording a token's use")?;
    Ok(())
}

/// Revokes one token; `false` when it was revoked already.
pub async fn revoke(conn: &mut Conn, token_id: &str, by: &str, now: i64) -> anyhow::Result<bool> {
    let n = on!(conn, |e| sqlx::query(
        "UPDATE api_tokens SET revoked_at = $1, revoked_by = $2 WHERE token_id = $3 AND revoked_at IS NULL",
    )
    .bind(now)
    .bind(by)
    .bind(token_id)
    .execute(e)
    .await
    .map(|r| r.rows_affected()))
    .context("revoking a token")?;
    Ok(n > 0)
}

/// Which of a user's tokens to revoke.
pub enum Scope {
    /// Every token, in every organization (a password change).
    Everywhere,
    /// Every token in one organization (they left it).
    In(OrgId),
    /// The write tokens in one organization (they lost Can Edit).
    WriteIn(OrgId),
}

/// Revokes a user's live tokens; returns how many.
pub async fn revoke_for_user(
    conn: &mut Conn,
    user: UserId,
    scope: Scope,
    by: &str,
    now: i64,
) -> anyhow::Result<u64> {
    let (filter, org) = match scope {
        Scope::Everywhere => ("", None),
        Scope::In(org) => (" AND organization_id = $4", Some(org)),
        Scope::WriteIn(org) => (" AND organization_id = $4 AND access = 'write'", Some(org)),
    };
    let sql = format!(
        "UPDATE api_tokens SET revoked_at = $1, revoked_by = $2 WHERE user_id = $3 AND revoked_at IS NULL{filter}"
    );
    on!(conn, |e| {
        let query = sqlx::query(&sql).bind(now).bind(by).bind(user);
        let query = match org {
            Some(org) => query.bind(org),
            None => query,
        };
        query.execute(e).await.map(|r| r.rows_affected())
    })
    .context("revoking a user's tokens")
}

/// Whether the token is neither revoked nor expired, read in the caller's
/// transaction (under the organization's lock for a change).
pub async fn is_live(conn: &mut Conn, token_id: &str, now: i64) -> anyhow::Result<bool> {
    let live: Option<i64> = on!(conn, |e| {
        sqlx::query_scalar(
        "SELECT id FROM api_tokens WHERE token_id = $1 AND revoked_at IS NULL AND expires_at > $2",
    )
    .bind(token_id)
    .bind(now)
    .fetch_optional(e)
    .await
    })
    .context("checking a token under the lock")?;
    Ok(live.is_some())
}

/// Locks the user's row until the transaction ends, so the tokens counted
/// across every organization cannot grow behind the count: the
/// organization's lock alone lets two organizations' creates for one user
/// pass together. SQLite's write transactions are serialised already.
pub async fn lock_holder(conn: &mut Conn, user: UserId) -> anyhow::Result<()> {
    if let Either::Postgres(e) = conn.exec() {
        sqlx::query("SELECT id FROM users WHERE id = $1 FOR NO KEY UPDATE")
            .bind(user)
            .execute(e)
            .await
            .context("locking a token holder")?;
    }
    Ok(())
}

/// How many live tokens the user holds, in every organization.
pub async fn count_live(conn: &mut Conn, user: UserId, now: i64) -> anyhow::Result<i64> {
    on!(conn, |e| sqlx::query_scalar(
        "SELECT COUNT(*) FROM api_tokens WHERE user_id = $1 AND revoked_at IS NULL AND expires_at > $2",
    )
    .bind(user)
    .bind(now)
    .fetch_one(e)
    .await)
    .context("counting a user's tokens")
}
