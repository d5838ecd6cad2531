//! Counts failed sign-ins in the database, so the limit holds for every
//! instance that shares it, and survives a restart.

use anyhow::Context;

use super::{Connection, Db};
use crate::on;

impl Db {
    /// How many failures `key` had since `since`, and when the oldest of them was.
    pub async fn failures_since(
        &self,
        key: &str,
        since: i64,
    ) -> anyhow::Result<(i64, Option<i64>)> {
        on!(self, |e| sqlx::query_as(
            "SELECT COUNT(*), MIN(at) FROM sign_in_failures WHERE key = $1 AND at >= $2"
        )
        .bind(key)
        .bind(since)
        .fetch_one(e)
        .await)
        .context("counting failed sign-ins")
    }

    /// Records a failure for each key, and forgets failures older than `forget_before`.
    pub async fn record_failure(
        &self,
        keys: &[&str],
        now: i64,
        forget_before: i64,
    ) -> anyhow::Result<()> {
        let mut tx = self.begin().await.context("recording a failed sign-in")?;
        for key in keys {
            on!(tx, |e| sqlx::query(
                "INSERT INTO sign_in_failures (key, at) VALUES ($1, $2)"
            )
            .bind(key)
            .bind(now)
            .execute(e)
            .await
            .map(|r| r.rows_affected()))
            .context("recording a failed sign-in")?;
        }
        on!(tx, |e| sqlx::query(
            "DELETE FROM sign_in_failures WHERE at < $1"
        )
        .bind(forget_before)
        .execute(e)
        .await
        .map(|r| r.rows_affected()))
        .context("forgetting old failed sign-ins")?;
        tx.commit().await.context("recording a failed sign-in")
    }

    pub async fn clear_failures(&self, key: &str) -> anyhow::Result<()> {
        on!(self, |e| sqlx::query(
            "DELETE FROM sign_in_failures WHERE key = $1"
        )
        .bind(key)
        .execute(e)
        .await
        .map(|r| r.rows_affected()))
        .context("clearing failed sign-ins")?;
        Ok(())
    }
}
