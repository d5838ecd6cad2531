//! Building audit events from a request.

use serde_json::{Value, json};

use crate::http::meta::RequestMeta;
use crate::http::session::OrgContext;
use crate::storage::audit::NewEvent;
use crate::storage::users::User;

/// Every action the audit log records, for the Audit log's filter.
pub const KNOWN_ACTIONS: &[&str] = &[
    "credential.created",
    "credential.updated",
    "credential.rotated",
    "credential.made_primary",
    "credential.disabled",
    "credential.enabled",
    "credential.deleted",
    "credential.previous_secret_expired",
    "credential.requested",
    "credential.request_approved",
    "credential.request_rejected",
    "member.added",
    "member.changed",
    "member.removed",
    "organization.created",
    "organization.updated",
    "password.changed",
    "sign_in",
    "sign_in.failed",
    "support.viewed",
    "token.auth_failed",
    "token.throttled",
];

/// An event by the signed-in person in the organization they are looking at.
pub fn by(ctx: &OrgContext, meta: &RequestMeta, action: &'static str) -> NewEvent {
    let mut event = by_user(&ctx.user, Some(ctx.org.id), meta, action);
    if ctx.access.is_support() {
        event.detail = json!({ "support": true });
    }
    event
}

/// An event by `user`, in `org` (or in none).
pub fn by_user(
    user: &User,
    org: Option<i64>,
    meta: &RequestMeta,
    action: &'static str,
) -> NewEvent {
    NewEvent {
        organization_id: org,
        actor_user_id: Some(user.id),
        actor: user.email.clone(),
        action,
        target: None,
        ip: Some(meta.ip.to_string()),
        user_agent: meta.user_agent.clone(),
        detail: json!({}),
    }
}

pub trait EventExt {
    fn target(self, target: impl Into<String>) -> Self;
    fn detail(self, detail: Value) -> Self;
}

impl EventExt for NewEvent {
    fn target(mut self, target: impl Into<String>) -> Self {
        self.target = Some(target.into());
        self
    }

    /// Merges `detail` into the event's detail object.
    fn detail(mut self, detail: Value) -> Self {
        if let (Value::Object(into), Value::Object(from)) = (&mut self.detail, detail) {
            into.extend(from);
        }
        self
    }
}
