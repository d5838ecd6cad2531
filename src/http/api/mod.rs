//! The management API, `/api/v1`: JSON, authenticated by a personal access
//! token (`Authorization: Bearer kwpat_…`), built on the same use cases as
//! the console, so the two cannot disagree about a rule. Errors are RFC 9457
//! problem details with a stable `type` per error.

mod credentials;
pub mod openapi;
mod org;
mod problem;
mod schema;

use axum::Router;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::header;
use axum::http::request::Parts;
use axum::routing::{get, post};
use serde::de::DeserializeOwned;

pub use problem::Problem;

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
        .route("/api/v1/organization", get(credentials::organization))
        .route("/api/v1/members", get(org::members))
        .route("/api/v1/audit-events", get(org::events))
        .route("/api/v1/requests", get(org::list_requests))
        .route("/api/v1/requests/{request_id}/reject", post(org::reject))
        .route(
            "/api/v1/requests/{request_id}/{action}",
            post(org::request_action),
        )
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
        service::api_tokens::authenticate(state, &presented, meta.origin())
            .await
            .map(ApiActor)
            .map_err(Problem::from)
    }
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
            let hash = Sha256::digest(&bytes);
            hash.iter().map(|b| format!("{b:02x}")).collect()
        };
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
