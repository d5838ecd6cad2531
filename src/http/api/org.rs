//! `/api/v1/organization`, `/api/v1/requests`, `/api/v1/audit-events`,
//! `/api/v1/members` and `/api/v1/invitations`.

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};

use super::credentials::{body_etag, json, problem_fields, with_etag};
use super::{ApiActor, Json, Problem};
use crate::domain::{DecisionNote, EventId, RequestId, RequestStatus};
use crate::http::audit_log::Params;
use crate::http::views::iso_time;
use crate::service::requests::Decided;
use crate::service::{audit, credentials, members, requests};
use crate::state::AppState;
use crate::storage::requests::Request;

type ApiResult = Result<Response, Problem>;

/// Open requests, and those decided in the last 7 days.
#[derive(Serialize, ToSchema)]
pub struct RequestList {
    data: Vec<RequestJson>,
}

/// A page of audit events, newest first.
#[derive(Serialize, ToSchema)]
pub struct EventList {
    data: Vec<EventJson>,
    /// Pass as `cursor` for the next page; absent on the last one.
    #[serde(skip_serializing_if = "Option::is_none")]
    next_cursor: Option<String>,
}

/// The organization's open invitations.
#[derive(Serialize, ToSchema)]
pub struct InvitationList {
    data: Vec<InvitationJson>,
}

/// An invitation not yet accepted or revoked. Its link is never shown again.
#[derive(Serialize, ToSchema)]
#[schema(as = Invitation)]
pub struct InvitationJson {
    email: String,
    /// `owner`, `admin-edit` or `admin-view`.
    #[schema(value_type = String, example = "admin-view")]
    role: &'static str,
    invited_by: String,
    created_at: String,
    /// The link works until then.
    expires_at: String,
    expired: bool,
}

/// The organization's members.
#[derive(Serialize, ToSchema)]
pub struct MemberList {
    data: Vec<MemberJson>,
}

/// A credential request: a new credential, or a change to one.
#[derive(Serialize, ToSchema)]
#[schema(as = CredentialRequest)]
pub struct RequestJson {
    request_id: String,
    /// `new` (a credential to create) or `change` (to the credential in `client_id`).
    #[schema(value_type = String, example = "change")]
    kind: &'static str,
    /// A change to this credential; `null` for a new credential.
    client_id: Option<String>,
    name: String,
    description: Option<String>,
    /// `pending`, `approved`, `rejected`, `cancelled`, `expired` or `completed`.
    #[schema(value_type = String, example = "pending")]
    status: &'static str,
    #[schema(value_type = String, example = "transactions")]
    permission_set: &'static str,
    permissions: Vec<String>,
    ip_allowlist: Vec<String>,
    justification: String,
    requested_by: String,
    requested_at: String,
    decided_by: Option<String>,
    decided_at: Option<String>,
    /// The reason given with a rejection.
    reason: Option<String>,
}

impl From<Request> for RequestJson {
    fn from(r: Request) -> RequestJson {
        RequestJson {
            request_id: r.request_id.to_string(),
            kind: if r.credential_id.is_some() {
                "change"
            } else {
                "new"
            },
            client_id: r.target_client_id.map(|c| c.to_string()),
            status: match r.status {
                RequestStatus::Pending => "pending",
                RequestStatus::Approved => "approved",
                RequestStatus::Rejected => "rejected",
                RequestStatus::Cancelled => "cancelled",
                RequestStatus::Expired => "expired",
                RequestStatus::Completed => "completed",
            },
            permission_set: r.permission_set.key(),
            permissions: r.permissions.scopes(),
            ip_allowlist: r.ip_allowlist.entries(),
            requested_at: iso_time(r.created_at),
            decided_at: r.decided_at.map(iso_time),
            name: r.name,
            description: r.description,
            justification: r.justification,
            requested_by: r.requested_by_email,
            decided_by: r.decided_by,
            reason: r.decision_note,
        }
    }
}

