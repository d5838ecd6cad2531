//! The HTTP side: routes, extractors, layers and handlers.

pub mod account;
pub mod api;
pub mod assets;
pub mod audit_log;
pub mod audit_text;
pub mod credentials;
pub mod csrf;
pub mod error;
pub mod form;
pub mod htmx;
pub mod invitations;
pub mod layers;
pub mod leaks;
pub mod login;
pub mod members;
pub mod meta;
pub mod oauth;
pub mod organization;
pub mod request_id;
pub mod session;
pub mod setup;
pub mod views;
pub mod webhooks;

use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::middleware;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use tower_http::csrf::CsrfLayer;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::timeout::TimeoutLayer;
use tower_sessions::cookie::SameSite;
use tower_sessions::{Expiry, SessionManagerLayer};

use crate::domain::OrgId;
use crate::http::error::AppResult;
use crate::state::AppState;
use crate::storage::sessions::Sessions;
use form::Form;
use session::OrgContext;

/// The name of the session cookie: `__Host-` prefixed when the public URL
/// is https, so that no other host (a sibling subdomain) can set it.
pub fn session_cookie_name(secure: bool) -> &'static str {
    if secure {
        "__Host-keyward_session"
    } else {
        "keyward_session"
    }
}

/// The whole application. `store` must have been migrated (see [`session_store`]).
pub fn app(state: AppState, store: Sessions) -> Router {
    let sessions = SessionManagerLayer::new(store)
        .with_name(session_cookie_name(state.config.secure_cookies()))
        .with_http_only(true)
        .with_same_site(SameSite::Lax)
        .with_secure(state.config.secure_cookies())
        .with_path("/")
        .with_expiry(Expiry::OnInactivity(session::IDLE_TIMEOUT));

    let console = Router::new()
        .route("/", get(home))
        .route("/switch-org", post(switch_org))
        .merge(setup::router())
        .merge(login::router())
        .merge(invitations::router())
        .merge(account::router())
        .merge(members::router())
        .merge(organization::router())
        .merge(webhooks::router())
        .merge(audit_log::router())
        .merge(credentials::router())
        .layer(middleware::from_fn_with_state(state.clone(), csrf::verify))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            setup::require_setup,
        ))
        .layer(sessions)
        // Origin / Sec-Fetch-Site check on every unsafe request, before any session work.
        .layer(CsrfLayer::new());

    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .merge(assets::router())
        .merge(oauth::router())
        .merge(api::router())
        .merge(leaks::router())
        .merge(console)
        // Inside the routes, where the matched route template is known.
        .route_layer(middleware::from_fn(crate::telemetry::track))
        .fallback(not_found)
        .layer(RequestBodyLimitLayer::new(csrf::BODY_LIMIT))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            Duration::from_secs(30),
        ))
        .layer(middleware::from_fn(layers::friendly_errors))
        .layer(layers::security_headers(state.config.secure_cookies()))
        .layer(layers::trace())
        .layer(middleware::from_fn(request_id::assign))
        .with_state(state)
}

/// Prepares the session table in the application database.
pub async fn session_store(state: &AppState) -> anyhow::Result<Sessions> {
    Sessions::migrate(&state.db).await
}

async fn healthz(State(state): State<AppState>) -> Response {
    if state.db.ping().await {
        "ok\n".into_response()
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "database unavailable\n").into_response()
    }
}

/// Readiness, for load balancers and orchestrators: 200 when this instance
/// should get traffic; 503 while it is stopping, when the database does not
/// answer, or when the database lacks a migration this binary needs.
async fn readyz(State(state): State<AppState>) -> Response {
    let refusal = if state.is_draining() {
        Some("shutting down\n")
    } else if !state.db.ping().await {
        Some("database unavailable\n")
    } else if !state.db.migrations_applied().await {
        Some("database migrations pending\n")
    } else {
        None
    };
    let mut response = match refusal {
        Some(reason) => (StatusCode::SERVICE_UNAVAILABLE, reason).into_response(),
        None => "ready\n".into_response(),
    };
    response.headers_mut().insert(
        axum::http::header::CACHE_CONTROL,
        axum::http::HeaderValue::from_static("no-store"),
    );
    response
}

async fn not_found() -> StatusCode {
    StatusCode::NOT_FOUND
}

async fn home(_ctx: OrgContext) -> Redirect {
    Redirect::to("/settings/credentials")
}

#[derive(serde::Deserialize)]
struct SwitchOrg {
    #[serde(default)]
    org_id: String,
    #[serde(default)]
    back: String,
}

/// Chooses the organization to look at. Unknown or foreign ids are refused with 404.
async fn switch_org(
    State(state): State<AppState>,
    ctx: OrgContext,
    Form(form): Form<SwitchOrg>,
) -> AppResult<Redirect> {
    let org_id: OrgId = form
        .org_id
        .parse()
        .map_err(|_| crate::http::error::AppError::NotFound)?;
    if !ctx.switch_to(&state, org_id).await? {
        return Err(crate::http::error::AppError::NotFound);
    }
    // Only go back to one of our own pages.
    let back = match form.back.as_str() {
        b @ ("/settings/credentials"
        | "/settings/members"
        | "/settings/organization"
        | "/audit-log"
        | "/account") => b,
        _ => "/settings/credentials",
    };
    Ok(Redirect::to(back))
}
