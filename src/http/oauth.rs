//! The authorization server: the OAuth 2.0 client-credentials token endpoint
//! (RFC 6749 §4.4), its discovery metadata (RFC 8414) and the public signing
//! key (RFC 7517). Tokens are RFC 9068 JWTs signed with Ed25519.
//!
//! These routes sit outside the console's session and CSRF layers: clients
//! authenticate with their own secret on every request, and a request body
//! here is never logged.

use std::collections::HashMap;

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine;
use serde::Serialize;
use serde_json::json;
use subtle::ConstantTimeEq;

use crate::auth::{throttle, token_limits};
use crate::domain::Plan;
use crate::domain::credential::Secret;
use crate::domain::ip::IpAllowlist;
use crate::http::meta::RequestMeta;
use crate::random;
use crate::state::AppState;
use crate::storage::audit::NewEvent;
use crate::storage::credentials::{ClientSecret, TokenClient};
use crate::storage::tokens::LAST_USED_EVERY_SECS;

/// Access tokens live one hour, as the reference guides say.
pub const TOKEN_LIFETIME_SECS: i64 = 3600;
pub const GRANT_TYPE: &str = "client_credentials";

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/oauth/token", post(token))
        .route("/oauth/introspect", post(introspect))
        .route("/oauth/revoke", post(revoke))
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
}

impl OAuthError {
    fn new(code: &'static str, description: impl Into<String>) -> Self {
        OAuthError {
            code,
            description: description.into(),
            basic: false,
            retry_after: None,
        }
    }

    fn invalid_client(basic: bool) -> Self {
        OAuthError {
            code: "invalid_client",
            description: "Client authentication failed.".to_owned(),
            basic,
            retry_after: None,
        }
    }

    fn too_many(retry_after: u64) -> Self {
        OAuthError {
            code: "too_many_requests",
            description: "Too many requests: slow down and retry after the time in Retry-After."
                .to_owned(),
            basic: false,
            retry_after: Some(retry_after),
        }
    }
}

