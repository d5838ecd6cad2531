//! The invitation link, `/invitations/{token}`: whoever holds it creates the
//! account for the invited email, or signs in to it, and joins the
//! organization. An unknown, expired, revoked or used link gets a page that
//! says which, never a form. The token appears in no log (the trace layer
//! shows the path without it) and leaves with no Referer.

use askama::Template;
use askama_web::WebTemplate;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use secrecy::SecretString;
use serde::Deserialize;
use tower_sessions::Session;

use crate::domain::{DisplayName, FieldError, FieldErrors, Password};
use crate::http::csrf::FormToken;
use crate::http::error::AppResult;
use crate::http::form::Form;
use crate::http::meta::RequestMeta;
use crate::http::session;
use crate::service::invitations::Opened;
use crate::service::{self, Error};
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new().route("/invitations/{token}", get(show).post(accept))
}

/// What the page asks of the person holding the link.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// No account for the invited email: create it.
    NewAccount,
    /// An account exists and nobody is signed in: its password.
    SignIn,
    /// Signed in as the invited email: one button.
    Accept,
    /// Signed in as someone else: sign out first.
    OtherAccount,
}

struct InvitationView {
    email: String,
    org_name: String,
    role: &'static str,
    invited_by: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "invitation.html")]
struct InvitationPage {
    title: String,
    csrf: String,
    post_to: String,
    invitation: Option<InvitationView>,
    mode: Mode,
    problem: String,
    display_name: String,
    errors: FieldErrors,
}

#[derive(Default, Deserialize)]
#[serde(default)]
struct AcceptForm {
    display_name: String,
    password: String,
    password_confirm: String,
}

/// A link that cannot be used: 404 for one that never was, 410 for one that was.
fn refused(error: Error, csrf: FormToken) -> AppResult<Response> {
    let status = match error {
        Error::InvitationUnknown => StatusCode::NOT_FOUND,
        Error::InvitationExpired | Error::InvitationRevoked | Error::InvitationUsed => {
            StatusCode::GONE
        }
        other => return Err(other.into()),
    };
    let page = InvitationPage {
        title: "Invitation".to_owned(),
        csrf: csrf.value.clone(),
        post_to: String::new(),
        invitation: None,
        mode: Mode::NewAccount,
        problem: error.to_string(),
        display_name: String::new(),
        errors: FieldErrors::default(),
    };
    Ok(csrf.attach((status, page).into_response()))
}

/// [`refused`], with the form token of whoever asked.
async fn refused_to(
    state: &AppState,
    session: &Session,
    headers: &HeaderMap,
    error: Error,
) -> AppResult<Response> {
    refused(
        error,
        FormToken::for_visitor(state, session, headers).await?,
    )
}

struct Shown {
    status: StatusCode,
    problem: String,
    display_name: String,
    errors: FieldErrors,
}

impl Shown {
    fn ok() -> Shown {
        Shown {
            status: StatusCode::OK,
            problem: String::new(),
            display_name: String::new(),
            errors: FieldErrors::default(),
        }
    }
}

async fn render(
    state: &AppState,
    session: &Session,
    headers: &HeaderMap,
    token: &str,
    opened: Opened,
    shown: Shown,
) -> AppResult<Response> {
    let signed_in = session::resolve(state, session)
        .await?
        .map(|(user, _)| user);
    let invitation = opened.invitation;
    let mode = match (&signed_in, opened.account_exists) {
        (Some(user), _) if user.email == invitation.email => Mode::Accept,
        (Some(_), _) => Mode::OtherAccount,
        (None, true) => Mode::SignIn,
        (None, false) => Mode::NewAccount,
    };
    let problem = match (mode, shown.problem.is_empty()) {
        (Mode::OtherAccount, true) => {
            Error::InvitationForAnotherAccount(invitation.email.clone()).to_string()
        }
        _ => shown.problem,
    };
    let csrf = FormToken::for_visitor(state, session, headers).await?;
    let page = InvitationPage {
        title: format!("Join {}", invitation.org_name),
        csrf: csrf.value.clone(),
        post_to: format!("/invitations/{token}"),
        invitation: Some(InvitationView {
            role: invitation.access.label(),
            email: invitation.email,
            org_name: invitation.org_name,
            invited_by: invitation.invited_by_name,
        }),
        mode,
        problem,
        display_name: shown.display_name,
        errors: shown.errors,
    };
    Ok(csrf.attach((shown.status, page).into_response()))
}

