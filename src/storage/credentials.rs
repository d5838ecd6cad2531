//! Credentials and their secrets. The rules that must hold under concurrency
//! (at most three per organization, exactly one primary while any exist,
//! unique names) are checked inside the write transaction, and the schema
//! backs them with unique indexes.

use anyhow::Context;
use sqlx::FromRow;

use super::{Conn, Db, is_unique_violation};
use crate::domain::credential::MAX_CREDENTIALS;
use crate::on;

#[derive(Debug, Clone, FromRow)]
pub struct Credential {
    pub id: i64,
    pub client_id: String,
    pub name: String,
    pub description: Option<String>,
    pub is_primary: bool,
    pub status: String,
    pub created_at: i64,
    pub created_by: String,
    pub last_rotated_at: Option<i64>,
    pub permission_set: String,
    pub permissions: String,
    pub ip_allowlist: String,
    /// The newest use of any of its secrets.
    pub last_used_at: Option<i64>,
    pub last_used_ip: Option<String>,
    /// How many requests the Credentials page shows (filled by `credentials_of`
    /// only), so the page asks for them only when there are any.
    #[sqlx(default)]
    pub shown_requests: i64,
    /// During a rotation grace window: when the previous secret stops
    /// working, and its last use (filled by `credentials_of` only).
    #[sqlx(default)]
    pub grace_until: Option<i64>,
    #[sqlx(default)]
    pub previous_last_used_at: Option<i64>,
    #[sqlx(default)]
    pub previous_last_used_ip: Option<String>,
}

impl Credential {
    pub fn is_enabled(&self) -> bool {
        self.status == "enabled"
    }
}

const SELECT: &str = "SELECT c.id, c.client_id, c.name, c.description, c.is_primary, c.status, c.created_at,
        c.created_by, c.last_rotated_at, c.permission_set, c.permissions, c.ip_allowlist,
        (SELECT MAX(s.last_used_at) FROM credential_secrets s WHERE s.credential_id = c.id AND s.expires_at IS NULL) AS last_used_at,
        (SELECT s.last_used_ip FROM credential_secrets s WHERE s.credential_id = c.id AND s.expires_at IS NULL
          AND s.last_used_at IS NOT NULL ORDER BY s.last_used_at DESC LIMIT 1) AS last_used_ip
     FROM credentials c";

pub struct NewCredential<'a> {
    pub org_id: i64,
    pub client_id: &'a str,
    pub name: &'a str,
    pub description: Option<&'a str>,
    pub digest: &'a str,
    pub created_by: &'a str,
    pub permission_set: &'a str,
    /// Space-separated OAuth scopes.
    pub permissions: &'a str,
    pub ip_allowlist: &'a str,
}

/// What Edit may change.
pub struct Changes<'a> {
    pub name: &'a str,
    pub description: Option<&'a str>,
    pub permission_set: &'a str,
    pub permissions: &'a str,
    pub ip_allowlist: &'a str,
}

#[derive(Debug, PartialEq, Eq)]
pub enum Created {
    Created { is_primary: bool },
    LimitReached,
    NameTaken,
}

#[derive(Debug, PartialEq, Eq)]
pub enum Renamed {
    Renamed,
    NameTaken,
}

impl Db {
    /// The organization's credentials, primary first, each row also counting
    /// the requests shown on the page (active, or rejected since `shown_since`).
    pub async fn credentials_of(
        &self,
        org_id: i64,
        shown_since: i64,
        now: i64,
    ) -> anyhow::Result<Vec<Credential>> {
        let sql = SELECT.replacen(
            "FROM credentials c",
            ", (SELECT COUNT(*) FROM credential_requests r WHERE r.organization_id = c.organization_id
                  AND (r.status IN ('pending', 'approved') OR (r.status = 'rejected' AND r.decided_at >= $2))) AS shown_requests,
               (SELECT MAX(p.expires_at) FROM credential_secrets p WHERE p.credential_id = c.id AND p.expires_at > $3) AS grace_until,
               (SELECT p.last_used_at FROM credential_secrets p WHERE p.credential_id = c.id AND p.expires_at > $3
                 ORDER BY p.expires_at DESC LIMIT 1) AS previous_last_used_at,
               (SELECT p.last_used_ip FROM credential_secrets p WHERE p.credential_id = c.id AND p.expires_at > $3
                 ORDER BY p.expires_at DESC LIMIT 1) AS previous_last_used_ip
             FROM credentials c",
            1,
        );
        on!(self, |e| sqlx::query_as(&format!(
            "{sql} WHERE c.organization_id = $1 ORDER BY c.is_primary DESC, c.created_at, c.id"
        ))
        .bind(org_id)
        .bind(shown_since)
        .bind(now)
        .fetch_all(e)
        .await)
        .context("listing credentials")
    }

    pub async fn credential(
        &self,
        org_id: i64,
        client_id: &str,
    ) -> anyhow::Result<Option<Credential>> {
        let mut conn = self.acquire().await.context("loading a credential")?;
        find(&mut conn, org_id, client_id).await
    }
}

