//! The Credentials page: the cards, the requests above them, and the New
//! Credential button (disabled with the reason at the limit).

use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;

use super::{Acting, FLASH_KEY};
use crate::domain::RequestStatus;
use crate::domain::credential::{LIMIT_MESSAGE, MAX_CREDENTIALS, Places};
use crate::domain::permission::Permissions;
use crate::http::audit_text::duration;
use crate::http::error::AppResult;
use crate::http::htmx::html;
use crate::http::session::OrgContext;
use crate::http::views::{Layout, Nav, When, countdown};
use crate::service::{self, Error};
use crate::state::AppState;
use crate::storage::credentials::Card;
use crate::storage::requests::Request;

pub struct CredentialView {
    pub client_id: String,
    pub name: String,
    pub description: String,
    pub is_primary: bool,
    pub enabled: bool,
    pub created: When,
    pub created_by: String,
    pub rotated: Option<When>,
    pub last_used: Option<When>,
    pub last_used_ip: String,
    /// The last four characters of the current secret; empty for secrets
    /// made before they were kept.
    pub secret_hint: String,
    /// The permissions in plain language, one chip each.
    pub grants: Vec<GrantChip>,
    pub ips: String,
    /// The previous secret during a rotation grace window.
    pub previous: Option<PreviousSecret>,
    /// Where its secret was reported leaked, and when.
    pub leak: Option<Leak>,
    pub expiry: Option<Expiry>,
}

/// When a credential expires, as its card says it.
pub struct Expiry {
    /// The last day it works.
    pub date: String,
    pub when: When,
    pub expired: bool,
    /// Within 30 days: the card says so in a warning badge.
    pub soon: bool,
}

pub struct Leak {
    pub url: String,
    /// Shown as a link only when it is an https:// address.
    pub linkable: bool,
    pub when: When,
}

/// "Transactions: Read and create", with the scopes it stands for.
pub struct GrantChip {
    pub label: String,
    pub scopes: String,
}

impl GrantChip {
    pub fn all(permissions: &Permissions) -> Vec<GrantChip> {
        permissions
            .grants()
            .iter()
            .map(|g| GrantChip {
                label: g.label(),
                scopes: g.scopes(),
            })
            .collect()
    }
}

pub struct PreviousSecret {
    pub until: When,
    pub until_unix: i64,
    /// "23 h 59 min left".
    pub countdown: String,
    /// "24-hour", the window chosen at the rotation.
    pub window: String,
    pub hint: String,
    pub last_used: Option<When>,
    pub last_used_ip: String,
    /// Used in the last hour: Expire now asks first.
    pub recently_used: bool,
}

impl CredentialView {
    pub fn new(card: Card, now: i64) -> CredentialView {
        let c = card.credential;
        let previous = card.grace_until.map(|until| PreviousSecret {
            until: When::at(until, now),
            until_unix: until,
            countdown: countdown(until, now),
            window: c
                .last_rotated_at
                // "24 hours" → "24-hour", as in "a 24-hour window".
                .map(|rotated| {
                    duration(until - rotated)
                        .trim_end_matches('s')
                        .replacen(' ', "-", 1)
                })
                .unwrap_or_default(),
            hint: card.previous_hint.unwrap_or_default(),
            last_used: card.previous_last_used_at.map(|t| When::at(t, now)),
            last_used_ip: card.previous_last_used_ip.unwrap_or_default(),
            recently_used: card.previous_last_used_at.is_some_and(|t| t > now - 3600),
        });
        let leak = match (c.leak_url.clone(), c.leaked_at) {
            (Some(url), Some(at)) => Some(Leak {
                linkable: url.starts_with("https://"),
                url,
                when: When::at(at, now),
            }),
            _ => None,
        };
        let expiry = c.expires_at.map(|at| Expiry {
            date: crate::domain::credential::expiry::date(at),
            when: When::at(at, now),
            expired: at <= now,
            soon: at > now && at - now <= 30 * 86_400,
        });
        CredentialView {
            leak,
            expiry,
            grants: GrantChip::all(&c.permissions),
            ips: c.ip_allowlist.summary(),
            previous,
            enabled: c.status == crate::domain::CredentialStatus::Enabled,
            client_id: c.client_id.to_string(),
            name: c.name,
            description: c.description.unwrap_or_default(),
            is_primary: c.is_primary,
            created: When::at(c.created_at, now),
            created_by: c.created_by,
            rotated: c.last_rotated_at.map(|t| When::at(t, now)),
            last_used: c.last_used_at.map(|t| When::at(t, now)),
            last_used_ip: c.last_used_ip.unwrap_or_default(),
            secret_hint: c.secret_hint.unwrap_or_default(),
        }
    }
}

