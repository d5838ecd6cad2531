//! Credentials and their secrets. The rules about them (the limit, one
//! primary, unique names) are decided by the use cases in
//! `service::credentials`, inside the organization's write transaction; the
//! schema backs them with unique indexes.

use anyhow::Context;
use sqlx::FromRow;

use super::{Conn, is_unique_violation};
use crate::domain::credential::Places;
use crate::domain::ip::IpAllowlist;
use crate::domain::permission::{Permissions, SetType};
use crate::domain::{
    ClientId, CredentialId, CredentialStatus, OrgId, Plan, RequestRowId, SecretId,
};

#[derive(Debug, Clone, FromRow)]
pub struct Credential {
    pub id: CredentialId,
    pub client_id: ClientId,
    pub name: String,
    pub description: Option<String>,
    pub is_primary: bool,
    pub status: CredentialStatus,
    pub created_at: i64,
    pub created_by: String,
    pub last_rotated_at: Option<i64>,
    pub permission_set: SetType,
    pub permissions: Permissions,
    pub ip_allowlist: IpAllowlist,
    /// When it stops getting tokens, if ever.
    pub expires_at: Option<i64>,
    /// The newest use of any of its current secrets.
    pub last_used_at: Option<i64>,
    pub last_used_ip: Option<String>,
    /// The last four characters of the current secret.
    pub secret_hint: Option<String>,
    /// Where its secret was last reported leaked, and when.
    pub leak_url: Option<String>,
    pub leaked_at: Option<i64>,
}

/// A credential as the Credentials page's card shows it, read by [`list`]:
/// the credential, its previous secret during a rotation grace window, and
/// what the page needs to know of the requests.
#[derive(Debug, Clone, FromRow)]
pub struct Card {
    #[sqlx(flatten)]
    pub credential: Credential,
    /// How many requests the page shows (the same on every card), so the
    /// page asks for them only when there are any.
    pub shown_requests: i64,
    /// When the previous secret stops working, during a grace window.
    pub grace_until: Option<i64>,
    /// The previous secret's last use, and its last four characters.
    pub previous_last_used_at: Option<i64>,
    pub previous_last_used_ip: Option<String>,
    pub previous_hint: Option<String>,
}

/// What storage keeps of a secret: its keyed digest and its last four
/// characters, never more.
pub struct StoredSecret {
    pub digest: String,
    pub hint: String,
}

const SELECT: &str = "SELECT c.id, c.client_id, c.name, c.description, c.is_primary, c.status, c.created_at,
        c.created_by, c.last_rotated_at, c.permission_set, c.permissions, c.ip_allowlist, c.expires_at,
        (SELECT MAX(s.last_used_at) FROM credential_secrets s WHERE s.credential_id = c.id AND s.expires_at IS NULL) AS last_used_at,
        (SELECT s.last_used_ip FROM credential_secrets s WHERE s.credential_id = c.id AND s.expires_at IS NULL
          AND s.last_used_at IS NOT NULL ORDER BY s.last_used_at DESC LIMIT 1) AS last_used_ip,
        (SELECT s.hint FROM credential_secrets s WHERE s.credential_id = c.id AND s.expires_at IS NULL
          ORDER BY s.created_at DESC, s.id DESC LIMIT 1) AS secret_hint,
        (SELECT l.url FROM credential_leaks l WHERE l.credential_id = c.id
          ORDER BY l.reported_at DESC, l.id DESC LIMIT 1) AS leak_url,
        (SELECT MAX(l.reported_at) FROM credential_leaks l WHERE l.credential_id = c.id) AS leaked_at
     FROM credentials c";

/// A credential to insert, with what is kept of its first secret.
pub struct NewCredential<'a> {
    pub org: OrgId,
    pub client_id: &'a ClientId,
    pub name: &'a str,
    pub description: Option<&'a str>,
    pub secret: &'a StoredSecret,
    pub created_by: &'a str,
    pub is_primary: bool,
    pub permission_set: SetType,
    pub permissions: &'a Permissions,
    pub ip_allowlist: &'a IpAllowlist,
    pub expires_at: Option<i64>,
}

/// What Edit may change.
pub struct Changes<'a> {
    pub name: &'a str,
    pub description: Option<&'a str>,
    pub permission_set: SetType,
    pub permissions: &'a Permissions,
    pub ip_allowlist: &'a IpAllowlist,
    pub expires_at: Option<i64>,
}

