//! The permission set types of the New Credential dialog: a preset of
//! permissions each, named for what the credential is for.

use super::Permission;

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
