//! The outbox of webhook events. Every change that webhooks report is
//! audited, so a use case fills the outbox where it records the audit event
//! (`audit::record`), in the transaction of its change: an event is sent if
//! and only if the change it describes committed, and a crash between the
//! two cannot lose it. Here is decided which events are sent, what they
//! carry and which endpoints get them; storage only writes the rows, and the
//! delivery worker sends them.

use serde_json::json;

use crate::domain::webhook::{self, EventType, RETRY_FOR_SECS, THROTTLE_SECS};
use crate::storage::Conn;
use crate::storage::audit::NewEvent;
use crate::storage::webhooks::{self as repo, Outgoing};

/// Queues `event` for every enabled endpoint of its organization that
/// subscribes to its type, if it is sent at all (an event in no organization
/// never is). An event a client can cause at will is throttled: an endpoint
/// that got one of its type about the same subject within the hour is
/// skipped.
pub(super) async fn offer(conn: &mut Conn, event: &NewEvent, now: i64) -> anyhow::Result<()> {
    let (Some(org), Some(kind)) = (event.organization_id, EventType::of(event.action)) else {
        return Ok(());
    };
    let subscribed: Vec<_> = repo::enabled(conn, org)
        .await?
        .into_iter()
        .filter(|(_, events)| events.contains(kind))
        .map(|(endpoint, _)| endpoint)
        .collect();
    // Most organizations have no webhook: their events are shaped for no one.
    if subscribed.is_empty() {
        return Ok(());
    }
    let message_id = webhook::message_id();
    let payload = webhook::payload(
        kind.key(),
        now,
        json!({
            "organization_id": org,
            "actor": event.actor,
            "subject": event.target,
            "detail": event.detail,
        }),
    );
    let outgoing = Outgoing {
        event_type: kind.key(),
        subject: event.target.as_deref(),
        message_id: &message_id,
        payload: &payload,
    };
    for endpoint in subscribed {
        if kind.is_throttled()
            && repo::sent_since(
                conn,
                endpoint,
                outgoing.event_type,
                outgoing.subject,
                now - THROTTLE_SECS,
            )
            .await?
        {
            continue;
        }
        repo::insert_delivery(conn, endpoint, &outgoing, now, now + RETRY_FOR_SECS).await?;
    }
    Ok(())
}
