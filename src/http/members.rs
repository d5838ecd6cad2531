//! Members (owners only): invite a person by email with a role, send an
//! invitation again or revoke it, change a role, remove a member. An
//! organization always keeps at least one owner.

use askama::Template;
use askama_web::WebTemplate;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use tower_sessions::Session;

use crate::domain::{Access, Email, FieldError, FieldErrors, UserId};
use crate::http::credentials::dialog_or_page;
use crate::http::error::{AppError, AppResult};
use crate::http::form::Form;
use crate::http::htmx::HxRequest;
use crate::http::meta::RequestMeta;
use crate::http::session::OrgContext;
use crate::http::views::{Layout, Nav, absolute_time, relative_time};
use crate::service::invitations::{Emailed, Invited};
use crate::service::{self, Error};
use crate::state::AppState;
use crate::storage::invitations::InvitationId;
use crate::storage::members::Member;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/settings/members", get(show).post(add))
        .route("/settings/members/{user_id}", post(change))
        .route("/settings/members/invitations/{id}/resend", post(resend))
        .route("/settings/members/invitations/{id}/revoke", post(revoke))
        .route(
            "/settings/members/tokens/{token_id}/revoke",
            post(revoke_token),
        )
        .route(
            "/settings/members/{user_id}/remove",
            get(confirm_remove).post(remove),
        )
}

const FLASH_KEY: &str = "members.flash";

pub struct MemberView {
    pub user_id: UserId,
    pub email: String,
    pub display_name: String,
    pub choice: &'static str,
    pub label: &'static str,
    pub is_self: bool,
    pub since: String,
}