/// The organization's credentials as the page's cards, primary first, each
/// also counting the requests shown on the page (active, or rejected since
/// `shown_since`).
pub async fn list(
    conn: &mut Conn,
    org: OrgId,
    shown_since: i64,
    now: i64,
) -> anyhow::Result<Vec<Card>> {
    let sql = SELECT.replacen(
        "FROM credentials c",
        ", (SELECT COUNT(*) FROM credential_requests r WHERE r.organization_id = c.organization_id
              AND (r.status IN ('pending', 'approved') OR (r.status IN ('rejected', 'cancelled', 'expired') AND r.decided_at >= $2))) AS shown_requests,
           (SELECT MAX(p.expires_at) FROM credential_secrets p WHERE p.credential_id = c.id AND p.expires_at > $3) AS grace_until,
           (SELECT p.last_used_at FROM credential_secrets p WHERE p.credential_id = c.id AND p.expires_at > $3
             ORDER BY p.expires_at DESC LIMIT 1) AS previous_last_used_at,
           (SELECT p.last_used_ip FROM credential_secrets p WHERE p.credential_id = c.id AND p.expires_at > $3
             ORDER BY p.expires_at DESC LIMIT 1) AS previous_last_used_ip,
           (SELECT p.hint FROM credential_secrets p WHERE p.credential_id = c.id AND p.expires_at > $3
             ORDER BY p.expires_at DESC LIMIT 1) AS previous_hint
         FROM credentials c",
        1,
    );
    on!(conn, |e| sqlx::query_as(&format!(
        "{sql} WHERE c.organization_id = $1 ORDER BY c.is_primary DESC, c.created_at, c.id"
    ))
    .bind(org)
    .bind(shown_since)
    .bind(now)
    .fetch_all(e)
    .await)
    .with_context(|| format!("listing the credentials of organization {org}"))
}

/// One credential of the organization; `None` for another organization's.
pub async fn find(
    conn: &mut Conn,
    org: OrgId,
    client_id: &ClientId,
) -> anyhow::Result<Option<Credential>> {
    on!(conn, |e| sqlx::query_as(&format!(
        "{SELECT} WHERE c.organization_id = $1 AND c.client_id = $2"
    ))
    .bind(org)
    .bind(client_id)
    .fetch_optional(e)
    .await)
    .with_context(|| format!("loading credential {client_id}"))
}

/// One credential of the organization by its row id.
pub async fn find_by_id(
    conn: &mut Conn,
    org: OrgId,
    id: CredentialId,
) -> anyhow::Result<Option<Credential>> {
    on!(conn, |e| sqlx::query_as(&format!(
        "{SELECT} WHERE c.organization_id = $1 AND c.id = $2"
    ))
    .bind(org)
    .bind(id)
    .fetch_optional(e)
    .await)
    .with_context(|| format!("loading credential {id}"))
}

/// The places of the limit that are taken: credentials, and requests for
/// new ones that are pending or approved within the last week.
pub async fn places(conn: &mut Conn, org: OrgId, now: i64) -> anyhow::Result<Places> {
    let (credentials, active_requests) = on!(conn, |e| sqlx::query_as(
        "SELECT (SELECT COUNT(*) FROM credentials WHERE organization_id = $1),
                (SELECT COUNT(*) FROM credential_requests WHERE organization_id = $1 AND credential_id IS NULL
                   AND (status = 'pending' OR (status = 'approved' AND decided_at >= $2)))",
    )
    .bind(org)
    .bind(now - crate::domain::request::APPROVAL_VALID_SECS)
    .fetch_one(e)
    .await)
    .context("counting credentials")?;
    Ok(Places {
        credentials,
        active_requests,
    })
}

/// Whether a credential of the organization has this name (case-insensitively).
pub async fn name_exists(conn: &mut Conn, org: OrgId, name: &str) -> anyhow::Result<bool> {
    let n: i64 = on!(conn, |e| sqlx::query_scalar(
        "SELECT COUNT(*) FROM credentials WHERE organization_id = $1 AND name_key = $2",
    )
    .bind(org)
    .bind(name.to_lowercase())
    .fetch_one(e)
    .await)
    .context("checking credential names")?;
    Ok(n > 0)
}

/// Whether an active request other than `except` holds this name.
pub async fn name_requested(
    conn: &mut Conn,
    org: OrgId,
    name: &str,
    except: Option<RequestRowId>,
) -> anyhow::Result<bool> {
    let n: i64 = on!(conn, |e| sqlx::query_scalar(
        "SELECT COUNT(*) FROM credential_requests
         WHERE organization_id = $1 AND name_key = $2 AND status IN ('pending', 'approved')
           AND credential_id IS NULL AND id <> $3",
    )
    .bind(org)
    .bind(name.to_lowercase())
    .bind(except.map_or(0, |r| r.0))
    .fetch_one(e)
    .await)
    .context("checking request names")?;
    Ok(n > 0)
}

