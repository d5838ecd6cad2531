//! The management API, `/api/v1`: JSON, authenticated by a personal access
//! token (`Authorization: Bearer kwpat_…`), built on the same use cases as
//! the console, so the two cannot disagree about a rule. Errors are RFC 9457
//! problem details with a stable `type` per error.

mod credentials;
pub mod openapi;
mod org;
mod problem;
mod schema;
mod webhooks;

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{get, post};
use serde::de::DeserializeOwned;

pub use problem::Problem;

use crate::auth::api_limits::TokenQuota;
use crate::domain::api_token::TokenAccess;
use crate::http::meta::RequestMeta;
use crate::service::{self, Actor};
use crate::state::AppState;

/// JSON bodies are small: a credential's fields.
pub const BODY_LIMIT: usize = 16 * 1024;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/openapi.json", get(openapi::document))
        .route(
            "/api/v1/credentials",
            get(credentials::list).post(credentials::create),
        )
        .route(
            "/api/v1/credentials/{client_id}",
            get(credentials::get)
                .patch(credentials::update)
                .delete(credentials::delete),
        )
        .route(
            "/api/v1/credentials/{client_id}/rotate",
            post(credentials::rotate),
        )
        .route(
            "/api/v1/credentials/{client_id}/{action}",
            post(credentials::action),
        )
        .route("/api/v1/organization", get(org::organization))
        .route("/api/v1/members", get(org::members))
        .route("/api/v1/invitations", get(org::invitations))
        .route("/api/v1/audit-events", get(org::events))
        .route("/api/v1/requests", get(org::list_requests))
        .route("/api/v1/requests/{request_id}/reject", post(org::reject))
        .route(
            "/api/v1/requests/{request_id}/{action}",
            post(org::request_action),
        )
        .route(
            "/api/v1/webhooks",
            get(webhooks::list).post(webhooks::create),
        )
        .route(
            "/api/v1/webhooks/{webhook_id}",
            get(webhooks::get)
                .patch(webhooks::update)
                .delete(webhooks::delete),
        )
        .route(
            "/api/v1/webhooks/{webhook_id}/rotate-secret",
            post(webhooks::rotate_secret),
        )
        .route(
            "/api/v1/webhooks/{webhook_id}/test",
            post(webhooks::send_test),
        )
        .route(
            "/api/v1/webhooks/{webhook_id}/deliveries",
            get(webhooks::deliveries),
        )
        .route(
            "/api/v1/webhooks/{webhook_id}/deliveries/{delivery_id}/resend",
            post(webhooks::resend),
        )
        .layer(middleware::from_fn(rate_headers))
        .layer(axum::extract::DefaultBodyLimit::max(BODY_LIMIT))
}

/// The person a request's token stands for, in the token's organization.
pub struct ApiActor(pub Actor);

impl FromRequestParts<AppState> for ApiActor {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Problem> {
        let presented = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                let (scheme, token) = v.split_once(' ')?;
                scheme
                    .eq_ignore_ascii_case("bearer")
                    .then(|| token.trim().to_owned())
            })
            .ok_or_else(Problem::unauthorized)?;
        let Ok(meta) = RequestMeta::from_request_parts(parts, state).await;
        let actor = service::api_tokens::authenticate(state, &presented, meta.origin())
            .await
            .map_err(Problem::from)?;
        // One rate per person and organization, however many tokens they make.
        let quota = state
            .api_limits
            .check(&format!("{}:{}", actor.user, actor.org));
        let refused = quota.retry_after.is_some();
        if let Some(slot) = parts.extensions.get::<RateSlot>() {
            slot.fill(quota);
        }
        if refused {
            return Err(Problem::new(
                StatusCode::TOO_MANY_REQUESTS,
                "rate-limited",
                "Too many requests",
                "This token made too many requests. Wait for the time in Retry-After, then try again.",
            ));
        }
        // A read token changes nothing, whatever the operation (the use
        // cases refuse it under the lock as well).
        let reads =
            parts.method == axum::http::Method::GET || parts.method == axum::http::Method::HEAD;
        if !reads
            && actor
                .token
                .as_ref()
                .is_some_and(|t| t.access == TokenAccess::Read)
        {
            return Err(Problem::from(service::Error::ReadToken));
        }
        Ok(ApiActor(actor))
    }
}

