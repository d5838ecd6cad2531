//! The Audit log page: the organization's events, newest first, for every
//! role that may see the organization. Support visits are themselves recorded.

use askama::Template;
use askama_web::WebTemplate;
use axum::Router;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Deserialize;

use crate::error::AppResult;
use crate::http::audit::{self, EventExt};
use crate::http::meta::RequestMeta;
use crate::http::session::OrgContext;
use crate::http::views::{Layout, Nav, absolute_time, iso_time, relative_time};
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new().route("/audit-log", get(show))
}

const PAGE_SIZE: i64 = 50;

pub struct EventView {
    pub when: String,
    pub when_iso: String,
    pub when_absolute: String,
    pub actor: String,
    pub action: String,
    pub target: String,
    pub ip: String,
    pub detail: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "audit_log.html")]
struct AuditLogPage {
    layout: Layout,
    events: Vec<EventView>,
    next_before: Option<i64>,
}

#[derive(Deserialize)]
struct Params {
    before: Option<String>,
}

async fn show(
    State(state): State<AppState>,
    ctx: OrgContext,
    meta: RequestMeta,
    Query(params): Query<Params>,
) -> AppResult<Response> {
    if ctx.access.is_support() {
        let visit = audit::by(&ctx, &meta, "support.viewed").target("Audit log");
        state.db.record(&visit, state.now()).await?;
    }
    let before = params.before.and_then(|b| b.parse::<i64>().ok());
    let now = state.now();
    let rows = state
        .db
        .recent_events(ctx.org.id, before, PAGE_SIZE + 1)
        .await?;
    let next_before = (rows.len() as i64 > PAGE_SIZE).then(|| rows[PAGE_SIZE as usize - 1].id);
    let events = rows
        .into_iter()
        .take(PAGE_SIZE as usize)
        .map(|e| EventView {
            when: relative_time(e.created_at, now),
            when_iso: iso_time(e.created_at),
            when_absolute: absolute_time(e.created_at),
            actor: e.actor,
            action: e.action,
            target: e.target.unwrap_or_default(),
            ip: e.ip.unwrap_or_default(),
            detail: if e.detail == "{}" {
                String::new()
            } else {
                e.detail
            },
        })
        .collect();
    Ok(AuditLogPage {
        layout: ctx.layout("Audit log", Nav::AuditLog),
        events,
        next_before,
    }
    .into_response())
}