/// Inserts a credential and its first secret. `Ok(None)` when the name is
/// taken (the unique index decides, under concurrency too).
pub async fn insert(
    conn: &mut Conn,
    new: &NewCredential<'_>,
    now: i64,
) -> anyhow::Result<Option<CredentialId>> {
    let inserted = on!(conn, |e| {
        sqlx::query_scalar(
            "INSERT INTO credentials
                (organization_id, client_id, name, name_key, description, is_primary, status, created_at, created_by,
                 updated_at, permission_set, permissions, ip_allowlist, expires_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $8, $10, $11, $12, $13) RETURNING id",
        )
        .bind(new.org)
        .bind(new.client_id)
        .bind(new.name)
        .bind(new.name.to_lowercase())
        .bind(new.description)
        .bind(new.is_primary)
        .bind(CredentialStatus::Enabled)
        .bind(now)
        .bind(new.created_by)
        .bind(new.permission_set)
        .bind(new.permissions)
        .bind(new.ip_allowlist)
        .bind(new.expires_at)
        .fetch_one(e)
        .await
    });
    let id = match inserted {
        Ok(id) => id,
        Err(e) if is_unique_violation(&e) => return Ok(None),
        Err(e) => return Err(e).context("creating a credential"),
    };
    insert_secret(conn, id, new.secret, now).await?;
    Ok(Some(id))
}

async fn insert_secret(
    conn: &mut Conn,
    credential: CredentialId,
    secret: &StoredSecret,
    now: i64,
) -> anyhow::Result<()> {
    on!(conn, |e| sqlx::query(
        "INSERT INTO credential_secrets (credential_id, digest, hint, created_at) VALUES ($1, $2, $3, $4)",
    )
    .bind(credential)
    .bind(&secret.digest)
    .bind(&secret.hint)
    .bind(now)
    .execute(e)
    .await
    .map(|r| r.rows_affected()))
    .context("storing a secret digest")?;
    Ok(())
}

