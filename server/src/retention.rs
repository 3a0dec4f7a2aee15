//! The retention purge: personal data leaves the appliance once it is no longer needed.
//!
//! Personal data is `visitor_data` (surname, given names, birth date, nationality),
//! `tickets.appointment_ref` and `visitor_card`, and the outbox payloads that carry them. A visit's
//! personal data goes
//! - at the end of the Berlin day `personal_data_days_after_delivery` days after the
//!   last of its events reached the case system (default: the end of the next day),
//!   once the visit is closed and nothing of it is still undelivered; or
//! - at the start of the Berlin day `max_days` (at most 90) days after arrival, whatever
//!   happened: undelivered events of such a visit are deleted with a record in the
//!   audit log (counts and visit ids).
//!
//! All periods end at a Berlin midnight, so the job (every 15 minutes) deletes, and
//! rebuilds the file, about once a day instead of a little every run.
//!
//! "Delivered" follows how the case system is connected: pushed rows are delivered
//! when the receiver answered 2xx (`delivered_at`); with the pull feed only, a row
//! is delivered when the feed acknowledged its cursor (its creation time counts, the
//! ack time is not stored); with no case system nobody waits, so creation counts.
//!
//! Tickets (no personal data left on them) and the audit log go after
//! `technical_days`; statistics are kept elsewhere as aggregates.
//!
//! After deleting, the WAL is checkpointed and truncated and the file is rebuilt with
//! `VACUUM`; with `secure_delete` on (set for every connection in `storage`), deleted
//! bytes are not left in free pages, the WAL or the file.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, NaiveTime, TimeZone, Utc};
use serde::Serialize;
use tokio::sync::watch;

use crate::clock::{Clock, TZ, from_ms, service_day, to_ms};
use crate::config::RetentionSettings;
use crate::storage::{Db, StorageError, Tx};

/// How often the appliance runs the purge (and once at start).
pub const EVERY: Duration = Duration::from_secs(15 * 60);

const DAY_MS: i64 = 86_400_000;

/// How the case system receives events; decides what counts as delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    /// Pushed as webhooks: delivered when the receiver answered 2xx.
    Push,
    /// Pulled from the feed: delivered when the feed acknowledged the cursor.
    Pull,
    /// No case system: nothing waits for the events.
    None,
}

impl Delivery {
    pub fn of(settings: &crate::config::Settings) -> Delivery {
        Self::of_case_system(settings.case_system.as_ref())
    }

    /// For the case-system settings in effect (`outbox::Live::current`).
    pub fn of_case_system(cs: Option<&crate::config::CaseSystemSettings>) -> Delivery {
        match cs {
            Some(c) if c.url.is_some() => Delivery::Push,
            Some(c) if c.feed_token.is_some() => Delivery::Pull,
            _ => Delivery::None,
        }
    }
}

/// What one purge run removed.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct Report {
    /// Visits whose personal data was removed.
    pub visits: usize,
    /// Of those, visits that reached `max_days` (undelivered or still open).
    pub visits_at_max_days: usize,
    pub visitor_data_rows: usize,
    pub appointment_refs: usize,
    pub outbox_delivered_deleted: usize,
    /// Events the case system never received, deleted at `max_days`.
    pub outbox_undelivered_deleted: usize,
    pub tickets_deleted: usize,
    pub audit_entries_deleted: usize,
    /// Whether the WAL was checkpointed and truncated completely.
    pub wal_truncated: bool,
    pub vacuumed: bool,
}

impl Report {
    fn deleted_anything(&self) -> bool {
        self.visits + self.tickets_deleted + self.audit_entries_deleted > 0
    }
}

/// The first moment of the Berlin day `days` after the day of `t`.
fn start_of_berlin_day_after(t: DateTime<Utc>, days: u32) -> DateTime<Utc> {
    let day = service_day(t) + chrono::Days::new(u64::from(days));
    let midnight = day.and_time(NaiveTime::MIN);
    TZ.from_local_datetime(&midnight)
        .earliest()
        .map(|d| d.with_timezone(&Utc))
        // Berlin has no DST change at midnight; a day later is the safe fallback.
        .unwrap_or(t + chrono::Duration::days(i64::from(days) + 1))
}

/// When personal data of a visit whose last delivery (or closing) was at `settled`
/// may be deleted: the end of the Berlin day `days_after` days later.
pub fn personal_data_due(settled: DateTime<Utc>, days_after: u32) -> DateTime<Utc> {
    start_of_berlin_day_after(settled, days_after.saturating_add(1))
}

struct Visit {
    key: String,
    arrived_at: i64,
}

