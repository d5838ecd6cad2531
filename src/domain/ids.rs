//! Identifiers as types, so that an organization's id cannot be passed where
//! a user's is expected. Row ids (`OrgId`, `UserId`, `CredentialId`,
//! `RequestRowId`, `SecretId`) never leave the server except in URLs of the
//! console; public identifiers (`ClientId`, `RequestId`) are what people and
//! clients see.

use std::fmt;

use crate::random;

macro_rules! row_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(
            Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord,
            serde::Serialize, serde::Deserialize,
        )]
        #[serde(transparent)]
        pub struct $name(pub i64);

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl std::str::FromStr for $name {
            type Err = std::num::ParseIntError;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                s.parse().map($name)
            }
        }
    };
}

row_id!(
    /// An organization.
    OrgId
);
row_id!(
    /// A user account.
    UserId
);
row_id!(
    /// A credential's row; people and clients know it by its [`ClientId`].
    CredentialId
);
row_id!(
    /// A credential request's row; people know it by its [`RequestId`].
    RequestRowId
);
row_id!(
    /// One stored secret digest of a credential.
    SecretId
);
row_id!(
    /// An audit event, also the audit log's pagination cursor.
    EventId
);
row_id!(
    /// A webhook endpoint of an organization.
    WebhookId
);
row_id!(
    /// One event's delivery to one webhook endpoint.
    DeliveryId
);

/// A credential's public client ID: `kwid_` + 22 base62 characters (at least
/// 128 random bits). It never changes, not even on rotation.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ClientId(String);

const CLIENT_ID_PREFIX: &str = "kwid_";
const CLIENT_ID_BODY: usize = 22;

impl ClientId {
    pub fn generate() -> ClientId {
        ClientId(format!(
            "{CLIENT_ID_PREFIX}{}",
            random::token(CLIENT_ID_BODY)
        ))
    }

    /// A client ID of the right shape, or `None`: what a client sends is
    /// checked before any database work.
    pub fn parse(raw: &str) -> Option<ClientId> {
        let body = raw.strip_prefix(CLIENT_ID_PREFIX)?;
        (body.len() == CLIENT_ID_BODY && body.bytes().all(|b| b.is_ascii_alphanumeric()))
            .then(|| ClientId(raw.to_owned()))
    }

    /// A stored client ID, trusted as it is.
    pub(crate) fn from_stored(raw: String) -> ClientId {
        ClientId(raw)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ClientId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A credential request's public id: `kwreq_` + 16 base62 characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RequestId(String);

impl RequestId {
    pub fn generate() -> RequestId {
        RequestId(format!("kwreq_{}", random::token(16)))
    }

    /// A request id of the right shape, or `None` (a URL that names none).
    pub fn parse(raw: &str) -> Option<RequestId> {
        let body = raw.strip_prefix("kwreq_")?;
        (body.len() == 16 && body.bytes().all(|b| b.is_ascii_alphanumeric()))
            .then(|| RequestId(raw.to_owned()))
    }

    pub(crate) fn from_stored(raw: String) -> RequestId {
        RequestId(raw)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_ids_are_prefixed_long_enough_and_parse_back() {
        let id = ClientId::generate();
        assert!(id.as_str().starts_with("kwid_"));
        assert_eq!(id.as_str().len(), 5 + 22);
        assert_eq!(ClientId::parse(id.as_str()), Some(id.clone()));
        assert_eq!(ClientId::parse("kwid_short"), None);
        assert_eq!(
            ClientId::parse(&id.as_str().replace("kwid_", "kwxx_")),
            None
        );
        assert_eq!(ClientId::parse(&format!("{}!", &id.as_str()[..26])), None);
    }
}
