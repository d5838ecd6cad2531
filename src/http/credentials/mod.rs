//! Settings > Credentials: the page and its list (`page`), the New Credential
//! and Edit form with its editable permission rows (`form`), the dialogs that
//! create, edit and confirm (`dialogs`), the one-step actions and the
//! requests' decisions (`actions`).
//!
//! Every dialog URL serves two ways: to htmx as a `<dialog>` fragment (the
//! page's `dialog` block), and without JavaScript as a full page with the
//! same markup, its forms posting and redirecting. The reveal is the one
//! exception to post-redirect-get: the POST renders it, because the secret
//! must exist in exactly one response.
//!
//! Handlers parse, call one use case of `service::credentials` or
//! `service::requests`, and render; the rules live there.

mod actions;
mod dialogs;
mod form;
mod page;

use askama::Template;
use axum::Router;
use axum::extract::{FromRequestParts, Path};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};

use crate::domain::{ClientId, RequestId};
use crate::http::error::{AppError, AppResult};
use crate::http::htmx::{HxEvent, HxRequest, html, trigger};
use crate::http::meta::RequestMeta;
use crate::http::session::OrgContext;
use crate::service::Actor;
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    // Whole paths, so that each route reads (and is found) as it is served.
    Router::new()
        .route(
            "/settings",
            get(|| async { Redirect::to("/settings/credentials") }),
        )
        .route(
            "/settings/credentials",
            get(page::show).post(dialogs::create),
        )
        .route("/settings/credentials/new", get(dialogs::new_form))
        .route(
            "/settings/credentials/{client_id}/edit",
            get(dialogs::edit_form).post(dialogs::edit),
        )
        .route(
            "/settings/credentials/{client_id}/rotate",
            get(dialogs::confirm_rotate).post(actions::rotate),
        )
        .route(
            "/settings/credentials/{client_id}/make-primary",
            post(actions::make_primary),
        )
        .route(
            "/settings/credentials/{client_id}/delete",
            get(dialogs::confirm_delete).post(actions::delete),
        )
        .route(
            "/settings/credentials/{client_id}/disable",
            get(dialogs::confirm_disable).post(actions::disable),
        )
        .route(
            "/settings/credentials/{client_id}/enable",
            post(actions::enable),
        )
        .route(
            "/settings/credentials/{client_id}/expire-previous",
            get(dialogs::confirm_expire_previous).post(actions::expire_previous),
        )
        .route(
            "/settings/credentials/requests/{request_id}/approve",
            post(actions::approve),
        )
        .route(
            "/settings/credentials/requests/{request_id}/reject",
            get(actions::confirm_reject).post(actions::reject),
        )
        .route(
            "/settings/credentials/requests/{request_id}/cancel",
            post(actions::cancel),
        )
        .route(
            "/settings/credentials/requests/{request_id}/generate",
            post(actions::generate),
        )
}

const FLASH_KEY: &str = "credentials.flash";
const LIST: &str = "/settings/credentials";

/// What a handler of this page acts on: the page itself (`()`), a
/// credential (its client ID in the URL), or a credential request.
pub trait Target: Sized {
    /// Whether the URL names it.
    const IN_PATH: bool;
    /// `None` for text that cannot name one: simply not found.
    fn from_path(raw: &str) -> Option<Self>;
}

impl Target for () {
    const IN_PATH: bool = false;
    fn from_path(_: &str) -> Option<Self> {
        Some(())
    }
}

impl Target for ClientId {
    const IN_PATH: bool = true;
    fn from_path(raw: &str) -> Option<Self> {
        ClientId::parse(raw)
    }
}

impl Target for RequestId {
    const IN_PATH: bool = true;
    fn from_path(raw: &str) -> Option<Self> {
        RequestId::parse(raw)
    }
}

/// Everything a handler of this page reads from the request: the signed-in
/// person in their organization, the same as a use case's [`Actor`],
/// whether htmx asked (a fragment) or not (a full page), and the target.
pub struct Acting<T> {
    pub ctx: OrgContext,
    pub actor: Actor,
    pub hx: bool,
    pub target: T,
}

impl<T: Target + Send> FromRequestParts<AppState> for Acting<T> {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> AppResult<Self> {
        let ctx = OrgContext::from_request_parts(parts, state).await?;
        let Ok(meta) = RequestMeta::from_request_parts(parts, state).await;
        let Ok(HxRequest(hx)) = HxRequest::from_request_parts(parts, state).await;
        let raw = if T::IN_PATH {
            let Path(raw) = Path::<String>::from_request_parts(parts, state)
                .await
                .map_err(|_| AppError::NotFound)?;
            raw
        } else {
            String::new()
        };
        let target = T::from_path(&raw).ok_or(AppError::NotFound)?;
        Ok(Acting {
            actor: ctx.actor(&meta),
            ctx,
            hx,
            target,
        })
    }
}

impl<T> Acting<T> {
    /// After a change: htmx closes the dialog (an empty `#dialog-root`),
    /// shows the message and reloads the list; without JavaScript, redirect
    /// to the list, which shows the message once.
    async fn done(&self, message: String) -> AppResult<Response> {
        if self.hx {
            let response = html(StatusCode::OK, FlashFragment { message }.render());
            return Ok(trigger(response, HxEvent::CredentialsChanged));
        }
        self.ctx.session.insert(FLASH_KEY, message).await?;
        Ok(Redirect::to(LIST).into_response())
    }
}

/// Renders `$page` whole, or only its `dialog` block for htmx.
macro_rules! dialog_or_page {
    ($hx:expr, $status:expr, $page:expr) => {{
        let page = $page;
        if $hx {
            crate::http::htmx::html($status, page.as_dialog().render())
        } else {
            crate::http::htmx::html($status, page.render())
        }
    }};
}
pub(crate) use dialog_or_page;

/// The message after a change, swapped out of band into the page's `#flash`.
#[derive(Template)]
#[template(path = "settings/credentials/flash.html")]
pub(crate) struct FlashFragment {
    pub message: String,
}
