//! Memberships: which users belong to which organization, with what access.

use anyhow::Context;
use sqlx::FromRow;

use super::Conn;
use super::orgs::Organization;
use super::users::User;
use crate::domain::{Access, CredentialsPermission, OrgId, Plan, Role, UserId};

/// One organization a user belongs to, with their access there.
#[derive(Debug, Clone)]
pub struct Membership {
    pub org: Organization,
    pub access: Access,
}

/// One member of an organization, for the Members page.
#[derive(Debug, Clone)]
pub struct Member {
    pub user_id: UserId,
    pub email: String,
    pub display_name: String,
    pub access: Access,
    pub created_at: i64,
}

fn access(
    role: Role,
    permission: Option<CredentialsPermission>,
    org: OrgId,
    user: UserId,
) -> anyhow::Result<Access> {
    Access::from_columns(role, permission).with_context(|| {
        format!("membership of user {user} in organization {org}: role {role:?} with permission {permission:?}")
    })
}

#[derive(FromRow)]
struct MemberRow {
    user_id: UserId,
    email: String,
    display_name: String,
    role: Role,
    credentials_permission: Option<CredentialsPermission>,
    created_at: i64,
}

impl MemberRow {
    fn into_member(self, org: OrgId) -> anyhow::Result<Member> {
        Ok(Member {
            access: access(self.role, self.credentials_permission, org, self.user_id)?,
            user_id: self.user_id,
            email: self.email,
            display_name: self.display_name,
            created_at: self.created_at,
        })
    }
}

/// A user joined with their memberships: one row per membership, or one row
/// with empty membership columns for a user without any.
#[derive(FromRow)]
struct UserMembershipRow {
    id: UserId,
    email: String,
    display_name: String,
    is_support: bool,
    session_epoch: i64,
    organization_id: Option<OrgId>,
    organization_name: Option<String>,
    plan: Option<Plan>,
    require_approval: Option<bool>,
    max_credential_days: Option<i64>,
    role: Option<Role>,
    credentials_permission: Option<CredentialsPermission>,
}

/// The user and every organization they belong to, in one query: this runs
/// on every signed-in request.
pub async fn user_with_memberships(
    conn: &mut Conn,
    user_id: UserId,
) -> anyhow::Result<Option<(User, Vec<Membership>)>> {
    let rows: Vec<UserMembershipRow> = on!(conn, |e| sqlx::query_as(
        "SELECT u.id, u.email, u.display_name, u.is_support, u.session_epoch,
                o.id AS organization_id, o.name AS organization_name, o.plan, o.require_approval,
                o.max_credential_days,
                m.role, m.credentials_permission
         FROM users u
         LEFT JOIN memberships m ON m.user_id = u.id
         LEFT JOIN organizations o ON o.id = m.organization_id
         WHERE u.id = $1
         ORDER BY o.name, o.id",
    )
    .bind(user_id)
    .fetch_all(e)
    .await)
    .with_context(|| format!("loading user {user_id} and their memberships"))?;
    let Some(first) = rows.first() else {
        return Ok(None);
    };
    let user = User {
        id: first.id,
        email: first.email.clone(),
        display_name: first.display_name.clone(),
        is_support: first.is_support,
        session_epoch: first.session_epoch,
    };
    let mut memberships = Vec::new();
    for row in rows {
        let (Some(id), Some(name), Some(plan), Some(require_approval), Some(role)) = (
            row.organization_id,
            row.organization_name,
            row.plan,
            row.require_approval,
            row.role,
        ) else {
            continue;
        };
        memberships.push(Membership {
            access: access(role, row.credentials_permission, id, user.id)?,
            org: Organization {
                id,
                name,
                plan,
                require_approval,
                max_credential_days: row.max_credential_days,
            },
        });
    }
    Ok(Some((user, memberships)))
}

