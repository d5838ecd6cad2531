//! Personal access tokens: how a script uses the management API as the
//! person who made the token, in one organization, at a level no higher
//! than theirs, until a required expiry.

use std::fmt;

use secrecy::{ExposeSecret, SecretString};

use super::credential::{checked_token, has_checksum};
use super::{Access, CredentialsPermission, FieldError, trimmed_len};

pub const PREFIX: &str = "kwpat_";
/// A token lives at most this long.
pub const MAX_LIFETIME_DAYS: i64 = 365;
/// The lifetimes the form offers, in days.
pub const LIFETIMES: &[i64] = &[7, 30, 90];

/// `kwpat_` + 43 base62 characters (256 random bits) + 6 base62 characters
/// of CRC32, like a client secret: leak scanners find it, and a mistyped one
/// is refused before any database work.
pub struct ApiToken(SecretString);

impl ApiToken {
    pub fn generate() -> ApiToken {
        ApiToken(checked_token(PREFIX))
    }

    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }

    /// The last four characters, shown in lists (they fall in the checksum).
    pub fn hint(&self) -> &str {
        let text = self.expose();
        &text[text.len() - 4..]
    }

    pub fn is_well_formed(candidate: &str) -> bool {
        has_checksum(candidate, PREFIX)
    }
}

impl fmt::Debug for ApiToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiToken([redacted])")
    }
}

/// What a token may do: read, or also write where its user may edit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenAccess {
    Read,
    Write,
}

impl TokenAccess {
    pub fn parse(raw: &str) -> Option<TokenAccess> {
        match raw {
            "read" => Some(TokenAccess::Read),
            "write" => Some(TokenAccess::Write),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            TokenAccess::Read => "read",
            TokenAccess::Write => "write",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            TokenAccess::Read => "Read",
            TokenAccess::Write => "Read and write",
        }
    }

    /// Whether a member with `access` may hold a token of this level.
    pub fn allowed_for(self, access: Access) -> bool {
        match self {
            TokenAccess::Read => !access.is_support(),
            TokenAccess::Write => !access.is_support() && access.can_edit_credentials(),
        }
    }

    /// What a request made with the token may do: a read token sees what a
    /// Can View administrator sees; a write token acts as its user.
    pub fn cap(self, access: Access) -> Access {
        match self {
            TokenAccess::Read => Access::Admin(CredentialsPermission::View),
            TokenAccess::Write => access,
        }
    }
}

/// A token's name: 1 to 50 characters, so its owner recognises it.
#[derive(Debug, Clone)]
pub struct TokenName(String);

impl TokenName {
    pub fn parse(raw: &str) -> Result<TokenName, FieldError> {
        super::no_control("token_name", "token name", raw)?;
        trimmed_len("token_name", "token name", raw, 1, 50).map(TokenName)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_have_a_prefix_and_a_checksum() {
        let token = ApiToken::generate();
        let text = token.expose();
        assert!(text.starts_with("kwpat_") && text.len() == 6 + 43 + 6);
        assert!(ApiToken::is_well_formed(text));
        let mut typo = text.to_owned();
        typo.replace_range(10..11, if &text[10..11] == "a" { "b" } else { "a" });
        assert!(!ApiToken::is_well_formed(&typo));
        assert!(!ApiToken::is_well_formed("kwpat_short"));
        assert_eq!(format!("{token:?}"), "ApiToken([redacted])");
    }

    #[test]
    fn a_read_token_never_acts_above_view_and_write_needs_edit() {
        let view = Access::Admin(CredentialsPermission::View);
        assert_eq!(TokenAccess::Read.cap(Access::Owner), view);
        assert_eq!(TokenAccess::Write.cap(Access::Owner), Access::Owner);
        assert!(!TokenAccess::Write.allowed_for(view));
        assert!(TokenAccess::Read.allowed_for(view));
        assert!(!TokenAccess::Read.allowed_for(Access::Support));
    }
}
