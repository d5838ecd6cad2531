//! Webhook endpoints and the outbox of their deliveries: the rows use cases
//! write and the pages read. Which events go to which endpoints is decided
//! by the use cases (`service::outbox`); what the delivery worker claims and
//! records is in [`super::deliveries`].

use anyhow::Context;
use sqlx::FromRow;

use super::Conn;
use crate::domain::OrgId;
use crate::domain::ids::{DeliveryId, WebhookId};
use crate::domain::webhook::{DeliveryError, DeliveryStatus, EventTypes};

#[derive(Debug, Clone, FromRow)]
pub struct Endpoint {
    pub id: WebhookId,
    pub organization_id: OrgId,
    pub url: String,
    pub description: String,
    pub events: EventTypes,
    pub enabled: bool,
    /// Sealed under the server key with the organization as context.
    pub secret: String,
    pub previous_secret: Option<String>,
    pub previous_until: Option<i64>,
    pub failures_in_a_row: i64,
    pub failing_since: Option<i64>,
    pub created_at: i64,
}

pub(super) const ENDPOINT: &str =
    "SELECT id, organization_id, url, description, events, enabled, secret,
        previous_secret, previous_until, failures_in_a_row, failing_since, created_at
     FROM webhook_endpoints";

pub struct NewEndpoint<'a> {
    pub org: OrgId,
    pub url: &'a str,
    pub description: &'a str,
    pub events: &'a EventTypes,
    pub enabled: bool,
    pub sealed_secret: &'a str,
}

pub async fn insert(conn: &mut Conn, new: &NewEndpoint<'_>, now: i64) -> anyhow::Result<WebhookId> {
    on!(conn, |e| sqlx::query_scalar(
        "INSERT INTO webhook_endpoints (organization_id, url, description, events, enabled, secret, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
    )
    .bind(new.org)
    .bind(new.url)
    .bind(new.description)
    .bind(new.events)
    .bind(new.enabled)
    .bind(new.sealed_secret)
    .bind(now)
    .fetch_one(e)
    .await)
    .context("storing a webhook endpoint")
}

pub async fn list(conn: &mut Conn, org: OrgId) -> anyhow::Result<Vec<Endpoint>> {
    on!(conn, |e| sqlx::query_as(&format!(
        "{ENDPOINT} WHERE organization_id = $1 ORDER BY id"
    ))
    .bind(org)
    .fetch_all(e)
    .await)
    .context("listing webhook endpoints")
}

pub async fn count(conn: &mut Conn, org: OrgId) -> anyhow::Result<i64> {
    on!(conn, |e| sqlx::query_scalar(
        "SELECT COUNT(*) FROM webhook_endpoints WHERE organization_id = $1"
    )
    .bind(org)
    .fetch_one(e)
    .await)
    .context("counting webhook endpoints")
}

/// The organization's endpoint `id`; another organization's is not found.
pub async fn find(conn: &mut Conn, org: OrgId, id: WebhookId) -> anyhow::Result<Option<Endpoint>> {
    on!(conn, |e| sqlx::query_as(&format!(
        "{ENDPOINT} WHERE organization_id = $1 AND id = $2"
    ))
    .bind(org)
    .bind(id)
    .fetch_optional(e)
    .await)
    .context("reading a webhook endpoint")
}

pub struct Settings<'a> {
    pub url: &'a str,
    pub description: &'a str,
    pub events: &'a EventTypes,
    pub enabled: bool,
}

pub async fn update(
    conn: &mut Conn,
    org: OrgId,
    id: WebhookId,
    settings: &Settings<'_>,
) -> anyhow::Result<()> {
    on!(conn, |e| sqlx::query(
        "UPDATE webhook_endpoints SET url = $3, description = $4, events = $5, enabled = $6,
             failures_in_a_row = CASE WHEN $6 THEN failures_in_a_row ELSE 0 END,
             failing_since = CASE WHEN $6 THEN failing_since ELSE NULL END
         WHERE organization_id = $1 AND id = $2",
    )
    .bind(org)
    .bind(id)
    .bind(settings.url)
    .bind(settings.description)
    .bind(settings.events)
    .bind(settings.enabled)
    .execute(e)
    .await
    .map(|r| r.rows_affected()))
    .context("changing a webhook endpoint")?;
    Ok(())
}

