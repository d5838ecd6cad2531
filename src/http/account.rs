//! The signed-in person's own account: changing the password ends every
//! other session of theirs. Wrong current passwords count against this
//! browser or session, never the account (see `service::account`).

use askama::Template;
use askama_web::WebTemplate;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use secrecy::SecretString;
use serde::Deserialize;

use crate::domain::api_token::{LIFETIMES, MAX_LIFETIME_DAYS, TokenAccess, TokenName};
use crate::domain::{AuditAction, FieldError, FieldErrors, OrgId, Password};
use crate::http::error::AppResult;
use crate::http::form::Form;
use crate::http::login::SIGNED_OUT_AFTER_WRONG_PASSWORDS;
use crate::http::meta::RequestMeta;
use crate::http::session::{self, OrgContext};
use crate::http::views::{Layout, Nav, When};
use crate::service::account::Guesser;
use crate::service::api_tokens::Draft;
use crate::service::{self, Error};
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/account", get(show).post(change_password))
        .route("/account/tokens", post(create_token))
        .route("/account/tokens/{token_id}/revoke", post(revoke_token))
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
    tokens: Vec<TokenView>,
    token_form: TokenForm,
    /// A token just made: shown this once.
    new_token: Option<NewToken>,
    lifetimes: &'static [i64],
    /// Support staff are members of no organization, so hold no tokens.
    can_make_tokens: bool,
}

/// One of the user's personal access tokens.
pub struct TokenView {
    pub token_id: String,
    pub name: String,
    pub hint: String,
    pub organization: String,
    pub access: &'static str,
    pub created: When,
    pub expires: When,
    pub last_used: Option<When>,
    pub last_used_ip: String,
    /// "Revoked" or "Expired"; empty while it works.
    pub ended: &'static str,
}

pub struct NewToken {
    pub name: String,
    pub value: String,
}

#[derive(Deserialize, Default, Clone)]
#[serde(default)]
struct TokenForm {
    token_name: String,
    token_org: String,
    token_access: String,
    /// Days, or "date" for `token_expires_on`.
    token_expires: String,
    token_expires_on: String,
}

async fn tokens(state: &AppState, ctx: &OrgContext) -> AppResult<Vec<TokenView>> {
    let now = state.now();
    Ok(service::api_tokens::mine(state, &ctx.user)
        .await?
        .into_iter()
        .map(|t| TokenView {
            ended: if t.revoked_at.is_some() {
                "Revoked"
            } else if t.expires_at <= now {
                "Expired"
            } else {
                ""
            },
            token_id: t.token_id,
            name: t.name,
            hint: t.hint,
            organization: t.organization_name,
            access: t.access.label(),
            created: When::at(t.created_at, now),
            expires: When::at(t.expires_at, now),
            last_used: t.last_used_at.map(|u| When::at(u, now)),
            last_used_ip: t.last_used_ip.unwrap_or_default(),
        })
        .collect())
}

/// One of the user's own recent events.
pub struct ActivityView {
    pub when: When,
    pub what: String,
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
            what: activity_text(e.action, &e.detail),
            ip: e.ip.unwrap_or_default(),
            browser: e.user_agent.unwrap_or_default(),
        })
        .collect())
}

/// What one of the user's own events says, in plain words.
fn activity_text(action: AuditAction, detail: &str) -> String {
    let detail: serde_json::Value = serde_json::from_str(detail).unwrap_or_default();
    let number = |key: &str| detail[key].as_i64().unwrap_or_default();
    match action {
        AuditAction::SignIn => "Signed in".to_owned(),
        AuditAction::SignInFailed => "Failed sign-in (wrong password)".to_owned(),
        AuditAction::PasswordChanged => "Password changed".to_owned(),
        AuditAction::PasswordCheckFailed => "Wrong current password on this page".to_owned(),
        AuditAction::SignInPaused => format!(
            "Sign-in from unknown devices paused for {} minutes after {} failed attempts",
            number("minutes"),
            number("failures")
        ),
        AuditAction::DeviceSignInPaused => format!(
            "Sign-in from one of your devices paused for {} minutes after {} failed attempts",
            number("minutes"),
            number("failures")
        ),
        AuditAction::SignedOutAfterWrongPasswords => format!(
            "Signed out after {} wrong current passwords on this page (every session ended)",
            number("failures")
        ),
        _ => "Account event".to_owned(),
    }
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
        tokens: tokens(&state, &ctx).await?,
        token_form: TokenForm {
            token_org: ctx.org.id.to_string(),
            token_access: "read".to_owned(),
            token_expires: "30".to_owned(),
            ..TokenForm::default()
        },
        new_token: None,
        lifetimes: LIFETIMES,
        can_make_tokens: !ctx.access.is_support(),
    }
    .into_response())
}

/// Who is guessing, for the throttle: this browser's device, and this session.
async fn guesser(state: &AppState, ctx: &OrgContext, headers: &HeaderMap) -> AppResult<Guesser> {
    Ok(Guesser {
        device: session::device(state, headers),
        session: session::guesser_id(state, &ctx.session).await?,
    })
}

