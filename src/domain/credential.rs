//! Credentials: names, descriptions, client IDs and secrets.

use std::fmt;

use secrecy::{ExposeSecret, SecretString};

use super::{FieldError, trimmed_len};
use crate::random;

/// An organization holds at most this many credentials, pending and approved
/// requests included. The one place the limit is written.
pub const MAX_CREDENTIALS: i64 = 3;

/// What a person is told at the limit (the reference guide's wording).
pub const LIMIT_MESSAGE: &str = "Your organization can hold a maximum of 3 API credentials. Delete an existing credential before creating a new one.";

/// The places of an organization's limit that are taken: its credentials,
/// and its pending and approved requests, each of which will become one.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Places {
    pub credentials: i64,
    pub active_requests: i64,
}

impl Places {
    pub fn taken(self) -> i64 {
        self.credentials + self.active_requests
    }

    /// Whether another credential or request would exceed the limit.
    pub fn is_full(self) -> bool {
        self.taken() >= MAX_CREDENTIALS
    }

    /// The places an approved request's credential must fit in: the request
    /// already holds one, which its credential takes over.
    pub fn without_one_request(self) -> Places {
        Places {
            active_requests: (self.active_requests - 1).max(0),
            ..self
        }
    }
}

/// Which kind of secrets this deployment issues. Decides the secret prefix
/// (`kws_live_` / `kws_test_`) and warnings the console shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Environment {
    Sandbox,
    Production,
}

impl Environment {
    pub fn as_str(self) -> &'static str {
        match self {
            Environment::Sandbox => "sandbox",
            Environment::Production => "production",
        }
    }
}

impl std::str::FromStr for Environment {
    type Err = String;

    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        match raw {
            "sandbox" => Ok(Environment::Sandbox),
            "production" => Ok(Environment::Production),
            other => Err(format!("`{other}` is not sandbox or production")),
        }
    }
}

/// Whether a credential may get new tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CredentialStatus {
    Enabled,
    Disabled,
}

impl CredentialStatus {
    pub fn parse(raw: &str) -> Option<CredentialStatus> {
        match raw {
            "enabled" => Some(CredentialStatus::Enabled),
            "disabled" => Some(CredentialStatus::Disabled),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            CredentialStatus::Enabled => "enabled",
            CredentialStatus::Disabled => "disabled",
        }
    }
}

/// How long the previous secret keeps working after a rotation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Grace {
    /// The previous secret stops at once.
    None,
    Hours(i64),
    Days(i64),
}

impl Grace {
    /// The choices the Rotate Credential dialog offers, in its order.
    pub const CHOICES: &'static [Grace] = &[
        Grace::None,
        Grace::Hours(1),
        Grace::Hours(24),
        Grace::Days(7),
    ];

    /// The window in seconds; `None` for none.
    pub fn seconds(self) -> Option<i64> {
        match self {
            Grace::None => None,
            Grace::Hours(h) => Some(h * 3600),
            Grace::Days(d) => Some(d * 86_400),
        }
    }

    /// One of [`Grace::CHOICES`], from its number of seconds (`0` or empty for none).
    pub fn parse(raw: &str) -> Option<Grace> {
        if raw.is_empty() || raw == "0" {
            return Some(Grace::None);
        }
        let seconds: i64 = raw.parse().ok()?;
        Grace::CHOICES
            .iter()
            .copied()
            .find(|g| g.seconds() == Some(seconds))
    }

    /// The form value: seconds, `0` for none.
    pub fn value(self) -> String {
        self.seconds().unwrap_or(0).to_string()
    }

    pub fn label(self) -> String {
        match self {
            Grace::None => "Immediately".to_owned(),
            Grace::Hours(1) => "1 hour".to_owned(),
            Grace::Hours(h) => format!("{h} hours"),
            Grace::Days(1) => "1 day".to_owned(),
            Grace::Days(d) => format!("{d} days"),
        }
    }
}

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

const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
const BODY_LEN: usize = 43;
const CHECK_LEN: usize = 6;

fn prefix(environment: Environment) -> &'static str {
    match environment {
        Environment::Production => "kws_live_",
        Environment::Sandbox => "kws_test_",
    }
}

/// `prefix` + 43 random base62 characters + their checksum: the shape of
/// every Keyward secret (client secrets, personal access tokens).
pub(crate) fn checked_token(prefix: &str) -> SecretString {
    let body = format!("{prefix}{}", random::token(BODY_LEN));
    let check = checksum(&body);
    SecretString::from(format!("{body}{check}"))
}

