//! Runtime configuration, read from flags and the environment (see README "Configuration").

use std::net::SocketAddr;
use std::path::PathBuf;

use ipnet::IpNet;

pub use crate::domain::credential::Environment;

#[derive(Clone)]
pub struct Config {
    pub addr: SocketAddr,
    pub database_url: String,
    pub key_file: PathBuf,
    /// The public base URL, without a trailing slash. It is the token issuer and
    /// decides whether cookies are `Secure`.
    pub public_url: String,
    pub audience: String,
    pub environment: Environment,
    /// Peers whose `X-Forwarded-For` is believed.
    pub trusted_proxies: Vec<IpNet>,
    /// Token endpoint requests per second per client ID and per address (bursts of twice that).
    pub token_rate_per_client: u32,
    pub token_rate_per_ip: u32,
    /// API requests per minute per personal access token.
    pub api_rate_per_minute: u32,
    /// Where email goes (`smtp://`, `smtps://`), and from whom; without a URL
    /// nothing is sent and the console shows links to copy.
    pub smtp_url: Option<String>,
    pub smtp_from: String,
    /// Who a trial organization asks to upgrade: an address, a URL, a team.
    pub upgrade_contact: String,
    /// GitHub's secret-scanning public keys document, saved as a file.
    pub leak_public_keys: Option<std::path::PathBuf>,
    /// Webhooks: networks an operator lets deliveries reach although they
    /// are loopback or private (by default none are).
    pub webhook_allowed_networks: Vec<IpNet>,
    /// Webhooks: http:// URLs to loopback hosts, for developing a receiver.
    pub webhook_allow_http: bool,
    /// Webhooks: the first wait before a retry, in seconds; it doubles per attempt.
    pub webhook_retry_base_secs: i64,
}

impl Config {
    /// What a trial organization is told about upgrading.
    pub fn upgrade_text(&self) -> String {
        format!(
            "To upgrade to the Standard plan, contact {}.",
            self.upgrade_contact
        )
    }

    /// A configuration for tests and tools: everything local, nothing secure.
    pub fn for_database(database_url: impl Into<String>) -> Self {
        Config {
            addr: SocketAddr::from(([127, 0, 0, 1], 8080)),
            database_url: database_url.into(),
            key_file: PathBuf::from("keyward.key"),
            public_url: "http://127.0.0.1:8080".to_owned(),
            audience: "https://api.keyward.test".to_owned(),
            environment: Environment::Sandbox,
            trusted_proxies: Vec::new(),
            token_rate_per_client: 20,
            token_rate_per_ip: 50,
            api_rate_per_minute: 600,
            smtp_url: None,
            leak_public_keys: None,
            webhook_allowed_networks: Vec::new(),
            webhook_allow_http: false,
            webhook_retry_base_secs: 5,
            smtp_from: "Keyward <keyward@localhost>".to_owned(),
            upgrade_contact: "the people who run this Keyward server".to_owned(),
        }
    }

    pub fn secure_cookies(&self) -> bool {
        self.public_url.starts_with("https://")
    }
}

/// A URL fit for a log: the password, if any, replaced, and the query
/// string too (PostgreSQL and SMTP URLs may carry a password there).
pub fn redacted_url(url: &str) -> String {
    let query = |rest: &str| match rest.split_once('?') {
        Some((before, _)) => format!("{before}?[redacted]"),
        None => rest.to_owned(),
    };
    let Some((scheme, rest)) = url.split_once("://") else {
        return query(url);
    };
    // The user information ends at the last `@` of the authority; a `/`
    // before it means that `@` is in the path or the query instead.
    match rest.rsplit_once('@') {
        Some((userinfo, host)) if !userinfo.contains('/') => match userinfo.split_once(':') {
            Some((user, _)) => format!("{scheme}://{user}:[redacted]@{}", query(host)),
            None => format!("{scheme}://{userinfo}@{}", query(host)),
        },
        _ => format!("{scheme}://{}", query(rest)),
    }
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("addr", &self.addr)
            .field("database_url", &redacted_url(&self.database_url))
            .field("key_file", &self.key_file)
            .field("public_url", &self.public_url)
            .field("audience", &self.audience)
            .field("environment", &self.environment)
            .field("trusted_proxies", &self.trusted_proxies)
            .field("token_rate_per_client", &self.token_rate_per_client)
            .field("token_rate_per_ip", &self.token_rate_per_ip)
            .field("api_rate_per_minute", &self.api_rate_per_minute)
            .field("smtp_url", &self.smtp_url.as_deref().map(redacted_url))
            .field("leak_public_keys", &self.leak_public_keys)
            .field("smtp_from", &self.smtp_from)
            .field("upgrade_contact", &self.upgrade_contact)
            .field("webhook_allowed_networks", &self.webhook_allowed_networks)
            .field("webhook_allow_http", &self.webhook_allow_http)
            .field("webhook_retry_base_secs", &self.webhook_retry_base_secs)
            .finish()
    }
}

/// Comma-separated addresses or CIDR ranges (trusted proxies, webhook networks).
pub fn parse_networks(raw: &str) -> Result<Vec<IpNet>, String> {
    raw.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse::<IpNet>()
                .or_else(|_| s.parse::<std::net::IpAddr>().map(IpNet::from))
                .map_err(|_| format!("`{s}` is not an IP address or CIDR range"))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_hides_the_database_password() {
        let config =
            Config::for_database("postgres://keyward:hunter2-secret@db.internal:5432/keyward");
        let shown = format!("{config:?}");
        assert!(!shown.contains("hunter2-secret"), "{shown}");
        assert!(
            shown.contains("postgres://keyward:[redacted]@db.internal:5432/keyward"),
            "{shown}"
        );
        assert_eq!(redacted_url("sqlite://keyward.db"), "sqlite://keyward.db");
        assert_eq!(
            redacted_url("postgres://db.internal/keyward?user=k&password=hunter2"),
            "postgres://db.internal/keyward?[redacted]"
        );
        assert_eq!(
            redacted_url("smtps://mailer:hunter2@smtp.internal:465?tls=required"),
            "smtps://mailer:[redacted]@smtp.internal:465?[redacted]"
        );
        // A `?` or `@` where a URL should have escaped it hides nothing.
        assert_eq!(
            redacted_url("postgres://k:pa?ss@db.internal/keyward"),
            "postgres://k:[redacted]@db.internal/keyward"
        );
        assert_eq!(
            redacted_url("postgres://db.internal/keyward?password=a@b"),
            "postgres://db.internal/keyward?[redacted]"
        );
        assert_eq!(
            redacted_url("postgres://postgres@127.0.0.1:5432"),
            "postgres://postgres@127.0.0.1:5432"
        );
    }
}
