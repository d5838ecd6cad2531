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
use serde_json::json;
use tower_sessions::Session;

use crate::domain::{Access, DisplayName, Email, FieldError, FieldErrors};
use crate::error::{AppError, AppResult};
use crate::http::audit::{self, EventExt};
use crate::http::form::Form;
use crate::http::meta::RequestMeta;
use crate::http::session::OrgContext;
use crate::http::views::{Layout, Nav, relative_time};
use crate::random;
use crate::state::AppState;
use crate::storage::{self, is_unique_violation, members, users};

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
    pub user_id: i64,
    pub email: String,
    pub display_name: String,
    pub choice: &'static str,
    pub label: &'static str,
    pub is_self: bool,
    pub since: String,
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

/// The last-owner rule, shared by change and remove.
const LAST_OWNER: &str =
    "An organization must keep at least one owner. Make another member an owner first.";

async fn member_views(state: &AppState, ctx: &OrgContext) -> AppResult<Vec<MemberView>> {
    let now = state.now();
    Ok(state
        .db
        .members_of(ctx.org.id)
        .await?
        .into_iter()
        .filter_map(|m| {
            let access = m.access()?;
            Some(MemberView {
                user_id: m.user_id,
                is_self: m.user_id == ctx.user.id,
                email: m.email,
                display_name: m.display_name,
                choice: access.choice(),
                label: access.label(),
                since: relative_time(m.created_at, now),
            })
        })
        .collect())
}

async fn render(
    state: &AppState,
    ctx: &OrgContext,
    status: StatusCode,
    form: AddForm,
    errors: FieldErrors,
    error: String,
    new_user: Option<(String, String)>,
) -> AppResult<Response> {
    let notice = crate::http::session::take_flash(&ctx.session, FLASH_KEY).await?;
    let page = MembersPage {
        layout: ctx.layout("Members", Nav::Members),
        members: member_views(state, ctx).await?,
        form,
        errors,
        notice,
        error,
        new_user,
    };
    Ok((status, page).into_response())
}

async fn show(State(state): State<AppState>, ctx: OrgContext) -> AppResult<Response> {
    ctx.require_owner()?;
    render(
        &state,
        &ctx,
        StatusCode::OK,
        AddForm::default(),
        FieldErrors::default(),
        String::new(),
        None,
    )
    .await
}

async fn flash(session: &Session, message: String) -> AppResult<Redirect> {
    session.insert(FLASH_KEY, message).await?;
    Ok(Redirect::to("/settings/members"))
}

async fn add(
    State(state): State<AppState>,
    ctx: OrgContext,
    meta: RequestMeta,
    Form(form): Form<AddForm>,
) -> AppResult<Response> {
    ctx.require_owner()?;
    let mut errors = FieldErrors::default();
    let email = errors.check(Email::parse(&form.email));
    let access = errors.check(
        Access::parse_choice(&form.access)
            .ok_or_else(|| FieldError::new("access", "Choose a role.")),
    );
    let (Some(email), Some(access)) = (email, access) else {
        return render(
            &state,
            &ctx,
            StatusCode::UNPROCESSABLE_ENTITY,
            form,
            errors,
            String::new(),
            None,
        )
        .await;
    };

    // A new user gets a temporary password, shown once to the owner.
    let existing = state.db.user_by_email(email.as_str()).await?;
    let mut new_user = None;
    if existing.is_none() {
        let Some(name) = errors.check(DisplayName::parse(&form.display_name).map_err(|_| {
            FieldError::new(
                "display_name",
                "This email has no Keyward account yet: enter the person's name to create one.",
            )
        })) else {
            return render(
                &state,
                &ctx,
                StatusCode::UNPROCESSABLE_ENTITY,
                form,
                errors,
                String::new(),
                None,
            )
            .await;
        };
        let password = random::token(20);
        let hash = state.hasher.hash(&password.clone().into()).await?;
        new_user = Some((name, password, hash));
    }

    let now = state.now();
    let mut tx = state.db.begin_org(ctx.org.id).await?;
    let user = match (
        users::find_by_email(&mut tx, email.as_str()).await?,
        &new_user,
    ) {
        (Some(user), None) => Some(user),
        (None, Some((name, _, hash))) => {
            let row = users::NewUser {
                email: email.as_str(),
                display_name: name.as_str(),
                password_hash: hash,
                is_support: false,
            };
            match users::insert(&mut tx, row, now).await {
                Ok(_) => users::find_by_email(&mut tx, email.as_str()).await?,
                // Added at the same moment by another organization's owner
                // (another organization's lock does not hold this one back).
                Err(e) if is_unique_violation(&e) => None,
                Err(e) => return Err(e.into()),
            }
        }
        // The account was created (by another organization's owner) or
        // deleted since the form was checked: the temporary password made
        // for it would be wrong, so ask again.
        (Some(_), Some(_)) | (None, None) => None,
    };
    let Some(user) = user else {
        errors.push(FieldError::new(
            "email",
            "This account changed meanwhile. Submit the form again.",
        ));
        return render(
            &state,
            &ctx,
            StatusCode::CONFLICT,
            form,
            errors,
            String::new(),
            None,
        )
        .await;
    };
    if user.is_support {
        errors.push(FieldError::new(
            "email",
            "Support staff see every organization already; they cannot be members.",
        ));
        return render(
            &state,
            &ctx,
            StatusCode::UNPROCESSABLE_ENTITY,
            form,
            errors,
            String::new(),
            None,
        )
        .await;
    }
    match members::insert(&mut tx, ctx.org.id, user.id, access, now).await {
        Ok(()) => {}
        Err(e) if is_unique_violation(&e) => {
            errors.push(FieldError::new(
                "email",
                format!("{} is already a member of this organization.", user.email),
            ));
            return render(
                &state,
                &ctx,
                StatusCode::UNPROCESSABLE_ENTITY,
                form,
                errors,
                String::new(),
                None,
            )
            .await;
        }
        Err(e) => return Err(e.into()),
    }
    let created = new_user.is_some();
    let event = audit::by(&ctx, &meta, "member.added")
        .target(user.email.clone())
        .detail(json!({ "role": access.choice(), "new_account": created }));
    storage::audit::insert(&mut tx, &event, now).await?;
    tx.commit().await?;

    match new_user {
        // Rendered by the POST itself: the temporary password exists in this response only.
        Some((_, password, _)) => {
            ctx.session
                .insert(
                    FLASH_KEY,
                    format!("Added {} as {}.", user.email, access.label()),
                )
                .await?;
            render(
                &state,
                &ctx,
                StatusCode::OK,
                AddForm::default(),
                FieldErrors::default(),
                String::new(),
                Some((user.email, password)),
            )
            .await
        }
        None => Ok(flash(
            &ctx.session,
            format!("Added {} as {}.", user.email, access.label()),
        )
        .await?
        .into_response()),
    }
}

