//! Settings > Credentials.

use askama::Template;
use askama_web::WebTemplate;
use axum::Router;
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::error::AppResult;
use crate::http::session::OrgContext;
use crate::http::views::{Layout, Nav};
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new().route("/settings/credentials", get(show))
}

#[derive(Template, WebTemplate)]
#[template(path = "settings/credentials/page.html")]
struct CredentialsPage {
    layout: Layout,
}

async fn show(ctx: OrgContext) -> AppResult<Response> {
    Ok(CredentialsPage {
        layout: ctx.layout("Credentials", Nav::Credentials),
    }
    .into_response())
}
