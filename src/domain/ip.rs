//! IP allowlists: all addresses, or up to 6 IPv4/IPv6 addresses or CIDR
//! ranges, parsed with `ipnet` and stored in normal form (`10.0.0.7/24` is
//! the network `10.0.0.0/24`; a single address is stored without a prefix).

use std::fmt;
use std::net::IpAddr;

use ipnet::IpNet;

pub const MAX_ENTRIES: usize = 6;
/// `0.0.0.0/0`: the stored form of "All IP addresses".
pub const ALL: &str = "0.0.0.0/0";

/// One entry: an address or a network, normalised.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct IpEntry(IpNet);

impl IpEntry {
    /// Parses one entry; `Ok((entry, Some(note)))` when it was normalised.
    pub fn parse(raw: &str) -> Result<(IpEntry, Option<String>), String> {
        let text = raw.trim();
        let shown: String = text.chars().take(60).collect();
        let shown = if text.chars().count() > 60 {
            format!("{shown}…")
        } else {
            shown
        };
        if text.is_empty() {
            return Err("Enter an IP address or CIDR range.".to_owned());
        }
        if let Ok(ip) = text.parse::<IpAddr>() {
            return Ok((IpEntry(IpNet::from(ip)), None));
        }
        if let Some((address, prefix)) = text.split_once('/')
            && let Ok(ip) = address.parse::<IpAddr>()
        {
            let max = if ip.is_ipv4() { 32 } else { 128 };
            if prefix.parse::<u8>().map_or(true, |p| p > max) {
                return Err(format!(
                    "“{shown}”: the prefix length after / goes from 0 to {max} for an {} address.",
                    if ip.is_ipv4() { "IPv4" } else { "IPv6" }
                ));
            }
        }
        let net: IpNet = text
            .parse()
            .map_err(|_| format!("“{shown}” is not an IP address or CIDR range (for example 203.0.113.4 or 10.0.0.0/24)."))?;
        let normal = IpEntry(net.trunc());
        let note = (normal.to_string() != text)
            .then(|| format!("{text} is shown as {normal}: the network it belongs to."));
        Ok((normal, note))
    }

    pub fn contains(&self, ip: &IpAddr) -> bool {
        self.0.contains(ip)
    }
}

impl fmt::Display for IpEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.prefix_len() == self.0.max_prefix_len() {
            write!(f, "{}", self.0.addr())
        } else {
            write!(f, "{}", self.0)
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IpAllowlist {
    All,
    Limited(Vec<IpEntry>),
}

/// What went wrong with a Limited list: the entry it concerns (1-based: the
/// textarea line, or the API array's index + 1) and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IpError {
    pub line: Option<usize>,
    /// About the list as a whole (none, too many), though the console shows
    /// a count at the first entry too many: the API names the list for it.
    pub of_list: bool,
    pub message: String,
}

impl IpError {
    fn of_list(line: Option<usize>, message: String) -> IpError {
        IpError {
            line,
            of_list: true,
            message,
        }
    }
}

impl IpAllowlist {
    /// Parses the Limited IP addresses text: one entry per line (commas work
    /// too), then [`IpAllowlist::from_entries`].
    pub fn parse_limited(text: &str) -> Result<(IpAllowlist, Vec<String>), Vec<IpError>> {
        if text.len() > 4096 {
            return Err(vec![IpError::of_list(
                None,
                format!("Enter at most {MAX_ENTRIES} entries, one per line."),
            )]);
        }
        // Each entry with the number of the textarea line it is on, blank
        // lines counted, so "Line 4" is the fourth line the person sees.
        let lines: Vec<(usize, &str)> = text
            .split('\n')
            .enumerate()
            .flat_map(|(i, line)| line.split(',').map(move |entry| (i + 1, entry.trim())))
            .filter(|(_, entry)| !entry.is_empty())
            .collect();
        IpAllowlist::from_entries(lines)
    }

