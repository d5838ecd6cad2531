//! The New Credential and Edit form: its fields as submitted, the
//! permission picker (one access level per type of resource, optional rows
//! limited to one vault or key, a permission set type's defaults) and the
//! checks that turn it into a [`Draft`], each message at its field.

use serde::Deserialize;

use crate::domain::credential::{CredentialName, Description, Environment};
use crate::domain::ip::IpAllowlist;
use crate::domain::permission::{
    self, KINDS, MAX_PERMISSIONS, Part, Permission, Permissions, SET_TYPES, SetType,
};
use crate::domain::{FieldError, FieldErrors, Justification};
use crate::service::credentials::{self, Draft};
use crate::state::AppState;

/// The fields of the New Credential and Edit dialogs, as submitted.
/// `grant` holds one `type:actions` value per type of resource
/// (`transactions:create,read`; `vault:` for no access). The four `res_*`
/// lists are the columns of the rows limited to one vault or key; `op` is
/// the button that sent the form when it was not the main one.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct CredentialForm {
    pub name: String,
    pub description: String,
    pub permission_set: String,
    pub grant: Vec<String>,
    pub res_type: Vec<String>,
    pub res_access: Vec<String>,
    pub res_scope: Vec<String>,
    pub res_resource: Vec<String>,
    pub ip_mode: String,
    pub ip_list: String,
    pub justification: String,
    /// The last day it works, YYYY-MM-DD; empty for never.
    pub expires_on: String,
    pub op: String,
    /// Edit only: what the form showed (`credentials::Shown`), so a save
    /// changes only what the person changed.
    pub shown: String,
}

/// One type of resource in the picker, with its access level.
pub struct GrantRow {
    pub kind: &'static permission::Kind,
    /// The chosen actions as an option value (`create,read`).
    pub value: String,
    /// Each option: its value and its label.
    pub options: Vec<(String, String)>,
}

