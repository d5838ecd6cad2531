use anyhow::Context;
use sqlx::FromRow;

use super::{Conn, Db};
use crate::domain::Access;
use crate::on;
use crate::storage::users::User;

/// One organization a user belongs to, with their access there.
#[derive(Debug, Clone, FromRow)]
pub struct MembershipRow {
    pub organization_id: i64,
    pub organization_name: String,
    pub plan: String,
    pub require_approval: bool,
    pub role: String,
    pub credentials_permission: Option<String>,
}

impl MembershipRow {
    pub fn access(&self) -> Option<Access> {
        Access::from_membership(&self.role, self.credentials_permission.as_deref())
    }
}

/// One member of an organization, for the Members page.
#[derive(Debug, Clone, FromRow)]
pub struct MemberRow {
    pub user_id: i64,
    pub email: String,
    pub display_name: String,
    pub role: String,
    pub credentials_permission: Option<String>,
    pub created_at: i64,
}

impl MemberRow {
    pub fn access(&self) -> Option<Access> {
        Access::from_membership(&self.role, self.credentials_permission.as_deref())
    }
}

/// A user joined with their memberships: one row per membership, or one row
/// with empty membership columns for a user without any.
#[derive(FromRow)]
struct UserMembershipRow {
    id: i64,
    email: String,
    display_name: String,
    is_support: bool,
    session_epoch: i64,
    organization_id: Option<i64>,
    organization_name: Option<String>,
    plan: Option<String>,
    require_approval: Option<bool>,
    role: Option<String>,
    credentials_permission: Option<String>,
}

impl Db {
    /// The user and every organization they belong to, in one query: this
    /// runs on every signed-in request.
    pub async fn user_with_memberships(
        &self,
        user_id: i64,
    ) -> anyhow::Result<Option<(User, Vec<MembershipRow>)>> {
        let rows: Vec<UserMembershipRow> = on!(self, |e| sqlx::query_as(
            "SELECT u.id, u.email, u.display_name, u.is_support, u.session_epoch,
                    o.id AS organization_id, o.name AS organization_name, o.plan, o.require_approval,
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
        .context("loading a user and their memberships")?;
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
        let memberships = rows
            .into_iter()
            .filter_map(|r| {
                Some(MembershipRow {
                    organization_id: r.organization_id?,
                    organization_name: r.organization_name?,
                    plan: r.plan?,
                    require_approval: r.require_approval?,
                    role: r.role?,
                    credentials_permission: r.credentials_permission,
                })
            })
            .collect();
        Ok(Some((user, memberships)))
    }

    pub async fn memberships_of(&self, user_id: i64) -> anyhow::Result<Vec<MembershipRow>> {
        on!(self, |e| sqlx::query_as(
            "SELECT o.id AS organization_id, o.name AS organization_name, o.plan, o.require_approval,
                    m.role, m.credentials_permission
             FROM memberships m JOIN organizations o ON o.id = m.organization_id
             WHERE m.user_id = $1
             ORDER BY o.name, o.id",
        )
        .bind(user_id)
        .fetch_all(e)
        .await)
        .context("listing a user's memberships")
    }

    pub async fn members_of(&self, org_id: i64) -> anyhow::Result<Vec<MemberRow>> {
        on!(self, |e| sqlx::query_as(
            "SELECT u.id AS user_id, u.email, u.display_name, m.role, m.credentials_permission, m.created_at
             FROM memberships m JOIN users u ON u.id = m.user_id
             WHERE m.organization_id = $1
             ORDER BY CASE m.role WHEN 'owner' THEN 0 ELSE 1 END, u.email",
        )
        .bind(org_id)
        .fetch_all(e)
        .await)
        .context("listing members")
    }
}

pub async fn find(conn: &mut Conn, org_id: i64, user_id: i64) -> anyhow::Result<Option<MemberRow>> {
    on!(conn, |e| sqlx::query_as(
        "SELECT u.id AS user_id, u.email, u.display_name, m.role, m.credentials_permission, m.created_at
         FROM memberships m JOIN users u ON u.id = m.user_id
         WHERE m.organization_id = $1 AND m.user_id = $2",
    )
    .bind(org_id)
    .bind(user_id)
    .fetch_optional(e)
    .await)
    .context("loading a member")
}

pub async fn count_owners(conn: &mut Conn, org_id: i64) -> anyhow::Result<i64> {
    on!(conn, |e| sqlx::query_scalar(
        "SELECT COUNT(*) FROM memberships WHERE organization_id = $1 AND role = 'owner'",
    )
    .bind(org_id)
    .fetch_one(e)
    .await)
    .context("counting owners")
}

/// Adds a membership; a unique violation means the user is a member already.
pub async fn insert(
    conn: &mut Conn,
    org_id: i64,
    user_id: i64,
    access: Access,
    now: i64,
) -> Result<(), sqlx::Error> {
    let (role, permission) = access
        .membership_columns()
        .ok_or(sqlx::Error::RowNotFound)?;
    on!(conn, |e| {
        sqlx::query(
        "INSERT INTO memberships (organization_id, user_id, role, credentials_permission, created_at)
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(org_id)
    .bind(user_id)
    .bind(role.as_str())
    .bind(permission.map(|p| p.as_str()))
    .bind(now)
    .execute(e)
    .await
    .map(|r| r.rows_affected())
    })?;
    Ok(())
}

pub async fn update(
    conn: &mut Conn,
    org_id: i64,
    user_id: i64,
    access: Access,
) -> anyhow::Result<()> {
    let (role, permission) = access
        .membership_columns()
        .context("support access is not a membership")?;
    on!(conn, |e| sqlx::query(
        "UPDATE memberships SET role = $1, credentials_permission = $2
         WHERE organization_id = $3 AND user_id = $4",
    )
    .bind(role.as_str())
    .bind(permission.map(|p| p.as_str()))
    .bind(org_id)
    .bind(user_id)
    .execute(e)
    .await
    .map(|r| r.rows_affected()))
    .context("changing a member")?;
    Ok(())
}

pub async fn delete(conn: &mut Conn, org_id: i64, user_id: i64) -> anyhow::Result<()> {
    on!(conn, |e| sqlx::query(
        "DELETE FROM memberships WHERE organization_id = $1 AND user_id = $2"
    )
    .bind(org_id)
    .bind(user_id)
    .execute(e)
    .await
    .map(|r| r.rows_affected()))
    .context("removing a member")?;
    Ok(())
}
