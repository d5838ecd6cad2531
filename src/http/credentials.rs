//! Settings > Credentials: the list, and the dialogs to create, edit, rotate,
//! make primary and delete a credential, with the one-time secret reveal.
//!
//! Every dialog URL serves two ways: to htmx as a `<dialog>` fragment (the
//! page's `dialog` block), and without JavaScript as a full page with the
//! same markup, its forms posting and redirecting. The reveal is the one
//! exception to post-redirect-get: the POST renders it, because the secret
//! must exist in exactly one response.

use askama::Template;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::json;

use crate::domain::credential::{
    self, CredentialName, Description, LIMIT_MESSAGE, MAX_CREDENTIALS, Secret,
};
use crate::domain::{FieldError, FieldErrors, Plan};
use crate::error::{AppError, AppResult};
use crate::http::audit::{self, EventExt};
use crate::http::form::Form;
use crate::http::htmx::{HxEvent, HxRequest, html, trigger};
use crate::http::meta::RequestMeta;
use crate::http::session::OrgContext;
use crate::http::views::{Layout, Nav, absolute_time, iso_time, relative_time};
use crate::state::AppState;
use crate::storage::credentials::{self as repo, Created, Credential, NewCredential, Renamed};
use crate::storage::{self};

pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/settings",
            get(|| async { Redirect::to("/settings/credentials") }),
        )
        .route("/settings/credentials", get(show).post(create))
        .route("/settings/credentials/new", get(new_form))
        .route(
            "/settings/credentials/{client_id}/edit",
            get(edit_form).post(edit),
        )
        .route(
            "/settings/credentials/{client_id}/rotate",
            get(confirm_rotate).post(rotate),
        )
        .route(
            "/settings/credentials/{client_id}/make-primary",
            post(make_primary),
        )
        .route(
            "/settings/credentials/{client_id}/delete",
            get(confirm_delete).post(delete),
        )
}

const FLASH_KEY: &str = "credentials.flash";
const LIST: &str = "/settings/credentials";

const TRIAL_MESSAGE: &str =
    "Trial organizations cannot hold API credentials. Upgrade to the Standard plan to create them.";
const PRIMARY_MESSAGE: &str = "The primary credential cannot be deleted. Make another credential primary first, then delete this one.";

/// A point in time as the page shows it: relative, with the absolute time on hover.
pub struct When {
    pub relative: String,
    pub iso: String,
    pub absolute: String,
}

impl When {
    fn at(unix: i64, now: i64) -> When {
        When {
            relative: relative_time(unix, now),
            iso: iso_time(unix),
            absolute: absolute_time(unix),
        }
    }
}

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
}

