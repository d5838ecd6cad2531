//! Sign-in and sign-out.

use askama::Template;
use askama_web::WebTemplate;
use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use secrecy::SecretString;
use serde::Deserialize;
use tower_sessions::Session;

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
}

#[derive(Deserialize)]
struct LoginForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
}

async fn show(
    State(state): State<AppState>,
    session: Session,
    headers: HeaderMap,
) -> AppResult<Response> {
    if session::resolve(&state, &session).await?.is_some() {
        return Ok(Redirect::to("/").into_response());
    }
    let csrf = FormToken::for_visitor(&state, &session, &headers).await?;
    let page = LoginPage {
        csrf: csrf.value.clone(),
        email: String::new(),
        error: String::new(),
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
    let page = |status: StatusCode, error: String, csrf: FormToken| {
        let email = form.email.trim().chars().take(254).collect();
        let page = LoginPage {
            csrf: csrf.value.clone(),
            email,
            error,
        };
        csrf.attach((status, page).into_response())
    };
    let password = SecretString::from(form.password.clone());
    match service::account::sign_in(&state, &form.email, &password, &meta.origin()).await {
        Ok(user) => {
            crate::telemetry::sign_in("success");
            session::sign_in(&session, &user, state.now()).await?;
            Ok(Redirect::to("/").into_response())
        }
        Err(Error::SignInThrottled { retry_after }) => {
            crate::telemetry::sign_in("throttled");
            let minutes = (retry_after + 59) / 60;
            let message = format!(
                "Too many failed sign-in attempts. Wait {minutes} minute{} and try again.",
                if minutes == 1 { "" } else { "s" }
            );
            let csrf = FormToken::for_visitor(&state, &session, &headers).await?;
            let mut response = page(StatusCode::TOO_MANY_REQUESTS, message, csrf);
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(retry_after));
            Ok(response)
        }
        Err(e @ Error::SignInFailed) => {
            crate::telemetry::sign_in("failed");
            let csrf = FormToken::for_visitor(&state, &session, &headers).await?;
            Ok(page(StatusCode::UNAUTHORIZED, e.to_string(), csrf))
        }
        Err(error) => Err(error.into()),
    }
}

async fn logout(session: Session) -> AppResult<Redirect> {
    session::sign_out(&session).await?;
    Ok(Redirect::to("/login"))
}
