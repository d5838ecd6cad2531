//! Members (owners only): add a person by email with a role, change a role,
//! remove a member. An organization always keeps at least one owner.

use secrecy::SecretString;
use serde_json::json;

use super::audit::EventExt;
use super::{Actor, Error, Result, lock};
use crate::domain::{Access, AuditAction, DisplayName, Email, UserId};
use crate::random;
use crate::state::AppState;
use crate::storage::members::{self as repo, Member};
use crate::storage::{is_unique_violation, users};

/// The organization's members, owners first; owners only.
pub async fn list(app: &AppState, actor: &Actor) -> Result<Vec<Member>> {
    if !actor.access.is_owner() {
        return Err(Error::OwnersOnly);
    }
    let mut conn = app.db.acquire().await?;
    Ok(repo::list(&mut conn, actor.org).await?)
}

/// One member, for the removal confirmation; owners only.
pub async fn find(app: &AppState, actor: &Actor, user: UserId) -> Result<Member> {
    if !actor.access.is_owner() {
        return Err(Error::OwnersOnly);
    }
    let mut conn = app.db.acquire().await?;
    repo::find(&mut conn, actor.org, user)
        .await?
        .ok_or(Error::NotFound)
}

#[derive(Debug)]
pub struct Added {
    pub email: String,
    /// When the person had no account: the one for them was made with this
    /// password, shown once to the owner.
    pub temporary_password: Option<String>,
}

/// Adds a person by email. Without an account, one is created with
/// `display_name` and a temporary password.
pub async fn add(
    app: &AppState,
    actor: &Actor,
    email: &Email,
    display_name: Option<&DisplayName>,
    access: Access,
) -> Result<Added> {
    if !actor.access.is_owner() {
        return Err(Error::OwnersOnly);
    }
    // The slow hash is made before the lock is taken, for an email without an account.
    let existing = {
        let mut conn = app.db.acquire().await?;
        users::find_by_email(&mut conn, email.as_str()).await?
    };
    let new_account = match (&existing, display_name) {
        (Some(_), _) => None,
        (None, None) => return Err(Error::NameNeededForNewAccount),
        (None, Some(name)) => {
            let password = random::token(20);
            let hash = app
                .hasher
                .hash(&SecretString::from(password.clone()))
                .await?;
            Some((name, password, hash))
        }
    };

    let mut locked = lock(app, actor).await?;
    locked.must_own()?;
    let found = users::find_by_email(&mut locked.tx, email.as_str()).await?;
    let user = match (found, &new_account) {
        (Some(user), None) => user,
        (None, Some((name, _, hash))) => {
            let row = users::NewUser {
                email: email.as_str(),
                display_name: name.as_str(),
                password_hash: hash,
                is_support: false,
            };
            match users::insert(&mut locked.tx, row, locked.now).await {
                Ok(_) => users::find_by_email(&mut locked.tx, email.as_str())
                    .await?
                    .ok_or(Error::AccountChanged)?,
                // Added at the same moment by another organization's owner
                // (another organization's lock does not hold this one back).
                Err(e) if is_unique_violation(&e) => return Err(Error::AccountChanged),
                Err(e) => return Err(e.into()),
            }
        }
        // The account was created (by another organization's owner) or
        // deleted since it was looked up: the temporary password made for it
        // would be wrong, so ask again.
        (Some(_), Some(_)) | (None, None) => return Err(Error::AccountChanged),
    };
    if user.is_support {
        return Err(Error::SupportCannotBeMember);
    }
    match repo::insert(&mut locked.tx, actor.org, user.id, access, locked.now).await {
        Ok(()) => {}
        Err(e) if is_unique_violation(&e) => return Err(Error::AlreadyMember(user.email)),
        Err(e) => return Err(e.into()),
    }
    let event = actor
        .event(AuditAction::MemberAdded)
        .target(&user.email)
        .detail(json!({ "role": access.choice(), "new_account": new_account.is_some() }));
    locked.commit(&event).await?;
    Ok(Added {
        email: user.email,
        temporary_password: new_account.map(|(_, password, _)| password),
    })
}

#[derive(Debug)]
pub struct Changed {
    pub email: String,
    /// The member had that access already: nothing was changed.
    pub unchanged: bool,
}

/// Changes a member's role and permission.
pub async fn change(
    app: &AppState,
    actor: &Actor,
    user: UserId,
    access: Access,
) -> Result<Changed> {
    let mut locked = lock(app, actor).await?;
    locked.must_own()?;
    let member = repo::find(&mut locked.tx, actor.org, user)
        .await?
        .ok_or(Error::NotFound)?;
    if member.access == access {
        return Ok(Changed {
            email: member.email,
            unchanged: true,
        });
    }
    if member.access.is_owner() && repo::count_owners(&mut locked.tx, actor.org).await? <= 1 {
        return Err(Error::LastOwner);
    }
    repo::update(&mut locked.tx, actor.org, user, access).await?;
    let event = actor
        .event(AuditAction::MemberChanged)
        .target(&member.email)
        .detail(json!({ "before": member.access.choice(), "after": access.choice() }));
    locked.commit(&event).await?;
    Ok(Changed {
        email: member.email,
        unchanged: false,
    })
}

/// Removes a member; their open sessions end on their next request.
/// Returns the member's email.
pub async fn remove(app: &AppState, actor: &Actor, user: UserId) -> Result<String> {
    let mut locked = lock(app, actor).await?;
    locked.must_own()?;
    let member = repo::find(&mut locked.tx, actor.org, user)
        .await?
        .ok_or(Error::NotFound)?;
    if member.access.is_owner() && repo::count_owners(&mut locked.tx, actor.org).await? <= 1 {
        return Err(Error::LastOwner);
    }
    repo::delete(&mut locked.tx, actor.org, user).await?;
    users::end_sessions(&mut locked.tx, user).await?;
    let event = actor
        .event(AuditAction::MemberRemoved)
        .target(&member.email)
        .detail(json!({ "role": member.access.choice() }));
    locked.commit(&event).await?;
    Ok(member.email)
}