async fn change_password(
    State(state): State<AppState>,
    ctx: OrgContext,
    meta: RequestMeta,
    headers: HeaderMap,
    Form(form): Form<PasswordForm>,
) -> AppResult<Response> {
    let mut errors = FieldErrors::default();
    let guesser = guesser(&state, &ctx, &headers).await?;
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
                &guesser,
                &password,
                &meta.origin(),
            )
            .await
        }
        _ => {
            service::account::check_password(&state, &ctx.user, &current, &guesser, &meta.origin())
                .await
                .map(|()| ctx.user.clone())
        }
    };
    let user = match changed {
        Ok(user) if errors.is_empty() => user,
        Ok(_) => return again(&state, &ctx, errors).await,
        Err(e @ Error::WrongPassword) => {
            errors.push(FieldError::new("current_password", e.to_string()));
            return again(&state, &ctx, errors).await;
        }
        // A session that guessed too often ends; the sign-in page says why.
        Err(Error::TooManyWrongPasswords) => {
            session::sign_out(&ctx.session).await?;
            return Ok(Redirect::to(SIGNED_OUT_AFTER_WRONG_PASSWORDS).into_response());
        }
        Err(Error::SignInThrottled { retry_after }) => {
            let message = format!(
                "Too many wrong passwords. {}",
                crate::http::views::wait_and_retry(retry_after)
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
    let page = page(state, ctx, errors, TokenForm::default(), None).await?;
    Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response())
}

async fn page(
    state: &AppState,
    ctx: &OrgContext,
    errors: FieldErrors,
    token_form: TokenForm,
    new_token: Option<NewToken>,
) -> AppResult<AccountPage> {
    Ok(AccountPage {
        layout: ctx.layout("Account", Nav::Account),
        focus: errors
            .first_in(&[
                "current_password",
                "password",
                "password_confirm",
                "token_name",
                "token_org",
                "token_access",
                "token_expires",
                "token_expires_on",
            ])
            .unwrap_or(""),
        errors,
        notice: String::new(),
        activity: activity(state, ctx).await?,
        tokens: tokens(state, ctx).await?,
        token_form,
        new_token,
        lifetimes: LIFETIMES,
        can_make_tokens: !ctx.access.is_support(),
    })
}

/// When a token chosen to last `days`, or until the end of `date`, expires.
fn expiry(form: &TokenForm, now: i64) -> Result<i64, FieldError> {
    let latest = now + MAX_LIFETIME_DAYS * 86_400;
    if form.token_expires == "date" {
        let format = time::macros::format_description!("[year]-[month]-[day]");
        let date = time::Date::parse(form.token_expires_on.trim(), &format)
            .map_err(|_| FieldError::new("token_expires_on", "Choose a date, e.g. 2027-03-31."))?;
        let end_of_day = date.midnight().assume_utc().unix_timestamp() + 86_400;
        if end_of_day <= now + 86_400 - (now % 86_400) || end_of_day > latest + 86_400 {
            return Err(FieldError::new(
                "token_expires_on",
                "Choose a date after today and at most one year ahead.",
            ));
        }
        return Ok(end_of_day.min(latest));
    }
    match form.token_expires.parse::<i64>() {
        Ok(days) if LIFETIMES.contains(&days) => Ok(now + days * 86_400),
        _ => Err(FieldError::new(
            "token_expires",
            "Choose when the token expires.",
        )),
    }
}

async fn create_token(
    State(state): State<AppState>,
    ctx: OrgContext,
    meta: RequestMeta,
    Form(form): Form<TokenForm>,
) -> AppResult<Response> {
    let mut errors = FieldErrors::default();
    let now = state.now();
    let name = errors.check(TokenName::parse(&form.token_name));
    let org = form
        .token_org
        .parse::<i64>()
        .ok()
        .map(OrgId)
        .filter(|id| ctx.orgs.iter().any(|o| o.id == *id));
    if org.is_none() {
        errors.push(FieldError::new(
            "token_org",
            "Choose one of your organizations.",
        ));
    }
    let access = TokenAccess::parse(&form.token_access);
    if access.is_none() {
        errors.push(FieldError::new(
            "token_access",
            "Choose Read or Read and write.",
        ));
    }
    let expires_at = errors.check(expiry(&form, now));
    let (Some(name), Some(org), Some(access), Some(expires_at)) = (name, org, access, expires_at)
    else {
        let page = page(&state, &ctx, errors, form, None).await?;
        return Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response());
    };
    let draft = Draft {
        name,
        org,
        access,
        expires_at,
    };
    match service::api_tokens::create(&state, &ctx.user, &draft, &meta.origin()).await {
        Ok(token) => {
            let new_token = NewToken {
                name: draft.name.as_str().to_owned(),
                value: token.expose().to_owned(),
            };
            let page = page(&state, &ctx, errors, TokenForm::default(), Some(new_token)).await?;
            let mut response = page.into_response();
            response
                .headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            Ok(response)
        }
        Err(error @ Error::TooManyTokens(_)) => {
            errors.push(FieldError::new("token_name", error.to_string()));
            let page = page(&state, &ctx, errors, form, None).await?;
            Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response())
        }
        Err(error @ Error::TokenAboveAccess) => {
            errors.push(FieldError::new("token_access", error.to_string()));
            let page = page(&state, &ctx, errors, form, None).await?;
            Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response())
        }
        Err(error @ Error::TokenLifetime) => {
            errors.push(FieldError::new("token_expires", error.to_string()));
            let page = page(&state, &ctx, errors, form, None).await?;
            Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response())
        }
        Err(error) => Err(error.into()),
    }
}

async fn revoke_token(
    State(state): State<AppState>,
    ctx: OrgContext,
    meta: RequestMeta,
    Path(token_id): Path<String>,
) -> AppResult<Response> {
    let name = service::api_tokens::revoke(&state, &ctx.user, &token_id, &meta.origin()).await?;
    ctx.session
        .insert(
            FLASH_KEY,
            format!("Revoked the token “{name}”: it no longer works."),
        )
        .await?;
    Ok(Redirect::to("/account").into_response())
}
