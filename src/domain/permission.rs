//! Permissions: what a credential may do. Each is Type, Action, Scope and an
//! optional Resource, written as an OAuth scope `type:action:scope[:resource]`
//! (e.g. `transactions:read:org`, `vault:update:vault:v-123`), which is also
//! how tokens carry them. A permission set type pre-populates a list of them.

use std::collections::BTreeSet;
use std::fmt;

use super::FieldError;

mod set_type;
pub use set_type::{SET_TYPES, SetType};

pub const TYPES: &[&str] = &[
    "balances",
    "key",
    "vault",
    "transactions",
    "policies",
    "addresses",
    "webhooks",
    "audit",
];
pub const ACTIONS: &[&str] = &["create", "read", "update", "delete"];
pub const SCOPES: &[&str] = &["org", "vault", "key"];
/// At most this many permission rows per credential.
pub const MAX_PERMISSIONS: usize = 32;

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Permission {
    pub kind: &'static str,
    pub action: &'static str,
    pub scope: &'static str,
    pub resource: Option<String>,
}

fn known(list: &'static [&'static str], value: &str) -> Option<&'static str> {
    list.iter().copied().find(|v| *v == value)
}

/// Which of a row's four inputs a message belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    Type,
    Action,
    Scope,
    Resource,
}

impl Permission {
    /// Parses one row of the form. Errors name the input they belong to.
    pub fn from_parts(
        kind: &str,
        action: &str,
        scope: &str,
        resource: &str,
    ) -> Result<Permission, (Part, String)> {
        let kind = kind_named(kind).map_err(|m| (Part::Type, m))?.key;
        let action = action_named(action.trim()).map_err(|m| (Part::Action, m))?;
        let scope = known(SCOPES, scope.trim()).ok_or((
            Part::Scope,
            format!("Choose a scope: {}.", SCOPES.join(", ")),
        ))?;
        let resource = resource.trim();
        let resource = if resource.is_empty() {
            None
        } else if scope == "org" {
            return Err((
                Part::Resource,
                "Leave Resource blank for org scope, or choose the vault or key scope.".to_owned(),
            ));
        } else if resource.len() > 64
            || !resource
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
        {
            return Err((
                Part::Resource,
                "A resource is a vault or wallet id: up to 64 letters, digits, '-', '_' or '.'."
                    .to_owned(),
            ));
        } else {
            Some(resource.to_owned())
        };
        Ok(Permission {
            kind,
            action,
            scope,
            resource,
        })
    }

    /// Parses the OAuth scope form, `type:action:scope[:resource]`.
    pub fn parse(text: &str) -> Result<Permission, FieldError> {
        let mut parts = text.splitn(4, ':');
        let (Some(kind), Some(action), Some(scope)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(FieldError::new(
                "permissions",
                format!("`{}` is not type:action:scope.", truncate(text)),
            ));
        };
        let resource = parts.next().unwrap_or("");
        if resource.is_empty() && text.ends_with(':') {
            return Err(FieldError::new(
                "permissions",
                format!("`{}` has an empty resource.", truncate(text)),
            ));
        }
        Permission::from_parts(kind, action, scope, resource)
            .map_err(|(_, message)| FieldError::new("permissions", message))
    }
}

/// The type of resource `raw` names; the message the console and the API
/// give for one that is not.
pub fn kind_named(raw: &str) -> Result<&'static Kind, String> {
    kind(raw.trim()).ok_or_else(|| {
        format!(
            "“{}” is not a type of resource. Choose the access for each type listed.",
            raw.chars().take(40).collect::<String>()
        )
    })
}

/// The action `raw` names; the message the console and the API give for
/// one that is not.
pub fn action_named(raw: &str) -> Result<&'static str, String> {
    known(ACTIONS, raw)
        .ok_or_else(|| format!("Choose an access level: “{}” is not one.", truncate(raw)))
}

/// The one limit on how many permissions a credential holds, worded once:
/// `count` permissions (or rows of them) would be too many.
pub fn within_limit(count: usize) -> Result<(), FieldError> {
    if count > MAX_PERMISSIONS {
        return Err(FieldError::new(
            "permissions",
            format!("A credential can hold at most {MAX_PERMISSIONS} permissions."),
        ));
    }
    Ok(())
}