/// Where the token's quota is left for [`rate_headers`] to tell the client.
#[derive(Clone, Default)]
pub struct RateSlot(Arc<Mutex<Option<TokenQuota>>>);

impl RateSlot {
    fn fill(&self, quota: TokenQuota) {
        if let Ok(mut slot) = self.0.lock() {
            *slot = Some(quota);
        }
    }
}

/// Adds `RateLimit-Policy`, `RateLimit` (and `Retry-After` when refused)
/// to the responses of requests that presented a valid token.
pub async fn rate_headers(mut request: Request, next: Next) -> Response {
    let slot = RateSlot::default();
    request.extensions_mut().insert(slot.clone());
    let mut response = next.run(request).await;
    let quota = slot.0.lock().ok().and_then(|mut s| s.take());
    if let Some(quota) = quota {
        let (policy, limit) = quota.headers();
        let headers = response.headers_mut();
        for (name, value) in [("ratelimit-policy", policy), ("ratelimit", limit)] {
            if let Ok(value) = HeaderValue::from_str(&value) {
                headers.insert(name, value);
            }
        }
        if let Some(wait) = quota.retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(wait));
        }
    }
    response
}

/// A JSON body whose rejections are problem details: unknown fields,
/// missing ones and wrong types name the field; other media types are 415.
/// It keeps a digest of the body as sent, which tells an idempotent retry
/// from a key reused for another request.
pub struct Json<T>(pub T, pub BodyDigest);

pub struct BodyDigest(pub String);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for Json<T> {
    type Rejection = Problem;

    async fn from_request(request: Request, state: &S) -> Result<Self, Problem> {
        let is_json = request
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| {
                let essence = v.split(';').next().unwrap_or("").trim();
                essence.eq_ignore_ascii_case("application/json")
            });
        if !is_json {
            return Err(Problem::unsupported_media_type());
        }
        let bytes = axum::body::Bytes::from_request(request, state)
            .await
            .map_err(|_| Problem::payload_too_large())?;
        let digest = {
            use sha2::{Digest, Sha256};
            crate::keys::to_hex(&Sha256::digest(&bytes))
        };
        // Every body this API takes is an object: serde would also read a
        // struct from an array of its fields in order, which no client means.
        if bytes.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'[') {
            return Err(Problem::new(
                StatusCode::BAD_REQUEST,
                "invalid-body",
                "Invalid JSON body",
                "The body is not valid for this operation: send a JSON object.",
            ));
        }
        let deserializer = &mut serde_json::Deserializer::from_slice(&bytes);
        serde_path_to_error::deserialize(deserializer)
            .map(|value| Json(value, BodyDigest(digest)))
            .map_err(|e| Problem::invalid_body(&e.path().to_string(), e.inner()))
    }
}

/// The `Idempotency-Key` of a request, with the digest of what it asks:
/// `None` without the header; a problem when the key is not 1 to 255
/// visible ASCII characters.
pub fn idempotency(
    headers: &axum::http::HeaderMap,
    operation: &str,
    body: &BodyDigest,
) -> Result<Option<service::Once>, Problem> {
    let Some(value) = headers.get("idempotency-key") else {
        return Ok(None);
    };
    let key = value
        .to_str()
        .ok()
        .filter(|k| (1..=255).contains(&k.len()) && k.bytes().all(|b| b.is_ascii_graphic()))
        .ok_or_else(|| {
            Problem::new(
                axum::http::StatusCode::BAD_REQUEST,
                "invalid-idempotency-key",
                "Invalid Idempotency-Key",
                "An Idempotency-Key is 1 to 255 visible ASCII characters, such as a UUID.",
            )
        })?;
    Ok(Some(service::Once {
        key: key.to_owned(),
        fingerprint: format!("{operation} {}", body.0),
    }))
}
