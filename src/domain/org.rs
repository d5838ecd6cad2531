use super::user::plain_name;
use super::{FieldError, trimmed_len};

#[derive(Debug, Clone)]
pub struct OrgName(String);

impl OrgName {
    pub fn parse(raw: &str) -> Result<OrgName, FieldError> {
        let name = trimmed_len("org_name", "organization name", raw, 2, 80)?;
        plain_name("org_name", "organization name", &name)?;
        Ok(OrgName(name))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A trial organization sees an explanation instead of the Credentials page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Plan {
    Trial,
    Standard,
}

impl Plan {
    pub fn parse(raw: &str) -> Option<Plan> {
        match raw {
            "trial" => Some(Plan::Trial),
            "standard" => Some(Plan::Standard),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Plan::Trial => "trial",
            Plan::Standard => "standard",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Plan::Trial => "Trial",
            Plan::Standard => "Standard",
        }
    }
}
