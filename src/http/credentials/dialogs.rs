//! The dialogs: New Credential, Edit, the confirmations of Rotate, Delete
//! and Disable, and the one-time reveal of a secret.

use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;

use super::form::{CredentialForm, Fields};
use super::{Acting, FlashFragment, LIST, dialog_or_page};
use crate::domain::credential::{LIMIT_MESSAGE, Secret, expiry};
use crate::domain::permission::SetType;
use crate::domain::{ClientId, FieldError, Grace};
use crate::http::error::AppResult;
use crate::http::form::Form;
use crate::http::htmx::{HxEvent, html, trigger};
use crate::http::session::OrgContext;
use crate::http::views::{Layout, Nav};
use crate::service::credentials::{self as credentials, CreateOutcome, Updated};
use crate::service::{self, Error};
use crate::state::AppState;
use crate::storage::credentials::Credential;

#[derive(Template)]
#[template(path = "settings/credentials/new.html", blocks = ["dialog"])]
struct NewCredentialPage {
    layout: Layout,
    in_dialog: bool,
    fields: Fields,
    /// The organization is at its limit: the form explains and cannot be sent.
    at_limit: bool,
    limit_message: &'static str,
}

#[derive(Template)]
#[template(path = "settings/credentials/edit.html", blocks = ["dialog"])]
struct EditPage {
    layout: Layout,
    in_dialog: bool,
    client_id: String,
    fields: Fields,
}

/// Confirmation of Rotate Credential, Delete or Disable.
#[derive(Template)]
#[template(path = "settings/credentials/confirm.html", blocks = ["dialog"])]
struct ConfirmPage {
    layout: Layout,
    in_dialog: bool,
    kind: &'static str,
    credential: Credential,
    grace_choices: Vec<(String, String)>,
}

#[derive(Template)]
#[template(path = "settings/credentials/reveal.html", blocks = ["dialog"])]
struct RevealPage {
    layout: Layout,
    in_dialog: bool,
    rotated: bool,
    name: String,
    audience: String,
    client_id: String,
    secret: String,
    notes: Vec<String>,
    grace: Vec<String>,
}

/// The one response that ever carries a secret.
pub struct Reveal {
    pub rotated: bool,
    pub name: String,
    pub client_id: ClientId,
    pub secret: Secret,
    pub notes: Vec<String>,
    /// After a rotation with a grace window: until when the previous secret works.
    pub grace: Vec<String>,
}

impl Reveal {
    pub fn respond<T>(self, state: &AppState, on: &Acting<T>) -> Response {
        let (ctx, hx) = (&on.ctx, on.hx);
        let page = RevealPage {
            layout: ctx.layout("Save your secret now", Nav::Credentials),
            in_dialog: hx,
            rotated: self.rotated,
            name: self.name,
            audience: state.config.audience.clone(),
            client_id: self.client_id.to_string(),
            secret: self.secret.expose().to_owned(),
            notes: self.notes,
            grace: self.grace,
        };
        if !hx {
            return dialog_or_page!(hx, StatusCode::OK, page);
        }
        // The page's message says what just happened, replacing the last one.
        let message = if page.rotated {
            format!(
                "Rotated “{}”: its new secret is shown once, below.",
                page.name
            )
        } else {
            format!("Created “{}”: its secret is shown once, below.", page.name)
        };
        let body = page
            .as_dialog()
            .render()
            .and_then(|dialog| Ok(dialog + &FlashFragment { message }.render()?));
        trigger(html(StatusCode::OK, body), HxEvent::CredentialsChanged)
    }
}

fn new_page(ctx: &OrgContext, hx: bool, fields: Fields, at_limit: bool) -> NewCredentialPage {
    NewCredentialPage {
        layout: ctx.layout("New Credential", Nav::Credentials),
        in_dialog: hx,
        fields,
        at_limit,
        limit_message: LIMIT_MESSAGE,
    }
}

pub async fn new_form(State(state): State<AppState>, on: Acting<()>) -> AppResult<Response> {
    let room = credentials::room(&state, &on.actor, on.ctx.org.plan).await?;
    let set = SetType::Monitoring;
    let max_days = on.ctx.org.max_credential_days;
    let form = CredentialForm {
        permission_set: set.key().to_owned(),
        ip_mode: "all".to_owned(),
        // Under a policy, the longest lifetime it allows, to shorten at will.
        expires_on: max_days
            .map(|days| expiry::date(expiry::latest(days, state.now())))
            .unwrap_or_default(),
        ..Default::default()
    };
    let mut fields = Fields::new(form, &state, LIST.to_owned(), room.needs_approval);
    fields.max_days = max_days;
    fields.set_rows(&set.defaults());
    let page = new_page(&on.ctx, on.hx, fields, room.full);
    Ok(dialog_or_page!(on.hx, StatusCode::OK, page))
}