/// Applies an Edit. `Ok(false)` when another credential has the name.
pub async fn update(
    conn: &mut Conn,
    id: CredentialId,
    changes: &Changes<'_>,
    now: i64,
) -> anyhow::Result<bool> {
    let updated = on!(conn, |e| {
        sqlx::query(
            "UPDATE credentials SET name = $1, name_key = $2, description = $3, permission_set = $4, permissions = $5,
                 ip_allowlist = $6, updated_at = $7, expires_at = $9
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
        .bind(changes.expires_at)
        .execute(e)
        .await
        .map(|r| r.rows_affected())
    });
    match updated {
        Ok(_) => Ok(true),
        Err(e) if is_unique_violation(&e) => Ok(false),
        Err(e) => Err(e).context("renaming a credential"),
    }
}

/// Gives the credential a new current secret; the client ID stays.
///
/// With a grace window (`previous_until`) the current secret keeps working
/// until then (any older secret still in its window goes at once); without
/// one, every previous secret stops at once.
pub async fn rotate(
    conn: &mut Conn,
    id: CredentialId,
    secret: &StoredSecret,
    previous_until: Option<i64>,
    now: i64,
) -> anyhow::Result<()> {
    let retire = match previous_until {
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
    if let Some(until) = previous_until {
        on!(conn, |e| sqlx::query("UPDATE credential_secrets SET expires_at = $1 WHERE credential_id = $2 AND expires_at IS NULL")
            .bind(until)
            .bind(id)
            .execute(e)
            .await
            .map(|r| r.rows_affected()))
            .context("starting a grace window")?;
    }
    insert_secret(conn, id, secret, now).await?;
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
pub async fn expire_previous(conn: &mut Conn, id: CredentialId) -> anyhow::Result<bool> {
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
pub async fn make_primary(
    conn: &mut Conn,
    org: OrgId,
    id: CredentialId,
    now: i64,
) -> anyhow::Result<()> {
    on!(conn, |e| sqlx::query(
        "UPDATE credentials SET is_primary = FALSE WHERE organization_id = $1 AND is_primary",
    )
    .bind(org)
    .execute(e)
    .await
    .map(|r| r.rows_affected()))
    .context("clearing the primary credential")?;
    on!(conn, |e| sqlx::query("UPDATE credentials SET is_primary = TRUE, updated_at = $1 WHERE id = $2 AND organization_id = $3")
        .bind(now)
        .bind(id)
        .bind(org)
        .execute(e)
        .await
        .map(|r| r.rows_affected()))
        .context("setting the primary credential")?;
    Ok(())
}

pub async fn set_status(
    conn: &mut Conn,
    id: CredentialId,
    status: CredentialStatus,
    now: i64,
) -> anyhow::Result<()> {
    on!(conn, |e| sqlx::query(
        "UPDATE credentials SET status = $1, updated_at = $2 WHERE id = $3"
    )
    .bind(status)
    .bind(now)
    .bind(id)
    .execute(e)
    .await
    .map(|r| r.rows_affected()))
    .context("changing a credential's status")?;
    Ok(())
}

/// Deletes a credential and its secrets.
pub async fn delete(conn: &mut Conn, id: CredentialId) -> anyhow::Result<()> {
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
    pub id: SecretId,
    pub digest: String,
    /// Set during a rotation grace window.
    pub expires_at: Option<i64>,
    pub last_used_at: Option<i64>,
}

/// What the token endpoint needs to know about a client, with its secrets.
#[derive(Debug, Clone)]
pub struct TokenClient {
    pub client_id: ClientId,
    pub org: OrgId,
    pub plan: Plan,
    pub status: CredentialStatus,
    pub permissions: Permissions,
    pub ip_allowlist: IpAllowlist,
    /// The credential's own expiry, if it has one.
    pub expires: Option<i64>,
    /// Tokens issued before this time are inactive (set by a leak report).
    pub tokens_before: Option<i64>,
    pub secrets: Vec<ClientSecret>,
}

#[derive(FromRow)]
struct TokenRow {
    client_id: ClientId,
    organization_id: OrgId,
    plan: Plan,
    status: CredentialStatus,
    permissions: Permissions,
    ip_allowlist: IpAllowlist,
    credential_expires_at: Option<i64>,
    tokens_before: Option<i64>,
    secret_id: Option<SecretId>,
    digest: Option<String>,
    expires_at: Option<i64>,
    last_used_at: Option<i64>,
}

/// The client and its secrets in one indexed read.
pub async fn token_client(
    conn: &mut Conn,
    client_id: &ClientId,
) -> anyhow::Result<Option<TokenClient>> {
    let rows: Vec<TokenRow> = on!(conn, |e| {
        sqlx::query_as(
            "SELECT c.client_id, c.organization_id, o.plan, c.status, c.permissions, c.ip_allowlist,
                    c.expires_at AS credential_expires_at, c.tokens_before, s.id AS secret_id, s.digest, s.expires_at, s.last_used_at
             FROM credentials c
             JOIN organizations o ON o.id = c.organization_id
             LEFT JOIN credential_secrets s ON s.credential_id = c.id
             WHERE c.client_id = $1",
        )
        .bind(client_id)
        .fetch_all(e)
        .await
    })
    .with_context(|| format!("loading client {client_id}"))?;
    let mut rows = rows.into_iter();
    let Some(first) = rows.next() else {
        return Ok(None);
    };
    let secret = |row: &TokenRow| match (row.secret_id, &row.digest) {
        (Some(id), Some(digest)) => Some(ClientSecret {
            id,
            digest: digest.clone(),
            expires_at: row.expires_at,
            last_used_at: row.last_used_at,
        }),
        _ => None,
    };
    let mut secrets: Vec<ClientSecret> = secret(&first).into_iter().collect();
    secrets.extend(rows.filter_map(|row| secret(&row)));
    Ok(Some(TokenClient {
        client_id: first.client_id,
        org: first.organization_id,
        plan: first.plan,
        status: first.status,
        permissions: first.permissions,
        ip_allowlist: first.ip_allowlist,
        expires: first.credential_expires_at,
        tokens_before: first.tokens_before,
        secrets,
    }))
}

/// The credential a secret belongs to, by the secret's digest (current or
/// in a grace window), in any organization: for leak reports.
pub async fn find_by_secret_digest(
    conn: &mut Conn,
    digest: &str,
) -> anyhow::Result<Option<(OrgId, CredentialId)>> {
    on!(conn, |e| sqlx::query_as(
        "SELECT c.organization_id, c.id FROM credential_secrets s
         JOIN credentials c ON c.id = s.credential_id WHERE s.digest = $1",
    )
    .bind(digest)
    .fetch_optional(e)
    .await)
    .context("finding a credential by its secret")
}

/// Where a leaked secret was found; `false` when that place was reported already.
pub async fn record_leak(
    conn: &mut Conn,
    id: CredentialId,
    url: &str,
    source: &str,
    token_type: &str,
    now: i64,
) -> anyhow::Result<bool> {
    // ON CONFLICT rather than catching the violation: on PostgreSQL a
    // failed statement aborts the transaction the report runs in.
    let inserted = on!(conn, |e| sqlx::query(
        "INSERT INTO credential_leaks (credential_id, url, source, token_type, reported_at)
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (credential_id, url) DO NOTHING",
    )
    .bind(id)
    .bind(url)
    .bind(source)
    .bind(token_type)
    .bind(now)
    .execute(e)
    .await
    .map(|r| r.rows_affected()))
    .context("recording a leak")?;
    let new = inserted == 1;
    // What the leaked secret already obtained stops too: tokens issued
    // until now turn inactive at introspection.
    on!(conn, |e| sqlx::query(
        "UPDATE credentials SET tokens_before = $1 WHERE id = $2"
    )
    .bind(now)
    .bind(id)
    .execute(e)
    .await
    .map(|r| r.rows_affected()))
    .context("ending the tokens of a leaked secret")?;
    Ok(new)
}
