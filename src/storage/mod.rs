//! Storage: one repository module per aggregate. Every repository function
//! takes a [`Conn`]: a transaction that a use case opened (`Db::begin_org`
//! and friends), or a pooled connection for reads (`Db::acquire`).
//!
//! Keyward runs on SQLite (the default, one machine) or PostgreSQL (several
//! instances sharing one database). Queries are runtime `sqlx` queries in
//! standard SQL with `$n` placeholders (which SQLite accepts too), and times
//! are Unix seconds, so one SQL text serves both. The `on!` macro, private to
//! this module, runs a query on whichever backend a [`Conn`] holds: it
//! expands the same expression once per backend, so each is compiled and
//! type-checked against its own driver, with no runtime translation layer.
//!
//! Rows decode into domain types at this boundary (see `codec`): a stored
//! value that does not parse is an error naming the column and the value,
//! never a default.
//!
//! What differs between backends (connecting, migrations, how a write
//! transaction takes its lock) sits in this file.

/// Runs `$body` with `$e` bound to the executor of whichever backend `$target`
/// (a `&mut` [`Conn`], or the [`Db`] in this file) holds. The body is usually
/// a whole query ending in `.await`, since the two backends' futures have
/// different types.
macro_rules! on {
    ($target:expr, |$e:ident| $body:expr) => {
        match $target.exec() {
            $crate::storage::Either::Sqlite($e) => $body,
            $crate::storage::Either::Postgres($e) => $body,
        }
    };
}

pub mod api_tokens;
pub mod audit;
mod codec;
pub mod credentials;
pub mod deliveries;
pub mod idempotency;
pub mod invitations;
pub mod members;
pub mod orgs;
pub mod reminders;
pub mod requests;
pub mod sessions;
pub mod throttle;
pub mod tokens;
pub mod users;
pub mod webhooks;

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use anyhow::Context;
use sqlx::pool::PoolConnection;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{PgConnection, PgPool, Postgres, Sqlite, SqliteConnection, SqlitePool};

use crate::domain::OrgId;
use orgs::Organization;

/// One value per backend: a pool, a connection, a transaction. Only this
/// module looks inside.
#[doc(hidden)]
#[derive(Clone)]
pub enum Either<S, P> {
    Sqlite(S),
    Postgres(P),
}

#[derive(Clone)]
pub struct Db {
    pool: Either<SqlitePool, PgPool>,
}

/// A connection that repository functions can run queries on: a transaction
/// (a change and its audit event together) or a plain pooled connection.
pub trait Connection: Send {
    #[doc(hidden)]
    fn exec(&mut self) -> Either<&mut SqliteConnection, &mut PgConnection>;
}

/// What repository functions that must run inside a caller's transaction take.
pub type Conn = dyn Connection;

/// A transaction on either backend. Dropped without [`Tx::commit`], it rolls back.
pub struct Tx(Either<sqlx::Transaction<'static, Sqlite>, sqlx::Transaction<'static, Postgres>>);

impl Tx {
    pub async fn commit(self) -> Result<(), sqlx::Error> {
        match self.0 {
            Either::Sqlite(tx) => tx.commit().await,
            Either::Postgres(tx) => tx.commit().await,
        }
    }
}

impl Connection for Tx {
    fn exec(&mut self) -> Either<&mut SqliteConnection, &mut PgConnection> {
        match &mut self.0 {
            Either::Sqlite(tx) => Either::Sqlite(&mut **tx),
            Either::Postgres(tx) => Either::Postgres(&mut **tx),
        }
    }
}

/// A connection from the pool, outside any transaction.
pub struct Pooled(Either<PoolConnection<Sqlite>, PoolConnection<Postgres>>);

impl Connection for Pooled {
    fn exec(&mut self) -> Either<&mut SqliteConnection, &mut PgConnection> {
        match &mut self.0 {
            Either::Sqlite(conn) => Either::Sqlite(&mut **conn),
            Either::Postgres(conn) => Either::Postgres(&mut **conn),
        }
    }
}