fn name_taken() -> FieldError {
    FieldError::new("name", Error::NameTaken.to_string())
}

pub async fn create(
    State(state): State<AppState>,
    on: Acting<()>,
    Form(form): Form<CredentialForm>,
) -> AppResult<Response> {
    service::may_edit_credentials(&on.actor, on.ctx.org.plan)?;
    let needs_approval = on.ctx.org.require_approval && !on.ctx.access.is_owner();
    let mut fields = Fields::new(form, &state, LIST.to_owned(), needs_approval);
    fields.max_days = on.ctx.org.max_credential_days;
    let again = |fields: Fields, at_limit: bool, status| {
        dialog_or_page!(on.hx, status, new_page(&on.ctx, on.hx, fields, at_limit))
    };
    if fields.apply_op() {
        return Ok(again(fields, false, StatusCode::OK));
    }
    let Some(parsed) = fields.validate() else {
        return Ok(again(fields, false, StatusCode::UNPROCESSABLE_ENTITY));
    };
    let justification = parsed.justification.as_ref();
    match credentials::create(&state, &on.actor, &parsed.draft, justification).await {
        Ok(CreateOutcome::Created(created)) => {
            let reveal = Reveal {
                rotated: false,
                name: created.name,
                client_id: created.client_id,
                secret: created.secret,
                notes: parsed.notes,
                grace: Vec::new(),
            };
            Ok(reveal.respond(&state, &on))
        }
        Ok(CreateOutcome::Requested { name, .. }) => {
            on.done(format!(
                "Your request for “{name}” was sent to the organization's owners for approval. Once approved, generate its key from this page.{}",
                parsed.notes_text()
            ))
            .await
        }
        Err(Error::LimitReached) => Ok(again(fields, true, StatusCode::CONFLICT)),
        Err(Error::NameTaken) => {
            fields.errors.push(name_taken());
            Ok(again(fields, false, StatusCode::UNPROCESSABLE_ENTITY))
        }
        Err(error @ (Error::ExpiryRequired(_) | Error::ExpiryTooFar(_))) => {
            fields.errors.push(FieldError::new("expires_on", error.to_string()));
            fields.focus = "expires_on";
            Ok(again(fields, false, StatusCode::UNPROCESSABLE_ENTITY))
        }
        // Approval was switched on since the form was shown: it now asks why.
        Err(error @ Error::JustificationRequired) => {
            fields.needs_justification = true;
            fields.errors.push(FieldError::new("justification", error.to_string()));
            fields.focus = "justification";
            Ok(again(fields, false, StatusCode::UNPROCESSABLE_ENTITY))
        }
        Err(error) => Err(error.into()),
    }
}

fn edit_path(client_id: &ClientId) -> String {
    format!("/settings/credentials/{client_id}/edit")
}

fn edit_page(on: &Acting<ClientId>, fields: Fields) -> EditPage {
    EditPage {
        layout: on.ctx.layout("Edit credential", Nav::Credentials),
        in_dialog: on.hx,
        client_id: on.target.to_string(),
        fields,
    }
}

pub async fn edit_form(State(state): State<AppState>, on: Acting<ClientId>) -> AppResult<Response> {
    let credential = credentials::editable(&state, &on.actor, on.ctx.org.plan, &on.target).await?;
    let shown = credentials::Shown::of(&credential).encode();
    let ips = &credential.ip_allowlist;
    let form = CredentialForm {
        ip_mode: if ips.is_all() { "all" } else { "limited" }.to_owned(),
        ip_list: ips.lines(),
        name: credential.name,
        description: credential.description.unwrap_or_default(),
        permission_set: credential.permission_set.key().to_owned(),
        expires_on: credential.expires_at.map(expiry::date).unwrap_or_default(),
        shown,
        ..Default::default()
    };
    let mut fields = Fields::new(form, &state, edit_path(&on.target), false);
    fields.max_days = on.ctx.org.max_credential_days;
    fields.current_expiry = credential.expires_at;
    let permissions: Vec<_> = credential.permissions.iter().cloned().collect();
    fields.set_rows(&permissions);
    Ok(dialog_or_page!(
        on.hx,
        StatusCode::OK,
        edit_page(&on, fields)
    ))
}

