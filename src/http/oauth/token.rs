//! The token endpoint (RFC 6749 §4.4) and the access tokens it signs (RFC 9068).

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::random;
use crate::service::{self, tokens::Refusal};
use crate::state::AppState;
use crate::storage::tokens::{self, LAST_USED_EVERY_SECS};

use super::client_auth::{Authenticated, authenticate};
use super::{ClientRequest, OAuthError, internal, no_store};

/// Access tokens live one hour, as the reference guides say.
pub const TOKEN_LIFETIME_SECS: i64 = 3600;
pub const GRANT_TYPE: &str = "client_credentials";

#[derive(Serialize)]
pub(super) struct TokenResponse {
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

/// The token endpoint, its outcome counted for the metrics.
pub(super) async fn token(
    state: State<AppState>,
    request: ClientRequest,
) -> Result<Response, OAuthError> {
    let answer = issue(state, request).await;
    crate::telemetry::token_request(match &answer {
        Ok(_) => "issued",
        Err(error) => error.outcome(),
    });
    answer
}

async fn issue(
    State(state): State<AppState>,
    request: ClientRequest,
) -> Result<Response, OAuthError> {
    let (meta, params) = (&request.meta, &request.params);
    let grant_type = params
        .get("grant_type")
        .cloned()
        .ok_or_else(|| OAuthError::new("invalid_request", "grant_type is missing."))?;
    let Authenticated {
        client,
        secret_id,
        secret_last_used,
    } = authenticate(&state, &request).await?;
    let now = state.now();

    if grant_type != GRANT_TYPE {
        return Err(OAuthError::new(
            "unsupported_grant_type",
            "Only client_credentials is supported.",
        ));
    }
    let scope = service::tokens::grant(&client, meta.ip, params.get("scope").map(String::as_str))
        .map_err(|refusal| {
        let code = match refusal {
            Refusal::ScopeTooWide => "invalid_scope",
            _ => "unauthorized_client",
        };
        let error = OAuthError::new(code, refusal.to_string());
        match refusal {
            Refusal::AddressNotAllowed(_) => error.address_refused(),
            _ => error,
        }
    })?;

    let claims = Claims {
        iss: state.config.public_url.clone(),
        aud: state.config.audience.clone(),
        sub: client.client_id.to_string(),
        client_id: client.client_id.to_string(),
        org: client.org.to_string(),
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
        let mut conn = state.db.acquire().await.map_err(internal)?;
        tokens::touch_secret(&mut conn, secret_id, &meta.ip.to_string(), now)
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
pub(super) fn decode_token(state: &AppState, token: &str) -> Option<Claims> {
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