    /// The one way in for a Limited list, the console's and the API's: each
    /// entry with its position (1-based), at least one, at most
    /// [`MAX_ENTRIES`], each normalised and listed once. Returns the list and
    /// notes about normalised entries, or every entry's message.
    pub fn from_entries<'a>(
        entries: impl IntoIterator<Item = (usize, &'a str)>,
    ) -> Result<(IpAllowlist, Vec<String>), Vec<IpError>> {
        let lines: Vec<(usize, &str)> = entries.into_iter().collect();
        let mut errors = Vec::new();
        if lines.is_empty() {
            errors.push(IpError::of_list(
                None,
                "Enter at least one IP address or CIDR range, or choose All IP addresses."
                    .to_owned(),
            ));
        }
        if lines.len() > MAX_ENTRIES {
            errors.push(IpError::of_list(
                Some(lines[MAX_ENTRIES].0),
                format!(
                    "A credential can have at most {MAX_ENTRIES} IP entries; remove {}.",
                    lines.len() - MAX_ENTRIES
                ),
            ));
        }
        let mut entries: Vec<IpEntry> = Vec::new();
        let mut notes = Vec::new();
        for &(number, line) in lines.iter().take(MAX_ENTRIES * 4) {
            let parsed = IpEntry::parse(line).and_then(|(entry, note)| {
                if entries.contains(&entry) {
                    Err(format!("{entry} is listed twice."))
                } else {
                    Ok((entry, note))
                }
            });
            match parsed {
                Ok((entry, note)) => {
                    entries.push(entry);
                    notes.extend(note);
                }
                Err(message) => errors.push(IpError {
                    line: Some(number),
                    of_list: false,
                    message,
                }),
            }
        }
        if errors.is_empty() {
            Ok((IpAllowlist::limited(entries), notes))
        } else {
            Err(errors)
        }
    }

    /// A list of these entries. `0.0.0.0/0` alone is how all addresses are
    /// written (and stored), so a list of only that is all addresses: read
    /// back, it could be nothing else.
    pub fn limited(entries: Vec<IpEntry>) -> IpAllowlist {
        if entries.len() == 1 && entries[0].to_string() == ALL {
            IpAllowlist::All
        } else {
            IpAllowlist::Limited(entries)
        }
    }

    /// Reads the stored form, which [`IpAllowlist::to_stored`] wrote: `None`
    /// when any entry is not a normalised address or range, so a damaged row
    /// is reported instead of read as something else.
    pub fn parse_stored(text: &str) -> Option<IpAllowlist> {
        if text.trim() == ALL {
            return Some(IpAllowlist::All);
        }
        let entries = text
            .split_whitespace()
            .map(|e| match IpEntry::parse(e) {
                Ok((entry, None)) => Some(entry),
                _ => None,
            })
            .collect::<Option<Vec<_>>>()?;
        (!entries.is_empty() && entries.len() <= MAX_ENTRIES)
            .then_some(IpAllowlist::Limited(entries))
    }

    /// Each entry as text; `["0.0.0.0/0"]` for all addresses (the API's form).
    pub fn entries(&self) -> Vec<String> {
        self.to_stored().split(' ').map(str::to_owned).collect()
    }

    pub fn to_stored(&self) -> String {
        match self {
            IpAllowlist::All => ALL.to_owned(),
            IpAllowlist::Limited(entries) => entries
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(" "),
        }
    }

    pub fn allows(&self, ip: &IpAddr) -> bool {
        match self {
            IpAllowlist::All => true,
            IpAllowlist::Limited(entries) => entries.iter().any(|e| e.contains(ip)),
        }
    }

    pub fn is_all(&self) -> bool {
        matches!(self, IpAllowlist::All)
    }

    /// Whether every address this list allows, `other` allows too: a change
    /// to this list from `other` widens nothing.
    pub fn is_within(&self, other: &IpAllowlist) -> bool {
        match (self, other) {
            (_, IpAllowlist::All) => true,
            (IpAllowlist::All, IpAllowlist::Limited(_)) => false,
            (IpAllowlist::Limited(mine), IpAllowlist::Limited(theirs)) => mine
                .iter()
                .all(|entry| theirs.iter().any(|wider| wider.0.contains(&entry.0))),
        }
    }

    /// The entries one per line, for the form.
    pub fn lines(&self) -> String {
        match self {
            IpAllowlist::All => String::new(),
            IpAllowlist::Limited(entries) => entries
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("\n"),
        }
    }

