//! Webhook endpoints (owners only): add, change, rotate the signing secret,
//! delete; the recent deliveries, a resend, a test event. Test events and
//! resends are limited per endpoint (a rate and a backlog), so an owner
//! cannot fill the outbox with sends to a receiver that never answers.

use serde_json::json;

use super::audit::EventExt;
use super::{Actor, Error, Result, lock};
use crate::domain::ids::{DeliveryId, WebhookId};
use crate::domain::webhook::{
    self, EventTypes, RETRY_FOR_SECS, ROTATION_OVERLAP_SECS, SigningSecret, TEST_EVENT, WebhookUrl,
};
use crate::domain::{AuditAction, FieldErrors};
use crate::state::AppState;
use crate::storage::webhooks::{self as repo, Delivery, Endpoint, Outgoing};
use crate::webhook_client::seal_context;

/// An organization holds at most this many endpoints.
pub const MAX_ENDPOINTS: i64 = 10;
/// The page and the API show this many recent deliveries per endpoint.
pub const RECENT_DELIVERIES: i64 = 50;
/// An endpoint takes at most this many test events and resends in a minute
/// (the window starts with the first of them).
pub const MANUAL_SENDS_PER_MINUTE: i64 = 5;
const MANUAL_WINDOW_SECS: i64 = 60;
/// A test event or resend is refused when it would leave more than this
/// many deliveries of the endpoint waiting to be sent or retried. Events of
/// real changes are always queued: they are never dropped.
pub const MAX_PENDING: i64 = 20;
/// What a refusal for the backlog asks the caller to wait (`Retry-After`).
pub const BACKLOG_RETRY_SECS: i64 = 60;

/// An endpoint's settings, parsed.
#[derive(Debug, Clone)]
pub struct Draft {
    pub url: WebhookUrl,
    pub description: String,
    pub events: EventTypes,
    pub enabled: bool,
}

impl Draft {
    /// The one way in for an endpoint's settings, the page's and the API's:
    /// the draft, or every field's message at its field.
    pub fn parse<'a>(
        url: &str,
        description: &str,
        events: impl IntoIterator<Item = &'a str>,
        enabled: bool,
        allow_http_loopback: bool,
    ) -> std::result::Result<Draft, FieldErrors> {
        let patch = Patch::parse(
            Some(url),
            Some(description),
            Some(events),
            Some(enabled),
            allow_http_loopback,
        )?;
        match patch {
            Patch {
                url: Some(url),
                description: Some(description),
                events: Some(events),
                enabled: Some(enabled),
            } => Ok(Draft {
                url,
                description,
                events,
                enabled,
            }),
            _ => unreachable!("every field was given"),
        }
    }
}

/// The settings a change names (an API `PATCH`); the others stay as they
/// are stored when the change is applied, under the organization's lock.
#[derive(Debug, Clone, Default)]
pub struct Patch {
    pub url: Option<WebhookUrl>,
    pub description: Option<String>,
    pub events: Option<EventTypes>,
    pub enabled: Option<bool>,
}

impl Patch {
    /// Each given field parsed as [`Draft::parse`] parses it, or every
    /// field's message at its field.
    pub fn parse<'a, E: IntoIterator<Item = &'a str>>(
        url: Option<&str>,
        description: Option<&str>,
        events: Option<E>,
        enabled: Option<bool>,
        allow_http_loopback: bool,
    ) -> std::result::Result<Patch, FieldErrors> {
        let mut errors = FieldErrors::default();
        let patch = Patch {
            url: url.and_then(|url| errors.check(WebhookUrl::parse(url, allow_http_loopback))),
            description: description
                .and_then(|description| errors.check(webhook::parse_description(description))),
            events: events.and_then(|events| errors.check(EventTypes::parse(events))),
            enabled,
        };
        if errors.is_empty() {
            Ok(patch)
        } else {
            Err(errors)
        }
    }

    /// The endpoint's settings with this change applied.
    fn applied_to(self, endpoint: &Endpoint) -> Draft {
        Draft {
            url: self
                .url
                .unwrap_or_else(|| WebhookUrl::parse_stored(&endpoint.url)),
            description: self
                .description
                .unwrap_or_else(|| endpoint.description.clone()),
            events: self.events.unwrap_or_else(|| endpoint.events.clone()),
            enabled: self.enabled.unwrap_or(endpoint.enabled),
        }
    }
}

impl From<Draft> for Patch {
    fn from(draft: Draft) -> Patch {
        Patch {
            url: Some(draft.url),
            description: Some(draft.description),
            events: Some(draft.events),
            enabled: Some(draft.enabled),
        }
    }
}

