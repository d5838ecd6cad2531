//! The append-only audit log. Triggers in the schema refuse UPDATE and DELETE,
//! so not even a bug in this program can rewrite history.

use anyhow::Context;
use serde_json::Value;
use sqlx::FromRow;

use super::{Conn, Db};

/// An event to record. `detail` is a small JSON object and never holds a secret.
#[derive(Debug, Clone)]
pub struct NewEvent {
    pub organization_id: Option<i64>,
    pub actor_user_id: Option<i64>,
    pub actor: String,
    pub action: &'static str,
    pub target: Option<String>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub detail: Value,
}

#[derive(Debug, Clone, FromRow)]
pub struct Event {
    pub id: i64,
    pub actor: String,
    pub action: String,
    pub target: Option<String>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub detail: String,
    pub created_at: i64,
}

pub async fn insert(conn: &mut Conn, event: &NewEvent, now: i64) -> anyhow::Result<()> {
    sqlx::query(
        "INSERT INTO audit_events
            (organization_id, actor_user_id, actor, action, target, ip, user_agent, detail, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(event.organization_id)
    .bind(event.actor_user_id)
    .bind(&event.actor)
    .bind(event.action)
    .bind(&event.target)
    .bind(&event.ip)
    .bind(&event.user_agent)
    .bind(event.detail.to_string())
    .bind(now)
    .execute(conn)
    .await
    .context("recording an audit event")?;
    Ok(())
}

impl Db {
    /// Records one event on its own (for events that come with no other change).
    pub async fn record(&self, event: &NewEvent, now: i64) -> anyhow::Result<()> {
        let mut conn = self
            .pool()
            .acquire()
            .await
            .context("recording an audit event")?;
        insert(&mut conn, event, now).await
    }

    /// The newest events of an organization, newest first, before `before_id` when given.
    pub async fn recent_events(
        &self,
        org_id: i64,
        before_id: Option<i64>,
        limit: i64,
    ) -> anyhow::Result<Vec<Event>> {
        sqlx::query_as(
            "SELECT id, actor, action, target, ip, user_agent, detail, created_at
             FROM audit_events
             WHERE organization_id = $1 AND ($2 IS NULL OR id < $2)
             ORDER BY id DESC LIMIT $3",
        )
        .bind(org_id)
        .bind(before_id)
        .bind(limit)
        .fetch_all(self.pool())
        .await
        .context("listing audit events")
    }
}
