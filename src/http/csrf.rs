//! The per-session CSRF token. Forms carry it as `csrf_token`; htmx sends it
//! as `X-CSRF-Token` (set once on `<body data-hx-headers>`). It is checked on
//! every state-changing request, in addition to the Origin / Sec-Fetch-Site
//! check of tower-http's `CsrfLayer`.

use axum::body::{Body, to_bytes};
use axum::extract::Request;
use axum::http::Method;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use subtle::ConstantTimeEq;
use tower_sessions::Session;

use crate::http::error::AppError;
use crate::random;

const KEY: &str = "csrf";
pub const HEADER: &str = "x-csrf-token";
pub const FIELD: &str = "csrf_token";
/// Bodies larger than this are refused before they are read.
pub const BODY_LIMIT: usize = 64 * 1024;

/// The session's token, created on first use.
pub async fn token(session: &Session) -> Result<String, AppError> {
    if let Some(token) = session.get::<String>(KEY).await? {
        return Ok(token);
    }
    renew(session).await
}

pub async fn renew(session: &Session) -> Result<String, AppError> {
    let token = random::token(32);
    session.insert(KEY, &token).await?;
    Ok(token)
}

fn matches(expected: &str, given: &str) -> bool {
    expected.as_bytes().ct_eq(given.as_bytes()).into()
}

/// Middleware: refuses unsafe requests whose token is missing or wrong.
pub async fn verify(session: Session, request: Request, next: Next) -> Response {
    if matches!(
        *request.method(),
        Method::GET | Method::HEAD | Method::OPTIONS
    ) {
        return next.run(request).await;
    }
    let expected = match session.get::<String>(KEY).await {
        Ok(Some(token)) => token,
        Ok(None) => return refused(),
        Err(error) => return AppError::from(error).into_response(),
    };
    if let Some(given) = request.headers().get(HEADER).and_then(|v| v.to_str().ok()) {
        return if matches(&expected, given) {
            next.run(request).await
        } else {
            refused()
        };
    }
    // No header: the token must be a field of the form body.
    let (parts, body) = request.into_parts();
    let bytes = match to_bytes(body, BODY_LIMIT).await {
        Ok(bytes) => bytes,
        Err(_) => return AppError::PayloadTooLarge.into_response(),
    };
    let given = form_urlencoded_field(&bytes, FIELD);
    match given {
        Some(given) if matches(&expected, &given) => {
            next.run(Request::from_parts(parts, Body::from(bytes)))
                .await
        }
        _ => refused(),
    }
}

fn form_urlencoded_field(body: &[u8], name: &str) -> Option<String> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(body).ok()?;
    pairs.into_iter().find(|(k, _)| k == name).map(|(_, v)| v)
}

fn refused() -> Response {
    AppError::Forbidden(
        "This form has expired or did not come from Keyward, so it was refused. Reload the page and try again."
            .to_owned(),
    )
    .into_response()
}
