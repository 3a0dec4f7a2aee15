//! The SQLite database, owned by one thread.
//!
//! Every write runs on the database thread inside `BEGIN IMMEDIATE … COMMIT`, so a
//! state change and its event record commit together and call-next is atomic. Jobs
//! that arrive while a commit is in flight are grouped into the next transaction
//! (each inside its own savepoint), which turns one `fsync` per request into one per
//! batch: that is how `synchronous=FULL` still sustains hundreds of check-ins a second.
//! Callers are answered only after COMMIT returned, so a 201 means "on disk".

use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OpenFlags};
use rusqlite_migration::{M, Migrations};
use tokio::sync::oneshot;

use crate::clock::Clock;

pub mod backup;

#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error(
        "the database {path} was written by a newer Lotse (schema version {found}, this version knows up to {supported}); install the newer version or restore a backup"
    )]
    TooNew {
        path: PathBuf,
        found: i64,
        supported: i64,
    },
    #[error("the database {path} is damaged ({detail}); restore it from a backup")]
    Corrupt { path: PathBuf, detail: String },
    #[error("database migration failed: {0}")]
    Migration(String),
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("stored data is malformed: {0}")]
    Malformed(String),
    #[error("the database is closed")]
    Closed,
    #[error("the transaction could not be committed: {0}")]
    Commit(String),
}

pub type Result<T> = std::result::Result<T, StorageError>;

const MIGRATIONS_SQL: &[&str] = &[
    include_str!("migrations/0001_init.sql"),
    include_str!("migrations/0002_outbox.sql"),
    include_str!("migrations/0003_auth.sql"),
    include_str!("migrations/0004_retention_audit.sql"),
    include_str!("migrations/0005_stats.sql"),
    include_str!("migrations/0006_visitor_card.sql"),
];

fn migrations() -> Migrations<'static> {
    Migrations::new(MIGRATIONS_SQL.iter().map(|s| M::up(s)).collect())
}

/// A change that a committed transaction made, handed to the live event bus.
#[derive(Debug, Clone)]
pub struct CommittedEvent {
    pub id: i64,
    pub kind: String,
    pub at: i64,
    pub data: serde_json::Value,
}

/// What a job sees: the connection inside the open transaction, the time the job
/// started, and where to record events for publication after COMMIT.
pub struct Tx<'a> {
    pub conn: &'a Connection,
    pub now: DateTime<Utc>,
    events: &'a mut Vec<CommittedEvent>,
}

impl std::fmt::Debug for Tx<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tx").field("now", &self.now).finish()
    }
}

impl Tx<'_> {
    /// Appends to the event log; subscribers see it once the transaction commits.
    pub fn record_event(
        &mut self,
        kind: &str,
        ticket_id: Option<i64>,
        data: serde_json::Value,
    ) -> Result<i64> {
        let at = self.now.timestamp_millis();
        self.conn.execute(
            "INSERT INTO events (at, kind, ticket_id, data) VALUES (?1, ?2, ?3, ?4)",
            rusqlite::params![at, kind, ticket_id, data.to_string()],
        )?;
        let id = self.conn.last_insert_rowid();
        self.events.push(CommittedEvent {
            id,
            kind: kind.to_string(),
            at,
            data,
        });
        Ok(id)
    }
}

