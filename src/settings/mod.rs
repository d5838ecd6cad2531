//! Settings, in layers (with `figment`): the defaults, then `keyward.toml`
//! (`--config` or `KEYWARD_CONFIG`), then `KEYWARD_*` environment variables
//! (and `DATABASE_URL`), then command-line flags. A key no setting has is an
//! error naming the key and where it came from. Each value is typed and
//! parsed here, once; its default is written once, in `Default`, and the
//! README's reference table is generated from [`reference::SETTINGS`] and
//! those defaults (a test keeps the two in step).

mod reference;
pub mod values;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Format, Serialized, Toml};
use serde::{Deserialize, Serialize};

pub use reference::{SETTINGS, Setting, reference_table};
pub use values::{Environment, Every, LogFormat, Networks, redacted_url};

/// The settings after every layer, as the server runs with them.
/// `Debug` redacts the URLs that may hold a password (see the impl below).
#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Settings {
    pub addr: SocketAddr,
    pub database_url: String,
    /// The server key file; empty until [`Settings::resolve`] puts the
    /// default there (`keyward.key` beside the SQLite file).
    pub key_file: PathBuf,
    /// The public base URL, without a trailing slash: the token issuer, and
    /// whether cookies are `Secure`. Empty until [`Settings::resolve`] makes
    /// it `http://<addr>`.
    pub public_url: String,
    pub audience: String,
    #[serde(with = "values::environment")]
    pub environment: Environment,
    /// Peers whose `X-Forwarded-For` is believed.
    pub trusted_proxies: Networks,
    /// Token endpoint requests per second per client ID and per address (bursts of twice that).
    pub token_rate_per_client: u32,
    pub token_rate_per_ip: u32,
    /// API requests per minute per personal access token.
    pub api_rate_per_minute: u32,
    /// GitHub's secret-scanning public keys document, saved as a file.
    pub leak_public_keys: Option<PathBuf>,
    pub webhook: WebhookSettings,
    /// Where email goes (`smtp://`, `smtps://`); without it nothing is sent
    /// and the console shows links to copy.
    pub smtp_url: Option<String>,
    pub smtp_from: String,
    /// Who a trial organization asks to upgrade: an address, a URL, a team.
    pub upgrade_contact: String,
    pub metrics_addr: Option<SocketAddr>,
    pub log_format: LogFormat,
    pub shutdown_drain_secs: u64,
    pub backup: BackupSettings,
}

