//! Personal access tokens: made, listed and revoked by their user on the
//! Account page (owners revoke any of their organization's), and checked on
//! every API request. A token acts as its user, never above its level, and
//! dies when its user leaves the organization, loses the access it needs, or
//! changes password (those use cases revoke it in their own transaction).

use serde_json::json;

use super::audit::{EventExt, by_user};
use super::{Actor, Error, Origin, Result, TokenUse};
use crate::domain::api_token::{ApiToken, MAX_LIFETIME_DAYS, TokenAccess, TokenName};
use crate::domain::{AuditAction, OrgId};
use crate::random;
use crate::state::AppState;
use crate::storage::api_tokens::{self as repo, ApiTokenRow, NewApiToken};
use crate::storage::members;
use crate::storage::users::User;

/// A person holds at most this many live tokens.
pub const MAX_LIVE_TOKENS: i64 = 20;

/// Tokens that ended (expired or revoked) stay in their owner's list this long.
pub const ENDED_SHOWN_FOR_SECS: i64 = 30 * 86_400;

/// What a new token is for.
pub struct Draft {
    pub name: TokenName,
    pub org: OrgId,
    pub access: TokenAccess,
    pub expires_at: i64,
}

/// Makes a token for `user` in `draft.org`; the token is returned once.
pub async fn create(
    app: &AppState,
    user: &User,
    draft: &Draft,
    origin: &Origin,
) -> Result<ApiToken> {
    let (mut tx, org) = app.db.begin_org(draft.org).await?;
    let org = org.ok_or(Error::NotFound)?;
    let now = app.now();
    let member = members::find(&mut tx, org.id, user.id)
        .await?
        .ok_or(Error::NotFound)?;
    if !draft.access.allowed_for(member.access) {
        return Err(Error::TokenAboveAccess);
    }
    if draft.expires_at <= now || draft.expires_at > now + MAX_LIFETIME_DAYS * 86_400 {
        return Err(Error::TokenLifetime);
    }
    repo::lock_holder(&mut tx, user.id).await?;
    if repo::count_live(&mut tx, user.id, now).await? >= MAX_LIVE_TOKENS {
        return Err(Error::TooManyTokens(MAX_LIVE_TOKENS));
    }
    let token = ApiToken::generate();
    let token_id = format!("kwtok_{}", random::token(16));
    repo::insert(
        &mut tx,
        &NewApiToken {
            token_id: &token_id,
            user: user.id,
            org: org.id,
            name: draft.name.as_str(),
            access: draft.access,
            digest: &app.keys.secret_digest(token.expose()),
            hint: token.hint(),
            expires_at: draft.expires_at,
        },
        now,
    )
    .await?;
    let event = by_user(
        user.id,
        &user.email,
        Some(org.id),
        origin,
        AuditAction::ApiTokenCreated,
    )
    .target(&token_id)
    .detail(json!({
        "name": draft.name.as_str(),
        "access": draft.access.as_str(),
        "expires_at": draft.expires_at,
    }));
    super::audit::record(&mut tx, &event, now).await?;
    tx.commit().await?;
    Ok(token)
}

/// The user's tokens, live ones and those that ended in the last 30 days.
pub async fn mine(app: &AppState, user: &User) -> Result<Vec<ApiTokenRow>> {
    let mut conn = app.db.acquire().await?;
    Ok(repo::list_for_user(&mut conn, user.id, app.now() - ENDED_SHOWN_FOR_SECS).await?)
}

/// The live tokens of the organization's members, for its owners.
pub async fn of_organization(app: &AppState, actor: &Actor) -> Result<Vec<ApiTokenRow>> {
    super::owners_only(actor)?;
    let mut conn = app.db.acquire().await?;
    Ok(repo::list_for_org(&mut conn, actor.org, app.now()).await?)
}

/// Revokes a token: its user may, and so may an owner of its organization.
/// Anyone else finds nothing. Returns the token's name.
pub async fn revoke(
    app: &AppState,
    user: &User,
    token_id: &str,
    origin: &Origin,
) -> Result<String> {
    // Only the shape a token id has reaches the database.
    let shaped = token_id
        .strip_prefix("kwtok_")
        .is_some_and(|rest| rest.len() == 16 && rest.bytes().all(|b| b.is_ascii_alphanumeric()));
    if !shaped {
        return Err(Error::NotFound);
    }
    let token = {
        let mut conn = app.db.acquire().await?;
        repo::find(&mut conn, token_id)
            .await?
            .ok_or(Error::NotFound)?
    };
    let (mut tx, _) = app.db.begin_org(token.organization_id).await?;
    let now = app.now();
    if token.user_id != user.id {
        let owner = members::find(&mut tx, token.organization_id, user.id)
            .await?
            .is_some_and(|m| m.access.is_owner());
        if !owner {
            return Err(Error::NotFound);
        }
    }
    if repo::revoke(&mut tx, token_id, &user.email, now).await? {
        let event = by_user(
            user.id,
            &user.email,
            Some(token.organization_id),
            origin,
            AuditAction::ApiTokenRevoked,
        )
        .target(token_id)
        .detail(json!({ "name": token.name, "user": token.user_email }));
        super::audit::record(&mut tx, &event, now).await?;
        tx.commit().await?;
    }
    Ok(token.name)
}

/// The actor a request's bearer token stands for, or [`Error::TokenInvalid`]
/// for a token that is malformed, unknown, expired, revoked, or whose user
/// is no longer a member with the access it needs.
pub async fn authenticate(app: &AppState, presented: &str, origin: Origin) -> Result<Actor> {
    if !ApiToken::is_well_formed(presented) {
        return Err(Error::TokenInvalid);
    }
    let now = app.now();
    let mut conn = app.db.acquire().await?;
    let token = repo::find_by_digest(&mut conn, &app.keys.secret_digest(presented))
        .await?
        .ok_or(Error::TokenInvalid)?;
    let access = token.member_access.ok_or(Error::TokenInvalid)?;
    if token.revoked_at.is_some() || token.expires_at <= now || !token.access.allowed_for(access) {
        return Err(Error::TokenInvalid);
    }
    if token.last_used_at.is_none_or(|t| t < now - 60) {
        repo::touch(&mut conn, token.id, &origin.ip.to_string(), now).await?;
    }
    Ok(Actor {
        user: token.user,
        email: token.email,
        org: token.org,
        access: token.access.cap(access),
        origin,
        token: Some(TokenUse {
            id: token.token_id,
            name: token.name,
            access: token.access,
        }),
    })
}
