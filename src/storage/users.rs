//! User accounts. The password hash is read only by the functions that check
//! a password, into a type whose `Debug` hides it.

use anyhow::Context;
use sqlx::FromRow;

use super::Conn;
use crate::domain::UserId;

/// A user as the console shows them. The password hash is never part of it.
#[derive(Debug, Clone, FromRow)]
pub struct User {
    pub id: UserId,
    pub email: String,
    pub display_name: String,
    pub is_support: bool,
    pub session_epoch: i64,
}

#[derive(FromRow)]
pub struct PasswordRow {
    pub id: UserId,
    pub password_hash: String,
}

impl std::fmt::Debug for PasswordRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PasswordRow")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

pub struct NewUser<'a> {
    pub email: &'a str,
    pub display_name: &'a str,
    pub password_hash: &'a str,
    pub is_support: bool,
}

const USER_COLUMNS: &str = "id, email, display_name, is_support, session_epoch";

pub async fn find(conn: &mut Conn, id: UserId) -> anyhow::Result<Option<User>> {
    on!(conn, |e| sqlx::query_as(&format!(
        "SELECT {USER_COLUMNS} FROM users WHERE id = $1"
    ))
    .bind(id)
    .fetch_optional(e)
    .await)
    .with_context(|| format!("loading user {id}"))
}

pub async fn find_by_email(conn: &mut Conn, email: &str) -> anyhow::Result<Option<User>> {
    on!(conn, |e| sqlx::query_as(&format!(
        "SELECT {USER_COLUMNS} FROM users WHERE email = $1"
    ))
    .bind(email)
    .fetch_optional(e)
    .await)
    .context("loading a user by email")
}

pub async fn password_by_email(
    conn: &mut Conn,
    email: &str,
) -> anyhow::Result<Option<PasswordRow>> {
    on!(conn, |e| sqlx::query_as(
        "SELECT id, password_hash FROM users WHERE email = $1"
    )
    .bind(email)
    .fetch_optional(e)
    .await)
    .context("loading a password hash")
}

pub async fn password_by_id(conn: &mut Conn, id: UserId) -> anyhow::Result<Option<PasswordRow>> {
    on!(conn, |e| sqlx::query_as(
        "SELECT id, password_hash FROM users WHERE id = $1"
    )
    .bind(id)
    .fetch_optional(e)
    .await)
    .context("loading a password hash")
}

pub async fn count(conn: &mut Conn) -> anyhow::Result<i64> {
    on!(conn, |e| sqlx::query_scalar("SELECT COUNT(*) FROM users")
        .fetch_one(e)
        .await)
    .context("counting users")
}

/// Inserts a user; the caller turns a unique violation into "already exists".
pub async fn insert(conn: &mut Conn, user: NewUser<'_>, now: i64) -> Result<UserId, sqlx::Error> {
    on!(conn, |e| sqlx::query_scalar(
        "INSERT INTO users (email, display_name, password_hash, is_support, created_at)
         VALUES ($1, $2, $3, $4, $5) RETURNING id",
    )
    .bind(user.email)
    .bind(user.display_name)
    .bind(user.password_hash)
    .bind(user.is_support)
    .bind(now)
    .fetch_one(e)
    .await)
}

/// Replaces a password hash with the same password's keyed hash, unless the
/// password changed meanwhile; sessions go on (the password is the same).
pub async fn rekey_password(
    conn: &mut Conn,
    user_id: UserId,
    old_hash: &str,
    new_hash: &str,
) -> anyhow::Result<()> {
    on!(conn, |e| sqlx::query(
        "UPDATE users SET password_hash = $1 WHERE id = $2 AND password_hash = $3"
    )
    .bind(new_hash)
    .bind(user_id)
    .bind(old_hash)
    .execute(e)
    .await
    .map(|r| r.rows_affected()))
    .context("keying a password hash")?;
    Ok(())
}

/// Ends every session of the user (their sessions carry the old epoch).
pub async fn end_sessions(conn: &mut Conn, user_id: UserId) -> anyhow::Result<()> {
    on!(conn, |e| sqlx::query(
        "UPDATE users SET session_epoch = session_epoch + 1 WHERE id = $1"
    )
    .bind(user_id)
    .execute(e)
    .await
    .map(|r| r.rows_affected()))
    .context("ending a user's sessions")?;
    Ok(())
}

/// Sets a new password hash and ends every session of the user.
pub async fn set_password(
    conn: &mut Conn,
    user_id: UserId,
    password_hash: &str,
) -> anyhow::Result<()> {
    on!(conn, |e| sqlx::query(
        "UPDATE users SET password_hash = $1, session_epoch = session_epoch + 1 WHERE id = $2",
    )
    .bind(password_hash)
    .bind(user_id)
    .execute(e)
    .await
    .map(|r| r.rows_affected()))
    .context("changing a password")?;
    Ok(())
}
