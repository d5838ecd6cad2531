//! Demo data for `keyward serve --demo`, as DESIGN.md describes it.

use secrecy::SecretString;

use crate::domain::credential::{Secret, new_client_id};
use crate::domain::{Access, CredentialsPermission, Plan};
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
    let mut tx = state.db.begin_write().await?;
    for (name, plan) in [(ACME, Plan::Standard), (GLOBEX, Plan::Trial)] {
        if state.db.org_by_name(name).await?.is_none() {
            orgs::insert(&mut tx, name, plan, now).await?;
        }
    }
    tx.commit().await?;

    let mut tx = state.db.begin_write().await?;
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
            let org = state
                .db
                .org_by_name(org_name)
                .await?
                .ok_or_else(|| anyhow::anyhow!("demo organization vanished"))?;
            if members::find(&mut tx, org.id, user.id).await?.is_none() {
                members::insert(&mut tx, org.id, user.id, *access, now).await?;
            }
        }
    }
    tx.commit().await?;

    // One credential, so the Credentials page is not empty; its secret is
    // thrown away at once (rotate it to get one).
    let acme = state
        .db
        .org_by_name(ACME)
        .await?
        .ok_or_else(|| anyhow::anyhow!("demo organization vanished"))?;
    let mut tx = state.db.begin_write().await?;
    if credentials::count(&mut tx, acme.id).await? == 0 {
        let secret = Secret::generate(state.config.environment);
        let new = credentials::NewCredential {
            org_id: acme.id,
            client_id: &new_client_id(),
            name: "Payments backend",
            description: Some("Nightly payout batches"),
            digest: &state.keys.secret_digest(secret.expose()),
            created_by: "owner@acme.test",
            permission_set: "transactions",
            permissions: "balances:read:org transactions:create:org transactions:read:org",
            ip_allowlist: "203.0.113.0/24 198.51.100.7",
        };
        credentials::create(&mut tx, &new, None, now).await?;
    }
    tx.commit().await?;
    Ok(())
}
