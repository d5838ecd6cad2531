//! Invitations: the only way into an organization. An owner invites an
//! email with a role; the link (a 256-bit token, stored only as a keyed
//! digest) works once, for 7 days. Whoever opens it either creates the
//! account for that email, choosing its name and password, or signs in to
//! the existing one and accepts. No membership exists before that, nobody
//! but the account's holder ever sets or sees its password, and holding an
//! account is not enough to join: only the link is.

use serde_json::json;

use super::audit::{EventExt, by_user};
use super::{Actor, Error, Locked, Origin, Result, lock, owners_only};
use crate::domain::{Access, AuditAction, DisplayName, Email, OrgId, Password};
use crate::mail::Mail;
use crate::random;
use crate::state::AppState;
use crate::storage::invitations::{self as repo, Invitation, InvitationId, NewInvitation};
use crate::storage::users::{self, User};
use crate::storage::{audit, is_unique_violation, members};

/// An invitation link works this long.
pub const VALID_FOR_SECS: i64 = 7 * 24 * 3600;

/// What became of the email that carries the link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Emailed {
    Sent,
    /// No SMTP server is configured: the owner passes the link on.
    NotConfigured,
    /// The SMTP server refused or could not be reached (logged).
    Failed,
}

/// A new link, shown once to the owner who made it.
pub struct Invited {
    pub email: String,
    pub link: String,
    pub expires_at: i64,
    pub emailed: Emailed,
}

impl std::fmt::Debug for Invited {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Invited")
            .field("email", &self.email)
            .field("link", &"[redacted]")
            .field("expires_at", &self.expires_at)
            .field("emailed", &self.emailed)
            .finish()
    }
}

/// A new link token: `kwinv_` + 43 base62 characters (256 bits), and its digest.
fn new_token(app: &AppState) -> (String, String) {
    let token = format!("kwinv_{}", random::token(43));
    let digest = app.keys.secret_digest(&token);
    (token, digest)
}

/// The organization's invitations that are neither accepted nor revoked
/// (expired ones included, to send again), newest first. Owners only.
pub async fn open(app: &AppState, actor: &Actor) -> Result<Vec<Invitation>> {
    owners_only(actor)?;
    let mut conn = app.db.acquire().await?;
    Ok(repo::open(&mut conn, actor.org).await?)
}

/// Invites `email` with `access`. The answer is the same whether or not an
/// account exists for the email; an earlier open invitation of the same
/// email stops working.
pub async fn invite(
    app: &AppState,
    actor: &Actor,
    email: &Email,
    access: Access,
) -> Result<Invited> {
    owners_only(actor)?;
    let (token, digest) = new_token(app);
    let mut locked = lock(app, actor).await?;
    locked.must_own()?;
    if let Some(user) = users::find_by_email(&mut locked.tx, email.as_str()).await?
        && members::find(&mut locked.tx, actor.org, user.id)
            .await?
            .is_some()
    {
        return Err(Error::AlreadyMember(email.to_string()));
    }
    repo::revoke_open_for(&mut locked.tx, actor.org, email.as_str(), locked.now).await?;
    let inviter = users::find(&mut locked.tx, actor.user).await?;
    let inviter_name = inviter.map_or_else(|| actor.email.clone(), |u| u.display_name);
    let expires_at = locked.now + VALID_FOR_SECS;
    let new = NewInvitation {
        org: actor.org,
        email: email.as_str(),
        access,
        token_digest: &digest,
        invited_by: actor.user,
        invited_by_name: &inviter_name,
        expires_at,
    };
    repo::insert(&mut locked.tx, &new, locked.now).await?;
    let event = actor
        .event(AuditAction::MemberInvited)
        .target(email)
        .detail(json!({ "role": access.choice(), "expires_at": expires_at }));
    let org_name = locked.org.name.clone();
    locked.commit(&event).await?;
    Ok(deliver(
        app,
        email.as_str(),
        &org_name,
        &inviter_name,
        access,
        &token,
        expires_at,
    )
    .await)
}

/// Sends an open invitation again, with a new link (the old one stops
/// working) and a new expiry. Owners only.
pub async fn resend(app: &AppState, actor: &Actor, id: InvitationId) -> Result<Invited> {
    owners_only(actor)?;
    let (token, digest) = new_token(app);
    let mut locked = lock(app, actor).await?;
    locked.must_own()?;
    let invitation = find_open(&mut locked, actor, id).await?;
    let expires_at = locked.now + VALID_FOR_SECS;
    repo::renew(&mut locked.tx, id, &digest, expires_at).await?;
    let event = actor
        .event(AuditAction::InvitationResent)
        .target(&invitation.email)
        .detail(json!({ "role": invitation.access.choice(), "expires_at": expires_at }));
    locked.commit(&event).await?;
    Ok(deliver(
        app,
        &invitation.email,
        &invitation.org_name,
        &invitation.invited_by_name,
        invitation.access,
        &token,
        expires_at,
    )
    .await)
}

/// Withdraws an open invitation: its link stops working. Returns the email.
pub async fn revoke(app: &AppState, actor: &Actor, id: InvitationId) -> Result<String> {
    owners_only(actor)?;
    let mut locked = lock(app, actor).await?;
    locked.must_own()?;
    let invitation = find_open(&mut locked, actor, id).await?;
    repo::revoke(&mut locked.tx, id, locked.now).await?;
    let event = actor
        .event(AuditAction::InvitationRevoked)
        .target(&invitation.email)
        .detail(json!({ "role": invitation.access.choice() }));
    locked.commit(&event).await?;
    Ok(invitation.email)
}

