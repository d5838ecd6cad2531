//! Settings, in layers (with `figment`): the defaults, then `keyward.toml`
//! (`--config` or `KEYWARD_CONFIG`), then `KEYWARD_*` environment variables
//! (and `DATABASE_URL`), then command-line flags. A key no setting has is an
//! error naming the key and where it came from. [`SETTINGS`] lists every
//! setting once: the README's reference table is generated from it, and a
//! test keeps the two in step.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use figment::Figment;
use figment::providers::{Format, Serialized, Toml};
use serde::{Deserialize, Serialize};

use crate::config::{Config, Environment, parse_networks, redacted_url};

/// One setting as the reference documents it.
pub struct Setting {
    /// Its key in `keyward.toml` (`backup.every` is `every` in `[backup]`).
    pub key: &'static str,
    /// Its environment variable.
    pub env: &'static str,
    pub default: &'static str,
    pub meaning: &'static str,
    /// Never printed: `keyward config check` shows it redacted.
    pub secret: bool,
}

const fn setting(
    key: &'static str,
    env: &'static str,
    default: &'static str,
    meaning: &'static str,
) -> Setting {
    Setting {
        key,
        env,
        default,
        meaning,
        secret: false,
    }
}

/// Every setting, in the order the reference lists them.
pub const SETTINGS: &[Setting] = &[
    setting(
        "addr",
        "KEYWARD_ADDR",
        "`127.0.0.1:8080`",
        "address to listen on",
    ),
    setting(
        "database_url",
        "DATABASE_URL",
        "`sqlite://keyward.db`",
        "`sqlite://FILE` (created if missing) or `postgres://user@host/db`; migrated at start",
    ),
    setting(
        "key_file",
        "KEYWARD_KEY_FILE",
        "`keyward.key` beside the SQLite file",
        "the server key file (secrets' HMAC key, token signing key, webhook secret seal); `KEYWARD_KEY` (64 hex digits, environment only) takes its place",
    ),
    setting(
        "public_url",
        "KEYWARD_PUBLIC_URL",
        "`http://<addr>`",
        "public base URL; `https://` makes cookies `Secure` and turns on HSTS",
    ),
    setting(
        "audience",
        "KEYWARD_AUDIENCE",
        "`https://api.keyward.test`",
        "the API audience shown with each credential and put in tokens",
    ),
    setting(
        "environment",
        "KEYWARD_ENVIRONMENT",
        "`sandbox`",
        "`sandbox` (secrets start `kws_test_`) or `production` (`kws_live_`)",
    ),
    setting(
        "trusted_proxies",
        "KEYWARD_TRUSTED_PROXIES",
        "(none)",
        "comma-separated addresses/CIDRs whose `X-Forwarded-For` is believed",
    ),
    setting(
        "token_rate_per_client",
        "KEYWARD_TOKEN_RATE_PER_CLIENT",
        "`20`",
        "token endpoint requests per second per client ID (bursts of twice that)",
    ),
    setting(
        "token_rate_per_ip",
        "KEYWARD_TOKEN_RATE_PER_IP",
        "`50`",
        "token endpoint requests per second per source address",
    ),
    setting(
        "api_rate_per_minute",
        "KEYWARD_API_RATE_PER_MINUTE",
        "`600`",
        "`/api/v1` requests per minute per person and organization, whatever the number of tokens (per instance)",
    ),
    setting(
        "leak_public_keys",
        "KEYWARD_LEAK_PUBLIC_KEYS",
        "(unset: intake off)",
        "GitHub's secret scanning public keys document, saved as a JSON file; turns on `POST /leaks/github`",
    ),
    setting(
        "webhook.allowed_networks",
        "KEYWARD_WEBHOOK_ALLOWED_NETWORKS",
        "(none)",
        "comma-separated addresses/CIDRs that webhook deliveries may reach although they are loopback, private or reserved",
    ),
    setting(
        "webhook.allow_http",
        "KEYWARD_WEBHOOK_ALLOW_HTTP",
        "`false`",
        "development only: accept `http://` webhook URLs to loopback hosts",
    ),
    setting(
        "webhook.retry_base_secs",
        "KEYWARD_WEBHOOK_RETRY_BASE_SECS",
        "`5`",
        "the first wait before a failed delivery is retried (1 to 3600); each retry waits twice as long (at most 12 hours, ±20 % jitter), for 3 days",
    ),
    Setting {
        key: "smtp_url",
        env: "KEYWARD_SMTP_URL",
        default: "(unset: no email)",
        meaning: "SMTP server for Keyward's emails (invitations, leaked secrets, expiry reminders): `smtp://host:25` (in the clear), `smtp://user:password@host:587?tls=required` (STARTTLS) or `smtps://user:password@host:465` (TLS)",
        secret: true,
    },
    setting(
        "smtp_from",
        "KEYWARD_SMTP_FROM",
        "`Keyward <keyward@localhost>`",
        "the sender of Keyward's emails",
    ),
    setting(
        "upgrade_contact",
        "KEYWARD_UPGRADE_CONTACT",
        "`the people who run this Keyward server`",
        "whom a trial organization contacts to upgrade",
    ),
    setting(
        "metrics_addr",
        "KEYWARD_METRICS_ADDR",
        "(unset: off)",
        "address for Prometheus metrics at `/metrics`, apart from the console, e.g. `127.0.0.1:9464`",
    ),
    setting(
        "log_format",
        "KEYWARD_LOG_FORMAT",
        "`text`",
        "`text`, or `json` for one JSON object per log line",
    ),
    setting(
        "shutdown_drain_secs",
        "KEYWARD_SHUTDOWN_DRAIN_SECS",
        "`5`",
        "after SIGTERM, how long `/readyz` answers 503 before the server stops (0 to 300)",
    ),
    setting(
        "backup.dir",
        "KEYWARD_BACKUP_DIR",
        "(unset: off)",
        "a folder for scheduled backups of the SQLite database",
    ),
    setting(
        "backup.every",
        "KEYWARD_BACKUP_EVERY",
        "`1d`",
        "how often a scheduled backup is taken (`30m`, `6h`, `1d`)",
    ),
    setting(
        "backup.keep",
        "KEYWARD_BACKUP_KEEP",
        "`7`",
        "how many scheduled backups are kept (1 to 1000)",
    ),
];

