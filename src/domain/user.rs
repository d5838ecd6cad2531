use std::fmt;

use secrecy::{ExposeSecret, SecretString};

use super::{FieldError, trimmed_len};

/// An email address, trimmed and lower-cased: the form in which it is unique.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email(String);

impl Email {
    /// A valid e-mail address as the HTML standard defines it (what
    /// `<input type=email>` accepts): a local part of letters, digits and
    /// ``.!#$%&'*+/=?^_`{|}~-``, an `@`, and a domain of dot-separated labels
    /// of letters, digits and inner hyphens, each at most 63 long. Stored
    /// lower-cased, at most 254 characters.
    pub fn parse(raw: &str) -> Result<Email, FieldError> {
        let value = raw.trim().to_lowercase();
        let invalid = || FieldError::new("email", "Enter an email address like name@example.com.");
        if value.len() > 254 {
            return Err(invalid());
        }
        let (local, domain) = value.split_once('@').ok_or_else(invalid)?;
        let local_ok = !local.is_empty()
            && local
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b".!#$%&'*+/=?^_`{|}~-".contains(&b));
        let label_ok = |label: &str| {
            let bytes = label.as_bytes();
            (1..=63).contains(&bytes.len())
                && bytes
                    .iter()
                    .all(|b| b.is_ascii_alphanumeric() || *b == b'-')
                && bytes.first() != Some(&b'-')
                && bytes.last() != Some(&b'-')
        };
        if !local_ok || !domain.split('.').all(label_ok) {
            return Err(invalid());
        }
        Ok(Email(value))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[derive(Debug, Clone)]
pub struct DisplayName(String);

impl DisplayName {
    pub fn parse(raw: &str) -> Result<DisplayName, FieldError> {
        trimmed_len("display_name", "name", raw, 1, 80).map(DisplayName)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A new password that meets the policy. Its `Debug` never shows it.
pub struct Password(SecretString);

/// Long enough to resist guessing, bounded so hashing cost stays bounded.
pub const PASSWORD_MIN: usize = 12;
pub const PASSWORD_MAX: usize = 128;

impl Password {
    pub fn parse(raw: &str) -> Result<Password, FieldError> {
        let len = raw.chars().count();
        if len < PASSWORD_MIN {
            return Err(FieldError::new(
                "password",
                format!("Use a password of at least {PASSWORD_MIN} characters."),
            ));
        }
        if len > PASSWORD_MAX {
            return Err(FieldError::new(
                "password",
                format!("Use a password of at most {PASSWORD_MAX} characters."),
            ));
        }
        Ok(Password(SecretString::from(raw.to_owned())))
    }

    pub fn secret(&self) -> &SecretString {
        &self.0
    }

    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password([redacted])")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_valid_as_the_html_standard_says() {
        for ok in [
            "name@example.com",
            " Ada.Lovelace+ci@Sub.Example.co.uk ",
            "x@localhost",
            "o'brien@example.com",
        ] {
            assert!(Email::parse(ok).is_ok(), "{ok}");
        }
        assert_eq!(
            Email::parse(" A@B.example ").unwrap().as_str(),
            "a@b.example"
        );
        for bad in [
            "x@mailinator.com|env",
            "x@mailinator.com/../../etc/passwd",
            "no-at-sign",
            "@example.com",
            "a@",
            "a@-example.com",
            "a@example-.com",
            "a@exa mple.com",
            "a@@example.com",
            "a b@example.com",
            "a@example..com",
            "nul\0@example.com",
            "é@example.com",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad}");
        }
        assert!(Email::parse(&format!("{}@example.com", "a".repeat(250))).is_err());
    }

    #[test]
    fn emails_are_normalised_and_checked() {
        assert_eq!(
            Email::parse("  Owner@Acme.TEST ").map(|e| e.0),
            Ok("owner@acme.test".to_owned())
        );
        for bad in [
            "",
            "no-at",
            "@x.test",
            "a@",
            "a@@b.test",
            "a b@c.test",
            "a@.test",
            "a@test.",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad} should be refused");
        }
    }

    #[test]
    fn passwords_have_bounds() {
        assert!(Password::parse("short").is_err());
        assert!(Password::parse(&"x".repeat(129)).is_err());
        assert!(Password::parse("correct horse battery").is_ok());
        assert_eq!(
            format!("{:?}", Password::parse("correct horse battery")),
            "Ok(Password([redacted]))"
        );
    }
}
