//! Who is signed in, and into which organization.
//!
//! The session (server-side, in the database) remembers only the user id, the
//! user's session epoch, when they signed in and were last seen, the chosen
//! organization and the CSRF token. Everything else — the user, their role —
//! is read from the database on every request, so a role change or removal
//! takes effect on the very next request.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue};
use serde::{Deserialize, Serialize};
use tower_sessions::Session;
use tower_sessions::cookie::time::Duration;

use crate::auth::throttle::{self, Device};
use crate::domain::{Access, CredentialsPermission, OrgId, Plan, UserId};
use crate::http::csrf;
use crate::http::error::AppError;
use crate::http::meta::RequestMeta;
use crate::http::views::{Layout, Nav, OrgChoice};
use crate::service::Actor;
use crate::state::AppState;
use crate::storage::members::{self, Membership};
use crate::storage::orgs::{self, Organization};
use crate::storage::users::User;

/// A session ends after this long without a request...
pub const IDLE_TIMEOUT: Duration = Duration::minutes(30);
/// ...and this long after sign-in, however active.
pub const ABSOLUTE_TIMEOUT_SECS: i64 = 12 * 60 * 60;
/// The idle clock is pushed back at most this often, so an active session
/// is written to the store at most once a minute, not on every request.
const TOUCH_EVERY_SECS: i64 = 60;

const AUTH_KEY: &str = "auth";
const ORG_KEY: &str = "org";
const ACCESS_KEY: &str = "access";

#[derive(Debug, Clone, Serialize, Deserialize)]
struct SessionAuth {
    user_id: UserId,
    epoch: i64,
    signed_in_at: i64,
    seen_at: i64,
}

/// Starts a signed-in session: a fresh session id (so an id planted before
/// sign-in is worthless) and a fresh CSRF token.
pub async fn sign_in(session: &Session, user: &User, now: i64) -> Result<(), AppError> {
    session.cycle_id().await?;
    session.clear().await;
    let auth = SessionAuth {
        user_id: user.id,
        epoch: user.session_epoch,
        signed_in_at: now,
        seen_at: now,
    };
    session.insert(AUTH_KEY, auth).await?;
    csrf::renew(session).await?;
    Ok(())
}

/// An id for counting this session's wrong passwords on the Account page:
/// its user and the moment it signed in, digested. It exists from sign-in
/// on and is never written to the session, so requests sent together all
/// count against the one bucket (an id created on a first guess would be
/// created once per concurrent request); it is not the session id, which
/// is a secret and changes.
pub async fn guesser_id(state: &AppState, session: &Session) -> Result<String, AppError> {
    let auth = session
        .get::<SessionAuth>(AUTH_KEY)
        .await?
        .ok_or(AppError::SignedOut)?;
    let digest = state.keys.secret_digest(&format!(
        "kwguesser:{}:{}",
        auth.user_id.0, auth.signed_in_at
    ));
    Ok(digest.chars().take(22).collect())
}

/// The name of the device cookie; `__Host-` when the public URL is https,
/// so no other host can set it.
fn device_cookie_name(secure: bool) -> &'static str {
    if secure {
        "__Host-keyward_device"
    } else {
        "keyward_device"
    }
}

/// The device this browser signed in with before, if its device cookie is
/// the server's (see `auth::throttle`). It outlives sessions: signing out
/// keeps it, so its owner is never among the unknown devices.
pub fn device(state: &AppState, headers: &HeaderMap) -> Option<Device> {
    let name = device_cookie_name(state.config.secure_cookies());
    csrf::cookie(headers, name).and_then(|value| Device::from_cookie(&state.keys, value))
}

/// The `Set-Cookie` that gives the browser its device cookie: long-lived,
/// `HttpOnly`, `SameSite=Strict` (only our own sign-in form sends it), and
/// `Secure` under https.
fn device_cookie(state: &AppState, device: &Device) -> Option<HeaderValue> {
    let secure = state.config.secure_cookies();
    let cookie = format!(
        "{}={}; Path=/; Max-Age={}; HttpOnly; SameSite=Strict{}",
        device_cookie_name(secure),
        device.cookie_value(&state.keys),
        throttle::DEVICE_COOKIE_DAYS * 86_400,
        if secure { "; Secure" } else { "" }
    );
    HeaderValue::from_str(&cookie).ok()
}

/// Gives the browser its device cookie on `response`: after a sign-in, an
/// account made from an invitation, or first-run setup.
pub fn give_device(state: &AppState, device: &Device, response: &mut axum::response::Response) {
    if let Some(cookie) = device_cookie(state, device) {
        response
            .headers_mut()
            .append(axum::http::header::SET_COOKIE, cookie);
    }
}

/// Chooses the organization the next pages show.
pub async fn choose_org(session: &Session, org: OrgId) -> Result<(), AppError> {
    session.insert(ORG_KEY, org).await?;
    Ok(())
}

/// Ends the session in the store and tells the browser to drop the cookie.
pub async fn sign_out(session: &Session) -> Result<(), AppError> {
    session.flush().await?;
    Ok(())
}

/// The user this session belongs to, if it is still valid: same session epoch
/// (password unchanged, not removed), within the absolute timeout, and not
/// idle (by the app's clock; the store's expiry says the same in real time).
/// An invalid session is ended.
pub async fn resolve(
    state: &AppState,
    session: &Session,
) -> Result<Option<(User, Vec<Membership>)>, AppError> {
    let Some(mut auth) = session.get::<SessionAuth>(AUTH_KEY).await? else {
        return Ok(None);
    };
    let now = state.now();
    let found = {
        let mut conn = state.db.acquire().await?;
        members::user_with_memberships(&mut conn, auth.user_id).await?
    };
    let valid = match &found {
        Some((user, _)) => {
            user.session_epoch == auth.epoch
                && now - auth.signed_in_at < ABSOLUTE_TIMEOUT_SECS
                && now - auth.seen_at < IDLE_TIMEOUT.whole_seconds()
        }
        None => false,
    };
    let (true, Some(found)) = (valid, found) else {
        session.flush().await?;
        return Ok(None);
    };
    if now - auth.seen_at >= TOUCH_EVERY_SECS {
        auth.seen_at = now;
        session.insert(AUTH_KEY, auth).await?;
    }
    Ok(Some(found))
}

