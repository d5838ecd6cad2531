//! `/api/v1/requests`, `/api/v1/audit-events` and `/api/v1/members`.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::credentials::{json, problem_fields};
use super::{ApiActor, Json, Problem};
use crate::domain::{DecisionNote, EventId, RequestId, RequestStatus};
use crate::http::audit_log::Params;
use crate::http::views::iso_time;
use crate::service::{audit, credentials, members, requests};
use crate::state::AppState;
use crate::storage::requests::Request;

type ApiResult = Result<Response, Problem>;

#[derive(Serialize)]
struct List<T> {
    data: Vec<T>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_cursor: Option<String>,
}

#[derive(Serialize)]
struct RequestJson {
    request_id: String,
    /// A change to this credential; `null` for a new credential.
    client_id: Option<String>,
    name: String,
    description: Option<String>,
    status: &'static str,
    permission_set: &'static str,
    permissions: Vec<String>,
    ip_allowlist: Vec<String>,
    justification: String,
    requested_by: String,
    requested_at: String,
    decided_by: Option<String>,
    decided_at: Option<String>,
    reason: Option<String>,
}

impl From<Request> for RequestJson {
    fn from(r: Request) -> RequestJson {
        RequestJson {
            request_id: r.request_id.to_string(),
            client_id: None,
            status: match r.status {
                RequestStatus::Pending => "pending",
                RequestStatus::Approved => "approved",
                RequestStatus::Rejected => "rejected",
                RequestStatus::Cancelled => "cancelled",
                RequestStatus::Expired => "expired",
                RequestStatus::Completed => "completed",
            },
            permission_set: r.permission_set.key(),
            permissions: r.permissions.iter().map(ToString::to_string).collect(),
            ip_allowlist: r
                .ip_allowlist
                .to_stored()
                .split(' ')
                .map(str::to_owned)
                .collect(),
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
pub async fn list_requests(State(state): State<AppState>, ApiActor(actor): ApiActor) -> ApiResult {
    let overview = credentials::overview(&state, &actor).await?;
    let data = overview
        .requests
        .into_iter()
        .map(RequestJson::from)
        .collect();
    Ok(json(
        StatusCode::OK,
        &List {
            data,
            next_cursor: None,
        },
    ))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Reject {
    /// Shown to the requester.
    #[serde(default)]
    reason: Option<String>,
}

#[derive(Serialize)]
struct DecidedJson {
    request_id: String,
    name: String,
    status: &'static str,
    /// An approved change, applied to its credential at once.
    applied: bool,
}

fn request_id(raw: &str) -> Result<RequestId, Problem> {
    RequestId::parse(raw).ok_or_else(Problem::not_found)
}

/// `approve`, `withdraw` (the requester, or an owner cancelling) and `generate`.
pub async fn request_action(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    Path((raw, action)): Path<(String, String)>,
) -> ApiResult {
    let id = request_id(&raw)?;
    let (decided, status) = match action.as_str() {
        "approve" => (requests::approve(&state, &actor, &id).await?, "approved"),
        "withdraw" => (requests::cancel(&state, &actor, &id).await?, "cancelled"),
        "generate" => {
            let created = requests::generate(&state, &actor, &id).await?;
            return super::credentials::created_response(&state, &actor, created).await;
        }
        _ => return Err(Problem::not_found()),
    };
    Ok(json(
        StatusCode::OK,
        &DecidedJson {
            request_id: id.to_string(),
            name: decided.name,
            status,
            applied: decided.applied,
        },
    ))
}

pub async fn reject(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    Path(raw): Path<String>,
    Json(body): Json<Reject>,
) -> ApiResult {
    let id = request_id(&raw)?;
    let reason = DecisionNote::parse(body.reason.as_deref().unwrap_or(""))
        .map_err(|e| Problem::validation(problem_fields(vec![e])))?;
    let decided = requests::reject(&state, &actor, &id, reason.as_ref()).await?;
    Ok(json(
        StatusCode::OK,
        &DecidedJson {
            request_id: id.to_string(),
            name: decided.name,
            status: "rejected",
            applied: false,
        },
    ))
}

#[derive(Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct EventQuery {
    /// A credential's client ID.
    credential: String,
    /// Part of the actor's email.
    actor: String,
    /// An action key, e.g. `credential.rotated`.
    action: String,
    /// `YYYY-MM-DD`, inclusive.
    from: String,
    /// `YYYY-MM-DD`, inclusive.
    to: String,
    /// `next_cursor` of the previous page.
    cursor: String,
    /// 1 to 200; 50 by default.
    limit: Option<i64>,
}

#[derive(Serialize)]
struct EventJson {
    id: String,
    time: String,
    actor: String,
    actor_name: Option<String>,
    action: &'static str,
    action_label: &'static str,
    target: Option<String>,
    ip: Option<String>,
    user_agent: Option<String>,
    detail: Value,
}

/// The organization's audit events, newest first, a page at a time.
pub async fn events(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    Query(query): Query<EventQuery>,
) -> ApiResult {
    let params = Params {
        credential: query.credential,
        actor: query.actor,
        action: query.action,
        from: query.from,
        to: query.to,
        before: String::new(),
    };
    let (filter, errors) = params.filter();
    let mut problems = problem_fields(errors.into_vec());
    let limit = query.limit.unwrap_or(50);
    if !(1..=200).contains(&limit) {
        problems.push(super::problem::FieldProblem {
            field: "limit".to_owned(),
            message: "Ask for 1 to 200 events.".to_owned(),
        });
    }
    let before = if query.cursor.is_empty() {
        None
    } else {
        match query.cursor.parse::<EventId>() {
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
    let mut rows = audit::page(&state, &actor, &filter, before, limit + 1).await?;
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
    Ok(json(StatusCode::OK, &List { data, next_cursor }))
}

#[derive(Serialize)]
struct MemberJson {
    email: String,
    name: String,
    /// `owner`, `admin-edit` or `admin-view`.
    role: &'static str,
    role_label: &'static str,
    member_since: String,
}

/// The organization's members (owners only, as on the Members page).
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
    Ok(json(
        StatusCode::OK,
        &List {
            data,
            next_cursor: None,
        },
    )
    .into_response())
}
