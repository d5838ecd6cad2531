//! Scheduled backups of the SQLite database (`KEYWARD_BACKUP_DIR`): one
//! every period, the newest few kept (`backup::into_folder`). Told to stop,
//! the job finishes a backup under way and takes no other.

use std::path::PathBuf;
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::{after_each, every};
use crate::backup::into_folder;
use crate::storage::Db;

/// Takes a backup into `dir` after each `period`, keeping the newest
/// `keep` (`keyward-YYYYMMDDTHHMMSS.mmmZ.db`), until `shutdown`.
pub fn start(
    db: Db,
    database_url: String,
    dir: PathBuf,
    period: Duration,
    keep: usize,
    shutdown: CancellationToken,
) -> JoinHandle<()> {
    every(after_each(period), shutdown, move || {
        let (db, database_url, dir) = (db.clone(), database_url.clone(), dir.clone());
        async move {
            match into_folder(&db, &database_url, &dir, keep).await {
                Ok(file) => tracing::info!(file = %file.display(), "backup written"),
                Err(error) => tracing::error!(error = format!("{error:#}"), "backup failed"),
            }
        }
    })
}