type Done = Box<dyn FnOnce(Result<()>) + Send>;
type Job = Box<dyn FnOnce(&mut Tx<'_>) -> Done + Send>;
/// Work that must run outside a transaction (`VACUUM`, WAL checkpoints).
type Outside = Box<dyn FnOnce(&Connection) + Send>;

enum Msg {
    Tx(Job),
    Outside(Outside),
}
type Publish = Box<dyn Fn(Vec<CommittedEvent>) + Send>;

/// Cloneable handle to the database thread.
#[derive(Clone, Debug)]
pub struct Db {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    sender: Mutex<Option<mpsc::Sender<Msg>>>,
    thread: Mutex<Option<JoinHandle<()>>>,
    path: PathBuf,
}

/// Most jobs a group commit takes; bounds the latency one batch adds.
const MAX_BATCH: usize = 256;

impl Db {
    /// Opens (creating if needed) and migrates the database, then starts its thread.
    /// `publish` receives the events of each committed batch, in commit order.
    pub fn open(
        path: &Path,
        clock: Arc<dyn Clock>,
        publish: impl Fn(Vec<CommittedEvent>) + Send + 'static,
    ) -> Result<Db> {
        let conn = open_connection(path)?;
        Ok(Self::start(
            conn,
            path.to_path_buf(),
            clock,
            Box::new(publish),
        ))
    }

    fn start(conn: Connection, path: PathBuf, clock: Arc<dyn Clock>, publish: Publish) -> Db {
        let (tx, rx) = mpsc::channel::<Msg>();
        let thread = std::thread::Builder::new()
            .name("lotse-db".into())
            .spawn(move || run(conn, rx, clock, publish))
            .ok();
        Db {
            inner: Arc::new(Inner {
                sender: Mutex::new(Some(tx)),
                thread: Mutex::new(thread),
                path,
            }),
        }
    }

    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// Runs `f` in a transaction on the database thread. If `f` fails, its changes
    /// (and its events) are rolled back and nothing else in the batch is affected.
    pub async fn run<T, E, F>(&self, f: F) -> std::result::Result<T, E>
    where
        F: FnOnce(&mut Tx<'_>) -> std::result::Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<StorageError> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let job: Job = Box::new(move |tx: &mut Tx<'_>| {
            let mark = tx.events.len();
            let outcome = match tx.conn.execute_batch("SAVEPOINT job") {
                Err(e) => Err(E::from(StorageError::from(e))),
                Ok(()) => {
                    let r = f(tx);
                    let end = if r.is_ok() {
                        tx.conn.execute_batch("RELEASE job")
                    } else {
                        tx.events.truncate(mark);
                        tx.conn.execute_batch("ROLLBACK TO job; RELEASE job")
                    };
                    match end {
                        Ok(()) => r,
                        Err(e) => Err(E::from(StorageError::from(e))),
                    }
                }
            };
            Box::new(move |committed: Result<()>| {
                let result = match committed {
                    Ok(()) => outcome,
                    Err(e) => Err(E::from(e)),
                };
                let _ = reply.send(result);
            })
        });
        if !self.send(Msg::Tx(job)) {
            return Err(E::from(StorageError::Closed));
        }
        answer
            .await
            .unwrap_or_else(|_| Err(E::from(StorageError::Closed)))
    }

    fn send(&self, msg: Msg) -> bool {
        let guard = self.inner.sender.lock().unwrap_or_else(|e| e.into_inner());
        match guard.as_ref() {
            Some(s) => s.send(msg).is_ok(),
            None => false,
        }
    }

    /// Runs `f` on the database thread between transactions, for statements SQLite
    /// refuses inside one (`VACUUM`, `PRAGMA wal_checkpoint`). Other work waits.
    pub async fn outside_transaction<T, F>(&self, f: F) -> Result<T>
    where
        F: FnOnce(&Connection) -> Result<T> + Send + 'static,
        T: Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let job: Outside = Box::new(move |conn: &Connection| {
            let _ = reply.send(f(conn));
        });
        if !self.send(Msg::Outside(job)) {
            return Err(StorageError::Closed);
        }
        answer.await.unwrap_or(Err(StorageError::Closed))
    }

    /// Stops accepting work, lets queued jobs finish, checkpoints the WAL and closes
    /// the file. Safe to call more than once.
    pub async fn close(&self) {
        let sender = self
            .inner
            .sender
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        drop(sender);
        let thread = self
            .inner
            .thread
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some(t) = thread {
            let _ = tokio::task::spawn_blocking(move || t.join()).await;
        }
    }
}

fn run(conn: Connection, rx: mpsc::Receiver<Msg>, clock: Arc<dyn Clock>, publish: Publish) {
    let mut carried: Option<Msg> = None;
    loop {
        let first = match carried.take() {
            Some(m) => m,
            None => match rx.recv() {
                Ok(m) => m,
                Err(_) => break,
            },
        };
        let first = match first {
            Msg::Outside(f) => {
                f(&conn);
                continue;
            }
            Msg::Tx(j) => j,
        };
        let mut jobs = vec![first];
        while jobs.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(Msg::Tx(j)) => jobs.push(j),
                Ok(other) => {
                    // Runs after this batch has committed.
                    carried = Some(other);
                    break;
                }
                Err(_) => break,
            }
        }
        let mut events = Vec::new();
        let begun = conn.execute_batch("BEGIN IMMEDIATE");
        if let Err(e) = begun {
            // Dropping a job drops its reply channel: the caller sees `Closed`.
            tracing::error!("cannot begin a transaction: {e}");
            drop(jobs);
            continue;
        }
        let mut done = Vec::with_capacity(jobs.len());
        for job in jobs {
            let mut tx = Tx {
                conn: &conn,
                now: clock.now(),
                events: &mut events,
            };
            done.push(job(&mut tx));
        }
        let committed = conn.execute_batch("COMMIT").map_err(StorageError::from);
        let ok = committed.is_ok();
        if !ok {
            let _ = conn.execute_batch("ROLLBACK");
        }
        for d in done {
            d(match &committed {
                Ok(()) => Ok(()),
                Err(e) => Err(StorageError::Commit(e.to_string())),
            });
        }
        if ok && !events.is_empty() {
            publish(events);
        }
    }
    let _ = conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE)");
    let _ = conn.pragma_update(None, "optimize", "");
    if let Err((_, e)) = conn.close() {
        tracing::error!("closing the database failed: {e}");
    }
}