/// The organizations a user belongs to.
pub async fn orgs_of(conn: &mut Conn, user_id: UserId) -> anyhow::Result<Vec<OrgId>> {
    on!(conn, |e| sqlx::query_scalar(
        "SELECT organization_id FROM memberships WHERE user_id = $1 ORDER BY organization_id",
    )
    .bind(user_id)
    .fetch_all(e)
    .await)
    .context("listing a user's organizations")
}

const MEMBER_SELECT: &str = "SELECT u.id AS user_id, u.email, u.display_name, m.role, m.credentials_permission, m.created_at
     FROM memberships m JOIN users u ON u.id = m.user_id";

/// Owners first, then by email.
pub async fn list(conn: &mut Conn, org: OrgId) -> anyhow::Result<Vec<Member>> {
    let rows: Vec<MemberRow> = on!(conn, |e| sqlx::query_as(&format!(
        "{MEMBER_SELECT} WHERE m.organization_id = $1
         ORDER BY CASE m.role WHEN 'owner' THEN 0 ELSE 1 END, u.email"
    ))
    .bind(org)
    .fetch_all(e)
    .await)
    .with_context(|| format!("listing the members of organization {org}"))?;
    rows.into_iter().map(|r| r.into_member(org)).collect()
}

pub async fn find(conn: &mut Conn, org: OrgId, user_id: UserId) -> anyhow::Result<Option<Member>> {
    let row: Option<MemberRow> = on!(conn, |e| sqlx::query_as(&format!(
        "{MEMBER_SELECT} WHERE m.organization_id = $1 AND m.user_id = $2"
    ))
    .bind(org)
    .bind(user_id)
    .fetch_optional(e)
    .await)
    .with_context(|| format!("loading member {user_id} of organization {org}"))?;
    row.map(|r| r.into_member(org)).transpose()
}

pub async fn count_owners(conn: &mut Conn, org: OrgId) -> anyhow::Result<i64> {
    on!(conn, |e| sqlx::query_scalar(
        "SELECT COUNT(*) FROM memberships WHERE organization_id = $1 AND role = 'owner'",
    )
    .bind(org)
    .fetch_one(e)
    .await)
    .context("counting owners")
}

/// Adds a membership; a unique violation means the user is a member already.
/// Support access is no membership: it is refused before it gets here.
pub async fn insert(
    conn: &mut Conn,
    org: OrgId,
    user_id: UserId,
    access: Access,
    now: i64,
) -> Result<(), sqlx::Error> {
    let (role, permission) = access
        .membership_columns()
        .ok_or_else(|| sqlx::Error::Protocol("support access is not a membership".into()))?;
    on!(conn, |e| {
        sqlx::query(
            "INSERT INTO memberships (organization_id, user_id, role, credentials_permission, created_at)
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(org)
        .bind(user_id)
        .bind(role)
        .bind(permission)
        .bind(now)
        .execute(e)
        .await
        .map(|r| r.rows_affected())
    })?;
    Ok(())
}

pub async fn update(
    conn: &mut Conn,
    org: OrgId,
    user_id: UserId,
    access: Access,
) -> anyhow::Result<()> {
    let (role, permission) = access
        .membership_columns()
        .context("support access is not a membership")?;
    on!(conn, |e| sqlx::query(
        "UPDATE memberships SET role = $1, credentials_permission = $2
         WHERE organization_id = $3 AND user_id = $4",
    )
    .bind(role)
    .bind(permission)
    .bind(org)
    .bind(user_id)
    .execute(e)
    .await
    .map(|r| r.rows_affected()))
    .context("changing a member")?;
    Ok(())
}

pub async fn delete(conn: &mut Conn, org: OrgId, user_id: UserId) -> anyhow::Result<()> {
    on!(conn, |e| sqlx::query(
        "DELETE FROM memberships WHERE organization_id = $1 AND user_id = $2"
    )
    .bind(org)
    .bind(user_id)
    .execute(e)
    .await
    .map(|r| r.rows_affected()))
    .context("removing a member")?;
    Ok(())
}
