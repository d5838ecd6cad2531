//! Settings > Webhooks (owners only): the organization's endpoints, each
//! with its settings, signing secret, recent deliveries and a test event.

use askama::Template;
use askama_web::WebTemplate;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;

use crate::domain::ids::{DeliveryId, WebhookId};
use crate::domain::webhook::{DeliveryStatus, EventType, EventTypes, FAILING_AFTER, WebhookUrl};
use crate::domain::{FieldError, FieldErrors};
use crate::http::error::{AppError, AppResult};
use crate::http::form::Form;
use crate::http::meta::RequestMeta;
use crate::http::session::{OrgContext, take_flash};
use crate::http::views::{Layout, Nav, absolute_time, relative_time};
use crate::service::Error;
use crate::service::webhooks::{self as use_case, Draft};
use crate::state::AppState;
use crate::storage::webhooks::{Delivery, Endpoint};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/settings/webhooks", get(list).post(create))
        .route("/settings/webhooks/{id}", get(show).post(save))
        .route("/settings/webhooks/{id}/rotate-secret", post(rotate_secret))
        .route("/settings/webhooks/{id}/test", post(send_test))
        .route("/settings/webhooks/{id}/delete", post(delete))
        .route(
            "/settings/webhooks/{id}/deliveries/{delivery}/resend",
            post(resend),
        )
}

const FLASH_KEY: &str = "webhooks.flash";

/// The event types as the form groups them.
pub struct EventGroup {
    pub title: &'static str,
    pub events: Vec<EventChoice>,
}

pub struct EventChoice {
    pub key: &'static str,
    pub label: &'static str,
    pub checked: bool,
}

fn groups(checked: &dyn Fn(EventType) -> bool) -> Vec<EventGroup> {
    let group = |title, prefix: &str| EventGroup {
        title,
        events: EventType::ALL
            .iter()
            .filter(|t| t.key().starts_with(prefix))
            .map(|&t| EventChoice {
                key: t.key(),
                label: t.label(),
                checked: checked(t),
            })
            .collect(),
    };
    vec![
        group("Credentials", "credential."),
        group("Requests", "request."),
        group("Members", "member."),
    ]
}

/// What the form holds, as typed.
#[derive(Debug, Default, Deserialize)]
struct WebhookForm {
    #[serde(default)]
    url: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    events: Vec<String>,
    /// A checkbox: present when ticked.
    #[serde(default)]
    enabled: Option<String>,
}

impl WebhookForm {
    fn of(endpoint: &Endpoint) -> WebhookForm {
        WebhookForm {
            url: endpoint.url.clone(),
            description: endpoint.description.clone(),
            events: endpoint.events.iter().map(|t| t.key().to_owned()).collect(),
            enabled: endpoint.enabled.then(|| "on".to_owned()),
        }
    }

    fn parse(&self, allow_http: bool) -> Result<Draft, FieldErrors> {
        Draft::parse(
            &self.url,
            &self.description,
            self.events.iter().map(String::as_str),
            self.enabled.is_some(),
            allow_http,
        )
    }

    fn groups(&self) -> Vec<EventGroup> {
        groups(&|t| self.events.iter().any(|e| e == t.key()))
    }
}

/// One endpoint in the list.
struct EndpointRow {
    id: WebhookId,
    url: String,
    description: String,
    events: String,
    enabled: bool,
    failing: String,
}

impl EndpointRow {
    fn new(endpoint: &Endpoint, now: i64) -> EndpointRow {
        EndpointRow {
            id: endpoint.id,
            url: endpoint.url.clone(),
            description: endpoint.description.clone(),
            events: events_summary(&endpoint.events),
            enabled: endpoint.enabled,
            failing: failing_text(endpoint, now),
        }
    }
}

fn events_summary(events: &EventTypes) -> String {
    if events.len() == EventType::ALL.len() {
        "All events".to_owned()
    } else if events.len() <= 2 {
        events
            .iter()
            .map(|t| t.label())
            .collect::<Vec<_>>()
            .join(", ")
    } else {
        format!("{} events", events.len())
    }
}

fn failing_text(endpoint: &Endpoint, now: i64) -> String {
    match endpoint.failing_since {
        Some(since) => format!(
            "Failing since {}: the last {} delivery attempts failed. Keyward keeps retrying each event for 3 days; check the deliveries below.",
            relative_time(since, now),
            endpoint.failures_in_a_row.max(FAILING_AFTER)
        ),
        None => String::new(),
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "settings/webhooks/list.html")]
struct ListPage {
    layout: Layout,
    endpoints: Vec<EndpointRow>,
    form: WebhookForm,
    groups: Vec<EventGroup>,
    errors: FieldErrors,
    notice: String,
    at_limit: bool,
    allow_http: bool,
}

