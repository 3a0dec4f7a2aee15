//! Copies of the database made with SQLite's online backup API, so a copy is
//! consistent while the appliance keeps writing: `lotse backup` / `lotse restore`, and
//! the automatic copy before every migration (kept in `DATA/backups/`, newest
//! [`KEEP`] only).

use std::path::{Path, PathBuf};

use rusqlite::{Connection, MAIN_DB, OpenFlags};

use super::{Result, StorageError, schema_version};

/// Automatic backups kept in `DATA/backups/`.
pub const KEEP: usize = 5;

/// Copies the database at `db` into `dest` (written beside and renamed, so `dest` is
/// either the old file or a complete copy).
pub fn backup(db: &Path, dest: &Path) -> Result<()> {
    let src = Connection::open_with_flags(
        db,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    backup_conn(&src, dest)
}

fn backup_conn(src: &Connection, dest: &Path) -> Result<()> {
    let tmp = dest.with_extension("partial");
    let _ = std::fs::remove_file(&tmp);
    src.backup(MAIN_DB, &tmp, None)?;
    // The copy is a single file: no WAL beside it.
    {
        let c = Connection::open(&tmp)?;
        c.pragma_update(None, "journal_mode", "DELETE")?;
    }
    let io = |e: std::io::Error| StorageError::Malformed(format!("{}: {e}", dest.display()));
    std::fs::File::open(&tmp)
        .and_then(|f| f.sync_all())
        .map_err(io)?;
    std::fs::rename(&tmp, dest).map_err(io)?;
    Ok(())
}

/// The schema version of a backup file, after checking it is an intact database.
pub fn check(file: &Path) -> Result<i64> {
    if !file.is_file() {
        return Err(StorageError::Malformed(format!(
            "{} is not a file",
            file.display()
        )));
    }
    let c = Connection::open_with_flags(
        file,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    let ok: String = c
        .query_row("PRAGMA quick_check", [], |r| r.get(0))
        .map_err(|e| StorageError::Corrupt {
            path: file.to_path_buf(),
            detail: e.to_string(),
        })?;
    if ok != "ok" {
        return Err(StorageError::Corrupt {
            path: file.to_path_buf(),
            detail: ok,
        });
    }
    Ok(c.pragma_query_value(None, "user_version", |r| r.get(0))?)
}

/// Replaces the database at `db` with the backup `from`. Refuses a backup from a newer
/// schema than this build knows (and a damaged one) before touching anything; the
/// current database is first copied to `DATA/backups/`. The appliance must be stopped.
pub fn restore(from: &Path, db: &Path) -> Result<Option<PathBuf>> {
    let found = check(from)?;
    let supported = schema_version();
    if found > supported {
        return Err(StorageError::TooNew {
            path: from.to_path_buf(),
            found,
            supported,
        });
    }
    let saved = if db.exists() {
        // A database too damaged to copy (what a failed update may leave) is moved aside.
        Some(automatic(db, "before-restore").or_else(|_| set_aside(db))?)
    } else {
        None
    };
    let src = Connection::open_with_flags(
        from,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    let mut dst = Connection::open(db)?;
    dst.pragma_update(None, "journal_mode", "WAL")?;
    dst.restore(MAIN_DB, from, None::<fn(rusqlite::backup::Progress)>)?;
    drop(src);
    dst.pragma_update(None, "wal_checkpoint", "TRUNCATE")?;
    Ok(saved)
}

/// Moves a damaged database (and its WAL) into `DATA/backups/NNNN-damaged.db`.
fn set_aside(db: &Path) -> Result<PathBuf> {
    let dir = db.parent().unwrap_or(Path::new(".")).join("backups");
    let io = |e: std::io::Error| StorageError::Malformed(format!("{}: {e}", db.display()));
    std::fs::create_dir_all(&dir).map_err(io)?;
    let next = numbered(&dir).last().map(|(n, _)| n + 1).unwrap_or(1);
    let dest = dir.join(format!("{next:04}-damaged.db"));
    std::fs::rename(db, &dest).map_err(io)?;
    for ext in ["-wal", "-shm"] {
        let side = PathBuf::from(format!("{}{ext}", db.display()));
        if side.exists() {
            let _ = std::fs::rename(&side, PathBuf::from(format!("{}{ext}", dest.display())));
        }
    }
    Ok(dest)
}

/// A numbered copy in `DATA/backups/` (`NNNN-<why>.db`); the oldest beyond [`KEEP`] go.
pub fn automatic(db: &Path, why: &str) -> Result<PathBuf> {
    let src = Connection::open_with_flags(
        db,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    automatic_from(&src, db, why)
}

pub(super) fn automatic_from(src: &Connection, db: &Path, why: &str) -> Result<PathBuf> {
    let dir = db.parent().unwrap_or(Path::new(".")).join("backups");
    let io = |e: std::io::Error| StorageError::Malformed(format!("{}: {e}", dir.display()));
    std::fs::create_dir_all(&dir).map_err(io)?;
    let mut numbered = numbered(&dir);
    let next = numbered.last().map(|(n, _)| n + 1).unwrap_or(1);
    let dest = dir.join(format!("{next:04}-{why}.db"));
    backup_conn(src, &dest)?;
    numbered.push((next, dest.clone()));
    while numbered.len() > KEEP {
        let (_, old) = numbered.remove(0);
        let _ = std::fs::remove_file(old);
    }
    Ok(dest)
}

/// The automatic backups in `dir`, oldest first.
pub fn numbered(dir: &Path) -> Vec<(u32, PathBuf)> {
    let mut out: Vec<(u32, PathBuf)> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().to_string();
            let n: u32 = name.get(..4)?.parse().ok()?;
            name.ends_with(".db").then(|| (n, e.path()))
        })
        .collect();
    out.sort();
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::open_connection;

    fn db_with_row(dir: &Path) -> PathBuf {
        let p = dir.join("lotse.db");
        let c = open_connection(&p).unwrap();
        c.execute_batch(
            "CREATE TABLE IF NOT EXISTS probe (x TEXT); INSERT INTO probe VALUES ('before');",
        )
        .unwrap();
        p
    }

    #[test]
    fn backup_and_restore_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let db = db_with_row(dir.path());
        let copy = dir.path().join("copy.db");
        // Online: the source connection stays open and keeps writing.
        let live = Connection::open(&db).unwrap();
        backup(&db, &copy).unwrap();
        live.execute("INSERT INTO probe VALUES ('after')", [])
            .unwrap();
        drop(live);
        assert_eq!(check(&copy).unwrap(), schema_version());

        let saved = restore(&copy, &db).unwrap().unwrap();
        let c = Connection::open(&db).unwrap();
        let n: i64 = c
            .query_row("SELECT count(*) FROM probe", [], |r| r.get(0))
            .unwrap();
        assert_eq!(n, 1, "the row written after the backup is gone");
        // The replaced database was kept.
        let old = Connection::open(&saved).unwrap();
        let n: i64 = old
            .query_row("SELECT count(*) FROM probe", [], |r| r.get(0))
            .unwrap();
        assert_eq!(n, 2);
    }

    #[test]
    fn a_newer_or_damaged_backup_is_refused_and_changes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let db = db_with_row(dir.path());
        let before = std::fs::read(&db).unwrap();
        let newer = dir.path().join("newer.db");
        backup(&db, &newer).unwrap();
        Connection::open(&newer)
            .unwrap()
            .pragma_update(None, "user_version", 99)
            .unwrap();
        assert!(matches!(
            restore(&newer, &db),
            Err(StorageError::TooNew { found: 99, .. })
        ));
        let junk = dir.path().join("junk.db");
        std::fs::write(
            &junk,
            b"this is not a database at all, not even close......",
        )
        .unwrap();
        assert!(restore(&junk, &db).is_err());
        assert_eq!(std::fs::read(&db).unwrap(), before);
        assert!(!dir.path().join("backups").exists());
    }

    #[test]
    fn a_migration_is_preceded_by_a_backup() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("lotse.db");
        {
            let mut c = Connection::open(&p).unwrap();
            crate::storage::migrations().to_version(&mut c, 1).unwrap();
        }
        open_connection(&p).unwrap();
        let kept = numbered(&dir.path().join("backups"));
        assert_eq!(kept.len(), 1, "{kept:?}");
        assert_eq!(check(&kept[0].1).unwrap(), 1);
        // Opening an up-to-date database makes no copy.
        open_connection(&p).unwrap();
        assert_eq!(numbered(&dir.path().join("backups")).len(), 1);
    }

    #[test]
    fn a_damaged_database_is_set_aside_by_restore() {
        let dir = tempfile::tempdir().unwrap();
        let db = db_with_row(dir.path());
        let copy = dir.path().join("copy.db");
        backup(&db, &copy).unwrap();
        std::fs::write(&db, b"not a database any more").unwrap();
        let saved = restore(&copy, &db).unwrap().unwrap();
        assert!(saved.ends_with("0001-damaged.db"), "{saved:?}");
        let c = Connection::open(&db).unwrap();
        let n: i64 = c
            .query_row("SELECT count(*) FROM probe", [], |r| r.get(0))
            .unwrap();
        assert_eq!(n, 1);
    }

    #[test]
    fn automatic_backups_rotate() {
        let dir = tempfile::tempdir().unwrap();
        let db = db_with_row(dir.path());
        for _ in 0..(KEEP + 3) {
            automatic(&db, "test").unwrap();
        }
        let kept = numbered(&dir.path().join("backups"));
        assert_eq!(kept.len(), KEEP);
        assert_eq!(kept[0].0, 4);
        assert!(
            kept.last()
                .unwrap()
                .1
                .ends_with(format!("{:04}-test.db", KEEP + 3))
        );
    }
}
