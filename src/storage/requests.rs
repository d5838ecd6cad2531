//! Credential requests: when an organization requires approval, an
//! administrator's New Credential waits here for an owner's decision.

use anyhow::Context;
use sqlx::FromRow;

use super::{Conn, Db, is_unique_violation};
use crate::on;

#[derive(Debug, Clone, FromRow)]
pub struct Request {
    pub id: i64,
    pub request_id: String,
    pub name: String,
    pub description: Option<String>,
    pub permission_set: String,
    pub permissions: String,
    pub ip_allowlist: String,
    pub justification: String,
    pub requested_by: i64,
    pub requested_by_email: String,
    pub status: String,
    pub decided_by: Option<String>,
    pub decided_at: Option<i64>,
    pub created_at: i64,
}

pub struct NewRequest<'a> {
    pub org_id: i64,
    pub request_id: &'a str,
    pub name: &'a str,
    pub description: Option<&'a str>,
    pub permission_set: &'a str,
    pub permissions: &'a str,
    pub ip_allowlist: &'a str,
    pub justification: &'a str,
    pub requested_by: i64,
    pub requested_by_email: &'a str,
}

const COLUMNS: &str =
    "id, request_id, name, description, permission_set, permissions, ip_allowlist, justification,
    requested_by, requested_by_email, status, decided_by, decided_at, created_at";

/// Requests shown on the Credentials page: active ones, and decisions of the last week.
pub const SHOWN_FOR_SECS: i64 = 7 * 24 * 3600;

impl Db {
    pub async fn requests_of(&self, org_id: i64, now: i64) -> anyhow::Result<Vec<Request>> {
        on!(self, |e| sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM credential_requests
             WHERE organization_id = $1 AND (status IN ('pending', 'approved') OR (status = 'rejected' AND decided_at >= $2))
             ORDER BY created_at, id"
        ))
        .bind(org_id)
        .bind(now - SHOWN_FOR_SECS)
        .fetch_all(e)
        .await)
        .context("listing credential requests")
    }
}

pub async fn find(
    conn: &mut Conn,
    org_id: i64,
    request_id: &str,
) -> anyhow::Result<Option<Request>> {
    on!(conn, |e| sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM credential_requests WHERE organization_id = $1 AND request_id = $2"
    ))
    .bind(org_id)
    .bind(request_id)
    .fetch_optional(e)
    .await)
    .context("loading a credential request")
}

/// `Ok(false)` when an active request holds the name already.
pub async fn insert(conn: &mut Conn, new: &NewRequest<'_>, now: i64) -> anyhow::Result<bool> {
    let inserted = on!(conn, |e| {
        sqlx::query(
        "INSERT INTO credential_requests
            (organization_id, request_id, name, name_key, description, permission_set, permissions, ip_allowlist,
             justification, requested_by, requested_by_email, status, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, 'pending', $12)",
    )
    .bind(new.org_id)
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
    .bind(now)
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

pub async fn set_status(
    conn: &mut Conn,
    id: i64,
    status: &str,
    decided_by: Option<&str>,
    now: i64,
) -> anyhow::Result<()> {
    let decided_by_sql = if decided_by.is_some() {
        ", decided_by = $3, decided_at = $4"
    } else {
        ""
    };
    let sql = format!("UPDATE credential_requests SET status = $1{decided_by_sql} WHERE id = $2");
    on!(conn, |e| {
        let mut query = sqlx::query(&sql).bind(status).bind(id);
        if let Some(who) = decided_by {
            query = query.bind(who).bind(now);
        }
        query.execute(e).await.map(|r| r.rows_affected())
    })
    .context("updating a credential request")?;
    Ok(())
}