async fn show(
    State(state): State<AppState>,
    session: Session,
    headers: HeaderMap,
    Path(token): Path<String>,
) -> AppResult<Response> {
    match service::invitations::open_link(&state, &token).await {
        Ok(opened) => render(&state, &session, &headers, &token, opened, Shown::ok()).await,
        Err(error) => refused_to(&state, &session, &headers, error).await,
    }
}

async fn accept(
    State(state): State<AppState>,
    session: Session,
    headers: HeaderMap,
    meta: RequestMeta,
    Path(token): Path<String>,
    Form(form): Form<AcceptForm>,
) -> AppResult<Response> {
    let opened = match service::invitations::open_link(&state, &token).await {
        Ok(opened) => opened,
        Err(error) => {
            return refused_to(&state, &session, &headers, error).await;
        }
    };
    let origin = meta.origin();
    let signed_in = session::resolve(&state, &session)
        .await?
        .map(|(user, _)| user);
    let again = |status, errors: FieldErrors, problem: String| Shown {
        status,
        problem,
        display_name: form.display_name.clone(),
        errors,
    };
    let result = match (signed_in, opened.account_exists) {
        // Signed in: join as this account (the use case checks it is the invited one).
        (Some(user), _) => service::invitations::accept_as(&state, &token, &user, &origin)
            .await
            .map(|_| user),
        // The invited account exists: its password signs in, then it joins.
        (None, true) => {
            let password = SecretString::from(form.password.clone());
            let email = opened.invitation.email.clone();
            match service::account::sign_in(&state, &email, &password, &origin).await {
                Ok(user) => service::invitations::accept_as(&state, &token, &user, &origin)
                    .await
                    .map(|_| user),
                Err(error) => Err(error),
            }
        }
        // A new account for the invited email, with the name and password they choose.
        (None, false) => {
            let mut errors = FieldErrors::default();
            let name = errors.check(DisplayName::parse(&form.display_name));
            let password = errors.check(Password::parse(&form.password));
            if password.is_some() && form.password != form.password_confirm {
                errors.push(FieldError::new(
                    "password_confirm",
                    "The two passwords do not match.",
                ));
            }
            let (Some(name), Some(password), true) = (name, password, errors.is_empty()) else {
                let shown = again(StatusCode::UNPROCESSABLE_ENTITY, errors, String::new());
                return render(&state, &session, &headers, &token, opened, shown).await;
            };
            service::invitations::accept_with_new_account(&state, &token, &name, &password, &origin)
                .await
        }
    };
    match result {
        Ok(user) => {
            session::sign_in(&session, &user, state.now()).await?;
            session::choose_org(&session, opened.invitation.org).await?;
            Ok(Redirect::to("/settings/credentials").into_response())
        }
        Err(e @ Error::SignInFailed) => {
            let mut errors = FieldErrors::default();
            errors.push(FieldError::new("password", e.to_string()));
            let shown = again(StatusCode::UNAUTHORIZED, errors, String::new());
            render(&state, &session, &headers, &token, opened, shown).await
        }
        Err(
            e @ (Error::SignInThrottled { .. }
            | Error::AccountExists
            | Error::InvitationForAnotherAccount(_)
            | Error::SupportCannotBeMember),
        ) => {
            let status = match e {
                Error::SignInThrottled { .. } => StatusCode::TOO_MANY_REQUESTS,
                _ => StatusCode::CONFLICT,
            };
            let shown = again(status, FieldErrors::default(), e.to_string());
            // The account may exist now: the page asks for what fits.
            let opened = match service::invitations::open_link(&state, &token).await {
                Ok(opened) => opened,
                Err(error) => {
                    return refused_to(&state, &session, &headers, error).await;
                }
            };
            render(&state, &session, &headers, &token, opened, shown).await
        }
        Err(
            error @ (Error::InvitationUnknown
            | Error::InvitationExpired
            | Error::InvitationRevoked
            | Error::InvitationUsed),
        ) => refused_to(&state, &session, &headers, error).await,
        Err(error) => Err(error.into()),
    }
}
