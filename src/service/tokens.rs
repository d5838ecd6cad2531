//! Which authenticated client gets an access token, and with which scope:
//! the rules of the token endpoint, apart from the protocol around them.

use std::net::IpAddr;

use crate::domain::{CredentialStatus, Plan};
use crate::storage::credentials::TokenClient;

/// Why an authenticated client gets no token. Each message is what the
/// client is told (RFC 6749 §5.2 `error_description`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("This credential is disabled.")]
    Disabled,
    #[error("Trial organizations cannot use API credentials.")]
    TrialPlan,
    #[error("Requests from {0} are not allowed for this credential.")]
    AddressNotAllowed(IpAddr),
    #[error("The requested scope is empty or wider than the credential's permissions.")]
    ScopeTooWide,
}

/// Whether an authenticated client may use the authorization server at all,
/// from `ip`: to get a token, to introspect one or to revoke one. A disabled
/// credential, a trial organization's, and an address outside the allowlist
/// may not.
pub fn may_use(client: &TokenClient, ip: IpAddr) -> Result<(), Refusal> {
    if client.status != CredentialStatus::Enabled {
        return Err(Refusal::Disabled);
    }
    if client.plan != Plan::Standard {
        return Err(Refusal::TrialPlan);
    }
    if !client.ip_allowlist.allows(&ip) {
        return Err(Refusal::AddressNotAllowed(ip));
    }
    Ok(())
}

/// The scope of a token for `client` asked from `ip`: all of the
/// credential's permissions, or the part of them `requested` names, for a
/// client that [may use](may_use) the server.
pub fn grant(client: &TokenClient, ip: IpAddr, requested: Option<&str>) -> Result<String, Refusal> {
    may_use(client, ip)?;
    let granted = client.permissions.to_scope_string();
    let granted: Vec<&str> = granted.split_whitespace().collect();
    let Some(requested) = requested else {
        return Ok(granted.join(" "));
    };
    let asked: Vec<&str> = requested.split_whitespace().collect();
    if asked.is_empty() || asked.iter().any(|s| !granted.contains(s)) {
        return Err(Refusal::ScopeTooWide);
    }
    Ok(granted
        .iter()
        .copied()
        .filter(|g| asked.contains(g))
        .collect::<Vec<_>>()
        .join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ip::IpAllowlist;
    use crate::domain::permission::Permissions;
    use crate::domain::{ClientId, OrgId};

    fn client(status: CredentialStatus, plan: Plan, ips: &str) -> TokenClient {
        TokenClient {
            client_id: ClientId::generate(),
            org: OrgId(1),
            plan,
            status,
            permissions: Permissions::parse("balances:read:org transactions:read:org").unwrap(),
            ip_allowlist: IpAllowlist::parse_stored(ips).unwrap(),
            expires: None,
            tokens_before: None,
            secrets: Vec::new(),
        }
    }

    #[test]
    fn an_enabled_standard_client_in_its_allowlist_gets_its_scope_or_a_narrower_one() {
        let c = client(CredentialStatus::Enabled, Plan::Standard, "10.0.0.0/24");
        let inside: IpAddr = "10.0.0.9".parse().unwrap();
        assert_eq!(
            grant(&c, inside, None).unwrap(),
            "balances:read:org transactions:read:org"
        );
        assert_eq!(
            grant(&c, inside, Some("transactions:read:org")).unwrap(),
            "transactions:read:org"
        );
        assert_eq!(
            grant(&c, inside, Some("balances:delete:org")),
            Err(Refusal::ScopeTooWide)
        );
        assert_eq!(grant(&c, inside, Some(" ")), Err(Refusal::ScopeTooWide));
        let outside: IpAddr = "10.0.1.9".parse().unwrap();
        assert_eq!(
            grant(&c, outside, None),
            Err(Refusal::AddressNotAllowed(outside))
        );
    }

    #[test]
    fn disabled_and_trial_clients_get_nothing() {
        let anywhere: IpAddr = "203.0.113.1".parse().unwrap();
        let disabled = client(CredentialStatus::Disabled, Plan::Standard, "0.0.0.0/0");
        assert_eq!(grant(&disabled, anywhere, None), Err(Refusal::Disabled));
        let trial = client(CredentialStatus::Enabled, Plan::Trial, "0.0.0.0/0");
        assert_eq!(grant(&trial, anywhere, None), Err(Refusal::TrialPlan));
    }
}
