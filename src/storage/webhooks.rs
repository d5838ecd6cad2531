//! Webhook endpoints and the outbox of their deliveries.

use anyhow::Context;
use sqlx::FromRow;

use super::{Conn, Either};
use crate::domain::OrgId;
use crate::domain::ids::{DeliveryId, WebhookId};
use crate::domain::webhook::{DeliveryError, DeliveryStatus, EventType, EventTypes, THROTTLE_SECS};

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

const ENDPOINT: &str = "SELECT id, organization_id, url, description, events, enabled, secret,
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
    pub org: OrgId,
    pub event_type: &'a str,
    /// What the event is about (a client ID, an email): throttled events are
    /// counted per subject.
    pub subject: Option<&'a str>,
    pub message_id: &'a str,
    pub payload: &'a str,
}

/// Writes `event` to the outbox of every enabled endpoint of its
/// organization that subscribes to `kind`, in the caller's transaction. A
/// throttled kind skips endpoints that got one for the same subject within
/// the hour.
pub async fn enqueue(
    conn: &mut Conn,
    kind: EventType,
    event: &Outgoing<'_>,
    now: i64,
    give_up_at: i64,
) -> anyhow::Result<()> {
    let endpoints: Vec<(WebhookId, EventTypes)> = on!(conn, |e| sqlx::query_as(
        "SELECT id, events FROM webhook_endpoints WHERE organization_id = $1 AND enabled"
    )
    .bind(event.org)
    .fetch_all(e)
    .await)
    .context("finding the webhook endpoints of an event")?;
    for (endpoint, events) in endpoints {
        if !events.contains(kind) {
            continue;
        }
        if kind.is_throttled() {
            let recent: i64 = on!(conn, |e| sqlx::query_scalar(
                "SELECT COUNT(*) FROM webhook_deliveries
                 WHERE endpoint_id = $1 AND event_type = $2 AND subject = $3 AND created_at > $4"
            )
            .bind(endpoint)
            .bind(event.event_type)
            .bind(event.subject)
            .bind(now - THROTTLE_SECS)
            .fetch_one(e)
            .await)
            .context("checking a throttled webhook event")?;
            if recent > 0 {
                continue;
            }
        }
        insert_delivery(conn, endpoint, event, now, give_up_at).await?;
    }
    Ok(())
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

/// A delivery a worker claimed, with what it needs to send it.
#[derive(Debug, Clone, FromRow)]
pub struct Due {
    pub id: DeliveryId,
    pub endpoint_id: WebhookId,
    pub message_id: String,
    pub payload: String,
    pub attempts: i64,
    pub give_up_at: i64,
    /// The lease this claim holds; the outcome is recorded only under it.
    pub locked_until: i64,
}

/// How many deliveries a claim may hold at once, counting those already in
/// flight on every instance (their lease has not ended).
#[derive(Debug, Clone, Copy)]
pub struct Fairness {
    /// At most this many claimed in this round.
    pub limit: i64,
    /// At most this many in flight per endpoint.
    pub per_endpoint: i64,
    /// At most this many in flight per organization.
    pub per_org: i64,
}

/// Claims due deliveries of enabled endpoints for `lease` seconds and
/// counts the attempt, fairly: every organization's first due delivery
/// comes before any organization's second, and within an organization every
/// endpoint's first before any endpoint's second (round robin), and no
/// endpoint or organization holds more than its share in flight. So one
/// endpoint's backlog, or a receiver that never answers, holds only its own
/// share while the others are claimed at the next round.
///
/// The claim runs every half second and after every send, on SQLite inside
/// the one write lock, so its cost must not grow with a backlog (an owner
/// can queue hundreds of thousands of deliveries to receivers that hang).
/// It reads the first `per_endpoint` due deliveries of each endpoint that
/// has some, one step each along the index `webhook_deliveries_pending_turn`
/// (endpoint, due time, id), and counts each endpoint's sends in flight
/// along `webhook_deliveries_pending_endpoint` (endpoint, lease): a few
/// index look-ups per endpoint, however many deliveries wait. A test checks
/// SQLite's plan.
///
/// On PostgreSQL, rows another instance is claiming are skipped (`FOR UPDATE
/// SKIP LOCKED`), so each is sent by one instance; on SQLite the update is
/// one write, serialised with every other.
pub async fn claim_due(
    conn: &mut Conn,
    now: i64,
    lease: i64,
    fairness: Fairness,
) -> anyhow::Result<Vec<Due>> {
    let query = claim_query(matches!(conn.exec(), Either::Postgres(_)));
    on!(conn, |e| sqlx::query_as(&query)
        .bind(now)
        .bind(now + lease)
        .bind(fairness.limit)
        .bind(fairness.per_endpoint)
        .bind(fairness.per_org)
        .fetch_all(e)
        .await)
    .context("claiming due webhook deliveries")
}

/// The statement [`claim_due`] runs, on SQLite or on PostgreSQL.
fn claim_query(postgres: bool) -> String {
    // $1 now, $2 the lease's end, $3 the limit, $4 per endpoint, $5 per organization.
    // `candidate` walks the due deliveries of each endpoint that has some,
    // in order: its first, then the next after the previous one, up to turn
    // $4 (correlated LIMIT 1 look-ups, since SQLite has no LATERAL and
    // PostgreSQL runs an `IN (… LIMIT)` correlated with the endpoint over
    // every row). Starting only from endpoints with due work keeps
    // PostgreSQL's estimate of the recursion small: with it started from
    // every endpoint, 2,000 idle ones made the plan costly enough to be
    // compiled (JIT) on every claim, 400 ms.
    const PICK: &str = "WITH RECURSIVE endpoint AS (
             SELECT w.id, w.organization_id, w.enabled,
                    (SELECT COUNT(*) FROM webhook_deliveries d
                     WHERE d.endpoint_id = w.id AND d.status = 'pending' AND d.locked_until > $1) AS sending
             FROM webhook_endpoints w
         ),
         busy AS (
             SELECT id, organization_id, enabled, sending,
                    SUM(sending) OVER (PARTITION BY organization_id) AS org_sending
             FROM endpoint
         ),
         candidate (endpoint_id, sending, organization_id, org_sending, endpoint_turn, id, next_attempt_at) AS (
             SELECT b.id, b.sending, b.organization_id, b.org_sending, 1,
                    (SELECT x.id FROM webhook_deliveries x
                     WHERE x.endpoint_id = b.id AND x.status = 'pending'
                       AND x.next_attempt_at <= $1 AND x.locked_until <= $1
                     ORDER BY x.next_attempt_at, x.id LIMIT 1),
                    (SELECT x.next_attempt_at FROM webhook_deliveries x
                     WHERE x.endpoint_id = b.id AND x.status = 'pending'
                       AND x.next_attempt_at <= $1 AND x.locked_until <= $1
                     ORDER BY x.next_attempt_at, x.id LIMIT 1)
             FROM busy b
             WHERE b.enabled AND EXISTS (
                 SELECT 1 FROM webhook_deliveries x
                 WHERE x.endpoint_id = b.id AND x.status = 'pending'
                   AND x.next_attempt_at <= $1 AND x.locked_until <= $1)
             UNION ALL
             SELECT c.endpoint_id, c.sending, c.organization_id, c.org_sending, c.endpoint_turn + 1,
                    (SELECT x.id FROM webhook_deliveries x
                     WHERE x.endpoint_id = c.endpoint_id AND x.status = 'pending'
                       AND x.next_attempt_at <= $1 AND x.locked_until <= $1
                       AND x.next_attempt_at >= c.next_attempt_at
                       AND (x.next_attempt_at > c.next_attempt_at OR x.id > c.id)
                     ORDER BY x.next_attempt_at, x.id LIMIT 1),
                    (SELECT x.next_attempt_at FROM webhook_deliveries x
                     WHERE x.endpoint_id = c.endpoint_id AND x.status = 'pending'
                       AND x.next_attempt_at <= $1 AND x.locked_until <= $1
                       AND x.next_attempt_at >= c.next_attempt_at
                       AND (x.next_attempt_at > c.next_attempt_at OR x.id > c.id)
                     ORDER BY x.next_attempt_at, x.id LIMIT 1)
             FROM candidate c WHERE c.id IS NOT NULL AND c.endpoint_turn < $4
         ),
         turns AS (
             SELECT id, sending, org_sending, next_attempt_at, endpoint_turn,
                    ROW_NUMBER() OVER (PARTITION BY organization_id ORDER BY endpoint_turn, next_attempt_at, id) AS org_turn
             FROM candidate WHERE id IS NOT NULL
         )
         SELECT id FROM turns
         WHERE endpoint_turn + sending <= $4 AND org_turn + org_sending <= $5
         ORDER BY org_turn, endpoint_turn, next_attempt_at, id
         LIMIT $3";
    const CLAIM: &str = "UPDATE webhook_deliveries
         SET locked_until = $2, attempts = attempts + 1, last_attempt_at = $1
         WHERE id IN (PICK)
         RETURNING id, endpoint_id, message_id, payload, attempts, give_up_at, locked_until";
    if !postgres {
        return CLAIM.replace("PICK", PICK);
    }
    // A query with window functions cannot lock rows, so the chosen
    // delivery rows are locked here, and the conditions checked again on
    // what another instance may have committed meanwhile.
    CLAIM.replace(
        "PICK",
        &format!(
            "SELECT id FROM webhook_deliveries WHERE id IN ({PICK})
               AND status = 'pending' AND next_attempt_at <= $1 AND locked_until <= $1
             FOR UPDATE SKIP LOCKED"
        ),
    )
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

/// The endpoint a claimed delivery goes to, whatever its organization.
pub async fn endpoint_of(conn: &mut Conn, id: WebhookId) -> anyhow::Result<Option<Endpoint>> {
    on!(conn, |e| sqlx::query_as(&format!(
        "{ENDPOINT} WHERE id = $1"
    ))
    .bind(id)
    .fetch_optional(e)
    .await)
    .context("reading a webhook endpoint")
}

/// How an attempt ended.
pub struct Attempted {
    /// The lease the attempt was made under.
    pub claimed_until: i64,
    pub response_status: Option<i64>,
    pub error: Option<DeliveryError>,
    pub outcome: AttemptOutcome,
}

pub enum AttemptOutcome {
    Delivered,
    RetryAt(i64),
    GaveUp,
}

/// Records an attempt on the delivery and its endpoint's run of failures.
pub async fn record_attempt(
    conn: &mut Conn,
    due: &Due,
    attempted: &Attempted,
    now: i64,
    failing_after: i64,
) -> anyhow::Result<()> {
    let (status, next) = match attempted.outcome {
        AttemptOutcome::Delivered => (DeliveryStatus::Delivered, now),
        AttemptOutcome::RetryAt(at) => (DeliveryStatus::Pending, at),
        AttemptOutcome::GaveUp => (DeliveryStatus::Failed, now),
    };
    on!(conn, |e| sqlx::query(
        "UPDATE webhook_deliveries
         SET status = $2, next_attempt_at = $3, locked_until = 0, response_status = $4, last_error = $5
         WHERE id = $1 AND locked_until = $6",
    )
    .bind(due.id)
    .bind(status)
    .bind(next)
    .bind(attempted.response_status)
    .bind(attempted.error)
    .bind(attempted.claimed_until)
    .execute(e)
    .await
    .map(|r| r.rows_affected()))
    .context("recording a webhook attempt")?;
    let delivered = matches!(attempted.outcome, AttemptOutcome::Delivered);
    on!(conn, |e| sqlx::query(
        "UPDATE webhook_endpoints SET
             failures_in_a_row = CASE WHEN $2 THEN 0 ELSE failures_in_a_row + 1 END,
             failing_since = CASE
                 WHEN $2 THEN NULL
                 WHEN failing_since IS NULL AND failures_in_a_row + 1 >= $4 THEN $3
                 ELSE failing_since END
         WHERE id = $1",
    )
    .bind(due.endpoint_id)
    .bind(delivered)
    .bind(now)
    .bind(failing_after)
    .execute(e)
    .await
    .map(|r| r.rows_affected()))
    .context("recording an endpoint's failures")?;
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

#[cfg(test)]
mod tests {
    use sqlx::Connection;

    use super::*;

    /// The claim must not read a backlog (it runs every half second, on
    /// SQLite inside the write lock): every read of the outbox in its plan
    /// is a look-up by delivery id or by endpoint and then due time or
    /// lease, never a scan nor a range over every endpoint's deliveries.
    /// The plan is SQLite's on a database never ANALYZEd, as Keyward's are.
    #[tokio::test]
    async fn the_claim_reads_the_outbox_only_by_delivery_or_by_endpoint_on_sqlite() {
        let mut conn = sqlx::SqliteConnection::connect("sqlite::memory:")
            .await
            .unwrap();
        sqlx::migrate!("./migrations/sqlite")
            .run(&mut conn)
            .await
            .unwrap();
        let plan: Vec<(i64, i64, i64, String)> =
            sqlx::query_as(&format!("EXPLAIN QUERY PLAN {}", claim_query(false)))
                .bind(1_000_i64)
                .bind(1_120_i64)
                .bind(64_i64)
                .bind(4_i64)
                .bind(8_i64)
                .fetch_all(&mut conn)
                .await
                .unwrap();
        let steps: Vec<&str> = plan.iter().map(|(_, _, _, step)| step.as_str()).collect();
        // The names `claim_query` gives webhook_deliveries.
        let outbox = ["webhook_deliveries", "d", "x"];
        let reads: Vec<&str> = steps
            .iter()
            .copied()
            .filter(|step| {
                let mut words = step.split(' ');
                matches!(words.next(), Some("SCAN" | "SEARCH"))
                    && words.next().is_some_and(|name| outbox.contains(&name))
            })
            .collect();
        assert!(!reads.is_empty(), "{steps:#?}");
        for read in &reads {
            assert!(
                read.starts_with("SEARCH ")
                    && (read.ends_with("(rowid=?)") || read.contains("(endpoint_id=? AND ")),
                "a read of the outbox not by delivery or endpoint: {read}\n{steps:#?}"
            );
        }
        assert!(
            reads
                .iter()
                .any(|read| read.contains("webhook_deliveries_pending_turn (endpoint_id=?")),
            "{steps:#?}"
        );
    }
}
