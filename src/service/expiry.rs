//! Expiry reminders: 30, 7 and 1 days before a credential expires, and when
//! it has, each once (a row per threshold in the database decides, across
//! instances and restarts). Each is an audit event, so it also reaches the
//! organization's webhooks in the same transaction; and an email to the
//! owners and the credential's creator when SMTP is configured.

use serde_json::json;

use crate::domain::credential::expiry::REMINDER_DAYS;
use crate::domain::{AuditAction, iso_time};
use crate::mail::Mail;
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

/// One round: sends what is due. Returns how many reminders went out.
pub async fn run_once(app: &AppState) -> anyhow::Result<usize> {
    let now = app.now();
    let due = {
        let mut conn = app.db.acquire().await?;
        repo::due(&mut conn, now, BATCH).await?
    };
    let mut sent = 0;
    for credential in due {
        let Some(days) = threshold(credential.expires_at, now) else {
            continue;
        };
        // A smaller threshold was reminded of already (the date was near
        // when it was set): the larger ones are not sent late.
        if credential.reminded.is_some_and(|r| r <= days) {
            continue;
        }
        if remind(app, &credential, days, now).await? {
            sent += 1;
        }
    }
    Ok(sent)
}

async fn remind(
    app: &AppState,
    credential: &Expiring,
    days: i64,
    now: i64,
) -> anyhow::Result<bool> {
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
    let left = (credential.expires_at - now + DAY - 1) / DAY;
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
            "days_left": left.max(0),
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
    let date = crate::domain::credential::expiry::date(credential.expires_at);
    let (subject, opening) = if days == 0 {
        (
            format!("“{}” has expired", credential.name),
            format!(
                "The API credential “{}” ({}) expired at the end of {date} (UTC). It gets no more tokens: its token requests are refused with invalid_client.",
                credential.name, credential.client_id
            ),
        )
    } else {
        (
            format!(
                "“{}” expires in {left} day{}",
                credential.name,
                if left == 1 { "" } else { "s" }
            ),
            format!(
                "The API credential “{}” ({}) works until the end of {date} (UTC), in {left} day{}. After that it gets no tokens.",
                credential.name,
                credential.client_id,
                if left == 1 { "" } else { "s" }
            ),
        )
    };
    for to in recipients {
        let mail = Mail {
            to,
            subject: subject.clone(),
            body: format!(
                "{opening}\n\nTo keep it working, edit it and choose a later date, or create a replacement and move your systems to it.\n\n{}/settings/credentials\n",
                app.config.public_url
            ),
        };
        if let Err(error) = app.mailer.send(mail).await {
            tracing::error!(
                error = format!("{error:#}"),
                "expiry reminder email not sent"
            );
        }
    }
    Ok(true)
}

/// Runs the reminders every minute until the process ends.
pub fn spawn(app: AppState) {
    tokio::spawn(async move {
        let mut every = tokio::time::interval(std::time::Duration::from_secs(60));
        loop {
            every.tick().await;
            if let Err(error) = run_once(&app).await {
                tracing::warn!(
                    error = format!("{error:#}"),
                    "expiry reminders round failed"
                );
            }
        }
    });
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
