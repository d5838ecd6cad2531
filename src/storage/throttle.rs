//! Failed attempts (sign-ins, token authentications) counted in the
//! database, so the limits hold for every instance that shares it and
//! survive a restart.

use anyhow::Context;

use super::Conn;

/// How many failures `key` had since `since`, and when the oldest of them was.
pub async fn failures_since(
    conn: &mut Conn,
    key: &str,
    since: i64,
) -> anyhow::Result<(i64, Option<i64>)> {
    on!(conn, |e| sqlx::query_as(
        "SELECT COUNT(*), MIN(at) FROM sign_in_failures WHERE key = $1 AND at > $2"
    )
    .bind(key)
    .bind(since)
    .fetch_one(e)
    .await)
    .context("counting failed attempts")
}

/// Records a failure for each key, and forgets failures older than `forget_before`.
pub async fn record_failure(
    conn: &mut Conn,
    keys: &[&str],
    now: i64,
    forget_before: i64,
) -> anyhow::Result<()> {
    insert(conn, keys, None, now, forget_before).await
}

pub async fn clear_failures(conn: &mut Conn, key: &str) -> anyhow::Result<()> {
    on!(conn, |e| sqlx::query(
        "DELETE FROM sign_in_failures WHERE key = $1"
    )
    .bind(key)
    .execute(e)
    .await
    .map(|r| r.rows_affected()))
    .context("clearing failed attempts")?;
    Ok(())
}

/// Counts one attempt against each key before its password is checked: a
/// row per key named by `attempt`, which [`take_back`] removes when the
/// attempt turns out not to be a failure. Forgets failures older than
/// `forget_before`.
pub async fn reserve(
    conn: &mut Conn,
    keys: &[&str],
    attempt: &str,
    now: i64,
    forget_before: i64,
) -> anyhow::Result<()> {
    insert(conn, keys, Some(attempt), now, forget_before).await
}

/// A row per key (named by `attempt`, if any), then old rows forgotten.
async fn insert(
    conn: &mut Conn,
    keys: &[&str],
    attempt: Option<&str>,
    now: i64,
    forget_before: i64,
) -> anyhow::Result<()> {
    for key in keys {
        on!(conn, |e| sqlx::query(
            "INSERT INTO sign_in_failures (key, at, attempt) VALUES ($1, $2, $3)"
        )
        .bind(key)
        .bind(now)
        .bind(attempt)
        .execute(e)
        .await
        .map(|r| r.rows_affected()))
        .context("counting an attempt")?;
    }
    on!(conn, |e| sqlx::query(
        "DELETE FROM sign_in_failures WHERE at < $1"
    )
    .bind(forget_before)
    .execute(e)
    .await
    .map(|r| r.rows_affected()))
    .context("forgetting old failed attempts")?;
    Ok(())
}

/// Removes the rows [`reserve`] wrote for `attempt`.
pub async fn take_back(conn: &mut Conn, attempt: &str) -> anyhow::Result<()> {
    on!(conn, |e| sqlx::query(
        "DELETE FROM sign_in_failures WHERE attempt = $1"
    )
    .bind(attempt)
    .execute(e)
    .await
    .map(|r| r.rows_affected()))
    .context("taking back an attempt")?;
    Ok(())
}
