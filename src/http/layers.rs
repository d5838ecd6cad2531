//! Response layers shared by every route: security headers, friendly error
//! pages for statuses produced by layers, htmx-aware redirects, and tracing
//! that records no header, no body and no query string.

use std::time::Duration;

use axum::extract::Request;
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tower::ServiceBuilder;
use tower::layer::util::{Identity, Stack};
use tower_http::classify::{ServerErrorsAsFailures, SharedClassifier};
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::trace::{DefaultOnRequest, TraceLayer};
use tracing::Level;

use askama::Template;

use crate::http::error::{AppError, ErrorDialog, ErrorInfo, ToSignIn, error_page};
use crate::http::htmx::{Hx, HxRequest, html};

pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
img-src 'self' data:; connect-src 'self'; font-src 'self'; form-action 'self'; \
object-src 'none'; base-uri 'none'; frame-ancestors 'none'";

type HeaderLayer = SetResponseHeaderLayer<HeaderValue>;

/// Security headers on every response, unless a handler set its own.
#[allow(clippy::type_complexity)]
pub fn security_headers(
    https: bool,
) -> ServiceBuilder<
    Stack<
        HeaderLayer,
        Stack<
            HeaderLayer,
            Stack<
                HeaderLayer,
                Stack<
                    HeaderLayer,
                    Stack<HeaderLayer, Stack<HeaderLayer, Stack<HeaderLayer, Identity>>>,
                >,
            >,
        >,
    >,
> {
    let hsts = if https {
        "max-age=63072000; includeSubDomains"
    } else {
        "max-age=0"
    };
    ServiceBuilder::new()
        .layer(SetResponseHeaderLayer::if_not_present(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CONTENT_SECURITY_POLICY),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::X_FRAME_OPTIONS,
            HeaderValue::from_static("DENY"),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            HeaderName::from_static("cross-origin-opener-policy"),
            HeaderValue::from_static("same-origin"),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static(hsts),
        ))
        // Pages can hold secrets and personal data: no cache keeps them, and Back
        // after signing out asks the server again. Static assets set their own.
        .layer(SetResponseHeaderLayer::if_not_present(
            header::CACHE_CONTROL,
            HeaderValue::from_static("no-store"),
        ))
}

/// The tracing layer: its span and its line at each answer.
pub type Trace = TraceLayer<
    SharedClassifier<ServerErrorsAsFailures>,
    fn(&Request) -> tracing::Span,
    DefaultOnRequest,
    fn(&Response, Duration, &tracing::Span),
>;

/// Request spans with the method and path only: no query, no headers, no body.
pub fn trace() -> Trace {
    TraceLayer::new_for_http()
        .make_span_with(request_span as fn(&Request) -> tracing::Span)
        .on_request(DefaultOnRequest::new().level(Level::DEBUG))
        .on_response(answered as fn(&Response, Duration, &tracing::Span))
}

fn request_span(request: &Request) -> tracing::Span {
    let id = request
        .extensions()
        .get::<crate::http::request_id::RequestId>()
        .map(|id| id.0.as_str())
        .unwrap_or_default();
    tracing::info_span!("request", request_id = %id, method = %request.method(), path = %logged_path(request.uri().path()))
}

/// The status and the latency in milliseconds (to the microsecond) as
/// numbers, so a log tool can filter and aggregate them.
fn answered(response: &Response, latency: Duration, _: &tracing::Span) {
    tracing::info!(
        status = response.status().as_u16(),
        latency = latency.as_micros() as f64 / 1000.0,
        "finished processing request"
    );
}

/// The path as the log shows it: an invitation link's token is a secret,
/// so it is left out.
fn logged_path(path: &str) -> &str {
    if path.starts_with("/invitations/") {
        "/invitations/[token]"
    } else {
        path
    }
}

/// Gives layer-made errors (404 for unknown routes, the CSRF layer's 403, the
/// body limit's 413, the timeout's 408) the same page as handler errors, and
/// turns the redirect to sign-in into `HX-Redirect` for htmx requests, so a
/// login form is never swapped into a dialog.
pub async fn friendly_errors(request: Request, next: Next) -> Response {
    let HxRequest(htmx) = HxRequest::from_headers(request.headers());
    let path = request.uri().path();
    let api = path.starts_with("/api/");
    // The probes answer machines, in plain text, as they are.
    let probe = path == "/healthz" || path == "/readyz";
    let mut response = next.run(request).await;
    if probe {
        return response;
    }
    let status = response.status();
    // Pages and JSON answers (the OAuth endpoints) are already meant for
    // their reader; bare or plain-text errors come from a layer.
    let designed = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| {
            v.as_bytes().starts_with(b"text/html")
                || v.as_bytes().starts_with(b"application/json")
                || v.as_bytes().starts_with(b"application/problem+json")
        });
    // The API's own errors are problem details, those of a layer too.
    if api && (status.is_client_error() || status.is_server_error()) && !designed {
        if status == StatusCode::NOT_FOUND {
            return crate::http::api::Problem::not_found().into_response();
        }
        let (status, title, message) = AppError::for_status(status);
        let slug = title.to_lowercase().replace(' ', "-");
        return crate::http::api::Problem::new(status, &slug, title, message).into_response();
    }
    if (status.is_client_error() || status.is_server_error()) && !designed {
        let (status, title, message) = AppError::for_status(status);
        response = error_page(status, title, message);
    }
    if htmx && let Some(info) = response.extensions().get::<ErrorInfo>().cloned() {
        let dialog = ErrorDialog {
            title: info.title,
            message: info.message,
            request_id: crate::http::request_id::current().unwrap_or_default(),
        };
        let mut fragment =
            Hx::RetargetInner("#dialog-root").apply(html(response.status(), dialog.render()));
        for name in [header::RETRY_AFTER] {
            if let Some(value) = response.headers().get(&name) {
                fragment.headers_mut().insert(name, value.clone());
            }
        }
        response = fragment;
    }
    if htmx && response.extensions().get::<ToSignIn>().is_some() {
        return (StatusCode::NO_CONTENT, Hx::Redirect("/login"), ()).into_response();
    }
    // Pages answer htmx requests with fragments: caches must keep them apart.
    response
        .headers_mut()
        .append(header::VARY, HeaderValue::from_static("HX-Request"));
    response
}
