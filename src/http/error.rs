//! One error type for every handler. Each variant becomes a response a person
//! understands; internal details go to the log only.

use askama::Template;
use askama_web::WebTemplate;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};

use crate::service;

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("not signed in")]
    SignedOut,
    #[error("forbidden: {0}")]
    Forbidden(String),
    #[error("not found")]
    NotFound,
    #[error("bad request: {0}")]
    BadRequest(String),
    #[error("request body too large")]
    PayloadTooLarge,
    #[error("too many requests")]
    TooManyRequests { retry_after: i64, message: String },
    #[error("server busy")]
    Busy,
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

/// Marks the redirect to sign-in, which htmx requests get as `HX-Redirect`.
#[derive(Clone, Copy)]
pub struct ToSignIn;

#[derive(Template, WebTemplate)]
#[template(path = "error.html")]
pub struct ErrorPage {
    pub title: String,
    pub message: String,
    /// The request's id, for the person to quote to support.
    pub request_id: String,
}

/// The same error as a dialog, for htmx requests: errors show where the
/// person is working, never as a page swapped into a dialog.
#[derive(Template)]
#[template(path = "error_dialog.html")]
pub struct ErrorDialog {
    pub title: String,
    pub message: String,
    pub request_id: String,
}

/// What an error response says, kept so the htmx layer can re-render it.
#[derive(Clone)]
pub struct ErrorInfo {
    pub title: String,
    pub message: String,
}

impl AppError {
    /// The error a status produced by a layer (not a handler) stands for.
    pub fn for_status(status: StatusCode) -> (StatusCode, &'static str, &'static str) {
        match status {
            StatusCode::NOT_FOUND => (
                status,
                "Page not found",
                "There is nothing at this address.",
            ),
            StatusCode::METHOD_NOT_ALLOWED => (
                status,
                "Not allowed",
                "This address does not accept that kind of request.",
            ),
            StatusCode::FORBIDDEN => (
                status,
                "Request refused",
                "This request came from another site or its form had expired, so it was refused. Reload the page and try again.",
            ),
            StatusCode::PAYLOAD_TOO_LARGE => (
                status,
                "Request too large",
                "What you sent is larger than Keyward accepts. Shorten it and try again.",
            ),
            StatusCode::REQUEST_TIMEOUT => (
                status,
                "Request timed out",
                "The server took too long to answer. Try again.",
            ),
            StatusCode::UNSUPPORTED_MEDIA_TYPE => (
                status,
                "Unsupported request",
                "Send the form as a normal web form.",
            ),
            s if s.is_client_error() => (
                s,
                "Request not understood",
                "The request could not be understood. Reload the page and try again.",
            ),
            _ => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "Something went wrong",
                "Keyward could not complete the request. It has been logged; try again in a moment.",
            ),
        }
    }
}

pub fn error_page(status: StatusCode, title: &str, message: &str) -> Response {
    let page = ErrorPage {
        title: title.to_owned(),
        message: message.to_owned(),
        request_id: crate::http::request_id::current().unwrap_or_default(),
    };
    let mut response = (status, page).into_response();
    response.extensions_mut().insert(ErrorInfo {
        title: title.to_owned(),
        message: message.to_owned(),
    });
    response
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        match self {
            AppError::SignedOut => {
                let mut response = Redirect::to("/login").into_response();
                response.extensions_mut().insert(ToSignIn);
                response
            }
            AppError::Forbidden(message) => {
                error_page(StatusCode::FORBIDDEN, "Not allowed", &message)
            }
            AppError::NotFound => error_page(
                StatusCode::NOT_FOUND,
                "Not found",
                "There is nothing here, or it was deleted.",
            ),
            AppError::BadRequest(message) => {
                error_page(StatusCode::BAD_REQUEST, "Request not understood", &message)
            }
            AppError::PayloadTooLarge => {
                let (status, title, message) = AppError::for_status(StatusCode::PAYLOAD_TOO_LARGE);
                error_page(status, title, message)
            }
            AppError::TooManyRequests {
                retry_after,
                message,
            } => {
                let mut response =
                    error_page(StatusCode::TOO_MANY_REQUESTS, "Too many attempts", &message);
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(retry_after));
                response
            }
            AppError::Busy => {
                let mut response = error_page(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "Busy",
                    "Keyward is handling many sign-ins right now. Try again in a few seconds.",
                );
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(5));
                response
            }
            AppError::Internal(error) => {
                tracing::error!(error = format!("{error:#}"), "request failed");
                let (status, title, message) =
                    AppError::for_status(StatusCode::INTERNAL_SERVER_ERROR);
                error_page(status, title, message)
            }
        }
    }
}

/// What a refused use case looks like in the console, when the handler has
/// no better place (a field, a dialog) to show it.
impl From<service::Error> for AppError {
    fn from(error: service::Error) -> Self {
        use service::Error as E;
        match error {
            E::NotFound => AppError::NotFound,
            E::Busy => AppError::Busy,
            E::Internal(error) => AppError::Internal(error),
            refused @ E::SignInThrottled { retry_after } => AppError::TooManyRequests {
                retry_after,
                message: refused.to_string(),
            },
            refused => AppError::Forbidden(refused.to_string()),
        }
    }
}

impl From<tower_sessions::session::Error> for AppError {
    fn from(error: tower_sessions::session::Error) -> Self {
        AppError::Internal(anyhow::anyhow!("session store: {error}"))
    }
}

impl From<sqlx::Error> for AppError {
    fn from(error: sqlx::Error) -> Self {
        AppError::Internal(error.into())
    }
}

pub type AppResult<T> = Result<T, AppError>;