impl std::fmt::Debug for Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Every field named, so a new one must choose how it is shown.
        let Settings {
            addr,
            database_url,
            key_file,
            public_url,
            audience,
            environment,
            trusted_proxies,
            token_rate_per_client,
            token_rate_per_ip,
            api_rate_per_minute,
            leak_public_keys,
            webhook,
            smtp_url,
            smtp_from,
            upgrade_contact,
            metrics_addr,
            log_format,
            shutdown_drain_secs,
            backup,
        } = self;
        f.debug_struct("Settings")
            .field("addr", addr)
            .field("database_url", &redacted_url(database_url))
            .field("key_file", key_file)
            .field("public_url", &redacted_url(public_url))
            .field("audience", audience)
            .field("environment", environment)
            .field("trusted_proxies", trusted_proxies)
            .field("token_rate_per_client", token_rate_per_client)
            .field("token_rate_per_ip", token_rate_per_ip)
            .field("api_rate_per_minute", api_rate_per_minute)
            .field("leak_public_keys", leak_public_keys)
            .field("webhook", webhook)
            .field("smtp_url", &smtp_url.as_deref().map(redacted_url))
            .field("smtp_from", smtp_from)
            .field("upgrade_contact", upgrade_contact)
            .field("metrics_addr", metrics_addr)
            .field("log_format", log_format)
            .field("shutdown_drain_secs", shutdown_drain_secs)
            .field("backup", backup)
            .finish()
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WebhookSettings {
    /// Networks deliveries may reach although they are loopback or private
    /// (by default none are).
    pub allowed_networks: Networks,
    /// `http://` URLs to loopback hosts, for developing a receiver.
    pub allow_http: bool,
    /// The first wait before a retry, in seconds; it doubles per attempt.
    pub retry_base_secs: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BackupSettings {
    pub dir: Option<PathBuf>,
    pub every: Every,
    pub keep: u64,
}

impl Default for Settings {
    fn default() -> Settings {
        Settings {
            addr: SocketAddr::from(([127, 0, 0, 1], 8080)),
            database_url: "sqlite://keyward.db".to_owned(),
            key_file: PathBuf::new(),
            public_url: String::new(),
            audience: "https://api.keyward.test".to_owned(),
            environment: Environment::Sandbox,
            trusted_proxies: Networks::default(),
            token_rate_per_client: 20,
            token_rate_per_ip: 50,
            api_rate_per_minute: 600,
            leak_public_keys: None,
            webhook: WebhookSettings::default(),
            smtp_url: None,
            smtp_from: "Keyward <keyward@localhost>".to_owned(),
            upgrade_contact: "the people who run this Keyward server".to_owned(),
            metrics_addr: None,
            log_format: LogFormat::Text,
            shutdown_drain_secs: 5,
            backup: BackupSettings::default(),
        }
    }
}

impl Default for WebhookSettings {
    fn default() -> WebhookSettings {
        WebhookSettings {
            allowed_networks: Networks::default(),
            allow_http: false,
            retry_base_secs: 5,
        }
    }
}

impl Default for BackupSettings {
    fn default() -> BackupSettings {
        BackupSettings {
            dir: None,
            every: Every(std::time::Duration::from_secs(86_400)),
            keep: 7,
        }
    }
}

/// The environment variables of [`SETTINGS`]. A text setting takes the
/// variable as it is (`KEYWARD_UPGRADE_CONTACT=12345` is text); a number or
/// a switch is parsed. Other variables, even `KEYWARD_`-prefixed ones, are
/// not settings (`KEYWARD_KEY` is read on its own, never from a file).
struct EnvironmentVariables;

impl figment::Provider for EnvironmentVariables {
    fn metadata(&self) -> figment::Metadata {
        figment::Metadata::named("environment variable")
    }

    fn data(
        &self,
    ) -> Result<figment::value::Map<figment::Profile, figment::value::Dict>, figment::Error> {
        use figment::value::{Dict, Value};
        let defaults = serde_json::to_value(Settings::default()).unwrap_or_default();
        let mut dict = Dict::new();
        for setting in SETTINGS {
            let Ok(raw) = std::env::var(setting.env) else {
                continue;
            };
            let typed = setting
                .key
                .split('.')
                .try_fold(&defaults, |v, k| v.get(k))
                .is_some_and(|d| d.is_number() || d.is_boolean());
            let value = if typed {
                raw.parse::<Value>().unwrap_or(Value::from(raw))
            } else {
                Value::from(raw)
            };
            match setting.key.split_once('.') {
                Some((group, field)) => {
                    let entry = dict
                        .entry(group.to_owned())
                        .or_insert_with(|| Value::from(Dict::new()));
                    if let Value::Dict(_, inner) = entry {
                        inner.insert(field.to_owned(), value);
                    }
                }
                None => {
                    dict.insert(setting.key.to_owned(), value);
                }
            }
        }
        Ok(figment::Profile::Default.collect(dict))
    }
}

/// Reads the layers: defaults, `file` (if given: it must exist), the
/// environment, then `flags` (what was given on the command line).
pub fn load(file: Option<&Path>, flags: impl figment::Provider) -> anyhow::Result<Settings> {
    let mut figment = Figment::from(Serialized::defaults(Settings::default()));
    if let Some(path) = file {
        anyhow::ensure!(
            path.is_file(),
            "the configuration file {} does not exist",
            path.display()
        );
        figment = figment.merge(Toml::file_exact(path));
    }
    extract(figment.merge(EnvironmentVariables).merge(Flags(flags)))
}

/// The command-line layer, named as such in errors (not by the line of code
/// that merged it).
struct Flags<P>(P);

impl<P: figment::Provider> figment::Provider for Flags<P> {
    fn metadata(&self) -> figment::Metadata {
        figment::Metadata::named("command-line flag")
    }

    fn data(
        &self,
    ) -> Result<figment::value::Map<figment::Profile, figment::value::Dict>, figment::Error> {
        self.0.data()
    }
}

/// The settings the layers make, checked and resolved.
fn extract(figment: Figment) -> anyhow::Result<Settings> {
    let settings: Settings = figment
        .extract()
        .map_err(|error| anyhow::anyhow!(describe(error)))?;
    settings.check()?;
    Ok(settings.resolve())
}

/// figment's errors, one line each, each naming the key and its source.
fn describe(error: figment::Error) -> String {
    error
        .into_iter()
        .map(|e| {
            let key = e.path.join(".");
            let source = e
                .metadata
                .as_ref()
                .map(|m| match &m.source {
                    Some(source) => format!(" (from {source})"),
                    None => format!(" (from {})", m.name),
                })
                .unwrap_or_default();
            if key.is_empty() {
                format!("{}{source}", e.kind)
            } else {
                format!("{key}: {}{source}", e.kind)
            }
        })
        .collect::<Vec<_>>()
        .join("; ")
}

impl Settings {
    /// The checks a type cannot state, each naming its key.
    fn check(&self) -> anyhow::Result<()> {
        anyhow::ensure!(
            self.shutdown_drain_secs <= 300,
            "shutdown_drain_secs: {} is more than 300",
            self.shutdown_drain_secs
        );
        anyhow::ensure!(
            (1..=3600).contains(&self.webhook.retry_base_secs),
            "webhook.retry_base_secs: {} is not between 1 and 3600",
            self.webhook.retry_base_secs
        );
        anyhow::ensure!(
            (1..=1000).contains(&self.backup.keep),
            "backup.keep: {} is not between 1 and 1000",
            self.backup.keep
        );
        Ok(())
    }

    /// Fills in what is computed from other settings: the key file beside
    /// the SQLite file, the public URL from the address. An empty SMTP URL
    /// is no SMTP URL.
    pub fn resolve(mut self) -> Settings {
        if self.key_file.as_os_str().is_empty() {
            self.key_file = default_key_file(&self.database_url);
        }
        if self.public_url.is_empty() {
            self.public_url = format!("http://{}", self.addr);
        }
        self.public_url = self.public_url.trim_end_matches('/').to_owned();
        self.smtp_url = self.smtp_url.filter(|url| !url.is_empty());
        self
    }

    /// The settings of tests and tools: the defaults with `database_url`,
    /// everything local, nothing secure.
    pub fn for_database(database_url: impl Into<String>) -> Settings {
        Settings {
            database_url: database_url.into(),
            ..Settings::default()
        }
        .resolve()
    }

    pub fn secure_cookies(&self) -> bool {
        self.public_url.starts_with("https://")
    }

    /// What a trial organization is told about upgrading.
    pub fn upgrade_text(&self) -> String {
        format!(
            "To upgrade to the Standard plan, contact {}.",
            self.upgrade_contact
        )
    }

    /// The effective settings as TOML, secrets redacted: what `keyward
    /// config check` prints.
    pub fn redacted(&self) -> String {
        let mut shown = self.clone();
        shown.database_url = redacted_url(&shown.database_url);
        shown.smtp_url = shown.smtp_url.as_deref().map(redacted_url);
        toml_text(&shown)
    }
}

/// The settings as TOML: top-level keys, then one table per group (JSON's
/// strings, numbers and booleans are TOML's too).
fn toml_text(settings: &Settings) -> String {
    let value = serde_json::to_value(settings).unwrap_or_default();
    let mut top = String::new();
    let mut tables = String::new();
    if let serde_json::Value::Object(map) = value {
        for (key, value) in map {
            match value {
                serde_json::Value::Object(inner) => {
                    tables.push_str(&format!("\n[{key}]\n"));
                    for (k, v) in inner {
                        tables.push_str(&line(&k, &v));
                    }
                }
                other => top.push_str(&line(&key, &other)),
            }
        }
    }
    top + &tables
}

fn line(key: &str, value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::Null => format!("# {key} is not set\n"),
        other => format!("{key} = {other}\n"),
    }
}

