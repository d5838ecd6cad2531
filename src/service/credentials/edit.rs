//! What an edit names: a [`Patch`] of the fields it changes, applied to the
//! credential as it is under the organization's lock, and [`Shown`], what an
//! edit form showed, so a whole form's save changes only what the person
//! changed.

use super::{Draft, Error, Result, keeps_policy};
use crate::domain::FieldError;
use crate::domain::credential::{CredentialName, Description, expiry};
use crate::domain::ip::IpAllowlist;
use crate::domain::permission::{Permissions, SetType};
use crate::storage::credentials::Credential;
use crate::storage::orgs::Organization;

/// The fields a change names; the rest stay as stored. Applied to the
/// credential read under the organization's lock ([`update`]), so a change
/// of one field never writes back a stale copy of another.
#[derive(Default)]
pub struct Patch {
    pub name: Option<CredentialName>,
    pub description: Option<Description>,
    pub set: Option<SetType>,
    pub permissions: Option<Permissions>,
    pub ips: Option<IpAllowlist>,
    /// `Some(None)` removes the expiry.
    pub expires_at: Option<Option<i64>>,
}

impl Patch {
    /// A patch that names every field: what a whole form or a create sends.
    pub fn whole(draft: &Draft) -> Patch {
        Patch {
            name: Some(draft.name.clone()),
            description: Some(draft.description.clone()),
            set: Some(draft.set),
            permissions: Some(draft.permissions.clone()),
            ips: Some(draft.ips.clone()),
            expires_at: Some(draft.expires_at),
        }
    }

    /// The draft of a patch that names every field; `None` when one is missing.
    pub fn complete(self) -> Option<Draft> {
        Some(Draft {
            name: self.name?,
            description: self.description?,
            set: self.set?,
            permissions: self.permissions?,
            ips: self.ips?,
            expires_at: self.expires_at?,
        })
    }

    /// The credential `before` with this patch's fields in place.
    pub(super) fn onto(&self, before: &Credential) -> Result<Draft> {
        let stored = |e: crate::domain::FieldError| {
            Error::Internal(anyhow::anyhow!("stored credential: {}", e.message))
        };
        Ok(Draft {
            name: match &self.name {
                Some(name) => name.clone(),
                None => CredentialName::parse(&before.name).map_err(stored)?,
            },
            description: match &self.description {
                Some(description) => description.clone(),
                None => Description::parse(before.description.as_deref().unwrap_or(""))
                    .map_err(stored)?,
            },
            set: self.set.unwrap_or(before.permission_set),
            permissions: self
                .permissions
                .clone()
                .unwrap_or_else(|| before.permissions.clone()),
            ips: self
                .ips
                .clone()
                .unwrap_or_else(|| before.ip_allowlist.clone()),
            expires_at: self.expires_at.unwrap_or(before.expires_at),
        })
    }
}

/// What an edit form showed of a credential, carried in the form, so that
/// saving it changes only the fields the person changed: a field someone
/// else changed meanwhile, and this person left as shown, stays as stored.
#[derive(serde::Serialize, serde::Deserialize, PartialEq)]
pub struct Shown {
    name: String,
    description: Option<String>,
    set: String,
    permissions: String,
    ips: String,
    expires_at: Option<i64>,
}

impl Shown {
    pub fn of(c: &Credential) -> Shown {
        Shown {
            name: c.name.clone(),
            description: c.description.clone(),
            set: c.permission_set.key().to_owned(),
            permissions: c.permissions.to_scope_string(),
            ips: c.ip_allowlist.to_stored(),
            expires_at: c.expires_at,
        }
    }

    fn of_draft(d: &Draft) -> Shown {
        Shown {
            name: d.name.as_str().to_owned(),
            description: d.description.as_deref().map(str::to_owned),
            set: d.set.key().to_owned(),
            permissions: d.permissions.to_scope_string(),
            ips: d.ips.to_stored(),
            expires_at: d.expires_at,
        }
    }

    /// As the form's hidden field carries it.
    pub fn encode(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// `None` for a field that is missing or altered beyond reading.
    pub fn decode(text: &str) -> Option<Shown> {
        serde_json::from_str(text).ok()
    }
}

impl Patch {
    /// The fields of a whole form's `draft` that differ from what the form
    /// `shown`; every field when what it showed is unknown.
    pub fn edits(draft: &Draft, shown: Option<&Shown>) -> Patch {
        let Some(shown) = shown else {
            return Patch::whole(draft);
        };
        let saved = Shown::of_draft(draft);
        Patch {
            name: (saved.name != shown.name).then(|| draft.name.clone()),
            description: (saved.description != shown.description)
                .then(|| draft.description.clone()),
            set: (saved.set != shown.set).then_some(draft.set),
            permissions: (saved.permissions != shown.permissions)
                .then(|| draft.permissions.clone()),
            ips: (saved.ips != shown.ips).then(|| draft.ips.clone()),
            expires_at: (saved.expires_at != shown.expires_at).then_some(draft.expires_at),
        }
    }
}

/// The day an expiry ends: what an edit leaves unchanged or changes.
fn day(expires_at: Option<i64>) -> Option<String> {
    expires_at.map(expiry::date)
}

/// The one rule for an edit's expiry: an edit that leaves a credential
/// ending on the day it ends now leaves its expiry unchanged, and an
/// unchanged expiry is not checked again (its day may have come, or a
/// policy set since may be shorter). Only a new expiry must be after today
/// ([`edited_expiry`]) and keep the organization's policy
/// ([`keeps_policy_if_changed`]).
fn unchanged(current: Option<i64>, edited: Option<i64>) -> bool {
    day(current) == day(edited)
}

/// The expiry an edit's date gives (YYYY-MM-DD; empty for none): the
/// credential's `current` one as stored when the date is its day, else a
/// new one, which must be after today. `current` is `None` for a create.
pub fn edited_expiry(
    raw: &str,
    current: Option<i64>,
    now: i64,
) -> std::result::Result<Option<i64>, FieldError> {
    if current.is_some() && day(current).as_deref() == Some(raw.trim()) {
        return Ok(current);
    }
    expiry::parse(raw, now)
}

/// Refuses a changed expiry the organization's policy does not allow; an
/// unchanged one passes ([`unchanged`]).
pub(super) fn keeps_policy_if_changed(
    org: &Organization,
    before: Option<i64>,
    after: Option<i64>,
    now: i64,
) -> Result<()> {
    if unchanged(before, after) {
        return Ok(());
    }
    keeps_policy(org, after, now)
}
