//! Use cases: every rule of Keyward, written once, between the HTTP layer
//! (and later the JSON API and background workers) and storage.
//!
//! A use case is named for what a person does (`credentials::rotate`,
//! `requests::approve`, `members::remove`). It takes an [`Actor`] (who is
//! acting, in which organization, from where), typed ids and values the
//! caller already parsed; it decides authorization itself, checks the rules
//! under the organization's write lock, changes storage, records the audit
//! event in the same transaction, commits, and returns a typed outcome or a
//! typed [`Error`]. Callers only map that error to what their user sees.

pub mod account;
pub mod api_tokens;
pub mod audit;
pub mod credentials;
pub mod expiry;
pub mod invitations;
pub mod leaks;
pub mod members;
pub mod organization;
mod outbox;
pub mod requests;
pub mod setup;
pub mod tokens;
pub mod webhooks;

use std::net::IpAddr;

use crate::auth::password::HashError;
use crate::domain::api_token::TokenAccess;
use crate::domain::credential::LIMIT_MESSAGE;
use crate::domain::{Access, OrgId, Plan, RequestStatus, UserId};
use crate::state::AppState;
use crate::storage::orgs::Organization;
use crate::storage::users::User;
use crate::storage::{self, Tx};

/// Where a request came from, for the audit log.
#[derive(Debug, Clone)]
pub struct Origin {
    pub ip: IpAddr,
    pub user_agent: Option<String>,
}

/// Who is acting, in which organization, with the access they had when the
/// request began. Use cases that change something read the access again
/// under the organization's lock, so a demotion or removal that commits
/// first is respected.
#[derive(Debug, Clone)]
pub struct Actor {
    pub user: UserId,
    /// How the audit log and "created by" name the actor.
    pub email: String,
    pub org: OrgId,
    pub access: Access,
    pub origin: Origin,
    /// The personal access token the request came with, for the API.
    pub token: Option<TokenUse>,
}

/// A personal access token in use: its name (for the audit log) and level.
#[derive(Debug, Clone)]
pub struct TokenUse {
    /// Its public id (`kwtok_…`), which its rate limit is counted by.
    pub id: String,
    pub name: String,
    pub access: TokenAccess,
}

impl Actor {
    pub fn new(user: &User, org: OrgId, access: Access, origin: Origin) -> Actor {
        Actor {
            user: user.id,
            email: user.email.clone(),
            org,
            access,
            origin,
            token: None,
        }
    }
}