fn truncate(text: &str) -> String {
    text.chars().take(80).collect()
}

impl fmt::Display for Permission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.kind, self.action, self.scope)?;
        if let Some(resource) = &self.resource {
            write!(f, ":{resource}")?;
        }
        Ok(())
    }
}

/// A credential's permissions: sorted, without duplicates, never empty.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Permissions(BTreeSet<Permission>);

impl Permissions {
    pub fn new(list: impl IntoIterator<Item = Permission>) -> Result<Permissions, FieldError> {
        let set: BTreeSet<Permission> = list.into_iter().collect();
        if set.is_empty() {
            return Err(FieldError::new(
                "permissions",
                "Add at least one permission.",
            ));
        }
        within_limit(set.len())?;
        Ok(Permissions(set))
    }

    /// The API's list of scopes: counted as sent, before duplicates
    /// collapse (as its document says), then each parsed.
    pub fn from_scopes(scopes: &[String]) -> Result<Permissions, FieldError> {
        within_limit(scopes.len())?;
        let list = scopes
            .iter()
            .map(|scope| Permission::parse(scope))
            .collect::<Result<Vec<_>, _>>()?;
        Permissions::new(list)
    }

    /// Parses the stored, space-separated scope string.
    pub fn parse(text: &str) -> Result<Permissions, FieldError> {
        let list = text
            .split_whitespace()
            .map(Permission::parse)
            .collect::<Result<Vec<_>, _>>()?;
        Permissions::new(list)
    }

    /// Whether `other` grants everything these permissions grant.
    pub fn is_within(&self, other: &Permissions) -> bool {
        self.0.is_subset(&other.0)
    }

    pub fn iter(&self) -> impl Iterator<Item = &Permission> {
        self.0.iter()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Each scope string (`transactions:read:org`).
    pub fn scopes(&self) -> Vec<String> {
        self.0.iter().map(ToString::to_string).collect()
    }

    /// The space-separated scope string, as stored and as tokens carry it.
    pub fn to_scope_string(&self) -> String {
        self.0
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// The permissions grouped for people: see [`grants`].
    pub fn grants(&self) -> Vec<Grant> {
        grants(self.0.iter())
    }

    /// "4 read permissions, org scope", "6 permissions, org and vault scopes".
    pub fn summary(&self) -> String {
        let actions: BTreeSet<&str> = self.0.iter().map(|p| p.action).collect();
        let mut scopes: Vec<&str> = SCOPES
            .iter()
            .copied()
            .filter(|s| self.0.iter().any(|p| p.scope == *s))
            .collect();
        let n = self.0.len();
        let noun = if n == 1 { "permission" } else { "permissions" };
        let what = match actions.iter().next() {
            Some(action) if actions.len() == 1 => format!("{n} {action} {noun}"),
            _ => format!("{n} {noun}"),
        };
        let scope_text = match scopes.len() {
            1 => format!("{} scope", scopes[0]),
            _ => {
                let last = scopes.pop().unwrap_or_default();
                format!("{} and {last} scopes", scopes.join(", "))
            }
        };
        format!("{what}, {scope_text}")
    }
}

/// A resource type in plain language, for the permission picker and the card.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Kind {
    pub key: &'static str,
    pub label: &'static str,
    pub about: &'static str,
    /// Only reading makes sense (balances, the audit log): the picker offers
    /// No access and Read, though a stored scope with another action is kept.
    pub read_only: bool,
}

/// Every type of [`TYPES`], in the same order.
pub const KINDS: &[Kind] = &[
    Kind {
        key: "balances",
        label: "Balances",
        about: "See the balances of wallets and vaults.",
        read_only: true,
    },
    Kind {
        key: "key",
        label: "Keys",
        about: "The signing keys that hold assets in a vault.",
        read_only: false,
    },
    Kind {
        key: "vault",
        label: "Vaults",
        about: "Vaults and their settings.",
        read_only: false,
    },
    Kind {
        key: "transactions",
        label: "Transactions",
        about: "Create, sign and list transactions.",
        read_only: false,
    },
    Kind {
        key: "policies",
        label: "Policies",
        about: "Rules that approve or block transactions.",
        read_only: false,
    },
    Kind {
        key: "addresses",
        label: "Addresses",
        about: "The address book of allowed destinations.",
        read_only: false,
    },
    Kind {
        key: "webhooks",
        label: "Webhooks",
        about: "Endpoints that receive event notifications.",
        read_only: false,
    },
    Kind {
        key: "audit",
        label: "Audit log",
        about: "Read the organization's audit log.",
        read_only: true,
    },
];

pub fn kind(key: &str) -> Option<&'static Kind> {
    KINDS.iter().find(|k| k.key == key)
}

