//! First run: on an empty database every page leads here; the form creates the
//! first organization and its owner, and then `/setup` is closed for good.

use askama::Template;
use askama_web::WebTemplate;
use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use serde::Deserialize;
use tower_sessions::Session;

use crate::domain::{DisplayName, Email, FieldError, FieldErrors, OrgName, Password};
use crate::http::csrf::FormToken;
use crate::http::error::{AppError, AppResult};
use crate::http::form::Form;
use crate::http::meta::RequestMeta;
use crate::http::session;
use crate::service;
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new().route("/setup", get(show).post(submit))
}

/// Middleware: until setup is done, every console page leads to `/setup`.
pub async fn require_setup(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    match state.is_set_up().await {
        Ok(true) => next.run(request).await,
        Ok(false) if request.uri().path() == "/setup" => next.run(request).await,
        Ok(false) => Redirect::to("/setup").into_response(),
        Err(error) => AppError::Internal(error).into_response(),
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "setup.html")]
struct SetupPage {
    csrf: String,
    form: SetupForm,
    errors: FieldErrors,
}

#[derive(Default, Deserialize)]
#[serde(default)]
struct SetupForm {
    org_name: String,
    display_name: String,
    email: String,
    #[serde(skip_serializing)]
    password: String,
    password_confirm: String,
}

impl std::fmt::Debug for SetupForm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SetupForm")
            .field("org_name", &self.org_name)
            .field("display_name", &self.display_name)
            .field("email", &self.email)
            .finish_non_exhaustive()
    }
}

async fn show(
    State(state): State<AppState>,
    session: Session,
    headers: HeaderMap,
) -> AppResult<Response> {
    if state.is_set_up().await? {
        return Err(AppError::NotFound);
    }
    let csrf = FormToken::for_visitor(&state, &session, &headers).await?;
    let page = SetupPage {
        csrf: csrf.value.clone(),
        form: SetupForm::default(),
        errors: FieldErrors::default(),
    };
    Ok(csrf.attach(page.into_response()))
}

async fn submit(
    State(state): State<AppState>,
    session: Session,
    headers: HeaderMap,
    meta: RequestMeta,
    Form(mut form): Form<SetupForm>,
) -> AppResult<Response> {
    if state.is_set_up().await? {
        return Err(AppError::NotFound);
    }
    let mut errors = FieldErrors::default();
    let org_name = errors.check(OrgName::parse(&form.org_name));
    let display_name = errors.check(DisplayName::parse(&form.display_name));
    let email = errors.check(Email::parse(&form.email));
    let password = errors.check(Password::parse(&form.password));
    if password.is_some() && form.password != form.password_confirm {
        errors.push(FieldError::new(
            "password_confirm",
            "The two passwords do not match.",
        ));
    }
    let (Some(org_name), Some(display_name), Some(email), Some(password), true) =
        (org_name, display_name, email, password, errors.is_empty())
    else {
        form.password.clear();
        form.password_confirm.clear();
        let csrf = FormToken::for_visitor(&state, &session, &headers).await?;
        let page = SetupPage {
            csrf: csrf.value.clone(),
            form,
            errors,
        };
        return Ok(csrf.attach((StatusCode::UNPROCESSABLE_ENTITY, page).into_response()));
    };

    let user = service::setup::first_run(
        &state,
        &org_name,
        &display_name,
        &email,
        &password,
        &meta.origin(),
    )
    .await?;
    let now = state.now();
    session::sign_in(&session, &user, now).await?;
    // The browser that set Keyward up is the owner's first known device.
    let device = crate::auth::throttle::Device::issue(user.id);
    let mut response = Redirect::to("/settings/credentials").into_response();
    session::give_device(&state, &device, &mut response);
    Ok(response)
}