/// SQL condition for an outbox row (alias `o`) that the case system has received.
fn delivered_sql(d: Delivery) -> &'static str {
    match d {
        Delivery::Push => "o.state = 'delivered'",
        Delivery::Pull => {
            "(o.state = 'delivered' OR o.seq <= coalesce((SELECT CAST(value AS INTEGER) FROM outbox_meta WHERE key = 'feed_ack'), 0))"
        }
        Delivery::None => "1",
    }
}

/// Deletes what is due at `tx.now`, inside the caller's transaction, and records the
/// run in the audit log (when it deleted something, or `actor` is not the system).
pub fn purge(
    tx: &mut Tx<'_>,
    r: &RetentionSettings,
    delivery: Delivery,
    actor: &str,
) -> Result<Report, StorageError> {
    let now = to_ms(tx.now);
    let max_days = r.max_days.min(crate::config::RETENTION_MAX_DAYS);
    let mut report = Report::default();
    // Visits with personal data; a ticket without a visit id is its own visit.
    let visits: Vec<Visit> = {
        let mut stmt = tx.conn.prepare(
            "SELECT coalesce(t.visit_id, 'ticket:' || t.id) AS k, min(t.arrived_at)
               FROM tickets t
              WHERE t.appointment_ref IS NOT NULL
                 OR t.visitor_card IS NOT NULL
                 OR EXISTS (SELECT 1 FROM visitor_data v WHERE v.ticket_id = t.id)
              GROUP BY k",
        )?;
        let rows = stmt.query_map([], |row| {
            Ok(Visit {
                key: row.get(0)?,
                arrived_at: row.get(1)?,
            })
        })?;
        rows.collect::<rusqlite::Result<_>>()?
    };
    let delivered = delivered_sql(delivery);
    let mut expired_visit_ids = Vec::new();
    for v in visits {
        // The visit's tickets by the indexed column: its visit id, or the ticket's own id.
        let (mine, key): (&str, rusqlite::types::Value) = match v.key.strip_prefix("ticket:") {
            Some(id) => ("id = ?1", id.parse::<i64>().unwrap_or(-1).into()),
            None => ("visit_id = ?1", v.key.clone().into()),
        };
        let tickets_of = format!("(SELECT id FROM tickets WHERE {mine})");
        // The whole visit (first arrival) counts, also for a transferred ticket.
        let arrived: i64 = tx.conn.query_row(
            &format!("SELECT min(arrived_at) FROM tickets WHERE {mine}"),
            [&key],
            |row| row.get(0),
        )?;
        // Due at the start of the Berlin day `max_days` after arrival: never later
        // than `max_days`, and every due visit goes in the first run after midnight.
        let at_max = to_ms(start_of_berlin_day_after(
            from_ms(arrived.min(v.arrived_at)),
            max_days,
        )) <= now;
        let due = at_max || {
            let open: i64 = tx.conn.query_row(
                &format!(
                    "SELECT count(*) FROM tickets WHERE {mine}
                            AND status IN ('waiting', 'called', 'serving')"
                ),
                [&key],
                |row| row.get(0),
            )?;
            let (undelivered, last_delivered): (i64, Option<i64>) = tx.conn.query_row(
                &format!(
                    "SELECT count(*) FILTER (WHERE NOT ({delivered})),
                            max(coalesce(o.delivered_at, o.created_at)) FILTER (WHERE {delivered})
                       FROM outbox o WHERE o.visit_id = ?1"
                ),
                [&v.key],
                |row| Ok((row.get(0)?, row.get(1)?)),
            )?;
            let finished: Option<i64> = tx.conn.query_row(
                &format!("SELECT max(finished_at) FROM tickets WHERE {mine}"),
                [&key],
                |row| row.get(0),
            )?;
            let settled = last_delivered.max(finished);
            open == 0
                && undelivered == 0
                && settled.is_some_and(|s| {
                    to_ms(personal_data_due(
                        from_ms(s),
                        r.personal_data_days_after_delivery,
                    )) <= now
                })
        };
        if !due {
            continue;
        }
        report.visits += 1;
        report.visitor_data_rows += tx.conn.execute(
            &format!("DELETE FROM visitor_data WHERE ticket_id IN {tickets_of}"),
            [&key],
        )?;
        report.appointment_refs += tx.conn.execute(
            &format!(
                "UPDATE tickets SET appointment_ref = NULL, visitor_card = NULL
                  WHERE (appointment_ref IS NOT NULL OR visitor_card IS NOT NULL)
                    AND id IN {tickets_of}"
            ),
            [&key],
        )?;
        report.outbox_delivered_deleted += tx.conn.execute(
            &format!("DELETE FROM outbox AS o WHERE o.visit_id = ?1 AND {delivered}"),
            [&v.key],
        )?;
        let undelivered = tx
            .conn
            .execute("DELETE FROM outbox WHERE visit_id = ?1", [&v.key])?;
        if at_max {
            report.visits_at_max_days += 1;
        }
        if undelivered > 0 {
            report.outbox_undelivered_deleted += undelivered;
            expired_visit_ids.push(v.key.clone());
        }
    }
    // Whole Berlin days, so old rows go in one batch (one VACUUM) after midnight.
    let technical_cutoff = to_ms(start_of_berlin_day_after(
        from_ms(now - i64::from(r.technical_days) * DAY_MS),
        0,
    ));
    report.tickets_deleted = tx.conn.execute(
        "DELETE FROM tickets WHERE arrived_at < ?1",
        [technical_cutoff],
    )?;
    let old_day = service_day(from_ms(technical_cutoff)).to_string();
    tx.conn
        .execute("DELETE FROM day_sequences WHERE day < ?1", [old_day])?;
    report.audit_entries_deleted = crate::audit::prune(tx, technical_cutoff)?;
    if report.outbox_undelivered_deleted > 0 {
        tracing::warn!(
            "retention: deleted {} case-system events that were never delivered (visits {}), because their visits reached {} days",
            report.outbox_undelivered_deleted,
            expired_visit_ids.join(", "),
            r.max_days
        );
        crate::audit::record(
            tx,
            actor,
            "retention.undelivered_deleted",
            "outbox",
            &format!(
                "{} undelivered events of visits {} deleted after {} days",
                report.outbox_undelivered_deleted,
                expired_visit_ids.join(", "),
                r.max_days
            ),
        )?;
    }
    if report.deleted_anything() || actor != crate::audit::SYSTEM {
        crate::audit::record(
            tx,
            actor,
            "retention.purged",
            "personal data",
            &format!(
                "{} visits ({} at max_days), {} visitor records, {} appointment refs, {} delivered and {} undelivered outbox events, {} tickets, {} audit entries",
                report.visits,
                report.visits_at_max_days,
                report.visitor_data_rows,
                report.appointment_refs,
                report.outbox_delivered_deleted,
                report.outbox_undelivered_deleted,
                report.tickets_deleted,
                report.audit_entries_deleted
            ),
        )?;
    }
    Ok(report)
}