/// A new signing secret; the current one keeps signing until `previous_until`.
pub async fn rotate_secret(
    conn: &mut Conn,
    org: OrgId,
    id: WebhookId,
    sealed_secret: &str,
    previous_until: i64,
) -> anyhow::Result<()> {
    on!(conn, |e| sqlx::query(
        "UPDATE webhook_endpoints
         SET previous_secret = secret, previous_until = $4, secret = $3
         WHERE organization_id = $1 AND id = $2",
    )
    .bind(org)
    .bind(id)
    .bind(sealed_secret)
    .bind(previous_until)
    .execute(e)
    .await
    .map(|r| r.rows_affected()))
    .context("rotating a webhook secret")?;
    Ok(())
}

pub async fn delete(conn: &mut Conn, org: OrgId, id: WebhookId) -> anyhow::Result<()> {
    on!(conn, |e| sqlx::query(
        "DELETE FROM webhook_endpoints WHERE organization_id = $1 AND id = $2"
    )
    .bind(org)
    .bind(id)
    .execute(e)
    .await
    .map(|r| r.rows_affected()))
    .context("deleting a webhook endpoint")?;
    Ok(())
}

/// One event for the outbox.
pub struct Outgoing<'a> {
    pub event_type: &'a str,
    /// What the event is about (a client ID, an email): throttled events are
    /// counted per subject.
    pub subject: Option<&'a str>,
    pub message_id: &'a str,
    pub payload: &'a str,
}

/// The organization's enabled endpoints, each with the events it subscribes to.
pub async fn enabled(conn: &mut Conn, org: OrgId) -> anyhow::Result<Vec<(WebhookId, EventTypes)>> {
    on!(conn, |e| sqlx::query_as(
        "SELECT id, events FROM webhook_endpoints WHERE organization_id = $1 AND enabled"
    )
    .bind(org)
    .fetch_all(e)
    .await)
    .context("finding the webhook endpoints of an event")
}

/// Whether `endpoint` was sent an event of `event_type` about `subject`
/// after `since` (never, for no subject).
pub async fn sent_since(
    conn: &mut Conn,
    endpoint: WebhookId,
    event_type: &str,
    subject: Option<&str>,
    since: i64,
) -> anyhow::Result<bool> {
    let sent: i64 = on!(conn, |e| sqlx::query_scalar(
        "SELECT COUNT(*) FROM webhook_deliveries
         WHERE endpoint_id = $1 AND event_type = $2 AND subject = $3 AND created_at > $4"
    )
    .bind(endpoint)
    .bind(event_type)
    .bind(subject)
    .bind(since)
    .fetch_one(e)
    .await)
    .context("checking a throttled webhook event")?;
    Ok(sent > 0)
}

/// One delivery of `event` to `endpoint`, due now.
pub async fn insert_delivery(
    conn: &mut Conn,
    endpoint: WebhookId,
    event: &Outgoing<'_>,
    now: i64,
    give_up_at: i64,
) -> anyhow::Result<DeliveryId> {
    on!(conn, |e| sqlx::query_scalar(
        "INSERT INTO webhook_deliveries
            (endpoint_id, message_id, event_type, subject, payload, status, next_attempt_at, give_up_at, created_at)
         VALUES ($1, $2, $3, $4, $5, 'pending', $6, $7, $6) RETURNING id",
    )
    .bind(endpoint)
    .bind(event.message_id)
    .bind(event.event_type)
    .bind(event.subject)
    .bind(event.payload)
    .bind(now)
    .bind(give_up_at)
    .fetch_one(e)
    .await)
    .context("queueing a webhook delivery")
}

