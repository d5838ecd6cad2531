//! Leaked secrets reported by GitHub's secret scanning partner program. A
//! report that names a Keyward secret disables its credential at once (a
//! delete would lose its history and break what the owners must fix),
//! records where the secret was found, and tells the audit log. Anything
//! else in the report changes nothing.

use serde_json::json;

use super::Result;
use super::audit::EventExt;
use crate::domain::credential::Secret;
use crate::domain::{AuditAction, CredentialStatus};
use crate::mail::Mail;
use crate::state::AppState;
use crate::storage::audit::NewEvent;
use crate::storage::credentials as repo;

/// One match GitHub found, as its report lists it.
pub struct Found<'a> {
    pub token: &'a str,
    pub token_type: &'a str,
    pub url: &'a str,
    pub source: &'a str,
}

/// Whether the token was a live Keyward secret (`true_positive`).
pub async fn report(app: &AppState, found: &Found<'_>) -> Result<bool> {
    if !Secret::is_well_formed(found.token) {
        return Ok(false);
    }
    let digest = app.keys.secret_digest(found.token);
    let located = {
        let mut conn = app.db.acquire().await?;
        repo::find_by_secret_digest(&mut conn, &digest).await?
    };
    let Some((org, _)) = located else {
        return Ok(false);
    };
    let (mut tx, _) = app.db.begin_org(org).await?;
    // Read again under the lock: the secret may have been rotated away.
    let Some((_, id)) = repo::find_by_secret_digest(&mut tx, &digest).await? else {
        return Ok(false);
    };
    let now = app.now();
    let Some(credential) = repo::find_by_id(&mut tx, org, id).await? else {
        return Ok(false);
    };
    let url: String = found
        .url
        .chars()
        .filter(|c| !c.is_control())
        .take(2000)
        .collect();
    let new_place = repo::record_leak(
        &mut tx,
        id,
        &url,
        &truncated(found.source),
        &truncated(found.token_type),
        now,
    )
    .await?;
    let was_enabled = credential.status == CredentialStatus::Enabled;
    if was_enabled {
        repo::set_status(&mut tx, id, CredentialStatus::Disabled, now).await?;
    }
    // The owners hear of it by email (when SMTP is configured).
    let owners: Vec<String> = if was_enabled {
        crate::storage::members::list(&mut tx, org)
            .await?
            .into_iter()
            .filter(|m| m.access.is_owner())
            .map(|m| m.email)
            .collect()
    } else {
        Vec::new()
    };
    if new_place || was_enabled {
        let event = NewEvent {
            organization_id: Some(org),
            actor_user_id: None,
            actor: "GitHub secret scanning".to_owned(),
            action: AuditAction::SecretLeaked,
            target: None,
            ip: None,
            user_agent: None,
            detail: json!({}),
        }
        .target(&credential.client_id)
        .detail(json!({
            "name": credential.name,
            "url": url,
            "source": truncated(found.source),
            "type": truncated(found.token_type),
            "disabled": was_enabled,
        }));
        super::audit::record(&mut tx, &event, now).await?;
    }
    tx.commit().await?;
    if was_enabled {
        tracing::warn!(client_id = %credential.client_id, "a leaked secret's credential was disabled");
    }
    for owner in owners {
        let mail = Mail {
            to: owner,
            subject: format!(
                "The secret of “{}” leaked: the credential is disabled",
                credential.name
            ),
            body: format!(
                "GitHub secret scanning found the secret of the API credential “{name}” ({client_id}) at:\n\n{url}\n\n                 Keyward disabled the credential at once: it gets no new tokens, and the tokens it already had are inactive at introspection.\n\n                 What to do:\n1. Rotate the credential (Settings > Credentials > … > Rotate Credential) and give the new secret to the systems that use it.\n                 2. Remove the secret from where it was found.\n3. Enable the credential again.\n\n{console}/settings/credentials\n",
                name = credential.name,
                client_id = credential.client_id,
                console = app.config.public_url,
            ),
        };
        if let Err(error) = app.mailer.send(mail).await {
            tracing::error!(error = format!("{error:#}"), "leak email not sent");
        }
    }
    Ok(true)
}

fn truncated(text: &str) -> String {
    text.chars().filter(|c| !c.is_control()).take(200).collect()
}
