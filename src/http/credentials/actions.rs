//! One-step changes from a card's menu or a confirmation (rotate, expire the
//! previous secret, disable, enable, make primary, delete), and the owners'
//! and requester's steps on a credential request.

use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;

use super::dialogs::Reveal;
use super::{Acting, dialog_or_page};
use crate::domain::{ClientId, CredentialStatus, DecisionNote, FieldErrors, Grace, RequestId};
use crate::http::error::{AppError, AppResult};
use crate::http::form::Form;
use crate::http::views::{Layout, Nav, absolute_time, relative_time};
use crate::service::credentials::Created;
use crate::service::{self, Error, credentials, requests};
use crate::state::AppState;
use crate::storage::requests::Request;

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct RotateForm {
    grace: String,
}

pub async fn rotate(
    State(state): State<AppState>,
    on: Acting<ClientId>,
    Form(form): Form<RotateForm>,
) -> AppResult<Response> {
    service::may_edit_credentials(&on.actor, on.ctx.org.plan)?;
    let grace = Grace::parse(&form.grace).ok_or_else(|| {
        AppError::BadRequest("Choose when the previous secret stops working.".to_owned())
    })?;
    let rotated = credentials::rotate(&state, &on.actor, &on.target, grace).await?;
    let grace = rotated.previous_valid_until.map(|until| {
        format!(
            "The previous secret keeps working until {} ({}). Expire it sooner from the credential's card.",
            absolute_time(until),
            relative_time(until, state.now())
        )
    });
    let reveal = Reveal {
        rotated: true,
        name: rotated.name,
        client_id: rotated.client_id,
        secret: rotated.secret,
        notes: Vec::new(),
        grace: grace.into_iter().collect(),
    };
    Ok(reveal.respond(&state, &on))
}

pub async fn expire_previous(
    State(state): State<AppState>,
    on: Acting<ClientId>,
) -> AppResult<Response> {
    let name = credentials::expire_previous(&state, &on.actor, &on.target).await?;
    on.done(format!("The previous secret of “{name}” no longer works."))
        .await
}

pub async fn disable(State(state): State<AppState>, on: Acting<ClientId>) -> AppResult<Response> {
    let status = CredentialStatus::Disabled;
    let name = credentials::set_status(&state, &on.actor, &on.target, status).await?;
    on.done(format!(
        "Disabled “{name}”: it gets no new tokens. Tokens it already has keep working until they expire (up to 1 hour)."
    ))
    .await
}

pub async fn enable(State(state): State<AppState>, on: Acting<ClientId>) -> AppResult<Response> {
    let status = CredentialStatus::Enabled;
    let name = credentials::set_status(&state, &on.actor, &on.target, status).await?;
    on.done(format!("Enabled “{name}”: it can get new tokens again."))
        .await
}

pub async fn make_primary(
    State(state): State<AppState>,
    on: Acting<ClientId>,
) -> AppResult<Response> {
    let name = credentials::make_primary(&state, &on.actor, &on.target).await?;
    on.done(format!("“{name}” is now the primary credential."))
        .await
}

pub async fn delete(State(state): State<AppState>, on: Acting<ClientId>) -> AppResult<Response> {
    let name = credentials::delete(&state, &on.actor, &on.target).await?;
    on.done(format!(
        "Deleted “{name}”. Clients using it have lost access."
    ))
    .await
}

pub async fn approve(State(state): State<AppState>, on: Acting<RequestId>) -> AppResult<Response> {
    let decided = requests::approve(&state, &on.actor, &on.target).await?;
    if decided.applied {
        return on
            .done(format!(
                "Approved the change to “{}” requested by {}: it applies now.",
                decided.name, decided.requested_by
            ))
            .await;
    }
    on.done(format!(
        "Approved “{}”. {} can now generate its key.",
        decided.name, decided.requested_by
    ))
    .await
}

pub async fn cancel(State(state): State<AppState>, on: Acting<RequestId>) -> AppResult<Response> {
    let decided = requests::cancel(&state, &on.actor, &on.target).await?;
    let verb = if on.actor.access.is_owner() {
        "Cancelled"
    } else {
        "Withdrew"
    };
    on.done(format!(
        "{verb} the request for “{}”: its place is free again.",
        decided.name
    ))
    .await
}

#[derive(Template)]
#[template(path = "settings/credentials/reject.html", blocks = ["dialog"])]
struct RejectPage {
    layout: Layout,
    in_dialog: bool,
    request_id: String,
    name: String,
    requested_by: String,
    reason: String,
    errors: FieldErrors,
}

fn reject_page(on: &Acting<RequestId>, request: Request, reason: String) -> RejectPage {
    RejectPage {
        layout: on.ctx.layout("Reject request", Nav::Credentials),
        in_dialog: on.hx,
        request_id: request.request_id.to_string(),
        name: request.name,
        requested_by: request.requested_by_email,
        reason,
        errors: FieldErrors::default(),
    }
}

/// The Reject dialog: an optional reason for the requester.
pub async fn confirm_reject(
    State(state): State<AppState>,
    on: Acting<RequestId>,
) -> AppResult<Response> {
    let request = requests::decidable(&state, &on.actor, &on.target).await?;
    let page = reject_page(&on, request, String::new());
    Ok(dialog_or_page!(on.hx, StatusCode::OK, page))
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct RejectForm {
    reason: String,
}

pub async fn reject(
    State(state): State<AppState>,
    on: Acting<RequestId>,
    Form(form): Form<RejectForm>,
) -> AppResult<Response> {
    let reason = match DecisionNote::parse(&form.reason) {
        Ok(reason) => reason,
        Err(error) => {
            let request = requests::decidable(&state, &on.actor, &on.target).await?;
            let mut page = reject_page(&on, request, form.reason);
            page.errors.push(error);
            return Ok(dialog_or_page!(
                on.hx,
                StatusCode::UNPROCESSABLE_ENTITY,
                page
            ));
        }
    };
    let decided = requests::reject(&state, &on.actor, &on.target, reason.as_ref()).await?;
    on.done(format!("Rejected the request for “{}”.", decided.name))
        .await
}

/// The requester turns their approved request into a credential and sees its secret once.
pub async fn generate(State(state): State<AppState>, on: Acting<RequestId>) -> AppResult<Response> {
    service::may_edit_credentials(&on.actor, on.ctx.org.plan)?;
    let Created {
        client_id,
        name,
        secret,
        ..
    } = match requests::generate(&state, &on.actor, &on.target).await {
        Ok(created) => created,
        Err(Error::NameTaken) => {
            return Err(AppError::Forbidden(
                "A credential with this name exists already. Ask for it to be renamed or deleted, then try again."
                    .to_owned(),
            ));
        }
        Err(error) => return Err(error.into()),
    };
    let reveal = Reveal {
        rotated: false,
        name,
        client_id,
        secret,
        notes: Vec::new(),
        grace: Vec::new(),
    };
    Ok(reveal.respond(&state, &on))
}
