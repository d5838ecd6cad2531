use anyhow::Context;
use sqlx::FromRow;

use super::{Conn, Db};
use crate::domain::Plan;
use crate::on;

#[derive(Debug, Clone, FromRow)]
pub struct Organization {
    pub id: i64,
    pub name: String,
    pub plan: String,
    pub require_approval: bool,
}

impl Organization {
    pub fn plan(&self) -> Plan {
        // The CHECK constraint allows only the two values; anything else is read
        // as the more restrictive plan.
        Plan::parse(&self.plan).unwrap_or(Plan::Trial)
    }
}

impl Db {
    pub async fn org_by_id(&self, id: i64) -> anyhow::Result<Option<Organization>> {
        on!(self, |e| sqlx::query_as(
            "SELECT id, name, plan, require_approval FROM organizations WHERE id = $1"
        )
        .bind(id)
        .fetch_optional(e)
        .await)
        .context("loading an organization")
    }

    pub async fn all_orgs(&self) -> anyhow::Result<Vec<Organization>> {
        on!(self, |e| sqlx::query_as(
            "SELECT id, name, plan, require_approval FROM organizations ORDER BY name, id",
        )
        .fetch_all(e)
        .await)
        .context("listing organizations")
    }

    pub async fn org_by_name(&self, name: &str) -> anyhow::Result<Option<Organization>> {
        on!(self, |e| sqlx::query_as(
            "SELECT id, name, plan, require_approval FROM organizations WHERE name = $1"
        )
        .bind(name)
        .fetch_optional(e)
        .await)
        .context("loading an organization")
    }
}

pub async fn insert(conn: &mut Conn, name: &str, plan: Plan, now: i64) -> anyhow::Result<i64> {
    on!(conn, |e| sqlx::query_scalar(
        "INSERT INTO organizations (name, plan, require_approval, created_at)
         VALUES ($1, $2, FALSE, $3) RETURNING id",
    )
    .bind(name)
    .bind(plan.as_str())
    .bind(now)
    .fetch_one(e)
    .await)
    .context("creating an organization")
}

pub async fn update_settings(
    conn: &mut Conn,
    id: i64,
    name: &str,
    require_approval: bool,
) -> anyhow::Result<()> {
    on!(conn, |e| sqlx::query(
        "UPDATE organizations SET name = $1, require_approval = $2 WHERE id = $3"
    )
    .bind(name)
    .bind(require_approval)
    .bind(id)
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
