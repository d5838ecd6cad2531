//! Revoked tokens and last-used bookkeeping for the token endpoint.

use anyhow::Context;

use super::Conn;
use crate::domain::{ClientId, SecretId};

/// Last-used time and address are written at most this often per secret.
pub const LAST_USED_EVERY_SECS: i64 = 60;

/// Remembers a revoked token until it would have expired anyway, and forgets
/// revocations of tokens that have.
pub async fn revoke(
    conn: &mut Conn,
    jti: &str,
    client_id: &ClientId,
    expires_at: i64,
    now: i64,
) -> anyhow::Result<()> {
    on!(conn, |e| sqlx::query("INSERT INTO revoked_tokens (jti, client_id, expires_at) VALUES ($1, $2, $3) ON CONFLICT (jti) DO NOTHING")
        .bind(jti)
        .bind(client_id)
        .bind(expires_at)
        .execute(e)
        .await
        .map(|r| r.rows_affected()))
    .context("revoking a token")?;
    on!(conn, |e| sqlx::query(
        "DELETE FROM revoked_tokens WHERE expires_at < $1"
    )
    .bind(now)
    .execute(e)
    .await
    .map(|r| r.rows_affected()))
    .context("forgetting expired revocations")?;
    Ok(())
}

pub async fn is_revoked(conn: &mut Conn, jti: &str) -> anyhow::Result<bool> {
    let n: i64 = on!(conn, |e| sqlx::query_scalar(
        "SELECT COUNT(*) FROM revoked_tokens WHERE jti = $1"
    )
    .bind(jti)
    .fetch_one(e)
    .await)
    .context("checking a revocation")?;
    Ok(n > 0)
}

/// Records a successful use of a secret, unless one was recorded less than
/// a minute ago: the condition is in the UPDATE, so concurrent requests and
/// several instances still write at most once a minute.
pub async fn touch_secret(
    conn: &mut Conn,
    secret: SecretId,
    ip: &str,
    now: i64,
) -> anyhow::Result<()> {
    on!(conn, |e| sqlx::query(
        "UPDATE credential_secrets SET last_used_at = $1, last_used_ip = $2
         WHERE id = $3 AND (last_used_at IS NULL OR last_used_at <= $4)",
    )
    .bind(now)
    .bind(ip)
    .bind(secret)
    .bind(now - LAST_USED_EVERY_SECS)
    .execute(e)
    .await
    .map(|r| r.rows_affected()))
    .context("recording a secret's last use")?;
    Ok(())
}
