//! Credential requests: when an organization requires approval, an
//! administrator's New Credential is a request that an owner decides on.

use super::FieldError;

/// Where a request is in its life: pending → approved → completed (the
/// requester generated the key), or pending → rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestStatus {
    Pending,
    Approved,
    Rejected,
    Completed,
}

impl RequestStatus {
    pub fn parse(raw: &str) -> Option<RequestStatus> {
        match raw {
            "pending" => Some(RequestStatus::Pending),
            "approved" => Some(RequestStatus::Approved),
            "rejected" => Some(RequestStatus::Rejected),
            "completed" => Some(RequestStatus::Completed),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            RequestStatus::Pending => "pending",
            RequestStatus::Approved => "approved",
            RequestStatus::Rejected => "rejected",
            RequestStatus::Completed => "completed",
        }
    }

    /// Pending and approved requests hold one of the organization's places
    /// and their name, until they are completed or rejected.
    pub fn is_active(self) -> bool {
        matches!(self, RequestStatus::Pending | RequestStatus::Approved)
    }
}

impl std::fmt::Display for RequestStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why an administrator needs the credential: what the owners read before approving.
#[derive(Debug, Clone)]
pub struct Justification(String);

impl Justification {
    pub fn parse(raw: &str) -> Result<Justification, FieldError> {
        let text = raw.trim();
        if (10..=500).contains(&text.chars().count()) {
            Ok(Justification(text.to_owned()))
        } else {
            Err(FieldError::new(
                "justification",
                "Explain in 10 to 500 characters why this credential is needed: the owners read it before approving.",
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}
