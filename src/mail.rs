//! Outgoing email through one mailer: SMTP when `KEYWARD_SMTP_URL` is set
//! (`smtp://host:port` in the clear, `smtp://…?tls=required` for STARTTLS,
//! `smtps://…` for TLS; user and password in the URL), otherwise none, and
//! the console shows the link to copy instead.

use std::time::Duration;

use lettre::message::Mailbox;
use lettre::message::header::ContentType;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

/// A message to one person.
pub struct Mail {
    pub to: String,
    pub subject: String,
    pub body: String,
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
