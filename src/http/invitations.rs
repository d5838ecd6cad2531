//! The invitation link, `/invitations/{token}`: whoever holds it signs in to
//! the invited email's account and joins the organization, or, to make a new
//! account, asks for a one-time code emailed to the invited address and
//! enters it with the name and password they choose. Holding the link is not
//! enough to make an account (the inviter holds it too): the code proves the
//! address. The page reads the same whether or not an account exists for the
//! address. An unknown, expired, revoked or used link gets a page that says
//! which, never a form. The token appears in no log (the trace layer shows
//! the path without it) and leaves with no Referer.

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

use crate::auth::throttle::Device;
use crate::domain::{DisplayName, FieldError, FieldErrors, Password};
use crate::http::csrf::FormToken;
use crate::http::error::AppResult;
use crate::http::form::Form;
use crate::http::meta::RequestMeta;
use crate::http::session;
use crate::service::invitations::{Joined, Opened};
use crate::service::{self, Error};
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new().route("/invitations/{token}", get(show).post(accept))
}

/// What the page asks of the person holding the link.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Nobody is signed in: sign in to the invited email's account, or ask
    /// for a code to make a new one. The same whether or not it exists.
    SignInOrCode,
    /// A code was emailed: the code, a name and a password make the account.
    Code,
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
    can_email: bool,
    notice: String,
    problem: String,
    /// Where a page without a form leads on.
    next: (String, String),
    display_name: String,
    errors: FieldErrors,
}

#[derive(Default, Deserialize)]
#[serde(default)]
struct AcceptForm {
    /// `sign_in`, `send_code` or `create`; ignored when signed in.
    step: String,
    code: String,
    display_name: String,
    password: String,
    password_confirm: String,
}

/// A page with no form: a link that cannot be used (404 for one that never
/// was, 410 for one that was), or one that is not needed.
fn dead_end(
    status: StatusCode,
    title: String,
    problem: String,
    next: (String, String),
    csrf: FormToken,
) -> Response {
    let page = InvitationPage {
        title,
        csrf: csrf.value.clone(),
        post_to: String::new(),
        invitation: None,
        mode: Mode::SignInOrCode,
        can_email: false,
        notice: String::new(),
        problem,
        next,
        display_name: String::new(),
        errors: FieldErrors::default(),
    };
    csrf.attach((status, page).into_response())
}

/// [`dead_end`] for a link that cannot be used, with the form token of
/// whoever asked.
async fn refused_to(
    state: &AppState,
    session: &Session,
    headers: &HeaderMap,
    error: Error,
) -> AppResult<Response> {
    let status = match error {
        Error::InvitationUnknown => StatusCode::NOT_FOUND,
        Error::InvitationExpired | Error::InvitationRevoked | Error::InvitationUsed => {
            StatusCode::GONE
        }
        other => return Err(other.into()),
    };
    let csrf = FormToken::for_visitor(state, session, headers).await?;
    let next = ("/login".to_owned(), "Go to sign-in".to_owned());
    Ok(dead_end(
        status,
        "Invitation".to_owned(),
        error.to_string(),
        next,
        csrf,
    ))
}

struct Shown {
    status: StatusCode,
    /// The mode to show instead of the one the visitor's state gives.
    mode: Option<Mode>,
    notice: String,
    problem: String,
    display_name: String,
    errors: FieldErrors,
}

