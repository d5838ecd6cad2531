//! The typed values of settings that are written as text: a log format, a
//! list of networks, a period. Each parses once, when the settings are read,
//! and prints back as an operator writes it (`keyward config check`).

use std::fmt;
use std::time::Duration;

use ipnet::IpNet;
use serde::{Deserialize, Deserializer, Serialize, Serializer, de};

pub use crate::domain::credential::Environment;

/// A setting written as text: serialized as it prints (`Display`),
/// deserialized through its one parser, whose message names what is wrong.
macro_rules! as_text {
    ($($type:ty),*) => {$(
        impl Serialize for $type {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }

        impl<'de> Deserialize<'de> for $type {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<$type, D::Error> {
                <$type>::parse(&String::deserialize(d)?).map_err(de::Error::custom)
            }
        }
    )*};
}

as_text!(LogFormat, Networks, Every);

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    /// One JSON object a line.
    Json,
}

impl LogFormat {
    pub fn as_str(self) -> &'static str {
        match self {
            LogFormat::Text => "text",
            LogFormat::Json => "json",
        }
    }

    pub fn parse(raw: &str) -> Result<LogFormat, String> {
        match raw {
            "text" => Ok(LogFormat::Text),
            "json" => Ok(LogFormat::Json),
            other => Err(format!("`{other}` is not text or json")),
        }
    }
}

impl fmt::Display for LogFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `environment` as `sandbox` or `production` (the enum lives in the domain,
/// where it decides the secret prefix).
pub mod environment {
    use super::*;

    pub fn serialize<S: Serializer>(value: &Environment, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(value.as_str())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Environment, D::Error> {
        let raw = String::deserialize(d)?;
        raw.parse().map_err(de::Error::custom)
    }
}

/// Addresses and CIDR ranges, written comma-separated (trusted proxies,
/// webhook networks).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Networks(pub Vec<IpNet>);

impl Networks {
    pub fn parse(raw: &str) -> Result<Networks, String> {
        raw.split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| {
                s.parse::<IpNet>()
                    .or_else(|_| s.parse::<std::net::IpAddr>().map(IpNet::from))
                    .map_err(|_| format!("`{s}` is not an IP address or CIDR range"))
            })
            .collect::<Result<_, _>>()
            .map(Networks)
    }
}

impl std::ops::Deref for Networks {
    type Target = [IpNet];

    fn deref(&self) -> &[IpNet] {
        &self.0
    }
}

impl fmt::Display for Networks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let shown: Vec<String> = self.0.iter().map(IpNet::to_string).collect();
        f.write_str(&shown.join(","))
    }
}

/// How often something recurs, written `30m`, `6h` or `1d`; at least a minute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Every(pub Duration);

impl Every {
    pub fn parse(raw: &str) -> Result<Every, String> {
        let raw = raw.trim();
        let wrong = || format!("`{raw}` is not a period such as 30m, 6h or 1d");
        let (number, unit) = raw.split_at(raw.len().saturating_sub(1));
        let n: u64 = number.parse().map_err(|_| wrong())?;
        let seconds = match unit {
            "m" => n.checked_mul(60),
            "h" => n.checked_mul(3600),
            "d" => n.checked_mul(86_400),
            _ => return Err(wrong()),
        }
        .ok_or_else(wrong)?;
        if seconds < 60 {
            return Err("back up at most once a minute".to_owned());
        }
        Ok(Every(Duration::from_secs(seconds)))
    }
}

impl fmt::Display for Every {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let secs = self.0.as_secs();
        if secs.is_multiple_of(86_400) {
            write!(f, "{}d", secs / 86_400)
        } else if secs.is_multiple_of(3600) {
            write!(f, "{}h", secs / 3600)
        } else {
            write!(f, "{}m", secs / 60)
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn periods_parse_and_print_back() {
        assert_eq!(Every::parse("6h"), Ok(Every(Duration::from_secs(6 * 3600))));
        assert_eq!(Every::parse("1d").unwrap().to_string(), "1d");
        assert_eq!(Every::parse("90m").unwrap().to_string(), "90m");
        assert_eq!(Every::parse("120m").unwrap().to_string(), "2h");
        for wrong in ["0m", "6", "h", "99999999999999999999d", "-1h"] {
            assert!(Every::parse(wrong).is_err(), "{wrong}");
        }
    }

    #[test]
    fn networks_parse_and_print_back() {
        let parsed = Networks::parse(" 10.0.0.0/8, 192.0.2.7 ,2001:db8::/32").unwrap();
        assert_eq!(parsed.to_string(), "10.0.0.0/8,192.0.2.7/32,2001:db8::/32");
        assert_eq!(Networks::parse("").unwrap(), Networks::default());
        assert_eq!(
            Networks::parse("10.0.0.0/8,nope").unwrap_err(),
            "`nope` is not an IP address or CIDR range"
        );
    }

    #[test]
    fn redacted_urls_show_no_password() {
        assert_eq!(redacted_url("sqlite://keyward.db"), "sqlite://keyward.db");
        assert_eq!(
            redacted_url("postgres://keyward:hunter2-secret@db.internal:5432/keyward"),
            "postgres://keyward:[redacted]@db.internal:5432/keyward"
        );
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
