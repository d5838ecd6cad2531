//! Introspection (RFC 7662) and revocation (RFC 7009), for resource servers
//! and clients holding a token.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::domain::ClientId;
use crate::state::AppState;
use crate::storage::tokens::{self};

use super::client_auth::{authenticated_token_param, token_client};
use super::token::decode_token;
use super::{ClientRequest, OAuthError, internal, no_store};

/// RFC 7662. Resource servers authenticate with a credential of the same
/// organization; a token is active while unexpired, unrevoked and its
/// credential exists (a disabled credential's tokens stay active until they
/// expire, as the reference guide says), unless its secret was reported
/// leaked after the token was issued.
pub(super) async fn introspect(
    State(state): State<AppState>,
    request: ClientRequest,
) -> Result<Response, OAuthError> {
    let (caller, token) = authenticated_token_param(&state, &request).await?;
    let token = token.as_str();
    let inactive = || {
        let mut response = Json(json!({ "active": false })).into_response();
        no_store(&mut response);
        response
    };
    let Some(claims) = decode_token(&state, token) else {
        return Ok(inactive());
    };
    let mut conn = state.db.acquire().await.map_err(internal)?;
    if claims.org != caller.client.org.to_string()
        || tokens::is_revoked(&mut conn, &claims.jti)
            .await
            .map_err(internal)?
    {
        return Ok(inactive());
    }
    drop(conn);
    let client = match ClientId::parse(&claims.client_id) {
        Some(id) => token_client(&state, &id).await.map_err(internal)?,
        None => None,
    };
    let live = client.is_some_and(|c| c.tokens_before.is_none_or(|before| claims.iat > before));
    if !live {
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
pub(super) async fn revoke(
    State(state): State<AppState>,
    request: ClientRequest,
) -> Result<Response, OAuthError> {
    let (caller, token) = authenticated_token_param(&state, &request).await?;
    let token = token.as_str();
    if let Some(claims) = decode_token(&state, token)
        && claims.client_id == caller.client.client_id.as_str()
    {
        let mut conn = state.db.acquire().await.map_err(internal)?;
        tokens::revoke(
            &mut conn,
            &claims.jti,
            &caller.client.client_id,
            claims.exp,
            state.now(),
        )
        .await
        .map_err(internal)?;
    }
    let mut response = StatusCode::OK.into_response();
    no_store(&mut response);
    Ok(response)
}