/// `keyward.key` in the directory of a `sqlite:` database file, else in the
/// working directory.
pub fn default_key_file(database_url: &str) -> PathBuf {
    match crate::backup::sqlite_file(database_url)
        .as_deref()
        .and_then(Path::parent)
    {
        Some(dir) if !dir.as_os_str().is_empty() => dir.join("keyward.key"),
        _ => PathBuf::from("keyward.key"),
    }
}

/// Loads settings from a file's text, for tests of the layering.
pub fn from_toml(text: &str) -> anyhow::Result<Settings> {
    extract(Figment::from(Serialized::defaults(Settings::default())).merge(Toml::string(text)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_listed_setting_is_a_key_and_every_key_is_listed() {
        let value = serde_json::to_value(Settings::default()).unwrap();
        let mut keys = Vec::new();
        for (key, value) in value.as_object().unwrap() {
            match value.as_object() {
                Some(inner) => keys.extend(inner.keys().map(|k| format!("{key}.{k}"))),
                None => keys.push(key.clone()),
            }
        }
        keys.sort();
        let mut listed: Vec<String> = SETTINGS.iter().map(|s| s.key.to_owned()).collect();
        listed.sort();
        assert_eq!(keys, listed);
        for s in SETTINGS {
            let expected = if s.key == "database_url" {
                "DATABASE_URL".to_owned()
            } else {
                format!("KEYWARD_{}", s.key.replace('.', "_").to_uppercase())
            };
            assert_eq!(s.env, expected);
        }
    }

    #[test]
    fn debug_shows_no_password_of_any_url() {
        let settings = Settings {
            database_url: "postgres://keyward:hunter2-db@db.internal/keyward?sslpassword=hunter2-q"
                .to_owned(),
            smtp_url: Some("smtps://mailer:hunter2-smtp@smtp.internal:465".to_owned()),
            ..Settings::default()
        };
        let shown = format!("{settings:?}");
        for secret in ["hunter2-db", "hunter2-q", "hunter2-smtp"] {
            assert!(!shown.contains(secret), "{shown}");
        }
        assert!(shown.contains("postgres://keyward:[redacted]@db.internal/keyward?[redacted]"));
        assert!(shown.contains("smtps://mailer:[redacted]@smtp.internal:465"));
    }

    #[test]
    fn unknown_keys_and_bad_values_name_themselves() {
        let unknown = from_toml("addr = \"127.0.0.1:9000\"\ntoken_rate = 5\n").unwrap_err();
        assert!(format!("{unknown:#}").contains("token_rate"), "{unknown:#}");
        let nested = from_toml("[backup]\nevery = \"6\"\n").unwrap_err();
        assert!(
            format!("{nested:#}").starts_with("backup.every"),
            "{nested:#}"
        );
        let typed = from_toml("token_rate_per_ip = \"many\"\n").unwrap_err();
        assert!(
            format!("{typed:#}").contains("token_rate_per_ip"),
            "{typed:#}"
        );
        let ok = from_toml("[backup]\nevery = \"6h\"\nkeep = 3\n").unwrap();
        assert_eq!(ok.backup.keep, 3);
    }
}