/// Whether `candidate` is `prefix` + 43 base62 + the right checksum.
pub(crate) fn has_checksum(candidate: &str, prefix: &str) -> bool {
    let Some(rest) = candidate.strip_prefix(prefix) else {
        return false;
    };
    if rest.len() != BODY_LEN + CHECK_LEN || !rest.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return false;
    }
    let (body, check) = candidate.split_at(candidate.len() - CHECK_LEN);
    checksum(body) == check
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
        Secret(checked_token(prefix(environment)))
    }

    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }

    /// The last four characters, which the card shows so a person can tell
    /// secrets apart (as Stripe does). They fall in the checksum: at most
    /// 24 bits about a body of more than 256 random bits.
    pub fn hint(&self) -> &str {
        let text = self.expose();
        &text[text.len() - 4..]
    }

    /// Whether `candidate` has the shape and checksum of a Keyward secret.
    pub fn is_well_formed(candidate: &str) -> bool {
        has_checksum(candidate, "kws_live_") || has_checksum(candidate, "kws_test_")
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
    fn grace_windows_parse_only_the_offered_choices() {
        assert_eq!(Grace::parse("0"), Some(Grace::None));
        assert_eq!(Grace::parse(""), Some(Grace::None));
        assert_eq!(Grace::parse("86400"), Some(Grace::Hours(24)));
        assert_eq!(Grace::Days(7).seconds(), Some(604_800));
        assert_eq!(Grace::parse("60"), None);
        assert_eq!(Grace::parse("soon"), None);
        for choice in Grace::CHOICES {
            assert_eq!(Grace::parse(&choice.value()), Some(*choice));
        }
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

/// Expiry: a credential may stop on a date of its owners' choosing; an
/// organization may require one no further than some days ahead.
pub mod expiry {
    use super::FieldError;

    /// The thresholds, in days before expiry, at which reminders go out.
    pub const REMINDER_DAYS: &[i64] = &[30, 7, 1];
    /// The lifetimes an organization may require at most, in days.
    pub const POLICY_DAYS: &[i64] = &[30, 90, 180, 365];

    const DAY: i64 = 86_400;

    /// The date `raw` (YYYY-MM-DD) as the moment the credential stops: the
    /// end of that day, UTC. Empty means no expiry. The date must be after
    /// today.
    pub fn parse(raw: &str, now: i64) -> Result<Option<i64>, FieldError> {
        let raw = raw.trim();
        if raw.is_empty() {
            return Ok(None);
        }
        let format = time::macros::format_description!("[year]-[month]-[day]");
        let date = time::Date::parse(raw, &format).map_err(|_| {
            FieldError::new(
                "expires_on",
                "Enter a date as YYYY-MM-DD, or leave it empty.",
            )
        })?;
        let end = date.midnight().assume_utc().unix_timestamp() + DAY;
        if end <= now + DAY - (now.rem_euclid(DAY)) {
            return Err(FieldError::new("expires_on", "Choose a date after today."));
        }
        Ok(Some(end))
    }

    /// The date of an expiry, as the form shows it (the day it ends).
    pub fn date(expires_at: i64) -> String {
        time::OffsetDateTime::from_unix_timestamp(expires_at - 1)
            .map(|t| t.date().to_string())
            .unwrap_or_default()
    }

    /// The latest expiry an organization's policy of `max_days` allows
    /// for a credential saved at `now`: the end of the day `max_days` ahead.
    pub fn latest(max_days: i64, now: i64) -> i64 {
        now - now.rem_euclid(DAY) + (max_days + 1) * DAY
    }

    /// Why an expiry breaks the organization's policy.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum Breach {
        Missing(i64),
        TooFar(i64),
    }

    /// Whether `expires_at` keeps the policy (`max_days`, if any).
    pub fn check(expires_at: Option<i64>, max_days: Option<i64>, now: i64) -> Result<(), Breach> {
        match (max_days, expires_at) {
            (None, _) => Ok(()),
            (Some(max), None) => Err(Breach::Missing(max)),
            (Some(max), Some(at)) if at > latest(max, now) => Err(Breach::TooFar(max)),
            _ => Ok(()),
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        // 2026-11-25 10:00:00 UTC
        const NOW: i64 = 1_795_600_800;

        #[test]
        fn a_date_is_the_end_of_that_day_and_must_be_after_today() {
            assert_eq!(parse("", NOW), Ok(None));
            assert!(parse("2026-11-25", NOW).is_err(), "today");
            assert!(parse("2026-11-24", NOW).is_err());
            assert!(parse("26-11-2026", NOW).is_err());
            let end = parse("2026-11-26", NOW).unwrap().unwrap();
            assert_eq!(end, 1_795_737_600); // 2026-11-27 00:00 UTC
            assert_eq!(date(end), "2026-11-26");
        }

        #[test]
        fn the_policy_allows_the_last_day_and_not_the_next() {
            let last = parse("2026-12-25", NOW).unwrap();
            assert_eq!(check(last, Some(30), NOW), Ok(()));
            let next = parse("2026-12-26", NOW).unwrap();
            assert_eq!(check(next, Some(30), NOW), Err(Breach::TooFar(30)));
            assert_eq!(check(None, Some(30), NOW), Err(Breach::Missing(30)));
            assert_eq!(check(None, None, NOW), Ok(()));
        }
    }
}
