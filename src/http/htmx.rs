//! htmx glue: whether a request came from htmx, the events the server
//! triggers, and rendering a page or one of its blocks as a fragment.

use std::convert::Infallible;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, IntoResponseParts, Response, ResponseParts};

use crate::http::error::AppError;

/// `HX-Request: true` (and not a history restore, which wants the whole page).
#[derive(Debug, Clone, Copy)]
pub struct HxRequest(pub bool);

impl<S: Send + Sync> FromRequestParts<S> for HxRequest {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(HxRequest::from_headers(&parts.headers))
    }
}

impl HxRequest {
    pub fn from_headers(headers: &HeaderMap) -> HxRequest {
        let is = |name: &str| headers.get(name).is_some_and(|v| v == "true");
        HxRequest(is("hx-request") && !is("hx-history-restore-request"))
    }
}

/// Response headers that htmx acts on, as typed values: put one in a
/// response tuple, or [`Hx::apply`] it to a response.
#[derive(Debug, Clone, Copy)]
pub enum Hx {
    /// `HX-Trigger`: fire an event in the browser.
    Trigger(HxEvent),
    /// `HX-Retarget` + `HX-Reswap: innerHTML`: put the answer into this
    /// element instead of the request's target (errors go to the dialog root).
    RetargetInner(&'static str),
    /// `HX-Redirect`: a full navigation, never a page swapped into a fragment.
    Redirect(&'static str),
}

impl Hx {
    fn headers(self) -> Vec<(HeaderName, HeaderValue)> {
        let name = HeaderName::from_static;
        match self {
            Hx::Trigger(event) => {
                vec![(name("hx-trigger"), HeaderValue::from_static(event.name()))]
            }
            Hx::RetargetInner(target) => vec![
                (name("hx-retarget"), HeaderValue::from_static(target)),
                (name("hx-reswap"), HeaderValue::from_static("innerHTML")),
            ],
            Hx::Redirect(to) => vec![(name("hx-redirect"), HeaderValue::from_static(to))],
        }
    }

    pub fn apply(self, mut response: Response) -> Response {
        for (name, value) in self.headers() {
            response.headers_mut().insert(name, value);
        }
        response
    }
}

impl IntoResponseParts for Hx {
    type Error = Infallible;

    fn into_response_parts(self, mut parts: ResponseParts) -> Result<ResponseParts, Infallible> {
        for (name, value) in self.headers() {
            parts.headers_mut().insert(name, value);
        }
        Ok(parts)
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
pub fn trigger(response: Response, event: HxEvent) -> Response {
    Hx::Trigger(event).apply(response)
}