    /// "All IP addresses" or "2 IP addresses: 10.0.0.0/24, 203.0.113.4".
    pub fn summary(&self) -> String {
        match self {
            IpAllowlist::All => "All IP addresses".to_owned(),
            IpAllowlist::Limited(entries) => {
                let list = entries
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(", ");
                let n = entries.len();
                format!("{n} IP address{}: {list}", if n == 1 { "" } else { "es" })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_are_normalised() {
        let (list, notes) =
            IpAllowlist::parse_limited("10.0.0.7/24\n203.0.113.4\n2001:db8::1/64\n::1").unwrap();
        assert_eq!(
            list.to_stored(),
            "10.0.0.0/24 203.0.113.4 2001:db8::/64 ::1"
        );
        assert_eq!(
            notes,
            vec![
                "10.0.0.7/24 is shown as 10.0.0.0/24: the network it belongs to.",
                "2001:db8::1/64 is shown as 2001:db8::/64: the network it belongs to."
            ]
        );
        assert!(list.allows(&"10.0.0.200".parse().unwrap()));
        assert!(!list.allows(&"10.0.1.1".parse().unwrap()));
        assert_eq!(IpAllowlist::parse_stored(&list.to_stored()), Some(list));
    }

    #[test]
    fn a_list_is_within_another_when_every_range_it_allows_is_allowed_there() {
        let list = |text: &str| IpAllowlist::parse_stored(text).unwrap();
        assert!(list("10.0.0.7 10.0.1.0/25").is_within(&list("10.0.0.0/16")));
        assert!(list("10.0.0.0/24").is_within(&list("0.0.0.0/0")));
        assert!(!list("0.0.0.0/0").is_within(&list("10.0.0.0/24")));
        assert!(!list("10.0.0.0/23").is_within(&list("10.0.0.0/24")));
        assert!(!list("10.0.0.7 192.0.2.1").is_within(&list("10.0.0.0/24")));
        assert!(list("2001:db8::1").is_within(&list("2001:db8::/64")));
    }

    #[test]
    fn errors_name_the_textarea_line_and_a_bad_prefix_length() {
        let errors =
            IpAllowlist::parse_limited("10.0.0.1\n\n\nnot-an-ip\n10.0.0.0/33").unwrap_err();
        let shown: Vec<(Option<usize>, String)> =
            errors.into_iter().map(|e| (e.line, e.message)).collect();
        assert_eq!(shown[0].0, Some(4));
        assert_eq!(shown[1].0, Some(5));
        assert_eq!(
            shown[1].1,
            "“10.0.0.0/33”: the prefix length after / goes from 0 to 32 for an IPv4 address."
        );
        assert!(
            IpAllowlist::parse_limited("2001:db8::/129").unwrap_err()[0]
                .message
                .contains("0 to 128 for an IPv6 address")
        );
    }

    #[test]
    fn garbage_duplicates_and_a_seventh_entry_are_refused() {
        for bad in ["999.1.1.1", "::ffff:", "hello"] {
            let errors = IpAllowlist::parse_limited(bad).unwrap_err();
            assert_eq!(errors[0].line, Some(1), "{bad}");
            assert!(
                errors[0]
                    .message
                    .contains("is not an IP address or CIDR range"),
                "{bad}: {errors:?}"
            );
        }
        for bad in ["10.0.0.0/33", "1.2.3.4/-1"] {
            let errors = IpAllowlist::parse_limited(bad).unwrap_err();
            assert!(
                errors[0].message.contains("the prefix length"),
                "{bad}: {errors:?}"
            );
        }
        let dup = IpAllowlist::parse_limited("10.0.0.1/24\n10.0.0.0/24").unwrap_err();
        assert_eq!(
            dup[0],
            IpError {
                line: Some(2),
                of_list: false,
                message: "10.0.0.0/24 is listed twice.".to_owned()
            }
        );
        let seven = (1..=7)
            .map(|i| format!("10.0.0.{i}"))
            .collect::<Vec<_>>()
            .join("\n");
        let errors = IpAllowlist::parse_limited(&seven).unwrap_err();
        assert!(errors[0].message.contains("at most 6"));
        assert!(IpAllowlist::parse_limited(&"1".repeat(10 * 1024)).is_err());
        assert!(IpAllowlist::parse_limited("  ").is_err());
    }
}
