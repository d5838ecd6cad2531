//! How an audit event reads: one sentence ("Olivia Owner rotated “Fraud
//! scoring” · previous secret valid 24 hours") and its detail as labelled
//! fields, never raw JSON. Ids stay available on hover.

use serde_json::{Map, Value};

use crate::domain::{Access, AuditAction};
use crate::storage::audit::Event;

/// One labelled field of an event's detail.
pub struct Field {
    pub label: String,
    pub value: String,
}

/// An event as the Audit log shows it.
pub struct Reading {
    /// Who acted: their name, or what stands for them (an address, a client ID).
    pub actor: String,
    /// Their email or client ID, for the hover title.
    pub actor_id: String,
    /// What they did, after the actor's name.
    pub did: String,
    /// The object of the sentence (a credential's name, a person's email), if any.
    pub object: String,
    /// The object's id (client ID, request ID), for the hover title.
    pub object_id: String,
    /// A short addition after a middle dot.
    pub note: String,
    pub fields: Vec<Field>,
}

fn text(detail: &Map<String, Value>, key: &str) -> Option<String> {
    match detail.get(key)? {
        Value::String(s) => Some(s.clone()),
        Value::Null => None,
        other => Some(other.to_string()),
    }
}

fn role(choice: &str) -> String {
    Access::parse_choice(choice).map_or_else(|| choice.to_owned(), |a| a.label().to_owned())
}

/// "24 hours", "7 days", "1 hour".
pub fn duration(seconds: i64) -> String {
    let (n, unit) = if seconds % 86_400 == 0 && seconds >= 2 * 86_400 {
        (seconds / 86_400, "day")
    } else if seconds % 3600 == 0 {
        (seconds / 3600, "hour")
    } else {
        (seconds / 60, "minute")
    };
    format!("{n} {unit}{}", if n == 1 { "" } else { "s" })
}

/// A detail key as a person reads it.
fn label(key: &str) -> String {
    match key {
        "ip_allowlist" => "IP addresses".to_owned(),
        "permission_set" => "Permission set type".to_owned(),
        "grace_seconds" => "Previous secret kept".to_owned(),
        "primary" => "Primary".to_owned(),
        "request" => "Request".to_owned(),
        "requested_by" => "Requested by".to_owned(),
        "approved_by" => "Approved by".to_owned(),
        "new_account" => "New account".to_owned(),
        "failures_in_window" => "Failures in the window".to_owned(),
        "window_seconds" => "Window".to_owned(),
        "expires_at" => "Expires".to_owned(),
        "max_credential_days" => "Credentials expire within (days)".to_owned(),
        "days_left" => "Days left".to_owned(),
        "cancelled_requests" => "Requests cancelled".to_owned(),
        "invited_by" => "Invited by".to_owned(),
        "via_token" => "Via personal access token".to_owned(),
        other => {
            let spaced = other.replace('_', " ");
            let mut chars = spaced.chars();
            chars
                .next()
                .map(|c| c.to_uppercase().collect::<String>() + chars.as_str())
                .unwrap_or_default()
        }
    }
}

fn value(key: &str, v: &Value) -> String {
    match (key, v) {
        (_, Value::Null) => "none".to_owned(),
        (_, Value::Bool(b)) => if *b { "yes" } else { "no" }.to_owned(),
        ("grace_seconds", Value::Number(n)) => match n.as_i64() {
            Some(0) | None => "no (stopped at once)".to_owned(),
            Some(s) => duration(s),
        },
        ("window_seconds", Value::Number(n)) => n.as_i64().map_or_else(|| n.to_string(), duration),
        ("expires_at", Value::Number(n)) => n
            .as_i64()
            .map_or_else(|| n.to_string(), crate::http::views::absolute_time),
        ("permissions", Value::String(s)) => s.split_whitespace().collect::<Vec<_>>().join(", "),
        ("ip_allowlist", Value::String(s)) if s == "0.0.0.0/0" => "All IP addresses".to_owned(),
        ("ip_allowlist", Value::String(s)) => s.split_whitespace().collect::<Vec<_>>().join(", "),
        ("role" | "before" | "after", Value::String(s)) => role(s),
        (_, Value::String(s)) if s.is_empty() => "none".to_owned(),
        (_, Value::String(s)) => s.clone(),
        (_, Value::Array(items)) if items.is_empty() => "none".to_owned(),
        (_, Value::Array(items)) => items
            .iter()
            .map(|i| value(key, i))
            .collect::<Vec<_>>()
            .join(", "),
        (_, other) => other.to_string(),
    }
}

