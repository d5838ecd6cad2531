//! Invitations: the only way into an organization. An owner invites an
//! email with a role; the link (a 256-bit token, stored only as a keyed
//! digest) works once, for 7 days. Whoever opens it either signs in to the
//! account for that email and accepts, or proves the address with a one-time
//! code emailed to it and makes the account, choosing its name and password.
//! The link alone never makes an account: the inviter holds it too. No
//! membership exists before that, nobody but the account's holder ever sets
//! or sees its password, and holding an account is not enough to join: only
//! the link is.
//!
//! Every invitation is an email in the operator's name to an address an
//! owner chose: so they are limited per organization and day, audited, and
//! their subject is Keyward's; the names people chose are quoted in the body
//! and never made links.

use serde_json::json;
use subtle::ConstantTimeEq;

use super::audit::{self, EventExt, by_user};
use super::{Actor, Error, Locked, Origin, Result, lock, owners_only};
use crate::domain::{Access, AuditAction, DisplayName, Email, OrgId, Password, Plan};
use crate::mail::{Mail, quoted};
use crate::random;
use crate::state::AppState;
use crate::storage::invitations::{self as repo, Invitation, InvitationId, NewInvitation};
use crate::storage::users::{self, User};
use crate::storage::{api_tokens, is_unique_violation, members};

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

/// How many invitations (new ones and sent again) an organization may send in
/// any 24 hours. Each is an email in the operator's name to an address the
/// owner chose, so an owner cannot turn the server into a bulk mailer; a
/// trial organization, which anyone may make, far fewer.
pub const DAILY_LIMIT_STANDARD: i64 = 30;
pub const DAILY_LIMIT_TRIAL: i64 = 5;
const DAY_SECS: i64 = 86_400;

/// How many invitations an organization on `plan` may send in 24 hours.
pub fn daily_limit(plan: Plan) -> i64 {
    match plan {
        Plan::Trial => DAILY_LIMIT_TRIAL,
        Plan::Standard => DAILY_LIMIT_STANDARD,
    }
}