/// The signed-in user. Rejects with [`AppError::SignedOut`] otherwise.
pub struct CurrentUser {
    pub user: User,
    pub session: Session,
    /// The organizations the user belongs to, loaded with the user.
    pub memberships: Vec<Membership>,
}

impl FromRequestParts<AppState> for CurrentUser {
    type Rejection = AppError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let session = Session::from_request_parts(parts, state)
            .await
            .map_err(|_| AppError::Internal(anyhow::anyhow!("session layer missing")))?;
        let (user, memberships) = resolve(state, &session).await?.ok_or(AppError::SignedOut)?;
        Ok(CurrentUser {
            user,
            session,
            memberships,
        })
    }
}

/// The signed-in user in the organization they are looking at, with what they may do there.
pub struct OrgContext {
    pub user: User,
    pub session: Session,
    pub org: Organization,
    pub access: Access,
    pub orgs: Vec<OrgChoice>,
    pub csrf: String,
}

impl FromRequestParts<AppState> for OrgContext {
    type Rejection = AppError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let CurrentUser {
            user,
            session,
            memberships,
        } = CurrentUser::from_request_parts(parts, state).await?;
        let chosen: Option<OrgId> = session.get(ORG_KEY).await?;

        // Support staff see every organization; members see theirs.
        let (org, access, orgs) = if user.is_support {
            let all = orgs::all(&mut state.db.acquire().await?).await?;
            let org = chosen
                .and_then(|id| all.iter().find(|o| o.id == id))
                .or(all.first())
                .cloned()
                .ok_or_else(|| AppError::Forbidden("There are no organizations yet.".to_owned()))?;
            let orgs = all
                .iter()
                .map(|o| OrgChoice {
                    id: o.id,
                    name: o.name.clone(),
                })
                .collect();
            (org, Access::Support, orgs)
        } else {
            let current = chosen
                .and_then(|id| memberships.iter().find(|m| m.org.id == id))
                .or(memberships.first())
                .ok_or_else(|| {
                    AppError::Forbidden(
                        "You are not a member of any organization. Ask an organization owner to add you.".to_owned(),
                    )
                })?;
            let orgs = memberships
                .iter()
                .map(|m| OrgChoice {
                    id: m.org.id,
                    name: m.org.name.clone(),
                })
                .collect();
            (current.org.clone(), current.access, orgs)
        };

        // A change of organization or of role gets a new session id.
        let fingerprint = format!("{}:{}", org.id, access.choice());
        let previous: Option<String> = session.get(ACCESS_KEY).await?;
        if previous.as_deref() != Some(fingerprint.as_str()) {
            if previous.is_some() {
                session.cycle_id().await?;
            }
            session.insert(ACCESS_KEY, fingerprint).await?;
        }
        if chosen != Some(org.id) {
            session.insert(ORG_KEY, org.id).await?;
        }
        let csrf = csrf::token(&session).await?;
        Ok(OrgContext {
            user,
            session,
            org,
            access,
            orgs,
            csrf,
        })
    }
}

impl OrgContext {
    /// The person acting, for a use case.
    pub fn actor(&self, meta: &RequestMeta) -> Actor {
        Actor::new(&self.user, self.org.id, self.access, meta.origin())
    }

    pub fn layout(&self, title: impl Into<String>, nav: Nav) -> Layout {
        Layout {
            title: title.into(),
            csrf: self.csrf.clone(),
            user_name: self.user.display_name.clone(),
            user_email: self.user.email.clone(),
            org_id: self.org.id,
            org_name: self.org.name.clone(),
            access_label: self.access.label(),
            orgs: self.orgs.clone(),
            nav,
            is_owner: self.access.is_owner(),
            is_trial: self.org.plan == Plan::Trial,
            banner: match self.access {
                Access::Support => {
                    "You are looking at this organization as support staff: everything is read-only, and each page you open is recorded in its audit log."
                }
                Access::Admin(CredentialsPermission::View) => {
                    "You have view-only access (API Credentials: Can View): you can see the credentials and the audit log, not change them. An owner can give you Can Edit."
                }
                _ => "",
            },
        }
    }

    /// Chooses the organization for the next requests, if this user may see it.
    pub async fn switch_to(&self, state: &AppState, org_id: OrgId) -> Result<bool, AppError> {
        let allowed = if self.user.is_support {
            orgs::find(&mut state.db.acquire().await?, org_id)
                .await?
                .is_some()
        } else {
            self.orgs.iter().any(|o| o.id == org_id)
        };
        if allowed {
            // Another organization is another set of rights: a new session id.
            self.session.cycle_id().await?;
            self.session.insert(ORG_KEY, org_id).await?;
        }
        Ok(allowed)
    }
}

/// Takes a one-time message out of the session. Only an existing message is
/// removed: `Session::remove` marks the session changed even when the key is
/// absent, which would write the session back on every page view.
pub async fn take_flash(session: &Session, key: &str) -> Result<String, AppError> {
    match session.get::<String>(key).await? {
        Some(message) => {
            session.remove::<String>(key).await?;
            Ok(message)
        }
        None => Ok(String::new()),
    }
}
