//! Permissions: what a credential may do. Each is Type, Action, Scope and an
//! optional Resource, written as an OAuth scope `type:action:scope[:resource]`
//! (e.g. `transactions:read:org`, `vault:update:vault:v-123`), which is also
//! how tokens carry them. A permission set type pre-populates a list of them.

use std::collections::BTreeSet;
use std::fmt;

use super::FieldError;

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
        let kind = known(TYPES, kind.trim())
            .ok_or((Part::Type, format!("Choose a type: {}.", TYPES.join(", "))))?;
        let action = known(ACTIONS, action.trim()).ok_or((
            Part::Action,
            format!("Choose an action: {}.", ACTIONS.join(", ")),
        ))?;
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
        if set.len() > MAX_PERMISSIONS {
            return Err(FieldError::new(
                "permissions",
                format!("A credential can hold at most {MAX_PERMISSIONS} permissions."),
            ));
        }
        Ok(Permissions(set))
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

    /// The space-separated scope string, as stored and as tokens carry it.
    pub fn to_scope_string(&self) -> String {
        self.0
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(" ")
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

/// The permission set types of the New Credential dialog.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SetType {
    Wallets,
    Transactions,
    Controls,
    Monitoring,
}

pub const SET_TYPES: &[SetType] = &[
    SetType::Wallets,
    SetType::Transactions,
    SetType::Controls,
    SetType::Monitoring,
];

impl SetType {
    pub fn parse(raw: &str) -> Option<SetType> {
        SET_TYPES.iter().copied().find(|t| t.key() == raw)
    }

    pub fn key(self) -> &'static str {
        match self {
            SetType::Wallets => "wallets",
            SetType::Transactions => "transactions",
            SetType::Controls => "controls",
            SetType::Monitoring => "monitoring",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            SetType::Wallets => "Wallets",
            SetType::Transactions => "Transactions",
            SetType::Controls => "Controls",
            SetType::Monitoring => "Monitoring",
        }
    }

    pub fn description(self) -> &'static str {
        match self {
            SetType::Wallets => "Manage wallets and vaults",
            SetType::Transactions => "Manage transactions",
            SetType::Controls => "Manage policies and addresses",
            SetType::Monitoring => "Webhooks and auditing",
        }
    }

    /// The default permissions this type pre-populates.
    pub fn defaults(self) -> Vec<Permission> {
        let org = |kind: &'static str, action: &'static str| Permission {
            kind,
            action,
            scope: "org",
            resource: None,
        };
        match self {
            SetType::Wallets => vec![
                org("vault", "create"),
                org("vault", "read"),
                org("vault", "update"),
                org("key", "create"),
                org("key", "read"),
                org("balances", "read"),
            ],
            SetType::Transactions => {
                vec![
                    org("transactions", "create"),
                    org("transactions", "read"),
                    org("balances", "read"),
                ]
            }
            SetType::Controls => vec![
                org("policies", "create"),
                org("policies", "read"),
                org("policies", "update"),
                org("policies", "delete"),
                org("addresses", "create"),
                org("addresses", "read"),
                org("addresses", "update"),
                org("addresses", "delete"),
            ],
            SetType::Monitoring => {
                vec![
                    org("webhooks", "read"),
                    org("audit", "read"),
                    org("transactions", "read"),
                    org("balances", "read"),
                ]
            }
        }
    }
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
    fn duplicates_collapse_and_empty_is_refused() {
        let p = Permission::parse("audit:read:org").unwrap();
        assert_eq!(Permissions::new(vec![p.clone(), p]).unwrap().len(), 1);
        assert!(Permissions::new(vec![]).is_err());
        assert!(Permissions::parse("audit:read").is_err());
        assert!(Permissions::parse("audit:read:vault:").is_err());
    }
}
