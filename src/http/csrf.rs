//! CSRF tokens. Forms carry one as `csrf_token`; htmx sends it as
//! `X-CSRF-Token` (set once on `<body data-hx-headers>`). It is checked on
//! every state-changing request, in addition to the Origin / Sec-Fetch-Site
//! check of tower-http's `CsrfLayer`.
//!
//! A signed-in session keeps its token in the session. A visitor who is not
//! signed in (the sign-in, setup and invitation forms) gets no session row at
//! all: their token is a signed double-submit cookie, `random.HMAC(random)`
//! under a key derived from the server key, which the form repeats. Anyone
//! can load the sign-in page as often as they like without writing to the
//! database.

use axum::body::{Body, to_bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use subtle::ConstantTimeEq;
use tower_sessions::Session;

use crate::http::error::AppError;
use crate::random;
use crate::state::AppState;

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

/// The name of the visitor's double-submit cookie; `__Host-` when the
/// public URL is https, so no other host can set it.
fn cookie_name(secure: bool) -> &'static str {
    if secure {
        "__Host-keyward_csrf"
    } else {
        "keyward_csrf"
    }
}

/// The value of the cookie `name` in the request's `Cookie` headers.
pub fn cookie<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(n, _)| *n == name)
        .map(|(_, value)| value)
}

/// A visitor's token, valid when its signature is the server's.
fn visitor_token<'h>(state: &AppState, headers: &'h HeaderMap) -> Option<&'h str> {
    let token = cookie(headers, cookie_name(state.config.secure_cookies()))?;
    let (nonce, signature) = token.split_once('.')?;
    matches(&state.keys.csrf_signature(nonce), signature).then_some(token)
}

/// The token for a form shown to someone who may not be signed in: the
/// session's when it has one, else a visitor's, with the cookie that carries
/// its twin when the browser does not hold one yet.
pub struct FormToken {
    pub value: String,
    set_cookie: Option<HeaderValue>,
}

impl FormToken {
    pub async fn for_visitor(
        state: &AppState,
        session: &Session,
        headers: &HeaderMap,
    ) -> Result<FormToken, AppError> {
        if let Some(value) = session.get::<String>(KEY).await? {
            return Ok(FormToken {
                value,
                set_cookie: None,
            });
        }
        if let Some(token) = visitor_token(state, headers) {
            return Ok(FormToken {
                value: token.to_owned(),
                set_cookie: None,
            });
        }
        let nonce = random::token(32);
        let value = format!("{nonce}.{}", state.keys.csrf_signature(&nonce));
        let secure = state.config.secure_cookies();
        let cookie = format!(
            "{}={value}; Path=/; HttpOnly; SameSite=Strict{}",
            cookie_name(secure),
            if secure { "; Secure" } else { "" }
        );
        Ok(FormToken {
            value,
            set_cookie: HeaderValue::from_str(&cookie).ok(),
        })
    }

    /// Adds the cookie to the response that shows the form.
    pub fn attach(self, mut response: Response) -> Response {
        if let Some(cookie) = self.set_cookie {
            response.headers_mut().append(header::SET_COOKIE, cookie);
        }
        response
    }
}

/// Middleware: refuses unsafe requests whose token is missing or wrong. The
/// expected token is the session's, or for a visitor without one, their
/// signed cookie.
pub async fn verify(
    State(state): State<AppState>,
    session: Session,
    request: Request,
    next: Next,
) -> Response {
    if matches!(
        *request.method(),
        Method::GET | Method::HEAD | Method::OPTIONS
    ) {
        return next.run(request).await;
    }
    let expected = match session.get::<String>(KEY).await {
        Ok(Some(token)) => token,
        Ok(None) => match visitor_token(&state, request.headers()) {
            Some(token) => token.to_owned(),
            None => return refused(),
        },
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
