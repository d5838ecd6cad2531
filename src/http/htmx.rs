//! htmx glue: whether a request came from htmx, the events the server
//! triggers, and rendering a page or one of its blocks as a fragment.

use std::convert::Infallible;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::error::AppError;

/// `HX-Request: true` (and not a history restore, which wants the whole page).
#[derive(Debug, Clone, Copy)]
pub struct HxRequest(pub bool);

impl<S: Send + Sync> FromRequestParts<S> for HxRequest {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let is = |name: &str| parts.headers.get(name).is_some_and(|v| v == "true");
        Ok(HxRequest(
            is("hx-request") && !is("hx-history-restore-request"),
        ))
    }
}

/// Events the server triggers in the browser with `HX-Trigger`.
#[derive(Debug, Clone, Copy)]
pub enum HxEvent {
    /// The credentials list is out of date: the list section reloads itself.
    CredentialsChanged,
}

impl HxEvent {
    pub fn name(self) -> &'static str {
        match self {
            HxEvent::CredentialsChanged => "credentials-changed",
        }
    }
}

/// Renders a template (a page or a block of one) as an HTML response.
pub fn html(status: StatusCode, rendered: askama::Result<String>) -> Response {
    match rendered {
        Ok(body) => (
            status,
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=utf-8"),
            )],
            body,
        )
            .into_response(),
        Err(error) => {
            AppError::Internal(anyhow::anyhow!("rendering a template: {error}")).into_response()
        }
    }
}

/// Adds `HX-Trigger` for `event` to a response.
pub fn trigger(mut response: Response, event: HxEvent) -> Response {
    response
        .headers_mut()
        .insert("hx-trigger", HeaderValue::from_static(event.name()));
    response
}