impl CredentialView {
    fn new(c: Credential, now: i64) -> CredentialView {
        CredentialView {
            enabled: c.is_enabled(),
            client_id: c.client_id,
            name: c.name,
            description: c.description.unwrap_or_default(),
            is_primary: c.is_primary,
            created: When::at(c.created_at, now),
            created_by: c.created_by,
            rotated: c.last_rotated_at.map(|t| When::at(t, now)),
            last_used: c.last_used_at.map(|t| When::at(t, now)),
            last_used_ip: c.last_used_ip.unwrap_or_default(),
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
    limit_message: &'static str,
    trial_message: &'static str,
    primary_message: &'static str,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct CredentialForm {
    name: String,
    description: String,
}

#[derive(Template)]
#[template(path = "settings/credentials/new.html", blocks = ["dialog"])]
struct NewCredentialPage {
    layout: Layout,
    in_dialog: bool,
    form: CredentialForm,
    errors: FieldErrors,
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
    form: CredentialForm,
    errors: FieldErrors,
}

#[derive(Template)]
#[template(path = "settings/credentials/confirm.html", blocks = ["dialog"])]
struct ConfirmPage {
    layout: Layout,
    in_dialog: bool,
    rotate: bool,
    credential: CredentialView,
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
}

/// The message after a change, swapped out of band into the page's `#flash`.
#[derive(Template)]
#[template(path = "settings/credentials/flash.html")]
struct FlashFragment {
    message: String,
}

/// Renders `$page` whole, or only its `dialog` block for htmx.
macro_rules! dialog_or_page {
    ($hx:expr, $status:expr, $page:expr) => {{
        let page = $page;
        if $hx {
            html($status, page.as_dialog().render())
        } else {
            html($status, page.render())
        }
    }};
}

/// The checks every change goes through, in this order: may this person
/// change credentials at all, may this organization hold any.
fn require_edit(ctx: &OrgContext) -> AppResult<()> {
    if !ctx.access.can_edit_credentials() {
        return Err(AppError::Forbidden(
            "You need the API Credentials: Can Edit permission to change credentials.".to_owned(),
        ));
    }
    if ctx.org.plan() == Plan::Trial {
        return Err(AppError::Forbidden(TRIAL_MESSAGE.to_owned()));
    }
    Ok(())
}

async fn load(state: &AppState, ctx: &OrgContext, client_id: &str) -> AppResult<Credential> {
    state
        .db
        .credential(ctx.org.id, client_id)
        .await?
        .ok_or(AppError::NotFound)
}

/// After a change: htmx closes the dialog (an empty `#dialog-root`), shows
/// the message and reloads the list; without JavaScript, redirect to it.
async fn done(ctx: &OrgContext, hx: bool, message: String) -> AppResult<Response> {
    if hx {
        let response = html(StatusCode::OK, FlashFragment { message }.render());
        return Ok(trigger(response, HxEvent::CredentialsChanged));
    }
    ctx.session.insert(FLASH_KEY, message).await?;
    Ok(Redirect::to(LIST).into_response())
}

async fn show(
    State(state): State<AppState>,
    ctx: OrgContext,
    meta: RequestMeta,
    HxRequest(hx): HxRequest,
) -> AppResult<Response> {
    let now = state.now();
    if ctx.access.is_support() && !hx {
        state
            .db
            .record(
                &audit::by(&ctx, &meta, "support.viewed").target("Credentials"),
                now,
            )
            .await?;
    }
    let credentials: Vec<_> = state
        .db
        .credentials_of(ctx.org.id)
        .await?
        .into_iter()
        .map(|c| CredentialView::new(c, now))
        .collect();
    let flash = if hx {
        String::new()
    } else {
        crate::http::session::take_flash(&ctx.session, FLASH_KEY).await?
    };
    let page = CredentialsPage {
        layout: ctx.layout("Credentials", Nav::Credentials),
        flash,
        at_limit: credentials.len() as i64 >= MAX_CREDENTIALS,
        credentials,
        can_edit: ctx.access.can_edit_credentials(),
        limit_message: LIMIT_MESSAGE,
        trial_message: TRIAL_MESSAGE,
        primary_message: PRIMARY_MESSAGE,
    };
    if hx {
        return Ok(html(StatusCode::OK, page.as_section().render()));
    }
    Ok(html(StatusCode::OK, page.render()))
}

async fn new_form(
    State(state): State<AppState>,
    ctx: OrgContext,
    HxRequest(hx): HxRequest,
) -> AppResult<Response> {
    require_edit(&ctx)?;
    let count = state.db.credentials_of(ctx.org.id).await?.len() as i64;
    let page = NewCredentialPage {
        layout: ctx.layout("New Credential", Nav::Credentials),
        in_dialog: hx,
        form: CredentialForm::default(),
        errors: FieldErrors::default(),
        at_limit: count >= MAX_CREDENTIALS,
        limit_message: LIMIT_MESSAGE,
    };
    Ok(dialog_or_page!(hx, StatusCode::OK, page))
}

fn parse_form(form: &CredentialForm) -> (FieldErrors, Option<(CredentialName, Description)>) {
    let mut errors = FieldErrors::default();
    let name = errors.check(CredentialName::parse(&form.name));
    let description = errors.check(Description::parse(&form.description));
    let parsed = name.zip(description);
    (errors, parsed)
}

fn name_taken() -> FieldError {
    FieldError::new(
        "name",
        "A credential with this name already exists in your organization. Choose another name.",
    )
}

async fn create(
    State(state): State<AppState>,
    ctx: OrgContext,
    meta: RequestMeta,
    HxRequest(hx): HxRequest,
    Form(form): Form<CredentialForm>,
) -> AppResult<Response> {
    require_edit(&ctx)?;
    let (mut errors, parsed) = parse_form(&form);
    let again = |form, errors, at_limit: bool, status| {
        let page = NewCredentialPage {
            layout: ctx.layout("New Credential", Nav::Credentials),
            in_dialog: hx,
            form,
            errors,
            at_limit,
            limit_message: LIMIT_MESSAGE,
        };
        dialog_or_page!(hx, status, page)
    };
    let Some((name, description)) = parsed else {
        return Ok(again(form, errors, false, StatusCode::UNPROCESSABLE_ENTITY));
    };

    let client_id = credential::new_client_id();
    let secret = Secret::generate(state.config.environment);
    let digest = state.keys.secret_digest(secret.expose());
    let now = state.now();
    let mut tx = state.db.begin_write().await?;
    let new = NewCredential {
        org_id: ctx.org.id,
        client_id: &client_id,
        name: name.as_str(),
        description: description.as_deref(),
        digest: &digest,
        created_by: &ctx.user.email,
    };
    match repo::create(&mut tx, &new, now).await? {
        Created::Created { is_primary } => {
            let event = audit::by(&ctx, &meta, "credential.created")
                .target(client_id.clone())
                .detail(json!({ "name": name.as_str(), "description": description.as_deref(), "primary": is_primary }));
            storage::audit::insert(&mut tx, &event, now).await?;
            tx.commit().await?;
        }
        Created::LimitReached => {
            drop(tx);
            return Ok(again(form, errors, true, StatusCode::CONFLICT));
        }
        Created::NameTaken => {
            drop(tx);
            errors.push(name_taken());
            return Ok(again(form, errors, false, StatusCode::UNPROCESSABLE_ENTITY));
        }
    }
    Ok(reveal(
        &state,
        &ctx,
        hx,
        false,
        name.as_str().to_owned(),
        client_id,
        secret,
    ))
}

/// The one response that ever carries the secret.
fn reveal(
    state: &AppState,
    ctx: &OrgContext,
    hx: bool,
    rotated: bool,
    name: String,
    client_id: String,
    secret: Secret,
) -> Response {
    let page = RevealPage {
        layout: ctx.layout("Save your secret now", Nav::Credentials),
        in_dialog: hx,
        rotated,
        name,
        audience: state.config.audience.clone(),
        client_id,
        secret: secret.expose().to_owned(),
    };
    let response = dialog_or_page!(hx, StatusCode::OK, page);
    if hx {
        trigger(response, HxEvent::CredentialsChanged)
    } else {
        response
    }
}

async fn edit_form(
    State(state): State<AppState>,
    ctx: OrgContext,
    HxRequest(hx): HxRequest,
    Path(client_id): Path<String>,
) -> AppResult<Response> {
    require_edit(&ctx)?;
    let credential = load(&state, &ctx, &client_id).await?;
    let form = CredentialForm {
        name: credential.name,
        description: credential.description.unwrap_or_default(),
    };
    let page = EditPage {
        layout: ctx.layout("Edit credential", Nav::Credentials),
        in_dialog: hx,
        client_id,
        form,
        errors: FieldErrors::default(),
    };
    Ok(dialog_or_page!(hx, StatusCode::OK, page))
}

async fn edit(
    State(state): State<AppState>,
    ctx: OrgContext,
    meta: RequestMeta,
    HxRequest(hx): HxRequest,
    Path(client_id): Path<String>,
    Form(form): Form<CredentialForm>,
) -> AppResult<Response> {
    require_edit(&ctx)?;
    let (mut errors, parsed) = parse_form(&form);
    let Some((name, description)) = parsed else {
        // Still a 404 when the credential is gone, rather than a form for nothing.
        load(&state, &ctx, &client_id).await?;
        let page = EditPage {
            layout: ctx.layout("Edit credential", Nav::Credentials),
            in_dialog: hx,
            client_id,
            form,
            errors,
        };
        return Ok(dialog_or_page!(hx, StatusCode::UNPROCESSABLE_ENTITY, page));
    };
    let now = state.now();
    let mut tx = state.db.begin_write().await?;
    let before = repo::find(&mut tx, ctx.org.id, &client_id)
        .await?
        .ok_or(AppError::NotFound)?;
    match repo::rename(
        &mut tx,
        before.id,
        name.as_str(),
        description.as_deref(),
        now,
    )
    .await?
    {
        Renamed::Renamed => {}
        Renamed::NameTaken => {
            drop(tx);
            errors.push(name_taken());
            let page = EditPage {
                layout: ctx.layout("Edit credential", Nav::Credentials),
                in_dialog: hx,
                client_id,
                form,
                errors,
            };
            return Ok(dialog_or_page!(hx, StatusCode::UNPROCESSABLE_ENTITY, page));
        }
    }
    let event = audit::by(&ctx, &meta, "credential.renamed")
        .target(client_id.clone())
        .detail(json!({
            "before": { "name": before.name, "description": before.description },
            "after": { "name": name.as_str(), "description": description.as_deref() },
        }));
    storage::audit::insert(&mut tx, &event, now).await?;
    tx.commit().await?;
    done(&ctx, hx, format!("Saved “{}”.", name.as_str())).await
}

async fn confirm(
    state: &AppState,
    ctx: &OrgContext,
    hx: bool,
    client_id: &str,
    rotate: bool,
) -> AppResult<Response> {
    require_edit(ctx)?;
    let credential = load(state, ctx, client_id).await?;
    if !rotate && credential.is_primary {
        return Err(AppError::Forbidden(PRIMARY_MESSAGE.to_owned()));
    }
    let title = if rotate {
        "Rotate Credential"
    } else {
        "Delete credential"
    };
    let page = ConfirmPage {
        layout: ctx.layout(title, Nav::Credentials),
        in_dialog: hx,
        rotate,
        credential: CredentialView::new(credential, state.now()),
    };
    Ok(dialog_or_page!(hx, StatusCode::OK, page))
}

async fn confirm_rotate(
    State(state): State<AppState>,
    ctx: OrgContext,
    HxRequest(hx): HxRequest,
    Path(client_id): Path<String>,
) -> AppResult<Response> {
    confirm(&state, &ctx, hx, &client_id, true).await
}

async fn confirm_delete(
    State(state): State<AppState>,
    ctx: OrgContext,
    HxRequest(hx): HxRequest,
    Path(client_id): Path<String>,
) -> AppResult<Response> {
    confirm(&state, &ctx, hx, &client_id, false).await
}

async fn rotate(
    State(state): State<AppState>,
    ctx: OrgContext,
    meta: RequestMeta,
    HxRequest(hx): HxRequest,
    Path(client_id): Path<String>,
) -> AppResult<Response> {
    require_edit(&ctx)?;
    let secret = Secret::generate(state.config.environment);
    let digest = state.keys.secret_digest(secret.expose());
    let now = state.now();
    let mut tx = state.db.begin_write().await?;
    let credential = repo::find(&mut tx, ctx.org.id, &client_id)
        .await?
        .ok_or(AppError::NotFound)?;
    repo::rotate(&mut tx, credential.id, &digest, now).await?;
    let event = audit::by(&ctx, &meta, "credential.rotated")
        .target(client_id.clone())
        .detail(json!({ "name": credential.name }));
    storage::audit::insert(&mut tx, &event, now).await?;
    tx.commit().await?;
    Ok(reveal(
        &state,
        &ctx,
        hx,
        true,
        credential.name,
        client_id,
        secret,
    ))
}

async fn make_primary(
    State(state): State<AppState>,
    ctx: OrgContext,
    meta: RequestMeta,
    HxRequest(hx): HxRequest,
    Path(client_id): Path<String>,
) -> AppResult<Response> {
    require_edit(&ctx)?;
    let now = state.now();
    let mut tx = state.db.begin_write().await?;
    let credential = repo::find(&mut tx, ctx.org.id, &client_id)
        .await?
        .ok_or(AppError::NotFound)?;
    if !credential.is_primary {
        repo::make_primary(&mut tx, ctx.org.id, credential.id, now).await?;
        let event = audit::by(&ctx, &meta, "credential.made_primary")
            .target(client_id.clone())
            .detail(json!({ "name": credential.name }));
        storage::audit::insert(&mut tx, &event, now).await?;
    }
    tx.commit().await?;
    done(
        &ctx,
        hx,
        format!("“{}” is now the primary credential.", credential.name),
    )
    .await
}

async fn delete(
    State(state): State<AppState>,
    ctx: OrgContext,
    meta: RequestMeta,
    HxRequest(hx): HxRequest,
    Path(client_id): Path<String>,
) -> AppResult<Response> {
    require_edit(&ctx)?;
    let now = state.now();
    let mut tx = state.db.begin_write().await?;
    let credential = repo::find(&mut tx, ctx.org.id, &client_id)
        .await?
        .ok_or(AppError::NotFound)?;
    if credential.is_primary {
        return Err(AppError::Forbidden(PRIMARY_MESSAGE.to_owned()));
    }
    repo::delete(&mut tx, credential.id).await?;
    let event = audit::by(&ctx, &meta, "credential.deleted")
        .target(client_id)
        .detail(json!({ "name": credential.name }));
    storage::audit::insert(&mut tx, &event, now).await?;
    tx.commit().await?;
    done(
        &ctx,
        hx,
        format!(
            "Deleted “{}”. Clients using it have lost access.",
            credential.name
        ),
    )
    .await
}