impl MemberView {
    fn new(m: Member, ctx: &OrgContext, now: i64) -> MemberView {
        MemberView {
            user_id: m.user_id,
            is_self: m.user_id == ctx.user.id,
            email: m.email,
            display_name: m.display_name,
            choice: m.access.choice(),
            label: m.access.label(),
            since: relative_time(m.created_at, now),
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct AddForm {
    email: String,
    access: String,
}

pub struct InvitationView {
    pub id: i64,
    pub email: String,
    pub label: &'static str,
    pub invited: String,
    pub invited_by: String,
    pub expires: String,
    pub expired: bool,
}

/// A new invitation link, shown once.
pub struct NewLink {
    pub email: String,
    pub url: String,
    pub expires: String,
    /// Whether it was emailed, or is to be passed on.
    pub delivery: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "settings/members/page.html")]
struct MembersPage {
    layout: Layout,
    members: Vec<MemberView>,
    invitations: Vec<InvitationView>,
    form: AddForm,
    errors: FieldErrors,
    notice: String,
    error: String,
    /// Shown once, in the response that made it.
    new_link: Option<NewLink>,
    /// The members' live personal access tokens.
    tokens: Vec<TokenView>,
    /// How many invitations the organization may send in 24 hours.
    daily_limit: i64,
}

/// A member's personal access token, as owners see it.
struct TokenView {
    token_id: String,
    name: String,
    user_email: String,
    access: &'static str,
    expires: String,
    last_used: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "settings/members/remove.html", blocks = ["dialog"])]
struct RemovePage {
    in_dialog: bool,
    layout: Layout,
    member: MemberView,
}

/// What the page shows besides the lists: the invite form as submitted, its
/// errors, a page-wide error, a new invitation link.
#[derive(Default)]
struct Shown {
    form: AddForm,
    errors: FieldErrors,
    error: String,
    new_link: Option<NewLink>,
}

async fn render(
    state: &AppState,
    ctx: &OrgContext,
    meta: &RequestMeta,
    status: StatusCode,
    shown: Shown,
) -> AppResult<Response> {
    let notice = crate::http::session::take_flash(&ctx.session, FLASH_KEY).await?;
    let now = state.now();
    let actor = ctx.actor(meta);
    let members = service::members::list(state, &actor)
        .await?
        .into_iter()
        .map(|m| MemberView::new(m, ctx, now))
        .collect();
    let invitations = service::invitations::open(state, &actor)
        .await?
        .into_iter()
        .map(|i| InvitationView {
            id: i.id.0,
            label: i.access.label(),
            invited: relative_time(i.created_at, now),
            invited_by: i.invited_by_name,
            expires: relative_time(i.expires_at, now),
            expired: i.expires_at <= now,
            email: i.email,
        })
        .collect();
    let tokens = service::api_tokens::of_organization(state, &actor)
        .await?
        .into_iter()
        .map(|t| TokenView {
            token_id: t.token_id,
            name: t.name,
            user_email: t.user_email,
            access: t.access.label(),
            expires: relative_time(t.expires_at, now),
            last_used: t
                .last_used_at
                .map_or_else(|| "never".to_owned(), |u| relative_time(u, now)),
        })
        .collect();
    let page = MembersPage {
        tokens,
        daily_limit: service::invitations::daily_limit(ctx.org.plan),
        layout: ctx.layout("Members", Nav::Members),
        members,
        invitations,
        form: shown.form,
        errors: shown.errors,
        notice,
        error: shown.error,
        new_link: shown.new_link,
    };
    Ok((status, page).into_response())
}

async fn show(
    State(state): State<AppState>,
    ctx: OrgContext,
    meta: RequestMeta,
) -> AppResult<Response> {
    render(&state, &ctx, &meta, StatusCode::OK, Shown::default()).await
}

async fn flash(session: &Session, message: String) -> AppResult<Response> {
    session.insert(FLASH_KEY, message).await?;
    Ok(Redirect::to("/settings/members").into_response())
}

async fn add(
    State(state): State<AppState>,
    ctx: OrgContext,
    meta: RequestMeta,
    Form(form): Form<AddForm>,
) -> AppResult<Response> {
    if !ctx.access.is_owner() {
        return Err(Error::OwnersOnly.into());
    }
    let mut errors = FieldErrors::default();
    let email = errors.check(Email::parse(&form.email));
    let access = errors.check(
        Access::parse_choice(&form.access)
            .ok_or_else(|| FieldError::new("access", "Choose a role.")),
    );
    let (Some(email), Some(access)) = (email, access) else {
        let shown = Shown {
            form,
            errors,
            ..Shown::default()
        };
        return render(&state, &ctx, &meta, StatusCode::UNPROCESSABLE_ENTITY, shown).await;
    };
    let actor = ctx.actor(&meta);
    match service::invitations::invite(&state, &actor, &email, access).await {
        Ok(invited) => {
            ctx.session
                .insert(
                    FLASH_KEY,
                    format!("Invited {} as {}.", invited.email, access.label()),
                )
                .await?;
            link_page(&state, &ctx, &meta, invited).await
        }
        Err(e @ Error::AlreadyMember(_)) => {
            errors.push(FieldError::new("email", e.to_string()));
            let shown = Shown {
                form,
                errors,
                ..Shown::default()
            };
            render(&state, &ctx, &meta, StatusCode::UNPROCESSABLE_ENTITY, shown).await
        }
        Err(e @ Error::TooManyInvitations { retry_after, .. }) => {
            errors.push(FieldError::new("email", e.to_string()));
            let shown = Shown {
                form,
                errors,
                ..Shown::default()
            };
            let page = render(&state, &ctx, &meta, StatusCode::TOO_MANY_REQUESTS, shown).await?;
            Ok(with_retry_after(page, retry_after))
        }
        Err(error) => Err(error.into()),
    }
}

/// A refusal past the daily invitation limit says when to try again.
fn with_retry_after(mut response: Response, seconds: i64) -> Response {
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
    response
}

/// The page with a new link on it, rendered by the POST that made it: the
/// link exists in this response only.
async fn link_page(
    state: &AppState,
    ctx: &OrgContext,
    meta: &RequestMeta,
    invited: Invited,
) -> AppResult<Response> {
    let delivery = match invited.emailed {
        Emailed::Sent => format!(
            "We emailed it to {}. You can also copy it here.",
            invited.email
        ),
        Emailed::NotConfigured => format!(
            "Email is not set up on this server: copy the link and send it to {} yourself.",
            invited.email
        ),
        Emailed::Failed => format!(
            "The email to {} could not be sent: copy the link and send it to them yourself.",
            invited.email
        ),
    };
    let shown = Shown {
        new_link: Some(NewLink {
            email: invited.email,
            url: invited.link,
            expires: absolute_time(invited.expires_at),
            delivery,
        }),
        ..Shown::default()
    };
    render(state, ctx, meta, StatusCode::OK, shown).await
}

fn invitation_id(raw: &str) -> AppResult<InvitationId> {
    raw.parse()
        .map(InvitationId)
        .map_err(|_| AppError::NotFound)
}

async fn resend(
    State(state): State<AppState>,
    ctx: OrgContext,
    meta: RequestMeta,
    Path(id): Path<String>,
) -> AppResult<Response> {
    let id = invitation_id(&id)?;
    let invited = match service::invitations::resend(&state, &ctx.actor(&meta), id).await {
        Ok(invited) => invited,
        Err(e @ Error::TooManyInvitations { retry_after, .. }) => {
            let status = StatusCode::TOO_MANY_REQUESTS;
            let page = refused(&state, &ctx, &meta, status, e.to_string()).await?;
            return Ok(with_retry_after(page, retry_after));
        }
        Err(error) => return Err(error.into()),
    };
    ctx.session
        .insert(
            FLASH_KEY,
            format!(
                "Sent the invitation to {} again; the earlier link no longer works.",
                invited.email
            ),
        )
        .await?;
    link_page(&state, &ctx, &meta, invited).await
}

async fn revoke(
    State(state): State<AppState>,
    ctx: OrgContext,
    meta: RequestMeta,
    Path(id): Path<String>,
) -> AppResult<Response> {
    let id = invitation_id(&id)?;
    let email = service::invitations::revoke(&state, &ctx.actor(&meta), id).await?;
    flash(
        &ctx.session,
        format!("Revoked the invitation of {email}: its link no longer works."),
    )
    .await
}

fn parse_id(raw: &str) -> AppResult<UserId> {
    raw.parse().map_err(|_| AppError::NotFound)
}

#[derive(Deserialize)]
struct ChangeForm {
    #[serde(default)]
    access: String,
}

/// A refusal shown at the top of the Members page.
async fn refused(
    state: &AppState,
    ctx: &OrgContext,
    meta: &RequestMeta,
    status: StatusCode,
    error: String,
) -> AppResult<Response> {
    let shown = Shown {
        error,
        ..Shown::default()
    };
    render(state, ctx, meta, status, shown).await
}

async fn change(
    State(state): State<AppState>,
    ctx: OrgContext,
    meta: RequestMeta,
    Path(user_id): Path<String>,
    Form(form): Form<ChangeForm>,
) -> AppResult<Response> {
    if !ctx.access.is_owner() {
        return Err(Error::OwnersOnly.into());
    }
    let user_id = parse_id(&user_id)?;
    let Some(access) = Access::parse_choice(&form.access) else {
        let error = "Choose a role.".to_owned();
        return refused(&state, &ctx, &meta, StatusCode::UNPROCESSABLE_ENTITY, error).await;
    };
    match service::members::change(&state, &ctx.actor(&meta), user_id, access).await {
        Ok(changed) if changed.unchanged => {
            flash(
                &ctx.session,
                format!("{} already has that role.", changed.email),
            )
            .await
        }
        Ok(changed) => {
            flash(
                &ctx.session,
                format!("{} is now {}.", changed.email, access.label()),
            )
            .await
        }
        Err(e @ Error::LastOwner) => {
            refused(&state, &ctx, &meta, StatusCode::CONFLICT, e.to_string()).await
        }
        Err(error) => Err(error.into()),
    }
}

/// An owner revokes a member's personal access token.
async fn revoke_token(
    State(state): State<AppState>,
    ctx: OrgContext,
    meta: RequestMeta,
    Path(token_id): Path<String>,
) -> AppResult<Response> {
    service::owners_only(&ctx.actor(&meta))?;
    let name = service::api_tokens::revoke(&state, &ctx.user, &token_id, &meta.origin()).await?;
    flash(
        &ctx.session,
        format!("Revoked the token “{name}”: it no longer works."),
    )
    .await
}

async fn confirm_remove(
    State(state): State<AppState>,
    ctx: OrgContext,
    meta: RequestMeta,
    HxRequest(hx): HxRequest,
    Path(user_id): Path<String>,
) -> AppResult<Response> {
    let user_id = parse_id(&user_id)?;
    let member = service::members::find(&state, &ctx.actor(&meta), user_id).await?;
    let page = RemovePage {
        in_dialog: hx,
        layout: ctx.layout("Remove member", Nav::Members),
        member: MemberView::new(member, &ctx, state.now()),
    };
    Ok(dialog_or_page!(hx, StatusCode::OK, page))
}

async fn remove(
    State(state): State<AppState>,
    ctx: OrgContext,
    meta: RequestMeta,
    Path(user_id): Path<String>,
) -> AppResult<Response> {
    if !ctx.access.is_owner() {
        return Err(Error::OwnersOnly.into());
    }
    let user_id = parse_id(&user_id)?;
    match service::members::remove(&state, &ctx.actor(&meta), user_id).await {
        Ok(_) if user_id == ctx.user.id => Ok(Redirect::to("/login").into_response()),
        Ok(email) => {
            flash(
                &ctx.session,
                format!("Removed {email} from {}.", ctx.org.name),
            )
            .await
        }
        Err(e @ Error::LastOwner) => {
            refused(&state, &ctx, &meta, StatusCode::CONFLICT, e.to_string()).await
        }
        Err(error) => Err(error.into()),
    }
}