/// The options of an access select: the levels, and the current value when
/// no level names it (a stored `create,delete`), so nothing is lost.
fn access_options(
    levels: &[(&'static str, &'static [&'static str])],
    value: &str,
) -> Vec<(String, String)> {
    let mut options: Vec<(String, String)> = levels
        .iter()
        .map(|(label, actions)| (permission::actions_value(actions), (*label).to_owned()))
        .collect();
    if !options.iter().any(|(v, _)| v == value) {
        let label = match permission::parse_actions(value) {
            Ok(actions) => permission::level_label(&actions),
            Err(_) => value.chars().take(40).collect(),
        };
        options.push((value.to_owned(), label));
    }
    options
}

/// A row limited to one vault or key.
pub struct RowView {
    pub kind: String,
    pub access: String,
    pub scope: String,
    pub resource: String,
    /// Which input the message is about: "type", "access", "scope", "resource".
    pub error_part: &'static str,
    pub error: String,
}

impl RowView {
    pub fn access_options(&self) -> Vec<(String, String)> {
        access_options(&permission::LEVELS[1..], &self.access)
    }
}

/// Everything the shared form fields need.
pub struct Fields {
    pub form: CredentialForm,
    pub rows: Vec<RowView>,
    pub errors: FieldErrors,
    pub ip_errors: Vec<String>,
    pub needs_justification: bool,
    pub production: bool,
    /// What gets `autofocus` when the dialog is (re-)rendered.
    pub focus: &'static str,
    pub post_to: String,
    pub set_types: &'static [SetType],
    pub kinds: &'static [permission::Kind],
    pub scopes: &'static [(&'static str, &'static str)],
    /// The organization's longest allowed lifetime, in days, if it sets one.
    pub max_days: Option<i64>,
    /// On Edit, the credential's expiry as stored: an unchanged date keeps
    /// it ([`credentials::edited_expiry`]).
    pub current_expiry: Option<i64>,
    now: i64,
}

/// The scopes a limited row offers, with their labels.
const LIMITED_SCOPES: &[(&str, &str)] = &[("vault", "Vault"), ("key", "Key")];

impl Fields {
    pub fn new(
        form: CredentialForm,
        state: &AppState,
        post_to: String,
        needs_justification: bool,
    ) -> Fields {
        let rows = (0..form.res_type.len().min(MAX_PERMISSIONS + 1))
            .map(|i| {
                let at = |list: &Vec<String>| list.get(i).cloned().unwrap_or_default();
                RowView {
                    kind: at(&form.res_type),
                    access: normalized(&at(&form.res_access)),
                    scope: at(&form.res_scope),
                    resource: at(&form.res_resource),
                    error_part: "",
                    error: String::new(),
                }
            })
            .collect();
        Fields {
            form,
            rows,
            errors: FieldErrors::default(),
            ip_errors: Vec::new(),
            needs_justification,
            production: state.config.environment == Environment::Production,
            focus: "name",
            post_to,
            set_types: SET_TYPES,
            kinds: KINDS,
            scopes: LIMITED_SCOPES,
            max_days: None,
            current_expiry: None,
            now: state.now(),
        }
    }

    /// One row per type of resource, with the access the form holds for it.
    pub fn grant_rows(&self) -> Vec<GrantRow> {
        KINDS
            .iter()
            .map(|kind| {
                let value = self
                    .form
                    .grant
                    .iter()
                    .filter_map(|g| g.split_once(':'))
                    .find(|(k, _)| *k == kind.key)
                    .map(|(_, actions)| normalized(actions))
                    .unwrap_or_default();
                GrantRow {
                    kind,
                    options: access_options(permission::levels_for(kind), &value),
                    value,
                }
            })
            .collect()
    }

    /// Whether a limited row's select offers `value` (else the submitted
    /// value is kept as an extra option, so the error shows it).
    pub fn is_choice(&self, list: &str, value: &str) -> bool {
        match list {
            "type" => KINDS.iter().any(|k| k.key == value),
            _ => LIMITED_SCOPES.iter().any(|(s, _)| *s == value),
        }
    }

    /// Fills the picker with `permissions`.
    pub fn set_rows(&mut self, permissions: &[Permission]) {
        let grants = permission::grants(permissions);
        self.form.grant = grants
            .iter()
            .filter(|g| g.is_org_wide())
            .map(|g| format!("{}:{}", g.kind, permission::actions_value(&g.actions)))
            .collect();
        self.rows = grants
            .into_iter()
            .filter(|g| !g.is_org_wide())
            .map(|g| RowView {
                kind: g.kind.to_owned(),
                access: permission::actions_value(&g.actions),
                scope: g.scope.to_owned(),
                resource: g.resource.unwrap_or_default(),
                error_part: "",
                error: String::new(),
            })
            .collect();
    }

    /// Applies an Add / Remove / preset button; `false` when `op` is none of them.
    pub fn apply_op(&mut self) -> bool {
        let op = self.form.op.clone();
        if op == "add" {
            if let Err(error) = permission::within_limit(self.rows.len() + 1) {
                self.errors.push(error);
                self.focus = "add";
            } else {
                self.rows.push(RowView {
                    kind: "vault".to_owned(),
                    access: "read".to_owned(),
                    scope: "vault".to_owned(),
                    resource: String::new(),
                    error_part: "",
                    error: String::new(),
                });
                self.focus = "last-row";
            }
            true
        } else if let Some(index) = op.strip_prefix("remove-") {
            if let Ok(i) = index.parse::<usize>()
                && i < self.rows.len()
            {
                self.rows.remove(i);
            }
            self.focus = "add";
            true
        } else if op == "preset" {
            match SetType::parse(&self.form.permission_set) {
                Some(set) => self.set_rows(&set.defaults()),
                None => self.errors.push(FieldError::new(
                    "permission_set",
                    "Choose a permission set type.",
                )),
            }
            self.focus = "permission_set";
            true
        } else {
            false
        }
    }

    /// The field that gets focus after a failed submit: the first invalid
    /// one in the order of the form.
    pub fn first_error(&self) -> &'static str {
        for field in ["name", "description", "justification", "permission_set"] {
            if self.errors.has(field) {
                return field;
            }
        }
        if self.errors.has("permissions") {
            return "grants";
        }
        if self.rows.iter().any(|r| !r.error.is_empty()) {
            return "first-bad-row";
        }
        if self.errors.has("ip_mode") {
            return "ip_mode";
        }
        if !self.ip_errors.is_empty() {
            return "ip_list";
        }
        if self.errors.has("expires_on") {
            return "expires_on";
        }
        "name"
    }

    /// Whether `row` (0-based) holds the first row error: its invalid input gets focus.
    pub fn is_first_bad_row(&self, row: &usize) -> bool {
        self.focus == "first-bad-row"
            && self.rows.iter().position(|r| !r.error.is_empty()) == Some(*row)
    }

    /// Checks everything; on failure the messages are recorded at their fields.
    pub fn validate(&mut self) -> Option<Parsed> {
        let name = self.errors.check(CredentialName::parse(&self.form.name));
        let description = self
            .errors
            .check(Description::parse(&self.form.description));
        let set = self.errors.check(
            SetType::parse(&self.form.permission_set)
                .ok_or_else(|| FieldError::new("permission_set", "Choose a permission set type.")),
        );
        let mut permissions = Vec::new();
        let mut rows_ok = true;
        for value in &self.form.grant {
            match grant_permissions(value) {
                Ok(granted) => permissions.extend(granted),
                Err(message) => {
                    rows_ok = false;
                    self.errors.push(FieldError::new("permissions", message));
                }
            }
        }
        for row in &mut self.rows {
            match row_permissions(row) {
                Ok(granted) => permissions.extend(granted),
                Err((part, message)) => {
                    rows_ok = false;
                    row.error_part = part;
                    row.error = message;
                }
            }
        }
        let permissions = if rows_ok {
            self.errors.check(Permissions::new(permissions))
        } else {
            None
        };
        let (ips, notes) = match self.form.ip_mode.as_str() {
            "all" => (Some(IpAllowlist::All), Vec::new()),
            "limited" => match IpAllowlist::parse_limited(&self.form.ip_list) {
                Ok((list, notes)) => (Some(list), notes),
                Err(errors) => {
                    self.ip_errors = errors
                        .into_iter()
                        .map(|e| match e.line {
                            Some(line) => format!("Line {line}: {}", e.message),
                            None => e.message,
                        })
                        .collect();
                    (None, Vec::new())
                }
            },
            _ => {
                self.errors.push(FieldError::new(
                    "ip_mode",
                    "Choose All IP addresses or Limited IP addresses.",
                ));
                (None, Vec::new())
            }
        };
        let justification = if self.needs_justification {
            self.errors
                .check(Justification::parse(&self.form.justification))
        } else {
            None
        };
        let expires_at = self.errors.check(credentials::edited_expiry(
            &self.form.expires_on,
            self.current_expiry,
            self.now,
        ));
        if !self.errors.is_empty() || !self.ip_errors.is_empty() || !rows_ok {
            self.focus = self.first_error();
            return None;
        }
        Some(Parsed {
            draft: Draft {
                name: name?,
                description: description?,
                set: set?,
                permissions: permissions?,
                ips: ips?,
                expires_at: expires_at?,
            },
            notes,
            justification,
        })
    }
}

/// `vault:create,read` as read from the form, never empty of meaning: an
/// unknown type or action is a message.
fn grant_permissions(value: &str) -> Result<Vec<Permission>, String> {
    let (kind, actions) = value.split_once(':').unwrap_or((value, ""));
    let known = permission::kind_named(kind)?;
    let actions = permission::parse_actions(actions)?;
    Ok(actions
        .into_iter()
        .map(|action| Permission {
            kind: known.key,
            action,
            scope: "org",
            resource: None,
        })
        .collect())
}

/// The permissions of a row limited to one vault or key; a message names
/// the input it is about.
fn row_permissions(row: &RowView) -> Result<Vec<Permission>, (&'static str, String)> {
    if permission::kind(row.kind.trim()).is_none() {
        return Err(("type", "Choose a type of resource.".to_owned()));
    }
    let actions = permission::parse_actions(&row.access).map_err(|m| ("access", m))?;
    if actions.is_empty() {
        return Err((
            "access",
            "Choose what this credential may do there, or remove the row.".to_owned(),
        ));
    }
    if !LIMITED_SCOPES.iter().any(|(s, _)| *s == row.scope.trim()) {
        return Err(("scope", "Choose a vault or a key.".to_owned()));
    }
    actions
        .into_iter()
        .map(|action| {
            Permission::from_parts(&row.kind, action, &row.scope, &row.resource).map_err(
                |(part, message)| {
                    let part = match part {
                        Part::Type => "type",
                        Part::Action => "access",
                        Part::Scope => "scope",
                        Part::Resource => "resource",
                    };
                    (part, message)
                },
            )
        })
        .collect()
}

/// An access value in the order the options use (`read,create` → `create,read`).
fn normalized(value: &str) -> String {
    permission::parse_actions(value)
        .map(|actions| permission::actions_value(&actions))
        .unwrap_or_else(|_| value.to_owned())
}

/// A form that passed every check.
pub struct Parsed {
    pub draft: Draft,
    /// Notes about IP entries that were normalised.
    pub notes: Vec<String>,
    pub justification: Option<Justification>,
}

impl Parsed {
    /// " Note: …" for normalised IP entries, appended to a confirmation.
    pub fn notes_text(&self) -> String {
        if self.notes.is_empty() {
            String::new()
        } else {
            format!(" Note: {}", self.notes.join(" "))
        }
    }
}