/// The file of a `sqlite:` database URL, if it names one (not `:memory:`).
pub fn sqlite_file(database_url: &str) -> Option<PathBuf> {
    let rest = database_url
        .strip_prefix("sqlite://")
        .or_else(|| database_url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next().unwrap_or("");
    (!path.is_empty() && path != ":memory:").then(|| PathBuf::from(path))
}

/// The WAL and shared-memory files SQLite keeps beside `database`.
pub fn journal_files(database: &Path) -> [PathBuf; 2] {
    ["-wal", "-shm"].map(|suffix| {
        let mut name = database.as_os_str().to_owned();
        name.push(suffix);
        PathBuf::from(name)
    })
}

/// Makes `path` readable and writable by its owner alone (0600), creating
/// it empty first if it does not exist, so a file that will hold sessions
/// or hashes is private from its first byte.
pub fn keep_private(path: &Path) -> anyhow::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(false);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options
        .open(path)
        .with_context(|| format!("cannot open {}", path.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
            .with_context(|| format!("cannot restrict {}", path.display()))?;
    }
    Ok(())
}

/// The key of the PostgreSQL advisory lock that [`Db::begin_write`] takes:
/// "keyward" in ASCII, so it cannot collide with an application that uses
/// small numbers.
const GLOBAL_WRITE_LOCK: i64 = 0x006b_6579_7761_7264;

impl Db {
    /// Opens the database at `url` (`sqlite:` or `postgres:`), creating a
    /// SQLite file if needed, and applies migrations.
    pub async fn connect(url: &str) -> anyhow::Result<Db> {
        let db = Db::open(url).await?;
        db.migrate().await?;
        Ok(db)
    }

    /// Opens the database without applying migrations.
    pub async fn open(url: &str) -> anyhow::Result<Db> {
        if url.starts_with("sqlite:") {
            Db::open_sqlite(url).await
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Db::open_postgres(url).await
        } else {
            anyhow::bail!(
                "DATABASE_URL must start with sqlite: or postgres:// (got a URL with another scheme)"
            )
        }
    }

    async fn open_sqlite(url: &str) -> anyhow::Result<Db> {
        let options = SqliteConnectOptions::from_str(url)
            .context("DATABASE_URL is not a valid SQLite URL")?;
        // The file holds live session ids and password hashes: its owner's
        // alone, as are the WAL and SHM files, which SQLite creates with
        // the database file's mode.
        if let Some(file) = sqlite_file(url) {
            keep_private(&file)?;
            for journal in journal_files(&file) {
                if journal.exists() {
                    keep_private(&journal)?;
                }
            }
        }
        let options = options
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
        Ok(Db {
            pool: Either::Sqlite(pool),
        })
    }

    async fn open_postgres(url: &str) -> anyhow::Result<Db> {
        let options = PgConnectOptions::from_str(url)
            .context("DATABASE_URL is not a valid PostgreSQL URL")?;
        // One connection first, so a wrong host, password or database name is
        // reported as such rather than as a pool timeout.
        let first = <PgConnection as sqlx::Connection>::connect_with(&options)
            .await
            .context("could not connect to PostgreSQL")?;
        sqlx::Connection::close(first).await.ok();
        let pool = PgPoolOptions::new()
            .max_connections(16)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(options)
            .await
            .context("could not connect to PostgreSQL")?;
        Ok(Db {
            pool: Either::Postgres(pool),
        })
    }

    /// Applies pending migrations. On PostgreSQL, sqlx holds an advisory lock
    /// while it migrates, so instances starting together apply each once.
    pub async fn migrate(&self) -> anyhow::Result<()> {
        match &self.pool {
            Either::Sqlite(pool) => sqlx::migrate!("./migrations/sqlite").run(pool).await,
            Either::Postgres(pool) => sqlx::migrate!("./migrations/postgres").run(pool).await,
        }
        .context("could not apply migrations")
    }

    /// The pool of whichever backend this is, for `on!`.
    fn exec(&self) -> Either<&SqlitePool, &PgPool> {
        match &self.pool {
            Either::Sqlite(pool) => Either::Sqlite(pool),
            Either::Postgres(pool) => Either::Postgres(pool),
        }
    }

    /// A connection outside any transaction, for reads.
    pub async fn acquire(&self) -> anyhow::Result<Pooled> {
        let conn = match &self.pool {
            Either::Sqlite(pool) => Either::Sqlite(pool.acquire().await?),
            Either::Postgres(pool) => Either::Postgres(pool.acquire().await?),
        };
        Ok(Pooled(conn))
    }

    /// A plain transaction, for changes that need atomicity but no invariant
    /// spanning several rows (bookkeeping such as failed sign-ins).
    pub async fn begin(&self) -> anyhow::Result<Tx> {
        let tx = match &self.pool {
            Either::Sqlite(pool) => Either::Sqlite(pool.begin().await?),
            Either::Postgres(pool) => Either::Postgres(pool.begin().await?),
        };
        Ok(Tx(tx))
    }

    /// A transaction that holds the database-wide write lock from its first
    /// statement, for changes whose rule spans every organization (first-run
    /// setup, the demo data, a user's password, which ends sessions in every
    /// organization).
    ///
    /// SQLite: `BEGIN IMMEDIATE`; a deferred transaction that reads, then
    /// writes, fails with "busy" when another writer got in between, while
    /// taking the lock first serialises writers in the database itself,
    /// across processes too. PostgreSQL: a transaction-scoped advisory lock,
    /// which every instance sharing the database waits for.
    pub async fn begin_write(&self) -> anyhow::Result<Tx> {
        self.begin_locked("SELECT pg_advisory_xact_lock($1)", GLOBAL_WRITE_LOCK)
            .await
    }

    /// A transaction that holds the organization's write lock from its first
    /// statement: the 3-credential limit, the single primary and the last
    /// owner are checked and changed under it, so they hold however many
    /// instances serve the organization.
    ///
    /// SQLite: `BEGIN IMMEDIATE` (one writer at a time). PostgreSQL: the
    /// organization's row is locked, so writers to one organization queue
    /// while other organizations proceed. `NO KEY UPDATE` rather than
    /// `UPDATE`: it excludes other writers all the same, but not the key-share
    /// locks that foreign-key checks take, so an audit event recorded for the
    /// organization elsewhere (a sign-in) need not wait for it.
    ///
    /// Returns the organization as it is under the lock (`None` when it does
    /// not exist), so a use case decides on its current plan and settings.
    pub async fn begin_org(&self, org: OrgId) -> anyhow::Result<(Tx, Option<Organization>)> {
        let mut tx = self
            .begin_locked(
                "SELECT id FROM organizations WHERE id = $1 FOR NO KEY UPDATE",
                org.0,
            )
            .await?;
        let found = orgs::find(&mut tx, org).await?;
        Ok((tx, found))
    }

    /// SQLite: `BEGIN IMMEDIATE`. PostgreSQL: a transaction whose first
    /// statement is `lock`, bound to `key`.
    async fn begin_locked(&self, lock: &'static str, key: i64) -> anyhow::Result<Tx> {
        match &self.pool {
            Either::Sqlite(pool) => {
                let tx = pool
                    .begin_with("BEGIN IMMEDIATE")
                    .await
                    .context("could not start a write transaction")?;
                Ok(Tx(Either::Sqlite(tx)))
            }
            Either::Postgres(pool) => {
                let mut tx = pool
                    .begin()
                    .await
                    .context("could not start a transaction")?;
                sqlx::query(lock)
                    .bind(key)
                    .execute(&mut *tx)
                    .await
                    .context("could not take the write lock")?;
                Ok(Tx(Either::Postgres(tx)))
            }
        }
    }

    /// Whether every migration this binary knows is applied: a server
    /// started before a newer one migrated, or on a database not yet
    /// migrated, is not ready.
    pub async fn migrations_applied(&self) -> bool {
        let expected = match &self.pool {
            Either::Sqlite(_) => sqlx::migrate!("./migrations/sqlite")
                .iter()
                .map(|m| m.version)
                .max(),
            Either::Postgres(_) => sqlx::migrate!("./migrations/postgres")
                .iter()
                .map(|m| m.version)
                .max(),
        };
        let applied: Result<Option<i64>, sqlx::Error> = on!(self, |e| sqlx::query_scalar(
            "SELECT MAX(version) FROM _sqlx_migrations WHERE success"
        )
        .fetch_one(e)
        .await);
        matches!(applied, Ok(version) if version >= expected)
    }

    /// SQLite: a consistent copy of the database into `path` (`VACUUM
    /// INTO`, one read transaction, so the server keeps writing).
    pub async fn vacuum_into(&self, path: &std::path::Path) -> anyhow::Result<()> {
        let Either::Sqlite(pool) = &self.pool else {
            anyhow::bail!("VACUUM INTO is SQLite's");
        };
        let target = path
            .to_str()
            .context("the backup path is not valid UTF-8")?;
        sqlx::query("VACUUM INTO $1")
            .bind(target)
            .execute(pool)
            .await
            .with_context(|| format!("cannot write the backup {}", path.display()))?;
        Ok(())
    }

    /// Removes the console sessions from a backup copy at `path`, their rows
    /// overwritten (`secure_delete`): a session id is a bearer credential
    /// that works without the key file, so a backup must not carry one.
    pub async fn scrub_sessions(path: &std::path::Path) -> anyhow::Result<()> {
        use sqlx::Connection as _;
        let options = SqliteConnectOptions::new().filename(path);
        let mut conn = SqliteConnection::connect_with(&options)
            .await
            .with_context(|| format!("cannot open the backup {}", path.display()))?;
        sqlx::query("PRAGMA secure_delete = ON")
            .execute(&mut conn)
            .await
            .context("preparing the backup")?;
        sqlx::query("DELETE FROM sessions")
            .execute(&mut conn)
            .await
            .context("removing sessions from the backup")?;
        conn.close().await.ok();
        Ok(())
    }

    /// `PRAGMA integrity_check` of the SQLite file at `path`, opened read
    /// only: "ok", or what is wrong.
    pub async fn integrity_of(path: &std::path::Path) -> anyhow::Result<String> {
        use sqlx::Connection as _;
        let options = SqliteConnectOptions::new().filename(path).read_only(true);
        let mut conn = SqliteConnection::connect_with(&options)
            .await
            .with_context(|| format!("{} is not a SQLite database", path.display()))?;
        let rows: Vec<String> = sqlx::query_scalar("PRAGMA integrity_check")
            .fetch_all(&mut conn)
            .await
            .with_context(|| format!("{} is not a SQLite database", path.display()))?;
        conn.close().await.ok();
        Ok(rows.join("; "))
    }

    /// The pool's connections: open, and idle among them.
    pub fn pool_use(&self) -> (u32, usize) {
        match &self.pool {
            Either::Sqlite(pool) => (pool.size(), pool.num_idle()),
            Either::Postgres(pool) => (pool.size(), pool.num_idle()),
        }
    }

    /// Closes the pool: what follows gets an error (the end of a shutdown).
    pub async fn close(&self) {
        match &self.pool {
            Either::Sqlite(pool) => pool.close().await,
            Either::Postgres(pool) => pool.close().await,
        }
    }

    /// Whether the database answers, for health checks.
    pub async fn ping(&self) -> bool {
        on!(self, |e| sqlx::query("SELECT 1")
            .execute(e)
            .await
            .map(|r| r.rows_affected()))
        .is_ok()
    }
}

/// Whether an error is a unique-constraint violation, to turn into a field error.
pub(crate) fn is_unique_violation(error: &sqlx::Error) -> bool {
    matches!(error, sqlx::Error::Database(e) if e.is_unique_violation())
}
