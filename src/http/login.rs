//! Sign-in and sign-out. A successful sign-in gives the browser its device
//! cookie (see `auth::throttle`), which sign-out leaves in place.

use askama::Template;
use askama_web::WebTemplate;
use axum::Router;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use secrecy::SecretString;
use serde::Deserialize;
use tower_sessions::Session;

use crate::auth::throttle;
use crate::http::csrf::FormToken;
use crate::http::error::AppResult;
use crate::http::form::Form;
use crate::http::meta::RequestMeta;
use crate::http::session;
use crate::service::{self, Error};
use crate::state::AppState;

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
    /// What the error means, under it: what is paused, and what still works.
    help: String,
    notice: String,
}

#[derive(Deserialize)]
struct LoginForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
}

/// Where the Account page sends a session it ended after wrong passwords.
pub const SIGNED_OUT_AFTER_WRONG_PASSWORDS: &str = "/login?signed_out=wrong-passwords";

async fn show(
    State(state): State<AppState>,
    session: Session,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> AppResult<Response> {
    if session::resolve(&state, &session).await?.is_some() {
        return Ok(Redirect::to("/").into_response());
    }
    let csrf = FormToken::for_visitor(&state, &session, &headers).await?;
    // Why the visitor was sent here, when it is worth saying; any other
    // query is ignored.
    let signed_out = SIGNED_OUT_AFTER_WRONG_PASSWORDS
        .split_once('?')
        .map(|(_, query)| query);
    let notice = if query.is_some() && query.as_deref() == signed_out {
        format!(
            "You were signed out after {} wrong passwords on the Account page.",
            throttle::MAX_PER_SESSION
        )
    } else {
        String::new()
    };
    let page = LoginPage {
        csrf: csrf.value.clone(),
        email: String::new(),
        error: String::new(),
        help: String::new(),
        notice,
    };
    Ok(csrf.attach(page.into_response()))
}

async fn submit(
    State(state): State<AppState>,
    session: Session,
    headers: HeaderMap,
    meta: RequestMeta,
    Form(form): Form<LoginForm>,
) -> AppResult<Response> {
    let page = |status: StatusCode, error: String, help: String, csrf: FormToken| {
        let email = form.email.trim().chars().take(254).collect();
        let page = LoginPage {
            csrf: csrf.value.clone(),
            email,
            error,
            help,
            notice: String::new(),
        };
        csrf.attach((status, page).into_response())
    };
    let password = SecretString::from(form.password.clone());
    let device = session::device(&state, &headers);
    match service::account::sign_in_from(&state, &form.email, &password, device, &meta.origin())
        .await
    {
        Ok(signed_in) => {
            crate::telemetry::sign_in("success");
            session::sign_in(&session, &signed_in.user, state.now()).await?;
            let mut response = Redirect::to("/").into_response();
            session::give_device(&state, &signed_in.device, &mut response);
            Ok(response)
        }
        Err(
            refused @ (Error::SignInThrottled { retry_after }
            | Error::DeviceThrottled { retry_after }),
        ) => {
            crate::telemetry::sign_in("throttled");
            let wait = crate::http::views::wait_and_retry(retry_after);
            // Plain words for what is paused, and for the owner what still works.
            let (message, help) = match refused {
                Error::DeviceThrottled { .. } => (
                    format!("Too many failed sign-in attempts from this browser. {wait}"),
                    format!(
                        "Sign-in from this browser is paused for {} minutes after {} failed attempts.",
                        throttle::WINDOW_SECS / 60,
                        throttle::MAX_PER_DEVICE
                    ),
                ),
                _ => (
                    format!("Too many failed sign-in attempts. {wait}"),
                    format!(
                        "After {} failed attempts for one account, or {} from one address, sign-in from unknown devices is paused for {} minutes; a browser that signed in to the account before can still sign in.",
                        throttle::MAX_PER_ACCOUNT,
                        throttle::MAX_PER_IP,
                        throttle::WINDOW_SECS / 60
                    ),
                ),
            };
            let csrf = FormToken::for_visitor(&state, &session, &headers).await?;
            let mut response = page(StatusCode::TOO_MANY_REQUESTS, message, help, csrf);
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(retry_after));
            Ok(response)
        }
        Err(e @ Error::SignInFailed) => {
            crate::telemetry::sign_in("failed");
            let csrf = FormToken::for_visitor(&state, &session, &headers).await?;
            Ok(page(
                StatusCode::UNAUTHORIZED,
                e.to_string(),
                String::new(),
                csrf,
            ))
        }
        Err(error) => Err(error.into()),
    }
}

async fn logout(session: Session) -> AppResult<Redirect> {
    session::sign_out(&session).await?;
    Ok(Redirect::to("/login"))
}
