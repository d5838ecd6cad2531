//! The tests' own handle on the test database: a sqlx pool of their own,
//! opened on the same URL as the app's, for reading what the app stored and
//! for the few changes no page can make (a plan upgrade, a seeded history).
//! It knows nothing of the crate's storage layer.

use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgPoolOptions, PgRow};
use sqlx::sqlite::{SqliteConnectOptions, SqlitePoolOptions, SqliteRow};
use sqlx::{FromRow, PgPool, SqlitePool};

/// A value for a `$1`, `$2`, … placeholder.
#[derive(Clone, Copy, Debug)]
pub enum Arg<'a> {
    Int(i64),
    Text(&'a str),
}

impl From<i64> for Arg<'_> {
    fn from(value: i64) -> Self {
        Arg::Int(value)
    }
}

impl<'a> From<&'a str> for Arg<'a> {
    fn from(value: &'a str) -> Self {
        Arg::Text(value)
    }
}

impl<'a> From<&'a String> for Arg<'a> {
    fn from(value: &'a String) -> Self {
        Arg::Text(value)
    }
}

/// A row (a tuple, say) that both backends can decode.
pub trait Row: for<'r> FromRow<'r, SqliteRow> + for<'r> FromRow<'r, PgRow> + Send + Unpin {}

impl<T> Row for T where T: for<'r> FromRow<'r, SqliteRow> + for<'r> FromRow<'r, PgRow> + Send + Unpin
{}

/// A pool on the test database, of the backend its URL names.
#[derive(Clone, Debug)]
pub enum Sql {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// Binds `args` to a query, in order.
macro_rules! bound {
    ($query:expr, $args:expr) => {{
        let mut query = $query;
        for arg in $args {
            query = match *arg {
                Arg::Int(value) => query.bind(value),
                Arg::Text(value) => query.bind(value),
            };
        }
        query
    }};
}

impl Sql {
    /// Opens a small pool on the database at `url`, which the app has created
    /// and migrated already.
    pub async fn connect(url: &str) -> Sql {
        if url.starts_with("sqlite:") {
            // The app's pool writes to the same file: wait for its locks
            // rather than fail at once.
            let options = SqliteConnectOptions::from_str(url)
                .unwrap()
                .foreign_keys(true)
                .busy_timeout(Duration::from_secs(10));
            let pool = SqlitePoolOptions::new()
                .max_connections(2)
                .connect_with(options)
                .await
                .unwrap();
            Sql::Sqlite(pool)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let pool = PgPoolOptions::new()
                .max_connections(2)
                .connect(url)
                .await
                .unwrap();
            Sql::Postgres(pool)
        } else {
            panic!("a test database URL is sqlite: or postgres://, not {url}")
        }
    }