/// A credential of `org_id` by client ID; another organization's is `None`,
/// exactly like one that does not exist.
pub async fn find(
    conn: &mut Conn,
    org_id: i64,
    client_id: &str,
) -> anyhow::Result<Option<Credential>> {
    on!(conn, |e| sqlx::query_as(&format!(
        "{SELECT} WHERE c.organization_id = $1 AND c.client_id = $2"
    ))
    .bind(org_id)
    .bind(client_id)
    .fetch_optional(e)
    .await)
    .context("loading a credential")
}

/// The organization's credentials, and its active (pending or approved) requests.
async fn counts(conn: &mut Conn, org_id: i64) -> anyhow::Result<(i64, i64)> {
    on!(conn, |e| sqlx::query_as(
        "SELECT (SELECT COUNT(*) FROM credentials WHERE organization_id = $1),
                (SELECT COUNT(*) FROM credential_requests WHERE organization_id = $1 AND status IN ('pending', 'approved'))",
    )
    .bind(org_id)
    .fetch_one(e)
    .await)
    .context("counting credentials")
}

/// Credentials plus active requests: what the limit counts.
pub async fn count(conn: &mut Conn, org_id: i64) -> anyhow::Result<i64> {
    let (credentials, requests) = counts(conn, org_id).await?;
    Ok(credentials + requests)
}

/// Whether a credential of the organization has this name (case-insensitively).
pub async fn name_exists(conn: &mut Conn, org_id: i64, name: &str) -> anyhow::Result<bool> {
    let n: i64 = on!(conn, |e| sqlx::query_scalar(
        "SELECT COUNT(*) FROM credentials WHERE organization_id = $1 AND name_key = $2",
    )
    .bind(org_id)
    .bind(name.to_lowercase())
    .fetch_one(e)
    .await)
    .context("checking credential names")?;
    Ok(n > 0)
}

/// Whether an active request already holds this name.
pub async fn name_requested(
    conn: &mut Conn,
    org_id: i64,
    name: &str,
    except_request: Option<i64>,
) -> anyhow::Result<bool> {
    let n: i64 = on!(conn, |e| sqlx::query_scalar(
        "SELECT COUNT(*) FROM credential_requests
         WHERE organization_id = $1 AND name_key = $2 AND status IN ('pending', 'approved') AND id <> $3",
    )
    .bind(org_id)
    .bind(name.to_lowercase())
    .bind(except_request.unwrap_or(0))
    .fetch_one(e)
    .await)
    .context("checking request names")?;
    Ok(n > 0)
}

/// Creates a credential and its first secret, if the organization has room.
/// The first credential of an organization is its primary.
/// Must run in a write transaction. `from_request` is the approved request
/// being turned into this credential: it already holds a place and the name.
pub async fn create(
    conn: &mut Conn,
    new: &NewCredential<'_>,
    from_request: Option<i64>,
    now: i64,
) -> anyhow::Result<Created> {
    let (credentials, requests) = counts(conn, new.org_id).await?;
    let existing = credentials + requests - i64::from(from_request.is_some());
    if existing >= MAX_CREDENTIALS {
        return Ok(Created::LimitReached);
    }
    if name_requested(conn, new.org_id, new.name, from_request).await? {
        return Ok(Created::NameTaken);
    }
    let is_primary = credentials == 0;
    let inserted = on!(conn, |e| {
        sqlx::query_scalar::<_, i64>(
        "INSERT INTO credentials
            (organization_id, client_id, name, name_key, description, is_primary, status, created_at, created_by,
             updated_at, permission_set, permissions, ip_allowlist)
         VALUES ($1, $2, $3, $4, $5, $6, 'enabled', $7, $8, $7, $9, $10, $11) RETURNING id",
    )
    .bind(new.org_id)
    .bind(new.client_id)
    .bind(new.name)
    .bind(new.name.to_lowercase())
    .bind(new.description)
    .bind(is_primary)
    .bind(now)
    .bind(new.created_by)
    .bind(new.permission_set)
    .bind(new.permissions)
    .bind(new.ip_allowlist)
    .fetch_one(e)
    .await
    });
    let id = match inserted {
        Ok(id) => id,
        Err(e) if is_unique_violation(&e) => return Ok(Created::NameTaken),
        Err(e) => return Err(e).context("creating a credential"),
    };
    insert_secret(conn, id, new.digest, now).await?;
    Ok(Created::Created { is_primary })
}

