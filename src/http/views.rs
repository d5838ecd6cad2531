//! What every console page shares: the layout data and the navigation.

use time::OffsetDateTime;

use crate::domain::OrgId;

#[derive(Debug, Clone)]
pub struct OrgChoice {
    pub id: OrgId,
    pub name: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Nav {
    Credentials,
    Members,
    AuditLog,
    Organization,
    Webhooks,
    Account,
}

/// Data for `templates/layout.html`.
#[derive(Debug, Clone)]
pub struct Layout {
    pub title: String,
    pub csrf: String,
    pub user_name: String,
    pub user_email: String,
    pub org_id: OrgId,
    pub org_name: String,
    pub access_label: &'static str,
    pub orgs: Vec<OrgChoice>,
    pub nav: Nav,
    pub is_owner: bool,
    pub is_trial: bool,
    /// A banner above every page for those who can change nothing here.
    pub banner: &'static str,
}

impl Layout {
    fn nav_key(&self) -> (&'static str, &'static str) {
        match self.nav {
            Nav::Credentials => ("credentials", "/settings/credentials"),
            Nav::Members => ("members", "/settings/members"),
            Nav::AuditLog => ("audit", "/audit-log"),
            Nav::Organization => ("organization", "/settings/organization"),
            Nav::Webhooks => ("webhooks", "/settings/webhooks"),
            Nav::Account => ("account", "/account"),
        }
    }

    /// Whether `item` is the active navigation entry (`aria-current="page"`).
    pub fn is_current(&self, item: &str) -> bool {
        self.nav_key().0 == item
    }

    /// Where the organization switcher returns to.
    pub fn back_path(&self) -> &'static str {
        self.nav_key().1
    }

    /// The value of `data-hx-headers` on `<body>`: the CSRF token for every htmx request.
    pub fn hx_headers(&self) -> String {
        serde_json::json!({ "X-CSRF-Token": self.csrf }).to_string()
    }
}

pub use crate::domain::iso_time;

/// A readable absolute UTC time, e.g. "2026-11-22 14:03 UTC".
pub fn absolute_time(unix: i64) -> String {
    let format = time::macros::format_description!("[year]-[month]-[day] [hour]:[minute] UTC");
    OffsetDateTime::from_unix_timestamp(unix)
        .ok()
        .and_then(|t| t.format(&format).ok())
        .unwrap_or_default()
}

/// "Wait 15 minutes and try again." for a refusal with `Retry-After` of
/// `retry_after` seconds (whole minutes, rounded up).
pub fn wait_and_retry(retry_after: i64) -> String {
    let minutes = (retry_after + 59) / 60;
    format!(
        "Wait {minutes} minute{} and try again.",
        if minutes == 1 { "" } else { "s" }
    )
}

/// "just now", "3 min ago", "5 hours ago", "2 days ago", or a date; for a
/// time ahead, "in 3 min", "in 5 hours", "in 2 days".
pub fn relative_time(unix: i64, now: i64) -> String {
    if unix > now + 59 {
        let ahead = unix - now;
        return match ahead {
            0..=3599 => format!("in {} min", (ahead + 59) / 60),
            3600..=86_399 => in_units(ahead / 3600, "hour"),
            _ => in_units(ahead / 86_400, "day"),
        };
    }
    let ago = now - unix;
    match ago {
        i64::MIN..=59 => "just now".to_owned(),
        60..=3599 => format!("{} min ago", ago / 60),
        3600..=86_399 => plural(ago / 3600, "hour"),
        86_400..=2_591_999 => plural(ago / 86_400, "day"),
        _ => absolute_time(unix).chars().take(10).collect(),
    }
}

/// Exactly how long until `until`: "24 h", "23 h 59 min", "14 min",
/// "3 d 2 h"; the script keeps it current (`data-until`).
pub fn countdown(until: i64, now: i64) -> String {
    let minutes = (until - now + 59).max(0) / 60;
    if minutes == 0 {
        return "ending now".to_owned();
    }
    let (days, hours, mins) = (minutes / 1440, minutes % 1440 / 60, minutes % 60);
    let text = if minutes >= 2880 {
        if hours == 0 {
            format!("{days} d")
        } else {
            format!("{days} d {hours} h")
        }
    } else if minutes >= 60 {
        let hours = minutes / 60;
        if mins == 0 {
            format!("{hours} h")
        } else {
            format!("{hours} h {mins} min")
        }
    } else {
        format!("{mins} min")
    };
    format!("{text} left")
}

fn in_units(n: i64, unit: &str) -> String {
    if n == 1 {
        format!("in 1 {unit}")
    } else {
        format!("in {n} {unit}s")
    }
}

fn plural(n: i64, unit: &str) -> String {
    if n == 1 {
        format!("1 {unit} ago")
    } else {
        format!("{n} {unit}s ago")
    }
}

/// A point in time as the page shows it: relative, with the absolute time on hover.
pub struct When {
    pub relative: String,
    pub iso: String,
    pub absolute: String,
}

impl When {
    pub fn at(unix: i64, now: i64) -> When {
        When {
            relative: relative_time(unix, now),
            iso: iso_time(unix),
            absolute: absolute_time(unix),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn countdowns_are_exact() {
        let now = 1_000_000;
        assert_eq!(countdown(now + 86_400, now), "24 h left");
        assert_eq!(countdown(now + 86_400 - 61, now), "23 h 59 min left");
        assert_eq!(countdown(now + 7 * 86_400, now), "7 d left");
        assert_eq!(countdown(now + 3 * 86_400 + 7_200, now), "3 d 2 h left");
        assert_eq!(countdown(now + 30, now), "1 min left");
        assert_eq!(countdown(now - 5, now), "ending now");
    }

    #[test]
    fn relative_times_read_naturally() {
        let now = 1_800_000_000;
        assert_eq!(relative_time(now - 5, now), "just now");
        assert_eq!(relative_time(now - 180, now), "3 min ago");
        assert_eq!(relative_time(now - 3600, now), "1 hour ago");
        assert_eq!(relative_time(now - 2 * 86_400, now), "2 days ago");
        assert_eq!(relative_time(now - 40 * 86_400, now).len(), 10);
        assert_eq!(absolute_time(0), "1970-01-01 00:00 UTC");
        assert_eq!(relative_time(now + 23 * 3600 + 5, now), "in 23 hours");
        assert_eq!(relative_time(now + 7 * 86_400, now), "in 7 days");
        assert_eq!(relative_time(now + 600, now), "in 10 min");
    }
}
