//! The authorization server: the OAuth 2.0 client-credentials token endpoint
//! (RFC 6749 §4.4), its discovery metadata (RFC 8414) and the public signing
//! key (RFC 7517). Tokens are RFC 9068 JWTs signed with Ed25519.
//!
//! These routes sit outside the console's session and CSRF layers: clients
//! authenticate with their own secret on every request, and a request body
//! here is never logged.

mod client_auth;
mod introspection;
mod token;

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine;
use serde_json::json;

use crate::http::meta::RequestMeta;
use crate::state::AppState;

pub use token::{Claims, GRANT_TYPE, TOKEN_LIFETIME_SECS};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/oauth/token", post(token::token))
        .route("/oauth/introspect", post(introspection::introspect))
        .route("/oauth/revoke", post(introspection::revoke))
        .route("/.well-known/oauth-authorization-server", get(metadata))
        .route("/.well-known/jwks.json", get(jwks))
}

/// An RFC 6749 §5.2 error.
#[derive(Debug)]
pub struct OAuthError {
    code: &'static str,
    description: String,
    /// `invalid_client` after an attempt with HTTP Basic: 401 + `WWW-Authenticate`.
    basic: bool,
    /// Set for 429 answers.
    retry_after: Option<u64>,
    /// A request from outside the credential's IP allowlist (for metrics).
    address_refused: bool,
}

impl OAuthError {
    fn new(code: &'static str, description: impl Into<String>) -> Self {
        OAuthError {
            code,
            description: description.into(),
            basic: false,
            retry_after: None,
            address_refused: false,
        }
    }

    fn invalid_client(basic: bool) -> Self {
        OAuthError {
            code: "invalid_client",
            description: "Client authentication failed.".to_owned(),
            basic,
            retry_after: None,
            address_refused: false,
        }
    }

    fn too_many(retry_after: u64) -> Self {
        OAuthError {
            code: "too_many_requests",
            description: "Too many requests: slow down and retry after the time in Retry-After."
                .to_owned(),
            basic: false,
            retry_after: Some(retry_after),
            address_refused: false,
        }
    }
}

pub(super) fn no_store(response: &mut Response) {
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
}

impl OAuthError {
    /// The outcome label of a token request this error answered.
    fn outcome(&self) -> &'static str {
        match self.code {
            _ if self.address_refused => "ip_refused",
            "invalid_client" => "invalid_client",
            "unauthorized_client" => "unauthorized_client",
            "invalid_scope" => "invalid_scope",
            "too_many_requests" => "throttled",
            "server_error" => "server_error",
            _ => "invalid_request",
        }
    }

    fn address_refused(mut self) -> Self {
        self.address_refused = true;
        self
    }
}

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        let status = match self.code {
            "invalid_client" => StatusCode::UNAUTHORIZED,
            "too_many_requests" => StatusCode::TOO_MANY_REQUESTS,
            "server_error" => StatusCode::INTERNAL_SERVER_ERROR,
            _ => StatusCode::BAD_REQUEST,
        };
        let body = json!({ "error": self.code, "error_description": self.description });
        let mut response = (status, Json(body)).into_response();
        no_store(&mut response);
        if let Some(seconds) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        if self.code == "invalid_client" {
            let challenge = if self.basic {
                "Basic realm=\"keyward\", charset=\"UTF-8\""
            } else {
                "Basic realm=\"keyward\""
            };
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static(challenge),
            );
        }
        response
    }
}

/// A request to one of the endpoints: where it came from, its URL (client
/// credentials in a query string are refused), its headers and its form
/// parameters.
pub(super) struct ClientRequest {
    pub meta: RequestMeta,
    pub uri: Uri,
    pub headers: HeaderMap,
    pub params: HashMap<String, String>,
}

impl FromRequest<AppState> for ClientRequest {
    /// A body that cannot be read (too large, cut off) keeps axum's answer.
    type Rejection = Response;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, Response> {
        let (mut parts, body) = request.into_parts();
        let Ok(meta) = RequestMeta::from_request_parts(&mut parts, state).await;
        let (uri, headers) = (parts.uri.clone(), parts.headers.clone());
        let body = Bytes::from_request(Request::from_parts(parts, body), state)
            .await
            .map_err(IntoResponse::into_response)?;
        let params = parse_form(&headers, &body).map_err(IntoResponse::into_response)?;
        Ok(ClientRequest {
            meta,
            uri,
            headers,
            params,
        })
    }
}

/// The parameters of a form body, refusing repeated ones (RFC 6749 §3.2).
pub(super) fn parse_form(
    headers: &HeaderMap,
    body: &[u8],
) -> Result<HashMap<String, String>, OAuthError> {
    let is_form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    if !is_form {
        return Err(OAuthError::new(
            "invalid_request",
            "Send the request as application/x-www-form-urlencoded.",
        ));
    }
    let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(body).map_err(|_| {
        OAuthError::new(
            "invalid_request",
            "The request body is not valid form encoding.",
        )
    })?;
    let mut params = HashMap::new();
    for (key, value) in pairs {
        if params.insert(key.clone(), value).is_some() {
            return Err(OAuthError::new(
                "invalid_request",
                format!("The parameter {key} is repeated."),
            ));
        }
    }
    Ok(params)
}

pub(super) fn internal(error: anyhow::Error) -> OAuthError {
    tracing::error!(error = format!("{error:#}"), "token endpoint failed");
    OAuthError {
        code: "server_error",
        description: "The server could not complete the request.".to_owned(),
        basic: false,
        retry_after: None,
        address_refused: false,
    }
}

/// RFC 8414 metadata. Only what exists is listed.
async fn metadata(State(state): State<AppState>) -> Response {
    let base = &state.config.public_url;
    let scopes: Vec<String> = crate::domain::permission::TYPES
        .iter()
        .flat_map(|t| {
            crate::domain::permission::ACTIONS
                .iter()
                .map(move |a| format!("{t}:{a}:org"))
        })
        .collect();
    Json(json!({
        "issuer": base,
        "token_endpoint": format!("{base}/oauth/token"),
        "introspection_endpoint": format!("{base}/oauth/introspect"),
        "revocation_endpoint": format!("{base}/oauth/revoke"),
        "introspection_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "revocation_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "jwks_uri": format!("{base}/.well-known/jwks.json"),
        "grant_types_supported": [GRANT_TYPE],
        "response_types_supported": [],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "scopes_supported": scopes,
    }))
    .into_response()
}

/// The public token signing key as a JWK set.
async fn jwks(State(state): State<AppState>) -> Response {
    let x =
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(state.keys.verifying_key_bytes());
    Json(json!({
        "keys": [{ "kty": "OKP", "crv": "Ed25519", "x": x, "kid": state.keys.key_id(), "alg": "EdDSA", "use": "sig" }]
    }))
    .into_response()
}
