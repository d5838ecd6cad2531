//! Expiry reminders: which credentials have one due, and which went out
//! (one row per credential and threshold, so each goes out once).

use anyhow::Context;
use sqlx::FromRow;

use super::Conn;
use crate::domain::{ClientId, CredentialId, OrgId};

/// A credential whose expiry is near or past, for reminders.
#[derive(Debug, Clone, FromRow)]
pub struct Expiring {
    pub id: CredentialId,
    pub organization_id: OrgId,
    pub client_id: ClientId,
    pub name: String,
    pub created_by: String,
    pub expires_at: i64,
    /// The smallest threshold already reminded of (0 once expired), if any.
    pub reminded: Option<i64>,
}

/// Credentials whose reminder is due at `now` and not yet sent, soonest
/// first: the threshold they are at (0 once expired, else the smallest of 1,
/// 7 and 30 days their remaining time is within) has no reminder at or below
/// it. Those reminded already are left out in SQL, so however many there
/// are, the batch is all work to do.
pub async fn due(conn: &mut Conn, now: i64, limit: i64) -> anyhow::Result<Vec<Expiring>> {
    on!(conn, |e| sqlx::query_as(
        "SELECT c.id, c.organization_id, c.client_id, c.name, c.created_by, c.expires_at,
                (SELECT MIN(r.days) FROM credential_reminders r WHERE r.credential_id = c.id) AS reminded
         FROM credentials c
         WHERE c.expires_at IS NOT NULL AND c.expires_at <= $1 + 30 * 86400
           AND NOT EXISTS (
               SELECT 1 FROM credential_reminders r WHERE r.credential_id = c.id AND r.days <=
                   CASE WHEN c.expires_at <= $1 THEN 0
                        WHEN c.expires_at - $1 <= 86400 THEN 1
                        WHEN c.expires_at - $1 <= 7 * 86400 THEN 7
                        ELSE 30 END)
         ORDER BY c.expires_at LIMIT $2",
    )
    .bind(now)
    .bind(limit)
    .fetch_all(e)
    .await)
    .context("finding credentials with an expiry reminder due")
}

/// Records that the reminder at `days` went out. `false` when it had
/// already (another instance, or before a restart): then it is not sent.
pub async fn claim(conn: &mut Conn, id: CredentialId, days: i64, now: i64) -> anyhow::Result<bool> {
    let inserted = on!(conn, |e| sqlx::query(
        "INSERT INTO credential_reminders (credential_id, days, sent_at) VALUES ($1, $2, $3)
         ON CONFLICT (credential_id, days) DO NOTHING",
    )
    .bind(id)
    .bind(days)
    .bind(now)
    .execute(e)
    .await
    .map(|r| r.rows_affected()))
    .context("recording an expiry reminder")?;
    Ok(inserted == 1)
}

/// A new expiry date starts the reminders over.
pub async fn forget(conn: &mut Conn, id: CredentialId) -> anyhow::Result<()> {
    on!(conn, |e| sqlx::query(
        "DELETE FROM credential_reminders WHERE credential_id = $1"
    )
    .bind(id)
    .execute(e)
    .await
    .map(|r| r.rows_affected()))
    .context("forgetting expiry reminders")?;
    Ok(())
}