/// Why a use case refused. Each message is what the person is told.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("You need the API Credentials: Can Edit permission to change credentials.")]
    NeedsEditPermission,
    #[error(
        "Trial organizations cannot hold API credentials. Upgrade to the Standard plan to create them."
    )]
    TrialPlan,
    #[error("Only organization owners can do this.")]
    OwnersOnly,
    #[error("Only organization owners can approve or reject credential requests.")]
    OwnersDecide,
    #[error("You cannot approve or reject your own request: another owner must decide.")]
    OwnRequest,
    #[error("Only the person who requested this credential can generate its key.")]
    NotRequester,
    #[error("There is nothing here, or it was deleted.")]
    NotFound,
    #[error("{LIMIT_MESSAGE}")]
    LimitReached,
    #[error(
        "A credential with this name already exists in your organization. Choose another name."
    )]
    NameTaken,
    /// Approval is required: the administrator must say why.
    #[error(
        "Explain in 10 to 500 characters why this credential is needed: the owners read it before approving."
    )]
    JustificationRequired,
    /// Approval is required and an edit widens permissions or addresses.
    #[error(
        "This change widens the credential's permissions or IP addresses, so an owner must approve it: explain in 10 to 500 characters why it is needed."
    )]
    WideningNeedsApproval,
    #[error(
        "The primary credential cannot be deleted. Make another credential primary first, then delete this one."
    )]
    PrimaryCannotBeDeleted,
    #[error("This request was {0} already.")]
    AlreadyDecided(RequestStatus),
    #[error("This request is {0}, not approved.")]
    NotApproved(RequestStatus),
    #[error("Only a pending or approved request can be cancelled; this one is {0}.")]
    NotCancellable(RequestStatus),
    #[error("Only an owner or the person who asked can cancel a request.")]
    NotYoursToCancel,
    #[error("An organization must keep at least one owner. Make another member an owner first.")]
    LastOwner,
    #[error("Support staff see every organization already; they cannot be members.")]
    SupportCannotBeMember,
    #[error("{0} is already a member of this organization.")]
    AlreadyMember(String),
    #[error("This is not your current password.")]
    WrongPassword,
    #[error("This invitation link is not valid. Ask the person who invited you for a new one.")]
    InvitationUnknown,
    #[error("This invitation has expired. Ask the person who invited you to send it again.")]
    InvitationExpired,
    #[error(
        "This invitation was withdrawn. Ask the person who invited you if you should have access."
    )]
    InvitationRevoked,
    #[error("This invitation has been used already. Sign in to reach the organization.")]
    InvitationUsed,
    #[error("An account with this email exists already: sign in to accept the invitation.")]
    AccountExists,
    #[error("This invitation is for {0}. Sign out, then open the link again and sign in as {0}.")]
    InvitationForAnotherAccount(String),
    /// The organization sent as many invitations in the last 24 hours as it
    /// may (new ones and sent again); the oldest leaves the count in
    /// `retry_after` seconds.
    #[error(
        "Your organization sent {limit} invitations in the last 24 hours, the most it may send in a day. Try again later."
    )]
    TooManyInvitations { limit: i64, retry_after: i64 },
    #[error("This is not the code we emailed. Enter the code from the latest email.")]
    InvitationCodeWrong,
    #[error("This code has expired, or was never sent. Ask for a new code.")]
    InvitationCodeExpired,
    #[error("Too many wrong codes were entered. Ask for a new code.")]
    InvitationCodeAttempts,
    #[error(
        "We sent {0} codes for this invitation, the most we send. Use the latest one, or ask the person who invited you to send the invitation again."
    )]
    TooManyInvitationCodes(i64),
    #[error(
        "We emailed {0} codes to this address in the last 24 hours, the most we send in a day. Use the latest one, or try again tomorrow."
    )]
    TooManyCodesForAddress(i64),
    #[error(
        "This Keyward server cannot send email, so it cannot prove that the invited address is yours, and cannot make an account from this link. If you have an account for it, sign in with its password. Otherwise ask the people who run this server to set up email, then open this link again."
    )]
    MailNotConfigured,
    #[error("The email could not be sent. Try again in a few minutes.")]
    MailFailed,
    /// The one message for every failed sign-in: it never says which part was wrong.
    #[error("Incorrect email or password.")]
    SignInFailed,
    /// Too many failures for the account from unknown devices, or for the
    /// address: wait this many seconds.
    #[error("Too many failed sign-in attempts.")]
    SignInThrottled { retry_after: i64 },
    /// Too many failures from this device (a browser holding the account's
    /// device cookie): wait this many seconds.
    #[error("Too many failed sign-in attempts from this browser.")]
    DeviceThrottled { retry_after: i64 },
    /// The Account page's last allowed wrong password: the session must end.
    #[error(
        "Too many wrong passwords: you were signed out. Sign in again to change your password."
    )]
    TooManyWrongPasswords,
    #[error("Keyward is handling many sign-ins right now. Try again in a few seconds.")]
    Busy,
    /// A personal access token that is missing, malformed, unknown, expired
    /// or revoked: one message, so it tells a guesser nothing.
    #[error("The access token is missing, malformed, expired or revoked.")]
    TokenInvalid,
    #[error(
        "A read and write token needs the API Credentials: Can Edit permission in its organization."
    )]
    TokenAboveAccess,
    #[error("A token must expire between tomorrow and one year from today.")]
    TokenLifetime,
    #[error("This is a read token: it cannot change anything. Use a read and write token.")]
    ReadToken,
    #[error(
        "You have {0} live tokens, the most one person may hold. Revoke one you no longer use first."
    )]
    TooManyTokens(i64),
    /// An update that names the version it read, which changed since.
    #[error("This credential changed since you read it. Read it again, then make your change.")]
    Stale,
    /// A retry of a create or rotation whose first attempt succeeded: the
    /// result's id and time; its secret was shown once and is not kept.
    #[error(
        "This Idempotency-Key was used already: it made {result} at {at}. Its secret was shown once, in that first response, and is not kept. If that response was lost, rotate the credential to get a new secret."
    )]
    AlreadyDone { result: String, at: String },
    #[error(
        "This Idempotency-Key was used with a different request. Use a new key for a new request."
    )]
    KeyReused,
    #[error("Your organization requires credentials to expire within {0} days: choose a date.")]
    ExpiryRequired(i64),
    #[error(
        "Your organization allows credentials to live at most {0} days: choose an earlier date."
    )]
    ExpiryTooFar(i64),
    #[error(
        "An organization can have at most 10 webhooks. Delete one you no longer use, or subscribe an existing one to more events."
    )]
    TooManyWebhooks,
    #[error("This webhook is disabled. Enable it first, then send a test event.")]
    WebhookDisabled,
    /// Test events and resends of one endpoint in a minute: wait this many seconds.
    #[error(
        "This webhook took {per} test events and resends in the last minute, the most it takes. Try again in {wait}.",
        per = webhooks::MANUAL_SENDS_PER_MINUTE,
        wait = webhooks::seconds(.retry_after)
    )]
    WebhookSendRate { retry_after: i64 },
    /// Too many deliveries of one endpoint wait to be sent or retried.
    #[error(
        "At least {max} deliveries to this webhook are waiting to be sent or retried, the most it may have for a test event or resend. Try again once some are delivered or given up.",
        max = webhooks::MAX_PENDING
    )]
    WebhookBacklog,
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl From<HashError> for Error {
    fn from(error: HashError) -> Self {
        match error {
            HashError::Busy => Error::Busy,
            HashError::Failed(e) => Error::Internal(anyhow::anyhow!("password hashing: {e}")),
        }
    }
}