async fn insert_secret(
    conn: &mut Conn,
    credential_id: i64,
    digest: &str,
    now: i64,
) -> anyhow::Result<()> {
    on!(conn, |e| sqlx::query(
        "INSERT INTO credential_secrets (credential_id, digest, created_at) VALUES ($1, $2, $3)",
    )
    .bind(credential_id)
    .bind(digest)
    .bind(now)
    .execute(e)
    .await
    .map(|r| r.rows_affected()))
    .context("storing a secret digest")?;
    Ok(())
}

/// Applies an Edit. Must run in a write transaction.
pub async fn update(
    conn: &mut Conn,
    org_id: i64,
    id: i64,
    changes: &Changes<'_>,
    now: i64,
) -> anyhow::Result<Renamed> {
    if name_requested(conn, org_id, changes.name, None).await? {
        return Ok(Renamed::NameTaken);
    }
    let updated = on!(conn, |e| {
        sqlx::query(
        "UPDATE credentials SET name = $1, name_key = $2, description = $3, permission_set = $4, permissions = $5,
             ip_allowlist = $6, updated_at = $7
         WHERE id = $8",
    )
    .bind(changes.name)
    .bind(changes.name.to_lowercase())
    .bind(changes.description)
    .bind(changes.permission_set)
    .bind(changes.permissions)
    .bind(changes.ip_allowlist)
    .bind(now)
    .bind(id)
    .execute(e)
    .await
    .map(|r| r.rows_affected())
    });
    match updated {
        Ok(_) => Ok(Renamed::Renamed),
        Err(e) if is_unique_violation(&e) => Ok(Renamed::NameTaken),
        Err(e) => Err(e).context("renaming a credential"),
    }
}

/// Replaces every secret of the credential with a new one: the previous
/// secret stops working at once. The client ID stays.
///
/// With a grace window the current secret keeps working until `now + grace`
/// (any older secret still in its window goes at once); without one, every
/// previous secret stops at once.
pub async fn rotate(
    conn: &mut Conn,
    id: i64,
    digest: &str,
    grace: Option<i64>,
    now: i64,
) -> anyhow::Result<()> {
    let retire = match grace {
        Some(_) => {
            "DELETE FROM credential_secrets WHERE credential_id = $1 AND expires_at IS NOT NULL"
        }
        None => "DELETE FROM credential_secrets WHERE credential_id = $1",
    };
    on!(conn, |e| sqlx::query(retire)
        .bind(id)
        .execute(e)
        .await
        .map(|r| r.rows_affected()))
    .context("retiring the previous secret")?;
    if let Some(window) = grace {
        on!(conn, |e| sqlx::query("UPDATE credential_secrets SET expires_at = $1 WHERE credential_id = $2 AND expires_at IS NULL")
            .bind(now + window)
            .bind(id)
            .execute(e)
            .await
            .map(|r| r.rows_affected()))
            .context("starting a grace window")?;
    }
    insert_secret(conn, id, digest, now).await?;
    on!(conn, |e| sqlx::query(
        "UPDATE credentials SET last_rotated_at = $1, updated_at = $1 WHERE id = $2"
    )
    .bind(now)
    .bind(id)
    .execute(e)
    .await
    .map(|r| r.rows_affected()))
    .context("recording a rotation")?;
    Ok(())
}

/// Ends a grace window now: the previous secret stops working.
/// Returns whether there was one.
pub async fn expire_previous(conn: &mut Conn, id: i64) -> anyhow::Result<bool> {
    let done = on!(conn, |e| sqlx::query(
        "DELETE FROM credential_secrets WHERE credential_id = $1 AND expires_at IS NOT NULL",
    )
    .bind(id)
    .execute(e)
    .await
    .map(|r| r.rows_affected()))
    .context("expiring the previous secret")?;
    Ok(done > 0)
}