/// The access levels the picker offers, each a set of actions in [`ACTIONS`] order.
pub const LEVELS: &[(&str, &[&str])] = &[
    ("No access", &[]),
    ("Read", &["read"]),
    ("Read and create", &["create", "read"]),
    ("Read, create and update", &["create", "read", "update"]),
    ("Full access", &["create", "read", "update", "delete"]),
];

/// The levels offered for `kind`: all of them, or No access and Read.
pub fn levels_for(kind: &Kind) -> &'static [(&'static str, &'static [&'static str])] {
    if kind.read_only { &LEVELS[..2] } else { LEVELS }
}

/// Actions as a form value, "create,read", in [`ACTIONS`] order.
pub fn actions_value(actions: &[&str]) -> String {
    let ordered: Vec<&str> = ACTIONS
        .iter()
        .copied()
        .filter(|a| actions.contains(a))
        .collect();
    ordered.join(",")
}

/// Reads a form value made by [`actions_value`]; empty means no access.
pub fn parse_actions(value: &str) -> Result<Vec<&'static str>, String> {
    let mut actions = Vec::new();
    for part in value.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let action = action_named(part)?;
        if !actions.contains(&action) {
            actions.push(action);
        }
    }
    Ok(ACTIONS
        .iter()
        .copied()
        .filter(|a| actions.contains(a))
        .collect())
}

