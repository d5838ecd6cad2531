//! `POST /leaks/github`: GitHub's secret scanning partner program reports
//! Keyward secrets it found in public places. Each report is verified
//! against the configured public keys before anything is read; the answer
//! labels each token as the program defines (`true_positive` for a live
//! Keyward secret, whose credential is now disabled).

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::service::leaks::{self, Found};
use crate::state::AppState;

/// At most this many matches in one report.
const MAX_MATCHES: usize = 1000;

pub fn router() -> Router<AppState> {
    Router::new().route("/leaks/github", post(github))
}

#[derive(Deserialize)]
struct Match {
    token: String,
    #[serde(rename = "type", default)]
    token_type: String,
    #[serde(default)]
    url: String,
    #[serde(default)]
    source: String,
}

#[derive(Serialize)]
struct Feedback {
    token_hash: String,
    token_type: String,
    label: &'static str,
}

fn refuse(status: StatusCode, message: &str) -> Response {
    (
        status,
        axum::Json(serde_json::json!({ "message": message })),
    )
        .into_response()
}

async fn github(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let Some(keys) = state.leak_keys.clone() else {
        return refuse(
            StatusCode::NOT_FOUND,
            "The leak intake is not configured on this server.",
        );
    };
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    };
    let (key_id, signature) = (
        header("github-public-key-identifier"),
        header("github-public-key-signature"),
    );
    if key_id.is_empty() || signature.is_empty() || !keys.verify(key_id, signature, &body) {
        return refuse(
            StatusCode::UNAUTHORIZED,
            "The report is not signed by a known GitHub secret scanning key.",
        );
    }
    let Ok(matches) = serde_json::from_slice::<Vec<Match>>(&body) else {
        return refuse(
            StatusCode::BAD_REQUEST,
            "Expected a JSON array of {token, type, url, source}.",
        );
    };
    if matches.len() > MAX_MATCHES {
        return refuse(
            StatusCode::PAYLOAD_TOO_LARGE,
            "At most 1000 matches per report.",
        );
    }
    let mut feedback = Vec::with_capacity(matches.len());
    for m in &matches {
        let found = Found {
            token: &m.token,
            token_type: &m.token_type,
            url: &m.url,
            source: &m.source,
        };
        let live = match leaks::report(&state, &found).await {
            Ok(live) => live,
            Err(error) => {
                tracing::error!(error = %error, "a leak report failed");
                return refuse(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "The report could not be handled; send it again.",
                );
            }
        };
        feedback.push(Feedback {
            token_hash: crate::keys::to_hex(&Sha256::digest(m.token.as_bytes())),
            token_type: m.token_type.clone(),
            label: if live {
                "true_positive"
            } else {
                "false_positive"
            },
        });
    }
    (StatusCode::OK, axum::Json(feedback)).into_response()
}