pub async fn edit(
    State(state): State<AppState>,
    on: Acting<ClientId>,
    Form(form): Form<CredentialForm>,
) -> AppResult<Response> {
    // A 404 when the credential is gone, rather than a form for nothing.
    let current = credentials::editable(&state, &on.actor, on.ctx.org.plan, &on.target).await?;
    // The justification field is there once a change turned out to need approval.
    let explained = !form.justification.trim().is_empty();
    let mut fields = Fields::new(form, &state, edit_path(&on.target), explained);
    fields.max_days = on.ctx.org.max_credential_days;
    fields.current_expiry = current.expires_at;
    let again = |fields: Fields, status| dialog_or_page!(on.hx, status, edit_page(&on, fields));
    if fields.apply_op() {
        return Ok(again(fields, StatusCode::OK));
    }
    let Some(parsed) = fields.validate() else {
        return Ok(again(fields, StatusCode::UNPROCESSABLE_ENTITY));
    };
    let justification = parsed.justification.as_ref();
    let name = parsed.draft.name.as_str();
    // Only what the person changed from what the dialog showed: a field
    // someone else changed meanwhile, left as shown here, stays as stored.
    let shown = credentials::Shown::decode(&fields.form.shown);
    let edits = credentials::Patch::edits(&parsed.draft, shown.as_ref());
    match credentials::update(&state, &on.actor, &on.target, &edits, justification, None).await {
        Ok(Updated::Saved) => {
            on.done(format!("Saved “{name}”.{}", parsed.notes_text()))
                .await
        }
        Ok(Updated::Requested { .. }) => {
            on.done(format!(
                "Your change to “{name}” was sent to the organization's owners for approval. It applies once approved.{}",
                parsed.notes_text()
            ))
            .await
        }
        Err(error @ Error::WideningNeedsApproval) => {
            fields.needs_justification = true;
            fields.errors.push(FieldError::new("justification", error.to_string()));
            fields.focus = "justification";
            Ok(again(fields, StatusCode::UNPROCESSABLE_ENTITY))
        }
        Err(Error::NameTaken) => {
            fields.errors.push(name_taken());
            Ok(again(fields, StatusCode::UNPROCESSABLE_ENTITY))
        }
        Err(error @ (Error::ExpiryRequired(_) | Error::ExpiryTooFar(_))) => {
            fields.errors.push(FieldError::new("expires_on", error.to_string()));
            fields.focus = "expires_on";
            Ok(again(fields, StatusCode::UNPROCESSABLE_ENTITY))
        }
        Err(error) => Err(error.into()),
    }
}

/// What a confirmation asks about.
#[derive(Clone, Copy)]
enum Confirm {
    Rotate,
    Delete,
    Disable,
    ExpirePrevious,
}

async fn confirm(state: &AppState, on: &Acting<ClientId>, kind: Confirm) -> AppResult<Response> {
    let credential = credentials::editable(state, &on.actor, on.ctx.org.plan, &on.target).await?;
    let (kind, title) = match kind {
        Confirm::Rotate => ("rotate", "Rotate Credential"),
        Confirm::Delete if credential.is_primary => {
            return Err(Error::PrimaryCannotBeDeleted.into());
        }
        Confirm::Delete => ("delete", "Delete credential"),
        Confirm::Disable => ("disable", "Disable credential"),
        Confirm::ExpirePrevious => ("expire", "Expire the previous secret"),
    };
    let page = ConfirmPage {
        layout: on.ctx.layout(title, Nav::Credentials),
        in_dialog: on.hx,
        kind,
        credential,
        grace_choices: Grace::CHOICES
            .iter()
            .map(|g| (g.value(), g.label()))
            .collect(),
    };
    Ok(dialog_or_page!(on.hx, StatusCode::OK, page))
}

pub async fn confirm_rotate(
    State(state): State<AppState>,
    on: Acting<ClientId>,
) -> AppResult<Response> {
    confirm(&state, &on, Confirm::Rotate).await
}

pub async fn confirm_delete(
    State(state): State<AppState>,
    on: Acting<ClientId>,
) -> AppResult<Response> {
    confirm(&state, &on, Confirm::Delete).await
}

/// Asked when the previous secret was used in the last hour (the card links
/// here then; otherwise Expire now posts at once).
pub async fn confirm_expire_previous(
    State(state): State<AppState>,
    on: Acting<ClientId>,
) -> AppResult<Response> {
    confirm(&state, &on, Confirm::ExpirePrevious).await
}

pub async fn confirm_disable(
    State(state): State<AppState>,
    on: Acting<ClientId>,
) -> AppResult<Response> {
    confirm(&state, &on, Confirm::Disable).await
}
