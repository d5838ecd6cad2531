//! The New Credential and Edit form: its fields as submitted, the editable
//! permission rows (Add another permission, Remove, a permission set's
//! defaults) and the checks that turn it into a [`Draft`], each message at
//! its field.

use serde::Deserialize;

use crate::domain::credential::{CredentialName, Description, Environment};
use crate::domain::ip::IpAllowlist;
use crate::domain::permission::{
    self, MAX_PERMISSIONS, Part, Permission, Permissions, SET_TYPES, SetType,
};
use crate::domain::{FieldError, FieldErrors, Justification};
use crate::service::credentials::Draft;
use crate::state::AppState;

/// The fields of the New Credential and Edit dialogs, as submitted. The four
/// `perm_*` lists are the columns of the permission rows; `op` is the
/// button that sent the form when it was not the main one.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct CredentialForm {
    pub name: String,
    pub description: String,
    pub permission_set: String,
    pub perm_type: Vec<String>,
    pub perm_action: Vec<String>,
    pub perm_scope: Vec<String>,
    pub perm_resource: Vec<String>,
    pub ip_mode: String,
    pub ip_list: String,
    pub justification: String,
    pub op: String,
}

pub struct RowView {
    pub kind: String,
    pub action: String,
    pub scope: String,
    pub resource: String,
    /// Which input the message is about: "type", "action", "scope", "resource".
    pub error_part: &'static str,
    pub error: String,
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
    pub types: &'static [&'static str],
    pub actions: &'static [&'static str],
    pub scopes: &'static [&'static str],
}

impl Fields {
    pub fn new(
        form: CredentialForm,
        state: &AppState,
        post_to: String,
        needs_justification: bool,
    ) -> Fields {
        let rows = (0..form.perm_type.len().min(MAX_PERMISSIONS + 1))
            .map(|i| {
                let at = |list: &Vec<String>| list.get(i).cloned().unwrap_or_default();
                RowView {
                    kind: at(&form.perm_type),
                    action: at(&form.perm_action),
                    scope: at(&form.perm_scope),
                    resource: at(&form.perm_resource),
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
            types: permission::TYPES,
            actions: permission::ACTIONS,
            scopes: permission::SCOPES,
        }
    }

    /// Whether `value` is one of the choices of a row's select (else the
    /// submitted value is kept as an extra option, so the error shows it).
    pub fn is_choice(&self, list: &str, value: &str) -> bool {
        let choices = match list {
            "type" => self.types,
            "action" => self.actions,
            _ => self.scopes,
        };
        choices.contains(&value)
    }

    pub fn set_rows(&mut self, permissions: &[Permission]) {
        self.rows = permissions
            .iter()
            .map(|p| RowView {
                kind: p.kind.to_owned(),
                action: p.action.to_owned(),
                scope: p.scope.to_owned(),
                resource: p.resource.clone().unwrap_or_default(),
                error_part: "",
                error: String::new(),
            })
            .collect();
    }

    /// Applies an Add / Remove / preset button; `false` when `op` is none of them.
    pub fn apply_op(&mut self) -> bool {
        let op = self.form.op.clone();
        if op == "add" {
            if self.rows.len() < MAX_PERMISSIONS {
                self.rows.push(RowView {
                    kind: "balances".to_owned(),
                    action: "read".to_owned(),
                    scope: "org".to_owned(),
                    resource: String::new(),
                    error_part: "",
                    error: String::new(),
                });
                self.focus = "last-row";
            } else {
                self.errors.push(FieldError::new(
                    "permissions",
                    format!("A credential can hold at most {MAX_PERMISSIONS} permissions."),
                ));
                self.focus = "add";
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
        if self.rows.iter().any(|r| !r.error.is_empty()) {
            return "first-bad-row";
        }
        if self.errors.has("permissions") {
            return "add";
        }
        if self.errors.has("ip_mode") {
            return "ip_mode";
        }
        if !self.ip_errors.is_empty() {
            return "ip_list";
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
        for row in &mut self.rows {
            match Permission::from_parts(&row.kind, &row.action, &row.scope, &row.resource) {
                Ok(p) => permissions.push(p),
                Err((part, message)) => {
                    rows_ok = false;
                    row.error_part = match part {
                        Part::Type => "type",
                        Part::Action => "action",
                        Part::Scope => "scope",
                        Part::Resource => "resource",
                    };
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
            },
            notes,
            justification,
        })
    }
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