/// Refuses one more invitation past the organization's daily limit; under
/// the organization's lock, so invitations sent at once cannot all get in.
async fn within_daily_limit(locked: &mut Locked, org: OrgId) -> Result<()> {
    let limit = daily_limit(locked.org.plan);
    let (sent, oldest) = repo::sent_since(&mut locked.tx, org, locked.now - DAY_SECS).await?;
    if sent >= limit {
        let retry_after = oldest
            .map_or(DAY_SECS, |t| t + DAY_SECS - locked.now)
            .max(1);
        return Err(Error::TooManyInvitations { limit, retry_after });
    }
    Ok(())
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
    within_daily_limit(&mut locked, actor.org).await?;
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
/// working) and a new expiry. Owners only; it counts toward the daily limit.
pub async fn resend(app: &AppState, actor: &Actor, id: InvitationId) -> Result<Invited> {
    owners_only(actor)?;
    let (token, digest) = new_token(app);
    let mut locked = lock(app, actor).await?;
    locked.must_own()?;
    let invitation = find_open(&mut locked, actor, id).await?;
    within_daily_limit(&mut locked, actor.org).await?;
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
    // The subject is the operator's words; the names people chose appear
    // only in the body, quoted and never as a link.
    let mail = Mail {
        to: email.to_owned(),
        subject: format!("You are invited to join {} on Keyward", quoted(org_name)),
        body: format!(
            "{inviter} invited you to join the organization {org} on Keyward as {role}.\n\n\
             Open this link to accept. It works once, for 7 days:\n\n{link}\n\n\
             The names in quotes are the ones that organization's people chose; Keyward did not write them.\n\
             If you did not expect this invitation, ignore this email: nothing happens until the link is opened.\n",
            inviter = quoted(inviter),
            org = quoted(org_name),
            role = access.label(),
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

/// What a valid link shows its holder. Whether an account exists for the
/// invited address is not part of it: the page must read the same either
/// way, or whoever holds the link (the inviter too) learns it.
pub struct Opened {
    pub invitation: Invitation,
    /// Whether a code can be emailed, so a new account can be made.
    pub can_email: bool,
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
    Ok(Opened {
        invitation,
        can_email: app.mailer.is_configured(),
    })
}

/// A code works this long, for this many tries; an invitation gets at most
/// this many codes (sending it again starts over).
pub const CODE_VALID_FOR_SECS: i64 = 15 * 60;
pub const CODE_ATTEMPTS: i64 = 5;
pub const CODES_PER_INVITATION: i64 = 3;
/// Codes emailed to one address in any 24 hours, for all its invitations:
/// 10 codes of 5 tries are 50 guesses a day at a million.
pub const CODES_PER_ADDRESS_PER_DAY: i64 = 10;

/// A code of 6 digits. Five tries at one of a million: whoever holds the
/// link but not the mailbox has no real chance.
fn new_code() -> String {
    use rand::Rng;
    format!("{:06}", rand::rngs::OsRng.gen_range(0..1_000_000u32))
}

/// The code's keyed digest, bound to its invitation.
fn code_digest(app: &AppState, id: InvitationId, code: &str) -> String {
    app.keys
        .secret_digest(&format!("kwinvcode:{}:{}", id.0, code.trim()))
}

/// Someone holding the link wants a new account: a one-time code goes to the
/// invited address, which proves that address is theirs. When the address
/// has a proven account already, the email says to sign in instead and
/// carries no code; the person holding the link is told the same either way,
/// and a code they make up is refused the same way too.
/// Returns the address written to.
pub async fn send_code(app: &AppState, token: &str, origin: &Origin) -> Result<String> {
    if !app.mailer.is_configured() {
        return Err(Error::MailNotConfigured);
    }
    let org = usable(app, &mut app.db.acquire().await?, token).await?.org;
    let (mut tx, _) = app.db.begin_org(org).await?;
    let invitation = usable(app, &mut tx, token).await?;
    let sent = repo::code(&mut tx, invitation.id).await?.codes_sent;
    if sent >= CODES_PER_INVITATION {
        return Err(Error::TooManyInvitationCodes(CODES_PER_INVITATION));
    }
    // Sending the invitation again starts its codes over; the address's own
    // daily count does not, so an inviter cannot buy guesses at one address.
    if repo::codes_sent_to(&mut tx, &invitation.email, app.now() - 86_400).await?
        >= CODES_PER_ADDRESS_PER_DAY
    {
        return Err(Error::TooManyCodesForAddress(CODES_PER_ADDRESS_PER_DAY));
    }
    let proven = match users::find_by_email(&mut tx, &invitation.email).await? {
        Some(user) => repo::email_confirmed(&mut tx, user.id).await?,
        None => false,
    };
    let now = app.now();
    // A code is stored either way, so a wrong one reads the same whether or
    // not an account exists; the holder of a proven account is not sent it.
    let code = new_code();
    let digest = code_digest(app, invitation.id, &code);
    repo::code_sent(
        &mut tx,
        invitation.id,
        Some(&digest),
        now + CODE_VALID_FOR_SECS,
    )
    .await?;
    // Recorded as the invited address's: the same event whether or not it
    // has an account (the organization's owners read the log).
    let event = crate::storage::audit::NewEvent {
        organization_id: Some(invitation.org),
        actor_user_id: None,
        actor: invitation.email.clone(),
        action: AuditAction::InvitationCodeSent,
        target: Some(invitation.email.clone()),
        ip: Some(origin.ip.to_string()),
        user_agent: origin.user_agent.clone(),
        detail: json!({ "codes_sent": sent + 1 }),
    };
    audit::record(&mut tx, &event, now).await?;
    tx.commit().await?;
    let org = quoted(&invitation.org_name);
    let mail = match (!proven).then_some(code) {
        Some(code) => Mail {
            to: invitation.email.clone(),
            subject: "Your code to create your Keyward account".to_owned(),
            body: format!(
                "Your code is {code}\n\n\
                 Enter it on the invitation page to create your Keyward account for {email} and join {org}. \
                 It works for 15 minutes.\n\n\
                 If you did not ask for it, ignore this email: no account is made without the code, and do not give the code to anyone.\n",
                email = invitation.email,
            ),
        },
        None => Mail {
            to: invitation.email.clone(),
            subject: "Sign in to accept your Keyward invitation".to_owned(),
            body: format!(
                "Someone asked for a code to create a Keyward account for {email}, to join {org}. \
                 You have a Keyward account for this address already, so no code is needed: \
                 to accept the invitation, open its link again and sign in with your password.\n\n\
                 If you did not ask, ignore this email: nothing changes.\n",
                email = invitation.email,
            ),
        },
    };
    match app.mailer.send(mail).await {
        Ok(true) => Ok(invitation.email),
        Ok(false) => Err(Error::MailNotConfigured),
        Err(error) => {
            tracing::error!(
                error = format!("{error:#}"),
                "invitation code email not sent"
            );
            Err(Error::MailFailed)
        }
    }
}

/// The holder of the invited address, proven by the code emailed to it,
/// makes their account (the name and password they choose) and joins. An
/// account for the address that was never proven (made from a link before
/// codes existed, by whoever held it) is theirs to take over: their name and
/// password replace its, its sessions end and its tokens are revoked.
/// Returns the user to sign in.
pub async fn accept_with_code(
    app: &AppState,
    token: &str,
    code: &str,
    display_name: &DisplayName,
    password: &Password,
    origin: &Origin,
) -> Result<User> {
    let org = usable(app, &mut app.db.acquire().await?, token).await?.org;
    let hash = app.hasher.hash(password.secret()).await?;
    let (mut tx, _) = app.db.begin_org(org).await?;
    let invitation = usable(app, &mut tx, token).await?;
    let now = app.now();
    let stored = repo::code(&mut tx, invitation.id).await?;
    let (Some(digest), Some(expires_at)) = (stored.code_digest, stored.code_expires_at) else {
        return Err(Error::InvitationCodeExpired);
    };
    if expires_at <= now {
        return Err(Error::InvitationCodeExpired);
    }
    if stored.code_attempts >= CODE_ATTEMPTS {
        return Err(Error::InvitationCodeAttempts);
    }
    let candidate = code_digest(app, invitation.id, code);
    if !bool::from(candidate.as_bytes().ct_eq(digest.as_bytes())) {
        repo::code_failed(&mut tx, invitation.id).await?;
        tx.commit().await?;
        return Err(Error::InvitationCodeWrong);
    }
    repo::code_used(&mut tx, invitation.id).await?;
    let (user_id, taken_over) = match users::find_by_email(&mut tx, &invitation.email).await? {
        Some(existing) if repo::email_confirmed(&mut tx, existing.id).await? => {
            return Err(Error::AccountExists);
        }
        Some(existing) => {
            repo::take_over(&mut tx, existing.id, display_name.as_str(), &hash).await?;
            api_tokens::revoke_for_user(
                &mut tx,
                existing.id,
                api_tokens::Scope::Everywhere,
                &invitation.email,
                now,
            )
            .await?;
            (existing.id, true)
        }
        None => {
            let new = users::NewUser {
                email: &invitation.email,
                display_name: display_name.as_str(),
                password_hash: &hash,
                is_support: false,
            };
            match users::insert(&mut tx, new, now).await {
                Ok(id) => (id, false),
                // Made at the same moment through another organization's
                // invitation (whose lock is not this one): the transaction is
                // dropped at once, without another statement.
                Err(e) if is_unique_violation(&e) => return Err(Error::AccountExists),
                Err(e) => return Err(e.into()),
            }
        }
    };
    let user = users::find(&mut tx, user_id)
        .await?
        .ok_or(Error::NotFound)?;
    join(&mut tx, &invitation, &user, origin, now, taken_over).await?;
    tx.commit().await?;
    Ok(user)
}

/// What accepting came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Joined {
    /// A member now, with the access the invitation promised.
    Joined,
    /// A member already (added since the invitation was sent): the access
    /// they have stays, and the link is used all the same.
    AlreadyMember,
}

/// The holder of the invited email's account, signed in, accepts.
pub async fn accept_as(
    app: &AppState,
    token: &str,
    user: &User,
    origin: &Origin,
) -> Result<Joined> {
    let org = usable(app, &mut app.db.acquire().await?, token).await?.org;
    let (mut tx, _) = app.db.begin_org(org).await?;
    let invitation = usable(app, &mut tx, token).await?;
    if invitation.email != user.email {
        return Err(Error::InvitationForAnotherAccount(invitation.email));
    }
    if user.is_support {
        return Err(Error::SupportCannotBeMember);
    }
    let joined = join(&mut tx, &invitation, user, origin, app.now(), false).await?;
    tx.commit().await?;
    Ok(joined)
}

/// The membership the invitation promised, the invitation used, and the
/// event. Membership is asked first, under the organization's lock (which
/// every change of its members takes): an INSERT that failed on the primary
/// key would abort the whole transaction on PostgreSQL.
async fn join(
    tx: &mut crate::storage::Tx,
    invitation: &Invitation,
    user: &User,
    origin: &Origin,
    now: i64,
    taken_over: bool,
) -> Result<Joined> {
    repo::mark_accepted(tx, invitation.id, now).await?;
    if members::find(tx, invitation.org, user.id).await?.is_some() {
        return Ok(Joined::AlreadyMember);
    }
    members::insert(tx, invitation.org, user.id, invitation.access, now).await?;
    let mut detail =
        json!({ "role": invitation.access.choice(), "invited_by": invitation.invited_by_name });
    if taken_over {
        detail["account_taken_over"] = json!(true);
    }
    let event = by_user(
        user.id,
        &user.email,
        Some(invitation.org),
        origin,
        AuditAction::MemberJoined,
    )
    .detail(detail);
    audit::record(tx, &event, now).await?;
    Ok(Joined::Joined)
}
