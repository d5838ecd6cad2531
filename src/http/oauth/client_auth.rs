//! Client authentication, shared by the three endpoints: HTTP Basic or form
//! fields, counted and throttled when it fails.

use axum::http::{HeaderMap, header};
use base64::Engine;
use serde_json::json;
use subtle::ConstantTimeEq;

use crate::auth::{throttle, token_limits};
use crate::domain::credential::Secret;
use crate::domain::{AuditAction, ClientId, SecretId};
use crate::http::meta::RequestMeta;
use crate::service;
use crate::state::AppState;
use crate::storage::audit::NewEvent;
use crate::storage::credentials::{ClientSecret, TokenClient};
use crate::storage::{audit, credentials};

use super::{ClientRequest, OAuthError, internal};

/// Client credentials from `Authorization: Basic`, each part form-urldecoded
/// as RFC 6749 §2.3.1 requires. `Ok(None)` when there is no Basic header.
pub(super) fn basic_credentials(
    headers: &HeaderMap,
) -> Result<Option<(String, String)>, OAuthError> {
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

/// A client that proved it holds one of its live secrets.
pub(super) struct Authenticated {
    pub client: TokenClient,
    pub secret_id: SecretId,
    pub secret_last_used: Option<i64>,
}

/// Client authentication shared by the three endpoints: HTTP Basic or form
/// fields, never both, never in the URL. A malformed secret or client ID is
/// refused before any database work; an unknown client ID costs the same
/// digest and comparison as a known one.
pub(super) async fn authenticate(
    state: &AppState,
    request: &ClientRequest,
) -> Result<Authenticated, OAuthError> {
    let meta = &request.meta;
    state
        .token_limits
        .check_ip(meta.ip)
        .map_err(OAuthError::too_many)?;
    let result = check_credentials(state, request).await;
    match result {
        Ok(authenticated) => {
            state
                .token_limits
                .check_client(authenticated.client.client_id.as_str())
                .map_err(OAuthError::too_many)?;
            // The same rules for every endpoint: a credential that may not get
            // a token may not introspect or revoke one either.
            // Past its expiry date a credential authenticates no more.
            if authenticated
                .client
                .expires
                .is_some_and(|at| at <= state.now())
            {
                return Err(OAuthError::new(
                    "invalid_client",
                    "This credential has expired. Ask an owner of its organization for a new one.",
                ));
            }
            if let Err(refusal) = service::tokens::may_use(&authenticated.client, meta.ip) {
                if let service::tokens::Refusal::AddressNotAllowed(ip) = refusal {
                    address_refused(state, meta, &authenticated.client, ip)
                        .await
                        .map_err(internal)?;
                }
                let error = OAuthError::new("unauthorized_client", refusal.to_string());
                return Err(match refusal {
                    service::tokens::Refusal::AddressNotAllowed(_) => error.address_refused(),
                    _ => error,
                });
            }
            Ok(authenticated)
        }
        Err((error, attempt)) => {
            if error.code == "invalid_client" {
                return Err(failed(state, meta, attempt, error).await);
            }
            Err(error)
        }
    }
}

/// Counts a failed authentication (in the database, so every instance sees
/// it) and answers 429 once the client ID or the address has failed too
/// often. The audit log gets the first failure of a window and the moment
/// throttling starts, not one event per failure.
pub(super) async fn failed(
    state: &AppState,
    meta: &RequestMeta,
    attempt: Attempt,
    error: OAuthError,
) -> OAuthError {
    let now = state.now();
    let client_key = attempt.presented.as_ref().map(token_limits::client_key);
    let ip_key = token_limits::ip_key(meta.ip);
    let outcome = async {
        let mut conn = state.db.acquire().await?;
        let before = match &client_key {
            Some(key) => {
                let since = now - token_limits::FAILURE_WINDOW_SECS;
                crate::storage::throttle::failures_since(&mut conn, key, since).await?.0
            }
            None => 0,
        };
        let mut keys = vec![ip_key.as_str()];
        keys.extend(client_key.as_deref());
        throttle::record_failure(&mut conn, &keys, now).await?;
        let wait = token_limits::locked_out(&mut conn, client_key.as_deref(), &ip_key, now).await?;
        if let Some(client) = &attempt.client {
            // The first failure of the window that reached the credential
            // (one refused on its shape alone never named it in the log),
            // and the moment throttling starts.
            let target = client.client_id.to_string();
            let window_start = now - token_limits::FAILURE_WINDOW_SECS;
            let n = before + 1;
            let action = if n == token_limits::MAX_FAILURES_PER_CLIENT {
                Some(AuditAction::TokenThrottled)
            } else if n > token_limits::MAX_FAILURES_PER_CLIENT {
                None
            } else if n == 1
                || !audit::recorded_after(
                    &mut conn,
                    client.org,
                    AuditAction::TokenAuthFailed,
                    &target,
                    window_start,
                )
                .await?
            {
                Some(AuditAction::TokenAuthFailed)
            } else {
                None
            };
            if let Some(action) = action {
                let event = NewEvent {
                    organization_id: Some(client.org),
                    actor_user_id: None,
                    actor: target.clone(),
                    action,
                    target: Some(target),
                    ip: Some(meta.ip.to_string()),
                    user_agent: meta.user_agent.clone(),
                    detail: json!({ "failures_in_window": n, "window_seconds": token_limits::FAILURE_WINDOW_SECS }),
                };
                service::audit::record(&mut conn, &event, now).await?;
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

/// Records that a credential was used from an address outside its
/// allowlist: once per credential per hour, however often it is tried, so a
/// misconfigured client cannot flood the audit log or the webhooks.
async fn address_refused(
    state: &AppState,
    meta: &RequestMeta,
    client: &TokenClient,
    ip: std::net::IpAddr,
) -> anyhow::Result<()> {
    let now = state.now();
    let mut conn = state.db.acquire().await?;
    let action = AuditAction::TokenAddressRefused;
    let target = client.client_id.to_string();
    if audit::recorded_after(&mut conn, client.org, action, &target, now - 3600).await? {
        return Ok(());
    }
    let event = NewEvent {
        organization_id: Some(client.org),
        actor_user_id: None,
        actor: target.clone(),
        action,
        target: Some(target),
        ip: Some(meta.ip.to_string()),
        user_agent: meta.user_agent.clone(),
        detail: json!({ "address": ip.to_string() }),
    };
    service::audit::record(&mut conn, &event, now).await
}

/// What a failed authentication tried: the client ID it presented, when that
/// had the shape of one, and that client, when it exists.
#[derive(Default)]
pub(super) struct Attempt {
    presented: Option<ClientId>,
    client: Option<TokenClient>,
}

/// The credential check itself; on failure also what was tried.
pub(super) async fn check_credentials(
    state: &AppState,
    request: &ClientRequest,
) -> Result<Authenticated, (OAuthError, Attempt)> {
    let (headers, params) = (&request.headers, &request.params);
    if let Some(query) = request.uri.query() {
        let mut names = query
            .split('&')
            .map(|pair| pair.split('=').next().unwrap_or(""));
        if names.any(|k| k == "client_secret" || k == "client_id") {
            return Err((
                OAuthError::new(
                    "invalid_request",
                    "Send client credentials in the body or the Authorization header, never in the URL.",
                ),
                Attempt::default(),
            ));
        }
    }
    let basic = basic_credentials(headers).map_err(|e| (e, Attempt::default()))?;
    let form_id = params.get("client_id");
    let used_basic = basic.is_some();
    let (client_id, secret) = match (basic, params.get("client_secret")) {
        (Some(_), Some(_)) => {
            return Err((
                OAuthError::new(
                    "invalid_request",
                    "Use one client authentication method, not both.",
                ),
                Attempt::default(),
            ));
        }
        (Some((id, secret)), None) => {
            if form_id.is_some_and(|f| *f != id) {
                return Err((
                    OAuthError::new(
                        "invalid_request",
                        "client_id differs from the one in the Authorization header.",
                    ),
                    Attempt::default(),
                ));
            }
            (id, secret)
        }
        (None, Some(secret)) => match form_id {
            Some(id) => (id.clone(), secret.clone()),
            None => return Err((OAuthError::invalid_client(false), Attempt::default())),
        },
        (None, None) => return Err((OAuthError::invalid_client(false), Attempt::default())),
    };
    let presented = ClientId::parse(&client_id);
    let (Some(client_id), true) = (presented.clone(), Secret::is_well_formed(&secret)) else {
        let attempt = Attempt {
            presented,
            client: None,
        };
        return Err((OAuthError::invalid_client(used_basic), attempt));
    };
    let digest = state.keys.secret_digest(&secret);
    let now = state.now();
    let client = token_client(state, &client_id)
        .await
        .map_err(|e| (internal(e), Attempt::default()))?;
    let dummy = [ClientSecret {
        id: SecretId(0),
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
        (Some((secret_id, secret_last_used)), Some(client)) if secret_id != SecretId(0) => {
            Ok(Authenticated {
                client,
                secret_id,
                secret_last_used,
            })
        }
        (_, client) => {
            let attempt = Attempt {
                presented: Some(client_id),
                client,
            };
            Err((OAuthError::invalid_client(used_basic), attempt))
        }
    }
}

/// Introspection and revocation both take an authenticated client and a `token`.
pub(super) async fn authenticated_token_param(
    state: &AppState,
    request: &ClientRequest,
) -> Result<(Authenticated, String), OAuthError> {
    let caller = authenticate(state, request).await?;
    let token = request
        .params
        .get("token")
        .cloned()
        .ok_or_else(|| OAuthError::new("invalid_request", "token is missing."))?;
    Ok((caller, token))
}

/// The client and its secrets.
pub(super) async fn token_client(
    state: &AppState,
    client_id: &ClientId,
) -> anyhow::Result<Option<TokenClient>> {
    let mut conn = state.db.acquire().await?;
    credentials::token_client(&mut conn, client_id).await
}
