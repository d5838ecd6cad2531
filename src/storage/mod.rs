//! Storage: one repository module per aggregate, all reached through [`Db`].
//!
//! Queries are runtime `sqlx::query_as` in standard SQL with `$n` placeholders
//! (which SQLite accepts too), and times are Unix seconds, so the SQL is the
//! same for SQLite and PostgreSQL. What differs between backends (connecting,
//! taking the write lock at the start of a transaction) sits in this file.

pub mod audit;
pub mod credentials;
pub mod members;
pub mod orgs;
pub mod requests;
pub mod throttle;
pub mod tokens;
pub mod users;

use std::str::FromStr;
use std::time::Duration;

use anyhow::Context;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Sqlite, SqlitePool};

/// A connection inside a transaction, for repository functions that must run
/// together with others (a change and its audit event).
pub type Backend = Sqlite;
pub type Conn = sqlx::SqliteConnection;
pub type Tx = sqlx::Transaction<'static, Sqlite>;

#[derive(Clone)]
pub struct Db {
    pool: SqlitePool,
}

impl Db {
    /// Opens (creating it if needed) the database at `url` and applies migrations.
    pub async fn connect(url: &str) -> anyhow::Result<Db> {
        if !url.starts_with("sqlite:") {
            anyhow::bail!(
                "DATABASE_URL must be a sqlite: URL (PostgreSQL support is not built yet), got a URL with another scheme"
            );
        }
        let options = SqliteConnectOptions::from_str(url)
            .context("DATABASE_URL is not a valid SQLite URL")?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10));
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            // A local file cannot drop like a network connection; pinging it
            // before every use would only add a round trip to its worker thread.
            .test_before_acquire(false)
            .connect_with(options)
            .await
            .context("could not open the SQLite database")?;
        let db = Db { pool };
        db.migrate().await?;
        Ok(db)
    }

    pub async fn migrate(&self) -> anyhow::Result<()> {
        sqlx::migrate!("./migrations/sqlite")
            .run(&self.pool)
            .await
            .context("could not apply migrations")
    }

    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    /// Starts a transaction that holds the write lock from its first statement.
    ///
    /// A deferred SQLite transaction that reads, then writes, fails with "busy"
    /// when another writer got in between; taking the lock first serialises the
    /// writers in the database itself, which also holds across processes.
    pub async fn begin_write(&self) -> anyhow::Result<Tx> {
        self.pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .context("could not start a write transaction")
    }
}

/// Whether an error is a unique-constraint violation, to turn into a field error.
pub fn is_unique_violation(error: &sqlx::Error) -> bool {
    matches!(error, sqlx::Error::Database(e) if e.is_unique_violation())
}
