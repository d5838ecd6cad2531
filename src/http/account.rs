//! The signed-in person's own account: changing the password ends every
//! other session of theirs.

use askama::Template;
use askama_web::WebTemplate;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use secrecy::SecretString;
use serde::Deserialize;

use crate::domain::{FieldError, FieldErrors, Password};
use crate::error::{AppError, AppResult};
use crate::http::form::Form;
use crate::http::meta::RequestMeta;
use crate::http::session::{self, OrgContext};
use crate::http::views::{Layout, Nav};
use crate::http::{audit, login};
use crate::state::AppState;
use crate::storage::users;

pub fn router() -> Router<AppState> {
    Router::new().route("/account", get(show).post(change_password))
}

const FLASH_KEY: &str = "account.flash";

#[derive(Template, WebTemplate)]
#[template(path = "account.html")]
struct AccountPage {
    layout: Layout,
    errors: FieldErrors,
    notice: String,
}

#[derive(Deserialize)]
#[serde(default)]
#[derive(Default)]
struct PasswordForm {
    current_password: String,
    password: String,
    password_confirm: String,
}

async fn show(ctx: OrgContext) -> AppResult<Response> {
    let notice = crate::http::session::take_flash(&ctx.session, FLASH_KEY).await?;
    Ok(AccountPage {
        layout: ctx.layout("Account", Nav::Account),
        errors: FieldErrors::default(),
        notice,
    }
    .into_response())
}

async fn change_password(
    State(state): State<AppState>,
    ctx: OrgContext,
    meta: RequestMeta,
    Form(form): Form<PasswordForm>,
) -> AppResult<Response> {
    let mut errors = FieldErrors::default();
    let stored = state
        .db
        .password_by_id(ctx.user.id)
        .await?
        .ok_or(AppError::SignedOut)?;
    let current = SecretString::from(form.current_password.clone());
    if !state
        .hasher
        .verify(&current, Some(stored.password_hash))
        .await?
    {
        errors.push(FieldError::new(
            "current_password",
            "This is not your current password.",
        ));
    }
    let password = errors.check(Password::parse(&form.password));
    if password.is_some() && form.password != form.password_confirm {
        errors.push(FieldError::new(
            "password_confirm",
            "The two passwords do not match.",
        ));
    }
    let (Some(password), true) = (password, errors.is_empty()) else {
        let page = AccountPage {
            layout: ctx.layout("Account", Nav::Account),
            errors,
            notice: String::new(),
        };
        return Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response());
    };
    let hash = state.hasher.hash(password.secret()).await?;
    let now = state.now();
    let mut tx = state.db.begin().await?;
    users::set_password(&mut tx, ctx.user.id, &hash).await?;
    tx.commit().await?;
    // Every session, this one included, is now void; this one starts afresh.
    let user = state
        .db
        .user_by_id(ctx.user.id)
        .await?
        .ok_or(AppError::SignedOut)?;
    session::sign_in(&ctx.session, &user, now).await?;
    let event = audit::by_user(&user, None, &meta, "password.changed");
    login::record_for_user(&state, Some(user.id), event, now).await?;
    ctx.session
        .insert(
            FLASH_KEY,
            "Password changed. You were signed out everywhere else.",
        )
        .await?;
    Ok(Redirect::to("/account").into_response())
}
