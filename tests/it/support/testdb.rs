//! One fresh database per test, on the backend the run is for.
//!
//! `KEYWARD_TEST_DATABASE=postgres` runs the suite on PostgreSQL at
//! `KEYWARD_TEST_POSTGRES_URL` (default `postgres://postgres@127.0.0.1:5432`):
//! each test creates its own database there and drops it when done. Anything
//! else (the default) runs it on a SQLite file in a temporary directory.

use std::sync::atomic::{AtomicU32, Ordering};

use sqlx::Connection;
use tempfile::TempDir;

/// The database a run is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

pub fn backend() -> Backend {
    match std::env::var("KEYWARD_TEST_DATABASE").as_deref() {
        Ok("postgres") => Backend::Postgres,
        Ok("sqlite") | Err(_) => Backend::Sqlite,
        Ok(other) => panic!("KEYWARD_TEST_DATABASE must be sqlite or postgres, not {other}"),
    }
}

fn server_url() -> String {
    std::env::var("KEYWARD_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".to_owned())
}

/// A database that lives as long as the value: a SQLite file in a temporary
/// directory, or a PostgreSQL database dropped on `Drop`.
pub struct TestDb {
    pub url: String,
    /// Holds the SQLite file; removed with it.
    _dir: TempDir,
    postgres_name: Option<String>,
}

impl TestDb {
    pub async fn new() -> TestDb {
        let dir = tempfile::tempdir().unwrap();
        match backend() {
            Backend::Sqlite => TestDb {
                url: format!("sqlite://{}", dir.path().join("keyward.db").display()),
                _dir: dir,
                postgres_name: None,
            },
            Backend::Postgres => {
                static NEXT: AtomicU32 = AtomicU32::new(0);
                let name = format!(
                    "keyward_test_{}_{}",
                    std::process::id(),
                    NEXT.fetch_add(1, Ordering::Relaxed)
                );
                let mut admin = sqlx::PgConnection::connect(&format!("{}/postgres", server_url()))
                    .await
                    .expect("PostgreSQL at KEYWARD_TEST_POSTGRES_URL is not reachable");
                sqlx::query(&format!("DROP DATABASE IF EXISTS {name}"))
                    .execute(&mut admin)
                    .await
                    .unwrap();
                sqlx::query(&format!("CREATE DATABASE {name}"))
                    .execute(&mut admin)
                    .await
                    .unwrap();
                admin.close().await.ok();
                TestDb {
                    url: format!("{}/{name}", server_url()),
                    _dir: dir,
                    postgres_name: Some(name),
                }
            }
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let Some(name) = self.postgres_name.take() else {
            return;
        };
        // Drop runs inside the test's runtime; a thread with its own runtime
        // can block on the DROP without stalling it. FORCE ends the pool's
        // connections, which may outlive the test's state by a moment.
        let url = format!("{}/postgres", server_url());
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                if let Ok(mut admin) = sqlx::PgConnection::connect(&url).await {
                    let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                        .execute(&mut admin)
                        .await;
                    let _ = admin.close().await;
                }
            });
        })
        .join()
        .ok();
    }
}
