//! Members (owners only): add a user by email with a role, change a role,
//! remove a member. An organization always keeps at least one owner.

use askama::Template;
use askama_web::WebTemplate;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use tower_sessions::Session;

use crate::domain::{Access, DisplayName, Email, FieldError, FieldErrors, UserId};
use crate::http::error::{AppError, AppResult};
use crate::http::form::Form;
use crate::http::meta::RequestMeta;
use crate::http::session::OrgContext;
use crate::http::views::{Layout, Nav, relative_time};
use crate::service::{self, Error};
use crate::state::AppState;
use crate::storage::members::Member;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/settings/members", get(show).post(add))
        .route("/settings/members/{user_id}", post(change))
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
    display_name: String,
    access: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "settings/members/page.html")]
struct MembersPage {
    layout: Layout,
    members: Vec<MemberView>,
    form: AddForm,
    errors: FieldErrors,
    notice: String,
    error: String,
    /// Shown once, when a new user was created for the member.
    new_user: Option<(String, String)>,
}

#[derive(Template, WebTemplate)]
#[template(path = "settings/members/remove.html")]
struct RemovePage {
    layout: Layout,
    member: MemberView,
}

/// What the page shows besides the list: the add form as submitted, its
/// errors, a page-wide error, a new account's temporary password.
#[derive(Default)]
struct Shown {
    form: AddForm,
    errors: FieldErrors,
    error: String,
    new_user: Option<(String, String)>,
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
    let members = service::members::list(state, &ctx.actor(meta))
        .await?
        .into_iter()
        .map(|m| MemberView::new(m, ctx, now))
        .collect();
    let page = MembersPage {
        layout: ctx.layout("Members", Nav::Members),
        members,
        form: shown.form,
        errors: shown.errors,
        notice,
        error: shown.error,
        new_user: shown.new_user,
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
    let name = DisplayName::parse(&form.display_name).ok();
    let actor = ctx.actor(&meta);
    let result = service::members::add(&state, &actor, &email, name.as_ref(), access).await;
    let (field, status, error) = match result {
        Ok(added) => {
            let message = format!("Added {} as {}.", added.email, access.label());
            return match added.temporary_password {
                // Rendered by the POST itself: the temporary password exists in this response only.
                Some(password) => {
                    ctx.session.insert(FLASH_KEY, message).await?;
                    let shown = Shown {
                        new_user: Some((added.email, password)),
                        ..Shown::default()
                    };
                    render(&state, &ctx, &meta, StatusCode::OK, shown).await
                }
                None => flash(&ctx.session, message).await,
            };
        }
        Err(e @ Error::NameNeededForNewAccount) => {
            ("display_name", StatusCode::UNPROCESSABLE_ENTITY, e)
        }
        Err(e @ Error::AccountChanged) => ("email", StatusCode::CONFLICT, e),
        Err(e @ (Error::SupportCannotBeMember | Error::AlreadyMember(_))) => {
            ("email", StatusCode::UNPROCESSABLE_ENTITY, e)
        }
        Err(error) => return Err(error.into()),
    };
    errors.push(FieldError::new(field, error.to_string()));
    let shown = Shown {
        form,
        errors,
        ..Shown::default()
    };
    render(&state, &ctx, &meta, status, shown).await
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

async fn confirm_remove(
    State(state): State<AppState>,
    ctx: OrgContext,
    meta: RequestMeta,
    Path(user_id): Path<String>,
) -> AppResult<Response> {
    let user_id = parse_id(&user_id)?;
    let member = service::members::find(&state, &ctx.actor(&meta), user_id).await?;
    Ok(RemovePage {
        layout: ctx.layout("Remove member", Nav::Members),
        member: MemberView::new(member, &ctx, state.now()),
    }
    .into_response())
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