impl Shown {
    fn ok() -> Shown {
        Shown {
            status: StatusCode::OK,
            mode: None,
            notice: String::new(),
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
    let mode = match (&signed_in, shown.mode) {
        (Some(user), _) if user.email == invitation.email => Mode::Accept,
        (Some(_), _) => Mode::OtherAccount,
        (None, Some(mode)) => mode,
        (None, None) => Mode::SignInOrCode,
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
        can_email: opened.can_email,
        notice: shown.notice,
        problem,
        next: (String::new(), String::new()),
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
    let again = |status, mode, errors: FieldErrors, problem: String| Shown {
        status,
        mode,
        notice: String::new(),
        problem,
        display_name: form.display_name.clone(),
        errors,
    };
    let result = match (signed_in, form.step.as_str()) {
        // Signed in: join as this account (the use case checks it is the invited one).
        (Some(user), _) => service::invitations::accept_as(&state, &token, &user, &origin)
            .await
            .map(|joined| (user, joined, None)),
        // A code to the invited address, to make a new account.
        (None, "send_code") => {
            let shown = match service::invitations::send_code(&state, &token, &origin).await {
                Ok(email) => Shown {
                    notice: format!(
                        "We emailed a code to {email}. Enter it below, with your name and a password, within 15 minutes."
                    ),
                    mode: Some(Mode::Code),
                    ..Shown::ok()
                },
                Err(e @ (Error::TooManyInvitationCodes(_) | Error::TooManyCodesForAddress(_))) => {
                    again(
                        StatusCode::TOO_MANY_REQUESTS,
                        None,
                        FieldErrors::default(),
                        e.to_string(),
                    )
                }
                Err(e @ (Error::MailNotConfigured | Error::MailFailed)) => again(
                    StatusCode::SERVICE_UNAVAILABLE,
                    None,
                    FieldErrors::default(),
                    e.to_string(),
                ),
                Err(
                    error @ (Error::InvitationUnknown
                    | Error::InvitationExpired
                    | Error::InvitationRevoked
                    | Error::InvitationUsed),
                ) => return refused_to(&state, &session, &headers, error).await,
                Err(error) => return Err(error.into()),
            };
            return render(&state, &session, &headers, &token, opened, shown).await;
        }
        // The code, a name and a password make the account.
        (None, "create") => {
            let mut errors = FieldErrors::default();
            if form.code.trim().is_empty() {
                errors.push(FieldError::new("code", "Enter the code we emailed."));
            }
            let name = errors.check(DisplayName::parse(&form.display_name));
            let password = errors.check(Password::parse(&form.password));
            if password.is_some() && form.password != form.password_confirm {
                errors.push(FieldError::new(
                    "password_confirm",
                    "The two passwords do not match.",
                ));
            }
            let (Some(name), Some(password), true) = (name, password, errors.is_empty()) else {
                let shown = again(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    Some(Mode::Code),
                    errors,
                    String::new(),
                );
                return render(&state, &session, &headers, &token, opened, shown).await;
            };
            service::invitations::accept_with_code(
                &state, &token, &form.code, &name, &password, &origin,
            )
            .await
            // A browser that made its account is one of the account's devices.
            .map(|user| {
                let device = Device::issue(user.id);
                (user, Joined::Joined, Some(device))
            })
        }
        // The invited account's password signs in, then it joins. Asked
        // whether or not the account exists: a wrong password and a missing
        // account read the same.
        (None, _) => {
            let password = SecretString::from(form.password.clone());
            let email = opened.invitation.email.clone();
            let device = session::device(&state, &headers);
            match service::account::sign_in_from(&state, &email, &password, device, &origin).await {
                Ok(signed_in) => {
                    let user = signed_in.user;
                    service::invitations::accept_as(&state, &token, &user, &origin)
                        .await
                        .map(|joined| (user, joined, Some(signed_in.device)))
                }
                Err(error) => Err(error),
            }
        }
    };
    match result {
        Ok((user, joined, device)) => {
            session::sign_in(&session, &user, state.now()).await?;
            session::choose_org(&session, opened.invitation.org).await?;
            let mut response = if joined == Joined::AlreadyMember {
                let org = opened.invitation.org_name;
                let csrf = FormToken::for_visitor(&state, &session, &headers).await?;
                dead_end(
                    StatusCode::CONFLICT,
                    format!("Join {org}"),
                    format!(
                        "You are a member of {org} already: this invitation is not needed, and its link no longer works."
                    ),
                    (
                        "/settings/credentials".to_owned(),
                        format!("Continue to {org}"),
                    ),
                    csrf,
                )
            } else {
                Redirect::to("/settings/credentials").into_response()
            };
            if let Some(device) = &device {
                session::give_device(&state, device, &mut response);
            }
            Ok(response)
        }
        Err(e @ Error::SignInFailed) => {
            let mut errors = FieldErrors::default();
            errors.push(FieldError::new("password", e.to_string()));
            let shown = again(StatusCode::UNAUTHORIZED, None, errors, String::new());
            render(&state, &session, &headers, &token, opened, shown).await
        }
        Err(
            e @ (Error::InvitationCodeWrong
            | Error::InvitationCodeExpired
            | Error::InvitationCodeAttempts),
        ) => {
            let mut errors = FieldErrors::default();
            errors.push(FieldError::new("code", e.to_string()));
            let shown = again(
                StatusCode::UNPROCESSABLE_ENTITY,
                Some(Mode::Code),
                errors,
                String::new(),
            );
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
            let shown = again(status, None, FieldErrors::default(), e.to_string());
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
