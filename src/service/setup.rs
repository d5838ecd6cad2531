//! Accounts made outside any organization's console: the first run, which
//! creates the first organization and its owner, and `keyward user add`.

use super::audit::{self, by_user};
use super::{Error, Origin, Result};
use crate::domain::{Access, AuditAction, DisplayName, Email, OrgName, Password, Plan};
use crate::state::AppState;
use crate::storage::users::{self, User};
use crate::storage::{is_unique_violation, members, orgs};

/// Whether the first organization exists.
pub async fn is_done(app: &AppState) -> Result<bool> {
    let mut conn = app.db.acquire().await?;
    Ok(users::count(&mut conn).await? > 0)
}

/// Creates the first organization and its owner. Refused (not found) once
/// any organization exists: two racing setups create one.
pub async fn first_run(
    app: &AppState,
    org_name: &OrgName,
    display_name: &DisplayName,
    email: &Email,
    password: &Password,
    origin: &Origin,
) -> Result<User> {
    let hash = app.hasher.hash(password.secret()).await?;
    let now = app.now();
    let mut tx = app.db.begin_write().await?;
    if orgs::count(&mut tx).await? > 0 {
        return Err(Error::NotFound);
    }
    let org = orgs::insert(&mut tx, org_name.as_str(), Plan::Standard, now).await?;
    let new_user = users::NewUser {
        email: email.as_str(),
        display_name: display_name.as_str(),
        password_hash: &hash,
        is_support: false,
    };
    let user_id = users::insert(&mut tx, new_user, now).await?;
    members::insert(&mut tx, org, user_id, Access::Owner, now).await?;
    let user = users::find(&mut tx, user_id)
        .await?
        .ok_or(Error::NotFound)?;
    let event = by_user(
        user.id,
        &user.email,
        Some(org),
        origin,
        AuditAction::OrganizationCreated,
    );
    audit::record(&mut tx, &event, now).await?;
    tx.commit().await?;
    Ok(user)
}

/// `keyward user add`: a user, optionally a member of the organization
/// named `membership.0`.
pub async fn add_user(
    app: &AppState,
    email: &Email,
    display_name: &DisplayName,
    password: &Password,
    is_support: bool,
    membership: Option<(&str, Access)>,
) -> anyhow::Result<()> {
    let hash = app.hasher.hash(password.secret()).await?;
    let now = app.now();
    let mut tx = app.db.begin_write().await?;
    let org = match membership {
        Some((name, access)) => {
            let org = orgs::find_by_name(&mut tx, name)
                .await?
                .ok_or_else(|| anyhow::anyhow!("no organization named {name}"))?;
            Some((org.id, access))
        }
        None => None,
    };
    let row = users::NewUser {
        email: email.as_str(),
        display_name: display_name.as_str(),
        password_hash: &hash,
        is_support,
    };
    let user_id = match users::insert(&mut tx, row, now).await {
        Ok(id) => id,
        Err(e) if is_unique_violation(&e) => {
            anyhow::bail!("a user with the email {email} exists already")
        }
        Err(e) => return Err(e.into()),
    };
    if let Some((org, access)) = org {
        members::insert(&mut tx, org, user_id, access, now).await?;
    }
    tx.commit().await?;
    Ok(())
}

/// `keyward token add`: the user with this email and the organization with
/// this name, which they must be a member of.
pub async fn find_member(
    app: &AppState,
    email: &str,
    org: &str,
) -> anyhow::Result<(crate::storage::users::User, crate::domain::OrgId)> {
    let mut conn = app.db.acquire().await?;
    let user = users::find_by_email(&mut conn, &email.trim().to_lowercase())
        .await?
        .ok_or_else(|| anyhow::anyhow!("no user with the email {email}"))?;
    let org_row = orgs::find_by_name(&mut conn, org)
        .await?
        .ok_or_else(|| anyhow::anyhow!("no organization named {org}"))?;
    crate::storage::members::find(&mut conn, org_row.id, user.id)
        .await?
        .ok_or_else(|| anyhow::anyhow!("{email} is not a member of {org}"))?;
    Ok((user, org_row.id))
}
