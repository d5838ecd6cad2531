//! A `Form` extractor whose rejections are clear messages, not framework text.
//! It reads repeated fields (`perm_type=a&perm_type=b`) into `Vec`s, which
//! the permission rows of the credential dialogs need.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::header;
use serde::de::DeserializeOwned;

use crate::http::error::AppError;

pub struct Form<T>(pub T);

impl<S, T> FromRequest<S> for Form<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = AppError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let is_form = request
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
        if !is_form {
            return Err(AppError::BadRequest(
                "Send this form as application/x-www-form-urlencoded.".to_owned(),
            ));
        }
        let bytes = Bytes::from_request(request, state)
            .await
            .map_err(|_| AppError::PayloadTooLarge)?;
        serde_html_form::from_bytes(&bytes).map(Form).map_err(|_| {
            AppError::BadRequest("Some fields of this form were missing or malformed. Reload the page and try again.".to_owned())
        })
    }
}
