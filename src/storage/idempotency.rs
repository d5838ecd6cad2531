//! Idempotency keys the API has seen, with what their first request made.

use anyhow::Context;
use sqlx::FromRow;

use super::Conn;
use crate::domain::{OrgId, UserId};

#[derive(Debug, Clone, FromRow)]
pub struct Used {
    pub fingerprint: String,
    pub operation: String,
    /// The client ID (or request ID) the first request made.
    pub result: String,
    pub created_at: i64,
}

/// Forgets the user's keys older than `before`, then finds `key`.
pub async fn find(
    conn: &mut Conn,
    org: OrgId,
    user: UserId,
    key: &str,
    before: i64,
) -> anyhow::Result<Option<Used>> {
    on!(conn, |e| sqlx::query(
        "DELETE FROM idempotency_keys WHERE organization_id = $1 AND user_id = $2 AND created_at < $3",
    )
    .bind(org)
    .bind(user)
    .bind(before)
    .execute(e)
    .await
    .map(|r| r.rows_affected()))
    .context("forgetting old idempotency keys")?;
    on!(conn, |e| sqlx::query_as(
        "SELECT fingerprint, operation, result, created_at FROM idempotency_keys
         WHERE organization_id = $1 AND user_id = $2 AND idem_key = $3",
    )
    .bind(org)
    .bind(user)
    .bind(key)
    .fetch_optional(e)
    .await)
    .context("finding an idempotency key")
}

pub struct NewKey<'a> {
    pub org: OrgId,
    pub user: UserId,
    pub key: &'a str,
    pub fingerprint: &'a str,
    pub operation: &'a str,
    pub result: &'a str,
}

pub async fn insert(conn: &mut Conn, new: &NewKey<'_>, now: i64) -> anyhow::Result<()> {
    on!(conn, |e| sqlx::query(
        "INSERT INTO idempotency_keys (organization_id, user_id, idem_key, fingerprint, operation, result, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(new.org)
    .bind(new.user)
    .bind(new.key)
    .bind(new.fingerprint)
    .bind(new.operation)
    .bind(new.result)
    .bind(now)
    .execute(e)
    .await
    .map(|r| r.rows_affected()))
    .context("remembering an idempotency key")?;
    Ok(())
}