    /// Runs a statement; the error, if any, is the caller's to look at.
    pub async fn try_execute(&self, sql: &str, args: &[Arg<'_>]) -> Result<u64, sqlx::Error> {
        match self {
            Sql::Sqlite(pool) => bound!(sqlx::query(sql), args)
                .execute(pool)
                .await
                .map(|r| r.rows_affected()),
            Sql::Postgres(pool) => bound!(sqlx::query(sql), args)
                .execute(pool)
                .await
                .map(|r| r.rows_affected()),
        }
    }

    /// Runs a statement that must succeed; returns the rows it affected.
    pub async fn execute(&self, sql: &str, args: &[Arg<'_>]) -> u64 {
        self.try_execute(sql, args)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"))
    }

    /// The one row a query returns.
    pub async fn one<T: Row>(&self, sql: &str, args: &[Arg<'_>]) -> T {
        match self {
            Sql::Sqlite(pool) => {
                bound!(sqlx::query_as::<_, T>(sql), args)
                    .fetch_one(pool)
                    .await
            }
            Sql::Postgres(pool) => {
                bound!(sqlx::query_as::<_, T>(sql), args)
                    .fetch_one(pool)
                    .await
            }
        }
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
    }

    /// Every row a query returns.
    pub async fn all<T: Row>(&self, sql: &str, args: &[Arg<'_>]) -> Vec<T> {
        match self {
            Sql::Sqlite(pool) => {
                bound!(sqlx::query_as::<_, T>(sql), args)
                    .fetch_all(pool)
                    .await
            }
            Sql::Postgres(pool) => {
                bound!(sqlx::query_as::<_, T>(sql), args)
                    .fetch_all(pool)
                    .await
            }
        }
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
    }

    /// The single integer a query returns (a `COUNT(*)`, an id, a time).
    pub async fn scalar_i64(&self, sql: &str, args: &[Arg<'_>]) -> i64 {
        self.one::<(i64,)>(sql, args).await.0
    }

    /// The single boolean a query returns.
    pub async fn scalar_bool(&self, sql: &str, args: &[Arg<'_>]) -> bool {
        self.one::<(bool,)>(sql, args).await.0
    }

    /// The single text a query returns.
    pub async fn string(&self, sql: &str, args: &[Arg<'_>]) -> String {
        self.one::<(String,)>(sql, args).await.0
    }

    /// The first column of every row, as text.
    pub async fn strings(&self, sql: &str, args: &[Arg<'_>]) -> Vec<String> {
        self.all::<(String,)>(sql, args)
            .await
            .into_iter()
            .map(|(s,)| s)
            .collect()
    }

    /// Every value of every column of every table (sessions included), as
    /// bytes, labelled `table.column`: for hunting secrets at rest.
    pub async fn every_stored_value(&self) -> Vec<(String, Vec<u8>)> {
        let mut found = Vec::new();
        match self {
            Sql::Sqlite(pool) => {
                let tables: Vec<String> =
                    sqlx::query_scalar("SELECT name FROM sqlite_master WHERE type = 'table'")
                        .fetch_all(pool)
                        .await
                        .unwrap();
                assert!(tables.iter().any(|t| t == "sessions"));
                for table in tables {
                    let columns: Vec<String> = sqlx::query_scalar(&format!(
                        "SELECT name FROM pragma_table_info('{table}')"
                    ))
                    .fetch_all(pool)
                    .await
                    .unwrap();
                    for column in columns {
                        let values: Vec<Option<Vec<u8>>> = sqlx::query_scalar(&format!(
                            "SELECT CAST(\"{column}\" AS BLOB) FROM \"{table}\""
                        ))
                        .fetch_all(pool)
                        .await
                        .unwrap();
                        let label = format!("{table}.{column}");
                        found.extend(values.into_iter().flatten().map(|v| (label.clone(), v)));
                    }
                }
            }
            Sql::Postgres(pool) => {
                let columns: Vec<(String, String, String, String)> = sqlx::query_as(
                    "SELECT table_schema::text, table_name::text, column_name::text, data_type::text
                     FROM information_schema.columns
                     WHERE table_schema NOT IN ('pg_catalog', 'information_schema')",
                )
                .fetch_all(pool)
                .await
                .unwrap();
                assert!(columns.iter().any(|c| c.1 == "sessions"));
                for (schema, table, column, data_type) in columns {
                    // bytea as its bytes (printable ones kept as they are), the rest as text.
                    let value = if data_type == "bytea" {
                        format!("encode(\"{column}\", 'escape')")
                    } else {
                        format!("\"{column}\"::text")
                    };
                    let values: Vec<Option<String>> = sqlx::query_scalar(&format!(
                        "SELECT {value} FROM \"{schema}\".\"{table}\""
                    ))
                    .fetch_all(pool)
                    .await
                    .unwrap();
                    let label = format!("{table}.{column}");
                    found.extend(
                        values
                            .into_iter()
                            .flatten()
                            .map(|v| (label.clone(), v.into_bytes())),
                    );
                }
            }
        }
        found
    }
}