fn no_store(response: &mut Response) {
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
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

/// The parameters of a form body, refusing repeated ones (RFC 6749 §3.2).
fn parse_form(headers: &HeaderMap, body: &[u8]) -> Result<HashMap<String, String>, OAuthError> {
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

/// Client credentials from `Authorization: Basic`, each part form-urldecoded
/// as RFC 6749 §2.3.1 requires. `Ok(None)` when there is no Basic header.
fn basic_credentials(headers: &HeaderMap) -> Result<Option<(String, String)>, OAuthError> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let text = value
        .to_str()
        .map_err(|_| OAuthError::invalid_client(true))?;
    let Some(encoded) = text
        .strip_prefix("Basic ")
        .or_else(|| text.strip_prefix("basic "))
    else {
        return Err(OAuthError::invalid_client(false));
    };
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .map_err(|_| OAuthError::invalid_client(true))?;
    let decoded = String::from_utf8(decoded).map_err(|_| OAuthError::invalid_client(true))?;
    let (id, secret) = decoded
        .split_once(':')
        .ok_or(OAuthError::invalid_client(true))?;
    let unescape = |s: &str| -> Result<String, OAuthError> {
        let pairs: Vec<(String, String)> = serde_urlencoded::from_str(&format!("v={s}"))
            .map_err(|_| OAuthError::invalid_client(true))?;
        Ok(pairs.into_iter().next().map(|(_, v)| v).unwrap_or_default())
    };
    Ok(Some((unescape(id)?, unescape(secret)?)))
}

#[derive(Serialize)]
struct TokenResponse {
    access_token: String,
    token_type: &'static str,
    expires_in: i64,
    scope: String,
}

/// RFC 9068 claims.
#[derive(Debug, Serialize, serde::Deserialize)]
pub struct Claims {
    pub iss: String,
    pub aud: String,
    pub sub: String,
    pub client_id: String,
    pub org: String,
    pub scope: String,
    pub iat: i64,
    pub exp: i64,
    pub jti: String,
}

fn client_id_shape(id: &str) -> bool {
    id.len() == 27 && id.starts_with("kwid_") && id[5..].bytes().all(|b| b.is_ascii_alphanumeric())
}

/// A client that proved it holds one of its live secrets.
struct Authenticated {
    client: TokenClient,
    secret_id: i64,
    secret_last_used: Option<i64>,
}

/// Client authentication shared by the three endpoints: HTTP Basic or form
/// fields, never both, never in the URL. A malformed secret or client ID is
/// refused before any database work; an unknown client ID costs the same
/// digest and comparison as a known one.
async fn authenticate(
    state: &AppState,
    meta: &RequestMeta,
    uri: &Uri,
    headers: &HeaderMap,
    params: &HashMap<String, String>,
) -> Result<Authenticated, OAuthError> {
    state
        .token_limits
        .check_ip(meta.ip)
        .map_err(OAuthError::too_many)?;
    let result = check_credentials(state, uri, headers, params).await;
    match result {
        Ok(authenticated) => {
            state
                .token_limits
                .check_client(&authenticated.client.client_id)
                .map_err(OAuthError::too_many)?;
            Ok(authenticated)
        }
        Err((error, attempted)) => {
            if error.code == "invalid_client" {
                return Err(failed(state, meta, attempted, error).await);
            }
            Err(error)
        }
    }
}

/// Counts a failed authentication (in the database, so every instance sees
/// it) and answers 429 once the client ID or the address has failed too
/// often. The audit log gets the first failure of a window and the moment
/// throttling starts, not one event per failure.
async fn failed(
    state: &AppState,
    meta: &RequestMeta,
    attempted: Option<TokenClient>,
    error: OAuthError,
) -> OAuthError {
    let now = state.now();
    let client_id = attempted
        .as_ref()
        .map(|c| c.client_id.clone())
        .unwrap_or_default();
    let client_key = token_limits::client_key(&client_id);
    let ip_key = token_limits::ip_key(meta.ip);
    let outcome = async {
        let (before, _) = state.db.failures_since(&client_key, now - token_limits::FAILURE_WINDOW_SECS).await?;
        throttle::record_failure(&state.db, &[&client_key, &ip_key], now).await?;
        let wait = token_limits::locked_out(&state.db, &client_key, &ip_key, now).await?;
        if let Some(client) = &attempted {
            let action = match before + 1 {
                1 => Some("token.auth_failed"),
                n if n == token_limits::MAX_FAILURES_PER_CLIENT => Some("token.throttled"),
                _ => None,
            };
            if let Some(action) = action {
                let event = NewEvent {
                    organization_id: Some(client.org_id),
                    actor_user_id: None,
                    actor: client.client_id.clone(),
                    action,
                    target: Some(client.client_id.clone()),
                    ip: Some(meta.ip.to_string()),
                    user_agent: meta.user_agent.clone(),
                    detail: json!({ "failures_in_window": before + 1, "window_seconds": token_limits::FAILURE_WINDOW_SECS }),
                };
                state.db.record(&event, now).await?;
            }
        }
        anyhow::Ok(wait)
    }
    .await;
    match outcome {
        Ok(Some(wait)) => OAuthError::too_many(wait.unsigned_abs()),
        Ok(None) => error,
        Err(e) => internal(e),
    }
}

/// The credential check itself; on failure also the client that was tried, if it exists.
async fn check_credentials(
    state: &AppState,
    uri: &Uri,
    headers: &HeaderMap,
    params: &HashMap<String, String>,
) -> Result<Authenticated, (OAuthError, Option<TokenClient>)> {
    if let Some(query) = uri.query() {
        let mut names = query
            .split('&')
            .map(|pair| pair.split('=').next().unwrap_or(""));
        if names.any(|k| k == "client_secret" || k == "client_id") {
            return Err((
                OAuthError::new(
                    "invalid_request",
                    "Send client credentials in the body or the Authorization header, never in the URL.",
                ),
                None,
            ));
        }
    }
    let basic = basic_credentials(headers).map_err(|e| (e, None))?;
    let form_id = params.get("client_id");
    let used_basic = basic.is_some();
    let (client_id, secret) = match (basic, params.get("client_secret")) {
        (Some(_), Some(_)) => {
            return Err((
                OAuthError::new(
                    "invalid_request",
                    "Use one client authentication method, not both.",
                ),
                None,
            ));
        }
        (Some((id, secret)), None) => {
            if form_id.is_some_and(|f| *f != id) {
                return Err((
                    OAuthError::new(
                        "invalid_request",
                        "client_id differs from the one in the Authorization header.",
                    ),
                    None,
                ));
            }
            (id, secret)
        }
        (None, Some(secret)) => match form_id {
            Some(id) => (id.clone(), secret.clone()),
            None => return Err((OAuthError::invalid_client(false), None)),
        },
        (None, None) => return Err((OAuthError::invalid_client(false), None)),
    };
    if !Secret::is_well_formed(&secret) || !client_id_shape(&client_id) {
        return Err((OAuthError::invalid_client(used_basic), None));
    }
    let digest = state.keys.secret_digest(&secret);
    let now = state.now();
    let client = state
        .db
        .token_client(&client_id)
        .await
        .map_err(|e| (internal(e), None))?;
    let dummy = [ClientSecret {
        id: 0,
        digest: "0".repeat(64),
        expires_at: None,
        last_used_at: None,
    }];
    let secrets: &[ClientSecret] = client.as_ref().map_or(&dummy, |c| &c.secrets);
    let mut matched: Option<&ClientSecret> = None;
    for candidate in secrets {
        let equal = bool::from(candidate.digest.as_bytes().ct_eq(digest.as_bytes()));
        if equal && candidate.expires_at.is_none_or(|t| t > now) {
            matched = Some(candidate);
        }
    }
    match (matched.map(|m| (m.id, m.last_used_at)), client) {
        (Some((secret_id, secret_last_used)), Some(client)) if secret_id != 0 => {
            Ok(Authenticated {
                client,
                secret_id,
                secret_last_used,
            })
        }
        (_, client) => Err((OAuthError::invalid_client(used_basic), client)),
    }
}

async fn token(
    State(state): State<AppState>,
    meta: RequestMeta,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, OAuthError> {
    let params = parse_form(&headers, &body)?;
    let grant_type = params
        .get("grant_type")
        .cloned()
        .ok_or_else(|| OAuthError::new("invalid_request", "grant_type is missing."))?;
    let Authenticated {
        client,
        secret_id,
        secret_last_used,
    } = authenticate(&state, &meta, &uri, &headers, &params).await?;
    let now = state.now();

    if grant_type != GRANT_TYPE {
        return Err(OAuthError::new(
            "unsupported_grant_type",
            "Only client_credentials is supported.",
        ));
    }
    if !client.enabled {
        return Err(OAuthError::new(
            "unauthorized_client",
            "This credential is disabled.",
        ));
    }
    if Plan::parse(&client.plan) != Some(Plan::Standard) {
        return Err(OAuthError::new(
            "unauthorized_client",
            "Trial organizations cannot use API credentials.",
        ));
    }
    if !IpAllowlist::from_stored(&client.ip_allowlist).allows(&meta.ip) {
        return Err(OAuthError::new(
            "unauthorized_client",
            format!(
                "Requests from {} are not allowed for this credential.",
                meta.ip
            ),
        ));
    }
    let granted: Vec<&str> = client.permissions.split_whitespace().collect();
    let scope = match params.get("scope") {
        None => granted.join(" "),
        Some(requested) => {
            let asked: Vec<&str> = requested.split_whitespace().collect();
            if asked.is_empty() || asked.iter().any(|s| !granted.contains(s)) {
                return Err(OAuthError::new(
                    "invalid_scope",
                    "The requested scope is empty or wider than the credential's permissions.",
                ));
            }
            granted
                .iter()
                .copied()
                .filter(|g| asked.contains(g))
                .collect::<Vec<_>>()
                .join(" ")
        }
    };

    let claims = Claims {
        iss: state.config.public_url.clone(),
        aud: state.config.audience.clone(),
        sub: client.client_id.clone(),
        client_id: client.client_id.clone(),
        org: client.org_id.to_string(),
        scope: scope.clone(),
        iat: now,
        exp: now + TOKEN_LIFETIME_SECS,
        jti: random::token(22),
    };
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::EdDSA);
    header.typ = Some("at+jwt".to_owned());
    header.kid = Some(state.keys.key_id().to_owned());
    let key = state.keys.encoding_key();
    let access_token = jsonwebtoken::encode(&header, &claims, key)
        .map_err(|e| internal(anyhow::anyhow!("signing: {e}")))?;
    // Last used: at most one write a minute per secret, decided without a read.
    if secret_last_used.is_none_or(|t| t <= now - LAST_USED_EVERY_SECS) {
        state
            .db
            .touch_secret(secret_id, &meta.ip.to_string(), now)
            .await
            .map_err(internal)?;
    }
    let mut response = Json(TokenResponse {
        access_token,
        token_type: "Bearer",
        expires_in: TOKEN_LIFETIME_SECS,
        scope,
    })
    .into_response();
    no_store(&mut response);
    Ok(response)
}

/// Verifies one of our access tokens: signature, `typ`, issuer, audience, expiry.
fn decode_token(state: &AppState, token: &str) -> Option<Claims> {
    let header = jsonwebtoken::decode_header(token).ok()?;
    if header.typ.as_deref() != Some("at+jwt") {
        return None;
    }
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::EdDSA);
    validation.set_issuer(&[state.config.public_url.as_str()]);
    validation.set_audience(&[state.config.audience.as_str()]);
    validation.leeway = 0;
    validation.validate_exp = false;
    let claims = jsonwebtoken::decode::<Claims>(token, &state.keys.decoding_key(), &validation)
        .ok()?
        .claims;
    // Expiry against the server's clock, which tests can move.
    (claims.exp > state.now()).then_some(claims)
}