/// "Read", "Full access", or the actions themselves for a set no level
/// names ("Create and delete").
pub fn level_label(actions: &[&str]) -> String {
    let value = actions_value(actions);
    if let Some((label, _)) = LEVELS.iter().find(|(_, a)| actions_value(a) == value) {
        return (*label).to_owned();
    }
    let mut words: Vec<&str> = ACTIONS
        .iter()
        .copied()
        .filter(|a| actions.contains(a))
        .collect();
    let last = words.pop().unwrap_or_default();
    let text = if words.is_empty() {
        last.to_owned()
    } else {
        format!("{} and {last}", words.join(", "))
    };
    let mut chars = text.chars();
    chars
        .next()
        .map(|c| c.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

/// The actions a credential has on one type, organization-wide or in one
/// scope and resource: how the picker and the card group permissions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    pub kind: &'static str,
    pub scope: &'static str,
    pub resource: Option<String>,
    pub actions: Vec<&'static str>,
}

impl Grant {
    pub fn is_org_wide(&self) -> bool {
        self.scope == "org" && self.resource.is_none()
    }

    /// "Transactions: Read and create"; "Vaults in vault v-123: Update".
    pub fn label(&self) -> String {
        let kind = kind(self.kind).map_or(self.kind, |k| k.label);
        let level = level_label(&self.actions);
        match (self.scope, &self.resource) {
            ("org", None) => format!("{kind}: {level}"),
            (scope, Some(resource)) => format!("{kind} in {scope} {resource}: {level}"),
            (scope, None) => format!("{kind}, any {scope}: {level}"),
        }
    }

    /// The scope strings this grant stands for, space-separated.
    pub fn scopes(&self) -> String {
        self.actions
            .iter()
            .map(|action| {
                Permission {
                    kind: self.kind,
                    action,
                    scope: self.scope,
                    resource: self.resource.clone(),
                }
                .to_string()
            })
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// Groups permissions into grants: the organization-wide ones in
/// [`TYPES`] order, then those limited to a vault or key.
pub fn grants<'a>(permissions: impl IntoIterator<Item = &'a Permission>) -> Vec<Grant> {
    let mut grants: Vec<Grant> = Vec::new();
    for p in permissions {
        match grants
            .iter_mut()
            .find(|g| g.kind == p.kind && g.scope == p.scope && g.resource == p.resource)
        {
            Some(g) => g.actions.push(p.action),
            None => grants.push(Grant {
                kind: p.kind,
                scope: p.scope,
                resource: p.resource.clone(),
                actions: vec![p.action],
            }),
        }
    }
    for g in &mut grants {
        g.actions = ACTIONS
            .iter()
            .copied()
            .filter(|a| g.actions.contains(a))
            .collect();
    }
    let position = |k: &str| TYPES.iter().position(|t| *t == k).unwrap_or(usize::MAX);
    grants.sort_by(|a, b| {
        (!a.is_org_wide(), position(a.kind), a.scope, &a.resource).cmp(&(
            !b.is_org_wide(),
            position(b.kind),
            b.scope,
            &b.resource,
        ))
    });
    grants
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_types_prepopulate_and_summarise() {
        let monitoring = Permissions::new(SetType::Monitoring.defaults()).unwrap();
        assert_eq!(monitoring.summary(), "4 read permissions, org scope");
        assert_eq!(
            monitoring.to_scope_string(),
            "audit:read:org balances:read:org transactions:read:org webhooks:read:org"
        );
        let mut wallets = SetType::Wallets.defaults();
        wallets.push(Permission::from_parts("vault", "update", "vault", "v-123").unwrap());
        assert_eq!(
            Permissions::new(wallets).unwrap().summary(),
            "7 permissions, org and vault scopes"
        );
    }

    #[test]
    fn rows_are_checked_part_by_part() {
        assert_eq!(
            Permission::from_parts("vault", "update", "vault", " v-123 ")
                .unwrap()
                .to_string(),
            "vault:update:vault:v-123"
        );
        assert_eq!(
            Permission::from_parts("money", "read", "org", "")
                .unwrap_err()
                .0,
            Part::Type
        );
        assert_eq!(
            Permission::from_parts("vault", "steal", "org", "")
                .unwrap_err()
                .0,
            Part::Action
        );
        assert_eq!(
            Permission::from_parts("vault", "read", "planet", "")
                .unwrap_err()
                .0,
            Part::Scope
        );
        assert_eq!(
            Permission::from_parts("vault", "read", "org", "v-1")
                .unwrap_err()
                .0,
            Part::Resource
        );
        assert_eq!(
            Permission::from_parts("vault", "read", "vault", "a b")
                .unwrap_err()
                .0,
            Part::Resource
        );
    }

    #[test]
    fn grants_read_in_plain_language() {
        let p = Permissions::parse(
            "transactions:read:org transactions:create:org balances:read:org vault:update:vault:v-1 policies:delete:org policies:create:org",
        )
        .unwrap();
        let labels: Vec<String> = p.grants().iter().map(Grant::label).collect();
        assert_eq!(
            labels,
            [
                "Balances: Read",
                "Transactions: Read and create",
                "Policies: Create and delete",
                "Vaults in vault v-1: Update",
            ]
        );
        let full = Permissions::new(SetType::Controls.defaults()).unwrap();
        assert_eq!(full.grants()[0].label(), "Policies: Full access");
        assert_eq!(
            full.grants()[0].scopes(),
            "policies:create:org policies:read:org policies:update:org policies:delete:org"
        );
        assert_eq!(
            parse_actions("read, create,read").unwrap(),
            ["create", "read"]
        );
        assert!(parse_actions("read,steal").unwrap_err().contains("steal"));
        assert_eq!(parse_actions("").unwrap(), Vec::<&str>::new());
        assert_eq!(KINDS.iter().map(|k| k.key).collect::<Vec<_>>(), TYPES);
    }

    #[test]
    fn duplicates_collapse_and_empty_is_refused() {
        let p = Permission::parse("audit:read:org").unwrap();
        assert_eq!(Permissions::new(vec![p.clone(), p]).unwrap().len(), 1);
        assert!(Permissions::new(vec![]).is_err());
        assert!(Permissions::parse("audit:read").is_err());
        assert!(Permissions::parse("audit:read:vault:").is_err());
    }
}
