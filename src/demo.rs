//! Demo data for `keyward serve --demo`, as DESIGN.md describes it.

use secrecy::SecretString;

use crate::domain::ip::IpAllowlist;
use crate::domain::permission::{Permissions, SetType};
use crate::domain::{Access, ClientId, CredentialsPermission, Plan};
use crate::service::credentials::new_secret;
use crate::state::AppState;
use crate::storage::{credentials, members, orgs, users};

pub const ACME: &str = "Acme Payments";
pub const GLOBEX: &str = "Globex";

/// A demo user: email, display name, and organization with access (`None` for support staff).
pub type DemoUser = (&'static str, &'static str, Option<(&'static str, Access)>);

pub const USERS: &[DemoUser] = &[
    (
        "owner@acme.test",
        "Olivia Owner",
        Some((ACME, Access::Owner)),
    ),
    (
        "admin@acme.test",
        "Adam Admin",
        Some((ACME, Access::Admin(CredentialsPermission::Edit))),
    ),
    (
        "viewer@acme.test",
        "Vera Viewer",
        Some((ACME, Access::Admin(CredentialsPermission::View))),
    ),
    (
        "owner@globex.test",
        "Gus Globex",
        Some((GLOBEX, Access::Owner)),
    ),
    ("support@keyward.test", "Sam Support", None),
];

/// Creates the demo organizations and users, or, when they exist, sets their
/// password to `password` so the one printed at start always works.
pub async fn seed(state: &AppState, password: &str) -> anyhow::Result<()> {
    let hash = state
        .hasher
        .hash(&SecretString::from(password.to_owned()))
        .await?;
    let now = state.now();
    // One transaction under the database-wide write lock: instances that
    // start together with --demo seed once.
    let mut tx = state.db.begin_write().await?;
    for (name, plan) in [(ACME, Plan::Standard), (GLOBEX, Plan::Trial)] {
        if orgs::find_by_name(&mut tx, name).await?.is_none() {
            orgs::insert(&mut tx, name, plan, now).await?;
        }
    }
    for (email, display_name, membership) in USERS {
        let user = match users::find_by_email(&mut tx, email).await? {
            Some(user) => {
                users::set_password(&mut tx, user.id, &hash).await?;
                user
            }
            None => {
                let row = users::NewUser {
                    email,
                    display_name,
                    password_hash: &hash,
                    is_support: membership.is_none(),
                };
                users::insert(&mut tx, row, now).await?;
                users::find_by_email(&mut tx, email)
                    .await?
                    .ok_or_else(|| anyhow::anyhow!("demo user vanished"))?
            }
        };
        if let Some((org_name, access)) = membership {
            let org = orgs::find_by_name(&mut tx, org_name)
                .await?
                .ok_or_else(|| anyhow::anyhow!("demo organization vanished"))?;
            if members::find(&mut tx, org.id, user.id).await?.is_none() {
                members::insert(&mut tx, org.id, user.id, *access, now).await?;
            }
        }
    }

    // One credential, so the Credentials page is not empty; its secret is
    // thrown away at once (rotate it to get one).
    let acme = orgs::find_by_name(&mut tx, ACME)
        .await?
        .ok_or_else(|| anyhow::anyhow!("demo organization vanished"))?;
    if credentials::places(&mut tx, acme.id, now).await?.taken() == 0 {
        let (_secret, stored) = new_secret(state);
        let permissions =
            Permissions::parse("balances:read:org transactions:create:org transactions:read:org")
                .map_err(|e| anyhow::anyhow!(e.message))?;
        let (ips, _) = IpAllowlist::parse_limited("203.0.113.0/24\n198.51.100.7")
            .map_err(|_| anyhow::anyhow!("demo IP allowlist"))?;
        let new = credentials::NewCredential {
            org: acme.id,
            client_id: &ClientId::generate(),
            name: "Payments backend",
            description: Some("Nightly payout batches"),
            secret: &stored,
            created_by: "owner@acme.test",
            is_primary: true,
            permission_set: SetType::Transactions,
            permissions: &permissions,
            ip_allowlist: &ips,
            expires_at: None,
        };
        credentials::insert(&mut tx, &new, now).await?;
    }
    tx.commit().await?;
    Ok(())
}
