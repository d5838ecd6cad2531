//! The bodies of a create and an update, and the one parser of their
//! fields: each value through the domain's own way in, the one the console
//! uses, so both refuse the same input with the same message.

use serde::Deserialize;
use utoipa::ToSchema;

use super::super::problem::FieldProblem;
use super::super::{Problem, schema};
use crate::domain::credential::{CredentialName, Description};
use crate::domain::ip::IpAllowlist;
use crate::domain::permission::{Permissions, SetType};
use crate::domain::{FieldError, Justification};
use crate::service::credentials::{Draft, Patch, edited_expiry};

/// The body of a create: the New Credential dialog's fields.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewCredential {
    #[schema(schema_with = schema::name)]
    name: String,
    #[serde(default)]
    #[schema(schema_with = schema::description)]
    description: Option<String>,
    #[schema(schema_with = schema::permission_set)]
    permission_set: String,
    #[schema(schema_with = schema::permissions)]
    permissions: Vec<String>,
    #[schema(schema_with = schema::ip_allowlist)]
    ip_allowlist: Vec<String>,
    #[serde(default)]
    #[schema(schema_with = schema::justification)]
    justification: Option<String>,
    /// The last day it works (YYYY-MM-DD, UTC); `null` or absent for no
    /// expiry, unless the organization requires one.
    #[serde(default)]
    #[schema(schema_with = schema::expires_on)]
    expires_on: Option<String>,
}

/// The value, or its message added to `errors`.
fn check<T>(result: Result<T, FieldError>, errors: &mut Vec<FieldProblem>) -> Option<T> {
    result.map_err(|e| field(errors, e)).ok()
}

fn field(errors: &mut Vec<FieldProblem>, error: FieldError) {
    errors.push(FieldProblem {
        field: error.field.to_owned(),
        message: error.message,
    });
}

/// Field errors of a form-shaped check, as problem fields.
pub(in crate::http::api) fn problem_fields(errors: Vec<FieldError>) -> Vec<FieldProblem> {
    let mut out = Vec::new();
    for error in errors {
        field(&mut out, error);
    }
    out
}

/// The fields of a create or an update as sent, each `None` when left out
/// (`Some(None)` is an explicit `null`): one parser for both, so they refuse
/// the same input with the same message.
struct Sent<'a> {
    name: Option<&'a str>,
    description: Option<Option<&'a str>>,
    permission_set: Option<&'a str>,
    permissions: Option<&'a [String]>,
    ip_allowlist: Option<&'a [String]>,
    justification: Option<&'a str>,
    expires_on: Option<Option<&'a str>>,
}

impl Sent<'_> {
    /// The fields sent, parsed, or every field's message.
    fn parse(&self, now: i64) -> Result<(Patch, Option<Justification>), Problem> {
        let mut errors = Vec::new();
        let mut patch = Patch::default();
        if let Some(name) = self.name {
            patch.name = check(CredentialName::parse(name), &mut errors);
        }
        if let Some(description) = self.description {
            patch.description = check(Description::parse(description.unwrap_or("")), &mut errors);
        }
        if let Some(set) = self.permission_set {
            patch.set = SetType::parse(set);
            if patch.set.is_none() {
                errors.push(FieldProblem {
                    field: "permission_set".to_owned(),
                    message:
                        "Choose a permission set type: wallets, transactions, controls or monitoring."
                            .to_owned(),
                });
            }
        }
        if let Some(permissions) = self.permissions {
            patch.permissions = check(Permissions::from_scopes(permissions), &mut errors);
        }
        if let Some(list) = self.ip_allowlist {
            patch.ips = ip_allowlist(list, &mut errors);
        }
        let justification = match self.justification {
            Some(text) => check(Justification::parse(text), &mut errors),
            None => None,
        };
        if let Some(date) = self.expires_on {
            // `null` is no expiry; a string must be a date (the form's empty
            // field has no meaning here).
            let parsed = match date {
                Some(date) if date.trim().is_empty() => Err(FieldError::new(
                    "expires_on",
                    "Enter a date as YYYY-MM-DD, or null for no expiry.",
                )),
                // The API reads no credential before the use case takes
                // the lock, so any date it is sent is a new one.
                date => edited_expiry(date.unwrap_or(""), None, now),
            };
            patch.expires_at = check(parsed, &mut errors);
        }
        if errors.is_empty() {
            Ok((patch, justification))
        } else {
            Err(Problem::validation(errors))
        }
    }
}