/// The endpoints of the actor's organization. Owners only: a URL may hold
/// the receiver's own secret.
pub async fn list(app: &AppState, actor: &Actor) -> Result<Vec<Endpoint>> {
    must_own(actor)?;
    let mut conn = app.db.acquire().await?;
    Ok(repo::list(&mut conn, actor.org).await?)
}

pub async fn get(app: &AppState, actor: &Actor, id: WebhookId) -> Result<Endpoint> {
    must_own(actor)?;
    let mut conn = app.db.acquire().await?;
    repo::find(&mut conn, actor.org, id)
        .await?
        .ok_or(Error::NotFound)
}

/// Adds an endpoint; its signing secret is returned once and stored sealed.
pub async fn create(
    app: &AppState,
    actor: &Actor,
    draft: &Draft,
) -> Result<(WebhookId, SigningSecret)> {
    let mut locked = lock(app, actor).await?;
    locked.must_own()?;
    if repo::count(&mut locked.tx, actor.org).await? >= MAX_ENDPOINTS {
        return Err(Error::TooManyWebhooks);
    }
    let secret = SigningSecret::generate();
    let sealed = app.keys.seal(secret.expose(), &seal_context(actor.org));
    let new = repo::NewEndpoint {
        org: actor.org,
        url: draft.url.as_str(),
        description: &draft.description,
        events: &draft.events,
        enabled: draft.enabled,
        sealed_secret: &sealed,
    };
    let id = repo::insert(&mut locked.tx, &new, locked.now).await?;
    let event = described(actor.event(AuditAction::WebhookCreated), id, draft);
    locked.commit(&event).await?;
    Ok((id, secret))
}

/// Changes the settings `patch` names, on the endpoint as it is stored now:
/// a change made meanwhile to another field is kept.
pub async fn update(app: &AppState, actor: &Actor, id: WebhookId, patch: Patch) -> Result<()> {
    let mut locked = lock(app, actor).await?;
    locked.must_own()?;
    let stored = repo::find(&mut locked.tx, actor.org, id)
        .await?
        .ok_or(Error::NotFound)?;
    let draft = &patch.applied_to(&stored);
    let settings = repo::Settings {
        url: draft.url.as_str(),
        description: &draft.description,
        events: &draft.events,
        enabled: draft.enabled,
    };
    repo::update(&mut locked.tx, actor.org, id, &settings).await?;
    let event = described(actor.event(AuditAction::WebhookUpdated), id, draft);
    locked.commit(&event).await
}

/// A new signing secret, returned once; the previous one also signs for 24
/// hours, so receivers switch without missing a delivery.
pub async fn rotate_secret(app: &AppState, actor: &Actor, id: WebhookId) -> Result<SigningSecret> {
    let mut locked = lock(app, actor).await?;
    locked.must_own()?;
    let endpoint = repo::find(&mut locked.tx, actor.org, id)
        .await?
        .ok_or(Error::NotFound)?;
    let secret = SigningSecret::generate();
    let sealed = app.keys.seal(secret.expose(), &seal_context(actor.org));
    let until = locked.now + ROTATION_OVERLAP_SECS;
    repo::rotate_secret(&mut locked.tx, actor.org, id, &sealed, until).await?;
    let event = actor
        .event(AuditAction::WebhookSecretRotated)
        .target(WebhookUrl::parse_stored(&endpoint.url).origin())
        .detail(json!({ "webhook_id": id }));
    locked.commit(&event).await?;
    Ok(secret)
}

pub async fn delete(app: &AppState, actor: &Actor, id: WebhookId) -> Result<()> {
    let mut locked = lock(app, actor).await?;
    locked.must_own()?;
    let endpoint = repo::find(&mut locked.tx, actor.org, id)
        .await?
        .ok_or(Error::NotFound)?;
    repo::delete(&mut locked.tx, actor.org, id).await?;
    let event = actor
        .event(AuditAction::WebhookDeleted)
        .target(WebhookUrl::parse_stored(&endpoint.url).origin())
        .detail(json!({ "webhook_id": id }));
    locked.commit(&event).await
}

/// The endpoint's recent deliveries, newest first.
pub async fn deliveries(app: &AppState, actor: &Actor, id: WebhookId) -> Result<Vec<Delivery>> {
    let endpoint = get(app, actor, id).await?;
    let mut conn = app.db.acquire().await?;
    Ok(repo::deliveries(&mut conn, endpoint.id, RECENT_DELIVERIES).await?)
}