/// Checkpoints the WAL into the file and truncates it to zero bytes; `true` when
/// nothing held it back.
fn checkpoint(conn: &rusqlite::Connection) -> Result<bool, StorageError> {
    let busy: i64 = conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| r.get(0))?;
    Ok(busy == 0)
}

/// One purge: the deletions in a transaction, then (when something was deleted, or
/// `force`) checkpoint, `VACUUM`, checkpoint, so the bytes are gone from the disk.
pub async fn run(
    db: &Db,
    config: RetentionSettings,
    delivery: Delivery,
    actor: &str,
    force_vacuum: bool,
) -> Result<Report, StorageError> {
    let actor = actor.to_string();
    let mut report = db
        .run(move |tx| {
            let r = crate::settings_store::retention(tx, config)?;
            purge(tx, &r, delivery, &actor)
        })
        .await?;
    if report.deleted_anything() || force_vacuum {
        let (truncated, vacuumed) = db
            .outside_transaction(|conn| {
                checkpoint(conn)?;
                conn.execute_batch("VACUUM")?;
                let t = checkpoint(conn)?;
                Ok((t, true))
            })
            .await?;
        report.wal_truncated = truncated;
        report.vacuumed = vacuumed;
    }
    Ok(report)
}

/// The appliance's purge job: once at start, then every [`EVERY`] until shutdown.
/// `delivery` is asked at every run: the case-system settings can change meanwhile.
pub fn spawn(
    db: Db,
    config: RetentionSettings,
    delivery: impl Fn() -> Delivery + Send + 'static,
    mut shutdown: watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(EVERY);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = shutdown.changed() => return,
            }
            match run(&db, config, delivery(), crate::audit::SYSTEM, false).await {
                Ok(r) if r.deleted_anything() => tracing::info!("retention purge: {r:?}"),
                Ok(_) => {}
                Err(StorageError::Closed) => return,
                Err(e) => tracing::error!("retention purge failed: {e}"),
            }
        }
    })
}

/// `lotse purge`: opens the database of a stopped (or running) appliance, purges as of
/// `clock`'s time and always checkpoints and vacuums.
pub async fn run_offline(
    db_path: &std::path::Path,
    settings: &crate::config::Settings,
    clock: Arc<dyn Clock>,
) -> Result<Report, StorageError> {
    let db = Db::open(db_path, clock, |_| {})?;
    let out = run(
        &db,
        settings.retention,
        Delivery::of(settings),
        "operator:lotse-purge",
        true,
    )
    .await;
    db.close().await;
    out
}

#[cfg(test)]
mod tests;
