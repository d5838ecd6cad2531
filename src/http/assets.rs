//! Static files, compiled into the binary so it runs from anywhere. Only these
//! are compressed: compressing pages that hold a CSRF token or a secret next to
//! reflected input would open them to BREACH-style attacks.

use axum::Router;
use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tower_http::compression::CompressionLayer;

use crate::state::AppState;

pub const HTMX_FILE: &str = "vendor/htmx-2.0.11.min.js";

struct Asset {
    path: &'static str,
    body: &'static [u8],
    content_type: &'static str,
    cache: &'static str,
}

const JS: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";
/// The app's own files may change between builds without changing their name.
const SHORT: &str = "public, max-age=300";
/// The vendored file carries its version in its name.
const IMMUTABLE: &str = "public, max-age=31536000, immutable";

const ASSETS: &[Asset] = &[
    Asset {
        path: "app.css",
        body: include_bytes!("../../static/app.css"),
        content_type: CSS,
        cache: SHORT,
    },
    Asset {
        path: "app.js",
        body: include_bytes!("../../static/app.js"),
        content_type: JS,
        cache: SHORT,
    },
    Asset {
        path: HTMX_FILE,
        body: include_bytes!("../../static/vendor/htmx-2.0.11.min.js"),
        content_type: JS,
        cache: IMMUTABLE,
    },
];

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/static/{*path}", get(serve))
        .layer(CompressionLayer::new())
}

async fn serve(Path(path): Path<String>) -> Response {
    let Some(asset) = ASSETS.iter().find(|a| a.path == path) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static(asset.content_type),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static(asset.cache)),
        ],
        asset.body,
    )
        .into_response()
}
