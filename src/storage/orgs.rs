//! Organizations.

use anyhow::Context;
use sqlx::FromRow;

use super::Conn;
use crate::domain::{OrgId, Plan};

#[derive(Debug, Clone, FromRow)]
pub struct Organization {
    pub id: OrgId,
    pub name: String,
    pub plan: Plan,
    pub require_approval: bool,
    /// When set, every credential must expire within this many days.
    pub max_credential_days: Option<i64>,
}

const COLUMNS: &str = "id, name, plan, require_approval, max_credential_days";

pub async fn find(conn: &mut Conn, id: OrgId) -> anyhow::Result<Option<Organization>> {
    on!(conn, |e| sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM organizations WHERE id = $1"
    ))
    .bind(id)
    .fetch_optional(e)
    .await)
    .with_context(|| format!("loading organization {id}"))
}

pub async fn find_by_name(conn: &mut Conn, name: &str) -> anyhow::Result<Option<Organization>> {
    on!(conn, |e| sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM organizations WHERE name = $1"
    ))
    .bind(name)
    .fetch_optional(e)
    .await)
    .context("loading an organization by name")
}

pub async fn all(conn: &mut Conn) -> anyhow::Result<Vec<Organization>> {
    on!(conn, |e| sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM organizations ORDER BY name, id"
    ))
    .fetch_all(e)
    .await)
    .context("listing organizations")
}

pub async fn insert(conn: &mut Conn, name: &str, plan: Plan, now: i64) -> anyhow::Result<OrgId> {
    on!(conn, |e| sqlx::query_scalar(
        "INSERT INTO organizations (name, plan, require_approval, created_at)
         VALUES ($1, $2, FALSE, $3) RETURNING id",
    )
    .bind(name)
    .bind(plan)
    .bind(now)
    .fetch_one(e)
    .await)
    .context("creating an organization")
}

pub async fn update_settings(
    conn: &mut Conn,
    id: OrgId,
    name: &str,
    require_approval: bool,
    max_credential_days: Option<i64>,
) -> anyhow::Result<()> {
    on!(conn, |e| sqlx::query(
        "UPDATE organizations SET name = $1, require_approval = $2, max_credential_days = $4 WHERE id = $3"
    )
    .bind(name)
    .bind(require_approval)
    .bind(id)
    .bind(max_credential_days)
    .execute(e)
    .await
    .map(|r| r.rows_affected()))
    .context("updating an organization")?;
    Ok(())
}

pub async fn count(conn: &mut Conn) -> anyhow::Result<i64> {
    on!(conn, |e| sqlx::query_scalar(
        "SELECT COUNT(*) FROM organizations"
    )
    .fetch_one(e)
    .await)
    .context("counting organizations")
}