impl NewCredential {
    /// The draft, or every field's message.
    pub(super) fn draft(&self, now: i64) -> Result<(Draft, Option<Justification>), Problem> {
        let (patch, justification) = Sent {
            name: Some(&self.name),
            description: Some(self.description.as_deref()),
            permission_set: Some(&self.permission_set),
            permissions: Some(&self.permissions),
            ip_allowlist: Some(&self.ip_allowlist),
            justification: self.justification.as_deref(),
            // Absent or null alike: no expiry.
            expires_on: Some(self.expires_on.as_deref()),
        }
        .parse(now)?;
        // Every field was sent, so every field is there once parsing passed.
        let draft = patch
            .complete()
            .ok_or_else(|| Problem::validation(Vec::new()))?;
        Ok((draft, justification))
    }
}

/// The allowlist of a request body through the console's own parser:
/// `["0.0.0.0/0"]` is all addresses; an entry's message names its index.
fn ip_allowlist(list: &[String], errors: &mut Vec<FieldProblem>) -> Option<IpAllowlist> {
    let entries = list.iter().enumerate().map(|(i, e)| (i + 1, e.as_str()));
    match IpAllowlist::from_entries(entries) {
        Ok((list, _notes)) => Some(list),
        Err(problems) => {
            errors.extend(problems.into_iter().map(|e| FieldProblem {
                field: match e.line {
                    Some(line) if !e.of_list => format!("ip_allowlist[{}]", line - 1),
                    _ => "ip_allowlist".to_owned(),
                },
                message: e.message,
            }));
            None
        }
    }
}

/// The body of an update: any of the editable fields; the rest stay.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CredentialChanges {
    #[schema(schema_with = schema::name_change)]
    name: Option<String>,
    /// `null` removes the description.
    #[serde(default, with = "double_option")]
    #[schema(schema_with = schema::description)]
    description: Option<Option<String>>,
    #[schema(schema_with = schema::permission_set_change)]
    permission_set: Option<String>,
    #[schema(schema_with = schema::permissions_change)]
    permissions: Option<Vec<String>>,
    #[schema(schema_with = schema::ip_allowlist_change)]
    ip_allowlist: Option<Vec<String>>,
    #[schema(schema_with = schema::justification)]
    justification: Option<String>,
    /// `null` removes the expiry (unless the organization requires one).
    #[serde(default, with = "double_option")]
    #[schema(schema_with = schema::expires_on)]
    expires_on: Option<Option<String>>,
}

/// Tells a missing field (`None`) from an explicit `null` (`Some(None)`).
mod double_option {
    use serde::{Deserialize, Deserializer};

    pub fn deserialize<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
    where
        D: Deserializer<'de>,
        T: Deserialize<'de>,
    {
        Option::<T>::deserialize(deserializer).map(Some)
    }
}

impl CredentialChanges {
    /// Only the fields sent, parsed; the use case puts them onto the
    /// credential as it is under the organization's lock.
    pub(super) fn patch(&self, now: i64) -> Result<(Patch, Option<Justification>), Problem> {
        Sent {
            name: self.name.as_deref(),
            description: self.description.as_ref().map(Option::as_deref),
            permission_set: self.permission_set.as_deref(),
            permissions: self.permissions.as_deref(),
            ip_allowlist: self.ip_allowlist.as_deref(),
            justification: self.justification.as_deref(),
            expires_on: self.expires_on.as_ref().map(Option::as_deref),
        }
        .parse(now)
    }
}
