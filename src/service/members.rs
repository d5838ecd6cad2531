//! Members (owners only): change a role, remove a member. An organization
//! always keeps at least one owner. People join by invitation
//! (`service::invitations`).

use serde_json::json;

use super::audit::EventExt;
use super::{Actor, Error, Result, lock, owners_only};
use crate::domain::{Access, AuditAction, UserId};
use crate::state::AppState;
use crate::storage::api_tokens;
use crate::storage::members::{self as repo, Member};
use crate::storage::requests;

/// The organization's members, owners first; owners only.
pub async fn list(app: &AppState, actor: &Actor) -> Result<Vec<Member>> {
    owners_only(actor)?;
    let mut conn = app.db.acquire().await?;
    Ok(repo::list(&mut conn, actor.org).await?)
}

/// One member, for the removal confirmation; owners only.
pub async fn find(app: &AppState, actor: &Actor, user: UserId) -> Result<Member> {
    owners_only(actor)?;
    let mut conn = app.db.acquire().await?;
    repo::find(&mut conn, actor.org, user)
        .await?
        .ok_or(Error::NotFound)
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
    // Without the permission to make requests, their open ones go too, and
    // so do their write tokens.
    let cancelled = if access.can_edit_credentials() {
        Vec::new()
    } else {
        api_tokens::revoke_for_user(
            &mut locked.tx,
            user,
            api_tokens::Scope::WriteIn(actor.org),
            &actor.email,
            locked.now,
        )
        .await?;
        requests::cancel_for_member(&mut locked.tx, actor.org, user, &actor.email, locked.now)
            .await?
    };
    let event = actor
        .event(AuditAction::MemberChanged)
        .target(&member.email)
        .detail(json!({
            "before": member.access.choice(),
            "after": access.choice(),
            "cancelled_requests": cancelled.iter().map(|r| r.as_str()).collect::<Vec<_>>(),
        }));
    locked.commit(&event).await?;
    Ok(Changed {
        email: member.email,
        unchanged: false,
    })
}

/// Removes a member: their access to this organization ends with their next
/// request, and their pending and approved requests are cancelled. Nothing
/// else of theirs changes: their sessions go on in their other organizations.
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
    api_tokens::revoke_for_user(
        &mut locked.tx,
        user,
        api_tokens::Scope::In(actor.org),
        &actor.email,
        locked.now,
    )
    .await?;
    let cancelled =
        requests::cancel_for_member(&mut locked.tx, actor.org, user, &actor.email, locked.now)
            .await?;
    let event = actor
        .event(AuditAction::MemberRemoved)
        .target(&member.email)
        .detail(json!({
            "role": member.access.choice(),
            "cancelled_requests": cancelled.iter().map(|r| r.as_str()).collect::<Vec<_>>(),
        }));
    locked.commit(&event).await?;
    Ok(member.email)
}