/// How many deliveries of `endpoint` wait to be sent or retried.
pub async fn pending(conn: &mut Conn, endpoint: WebhookId) -> anyhow::Result<i64> {
    on!(conn, |e| sqlx::query_scalar(
        "SELECT COUNT(*) FROM webhook_deliveries WHERE endpoint_id = $1 AND status = 'pending'"
    )
    .bind(endpoint)
    .fetch_one(e)
    .await)
    .context("counting pending webhook deliveries")
}

/// Test events and resends of `endpoint`: when the current window began,
/// and how many it holds.
pub async fn manual_sends(conn: &mut Conn, endpoint: WebhookId) -> anyhow::Result<(i64, i64)> {
    on!(conn, |e| sqlx::query_as(
        "SELECT manual_window_start, manual_sends FROM webhook_endpoints WHERE id = $1"
    )
    .bind(endpoint)
    .fetch_one(e)
    .await)
    .context("reading a webhook's test events and resends")
}

pub async fn set_manual_sends(
    conn: &mut Conn,
    endpoint: WebhookId,
    window_start: i64,
    sends: i64,
) -> anyhow::Result<()> {
    on!(conn, |e| sqlx::query(
        "UPDATE webhook_endpoints SET manual_window_start = $2, manual_sends = $3 WHERE id = $1"
    )
    .bind(endpoint)
    .bind(window_start)
    .bind(sends)
    .execute(e)
    .await
    .map(|r| r.rows_affected()))
    .context("counting a webhook's test event or resend")?;
    Ok(())
}

/// A delivery as the page lists it.
#[derive(Debug, Clone, FromRow)]
pub struct Delivery {
    pub id: DeliveryId,
    pub message_id: String,
    pub event_type: String,
    pub subject: Option<String>,
    pub status: DeliveryStatus,
    pub attempts: i64,
    pub next_attempt_at: i64,
    pub last_attempt_at: Option<i64>,
    pub response_status: Option<i64>,
    pub last_error: Option<DeliveryError>,
    pub created_at: i64,
}

/// The endpoint's latest deliveries, newest first.
pub async fn deliveries(
    conn: &mut Conn,
    endpoint: WebhookId,
    limit: i64,
) -> anyhow::Result<Vec<Delivery>> {
    on!(conn, |e| sqlx::query_as(
        "SELECT id, message_id, event_type, subject, status, attempts, next_attempt_at,
                last_attempt_at, response_status, last_error, created_at
         FROM webhook_deliveries WHERE endpoint_id = $1 ORDER BY id DESC LIMIT $2",
    )
    .bind(endpoint)
    .bind(limit)
    .fetch_all(e)
    .await)
    .context("listing webhook deliveries")
}

/// Sends a delivery again now (same message id, so receivers can tell it is
/// the same event), with a new retry window. `false` when the endpoint has
/// no such delivery. One being sent right now is left to that attempt, so
/// two instances never send it at once.
pub async fn resend(
    conn: &mut Conn,
    endpoint: WebhookId,
    id: DeliveryId,
    now: i64,
    give_up_at: i64,
) -> anyhow::Result<bool> {
    let changed = on!(conn, |e| sqlx::query(
        "UPDATE webhook_deliveries
         SET status = 'pending', next_attempt_at = $3, give_up_at = $4
         WHERE endpoint_id = $1 AND id = $2 AND locked_until <= $3",
    )
    .bind(endpoint)
    .bind(id)
    .bind(now)
    .bind(give_up_at)
    .execute(e)
    .await
    .map(|r| r.rows_affected()))
    .context("resending a webhook delivery")?;
    if changed == 1 {
        return Ok(true);
    }
    let exists: i64 = on!(conn, |e| sqlx::query_scalar(
        "SELECT COUNT(*) FROM webhook_deliveries WHERE endpoint_id = $1 AND id = $2"
    )
    .bind(endpoint)
    .bind(id)
    .fetch_one(e)
    .await)
    .context("finding a webhook delivery")?;
    Ok(exists == 1)
}
