//! Plain domain types. Each `parse` constructor refuses what cannot be valid, with
//! the message a person sees beside the field they typed it in.

pub mod access;
pub mod api_token;
pub mod audit;
pub mod credential;
pub mod ids;
pub mod ip;
pub mod org;
pub mod permission;
pub mod request;
pub mod user;
pub mod webhook;

pub use access::{Access, CredentialsPermission, Role};
pub use audit::AuditAction;
pub use credential::{CredentialStatus, Environment, Grace};
pub use ids::{ClientId, CredentialId, EventId, OrgId, RequestId, RequestRowId, SecretId, UserId};
pub use org::{OrgName, Plan};
pub use request::{DecisionNote, Justification, RequestStatus};
pub use user::{DisplayName, Email, Password};

/// A message for one form field, shown next to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    pub field: &'static str,
    pub message: String,
}

impl FieldError {
    pub fn new(field: &'static str, message: impl Into<String>) -> Self {
        FieldError {
            field,
            message: message.into(),
        }
    }
}

/// The field errors of one form submission.
#[derive(Debug, Clone, Default)]
pub struct FieldErrors(Vec<FieldError>);

impl FieldErrors {
    pub fn push(&mut self, error: FieldError) {
        self.0.push(error);
    }

    /// Keeps the value of `result`, or records its error and returns `None`.
    pub fn check<T>(&mut self, result: Result<T, FieldError>) -> Option<T> {
        match result {
            Ok(value) => Some(value),
            Err(error) => {
                self.push(error);
                None
            }
        }
    }

    /// The messages, in the order they were found.
    pub fn into_vec(self) -> Vec<FieldError> {
        self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The message for `field`, or an empty string; templates call this.
    pub fn get(&self, field: &str) -> &str {
        self.0
            .iter()
            .find(|e| e.field == field)
            .map(|e| e.message.as_str())
            .unwrap_or("")
    }

    pub fn has(&self, field: &str) -> bool {
        self.0.iter().any(|e| e.field == field)
    }

    /// The first of `order` (a form's fields, top to bottom) that has a
    /// message: the form puts focus there.
    pub fn first_in(&self, order: &[&str]) -> Option<&'static str> {
        order
            .iter()
            .find_map(|f| self.0.iter().find(|e| e.field == *f).map(|e| e.field))
    }
}

/// Refuses text with control characters (NUL among them, which PostgreSQL
/// cannot store or compare): for fields whose text is otherwise free.
pub fn no_control(field: &'static str, label: &str, raw: &str) -> Result<(), FieldError> {
    if raw.chars().any(char::is_control) {
        Err(FieldError::new(
            field,
            format!("The {label} cannot contain control characters."),
        ))
    } else {
        Ok(())
    }
}

/// Trims and checks the length in characters (not bytes).
pub(crate) fn trimmed_len(
    field: &'static str,
    label: &str,
    raw: &str,
    min: usize,
    max: usize,
) -> Result<String, FieldError> {
    let value = raw.trim();
    let len = value.chars().count();
    let a = if label.starts_with(['a', 'e', 'i', 'o', 'u']) {
        "an"
    } else {
        "a"
    };
    if len < min || len > max {
        return Err(FieldError::new(
            field,
            if len == 0 {
                format!("Enter {a} {label}.")
            } else if min <= 1 {
                format!("Enter {a} {label} of at most {max} characters.")
            } else {
                format!("Enter {a} {label} of {min} to {max} characters.")
            },
        ));
    }
    if value.chars().any(char::is_control) {
        return Err(FieldError::new(
            field,
            format!("The {label} cannot contain control characters."),
        ));
    }
    Ok(value.to_owned())
}

/// A time as an RFC 3339 string (`2026-11-25T06:25:02Z`), as the API and
/// `<time datetime>` show it.
pub fn iso_time(unix: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(unix)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_length_message_says_what_to_enter_with_the_right_article() {
        let message = |label, raw, min| trimmed_len("f", label, raw, min, 80).unwrap_err().message;
        assert_eq!(message("name", "  ", 1), "Enter a name.");
        assert_eq!(
            message("organization name", "", 2),
            "Enter an organization name."
        );
        assert_eq!(
            message("organization name", "x", 2),
            "Enter an organization name of 2 to 80 characters."
        );
        assert_eq!(
            message("name", &"x".repeat(81), 1),
            "Enter a name of at most 80 characters."
        );
        assert_eq!(trimmed_len("f", "name", " Ada ", 1, 80).unwrap(), "Ada");
    }
}
