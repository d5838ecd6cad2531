//! The reference of every setting: its key, variable and meaning, written
//! once. The default column is read off [`Settings::default`], so the
//! README's table (`keyward config reference`) cannot state a default the
//! program does not have.

use super::Settings;

/// One setting as the reference documents it.
pub struct Setting {
    /// Its key in `keyward.toml` (`backup.every` is `every` in `[backup]`).
    pub key: &'static str,
    /// Its environment variable.
    pub env: &'static str,
    pub meaning: &'static str,
    /// What the reference says when the setting has no value by default, or
    /// one computed from other settings.
    pub unset: Option<&'static str>,
    /// Never printed: `keyward config check` shows it redacted.
    pub secret: bool,
}

const fn setting(key: &'static str, env: &'static str, meaning: &'static str) -> Setting {
    Setting {
        key,
        env,
        meaning,
        unset: None,
        secret: false,
    }
}

impl Setting {
    const fn unset(self, text: &'static str) -> Setting {
        Setting {
            unset: Some(text),
            ..self
        }
    }

    const fn secret(self) -> Setting {
        Setting {
            secret: true,
            ..self
        }
    }

    /// Its value in `settings`, as JSON (`null` when unset).
    pub fn value_in(&self, settings: &serde_json::Value) -> serde_json::Value {
        self.key
            .split('.')
            .try_fold(settings, |v, k| v.get(k))
            .cloned()
            .unwrap_or_default()
    }
}

/// Every setting, in the order the reference lists them.
pub const SETTINGS: &[Setting] = &[
    setting(
        "addr",
        "KEYWARD_ADDR",
        "address to listen on",
    ),
    setting(
        "database_url",
        "DATABASE_URL",
        "`sqlite://FILE` (created if missing) or `postgres://user@host/db`; migrated at start",
    ),
    setting(
        "key_file",
        "KEYWARD_KEY_FILE",
        "the server key file (secrets' HMAC key, token signing key, webhook secret seal); `KEYWARD_KEY` (64 hex digits, environment only) takes its place",
    )
    .unset("`keyward.key` beside the SQLite file"),
    setting(
        "public_url",
        "KEYWARD_PUBLIC_URL",
        "public base URL; `https://` makes cookies `Secure` and turns on HSTS",
    )
    .unset("`http://<addr>`"),
    setting(
        "audience",
        "KEYWARD_AUDIENCE",
        "the API audience shown with each credential and put in tokens",
    ),
    setting(
        "environment",
        "KEYWARD_ENVIRONMENT",
        "`sandbox` (secrets start `kws_test_`) or `production` (`kws_live_`)",
    ),
    setting(
        "trusted_proxies",
        "KEYWARD_TRUSTED_PROXIES",
        "comma-separated addresses/CIDRs whose `X-Forwarded-For` is believed",
    )
    .unset("(none)"),
    setting(
        "token_rate_per_client",
        "KEYWARD_TOKEN_RATE_PER_CLIENT",
        "token endpoint requests per second per client ID (bursts of twice that)",
    ),
    setting(
        "token_rate_per_ip",
        "KEYWARD_TOKEN_RATE_PER_IP",
        "token endpoint requests per second per source address",
    ),
    setting(
        "api_rate_per_minute",
        "KEYWARD_API_RATE_PER_MINUTE",
        "`/api/v1` requests per minute per person and organization, whatever the number of tokens (per instance)",
    ),
    setting(
        "leak_public_keys",
        "KEYWARD_LEAK_PUBLIC_KEYS",
        "GitHub's secret scanning public keys document, saved as a JSON file; turns on `POST /leaks/github`",
    )
    .unset("(unset: intake off)"),
    setting(
        "webhook.allowed_networks",
        "KEYWARD_WEBHOOK_ALLOWED_NETWORKS",
        "comma-separated addresses/CIDRs that webhook deliveries may reach although they are loopback, private or reserved",
    )
    .unset("(none)"),
    setting(
        "webhook.allow_http",
        "KEYWARD_WEBHOOK_ALLOW_HTTP",
        "development only: accept `http://` webhook URLs to loopback hosts",
    ),
    setting(
        "webhook.retry_base_secs",
        "KEYWARD_WEBHOOK_RETRY_BASE_SECS",
        "the first wait before a failed delivery is retried (1 to 3600); each retry waits twice as long (at most 12 hours, ±20 % jitter), for 3 days",
    ),
    setting(
        "smtp_url",
        "KEYWARD_SMTP_URL",
        "SMTP server for Keyward's emails (invitations, leaked secrets, expiry reminders): `smtp://host:25` (in the clear), `smtp://user:password@host:587?tls=required` (STARTTLS) or `smtps://user:password@host:465` (TLS)",
    )
    .unset("(unset: no email)")
    .secret(),
    setting(
        "smtp_from",
        "KEYWARD_SMTP_FROM",
        "the sender of Keyward's emails",
    ),
    setting(
        "upgrade_contact",
        "KEYWARD_UPGRADE_CONTACT",
        "whom a trial organization contacts to upgrade",
    ),
    setting(
        "metrics_addr",
        "KEYWARD_METRICS_ADDR",
        "address for Prometheus metrics at `/metrics`, apart from the console, e.g. `127.0.0.1:9464`",
    )
    .unset("(unset: off)"),
    setting(
        "log_format",
        "KEYWARD_LOG_FORMAT",
        "`text`, or `json` for one JSON object per log line",
    ),
    setting(
        "shutdown_drain_secs",
        "KEYWARD_SHUTDOWN_DRAIN_SECS",
        "after SIGTERM, how long `/readyz` answers 503 before the server stops (0 to 300)",
    ),
    setting(
        "backup.dir",
        "KEYWARD_BACKUP_DIR",
        "a folder for scheduled backups of the SQLite database",
    )
    .unset("(unset: off)"),
    setting(
        "backup.every",
        "KEYWARD_BACKUP_EVERY",
        "how often a scheduled backup is taken (`30m`, `6h`, `1d`)",
    ),
    setting(
        "backup.keep",
        "KEYWARD_BACKUP_KEEP",
        "how many scheduled backups are kept (1 to 1000)",
    ),
];

/// The README's reference table of every setting.
pub fn reference_table() -> String {
    let defaults = serde_json::to_value(Settings::default()).unwrap_or_default();
    let mut out = String::from(
        "| `keyward.toml` key | environment variable | default | meaning |\n| --- | --- | --- | --- |\n",
    );
    for s in SETTINGS {
        let default = match (s.unset, s.value_in(&defaults)) {
            (Some(text), _) => text.to_owned(),
            (None, serde_json::Value::String(text)) => format!("`{text}`"),
            (None, other) => format!("`{other}`"),
        };
        out.push_str(&format!(
            "| `{}` | `{}` | {default} | {} |\n",
            s.key, s.env, s.meaning
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_default_is_documented_in_words_only_where_there_is_no_value() {
        let defaults = serde_json::to_value(Settings::default()).unwrap();
        for s in SETTINGS {
            let value = s.value_in(&defaults);
            let empty = value.is_null() || value == "";
            assert_eq!(s.unset.is_some(), empty, "{}: {value}", s.key);
        }
    }
}
