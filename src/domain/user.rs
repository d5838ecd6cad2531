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
        let name = trimmed_len("display_name", "name", raw, 1, 80)?;
        plain_name("display_name", "name", &name)?;
        Ok(DisplayName(name))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Whether `c` is a format character (Unicode general category Cf): bidi
/// embeddings, overrides and isolates, zero-width joiners and spaces, the
/// byte order mark, tags. They are invisible, and some reorder the text
/// around them, so a name holding one reads differently from what it is.
/// (Unicode 15.1's list.)
pub fn is_format_char(c: char) -> bool {
    matches!(
        u32::from(c),
        0x00AD
            | 0x0600..=0x0605
            | 0x061C
            | 0x06DD
            | 0x070F
            | 0x0890..=0x0891
            | 0x08E2
            | 0x180E
            | 0x200B..=0x200F
            | 0x202A..=0x202E
            | 0x2060..=0x2064
            | 0x2066..=0x206F
            | 0xFEFF
            | 0xFFF9..=0xFFFB
            | 0x110BD
            | 0x110CD
            | 0x13430..=0x1343F
            | 0x1BCA0..=0x1BCA3
            | 0x1D173..=0x1D17A
            | 0xE0001
            | 0xE0020..=0xE007F
    )
}

/// Whether `value` holds something a mail program would decode as an RFC
/// 2047 encoded-word (`=?charset?q?…?=`): in a subject, it would show as
/// text other than what was typed.
pub fn has_encoded_word(value: &str) -> bool {
    value
        .find("=?")
        .is_some_and(|start| value[start + 2..].contains("?="))
}

/// Refuses, at `field`, a name others will read (in pages, the audit log and
/// email) that could show as something other than what it is: invisible
/// format characters, line or paragraph separators, or an encoded-word.
pub(crate) fn plain_name(field: &'static str, label: &str, value: &str) -> Result<(), FieldError> {
    if value
        .chars()
        .any(|c| is_format_char(c) || matches!(c, '\u{2028}' | '\u{2029}'))
    {
        return Err(FieldError::new(
            field,
            format!(
                "The {label} cannot contain invisible formatting characters (such as right-to-left marks or zero-width spaces)."
            ),
        ));
    }
    if has_encoded_word(value) {
        return Err(FieldError::new(
            field,
            format!(
                "The {label} cannot contain “=?” followed by “?=”: mail programs would show it as other text."
            ),
        ));
    }
    Ok(())
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
    fn names_with_invisible_or_encoded_text_are_refused_at_their_field() {
        for bad in [
            "Gus \u{202E}xobleG",
            "Gus\u{200B}Globex",
            "\u{2066}Gus\u{2069}",
            "Gus\u{FEFF}",
            "Gus\u{2028}Globex",
            "=?utf-8?q?Keyward_Security?=",
            "Gus =?UTF-8?B?S2V5d2FyZA==?= Globex",
        ] {
            let refused = DisplayName::parse(bad).unwrap_err();
            assert_eq!(refused.field, "display_name", "{bad:?}");
        }
        for ok in [
            "Gus Globex",
            "José Núñez",
            "عمر",
            "a = b? c",
            "what?= no",
            "O'Brien",
        ] {
            assert!(DisplayName::parse(ok).is_ok(), "{ok}");
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
