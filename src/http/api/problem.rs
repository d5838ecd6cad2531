//! RFC 9457 problem details: `application/problem+json` with a stable `type`
//! per error, the message a person reads in `detail`, and for a bad field
//! its name in `errors`.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use crate::service::Error;

/// Where the `type` URIs point: the README's list of errors.
const TYPE_BASE: &str = "https://keyward.dev/problems/";

/// A field that failed its check.
#[derive(Debug, Serialize, ToSchema)]
pub struct FieldProblem {
    pub field: String,
    pub message: String,
}

/// An RFC 9457 problem: `type` is stable per error, `detail` is for people.
#[derive(Debug, Serialize, ToSchema)]
pub struct Problem {
    #[serde(rename = "type")]
    #[schema(example = "https://keyward.dev/problems/limit-reached")]
    pub kind: String,
    #[schema(value_type = String)]
    pub title: &'static str,
    pub status: u16,
    pub detail: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldProblem>,
    /// For a replayed Idempotency-Key: what the first request made and when.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replay: Option<Box<Replay>>,
}

/// What the first request with an Idempotency-Key made.
#[derive(Debug, Serialize, ToSchema)]
pub struct Replay {
    /// A client ID, or the ID of a request made instead.
    pub result: String,
    /// RFC 3339.
    pub created_at: String,
}

impl Problem {
    pub fn new(
        status: StatusCode,
        slug: &str,
        title: &'static str,
        detail: impl Into<String>,
    ) -> Problem {
        Problem {
            kind: format!("{TYPE_BASE}{slug}"),
            title,
            status: status.as_u16(),
            detail: detail.into(),
            errors: Vec::new(),
            replay: None,
        }
    }

    pub fn unauthorized() -> Problem {
        Problem::from(Error::TokenInvalid)
    }

    pub fn not_found() -> Problem {
        Problem::from(Error::NotFound)
    }

    pub fn unsupported_media_type() -> Problem {
        Problem::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported-media-type",
            "Unsupported media type",
            "Send the body as application/json.",
        )
    }

    pub fn payload_too_large() -> Problem {
        Problem::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload-too-large",
            "Body too large",
            "The JSON body is larger than 16 KiB.",
        )
    }

    /// A body that is not the JSON this operation takes: `path` names the field.
    pub fn invalid_body(path: &str, error: &serde_json::Error) -> Problem {
        let field = if path == "." {
            String::new()
        } else {
            path.to_owned()
        };
        // serde's message names the expected type or the unknown field; its
        // position in the body is left out.
        let message = error.to_string();
        let message = message
            .split(" at line ")
            .next()
            .unwrap_or(&message)
            .to_owned();
        let mut problem = Problem::new(
            StatusCode::BAD_REQUEST,
            "invalid-body",
            "Invalid JSON body",
            format!("The body is not valid for this operation: {message}."),
        );
        if !field.is_empty() {
            problem.errors.push(FieldProblem { field, message });
        }
        problem
    }

    /// One or more fields failed their checks.
    pub fn validation(errors: Vec<FieldProblem>) -> Problem {
        let detail = errors
            .first()
            .map(|e| e.message.clone())
            .unwrap_or_default();
        let mut problem = Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation",
            "Invalid field",
            detail,
        );
        problem.errors = errors;
        problem
    }
}

impl From<Error> for Problem {
    fn from(error: Error) -> Problem {
        use StatusCode as S;
        let (status, slug, title) = match &error {
            Error::TokenInvalid => (S::UNAUTHORIZED, "invalid-token", "Invalid token"),
            Error::NotFound => (S::NOT_FOUND, "not-found", "Not found"),
            Error::LimitReached => (S::CONFLICT, "limit-reached", "Credential limit reached"),
            Error::NameTaken => (S::CONFLICT, "name-taken", "Name taken"),
            Error::PrimaryCannotBeDeleted => (
                S::CONFLICT,
                "primary-cannot-be-deleted",
                "Primary credential",
            ),
            Error::TrialPlan => (S::FORBIDDEN, "trial-plan", "Not on the Trial plan"),
            Error::JustificationRequired | Error::WideningNeedsApproval => (
                S::UNPROCESSABLE_ENTITY,
                "justification-required",
                "Approval needs a justification",
            ),
            Error::Busy => (S::SERVICE_UNAVAILABLE, "busy", "Busy"),
            Error::ExpiryRequired(_) | Error::ExpiryTooFar(_) => {
                let message = error.to_string();
                return Problem::validation(vec![FieldProblem {
                    field: "expires_on".to_owned(),
                    message,
                }]);
            }
            Error::TooManyWebhooks => (S::CONFLICT, "webhook-limit", "Webhook limit reached"),
            Error::WebhookDisabled => (S::CONFLICT, "webhook-disabled", "Webhook disabled"),
            Error::WebhookSendRate { .. } | Error::WebhookBacklog => (
                S::TOO_MANY_REQUESTS,
                "webhook-sends-limited",
                "Too many test events or resends",
            ),
            Error::Stale => (S::PRECONDITION_FAILED, "stale", "Changed since read"),
            Error::ReadToken => (S::FORBIDDEN, "read-token", "Read token"),
            Error::AlreadyDone { .. } => (S::CONFLICT, "idempotent-replay", "Done already"),
            Error::KeyReused => (
                S::UNPROCESSABLE_ENTITY,
                "idempotency-key-reused",
                "Idempotency-Key reused",
            ),
            Error::Internal(e) => {
                tracing::error!(error = %e, "API request failed");
                return Problem::new(
                    S::INTERNAL_SERVER_ERROR,
                    "internal",
                    "Internal error",
                    "Something went wrong on our side. Try again; if it persists, tell the people who run this Keyward server.",
                );
            }
            Error::AlreadyDecided(_)
            | Error::NotApproved(_)
            | Error::NotCancellable(_)
            | Error::LastOwner
            | Error::AlreadyMember(_) => (S::CONFLICT, "conflict", "Conflict"),
            _ => (S::FORBIDDEN, "forbidden", "Forbidden"),
        };
        let mut problem = Problem::new(status, slug, title, error.to_string());
        if let Error::AlreadyDone { result, at } = error {
            problem.replay = Some(Box::new(Replay {
                result,
                created_at: at,
            }));
        }
        problem
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let unauthorized = status == StatusCode::UNAUTHORIZED;
        let body = serde_json::to_vec(&self).unwrap_or_default();
        let mut response = (status, body).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if unauthorized {
            headers.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"keyward\", error=\"invalid_token\""),
            );
        }
        response
    }
}