/// Introspection and revocation both take an authenticated client and a `token`.
async fn authenticated_token_param(
    state: &AppState,
    meta: &RequestMeta,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<(Authenticated, String), OAuthError> {
    let params = parse_form(headers, body)?;
    let caller = authenticate(state, meta, uri, headers, &params).await?;
    let token = params
        .get("token")
        .cloned()
        .ok_or_else(|| OAuthError::new("invalid_request", "token is missing."))?;
    Ok((caller, token))
}

/// RFC 7662. Resource servers authenticate with a credential of the same
/// organization; a token is active while unexpired, unrevoked and its
/// credential exists (a disabled credential's tokens stay active until they
/// expire, as the reference guide says).
async fn introspect(
    State(state): State<AppState>,
    meta: RequestMeta,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, OAuthError> {
    let (caller, token) = authenticated_token_param(&state, &meta, &uri, &headers, &body).await?;
    let token = token.as_str();
    let inactive = || {
        let mut response = Json(json!({ "active": false })).into_response();
        no_store(&mut response);
        response
    };
    let Some(claims) = decode_token(&state, token) else {
        return Ok(inactive());
    };
    if claims.org != caller.client.org_id.to_string()
        || state.db.is_revoked(&claims.jti).await.map_err(internal)?
    {
        return Ok(inactive());
    }
    if state
        .db
        .token_client(&claims.client_id)
        .await
        .map_err(internal)?
        .is_none()
    {
        return Ok(inactive());
    }
    let mut response = Json(json!({
        "active": true,
        "scope": claims.scope,
        "client_id": claims.client_id,
        "token_type": "Bearer",
        "exp": claims.exp,
        "iat": claims.iat,
        "sub": claims.sub,
        "aud": claims.aud,
        "iss": claims.iss,
        "jti": claims.jti,
        "org": claims.org,
    }))
    .into_response();
    no_store(&mut response);
    Ok(response)
}

/// RFC 7009: the token's own client revokes it. The answer is 200 whether
/// the token was revoked, unknown, or another client's (left alone).
async fn revoke(
    State(state): State<AppState>,
    meta: RequestMeta,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, OAuthError> {
    let (caller, token) = authenticated_token_param(&state, &meta, &uri, &headers, &body).await?;
    let token = token.as_str();
    if let Some(claims) = decode_token(&state, token)
        && claims.client_id == caller.client.client_id
    {
        state
            .db
            .revoke_token(&claims.jti, &claims.client_id, claims.exp, state.now())
            .await
            .map_err(internal)?;
    }
    let mut response = StatusCode::OK.into_response();
    no_store(&mut response);
    Ok(response)
}

fn internal(error: anyhow::Error) -> OAuthError {
    tracing::error!(error = format!("{error:#}"), "token endpoint failed");
    OAuthError {
        code: "server_error",
        description: "The server could not complete the request.".to_owned(),
        basic: false,
        retry_after: None,
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
