//! Outgoing email through one mailer: SMTP when `KEYWARD_SMTP_URL` is set
//! (`smtp://host:port` in the clear, `smtp://…?tls=required` for STARTTLS,
//! `smtps://…` for TLS; user and password in the URL), otherwise none, and
//! the console shows the link to copy instead.

use std::time::Duration;

use lettre::message::Mailbox;
use lettre::message::header::ContentType;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

/// A name someone chose (a person's, an organization's) as an email shows
/// it: in double quotes, so the reader sees where it starts and ends; without
/// control, format or separator characters; and with whatever a mail program
/// would turn into a link or decode as an encoded-word broken up
/// (`evil[.]example`, `https[:]//`, `name[@]host`, `= ?`). Pages store and
/// show names as typed; only email, which Keyward sends in the operator's
/// name to people who never chose to read it, is defanged.
pub fn quoted(name: &str) -> String {
    let chars: Vec<char> = name
        .chars()
        .filter(|c| {
            !c.is_control()
                && !crate::domain::user::is_format_char(*c)
                && !matches!(c, '\u{2028}' | '\u{2029}')
        })
        .collect();
    let mut out = String::with_capacity(name.len() + 2);
    out.push('"');
    for (i, c) in chars.iter().enumerate() {
        let before = i.checked_sub(1).and_then(|j| chars.get(j));
        let after = chars.get(i + 1);
        let between_words = before.is_some_and(|b| b.is_alphanumeric())
            && after.is_some_and(|a| a.is_alphanumeric());
        match c {
            '.' if between_words => out.push_str("[.]"),
            '@' => out.push_str("[@]"),
            ':' if after == Some(&'/') => out.push_str("[:]"),
            '=' if after == Some(&'?') => out.push_str("= "),
            '"' => out.push('\''),
            c => out.push(*c),
        }
    }
    out.push('"');
    out
}

/// A message to one person.
pub struct Mail {
    pub to: String,
    pub subject: String,
    pub body: String,
}

/// The reminder that an API credential expires soon, or has.
pub struct ExpiryReminder<'a> {
    pub name: &'a str,
    pub client_id: &'a str,
    /// Its last day, as the console shows it.
    pub date: String,
    /// Whole days until it expires; 0 once it has.
    pub days_left: i64,
    /// The console's address.
    pub console: &'a str,
}

impl ExpiryReminder<'_> {
    /// The reminder to `to`.
    pub fn mail(&self, to: String) -> Mail {
        let (name, client_id, date, left) = (self.name, self.client_id, &self.date, self.days_left);
        let days = if left == 1 { "day" } else { "days" };
        let (subject, opening) = if left == 0 {
            (
                format!("“{name}” has expired"),
                format!(
                    "The API credential “{name}” ({client_id}) expired at the end of {date} (UTC). It gets no more tokens: its token requests are refused with invalid_client."
                ),
            )
        } else {
            (
                format!("“{name}” expires in {left} {days}"),
                format!(
                    "The API credential “{name}” ({client_id}) works until the end of {date} (UTC), in {left} {days}. After that it gets no tokens."
                ),
            )
        };
        Mail {
            to,
            subject,
            body: format!(
                "{opening}\n\nTo keep it working, edit it and choose a later date, or create a replacement and move your systems to it.\n\n{}/settings/credentials\n",
                self.console
            ),
        }
    }
}

#[derive(Clone)]
pub struct Mailer {
    smtp: Option<(AsyncSmtpTransport<Tokio1Executor>, Mailbox)>,
}

impl std::fmt::Debug for Mailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The transport holds the SMTP password: say only whether there is one.
        f.debug_struct("Mailer")
            .field("configured", &self.smtp.is_some())
            .finish()
    }
}

impl Mailer {
    /// No email: links are shown to copy.
    pub fn none() -> Mailer {
        Mailer { smtp: None }
    }

    /// SMTP at `url`, sending as `from` (`Keyward <keyward@example.com>`).
    pub fn smtp(url: &str, from: &str) -> anyhow::Result<Mailer> {
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
            .map_err(|e| anyhow::anyhow!("KEYWARD_SMTP_URL is not a usable SMTP URL: {e}"))?
            .timeout(Some(Duration::from_secs(10)))
            .build();
        let from: Mailbox = from
            .parse()
            .map_err(|e| anyhow::anyhow!("KEYWARD_SMTP_FROM is not an email address: {e}"))?;
        Ok(Mailer {
            smtp: Some((transport, from)),
        })
    }

    pub fn is_configured(&self) -> bool {
        self.smtp.is_some()
    }

    /// Sends `mail`. `Ok(false)` when no SMTP server is configured.
    pub async fn send(&self, mail: Mail) -> anyhow::Result<bool> {
        let Some((transport, from)) = &self.smtp else {
            return Ok(false);
        };
        let to: Mailbox = mail
            .to
            .parse()
            .map_err(|e| anyhow::anyhow!("recipient address: {e}"))?;
        let message = Message::builder()
            .from(from.clone())
            .to(to)
            .subject(mail.subject)
            .header(ContentType::TEXT_PLAIN)
            .body(mail.body)?;
        transport
            .send(message)
            .await
            .map_err(|e| anyhow::anyhow!("sending email: {e}"))?;
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::quoted;

    #[test]
    fn chosen_names_are_quoted_and_never_read_as_links_or_encoded_words() {
        assert_eq!(quoted("Acme Payments"), "\"Acme Payments\"");
        assert_eq!(quoted("Acme Inc."), "\"Acme Inc.\"");
        assert_eq!(
            quoted("URGENT: verify at https://evil.example/login"),
            "\"URGENT: verify at https[:]//evil[.]example/login\""
        );
        assert_eq!(
            quoted("mail ceo@evil.example"),
            "\"mail ceo[@]evil[.]example\""
        );
        assert_eq!(quoted("=?utf-8?q?Keyward?="), "\"= ?utf-8?q?Keyward?=\"");
        assert_eq!(quoted("Gus\u{202E}xobleG\u{200B}"), "\"GusxobleG\"");
        assert_eq!(quoted("say \"hi\""), "\"say 'hi'\"");
    }
}
