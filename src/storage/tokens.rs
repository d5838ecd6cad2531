//! Revoked tokens and last-used bookkeeping for the token endpoint.

use anyhow::Context;

use super::{Connection, Db};
use crate::on;

/// Last-used time and address are written at most this often per secret.
pub const LAST_USED_EVERY_SECS: i64 = 60;

impl Db {
    pub async fn revoke_token(
        &self,
        jti: &str,
        client_id: &str,
        expires_at: i64,
        now: i64,
    ) -> anyhow::Result<()> {
        let mut tx = self.begin().await.context("revoking a token")?;
        on!(tx, |e| sqlx::query("INSERT INTO revoked_tokens (jti, client_id, expires_at) VALUES ($1, $2, $3) ON CONFLICT (jti) DO NOTHING")
            .bind(jti)
            .bind(client_id)
            .bind(expires_at)
            .execute(e)
            .await
            .map(|r| r.rows_affected()))
        .context("revoking a token")?;
        on!(tx, |e| sqlx::query(
            "DELETE FROM revoked_tokens WHERE expires_at < $1"
        )
        .bind(now)
        .execute(e)
        .await
        .map(|r| r.rows_affected()))
        .context("forgetting expired revocations")?;
        tx.commit().await.context("revoking a token")
    }

    pub async fn is_revoked(&self, jti: &str) -> anyhow::Result<bool> {
        let n: i64 = on!(self, |e| sqlx::query_scalar(
            "SELECT COUNT(*) FROM revoked_tokens WHERE jti = $1"
        )
        .bind(jti)
        .fetch_one(e)
        .await)
        .context("checking a revocation")?;
        Ok(n > 0)
    }

    /// Records a successful use of a secret, unless one was recorded less than
    /// a minute ago: the condition is in the UPDATE, so concurrent requests
    /// and several instances still write at most once a minute.
    pub async fn touch_secret(&self, secret_id: i64, ip: &str, now: i64) -> anyhow::Result<()> {
        on!(self, |e| sqlx::query(
            "UPDATE credential_secrets SET last_used_at = $1, last_used_ip = $2
             WHERE id = $3 AND (last_used_at IS NULL OR last_used_at <= $4)",
        )
        .bind(now)
        .bind(ip)
        .bind(secret_id)
        .bind(now - LAST_USED_EVERY_SECS)
        .execute(e)
        .await
        .map(|r| r.rows_affected()))
        .context("recording a secret's last use")?;
        Ok(())
    }
}