fn parse_id(raw: &str) -> AppResult<i64> {
    raw.parse().map_err(|_| AppError::NotFound)
}

#[derive(Deserialize)]
struct ChangeForm {
    #[serde(default)]
    access: String,
}

async fn change(
    State(state): State<AppState>,
    ctx: OrgContext,
    meta: RequestMeta,
    Path(user_id): Path<String>,
    Form(form): Form<ChangeForm>,
) -> AppResult<Response> {
    ctx.require_owner()?;
    let user_id = parse_id(&user_id)?;
    let Some(access) = Access::parse_choice(&form.access) else {
        return render(
            &state,
            &ctx,
            StatusCode::UNPROCESSABLE_ENTITY,
            AddForm::default(),
            FieldErrors::default(),
            "Choose a role.".to_owned(),
            None,
        )
        .await;
    };
    let now = state.now();
    let mut tx = state.db.begin_org(ctx.org.id).await?;
    let member = members::find(&mut tx, ctx.org.id, user_id)
        .await?
        .ok_or(AppError::NotFound)?;
    let before = member
        .access()
        .ok_or_else(|| anyhow::anyhow!("impossible membership"))?;
    if before == access {
        return Ok(flash(
            &ctx.session,
            format!("{} already has that role.", member.email),
        )
        .await?
        .into_response());
    }
    if before.is_owner() && members::count_owners(&mut tx, ctx.org.id).await? <= 1 {
        drop(tx);
        return render(
            &state,
            &ctx,
            StatusCode::CONFLICT,
            AddForm::default(),
            FieldErrors::default(),
            LAST_OWNER.to_owned(),
            None,
        )
        .await;
    }
    members::update(&mut tx, ctx.org.id, user_id, access).await?;
    let event = audit::by(&ctx, &meta, "member.changed")
        .target(member.email.clone())
        .detail(json!({ "before": before.choice(), "after": access.choice() }));
    storage::audit::insert(&mut tx, &event, now).await?;
    tx.commit().await?;
    Ok(flash(
        &ctx.session,
        format!("{} is now {}.", member.email, access.label()),
    )
    .await?
    .into_response())
}

async fn confirm_remove(
    State(state): State<AppState>,
    ctx: OrgContext,
    Path(user_id): Path<String>,
) -> AppResult<Response> {
    ctx.require_owner()?;
    let user_id = parse_id(&user_id)?;
    let member = member_views(&state, &ctx)
        .await?
        .into_iter()
        .find(|m| m.user_id == user_id)
        .ok_or(AppError::NotFound)?;
    Ok(RemovePage {
        layout: ctx.layout("Remove member", Nav::Members),
        member,
    }
    .into_response())
}

async fn remove(
    State(state): State<AppState>,
    ctx: OrgContext,
    meta: RequestMeta,
    Path(user_id): Path<String>,
) -> AppResult<Response> {
    ctx.require_owner()?;
    let user_id = parse_id(&user_id)?;
    let now = state.now();
    let mut tx = state.db.begin_org(ctx.org.id).await?;
    let member = members::find(&mut tx, ctx.org.id, user_id)
        .await?
        .ok_or(AppError::NotFound)?;
    let access = member
        .access()
        .ok_or_else(|| anyhow::anyhow!("impossible membership"))?;
    if access.is_owner() && members::count_owners(&mut tx, ctx.org.id).await? <= 1 {
        drop(tx);
        return render(
            &state,
            &ctx,
            StatusCode::CONFLICT,
            AddForm::default(),
            FieldErrors::default(),
            LAST_OWNER.to_owned(),
            None,
        )
        .await;
    }
    members::delete(&mut tx, ctx.org.id, user_id).await?;
    // Their open sessions end on their next request.
    users::end_sessions(&mut tx, user_id).await?;
    let event = audit::by(&ctx, &meta, "member.removed")
        .target(member.email.clone())
        .detail(json!({ "role": access.choice() }));
    storage::audit::insert(&mut tx, &event, now).await?;
    tx.commit().await?;
    if user_id == ctx.user.id {
        return Ok(Redirect::to("/login").into_response());
    }
    Ok(flash(
        &ctx.session,
        format!("Removed {} from {}.", member.email, ctx.org.name),
    )
    .await?
    .into_response())
}
