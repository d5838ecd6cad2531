//! Every request gets an id: in the `X-Request-Id` header of its answer, in
//! every log line written while it runs, and on error pages, so a person
//! can quote it and an operator find the lines. An id a client sends is not
//! used: it could forge another request's.

use axum::extract::Request;
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::Response;

use crate::random;

/// The id of the request being handled, in its extensions.
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

tokio::task_local! {
    static CURRENT: String;
}

/// The id of the request this task is handling, if any.
pub fn current() -> Option<String> {
    CURRENT.try_with(Clone::clone).ok()
}

pub async fn assign(mut request: Request, next: Next) -> Response {
    let id = random::token(20);
    request.extensions_mut().insert(RequestId(id.clone()));
    let mut response = CURRENT.scope(id.clone(), next.run(request)).await;
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert("x-request-id", value);
    }
    response
}
