//! Expiry reminders: 30, 7 and 1 days before a credential expires, and when
//! it has, each once (a row per threshold in the database decides, across
//! instances and restarts). Each is an audit event, so it also reaches the
//! organization's webhooks in the same transaction; and an email to the
//! owners and the credential's creator when SMTP is configured. The job
//! that sends them every minute is `jobs::reminders`.

use serde_json::json;

use crate::domain::credential::expiry::REMINDER_DAYS;
use crate::domain::{AuditAction, iso_time};
use crate::mail::ExpiryReminder;
use crate::state::AppState;
use crate::storage::audit::NewEvent;
use crate::storage::credentials as credentials_repo;
use crate::storage::members;
use crate::storage::reminders::{self as repo, Expiring};

const DAY: i64 = 86_400;
/// Credentials looked at per round.
const BATCH: i64 = 100;

/// The threshold a credential is at: 0 once expired, else the smallest of
/// 30, 7 and 1 days that its remaining time is within.
fn threshold(expires_at: i64, now: i64) -> Option<i64> {
    if expires_at <= now {
        return Some(0);
    }
    REMINDER_DAYS
        .iter()
        .copied()
        .filter(|days| expires_at - now <= days * DAY)
        .min()
}

/// A reminder due: the credential, and the threshold it is at.
pub struct Reminder {
    credential: Expiring,
    days: i64,
    /// When it was found due, the time it is worded for.
    now: i64,
}

/// The reminders due now (at most a batch), soonest expiry first.
pub async fn due(app: &AppState) -> anyhow::Result<Vec<Reminder>> {
    let now = app.now();
    let mut conn = app.db.acquire().await?;
    let expiring = repo::due(&mut conn, now, BATCH).await?;
    Ok(expiring
        .into_iter()
        .filter_map(|credential| {
            let days = threshold(credential.expires_at, now)?;
            // A smaller threshold was reminded of already (the date was near
            // when it was set): the larger ones are not sent late.
            let sent_smaller = credential.reminded.is_some_and(|r| r <= days);
            (!sent_smaller).then_some(Reminder {
                credential,
                days,
                now,
            })
        })
        .collect())
}

/// Sends one reminder: records it with its audit event (which reaches the
/// webhooks), then emails the owners and the creator. `false` when it is no
/// longer due (sent by another instance, or the date changed).
pub async fn remind(app: &AppState, reminder: &Reminder) -> anyhow::Result<bool> {
    let Reminder {
        credential,
        days,
        now,
    } = reminder;
    let (days, now) = (*days, *now);
    let mut tx = app.db.begin_org(credential.organization_id).await?.0;
    // Its date may have changed since it was listed: a reminder for the old
    // date would block those of the new one.
    let current =
        credentials_repo::find_by_id(&mut tx, credential.organization_id, credential.id).await?;
    if current.and_then(|c| c.expires_at) != Some(credential.expires_at) {
        return Ok(false);
    }
    if !repo::claim(&mut tx, credential.id, days, now).await? {
        return Ok(false);
    }
    let action = if days == 0 {
        AuditAction::CredentialExpired
    } else {
        AuditAction::CredentialExpiring
    };
    let left = ((credential.expires_at - now + DAY - 1) / DAY).max(0);
    let event = NewEvent {
        organization_id: Some(credential.organization_id),
        actor_user_id: None,
        actor: "Keyward".to_owned(),
        action,
        target: Some(credential.client_id.to_string()),
        ip: None,
        user_agent: None,
        detail: json!({
            "name": credential.name,
            "expires_at": iso_time(credential.expires_at),
            "days_left": left,
        }),
    };
    super::audit::record(&mut tx, &event, now).await?;
    let mut recipients: Vec<String> = members::list(&mut tx, credential.organization_id)
        .await?
        .into_iter()
        .filter(|m| m.access.is_owner() || m.email == credential.created_by)
        .map(|m| m.email)
        .collect();
    recipients.sort();
    recipients.dedup();
    tx.commit().await?;
    let expiry = ExpiryReminder {
        name: &credential.name,
        client_id: credential.client_id.as_str(),
        date: crate::domain::credential::expiry::date(credential.expires_at),
        days_left: left,
        console: &app.config.public_url,
    };
    for to in recipients {
        if let Err(error) = app.mailer.send(expiry.mail(to)).await {
            tracing::error!(
                error = format!("{error:#}"),
                "expiry reminder email not sent"
            );
        }
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_moment_has_one_threshold() {
        let now = 1_000_000;
        assert_eq!(threshold(now + 31 * DAY, now), None);
        assert_eq!(threshold(now + 30 * DAY, now), Some(30));
        assert_eq!(threshold(now + 8 * DAY, now), Some(30));
        assert_eq!(threshold(now + 7 * DAY, now), Some(7));
        assert_eq!(threshold(now + DAY, now), Some(1));
        assert_eq!(threshold(now + 1, now), Some(1));
        assert_eq!(threshold(now, now), Some(0));
    }
}