async fn list_page(
    state: &AppState,
    ctx: &OrgContext,
    meta: &RequestMeta,
    form: WebhookForm,
    errors: FieldErrors,
) -> AppResult<ListPage> {
    let endpoints = use_case::list(state, &ctx.actor(meta)).await?;
    let notice = take_flash(&ctx.session, FLASH_KEY).await?;
    let now = state.now();
    let groups = if form.events.is_empty() && errors.is_empty() {
        groups(&|_| true)
    } else {
        form.groups()
    };
    Ok(ListPage {
        layout: ctx.layout("Webhooks", Nav::Webhooks),
        at_limit: endpoints.len() as i64 >= use_case::MAX_ENDPOINTS,
        endpoints: endpoints.iter().map(|e| EndpointRow::new(e, now)).collect(),
        form,
        groups,
        errors,
        notice,
        allow_http: state.config.webhook.allow_http,
    })
}

async fn list(
    State(state): State<AppState>,
    ctx: OrgContext,
    meta: RequestMeta,
) -> AppResult<ListPage> {
    let form = WebhookForm {
        enabled: Some("on".to_owned()),
        ..WebhookForm::default()
    };
    list_page(&state, &ctx, &meta, form, FieldErrors::default()).await
}

async fn create(
    State(state): State<AppState>,
    ctx: OrgContext,
    meta: RequestMeta,
    Form(form): Form<WebhookForm>,
) -> AppResult<Response> {
    let actor = ctx.actor(&meta);
    let draft = match form.parse(state.config.webhook.allow_http) {
        Ok(draft) => draft,
        Err(errors) => {
            let page = list_page(&state, &ctx, &meta, form, errors).await?;
            return Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response());
        }
    };
    match use_case::create(&state, &actor, &draft).await {
        Ok((id, secret)) => {
            let revealed = Revealed {
                title: "Webhook added. Copy its signing secret now",
                value: secret.expose().to_owned(),
            };
            endpoint_page(&state, &ctx, &meta, id, None, Some(revealed)).await
        }
        Err(error @ Error::TooManyWebhooks) => {
            let mut errors = FieldErrors::default();
            errors.push(FieldError::new("url", error.to_string()));
            let page = list_page(&state, &ctx, &meta, form, errors).await?;
            Ok((StatusCode::CONFLICT, page).into_response())
        }
        Err(error) => Err(error.into()),
    }
}

/// A signing secret shown once.
struct Revealed {
    title: &'static str,
    value: String,
}

struct DeliveryRow {
    id: DeliveryId,
    event_type: String,
    subject: String,
    status: DeliveryStatus,
    attempts: i64,
    response: String,
    when: String,
    when_exact: String,
    when_iso: String,
    next: String,
}

impl DeliveryRow {
    fn new(d: Delivery, now: i64) -> DeliveryRow {
        // A category of error, never the text of the library or resolver,
        // which can name the addresses an internal host resolves to.
        let response = match (d.response_status, d.last_error) {
            (status, Some(error)) => error.describe(status),
            (Some(code), None) => code.to_string(),
            (None, None) => "—".to_owned(),
        };
        DeliveryRow {
            id: d.id,
            event_type: d.event_type,
            subject: d.subject.unwrap_or_default(),
            status: d.status,
            attempts: d.attempts,
            response,
            when: relative_time(d.created_at, now),
            when_exact: absolute_time(d.created_at),
            when_iso: crate::domain::iso_time(d.created_at),
            next: if d.status == DeliveryStatus::Pending && d.attempts > 0 {
                format!("next attempt {}", relative_time(d.next_attempt_at, now))
            } else {
                String::new()
            },
        }
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "settings/webhooks/endpoint.html")]
struct EndpointPage {
    layout: Layout,
    id: WebhookId,
    origin: String,
    form: WebhookForm,
    groups: Vec<EventGroup>,
    errors: FieldErrors,
    notice: String,
    /// Why a test event or resend was refused.
    refusal: String,
    failing: String,
    revealed: Option<Revealed>,
    previous_until: String,
    deliveries: Vec<DeliveryRow>,
    allow_http: bool,
}

/// The endpoint's page; `form` holds what was typed when a save failed.
async fn endpoint_page(
    state: &AppState,
    ctx: &OrgContext,
    meta: &RequestMeta,
    id: WebhookId,
    typed: Option<(WebhookForm, FieldErrors)>,
    revealed: Option<Revealed>,
) -> AppResult<Response> {
    endpoint_page_refusing(state, ctx, meta, id, typed, revealed, None).await
}

/// The endpoint's page after a test event or resend was refused: 429 with
/// `Retry-After`, the reason above the deliveries, nothing queued.
async fn refused_page(
    state: &AppState,
    ctx: &OrgContext,
    meta: &RequestMeta,
    id: WebhookId,
    error: Error,
) -> AppResult<Response> {
    let Some(wait) = use_case::retry_after(&error) else {
        return Err(error.into());
    };
    let mut response =
        endpoint_page_refusing(state, ctx, meta, id, None, None, Some(error.to_string())).await?;
    *response.status_mut() = StatusCode::TOO_MANY_REQUESTS;
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(wait));
    Ok(response)
}