/// The settings after every layer. `Debug` redacts the URLs that may hold
/// a password (see the impl below).
#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Settings {
    pub addr: SocketAddr,
    pub database_url: String,
    pub key_file: Option<PathBuf>,
    pub public_url: Option<String>,
    pub audience: String,
    pub environment: String,
    pub trusted_proxies: String,
    pub token_rate_per_client: u32,
    pub token_rate_per_ip: u32,
    pub api_rate_per_minute: u32,
    pub leak_public_keys: Option<PathBuf>,
    pub webhook: WebhookSettings,
    pub smtp_url: Option<String>,
    pub smtp_from: String,
    pub upgrade_contact: String,
    pub metrics_addr: Option<SocketAddr>,
    pub log_format: String,
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
            .field("public_url", &public_url.as_deref().map(redacted_url))
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
    pub allowed_networks: String,
    pub allow_http: bool,
    pub retry_base_secs: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BackupSettings {
    pub dir: Option<PathBuf>,
    pub every: String,
    pub keep: u64,
}

impl Default for Settings {
    fn default() -> Settings {
        Settings {
            addr: SocketAddr::from(([127, 0, 0, 1], 8080)),
            database_url: "sqlite://keyward.db".to_owned(),
            key_file: None,
            public_url: None,
            audience: "https://api.keyward.test".to_owned(),
            environment: "sandbox".to_owned(),
            trusted_proxies: String::new(),
            token_rate_per_client: 20,
            token_rate_per_ip: 50,
            api_rate_per_minute: 600,
            leak_public_keys: None,
            webhook: WebhookSettings::default(),
            smtp_url: None,
            smtp_from: "Keyward <keyward@localhost>".to_owned(),
            upgrade_contact: "the people who run this Keyward server".to_owned(),
            metrics_addr: None,
            log_format: "text".to_owned(),
            shutdown_drain_secs: 5,
            backup: BackupSettings::default(),
        }
    }
}

impl Default for WebhookSettings {
    fn default() -> WebhookSettings {
        WebhookSettings {
            allowed_networks: String::new(),
            allow_http: false,
            retry_base_secs: 5,
        }
    }
}

