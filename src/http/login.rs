//! Sign-in and sign-out.

use askama::Template;
use askama_web::WebTemplate;
use axum::Router;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use secrecy::SecretString;
use serde::Deserialize;
use tower_sessions::Session;

use crate::auth::throttle;
use crate::domain::Email;
use crate::domain::user::PASSWORD_MAX;
use crate::error::AppResult;
use crate::http::form::Form;
use crate::http::meta::RequestMeta;
use crate::http::session;
use crate::http::{audit, csrf};
use crate::state::AppState;
use crate::storage::audit::NewEvent;

/// The one message for every failed sign-in: it never says which part was wrong.
pub const FAILED: &str = "Incorrect email or password.";

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/login", get(show).post(submit))
        .route("/logout", post(logout))
}

#[derive(Template, WebTemplate)]
#[template(path = "login.html")]
struct LoginPage {
    csrf: String,
    email: String,
    error: String,
}

#[derive(Deserialize)]
struct LoginForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
}

async fn show(State(state): State<AppState>, session: Session) -> AppResult<Response> {
    if session::resolve(&state, &session).await?.is_some() {
        return Ok(Redirect::to("/").into_response());
    }
    let csrf = csrf::token(&session).await?;
    Ok(LoginPage {
        csrf,
        email: String::new(),
        error: String::new(),
    }
    .into_response())
}

async fn submit(
    State(state): State<AppState>,
    session: Session,
    meta: RequestMeta,
    Form(form): Form<LoginForm>,
) -> AppResult<Response> {
    let now = state.now();
    let account_key = throttle::account_key(&form.email);
    let ip_key = throttle::ip_key(meta.ip);
    let email = Email::parse(&form.email).ok();

    let page = |status: StatusCode, error: String, csrf: String| {
        let email = form.email.trim().chars().take(254).collect();
        (status, LoginPage { csrf, email, error }).into_response()
    };

    if let Some(wait) = throttle::retry_after(&state.db, &account_key, &ip_key, now).await? {
        let minutes = (wait + 59) / 60;
        let message = format!(
            "Too many failed sign-in attempts. Wait {minutes} minute{} and try again.",
            if minutes == 1 { "" } else { "s" }
        );
        let csrf = csrf::token(&session).await?;
        let mut response = page(StatusCode::TOO_MANY_REQUESTS, message, csrf);
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(wait));
        return Ok(response);
    }

    // An unknown email, or a password no account could have, is checked
    // against a dummy hash so every failure takes as long as a real one.
    let stored = match &email {
        Some(email) if form.password.len() <= PASSWORD_MAX * 4 => {
            state.db.password_by_email(email.as_str()).await?
        }
        _ => None,
    };
    let user_id = stored.as_ref().map(|row| row.id);
    let password = SecretString::from(form.password.clone());
    let ok = state
        .hasher
        .verify(&password, stored.map(|row| row.password_hash))
        .await?;

    let user = match (ok, user_id) {
        (true, Some(id)) => state.db.user_by_id(id).await?,
        _ => None,
    };
    let Some(user) = user else {
        throttle::record_failure(&state.db, &[&account_key, &ip_key], now).await?;
        let failed = NewEvent {
            organization_id: None,
            actor_user_id: user_id,
            actor: email
                .as_ref()
                .map_or_else(|| "(not an email address)".to_owned(), |e| e.to_string()),
            action: "sign_in.failed",
            target: None,
            ip: Some(meta.ip.to_string()),
            user_agent: meta.user_agent.clone(),
            detail: serde_json::json!({}),
        };
        record_for_user(&state, user_id, failed, now).await?;
        let csrf = csrf::token(&session).await?;
        return Ok(page(StatusCode::UNAUTHORIZED, FAILED.to_owned(), csrf));
    };

    state.db.clear_failures(&account_key).await?;
    session::sign_in(&session, &user, now).await?;
    let event = audit::by_user(&user, None, &meta, "sign_in");
    record_for_user(&state, Some(user.id), event, now).await?;
    Ok(Redirect::to("/").into_response())
}

/// Records a personal event in every organization the user belongs to, so
/// each organization's audit log shows its members' sign-ins; or in none.
pub async fn record_for_user(
    state: &AppState,
    user_id: Option<i64>,
    event: NewEvent,
    now: i64,
) -> anyhow::Result<()> {
    let orgs = match user_id {
        Some(id) => state.db.memberships_of(id).await?,
        None => Vec::new(),
    };
    if orgs.is_empty() {
        return state.db.record(&event, now).await;
    }
    for membership in orgs {
        let event = NewEvent {
            organization_id: Some(membership.organization_id),
            ..event.clone()
        };
        state.db.record(&event, now).await?;
    }
    Ok(())
}

async fn logout(session: Session) -> AppResult<Redirect> {
    session::sign_out(&session).await?;
    Ok(Redirect::to("/login"))
}
