//! Audit events: who did what, from where. Use cases record theirs with
//! [`record`] in the same transaction as the change, which also fills the
//! webhook outbox; this module builds them and records the ones that come
//! with no change (visits, sign-ins).

use serde_json::{Value, json};

use super::{Actor, Origin, Result};
use crate::domain::{AuditAction, OrgId, UserId};
use crate::state::AppState;
use crate::storage::Conn;
use crate::storage::audit::{self as repo, NewEvent};

/// Records `event` and offers it to the organization's webhooks, on `conn`:
/// the transaction of the change it describes, so that an event is sent if
/// and only if that change committed.
pub(crate) async fn record(conn: &mut Conn, event: &NewEvent, now: i64) -> anyhow::Result<()> {
    repo::insert(conn, event, now).await?;
    super::outbox::offer(conn, event, now).await
}

impl Actor {
    /// An event by this actor in their organization. Support staff's events
    /// say so in their detail.
    pub(crate) fn event(&self, action: AuditAction) -> NewEvent {
        let mut event = by_user(self.user, &self.email, Some(self.org), &self.origin, action);
        if self.access.is_support() {
            event.detail = json!({ "support": true });
        }
        if let Some(token) = &self.token {
            event.detail = json!({ "via_token": token.name });
        }
        event
    }
}

/// An event by a user, in `org` (or in none).
pub(crate) fn by_user(
    user: UserId,
    email: &str,
    org: Option<OrgId>,
    origin: &Origin,
    action: AuditAction,
) -> NewEvent {
    NewEvent {
        organization_id: org,
        actor_user_id: Some(user),
        actor: email.to_owned(),
        action,
        target: None,
        ip: Some(origin.ip.to_string()),
        user_agent: origin.user_agent.clone(),
        detail: json!({}),
    }
}

pub(crate) trait EventExt {
    fn target(self, target: impl ToString) -> Self;
    /// Merges `detail` into the event's detail object.
    fn detail(self, detail: Value) -> Self;
}

impl EventExt for NewEvent {
    fn target(mut self, target: impl ToString) -> Self {
        self.target = Some(target.to_string());
        self
    }

    fn detail(mut self, detail: Value) -> Self {
        if let (Value::Object(into), Value::Object(from)) = (&mut self.detail, detail) {
            into.extend(from);
        }
        self
    }
}

/// Records that support staff looked at `what` (a page of the organization).
pub async fn support_visit(app: &AppState, actor: &Actor, what: &str) -> Result<()> {
    if actor.access.is_support() {
        let event = actor.event(AuditAction::SupportViewed).target(what);
        let mut conn = app.db.acquire().await?;
        record(&mut conn, &event, app.now()).await?;
    }
    Ok(())
}

/// Records a personal event (a sign-in, a failed one, a password change):
/// in no organization's log, where only the user (on their Account page) and
/// platform operators see it. An organization's log records what happened in
/// that organization, not where its members sign in from.
pub(crate) async fn record_personal(app: &AppState, event: NewEvent) -> Result<()> {
    let event = NewEvent {
        organization_id: None,
        ..event
    };
    let mut conn = app.db.acquire().await?;
    record(&mut conn, &event, app.now()).await?;
    Ok(())
}

/// The user's own recent events, newest first.
pub async fn personal(app: &AppState, user: UserId, limit: i64) -> Result<Vec<repo::Event>> {
    let mut conn = app.db.acquire().await?;
    Ok(repo::personal(&mut conn, user, limit).await?)
}

/// One page of the organization's events, newest first, for anyone who may
/// see the organization.
pub async fn page(
    app: &AppState,
    actor: &Actor,
    filter: &repo::Filter,
    before: Option<crate::domain::EventId>,
    limit: i64,
) -> Result<Vec<repo::Event>> {
    let mut conn = app.db.acquire().await?;
    Ok(repo::list(&mut conn, actor.org, filter, before, limit).await?)
}