impl From<sqlx::Error> for Error {
    fn from(error: sqlx::Error) -> Self {
        Error::Internal(error.into())
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A change in progress: the organization's write transaction, with the
/// organization and the actor's access as they are under its lock.
pub(crate) struct Locked {
    pub tx: Tx,
    pub org: Organization,
    pub access: Access,
    pub now: i64,
}

/// Opens the organization's write transaction and reads, under its lock, the
/// organization and what the actor may do there now. Someone who is no
/// longer a member finds nothing (404), as any non-member does.
pub(crate) async fn lock(app: &AppState, actor: &Actor) -> Result<Locked> {
    let (mut tx, org) = app.db.begin_org(actor.org).await?;
    let org = org.ok_or(Error::NotFound)?;
    let mut access = match actor.access {
        Access::Support => Access::Support,
        _ => {
            storage::members::find(&mut tx, actor.org, actor.user)
                .await?
                .ok_or(Error::NotFound)?
                .access
        }
    };
    // Through a token: a change needs a write token that is still live
    // under the lock (a revocation or password change that committed first
    // wins), and no more than the token allows.
    if let Some(token) = &actor.token {
        if token.access == TokenAccess::Read {
            return Err(Error::ReadToken);
        }
        let live = storage::api_tokens::is_live(&mut tx, &token.id, app.now()).await?;
        if !live || !token.access.allowed_for(access) {
            return Err(Error::TokenInvalid);
        }
        access = token.access.cap(access);
    }
    Ok(Locked {
        tx,
        org,
        access,
        now: app.now(),
    })
}

/// An API request that carries an `Idempotency-Key`: the key, and a digest
/// of what was asked (operation and body), to tell a retry from a reuse.
#[derive(Debug, Clone)]
pub struct Once {
    pub key: String,
    pub fingerprint: String,
}

/// How long a key is remembered.
pub const IDEMPOTENCY_SECS: i64 = 86_400;

impl Locked {
    /// Refuses a retry of `operation` already done with this key (or the key
    /// reused for something else); under the lock, so two retries at once
    /// cannot both get through.
    pub async fn first_time(
        &mut self,
        actor: &Actor,
        once: Option<&Once>,
        operation: &str,
    ) -> Result<()> {
        let Some(once) = once else { return Ok(()) };
        let used = storage::idempotency::find(
            &mut self.tx,
            actor.org,
            actor.user,
            &once.key,
            self.now - IDEMPOTENCY_SECS,
        )
        .await?;
        match used {
            None => Ok(()),
            Some(used) if used.fingerprint == once.fingerprint && used.operation == operation => {
                Err(Error::AlreadyDone {
                    result: used.result,
                    at: crate::domain::iso_time(used.created_at),
                })
            }
            Some(_) => Err(Error::KeyReused),
        }
    }

    /// Remembers what the key made, in the change's own transaction.
    pub async fn remember(
        &mut self,
        actor: &Actor,
        once: Option<&Once>,
        operation: &str,
        result: &str,
    ) -> Result<()> {
        let Some(once) = once else { return Ok(()) };
        let new = storage::idempotency::NewKey {
            org: actor.org,
            user: actor.user,
            key: &once.key,
            fingerprint: &once.fingerprint,
            operation,
            result,
        };
        storage::idempotency::insert(&mut self.tx, &new, self.now).await?;
        Ok(())
    }

    /// Owners and Can Edit administrators of a Standard organization.
    pub fn may_edit_credentials(&self) -> Result<()> {
        edit_refusal(self.access, self.org.plan)
    }

    pub fn must_own(&self) -> Result<()> {
        if self.access.is_owner() {
            Ok(())
        } else {
            Err(Error::OwnersOnly)
        }
    }

    /// Records the event and commits the change with it.
    pub async fn commit(mut self, event: &crate::storage::audit::NewEvent) -> Result<()> {
        audit::record(&mut self.tx, event, self.now).await?;
        self.tx.commit().await?;
        Ok(())
    }
}

/// The refusal a change of credentials would meet, decided on the access the
/// request began with: forms and dialogs ask it first, so a person without
/// the permission is refused before any form is read. The use case asks
/// again under the lock.
pub fn may_edit_credentials(actor: &Actor, plan: Plan) -> Result<()> {
    edit_refusal(actor.access, plan)
}

/// Owners only, decided on the access the request began with; changes ask
/// again under the lock (`Locked::must_own`).
pub fn owners_only(actor: &Actor) -> Result<()> {
    if actor.access.is_owner() {
        Ok(())
    } else {
        Err(Error::OwnersOnly)
    }
}

/// The one rule of who may change credentials, asked before and under the lock.
fn edit_refusal(access: Access, plan: Plan) -> Result<()> {
    if !access.can_edit_credentials() {
        return Err(Error::NeedsEditPermission);
    }
    if plan == Plan::Trial {
        return Err(Error::TrialPlan);
    }
    Ok(())
}