/// Makes `id` the one primary credential of its organization.
pub async fn make_primary(conn: &mut Conn, org_id: i64, id: i64, now: i64) -> anyhow::Result<()> {
    on!(conn, |e| sqlx::query(
        "UPDATE credentials SET is_primary = FALSE WHERE organization_id = $1 AND is_primary",
    )
    .bind(org_id)
    .execute(e)
    .await
    .map(|r| r.rows_affected()))
    .context("clearing the primary credential")?;
    on!(conn, |e| sqlx::query("UPDATE credentials SET is_primary = TRUE, updated_at = $1 WHERE id = $2 AND organization_id = $3")
        .bind(now)
        .bind(id)
        .bind(org_id)
        .execute(e)
        .await
        .map(|r| r.rows_affected()))
        .context("setting the primary credential")?;
    Ok(())
}

/// Enables or disables a credential. A disabled one gets no new tokens.
pub async fn set_enabled(conn: &mut Conn, id: i64, enabled: bool, now: i64) -> anyhow::Result<()> {
    on!(conn, |e| sqlx::query(
        "UPDATE credentials SET status = $1, updated_at = $2 WHERE id = $3"
    )
    .bind(if enabled { "enabled" } else { "disabled" })
    .bind(now)
    .bind(id)
    .execute(e)
    .await
    .map(|r| r.rows_affected()))
    .context("changing a credential's status")?;
    Ok(())
}

/// Deletes a credential and its secrets. Callers refuse the primary first.
pub async fn delete(conn: &mut Conn, id: i64) -> anyhow::Result<()> {
    on!(conn, |e| sqlx::query(
        "DELETE FROM credentials WHERE id = $1"
    )
    .bind(id)
    .execute(e)
    .await
    .map(|r| r.rows_affected()))
    .context("deleting a credential")?;
    Ok(())
}

/// A secret as the token endpoint checks it.
#[derive(Debug, Clone)]
pub struct ClientSecret {
    pub id: i64,
    pub digest: String,
    /// Set during a rotation grace window.
    pub expires_at: Option<i64>,
    pub last_used_at: Option<i64>,
}

/// What the token endpoint needs to know about a client, with its secrets.
#[derive(Debug, Clone)]
pub struct TokenClient {
    pub client_id: String,
    pub org_id: i64,
    pub plan: String,
    pub enabled: bool,
    pub permissions: String,
    pub ip_allowlist: String,
    pub secrets: Vec<ClientSecret>,
}

#[derive(FromRow)]
struct TokenRow {
    client_id: String,
    organization_id: i64,
    plan: String,
    status: String,
    permissions: String,
    ip_allowlist: String,
    secret_id: Option<i64>,
    digest: Option<String>,
    expires_at: Option<i64>,
    last_used_at: Option<i64>,
}

impl Db {
    /// The client and its secrets in one indexed read.
    pub async fn token_client(&self, client_id: &str) -> anyhow::Result<Option<TokenClient>> {
        let rows: Vec<TokenRow> = on!(self, |e| {
            sqlx::query_as(
            "SELECT c.client_id, c.organization_id, o.plan, c.status, c.permissions, c.ip_allowlist,
                    s.id AS secret_id, s.digest, s.expires_at, s.last_used_at
             FROM credentials c
             JOIN organizations o ON o.id = c.organization_id
             LEFT JOIN credential_secrets s ON s.credential_id = c.id
             WHERE c.client_id = $1",
        )
        .bind(client_id)
        .fetch_all(e)
        .await
        })
        .context("loading a client")?;
        let Some(first) = rows.first() else {
            return Ok(None);
        };
        let mut client = TokenClient {
            client_id: first.client_id.clone(),
            org_id: first.organization_id,
            plan: first.plan.clone(),
            enabled: first.status == "enabled",
            permissions: first.permissions.clone(),
            ip_allowlist: first.ip_allowlist.clone(),
            secrets: Vec::new(),
        };
        for row in rows {
            if let (Some(id), Some(digest)) = (row.secret_id, row.digest) {
                client.secrets.push(ClientSecret {
                    id,
                    digest,
                    expires_at: row.expires_at,
                    last_used_at: row.last_used_at,
                });
            }
        }
        Ok(Some(client))
    }
}
