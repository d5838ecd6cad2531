//! What the delivery worker reads and writes of the outbox: it claims due
//! deliveries fairly and under a lease, reads the endpoint each goes to, and
//! records how each attempt ended. Use cases queue deliveries, list and
//! resend them through [`super::webhooks`].

use anyhow::Context;
use sqlx::FromRow;

use super::webhooks::{ENDPOINT, Endpoint};
use super::{Conn, Either};
use crate::domain::ids::{DeliveryId, WebhookId};
use crate::domain::webhook::{DeliveryError, DeliveryStatus};

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
