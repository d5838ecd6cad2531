//! Credentials: names, descriptions, client IDs and secrets.

use std::fmt;

use secrecy::{ExposeSecret, SecretString};

use super::{FieldError, trimmed_len};
use crate::config::Environment;
use crate::random;

/// An organization holds at most this many credentials (pending requests included).
pub const MAX_CREDENTIALS: i64 = 3;

pub const LIMIT_MESSAGE: &str = "Your organization can hold a maximum of 3 API credentials. Delete an existing credential before creating a new one.";

#[derive(Debug, Clone)]
pub struct CredentialName(String);

impl CredentialName {
    pub fn parse(raw: &str) -> Result<CredentialName, FieldError> {
        trimmed_len("name", "credential name", raw, 5, 50).map(CredentialName)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An optional description: empty means none; otherwise 5-50 characters.
#[derive(Debug, Clone)]
pub struct Description(Option<String>);

impl Description {
    pub fn parse(raw: &str) -> Result<Description, FieldError> {
        if raw.trim().is_empty() {
            return Ok(Description(None));
        }
        trimmed_len("description", "description", raw, 5, 50).map(|d| Description(Some(d)))
    }

    pub fn as_deref(&self) -> Option<&str> {
        self.0.as_deref()
    }
}

/// `kwid_` + 22 base62 characters (≥128 random bits). Public.
pub fn new_client_id() -> String {
    format!("kwid_{}", random::token(22))
}

const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
const BODY_LEN: usize = 43;
const CHECK_LEN: usize = 6;

fn prefix(environment: Environment) -> &'static str {
    match environment {
        Environment::Production => "kws_live_",
        Environment::Sandbox => "kws_test_",
    }
}

/// CRC32 of `text` as 6 base62 digits (62^6 > 2^32).
fn checksum(text: &str) -> String {
    let mut n = crc32fast::hash(text.as_bytes()) as u64;
    let mut out = [b'0'; CHECK_LEN];
    for slot in out.iter_mut().rev() {
        *slot = BASE62[(n % 62) as usize];
        n /= 62;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A client secret: `kws_live_`/`kws_test_` + 43 base62 characters (≥256
/// random bits from the OS CSPRNG) + 6 base62 characters of CRC32 over what
/// precedes them. The prefix and checksum let leak scanners find a Keyward
/// secret and let the server refuse a mistyped one before any database work.
pub struct Secret(SecretString);

impl Secret {
    pub fn generate(environment: Environment) -> Secret {
        let body = format!("{}{}", prefix(environment), random::token(BODY_LEN));
        let check = checksum(&body);
        Secret(SecretString::from(format!("{body}{check}")))
    }

    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }

    /// Whether `candidate` has the shape and checksum of a Keyward secret.
    pub fn is_well_formed(candidate: &str) -> bool {
        let Some(rest) = candidate
            .strip_prefix("kws_live_")
            .or_else(|| candidate.strip_prefix("kws_test_"))
        else {
            return false;
        };
        if rest.len() != BODY_LEN + CHECK_LEN || !rest.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return false;
        }
        let (body, check) = candidate.split_at(candidate.len() - CHECK_LEN);
        checksum(body) == check
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret([redacted])")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_have_the_documented_shape_and_checksum() {
        let secret = Secret::generate(Environment::Production);
        let text = secret.expose();
        assert!(text.starts_with("kws_live_"));
        assert_eq!(text.len(), 9 + 43 + 6);
        assert!(Secret::is_well_formed(text));
        assert!(
            Secret::generate(Environment::Sandbox)
                .expose()
                .starts_with("kws_test_")
        );
        // One changed character breaks the checksum.
        let mut tampered = text.to_owned().into_bytes();
        tampered[20] = if tampered[20] == b'a' { b'b' } else { b'a' };
        assert!(!Secret::is_well_formed(
            &String::from_utf8(tampered).unwrap()
        ));
        assert!(!Secret::is_well_formed("kws_live_short"));
        assert!(!Secret::is_well_formed(
            &text.replace("kws_live_", "kws_prod_")
        ));
        assert_eq!(format!("{secret:?}"), "Secret([redacted])");
        assert_ne!(
            Secret::generate(Environment::Sandbox).expose(),
            Secret::generate(Environment::Sandbox).expose()
        );
    }

    #[test]
    fn client_ids_are_prefixed_and_long_enough() {
        let id = new_client_id();
        assert!(id.starts_with("kwid_"));
        assert_eq!(id.len(), 5 + 22);
    }

    #[test]
    fn names_and_descriptions_are_trimmed_and_bounded() {
        assert_eq!(
            CredentialName::parse("  Payments bot ").unwrap().as_str(),
            "Payments bot"
        );
        assert!(CredentialName::parse("abcd").is_err());
        assert!(CredentialName::parse(&"x".repeat(51)).is_err());
        assert!(CredentialName::parse(&"é".repeat(50)).is_ok());
        assert_eq!(Description::parse("   ").unwrap().as_deref(), None);
        assert!(Description::parse("abc").is_err());
        assert_eq!(
            Description::parse(" Nightly payouts ").unwrap().as_deref(),
            Some("Nightly payouts")
        );
    }
}