pub struct RequestView {
    pub request_id: String,
    pub name: String,
    pub description: String,
    pub requested_by: String,
    pub requested: When,
    pub justification: String,
    pub grants: Vec<GrantChip>,
    pub ips: String,
    /// A change to an existing credential rather than a new one.
    pub is_change: bool,
    /// The badge's class and text.
    pub badge: (&'static str, &'static str),
    /// "Approved by", "Rejected by", "Cancelled by".
    pub decided_label: &'static str,
    pub decided_by: String,
    /// The reason given with a rejection, for the requester.
    pub note: String,
    /// Rejected, cancelled or expired: it goes in the folded history.
    pub decided: bool,
    decided_at: i64,
    /// An owner other than the requester, while pending.
    pub can_decide: bool,
    /// The requester, once approved.
    pub can_generate: bool,
    /// Owners, while it is pending or approved.
    pub can_cancel: bool,
    /// The requester, while it is pending or approved (and no owner).
    pub can_withdraw: bool,
}

impl RequestView {
    fn new(r: Request, ctx: &OrgContext, now: i64) -> RequestView {
        let mine = r.requested_by == ctx.user.id;
        RequestView {
            can_decide: r.status == RequestStatus::Pending && ctx.access.is_owner() && !mine,
            can_generate: r.status == RequestStatus::Approved
                && r.credential_id.is_none()
                && mine
                && ctx.access.can_edit_credentials(),
            can_cancel: r.status.is_active() && ctx.access.is_owner(),
            can_withdraw: r.status.is_active() && mine && !ctx.access.is_owner(),
            is_change: r.credential_id.is_some(),
            decided: !r.status.is_active(),
            decided_at: r.decided_at.unwrap_or(r.created_at),
            note: r.decision_note.clone().unwrap_or_default(),
            badge: match r.status {
                RequestStatus::Pending => ("warning", "Pending approval"),
                RequestStatus::Approved => ("success", "Approved"),
                RequestStatus::Rejected => ("danger", "Rejected"),
                RequestStatus::Cancelled => ("danger", "Cancelled"),
                RequestStatus::Expired => ("danger", "Approval expired"),
                RequestStatus::Completed => ("success", "Done"),
            },
            decided_label: match r.status {
                RequestStatus::Rejected => "Rejected by",
                RequestStatus::Cancelled => "Cancelled by",
                _ => "Approved by",
            },
            grants: GrantChip::all(&r.permissions),
            ips: r.ip_allowlist.summary(),
            request_id: r.request_id.to_string(),
            name: r.name,
            description: r.description.unwrap_or_default(),
            requested_by: r.requested_by_email,
            requested: When::at(r.created_at, now),
            justification: r.justification,
            decided_by: r.decided_by.unwrap_or_default(),
        }
    }
}

#[derive(Template)]
#[template(path = "settings/credentials/page.html", blocks = ["section"])]
struct CredentialsPage {
    layout: Layout,
    flash: String,
    credentials: Vec<CredentialView>,
    can_edit: bool,
    at_limit: bool,
    /// "2 credentials + 1 pending request = 3 of 3".
    count: String,
    limit_message: &'static str,
    trial_message: String,
    upgrade: String,
    primary_message: String,
    /// Pending and approved requests, above the credentials.
    requests: Vec<RequestView>,
    /// Decided ones, newest first, folded below them.
    history: Vec<RequestView>,
}

/// How many places of the limit are taken, adding up.
fn count(places: Places) -> String {
    let plural = |n: i64, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
    let credentials = plural(places.credentials, "credential", "credentials");
    if places.active_requests == 0 {
        return format!("{credentials} of {MAX_CREDENTIALS}");
    }
    format!(
        "{credentials} + {} = {} of {MAX_CREDENTIALS}",
        plural(places.active_requests, "request", "requests"),
        places.taken()
    )
}

pub async fn show(State(state): State<AppState>, on: Acting<()>) -> AppResult<Response> {
    let Acting { ctx, actor, hx, .. } = on;
    let now = state.now();
    // Every read by support staff is recorded, the htmx refreshes included.
    service::audit::support_visit(&state, &actor, "Credentials").await?;
    let overview = service::credentials::overview(&state, &actor).await?;
    let flash = if hx {
        String::new()
    } else {
        crate::http::session::take_flash(&ctx.session, FLASH_KEY).await?
    };
    let mut page = CredentialsPage {
        layout: ctx.layout("Credentials", Nav::Credentials),
        flash,
        at_limit: overview.places.is_full(),
        count: count(overview.places),
        credentials: overview
            .credentials
            .into_iter()
            .map(|c| CredentialView::new(c, now))
            .collect(),
        can_edit: ctx.access.can_edit_credentials(),
        limit_message: LIMIT_MESSAGE,
        trial_message: Error::TrialPlan.to_string(),
        upgrade: state.config.upgrade_text(),
        primary_message: Error::PrimaryCannotBeDeleted.to_string(),
        requests: Vec::new(),
        history: Vec::new(),
    };
    for request in overview.requests {
        let view = RequestView::new(request, &ctx, now);
        if view.decided {
            page.history.push(view);
        } else {
            page.requests.push(view);
        }
    }
    page.history
        .sort_by_key(|r| std::cmp::Reverse(r.decided_at));
    if hx {
        return Ok(html(StatusCode::OK, page.as_section().render()));
    }
    Ok(html(StatusCode::OK, page.render()))
}