fn classify(path: &Path, e: rusqlite::Error) -> StorageError {
    match e.sqlite_error_code() {
        Some(rusqlite::ErrorCode::NotADatabase) | Some(rusqlite::ErrorCode::DatabaseCorrupt) => {
            StorageError::Corrupt {
                path: path.to_path_buf(),
                detail: e.to_string(),
            }
        }
        _ => StorageError::Sqlite(e),
    }
}

/// Opens the file with the pragmas every connection needs, refuses newer or damaged
/// databases, and migrates older ones.
pub fn open_connection(path: &Path) -> Result<Connection> {
    let mut conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    let setup = || -> rusqlite::Result<()> {
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        // Deleted rows are overwritten with zeros, so purged personal data does not
        // linger in free pages of the file (see `crate::retention`).
        conn.pragma_update(None, "secure_delete", "ON")?;
        Ok(())
    };
    setup().map_err(|e| classify(path, e))?;
    let check: String = conn
        .query_row("PRAGMA quick_check", [], |r| r.get(0))
        .map_err(|e| classify(path, e))?;
    if check != "ok" {
        return Err(StorageError::Corrupt {
            path: path.to_path_buf(),
            detail: check,
        });
    }
    let found: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    let supported = MIGRATIONS_SQL.len() as i64;
    if found > supported {
        return Err(StorageError::TooNew {
            path: path.to_path_buf(),
            found,
            supported,
        });
    }
    // A database with data is copied before its schema changes (DATA/backups/).
    if found > 0 && found < supported {
        let saved = backup::automatic_from(
            &conn,
            path,
            &format!("before-migration-v{found}-to-v{supported}"),
        )?;
        tracing::info!("database backed up to {} before migrating", saved.display());
    }
    migrations()
        .to_latest(&mut conn)
        .map_err(|e| StorageError::Migration(e.to_string()))?;
    Ok(conn)
}

/// The schema version this build writes.
pub fn schema_version() -> i64 {
    MIGRATIONS_SQL.len() as i64
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::SystemClock;

    #[test]
    fn migrations_are_valid() {
        assert!(migrations().validate().is_ok());
    }

    #[test]
    fn newer_database_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("lotse.db");
        {
            let c = Connection::open(&p).unwrap();
            c.pragma_update(None, "user_version", 99).unwrap();
        }
        let e = open_connection(&p).unwrap_err();
        assert!(matches!(e, StorageError::TooNew { found: 99, .. }), "{e}");
        assert!(e.to_string().contains("newer Lotse"));
    }

    #[test]
    fn garbage_file_is_reported_as_damaged() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("lotse.db");
        std::fs::write(&p, vec![0x42u8; 8192]).unwrap();
        let e = open_connection(&p).unwrap_err();
        assert!(matches!(e, StorageError::Corrupt { .. }), "{e}");
    }

    #[tokio::test]
    async fn failed_job_rolls_back_only_itself() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("lotse.db");
        let db = Db::open(&p, Arc::new(SystemClock), |_| {}).unwrap();
        let a = db.run(|tx| -> Result<()> {
            tx.conn
                .execute("INSERT INTO day_sequences VALUES ('d','A',1)", [])?;
            Ok(())
        });
        let b = db.run(|tx| -> Result<()> {
            tx.conn
                .execute("INSERT INTO day_sequences VALUES ('d','B',1)", [])?;
            Err(StorageError::Malformed("test".into()))
        });
        let (a, b) = tokio::join!(a, b);
        assert!(a.is_ok());
        assert!(b.is_err());
        let n: i64 = db
            .run(|tx| -> Result<i64> {
                Ok(tx
                    .conn
                    .query_row("SELECT count(*) FROM day_sequences", [], |r| r.get(0))?)
            })
            .await
            .unwrap();
        assert_eq!(n, 1);
        db.close().await;
        assert!(matches!(
            db.run(|_| -> Result<()> { Ok(()) }).await,
            Err(StorageError::Closed)
        ));
    }
}