/// The requests the Credentials page shows: open ones, and those decided
/// in the last 7 days.
#[utoipa::path(get, path = "/api/v1/requests", tag = "Credential requests",
    summary = "List credential requests",
    responses(
        (status = 200, description = "The requests", body = RequestList),
        (status = 401, description = "Missing or invalid token", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn list_requests(State(state): State<AppState>, ApiActor(actor): ApiActor) -> ApiResult {
    let overview = credentials::overview(&state, &actor).await?;
    let data = overview
        .requests
        .into_iter()
        .map(RequestJson::from)
        .collect();
    Ok(json(StatusCode::OK, &RequestList { data }))
}

#[derive(Deserialize, Default, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Reject {
    #[serde(default)]
    #[schema(schema_with = super::schema::reason)]
    reason: Option<String>,
}

/// A request after a decision.
#[derive(Serialize, ToSchema)]
#[schema(as = DecidedRequest)]
pub struct DecidedJson {
    request_id: String,
    name: String,
    #[schema(value_type = String, example = "approved")]
    status: &'static str,
    /// An approved change, applied to its credential at once.
    applied: bool,
}

fn request_id(raw: &str) -> Result<RequestId, Problem> {
    RequestId::parse(raw).ok_or_else(Problem::not_found)
}

/// What to do with a request.
#[derive(Deserialize, ToSchema, Clone, Copy)]
#[serde(rename_all = "kebab-case")]
pub enum RequestAction {
    /// An owner other than the requester; an approved change applies at once.
    Approve,
    /// The requester, or an owner cancelling a pending or approved request.
    Withdraw,
    /// The requester turns an approved request into a credential (201 with its secret).
    Generate,
}

/// `approve`, `withdraw` (the requester, or an owner cancelling) and `generate`.
#[utoipa::path(post, path = "/api/v1/requests/{request_id}/{action}", tag = "Credential requests",
    summary = "Approve, withdraw, or generate the credential of a request",
    params(("request_id" = String, Path, description = "The request's ID"),
        ("action" = RequestAction, Path, description = "What to do")),
    responses(
        (status = 200, description = "Decided", body = DecidedJson),
        (status = 201, description = "Generated; the secret is in this response only", body = super::credentials::Created),
        (status = 401, description = "Missing or invalid token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not the person who may do this", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such request or action", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Decided already, or the limit or name stands in the way", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn request_action(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    Path((raw, action)): Path<(String, String)>,
) -> ApiResult {
    let id = request_id(&raw)?;
    let action: RequestAction =
        serde_json::from_value(Value::String(action)).map_err(|_| Problem::not_found())?;
    let (decided, status) = match action {
        RequestAction::Approve => (requests::approve(&state, &actor, &id).await?, "approved"),
        RequestAction::Withdraw => (requests::cancel(&state, &actor, &id).await?, "cancelled"),
        RequestAction::Generate => {
            let created = requests::generate(&state, &actor, &id).await?;
            return super::credentials::created_response(created);
        }
    };
    Ok(decided_response(&id, decided, status))
}

fn decided_response(id: &RequestId, decided: Decided, status: &'static str) -> Response {
    json(
        StatusCode::OK,
        &DecidedJson {
            request_id: id.to_string(),
            name: decided.name,
            status,
            applied: decided.applied,
        },
    )
}

#[utoipa::path(post, path = "/api/v1/requests/{request_id}/reject", tag = "Credential requests",
    summary = "Reject a request",
    params(("request_id" = String, Path, description = "The request's ID")),
    request_body = Reject,
    responses(
        (status = 200, description = "Rejected; its place is free again", body = DecidedJson),
        (status = 400, description = "Not the JSON this operation takes", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing or invalid token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Owners only, never their own request", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such request", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Decided already", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not application/json", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The reason is too long", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn reject(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    Path(raw): Path<String>,
    Json(body, _): Json<Reject>,
) -> ApiResult {
    let id = request_id(&raw)?;
    let reason = DecisionNote::parse(body.reason.as_deref().unwrap_or(""))
        .map_err(|e| Problem::validation(problem_fields(vec![e])))?;
    let decided = requests::reject(&state, &actor, &id, reason.as_ref()).await?;
    Ok(decided_response(&id, decided, "rejected"))
}

#[derive(Deserialize, Default, IntoParams)]
#[serde(default, deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct EventQuery {
    /// A credential's client ID.
    #[param(schema_with = super::schema::filter_text)]
    credential: Option<String>,
    /// Part of the actor's email.
    #[param(schema_with = super::schema::filter_text)]
    actor: Option<String>,
    /// An action key, e.g. `credential.rotated`.
    #[param(schema_with = super::schema::action_key)]
    action: Option<String>,
    /// `YYYY-MM-DD`, inclusive.
    #[param(schema_with = super::schema::date)]
    from: Option<String>,
    /// `YYYY-MM-DD`, inclusive.
    #[param(schema_with = super::schema::date)]
    to: Option<String>,
    /// `next_cursor` of the previous page.
    #[param(schema_with = super::schema::cursor)]
    cursor: Option<String>,
    /// 1 to 200; 50 by default.
    #[param(minimum = 1, maximum = 200)]
    limit: Option<i64>,
}

/// Who did what, when, from where.
#[derive(Serialize, ToSchema)]
#[schema(as = AuditEvent)]
pub struct EventJson {
    id: String,
    /// RFC 3339.
    time: String,
    actor: String,
    actor_name: Option<String>,
    #[schema(value_type = String, example = "credential.rotated")]
    action: &'static str,
    #[schema(value_type = String, example = "Credential rotated")]
    action_label: &'static str,
    target: Option<String>,
    ip: Option<String>,
    user_agent: Option<String>,
    /// What changed; never a secret.
    #[schema(value_type = Object)]
    detail: Value,
}

/// The organization's audit events, newest first, a page at a time.
#[utoipa::path(get, path = "/api/v1/audit-events", tag = "Audit log",
    summary = "List audit events",
    params(EventQuery),
    responses(
        (status = 200, description = "A page of events", body = EventList),
        (status = 400, description = "An unknown parameter", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing or invalid token", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A parameter is invalid; `errors` names it", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn events(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    Query(query): Query<EventQuery>,
) -> ApiResult {
    // A parameter given empty is a mistake, not "no filter".
    let mut blank = Vec::new();
    for (field, value) in [
        ("action", &query.action),
        ("from", &query.from),
        ("to", &query.to),
        ("cursor", &query.cursor),
    ] {
        if value.as_deref().is_some_and(|v| v.trim().is_empty()) {
            blank.push(super::problem::FieldProblem {
                field: field.to_owned(),
                message: "Leave it out, or give a value.".to_owned(),
            });
        }
    }
    for (field, value) in [("credential", &query.credential), ("actor", &query.actor)] {
        if value.as_deref().is_some_and(|v| v.chars().count() > 200) {
            blank.push(super::problem::FieldProblem {
                field: field.to_owned(),
                message: "Use at most 200 characters.".to_owned(),
            });
        }
    }
    if !blank.is_empty() {
        return Err(Problem::validation(blank));
    }
    let cursor = query.cursor.unwrap_or_default();
    let params = Params {
        credential: query.credential.unwrap_or_default(),
        actor: query.actor.unwrap_or_default(),
        action: query.action.unwrap_or_default(),
        from: query.from.unwrap_or_default(),
        to: query.to.unwrap_or_default(),
        before: String::new(),
    };
    let (filter, errors) = params.filter();
    // A range that ends before it starts holds no event: an empty page,
    // where the console's form says so at its field.
    let backwards = "The end date is before the start date.";
    let empty = errors.get("to") == backwards;
    let mut problems = problem_fields(
        errors
            .into_vec()
            .into_iter()
            .filter(|e| e.message != backwards)
            .collect(),
    );
    let limit = query.limit.unwrap_or(50);
    if !(1..=200).contains(&limit) {
        problems.push(super::problem::FieldProblem {
            field: "limit".to_owned(),
            message: "Ask for 1 to 200 events.".to_owned(),
        });
    }
    let before = if cursor.is_empty() {
        None
    } else {
        match cursor.parse::<EventId>() {
            Ok(id) => Some(id),
            Err(_) => {
                problems.push(super::problem::FieldProblem {
                    field: "cursor".to_owned(),
                    message: "Use the next_cursor of the previous page.".to_owned(),
                });
                None
            }
        }
    };
    if !problems.is_empty() {
        return Err(Problem::validation(problems));
    }
    let mut rows = if empty {
        Vec::new()
    } else {
        audit::page(&state, &actor, &filter, before, limit + 1).await?
    };
    let next_cursor = (rows.len() as i64 > limit).then(|| rows[limit as usize - 1].id.to_string());
    rows.truncate(limit as usize);
    let data = rows
        .into_iter()
        .map(|e| EventJson {
            id: e.id.to_string(),
            time: iso_time(e.created_at),
            action: e.action.key(),
            action_label: e.action.label(),
            detail: serde_json::from_str(&e.detail).unwrap_or(Value::Null),
            actor: e.actor,
            actor_name: e.actor_name,
            target: e.target,
            ip: e.ip,
            user_agent: e.user_agent,
        })
        .collect();
    Ok(json(StatusCode::OK, &EventList { data, next_cursor }))
}

/// A member of the organization.
#[derive(Serialize, ToSchema)]
#[schema(as = Member)]
pub struct MemberJson {
    email: String,
    name: String,
    /// `owner`, `admin-edit` or `admin-view`.
    #[schema(value_type = String, example = "admin-edit")]
    role: &'static str,
    #[schema(value_type = String, example = "Admin · API Credentials: Can Edit")]
    role_label: &'static str,
    member_since: String,
}

/// The organization's members (owners only, as on the Members page).
#[utoipa::path(get, path = "/api/v1/members", tag = "Organization",
    summary = "List members (owners)",
    responses(
        (status = 200, description = "The members", body = MemberList),
        (status = 401, description = "Missing or invalid token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Owners only", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn members(State(state): State<AppState>, ApiActor(actor): ApiActor) -> ApiResult {
    let data = members::list(&state, &actor)
        .await?
        .into_iter()
        .map(|m| MemberJson {
            role: m.access.choice(),
            role_label: m.access.label(),
            member_since: iso_time(m.created_at),
            email: m.email,
            name: m.display_name,
        })
        .collect();
    Ok(json(StatusCode::OK, &MemberList { data }))
}

/// The organization's open invitations (owners only, as on the Members page).
#[utoipa::path(get, path = "/api/v1/invitations", tag = "Organization",
    summary = "List open invitations (owners)",
    responses(
        (status = 200, description = "Invitations not yet accepted or revoked", body = InvitationList),
        (status = 401, description = "Missing or invalid token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Owners only", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn invitations(State(state): State<AppState>, ApiActor(actor): ApiActor) -> ApiResult {
    let now = state.now();
    let data = crate::service::invitations::open(&state, &actor)
        .await?
        .into_iter()
        .map(|i| InvitationJson {
            role: i.access.choice(),
            invited_by: i.invited_by_name,
            created_at: iso_time(i.created_at),
            expires_at: iso_time(i.expires_at),
            expired: i.expires_at <= now,
            email: i.email,
        })
        .collect();
    Ok(json(StatusCode::OK, &InvitationList { data }))
}

/// The token's organization.
#[derive(Serialize, ToSchema)]
#[schema(as = Organization)]
pub struct OrganizationJson {
    name: String,
    /// `trial` or `standard`.
    #[schema(value_type = String, example = "standard")]
    plan: &'static str,
    /// New credentials (and widening edits) by administrators need an owner's approval.
    require_approval: bool,
}

#[utoipa::path(get, path = "/api/v1/organization", tag = "Organization",
    summary = "Get the token's organization",
    responses(
        (status = 200, description = "The organization", body = OrganizationJson, headers(("ETag" = String))),
        (status = 304, description = "Not modified since the ETag"),
        (status = 401, description = "Missing or invalid token", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn organization(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    headers: HeaderMap,
) -> ApiResult {
    let org = crate::service::organization::get(&state, &actor).await?;
    let body = OrganizationJson {
        name: org.name,
        plan: org.plan.as_str(),
        require_approval: org.require_approval,
    };
    Ok(with_etag(&headers, &body_etag(&body), &body))
}
