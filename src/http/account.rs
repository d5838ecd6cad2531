//! The signed-in person's own account: changing the password ends every
//! other session of theirs.

use askama::Template;
use askama_web::WebTemplate;
use axum::Router;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use secrecy::SecretString;
use serde::Deserialize;

use crate::domain::{AuditAction, FieldError, FieldErrors, Password};
use crate::http::error::AppResult;
use crate::http::form::Form;
use crate::http::meta::RequestMeta;
use crate::http::session::{self, OrgContext};
use crate::http::views::{Layout, Nav, When};
use crate::service::{self, Error};
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new().route("/account", get(show).post(change_password))
}

const FLASH_KEY: &str = "account.flash";

#[derive(Template, WebTemplate)]
#[template(path = "account.html")]
struct AccountPage {
    layout: Layout,
    /// The first invalid field, which gets focus.
    focus: &'static str,
    errors: FieldErrors,
    notice: String,
    activity: Vec<ActivityView>,
}

/// One of the user's own recent events.
pub struct ActivityView {
    pub when: When,
    pub what: &'static str,
    pub ip: String,
    pub browser: String,
}

/// The user's last sign-ins, failed ones and password changes.
async fn activity(state: &AppState, ctx: &OrgContext) -> AppResult<Vec<ActivityView>> {
    let now = state.now();
    Ok(service::audit::personal(state, ctx.user.id, 20)
        .await?
        .into_iter()
        .map(|e| ActivityView {
            when: When::at(e.created_at, now),
            what: match e.action {
                AuditAction::SignIn => "Signed in",
                AuditAction::SignInFailed => "Failed sign-in (wrong password)",
                AuditAction::PasswordChanged => "Password changed",
                AuditAction::PasswordCheckFailed => "Wrong current password on this page",
                _ => "Account event",
            },
            ip: e.ip.unwrap_or_default(),
            browser: e.user_agent.unwrap_or_default(),
        })
        .collect())
}

#[derive(Deserialize)]
#[serde(default)]
#[derive(Default)]
struct PasswordForm {
    current_password: String,
    password: String,
    password_confirm: String,
}

async fn show(State(state): State<AppState>, ctx: OrgContext) -> AppResult<Response> {
    let notice = crate::http::session::take_flash(&ctx.session, FLASH_KEY).await?;
    Ok(AccountPage {
        layout: ctx.layout("Account", Nav::Account),
        focus: "",
        errors: FieldErrors::default(),
        notice,
        activity: activity(&state, &ctx).await?,
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
    let current = SecretString::from(form.current_password.clone());
    let password = errors.check(Password::parse(&form.password));
    if password.is_some() && form.password != form.password_confirm {
        errors.push(FieldError::new(
            "password_confirm",
            "The two passwords do not match.",
        ));
    }
    // One password check either way: with the change, or alone so the form
    // can say at once that the current password is wrong too.
    let changed = match (password, errors.is_empty()) {
        (Some(password), true) => {
            service::account::change_password(
                &state,
                &ctx.user,
                &current,
                &password,
                &meta.origin(),
            )
            .await
        }
        _ => service::account::check_password(&state, &ctx.user, &current, &meta.origin())
            .await
            .map(|()| ctx.user.clone()),
    };
    let user = match changed {
        Ok(user) if errors.is_empty() => user,
        Ok(_) => return again(&state, &ctx, errors).await,
        Err(e @ Error::WrongPassword) => {
            errors.push(FieldError::new("current_password", e.to_string()));
            return again(&state, &ctx, errors).await;
        }
        Err(Error::SignInThrottled { retry_after }) => {
            let minutes = (retry_after + 59) / 60;
            let message = format!(
                "Too many wrong passwords. Wait {minutes} minute{} and try again.",
                if minutes == 1 { "" } else { "s" }
            );
            errors.push(FieldError::new("current_password", message));
            let mut response = again(&state, &ctx, errors).await?;
            *response.status_mut() = StatusCode::TOO_MANY_REQUESTS;
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(retry_after));
            return Ok(response);
        }
        Err(error) => return Err(error.into()),
    };
    // Every session, this one included, is now void; this one starts afresh.
    session::sign_in(&ctx.session, &user, state.now()).await?;
    ctx.session
        .insert(
            FLASH_KEY,
            "Password changed. You were signed out everywhere else.",
        )
        .await?;
    Ok(Redirect::to("/account").into_response())
}

async fn again(state: &AppState, ctx: &OrgContext, errors: FieldErrors) -> AppResult<Response> {
    let page = AccountPage {
        layout: ctx.layout("Account", Nav::Account),
        focus: errors
            .first_in(&["current_password", "password", "password_confirm"])
            .unwrap_or(""),
        errors,
        notice: String::new(),
        activity: activity(state, ctx).await?,
    };
    Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response())
}