/// One of the organization's invitations that is neither accepted nor revoked.
async fn find_open(locked: &mut Locked, actor: &Actor, id: InvitationId) -> Result<Invitation> {
    repo::find(&mut locked.tx, actor.org, id)
        .await?
        .filter(|i| i.accepted_at.is_none() && i.revoked_at.is_none())
        .ok_or(Error::NotFound)
}

/// The link, and the email that carries it when SMTP is configured.
async fn deliver(
    app: &AppState,
    email: &str,
    org_name: &str,
    inviter: &str,
    access: Access,
    token: &str,
    expires_at: i64,
) -> Invited {
    let link = format!("{}/invitations/{token}", app.config.public_url);
    let mail = Mail {
        to: email.to_owned(),
        subject: format!("{inviter} invited you to {org_name} on Keyward"),
        body: format!(
            "{inviter} invited you to join {org_name} on Keyward as {}.\n\n\
             Open this link to accept. It works once, for 7 days:\n\n{link}\n\n\
             If you did not expect this invitation, ignore this email: nothing happens until the link is opened.\n",
            access.label()
        ),
    };
    let emailed = match app.mailer.send(mail).await {
        Ok(true) => Emailed::Sent,
        Ok(false) => Emailed::NotConfigured,
        Err(error) => {
            tracing::error!(error = format!("{error:#}"), "invitation email not sent");
            Emailed::Failed
        }
    };
    Invited {
        email: email.to_owned(),
        link,
        expires_at,
        emailed,
    }
}

/// What a valid link shows its holder.
pub struct Opened {
    pub invitation: Invitation,
    /// Whether an account exists for the invited email: then its holder
    /// signs in to accept; otherwise they create it.
    pub account_exists: bool,
}

/// The invitation a link names, if it can still be accepted.
async fn usable(
    app: &AppState,
    conn: &mut crate::storage::Conn,
    token: &str,
) -> Result<Invitation> {
    let invitation = repo::find_by_digest(conn, &app.keys.secret_digest(token))
        .await?
        .ok_or(Error::InvitationUnknown)?;
    if invitation.accepted_at.is_some() {
        return Err(Error::InvitationUsed);
    }
    if invitation.revoked_at.is_some() {
        return Err(Error::InvitationRevoked);
    }
    if invitation.expires_at <= app.now() {
        return Err(Error::InvitationExpired);
    }
    Ok(invitation)
}

pub async fn open_link(app: &AppState, token: &str) -> Result<Opened> {
    let mut conn = app.db.acquire().await?;
    let invitation = usable(app, &mut conn, token).await?;
    let account_exists = users::find_by_email(&mut conn, &invitation.email)
        .await?
        .is_some();
    Ok(Opened {
        invitation,
        account_exists,
    })
}

/// The invitee creates their account (for the invited email, with the name
/// and password they choose) and joins. Returns the new user to sign in.
pub async fn accept_with_new_account(
    app: &AppState,
    token: &str,
    display_name: &DisplayName,
    password: &Password,
    origin: &Origin,
) -> Result<User> {
    let org = usable(app, &mut app.db.acquire().await?, token).await?.org;
    let hash = app.hasher.hash(password.secret()).await?;
    let (mut tx, _) = app.db.begin_org(org).await?;
    let invitation = usable(app, &mut tx, token).await?;
    if users::find_by_email(&mut tx, &invitation.email)
        .await?
        .is_some()
    {
        return Err(Error::AccountExists);
    }
    let now = app.now();
    let new = users::NewUser {
        email: &invitation.email,
        display_name: display_name.as_str(),
        password_hash: &hash,
        is_support: false,
    };
    let user_id = match users::insert(&mut tx, new, now).await {
        Ok(id) => id,
        // Created at the same moment through another organization's invitation.
        Err(e) if is_unique_violation(&e) => return Err(Error::AccountExists),
        Err(e) => return Err(e.into()),
    };
    let user = users::find(&mut tx, user_id)
        .await?
        .ok_or(Error::NotFound)?;
    join(&mut tx, &invitation, &user, origin, now).await?;
    tx.commit().await?;
    Ok(user)
}

/// The holder of the invited email's account, signed in, accepts. Returns
/// the organization they joined.
pub async fn accept_as(app: &AppState, token: &str, user: &User, origin: &Origin) -> Result<OrgId> {
    let org = usable(app, &mut app.db.acquire().await?, token).await?.org;
    let (mut tx, _) = app.db.begin_org(org).await?;
    let invitation = usable(app, &mut tx, token).await?;
    if invitation.email != user.email {
        return Err(Error::InvitationForAnotherAccount(invitation.email));
    }
    if user.is_support {
        return Err(Error::SupportCannotBeMember);
    }
    join(&mut tx, &invitation, user, origin, app.now()).await?;
    tx.commit().await?;
    Ok(invitation.org)
}

/// The membership the invitation promised, the invitation used, and the event.
async fn join(
    tx: &mut crate::storage::Tx,
    invitation: &Invitation,
    user: &User,
    origin: &Origin,
    now: i64,
) -> Result<()> {
    match members::insert(tx, invitation.org, user.id, invitation.access, now).await {
        Ok(()) => {}
        // A member already (added meanwhile): the link is used all the same.
        Err(e) if is_unique_violation(&e) => {}
        Err(e) => return Err(e.into()),
    }
    repo::mark_accepted(tx, invitation.id, now).await?;
    let event = by_user(
        user.id,
        &user.email,
        Some(invitation.org),
        origin,
        AuditAction::MemberJoined,
    )
    .detail(
        json!({ "role": invitation.access.choice(), "invited_by": invitation.invited_by_name }),
    );
    audit::insert(tx, &event, now).await?;
    Ok(())
}
