//! Backups of the embedded SQLite database: a consistent copy taken while
//! the server runs (SQLite's `VACUUM INTO`, one read transaction, so writes
//! carry on), on demand (`keyward backup FILE`) or on a schedule that keeps
//! the newest few; and `keyward restore FILE`, which refuses to replace the
//! database of a running server. The key file is never in a backup: a
//! database without its key cannot check a secret or sign a token, so the
//! two are kept apart (see README, "Operating Keyward").

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};

use crate::storage::Db;

pub use crate::storage::sqlite_file;

/// The lock file beside the database: every running server holds a shared
/// lock on it; a restore needs it exclusively.
fn lock_path(database: &Path) -> PathBuf {
    let mut name = database.as_os_str().to_owned();
    name.push(".lock");
    PathBuf::from(name)
}

/// Held by a running server for its lifetime (several may share it).
pub struct ServerLock(#[allow(dead_code)] std::fs::File);

/// Takes the shared lock of a SQLite database; `None` for PostgreSQL.
pub fn hold(database_url: &str) -> anyhow::Result<Option<ServerLock>> {
    let Some(database) = sqlite_file(database_url) else {
        return Ok(None);
    };
    let path = lock_path(&database);
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .with_context(|| format!("cannot open {}", path.display()))?;
    file.lock_shared()
        .with_context(|| format!("cannot lock {}", path.display()))?;
    Ok(Some(ServerLock(file)))
}

/// Writes a consistent copy of the database to `target`, which must not
/// exist. Works while the server runs.
pub async fn backup(db: &Db, database_url: &str, target: &Path) -> anyhow::Result<()> {
    if sqlite_file(database_url).is_none() {
        bail!(
            "backups here are for the SQLite database; for PostgreSQL use pg_dump (see README, \"Operating Keyward\")"
        );
    }
    if target.exists() {
        bail!("{} exists already: choose a new file", target.display());
    }
    // Written under a temporary name and renamed, so a file with the final
    // name is always a whole backup.
    let partial = target.with_extension("partial");
    let _ = std::fs::remove_file(&partial);
    // Readable by its owner alone from its first byte (VACUUM INTO writes
    // into an empty file it finds), and without the console's sessions.
    crate::storage::keep_private(&partial)?;
    db.vacuum_into(&partial).await?;
    Db::scrub_sessions(&partial).await?;
    std::fs::rename(&partial, target)
        .with_context(|| format!("cannot move the backup to {}", target.display()))?;
    Ok(())
}

/// Replaces the SQLite database with `source`, after checking it. Refused
/// while any server has the database open.
pub async fn restore(database_url: &str, source: &Path) -> anyhow::Result<()> {
    let Some(database) = sqlite_file(database_url) else {
        bail!("restore is for the SQLite database; for PostgreSQL use pg_restore or psql");
    };
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(lock_path(&database))
        .context("cannot open the database's lock file")?;
    if lock.try_lock().is_err() {
        bail!(
            "a Keyward server is running on {}: stop every server using it, then restore",
            database.display()
        );
    }
    if !source.is_file() {
        bail!("{} is not a file", source.display());
    }
    let verdict = Db::integrity_of(source).await?;
    if verdict != "ok" {
        bail!("{} fails its integrity check: {verdict}", source.display());
    }
    for journal in crate::storage::journal_files(&database) {
        let _ = std::fs::remove_file(journal);
    }
    // Copied into a private file (`fs::copy` would give it the source's mode).
    crate::storage::keep_private(&database)?;
    let mut from =
        std::fs::File::open(source).with_context(|| format!("cannot read {}", source.display()))?;
    let mut to = std::fs::OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(&database)
        .with_context(|| format!("cannot write {}", database.display()))?;
    std::io::copy(&mut from, &mut to)
        .with_context(|| format!("cannot write {}", database.display()))?;
    to.sync_all()
        .with_context(|| format!("cannot write {}", database.display()))?;
    drop(lock);
    Ok(())
}

/// One scheduled backup: a new file in `dir`, then the oldest removed until
/// `keep` are left. Returns the new file.
pub async fn into_folder(
    db: &Db,
    database_url: &str,
    dir: &Path,
    keep: usize,
) -> anyhow::Result<PathBuf> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let stamp = time::OffsetDateTime::now_utc()
        .format(time::macros::format_description!(
            "[year][month][day]T[hour][minute][second].[subsecond digits:3]Z"
        ))
        .unwrap_or_default();
    let file = dir.join(format!("keyward-{stamp}.db"));
    backup(db, database_url, &file).await?;
    let mut taken: Vec<PathBuf> = std::fs::read_dir(dir)?
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("keyward-") && n.ends_with(".db"))
        })
        .collect();
    taken.sort();
    let excess = taken.len().saturating_sub(keep.max(1));
    for old in &taken[..excess] {
        std::fs::remove_file(old).with_context(|| format!("cannot remove {}", old.display()))?;
    }
    Ok(file)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn periods_and_files() {
        assert_eq!(
            sqlite_file("sqlite:///var/lib/keyward/keyward.db?mode=rwc"),
            Some(PathBuf::from("/var/lib/keyward/keyward.db"))
        );
        assert_eq!(
            sqlite_file("sqlite://keyward.db"),
            Some(PathBuf::from("keyward.db"))
        );
        assert_eq!(sqlite_file("postgres://db/keyward"), None);
        assert_eq!(sqlite_file("sqlite::memory:"), None);
    }
}
