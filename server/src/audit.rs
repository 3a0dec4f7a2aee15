//! The audit log of staff actions: who called, recalled, transferred, cancelled, changed
//! which setting, replayed which dead letter, and when.
//!
//! Entries are written inside the transaction of the action they describe, so the log
//! never claims an action that was rolled back and never misses one that committed.
//! They name tickets by number and id, counters and setting keys, never a visitor:
//! the log itself must stay free of personal data (it outlives the retention purge).

use rusqlite::params;
use serde::Serialize;
use utoipa::ToSchema;

use crate::clock::{from_ms, to_ms};
use crate::storage::{StorageError, Tx};

/// Actor of work the appliance does on its own (purge runs, start-up).
pub const SYSTEM: &str = "system";
/// Actor of a request that carried no checked identity (before staff login exists).
pub const UNKNOWN: &str = "unknown";

/// The actor of a GPIO desk button.
pub fn button(counter: &str) -> String {
    format!("button:{counter}")
}

/// One line of the audit log as the admin API shows it.
#[derive(Debug, Clone, Serialize, ToSchema, PartialEq, Eq)]
pub struct AuditEntry {
    pub id: i64,
    pub at: chrono::DateTime<chrono::Utc>,
    /// Account name, `token:<name>`, `button:<counter>` or `system`.
    pub actor: String,
    /// E.g. `ticket.called`, `ticket.transferred`, `setting.changed`, `retention.purged`.
    pub action: String,
    /// What the action was done to: `ticket A-001 (#12)`, `counter c1`, `setting services`.
    pub target: String,
    /// Further facts without personal data: counts, counter, target service.
    pub detail: String,
}

/// Appends one entry inside the caller's transaction.
pub fn record(
    tx: &Tx<'_>,
    actor: &str,
    action: &str,
    target: &str,
    detail: &str,
) -> Result<(), StorageError> {
    tx.conn
        .prepare_cached(
            "INSERT INTO audit_log (at, actor, action, target, detail) VALUES (?1, ?2, ?3, ?4, ?5)",
        )?
        .execute(params![to_ms(tx.now), actor, action, target, detail])?;
    Ok(())
}

/// The target text of a ticket: its number and id, nothing about the visitor.
pub fn ticket_target(number: &str, id: i64) -> String {
    format!("ticket {number} (#{id})")
}

/// Entries with `from <= at < to`, newest first, at most `limit`.
pub fn list(
    tx: &Tx<'_>,
    from: Option<i64>,
    to: Option<i64>,
    limit: u32,
) -> Result<Vec<AuditEntry>, StorageError> {
    let mut stmt = tx.conn.prepare_cached(
        "SELECT id, at, actor, action, target, detail FROM audit_log
          WHERE at >= ?1 AND at < ?2 ORDER BY id DESC LIMIT ?3",
    )?;
    let rows = stmt.query_map(
        params![from.unwrap_or(i64::MIN), to.unwrap_or(i64::MAX), limit],
        |r| {
            Ok(AuditEntry {
                id: r.get(0)?,
                at: from_ms(r.get(1)?),
                actor: r.get(2)?,
                action: r.get(3)?,
                target: r.get(4)?,
                detail: r.get(5)?,
            })
        },
    )?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// Drops entries older than `before` (ms); the log is kept longer than tickets.
pub fn prune(tx: &Tx<'_>, before: i64) -> Result<usize, StorageError> {
    Ok(tx
        .conn
        .execute("DELETE FROM audit_log WHERE at < ?1", [before])?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;
    use crate::storage::Db;
    use chrono::TimeZone;
    use std::sync::Arc;

    #[tokio::test]
    async fn entries_are_listed_newest_first_within_the_range() {
        let dir = tempfile::tempdir().unwrap();
        let t0 = chrono::Utc.with_ymd_and_hms(2026, 3, 2, 8, 0, 0).unwrap();
        let clock = Arc::new(ManualClock::new(t0));
        let db = Db::open(&dir.path().join("lotse.db"), clock.clone(), |_| {}).unwrap();
        for (i, action) in ["ticket.called", "ticket.started", "ticket.done"]
            .into_iter()
            .enumerate()
        {
            db.run(move |tx| record(tx, "anna", action, &ticket_target("A-001", 1), ""))
                .await
                .unwrap();
            clock.advance(chrono::Duration::minutes(10 * (i as i64 + 1)));
        }
        let all = db.run(|tx| list(tx, None, None, 100)).await.unwrap();
        assert_eq!(
            all.iter().map(|e| e.action.as_str()).collect::<Vec<_>>(),
            ["ticket.done", "ticket.started", "ticket.called"]
        );
        assert_eq!(all[2].target, "ticket A-001 (#1)");
        let from = to_ms(t0) + 1;
        let to = to_ms(t0 + chrono::Duration::minutes(30));
        let some = db
            .run(move |tx| list(tx, Some(from), Some(to), 100))
            .await
            .unwrap();
        assert_eq!(some.len(), 1);
        assert_eq!(some[0].action, "ticket.started");
        let one = db.run(|tx| list(tx, None, None, 1)).await.unwrap();
        assert_eq!(one[0].action, "ticket.done");
    }
}
