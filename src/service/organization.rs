//! Organization settings (owners only): the name, and whether new
//! credentials need an owner's approval.

use serde_json::json;

use super::audit::EventExt;
use super::{Actor, Error, Result, lock};
use crate::domain::{AuditAction, OrgName};
use crate::state::AppState;
use crate::storage::orgs;

pub async fn update_settings(
    app: &AppState,
    actor: &Actor,
    name: &OrgName,
    require_approval: bool,
    max_credential_days: Option<i64>,
) -> Result<()> {
    let mut locked = lock(app, actor).await?;
    locked.must_own()?;
    orgs::update_settings(
        &mut locked.tx,
        actor.org,
        name.as_str(),
        require_approval,
        max_credential_days,
    )
    .await?;
    let org = &locked.org;
    let event = actor.event(AuditAction::OrganizationUpdated).detail(json!({
        "before": { "name": org.name, "require_approval": org.require_approval, "max_credential_days": org.max_credential_days },
        "after": { "name": name.as_str(), "require_approval": require_approval, "max_credential_days": max_credential_days },
    }));
    locked.commit(&event).await
}

/// The organization itself, to anyone who may see it (the API's read).
pub async fn get(app: &AppState, actor: &Actor) -> Result<orgs::Organization> {
    let mut conn = app.db.acquire().await?;
    orgs::find(&mut conn, actor.org)
        .await?
        .ok_or(Error::NotFound)
}