impl Default for BackupSettings {
    fn default() -> BackupSettings {
        BackupSettings {
            dir: None,
            every: "1d".to_owned(),
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
    let settings: Settings = figment
        .merge(EnvironmentVariables)
        .merge(flags)
        .extract()
        .map_err(|error| anyhow::anyhow!(describe(error)))?;
    settings.check()?;
    Ok(settings)
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
        self.backup_every()?;
        anyhow::ensure!(
            matches!(self.log_format.as_str(), "text" | "json"),
            "log_format: `{}` is not text or json",
            self.log_format
        );
        Ok(())
    }

    pub fn backup_every(&self) -> anyhow::Result<Duration> {
        crate::backup::parse_every(&self.backup.every)
            .map_err(|e| anyhow::anyhow!("backup.every: {e}"))
    }

    /// The runtime configuration.
    pub fn config(&self) -> anyhow::Result<Config> {
        let public_url = self
            .public_url
            .clone()
            .unwrap_or_else(|| format!("http://{}", self.addr))
            .trim_end_matches('/')
            .to_owned();
        let environment = match self.environment.as_str() {
            "sandbox" => Environment::Sandbox,
            "production" => Environment::Production,
            other => anyhow::bail!("environment: `{other}` is not sandbox or production"),
        };
        Ok(Config {
            addr: self.addr,
            database_url: self.database_url.clone(),
            key_file: self
                .key_file
                .clone()
                .unwrap_or_else(|| default_key_file(&self.database_url)),
            public_url,
            audience: self.audience.clone(),
            environment,
            trusted_proxies: parse_networks(&self.trusted_proxies)
                .map_err(|e| anyhow::anyhow!("trusted_proxies: {e}"))?,
            token_rate_per_client: self.token_rate_per_client,
            token_rate_per_ip: self.token_rate_per_ip,
            api_rate_per_minute: self.api_rate_per_minute,
            smtp_url: self.smtp_url.clone().filter(|url| !url.is_empty()),
            smtp_from: self.smtp_from.clone(),
            upgrade_contact: self.upgrade_contact.clone(),
            leak_public_keys: self.leak_public_keys.clone(),
            webhook_allowed_networks: parse_networks(&self.webhook.allowed_networks)
                .map_err(|e| anyhow::anyhow!("webhook.allowed_networks: {e}"))?,
            webhook_allow_http: self.webhook.allow_http,
            webhook_retry_base_secs: self.webhook.retry_base_secs,
        })
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

/// The README's reference table of every setting.
pub fn reference_table() -> String {
    let mut out = String::from(
        "| `keyward.toml` key | environment variable | default | meaning |\n| --- | --- | --- | --- |\n",
    );
    for s in SETTINGS {
        out.push_str(&format!(
            "| `{}` | `{}` | {} | {} |\n",
            s.key, s.env, s.default, s.meaning
        ));
    }
    out
}

/// Loads settings from a file's text, for tests of the layering.
pub fn from_toml(text: &str) -> anyhow::Result<Settings> {
    let settings: Settings = Figment::from(Serialized::defaults(Settings::default()))
        .merge(Toml::string(text))
        .extract()
        .map_err(|error| anyhow::anyhow!(describe(error)))?;
    settings.check()?;
    Ok(settings)
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

    #[test]
    fn the_documented_defaults_are_the_defaults() {
        let defaults = serde_json::to_value(Settings::default()).unwrap();
        let mut compared = 0;
        for s in SETTINGS {
            let value = s.key.split('.').fold(&defaults, |v, part| &v[part]);
            // A default documented as one literal (`20`) must be the value.
            let literal = s
                .default
                .strip_prefix('`')
                .and_then(|d| d.strip_suffix('`'))
                .filter(|d| !d.contains('`'));
            let (Some(literal), false) = (literal, value.is_null()) else {
                continue;
            };
            let actual = match value {
                serde_json::Value::String(text) => text.clone(),
                other => other.to_string(),
            };
            assert_eq!(actual, literal, "{}", s.key);
            compared += 1;
        }
        assert!(compared >= 14, "only {compared} defaults compared");
    }
}