/// Sends one delivery again now, with the same message id.
pub async fn resend(
    app: &AppState,
    actor: &Actor,
    id: WebhookId,
    delivery: DeliveryId,
) -> Result<()> {
    let mut locked = lock(app, actor).await?;
    locked.must_own()?;
    repo::find(&mut locked.tx, actor.org, id)
        .await?
        .ok_or(Error::NotFound)?;
    let now = locked.now;
    if !repo::resend(&mut locked.tx, id, delivery, now, now + RETRY_FOR_SECS).await? {
        return Err(Error::NotFound);
    }
    // Counted after the change, so a delivery already pending is not
    // counted twice in what is waiting.
    count_manual_send(&mut locked, id).await?;
    locked.tx.commit().await?;
    Ok(())
}

/// Counts a test event or resend of `endpoint`, just queued in the
/// transaction, or refuses it (and the caller's transaction is dropped with
/// what it queued): past [`MANUAL_SENDS_PER_MINUTE`] in the minute, or when
/// it leaves more than [`MAX_PENDING`] deliveries waiting. Under the
/// organization's lock, so requests at once cannot pass together.
async fn count_manual_send(locked: &mut super::Locked, endpoint: WebhookId) -> Result<()> {
    let now = locked.now;
    let (window_start, sends) = repo::manual_sends(&mut locked.tx, endpoint).await?;
    let (window_start, sends) = if now < window_start + MANUAL_WINDOW_SECS {
        (window_start, sends)
    } else {
        (now, 0)
    };
    if sends >= MANUAL_SENDS_PER_MINUTE {
        return Err(Error::WebhookSendRate {
            retry_after: (window_start + MANUAL_WINDOW_SECS - now).max(1),
        });
    }
    let waiting = repo::pending(&mut locked.tx, endpoint).await?;
    if waiting > MAX_PENDING {
        return Err(Error::WebhookBacklog);
    }
    repo::set_manual_sends(&mut locked.tx, endpoint, window_start, sends + 1).await?;
    Ok(())
}

/// Queues a `webhook.test` event for this endpoint alone.
pub async fn send_test(app: &AppState, actor: &Actor, id: WebhookId) -> Result<DeliveryId> {
    let mut locked = lock(app, actor).await?;
    locked.must_own()?;
    let endpoint = repo::find(&mut locked.tx, actor.org, id)
        .await?
        .ok_or(Error::NotFound)?;
    if !endpoint.enabled {
        return Err(Error::WebhookDisabled);
    }
    let now = locked.now;
    let message_id = webhook::message_id();
    let payload = webhook::payload(
        TEST_EVENT,
        now,
        json!({
            "organization_id": actor.org,
            "actor": actor.email,
            "message": "A test event sent from Keyward. Your endpoint received and verified it.",
        }),
    );
    let outgoing = Outgoing {
        event_type: TEST_EVENT,
        subject: None,
        message_id: &message_id,
        payload: &payload,
    };
    let delivery =
        repo::insert_delivery(&mut locked.tx, id, &outgoing, now, now + RETRY_FOR_SECS).await?;
    count_manual_send(&mut locked, id).await?;
    locked.tx.commit().await?;
    Ok(delivery)
}

/// "1 second", "40 seconds".
pub(crate) fn seconds(n: &i64) -> String {
    match n {
        1 => "1 second".to_owned(),
        n => format!("{n} seconds"),
    }
}

/// How long to wait after a test event or resend was refused, in seconds
/// (`Retry-After`); `None` for every other error.
pub fn retry_after(error: &Error) -> Option<i64> {
    match error {
        Error::WebhookSendRate { retry_after } => Some(*retry_after),
        Error::WebhookBacklog => Some(BACKLOG_RETRY_SECS),
        _ => None,
    }
}

fn must_own(actor: &Actor) -> Result<()> {
    if actor.access.is_owner() {
        Ok(())
    } else {
        Err(Error::OwnersOnly)
    }
}

/// The audit event of a change to an endpoint: its origin only, since the
/// audit log is read by administrators and support staff, and a URL's path
/// may hold the receiver's secret.
fn described(
    event: crate::storage::audit::NewEvent,
    id: WebhookId,
    draft: &Draft,
) -> crate::storage::audit::NewEvent {
    event.target(draft.url.origin()).detail(json!({
        "webhook_id": id,
        "events": draft.events.to_stored(),
        "enabled": draft.enabled,
    }))
}
