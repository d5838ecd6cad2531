//! Runtime configuration, read from flags and the environment (see README "Configuration").

use std::net::SocketAddr;
use std::path::PathBuf;

use ipnet::IpNet;

pub use crate::domain::credential::Environment;

#[derive(Clone, Debug)]
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
}

impl Config {
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
        }
    }

    pub fn secure_cookies(&self) -> bool {
        self.public_url.starts_with("https://")
    }
}

/// Parses `KEYWARD_TRUSTED_PROXIES`: addresses or CIDR ranges separated by commas.
pub fn parse_trusted_proxies(raw: &str) -> Result<Vec<IpNet>, String> {
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
