//! The Organization page (owners only): name, plan, and whether new
//! credentials need an owner's approval.

use askama::Template;
use askama_web::WebTemplate;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use serde::Deserialize;

use crate::domain::credential::expiry;
use crate::domain::{FieldError, FieldErrors, OrgName};
use crate::http::error::AppResult;
use crate::http::form::Form;
use crate::http::meta::RequestMeta;
use crate::http::session::OrgContext;
use crate::http::views::{Layout, Nav};
use crate::service::{self, Error};
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new().route("/settings/organization", get(show).post(save))
}

const FLASH_KEY: &str = "organization.flash";

#[derive(Template, WebTemplate)]
#[template(path = "settings/organization/page.html")]
struct OrganizationPage {
    layout: Layout,
    name: String,
    plan: &'static str,
    require_approval: bool,
    /// The expiry policy as the select holds it: "" (none) or days.
    max_days: String,
    policy_days: &'static [i64],
    upgrade: String,
    errors: FieldErrors,
    notice: String,
}

#[derive(Deserialize)]
struct OrganizationForm {
    #[serde(default)]
    org_name: String,
    /// A checkbox: present when ticked.
    #[serde(default)]
    require_approval: Option<String>,
    /// "" for no expiry requirement, or one of the allowed lifetimes.
    #[serde(default)]
    max_credential_days: String,
}

async fn show(State(state): State<AppState>, ctx: OrgContext) -> AppResult<Response> {
    if !ctx.access.is_owner() {
        return Err(Error::OwnersOnly.into());
    }
    let notice = crate::http::session::take_flash(&ctx.session, FLASH_KEY).await?;
    Ok(OrganizationPage {
        layout: ctx.layout("Organization", Nav::Organization),
        name: ctx.org.name.clone(),
        plan: ctx.org.plan.label(),
        require_approval: ctx.org.require_approval,
        max_days: ctx
            .org
            .max_credential_days
            .map(|d| d.to_string())
            .unwrap_or_default(),
        policy_days: expiry::POLICY_DAYS,
        upgrade: state.config.upgrade_text(),
        errors: FieldErrors::default(),
        notice,
    }
    .into_response())
}

async fn save(
    State(state): State<AppState>,
    ctx: OrgContext,
    meta: RequestMeta,
    Form(form): Form<OrganizationForm>,
) -> AppResult<Response> {
    if !ctx.access.is_owner() {
        return Err(Error::OwnersOnly.into());
    }
    let require_approval = form.require_approval.is_some();
    let mut errors = FieldErrors::default();
    let name = errors.check(OrgName::parse(&form.org_name));
    let max_days = match form.max_credential_days.as_str() {
        "" => Some(None),
        days => days
            .parse::<i64>()
            .ok()
            .filter(|d| expiry::POLICY_DAYS.contains(d))
            .map(Some),
    };
    if max_days.is_none() {
        errors.push(FieldError::new(
            "max_credential_days",
            "Choose No requirement or one of the lifetimes listed.",
        ));
    }
    let (Some(name), Some(max_days)) = (name, max_days) else {
        let page = OrganizationPage {
            layout: ctx.layout("Organization", Nav::Organization),
            name: form.org_name,
            plan: ctx.org.plan.label(),
            require_approval,
            max_days: form.max_credential_days,
            policy_days: expiry::POLICY_DAYS,
            upgrade: state.config.upgrade_text(),
            errors,
            notice: String::new(),
        };
        return Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response());
    };
    service::organization::update_settings(
        &state,
        &ctx.actor(&meta),
        &name,
        require_approval,
        max_days,
    )
    .await?;
    ctx.session
        .insert(FLASH_KEY, "Organization settings saved.")
        .await?;
    Ok(Redirect::to("/settings/organization").into_response())
}
