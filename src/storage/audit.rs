//! The append-only audit log. Triggers in the schema refuse UPDATE and DELETE,
//! so not even a bug in this program can rewrite history.

use anyhow::Context;
use serde_json::Value;
use sqlx::FromRow;

use super::Conn;
use crate::domain::{AuditAction, EventId, OrgId, UserId};

/// An event to record. `detail` is a small JSON object and never holds a secret.
#[derive(Debug, Clone)]
pub struct NewEvent {
    pub organization_id: Option<OrgId>,
    pub actor_user_id: Option<UserId>,
    pub actor: String,
    pub action: AuditAction,
    pub target: Option<String>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub detail: Value,
}

#[derive(Debug, Clone, FromRow)]
pub struct Event {
    pub id: EventId,
    pub actor: String,
    pub action: AuditAction,
    pub target: Option<String>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub detail: String,
    pub created_at: i64,
    /// The acting user's display name, when the actor is a user who still exists.
    #[sqlx(default)]
    pub actor_name: Option<String>,
}

/// Records `event`. Use cases record theirs through `service::audit::record`,
/// which also offers it to the organization's webhooks.
pub async fn insert(conn: &mut Conn, event: &NewEvent, now: i64) -> anyhow::Result<()> {
    on!(conn, |e| sqlx::query(
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
    .execute(e)
    .await
    .map(|r| r.rows_affected()))
    .context("recording an audit event")?;
    Ok(())
}

/// Whether `org` recorded `action` on `target` after `since`.
pub async fn recorded_after(
    conn: &mut Conn,
    org: OrgId,
    action: AuditAction,
    target: &str,
    since: i64,
) -> anyhow::Result<bool> {
    let found: Option<i64> = on!(conn, |e| sqlx::query_scalar(
        "SELECT id FROM audit_events
         WHERE organization_id = $1 AND action = $2 AND target = $3 AND created_at > $4
         LIMIT 1",
    )
    .bind(org)
    .bind(action)
    .bind(target)
    .bind(since)
    .fetch_optional(e)
    .await)
    .context("looking for a recent audit event")?;
    Ok(found.is_some())
}

/// A user's own events (in no organization), newest first.
pub async fn personal(conn: &mut Conn, user: UserId, limit: i64) -> anyhow::Result<Vec<Event>> {
    on!(conn, |e| sqlx::query_as(
        "SELECT id, actor, action, target, ip, user_agent, detail, created_at FROM audit_events
         WHERE actor_user_id = $1 AND organization_id IS NULL ORDER BY id DESC LIMIT $2",
    )
    .bind(user)
    .bind(limit)
    .fetch_all(e)
    .await)
    .context("listing a user's own events")
}

/// What the Audit log page filters by; `None` means any.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// The event's target: a credential's client ID.
    pub target: Option<String>,
    pub actor: Option<String>,
    pub action: Option<AuditAction>,
    /// Unix seconds, inclusive.
    pub from: Option<i64>,
    /// Unix seconds, exclusive.
    pub until: Option<i64>,
}

/// One page of an organization's events, newest first, older than
/// `before_id` when given (keyset pagination: as fast on page 1,000 as on
/// page 1). Date bounds become id bounds found through the time index, so
/// the page itself is read in id order from the organization's index.
pub async fn list(
    conn: &mut Conn,
    org_id: OrgId,
    filter: &Filter,
    before_id: Option<EventId>,
    limit: i64,
) -> anyhow::Result<Vec<Event>> {
    // The builder is written once and expanded per backend by `on!`.
    on!(conn, |e| {
            let mut query = sqlx::QueryBuilder::new(
                "SELECT e.id, e.actor, e.action, e.target, e.ip, e.user_agent, e.detail, e.created_at,
                        u.display_name AS actor_name
                 FROM audit_events e LEFT JOIN users u ON u.id = e.actor_user_id
                 WHERE e.organization_id = ",
            );
            query.push_bind(org_id);
            if let Some(target) = &filter.target {
                query.push(" AND e.target = ").push_bind(target.clone());
            }
            if let Some(actor) = &filter.actor {
                // Part of an address matches: "olivia" finds olivia@acme.test.
                let pattern = format!(
                    "%{}%",
                    actor.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_")
                );
                query
                    .push(" AND e.actor LIKE ")
                    .push_bind(pattern)
                    .push(" ESCAPE '\\'");
            }
            if let Some(action) = &filter.action {
                query.push(" AND e.action = ").push_bind(*action);
            }
            if let Some(from) = filter.from {
                query
                    .push(" AND e.created_at >= ")
                    .push_bind(from)
                    .push(" AND e.id >= (SELECT COALESCE(MIN(id), 0) FROM audit_events WHERE organization_id = ")
                    .push_bind(org_id)
                    .push(" AND created_at >= ")
                    .push_bind(from)
                    .push(")");
            }
            if let Some(until) = filter.until {
                query
                    .push(" AND e.created_at < ")
                    .push_bind(until)
                    .push(" AND e.id <= (SELECT COALESCE(MAX(id), 0) FROM audit_events WHERE organization_id = ")
                    .push_bind(org_id)
                    .push(" AND created_at < ")
                    .push_bind(until)
                    .push(")");
            }
            if let Some(before) = before_id {
                query.push(" AND e.id < ").push_bind(before);
            }
            query.push(" ORDER BY e.id DESC LIMIT ").push_bind(limit);
            query.build_query_as().fetch_all(e).await
        })
            .context("listing audit events")
}
