//! The session store: tower-sessions' sqlx store for whichever backend the
//! application database is, so sessions live beside everything else and a
//! session made by one instance is valid at every other.

use async_trait::async_trait;
use tower_sessions::session::{Id, Record};
use tower_sessions::session_store::{self, ExpiredDeletion, SessionStore};
use tower_sessions_sqlx_store::{PostgresStore, SqliteStore};

use super::{Db, Either};

#[derive(Clone, Debug)]
pub struct Sessions(Either<SqliteStore, PostgresStore>);

impl std::fmt::Debug for Either<SqliteStore, PostgresStore> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Either::Sqlite(store) => store.fmt(f),
            Either::Postgres(store) => store.fmt(f),
        }
    }
}

impl Sessions {
    /// The store in the `sessions` table, created if missing.
    pub async fn migrate(db: &Db) -> anyhow::Result<Sessions> {
        let store = match db.exec() {
            Either::Sqlite(pool) => {
                let store = SqliteStore::new(pool.clone())
                    .with_table_name("sessions")
                    .map_err(|e| anyhow::anyhow!("session table name: {e}"))?;
                store.migrate().await?;
                Either::Sqlite(store)
            }
            Either::Postgres(pool) => {
                let store = PostgresStore::new(pool.clone())
                    .with_schema_name("public")
                    .and_then(|store| store.with_table_name("sessions"))
                    .map_err(|e| anyhow::anyhow!("session table name: {e}"))?;
                store.migrate().await?;
                Either::Postgres(store)
            }
        };
        Ok(Sessions(store))
    }
}

#[async_trait]
impl SessionStore for Sessions {
    async fn create(&self, record: &mut Record) -> session_store::Result<()> {
        match &self.0 {
            Either::Sqlite(store) => store.create(record).await,
            Either::Postgres(store) => store.create(record).await,
        }
    }

    async fn save(&self, record: &Record) -> session_store::Result<()> {
        match &self.0 {
            Either::Sqlite(store) => store.save(record).await,
            Either::Postgres(store) => store.save(record).await,
        }
    }

    async fn load(&self, id: &Id) -> session_store::Result<Option<Record>> {
        match &self.0 {
            Either::Sqlite(store) => store.load(id).await,
            Either::Postgres(store) => store.load(id).await,
        }
    }

    async fn delete(&self, id: &Id) -> session_store::Result<()> {
        match &self.0 {
            Either::Sqlite(store) => store.delete(id).await,
            Either::Postgres(store) => store.delete(id).await,
        }
    }
}

#[async_trait]
impl ExpiredDeletion for Sessions {
    async fn delete_expired(&self) -> session_store::Result<()> {
        match &self.0 {
            Either::Sqlite(store) => store.delete_expired().await,
            Either::Postgres(store) => store.delete_expired().await,
        }
    }
}
