//! `/api/v1/webhooks`: the operations of Settings > Webhooks, for owners'
//! tokens.

use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::credentials::{json, problem_fields};
use super::{ApiActor, Json, Problem};
use crate::domain::ids::{DeliveryId, WebhookId};
use crate::domain::iso_time;
use crate::domain::webhook;
use crate::service::webhooks::{self as use_case, Draft, Patch};
use crate::state::AppState;
use crate::storage::webhooks::{Delivery, Endpoint};

type ApiResult = Result<Response, Problem>;

/// A webhook endpoint. Its signing secret is never shown again after it was made.
#[derive(Serialize, ToSchema)]
#[schema(as = Webhook)]
pub struct WebhookJson {
    id: i64,
    url: String,
    description: String,
    events: Vec<&'static str>,
    enabled: bool,
    /// When deliveries started failing in a row; `null` while they succeed.
    failing_since: Option<String>,
    /// After a rotation, the previous secret also signs until then.
    previous_secret_until: Option<String>,
    created_at: String,
}

impl WebhookJson {
    fn new(endpoint: Endpoint, now: i64) -> WebhookJson {
        WebhookJson {
            id: endpoint.id.0,
            events: endpoint.events.iter().map(|t| t.key()).collect(),
            url: endpoint.url,
            description: endpoint.description,
            enabled: endpoint.enabled,
            failing_since: endpoint.failing_since.map(iso_time),
            previous_secret_until: endpoint
                .previous_until
                .filter(|until| *until > now)
                .map(iso_time),
            created_at: iso_time(endpoint.created_at),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct WebhookList {
    data: Vec<WebhookJson>,
}

/// A new webhook, or one whose secret was just rotated: the signing secret,
/// in this response only.
#[derive(Serialize, ToSchema)]
pub struct WebhookWithSecret {
    #[serde(flatten)]
    webhook: WebhookJson,
    /// `whsec_…`: verify deliveries with it (Standard Webhooks).
    signing_secret: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewWebhook {
    #[schema(schema_with = super::schema::webhook_url)]
    url: String,
    #[serde(default)]
    #[schema(schema_with = super::schema::webhook_description)]
    description: Option<String>,
    #[schema(schema_with = super::schema::webhook_events)]
    events: Vec<String>,
    /// Default true.
    #[serde(default)]
    enabled: Option<bool>,
}

/// The fields to change; those left out keep their value.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WebhookChange {
    #[serde(default)]
    #[schema(schema_with = super::schema::webhook_url_change)]
    url: Option<String>,
    #[serde(default)]
    #[schema(schema_with = super::schema::webhook_description)]
    description: Option<String>,
    #[serde(default)]
    #[schema(schema_with = super::schema::webhook_events_change)]
    events: Option<Vec<String>>,
    #[serde(default)]
    enabled: Option<bool>,
}

/// One event's delivery to the endpoint.
#[derive(Serialize, ToSchema)]
#[schema(as = WebhookDelivery)]
pub struct DeliveryJson {
    id: i64,
    /// The `webhook-id` header: the same for every attempt and resend.
    message_id: String,
    event_type: String,
    /// What the event is about: a client ID, a request ID, an email.
    subject: Option<String>,
    /// `pending` (being retried), `delivered` or `failed` (given up after 3 days).
    #[schema(value_type = String, example = "delivered")]
    status: &'static str,
    attempts: i64,
    /// The receiver's last HTTP status, if it answered.
    response_status: Option<i64>,
    /// Why the last attempt failed, as a category: never the resolver's or
    /// HTTP library's own text. `address_not_allowed` (a loopback, private
    /// or reserved address: failed at once, not retried), `could_not_resolve`,
    /// `could_not_connect`, `tls`, `timeout` (no answer within 10 seconds),
    /// `redirect` (3xx, not followed), `http_status` (any other non-2xx, in
    /// `response_status`), `secret_unreadable`, `sender_unavailable`,
    /// `send_failed`.
    #[schema(value_type = Option<String>, example = "timeout")]
    error_code: Option<&'static str>,
    /// The category, as the console words it: "No answer within 10 seconds".
    error: Option<String>,
    created_at: String,
    /// When the next attempt is due, for a pending delivery.
    next_attempt_at: Option<String>,
}

impl From<Delivery> for DeliveryJson {
    fn from(d: Delivery) -> DeliveryJson {
        DeliveryJson {
            id: d.id.0,
            status: d.status.key(),
            next_attempt_at: (d.status == webhook::DeliveryStatus::Pending)
                .then(|| iso_time(d.next_attempt_at)),
            message_id: d.message_id,
            event_type: d.event_type,
            subject: d.subject,
            attempts: d.attempts,
            response_status: d.response_status,
            error_code: d.last_error.map(|e| e.key()),
            error: d.last_error.map(|e| e.describe(d.response_status)),
            created_at: iso_time(d.created_at),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct DeliveryList {
    data: Vec<DeliveryJson>,
}

/// A delivery queued (a test event, or a resend).
#[derive(Serialize, ToSchema)]
pub struct Queued {
    delivery_id: i64,
}

fn webhook_id(raw: &str) -> Result<WebhookId, Problem> {
    raw.parse().map_err(|_| Problem::not_found())
}

/// The draft from every field, or each field's message.
fn draft(
    url: &str,
    description: &str,
    events: &[String],
    enabled: bool,
    allow_http: bool,
) -> Result<Draft, Problem> {
    Draft::parse(
        url,
        description,
        events.iter().map(String::as_str),
        enabled,
        allow_http,
    )
    .map_err(|errors| Problem::validation(problem_fields(errors.into_vec())))
}

#[utoipa::path(operation_id = "list_webhooks", get, path = "/api/v1/webhooks", tag = "Webhooks",
    summary = "List webhooks",
    responses(
        (status = 200, description = "The organization's webhooks", body = WebhookList),
        (status = 401, description = "Missing or invalid token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Only owners manage webhooks", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn list(State(state): State<AppState>, ApiActor(actor): ApiActor) -> ApiResult {
    let now = state.now();
    let data = use_case::list(&state, &actor)
        .await?
        .into_iter()
        .map(|e| WebhookJson::new(e, now))
        .collect();
    Ok(json(StatusCode::OK, &WebhookList { data }))
}

#[utoipa::path(operation_id = "create_webhook", post, path = "/api/v1/webhooks", tag = "Webhooks",
    summary = "Add a webhook",
    request_body = NewWebhook,
    responses(
        (status = 201, description = "Added; the signing secret is in this response only", body = WebhookWithSecret),
        (status = 400, description = "Not the JSON this operation takes", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing or invalid token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Only owners manage webhooks", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The organization has 10 webhooks already", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A field is not valid", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not application/json", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body larger than 16 KiB", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn create(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    Json(new, _): Json<NewWebhook>,
) -> ApiResult {
    let draft = draft(
        &new.url,
        new.description.as_deref().unwrap_or(""),
        &new.events,
        new.enabled.unwrap_or(true),
        state.config.webhook.allow_http,
    )?;
    let (id, secret) = use_case::create(&state, &actor, &draft).await?;
    let endpoint = use_case::get(&state, &actor, id).await?;
    let body = WebhookWithSecret {
        webhook: WebhookJson::new(endpoint, state.now()),
        signing_secret: secret.expose().to_owned(),
    };
    Ok(json(StatusCode::CREATED, &body))
}

#[utoipa::path(operation_id = "get_webhook", get, path = "/api/v1/webhooks/{webhook_id}", tag = "Webhooks",
    summary = "Get a webhook",
    params(("webhook_id" = i64, Path, description = "The webhook's id")),
    responses(
        (status = 200, description = "The webhook", body = WebhookJson),
        (status = 401, description = "Missing or invalid token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Only owners manage webhooks", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such webhook in the token's organization", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn get(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    Path(id): Path<String>,
) -> ApiResult {
    let endpoint = use_case::get(&state, &actor, webhook_id(&id)?).await?;
    Ok(json(
        StatusCode::OK,
        &WebhookJson::new(endpoint, state.now()),
    ))
}

#[utoipa::path(operation_id = "update_webhook", patch, path = "/api/v1/webhooks/{webhook_id}", tag = "Webhooks",
    summary = "Change a webhook",
    params(("webhook_id" = i64, Path, description = "The webhook's id")),
    request_body = WebhookChange,
    responses(
        (status = 200, description = "Changed", body = WebhookJson),
        (status = 400, description = "Not the JSON this operation takes", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing or invalid token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Only owners manage webhooks", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such webhook in the token's organization", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A field is not valid", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not application/json", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body larger than 16 KiB", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn update(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    Path(id): Path<String>,
    Json(change, _): Json<WebhookChange>,
) -> ApiResult {
    let id = webhook_id(&id)?;
    let patch = Patch::parse(
        change.url.as_deref(),
        change.description.as_deref(),
        change.events.as_ref().map(|e| e.iter().map(String::as_str)),
        change.enabled,
        state.config.webhook.allow_http,
    )
    .map_err(|errors| Problem::validation(problem_fields(errors.into_vec())))?;
    use_case::update(&state, &actor, id, patch).await?;
    let endpoint = use_case::get(&state, &actor, id).await?;
    Ok(json(
        StatusCode::OK,
        &WebhookJson::new(endpoint, state.now()),
    ))
}

#[utoipa::path(operation_id = "delete_webhook", delete, path = "/api/v1/webhooks/{webhook_id}", tag = "Webhooks",
    summary = "Delete a webhook",
    params(("webhook_id" = i64, Path, description = "The webhook's id")),
    responses(
        (status = 204, description = "Deleted, with its pending deliveries"),
        (status = 401, description = "Missing or invalid token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Only owners manage webhooks", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such webhook in the token's organization", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn delete(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    Path(id): Path<String>,
) -> ApiResult {
    use_case::delete(&state, &actor, webhook_id(&id)?).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[utoipa::path(operation_id = "rotate_webhook_secret", post, path = "/api/v1/webhooks/{webhook_id}/rotate-secret", tag = "Webhooks",
    summary = "Rotate a webhook's signing secret",
    description = "The new secret is in this response only; the previous one also signs for 24 hours.",
    params(("webhook_id" = i64, Path, description = "The webhook's id")),
    responses(
        (status = 200, description = "Rotated", body = WebhookWithSecret),
        (status = 401, description = "Missing or invalid token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Only owners manage webhooks", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such webhook in the token's organization", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn rotate_secret(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    Path(id): Path<String>,
) -> ApiResult {
    let id = webhook_id(&id)?;
    let secret = use_case::rotate_secret(&state, &actor, id).await?;
    let endpoint = use_case::get(&state, &actor, id).await?;
    let body = WebhookWithSecret {
        webhook: WebhookJson::new(endpoint, state.now()),
        signing_secret: secret.expose().to_owned(),
    };
    Ok(json(StatusCode::OK, &body))
}

#[utoipa::path(operation_id = "list_webhook_deliveries", get, path = "/api/v1/webhooks/{webhook_id}/deliveries", tag = "Webhooks",
    summary = "List a webhook's recent deliveries",
    params(("webhook_id" = i64, Path, description = "The webhook's id")),
    responses(
        (status = 200, description = "The latest 50, newest first", body = DeliveryList),
        (status = 401, description = "Missing or invalid token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Only owners manage webhooks", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such webhook in the token's organization", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn deliveries(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    Path(id): Path<String>,
) -> ApiResult {
    let data = use_case::deliveries(&state, &actor, webhook_id(&id)?)
        .await?
        .into_iter()
        .map(DeliveryJson::from)
        .collect();
    Ok(json(StatusCode::OK, &DeliveryList { data }))
}

#[utoipa::path(operation_id = "resend_webhook_delivery", post, path = "/api/v1/webhooks/{webhook_id}/deliveries/{delivery_id}/resend", tag = "Webhooks",
    summary = "Send a delivery again",
    description = "Sent again now with the same `webhook-id`, and retried for 3 more days if it fails.",
    params(("webhook_id" = i64, Path, description = "The webhook's id"),
        ("delivery_id" = i64, Path, description = "The delivery's id")),
    responses(
        (status = 202, description = "Queued", body = Queued),
        (status = 401, description = "Missing or invalid token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Only owners manage webhooks", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such webhook or delivery", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Refused, and nothing queued: the webhook took 5 test events and resends in the last minute, or would have more than 20 deliveries waiting (or this token made too many requests). Wait for Retry-After (seconds)", body = Problem, content_type = "application/problem+json",
            headers(("Retry-After" = String, description = "Seconds to wait"))),
    ))]
pub async fn resend(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    Path((id, delivery)): Path<(String, String)>,
) -> ApiResult {
    let delivery: DeliveryId = delivery.parse().map_err(|_| Problem::not_found())?;
    if let Err(error) = use_case::resend(&state, &actor, webhook_id(&id)?, delivery).await {
        return Ok(refused(error));
    }
    Ok(json(
        StatusCode::ACCEPTED,
        &Queued {
            delivery_id: delivery.0,
        },
    ))
}

#[utoipa::path(operation_id = "send_webhook_test", post, path = "/api/v1/webhooks/{webhook_id}/test", tag = "Webhooks",
    summary = "Send a test event",
    description = "Queues a `webhook.test` event for this webhook alone.",
    params(("webhook_id" = i64, Path, description = "The webhook's id")),
    responses(
        (status = 202, description = "Queued", body = Queued),
        (status = 401, description = "Missing or invalid token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Only owners manage webhooks", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such webhook in the token's organization", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The webhook is disabled", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Refused, and nothing queued: the webhook took 5 test events and resends in the last minute, or would have more than 20 deliveries waiting (or this token made too many requests). Wait for Retry-After (seconds)", body = Problem, content_type = "application/problem+json",
            headers(("Retry-After" = String, description = "Seconds to wait"))),
    ))]
pub async fn send_test(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    Path(id): Path<String>,
) -> ApiResult {
    let delivery = match use_case::send_test(&state, &actor, webhook_id(&id)?).await {
        Ok(delivery) => delivery,
        Err(error) => return Ok(refused(error)),
    };
    Ok(json(
        StatusCode::ACCEPTED,
        &Queued {
            delivery_id: delivery.0,
        },
    ))
}

/// A refused use case as a problem; a test event or resend refused for the
/// endpoint's rate or backlog also says when to try again (`Retry-After`).
fn refused(error: crate::service::Error) -> Response {
    let wait = use_case::retry_after(&error);
    let mut response = Problem::from(error).into_response();
    if let Some(wait) = wait {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(wait));
    }
    response
}