async fn endpoint_page_refusing(
    state: &AppState,
    ctx: &OrgContext,
    meta: &RequestMeta,
    id: WebhookId,
    typed: Option<(WebhookForm, FieldErrors)>,
    revealed: Option<Revealed>,
    refusal: Option<String>,
) -> AppResult<Response> {
    let actor = ctx.actor(meta);
    let endpoint = use_case::get(state, &actor, id).await?;
    let deliveries = use_case::deliveries(state, &actor, id).await?;
    let now = state.now();
    let failed = typed.is_some();
    let (form, errors) =
        typed.unwrap_or_else(|| (WebhookForm::of(&endpoint), FieldErrors::default()));
    let groups = form.groups();
    let page = EndpointPage {
        layout: ctx.layout("Webhook", Nav::Webhooks),
        id,
        origin: WebhookUrl::parse_stored(&endpoint.url).origin(),
        form,
        groups,
        errors,
        notice: take_flash(&ctx.session, FLASH_KEY).await?,
        refusal: refusal.unwrap_or_default(),
        failing: failing_text(&endpoint, now),
        previous_until: endpoint
            .previous_until
            .filter(|until| *until > now)
            .map(absolute_time)
            .unwrap_or_default(),
        deliveries: deliveries
            .into_iter()
            .map(|d| DeliveryRow::new(d, now))
            .collect(),
        allow_http: state.config.webhook.allow_http,
        revealed,
    };
    let has_secret = page.revealed.is_some();
    let mut response = if failed {
        (StatusCode::UNPROCESSABLE_ENTITY, page).into_response()
    } else {
        page.into_response()
    };
    if has_secret {
        response
            .headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    Ok(response)
}

fn parse_id(raw: &str) -> AppResult<WebhookId> {
    raw.parse().map_err(|_| AppError::NotFound)
}

async fn show(
    State(state): State<AppState>,
    ctx: OrgContext,
    meta: RequestMeta,
    Path(id): Path<String>,
) -> AppResult<Response> {
    endpoint_page(&state, &ctx, &meta, parse_id(&id)?, None, None).await
}

async fn save(
    State(state): State<AppState>,
    ctx: OrgContext,
    meta: RequestMeta,
    Path(id): Path<String>,
    Form(form): Form<WebhookForm>,
) -> AppResult<Response> {
    let id = parse_id(&id)?;
    let draft = match form.parse(state.config.webhook.allow_http) {
        Ok(draft) => draft,
        Err(errors) => {
            return endpoint_page(&state, &ctx, &meta, id, Some((form, errors)), None).await;
        }
    };
    use_case::update(&state, &ctx.actor(&meta), id, draft.into()).await?;
    back_with(&ctx, Some(id), "Webhook saved.").await
}

async fn rotate_secret(
    State(state): State<AppState>,
    ctx: OrgContext,
    meta: RequestMeta,
    Path(id): Path<String>,
) -> AppResult<Response> {
    let id = parse_id(&id)?;
    let secret = use_case::rotate_secret(&state, &ctx.actor(&meta), id).await?;
    let revealed = Revealed {
        title: "Signing secret rotated. Copy the new secret now",
        value: secret.expose().to_owned(),
    };
    endpoint_page(&state, &ctx, &meta, id, None, Some(revealed)).await
}

async fn send_test(
    State(state): State<AppState>,
    ctx: OrgContext,
    meta: RequestMeta,
    Path(id): Path<String>,
) -> AppResult<Response> {
    let id = parse_id(&id)?;
    let notice = match use_case::send_test(&state, &ctx.actor(&meta), id).await {
        Ok(_) => "Test event queued: it appears in the deliveries below within seconds.",
        Err(Error::WebhookDisabled) => {
            "This webhook is disabled. Enable it first, then send a test event."
        }
        Err(error) => return refused_page(&state, &ctx, &meta, id, error).await,
    };
    back_with(&ctx, Some(id), notice).await
}

async fn delete(
    State(state): State<AppState>,
    ctx: OrgContext,
    meta: RequestMeta,
    Path(id): Path<String>,
) -> AppResult<Response> {
    let id = parse_id(&id)?;
    use_case::delete(&state, &ctx.actor(&meta), id).await?;
    back_with(
        &ctx,
        None,
        "Webhook deleted. Its pending deliveries were dropped.",
    )
    .await
}

async fn resend(
    State(state): State<AppState>,
    ctx: OrgContext,
    meta: RequestMeta,
    Path((id, delivery)): Path<(String, String)>,
) -> AppResult<Response> {
    let id = parse_id(&id)?;
    let delivery: DeliveryId = delivery.parse().map_err(|_| AppError::NotFound)?;
    if let Err(error) = use_case::resend(&state, &ctx.actor(&meta), id, delivery).await {
        return refused_page(&state, &ctx, &meta, id, error).await;
    }
    back_with(
        &ctx,
        Some(id),
        "Delivery queued again, with the same webhook-id.",
    )
    .await
}

/// Back to the endpoint's page (or the list), with `notice` shown there once.
async fn back_with(ctx: &OrgContext, id: Option<WebhookId>, notice: &str) -> AppResult<Response> {
    ctx.session.insert(FLASH_KEY, notice).await?;
    let to = match id {
        Some(id) => format!("/settings/webhooks/{id}"),
        None => "/settings/webhooks".to_owned(),
    };
    Ok(Redirect::to(&to).into_response())
}