/// The detail as fields; an edit's `before` and `after` become one field
/// per changed value, "old → new".
fn fields(detail: &Map<String, Value>) -> Vec<Field> {
    let mut out = Vec::new();
    if let (Some(Value::Object(before)), Some(Value::Object(after))) =
        (detail.get("before"), detail.get("after"))
    {
        for (key, new) in after {
            let old = before.get(key).unwrap_or(&Value::Null);
            if old != new {
                out.push(Field {
                    label: label(key),
                    value: format!("{} → {}", value(key, old), value(key, new)),
                });
            }
        }
    }
    for (key, v) in detail {
        if matches!(key.as_str(), "before" | "after" | "support") && !v.is_string() {
            continue;
        }
        if key == "support" {
            continue;
        }
        out.push(Field {
            label: label(key),
            value: value(key, v),
        });
    }
    out
}

pub fn read(event: &Event) -> Reading {
    let detail = match serde_json::from_str::<Value>(&event.detail) {
        Ok(Value::Object(map)) => map,
        _ => Map::new(),
    };
    let target = event.target.clone().unwrap_or_default();
    let name = text(&detail, "name");
    // A credential or a request is named; its id is on hover.
    let (object, object_id) = match &name {
        Some(name) => (format!("“{name}”"), target.clone()),
        None => (target.clone(), String::new()),
    };
    let on_support = detail
        .get("support")
        .is_some_and(|v| v == &Value::Bool(true));
    use AuditAction as A;
    let (did, object, note) = match event.action {
        A::CredentialCreated => ("created", object, String::new()),
        A::CredentialUpdated => ("edited", object, String::new()),
        A::CredentialRotated => {
            let note = match detail.get("grace_seconds").and_then(Value::as_i64) {
                Some(s) if s > 0 => format!("previous secret valid {}", duration(s)),
                _ => "previous secret stopped at once".to_owned(),
            };
            ("rotated", object, note)
        }
        A::CredentialMadePrimary => ("made primary", object, String::new()),
        A::CredentialDisabled => ("disabled", object, String::new()),
        A::CredentialEnabled => ("enabled", object, String::new()),
        A::CredentialDeleted => ("deleted", object, String::new()),
        A::PreviousSecretExpired => ("expired the previous secret of", object, String::new()),
        A::CredentialRequested => ("requested a credential", object, String::new()),
        A::RequestApproved => ("approved the request for", object, String::new()),
        A::RequestRejected => ("rejected the request for", object, String::new()),
        A::RequestCancelled => ("cancelled the request for", object, String::new()),
        A::ChangeRequested => ("asked to change", object, String::new()),
        A::MemberInvited => {
            let as_role = text(&detail, "role").map(|r| format!("as {}", role(&r)));
            ("invited", target.clone(), as_role.unwrap_or_default())
        }
        A::InvitationResent => (
            "sent again the invitation of",
            target.clone(),
            String::new(),
        ),
        A::InvitationRevoked => ("revoked the invitation of", target.clone(), String::new()),
        A::InvitationCodeSent => (
            "was emailed a code to create an account from the invitation of",
            target.clone(),
            String::new(),
        ),
        A::MemberJoined => {
            let as_role = text(&detail, "role").map(|r| format!("as {}", role(&r)));
            ("joined", String::new(), as_role.unwrap_or_default())
        }
        A::MemberAdded => ("added", target.clone(), String::new()),
        A::MemberChanged => ("changed the role of", target.clone(), String::new()),
        A::MemberRemoved => ("removed", target.clone(), String::new()),
        A::OrganizationCreated => ("created the organization", String::new(), String::new()),
        A::OrganizationUpdated => (
            "changed the organization's settings",
            String::new(),
            String::new(),
        ),
        A::PasswordChanged => ("changed their password", String::new(), String::new()),
        A::PasswordCheckFailed => (
            "entered a wrong current password",
            String::new(),
            String::new(),
        ),
        A::SignIn => ("signed in", String::new(), String::new()),
        A::SignInFailed => ("failed to sign in", String::new(), String::new()),
        A::SignInPaused => (
            "had sign-in from unknown devices paused",
            String::new(),
            String::new(),
        ),
        A::DeviceSignInPaused => (
            "had sign-in from one device paused",
            String::new(),
            String::new(),
        ),
        A::SignedOutAfterWrongPasswords => (
            "was signed out after wrong passwords",
            String::new(),
            String::new(),
        ),
        A::SupportViewed => ("viewed", target.clone(), String::new()),
        A::TokenAuthFailed => (
            "was refused a token",
            String::new(),
            "wrong secret".to_owned(),
        ),
        A::TokenThrottled => (
            "was throttled at the token endpoint",
            String::new(),
            String::new(),
        ),
        A::SecretLeaked => (
            "reported leaked the secret of",
            object,
            text(&detail, "url")
                .map(|u| format!("found at {u}; the credential was disabled"))
                .unwrap_or_default(),
        ),
        A::ApiTokenCreated => (
            "created the personal access token",
            object,
            text(&detail, "access")
                .map(|a| format!("{a} access"))
                .unwrap_or_default(),
        ),
        A::ApiTokenRevoked => ("revoked the personal access token", object, String::new()),
        A::TokenAddressRefused => (
            "was refused a token",
            String::new(),
            text(&detail, "address")
                .map(|ip| format!("{ip} is not in its IP allowlist"))
                .unwrap_or_default(),
        ),
        A::CredentialExpiring => (
            "sent an expiry reminder for",
            object,
            text(&detail, "days_left")
                .map(|d| format!("{d} days left; reminder sent"))
                .unwrap_or_default(),
        ),
        A::CredentialExpired => (
            "marked expired",
            object,
            "it gets no more tokens".to_owned(),
        ),
        A::WebhookCreated => ("added the webhook", target.clone(), String::new()),
        A::WebhookUpdated => ("changed the webhook", target.clone(), String::new()),
        A::WebhookSecretRotated => (
            "rotated the signing secret of the webhook",
            target.clone(),
            "the previous secret also signs for 24 hours".to_owned(),
        ),
        A::WebhookDeleted => ("deleted the webhook", target.clone(), String::new()),
    };
    let note = if on_support {
        [note, "as support staff".to_owned()]
            .into_iter()
            .filter(|n| !n.is_empty())
            .collect::<Vec<_>>()
            .join(" · ")
    } else {
        note
    };
    let actor = event
        .actor_name
        .clone()
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| event.actor.clone());
    // "Olivia Owner, via token “ci deploy”, rotated …"
    let actor = match text(&detail, "via_token") {
        Some(token) => format!("{actor}, via token “{token}”,"),
        None => actor,
    };
    let object_id = if object.is_empty() {
        String::new()
    } else {
        object_id
    };
    Reading {
        actor,
        actor_id: event.actor.clone(),
        did: did.to_owned(),
        object,
        object_id,
        note,
        fields: fields(&detail),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::EventId;

    fn event(action: AuditAction, target: &str, detail: &str) -> Event {
        Event {
            id: EventId(1),
            actor: "owner@acme.test".to_owned(),
            action,
            target: Some(target.to_owned()),
            ip: None,
            user_agent: None,
            detail: detail.to_owned(),
            created_at: 0,
            actor_name: Some("Olivia Owner".to_owned()),
        }
    }

    #[test]
    fn a_rotation_reads_as_a_sentence_with_its_window() {
        let r = read(&event(
            AuditAction::CredentialRotated,
            "kwid_x",
            r#"{"name":"Fraud scoring","grace_seconds":86400}"#,
        ));
        assert_eq!(
            (
                r.actor.as_str(),
                r.did.as_str(),
                r.object.as_str(),
                r.note.as_str()
            ),
            (
                "Olivia Owner",
                "rotated",
                "“Fraud scoring”",
                "previous secret valid 24 hours"
            )
        );
        assert_eq!(r.object_id, "kwid_x");
    }

    #[test]
    fn an_edit_lists_what_changed_old_and_new() {
        let r = read(&event(
            AuditAction::CredentialUpdated,
            "kwid_x",
            r#"{"before":{"name":"A bot","ip_allowlist":"0.0.0.0/0"},"after":{"name":"A bot","ip_allowlist":"10.0.0.0/24"}}"#,
        ));
        let shown: Vec<(String, String)> =
            r.fields.into_iter().map(|f| (f.label, f.value)).collect();
        assert_eq!(
            shown,
            [(
                "IP addresses".to_owned(),
                "All IP addresses → 10.0.0.0/24".to_owned()
            )]
        );
    }
}
