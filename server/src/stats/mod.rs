//! Statistics for the integration centre that outlive the purge of personal data.
//!
//! Aggregates per Berlin day and per hour are written incrementally in the same
//! transaction as each queue change ([`record_ticket`], called from
//! `queue::store::record_ticket_event`), by the print service ([`record_print_fallback`])
//! and by the outbox when a case-system event is delivered ([`record_delivery`]).
//! History is never read back from `tickets`, so deleting old tickets and visitor data
//! leaves every figure intact. Only counts and duration histograms are stored: no
//! names, birth dates or appointment references, so no export can contain them.
//!
//! Every figure belongs to the hour in which the visitor checked in (its cohort), so
//! rates such as "no-shows per check-in" stay consistent within a period.
//!
//! - [`hist`]: fixed-bucket duration histograms (median, p90, max over merged ranges);
//! - [`query`]: reports over a date range, by day or by hour; live figures;
//! - [`export`]: CSV for German Excel;
//! - [`charts`]: server-side SVG charts and the `/admin/stats` page;
//! - [`bench`]: a year of synthetic history and the time of a one-year query.

pub mod bench;
pub mod charts;
pub mod export;
pub mod hist;
pub mod query;

#[cfg(test)]
mod tests;

use chrono::{Datelike, Offset, Timelike};
use rusqlite::{Connection, OptionalExtension, params};

use crate::clock::{TZ, from_ms, to_ms};
use crate::queue::Ticket;
use crate::storage::{StorageError, Tx};
use hist::Histogram;

pub use query::{Granularity, Range, StatsError};

const HOUR_MS: i64 = 3_600_000;

/// One thing that happened, reduced to what the statistics keep. Times are
/// milliseconds since the epoch; `arrived_at` picks the hour the figure belongs to.
#[derive(Debug, Clone, PartialEq)]
pub enum Change<'a> {
    /// A visitor checked in at the kiosk (not a transfer's new ticket).
    CheckIn {
        service: &'a str,
        arrived_at: i64,
        language: &'a str,
        identification: &'a str,
    },
    /// A ticket was called for the first time, after `wait_s` in its service's queue.
    Call {
        service: &'a str,
        arrived_at: i64,
        counter: &'a str,
        wait_s: i64,
    },
    Done {
        service: &'a str,
        arrived_at: i64,
        service_s: i64,
    },
    NoShow {
        service: &'a str,
        arrived_at: i64,
    },
    Cancel {
        service: &'a str,
        arrived_at: i64,
    },
    /// Moved away from `service` to another concern.
    Transfer {
        service: &'a str,
        arrived_at: i64,
    },
    /// The ticket was not printed; the visitor read the number from the screen.
    PrintFallback {
        service: &'a str,
        arrived_at: i64,
    },
    /// A case-system event was delivered `delay_s` after it was written.
    Delivered {
        created_at: i64,
        delay_s: i64,
    },
}

/// Where an hour's figures are kept: its UTC start and its Berlin labels.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HourKey {
    pub hour_start: i64,
    pub day: String,
    pub local_hour: u32,
    pub utc_offset_min: i32,
    pub weekday: u32,
}

impl HourKey {
    pub fn of(ms: i64) -> HourKey {
        let hour_start = ms - ms.rem_euclid(HOUR_MS);
        let local = from_ms(hour_start).with_timezone(&TZ);
        HourKey {
            hour_start,
            day: local.date_naive().to_string(),
            local_hour: local.hour(),
            utc_offset_min: local.offset().fix().local_minus_utc() / 60,
            weekday: local.weekday().number_from_monday(),
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum Col {
    Checkins,
    Calls,
    Served,
    NoShows,
    Cancellations,
    Transfers,
    PrintFallbacks,
}

impl Col {
    fn name(self) -> &'static str {
        match self {
            Col::Checkins => "checkins",
            Col::Calls => "calls",
            Col::Served => "served",
            Col::NoShows => "no_shows",
            Col::Cancellations => "cancellations",
            Col::Transfers => "transfers",
            Col::PrintFallbacks => "print_fallbacks",
        }
    }
}

fn bump(conn: &Connection, k: &HourKey, service: &str, col: Col) -> Result<(), StorageError> {
    let c = col.name();
    conn.prepare_cached(&format!(
        "INSERT INTO stats_hour (hour_start, service_id, day, local_hour, utc_offset_min, weekday, {c})
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, 1)
         ON CONFLICT(hour_start, service_id) DO UPDATE SET {c} = {c} + 1"
    ))?
    .execute(params![
        k.hour_start,
        service,
        k.day,
        k.local_hour,
        k.utc_offset_min,
        k.weekday
    ])?;
    conn.prepare_cached(&format!(
        "INSERT INTO stats_day (day, service_id, {c}) VALUES (?1, ?2, 1)
         ON CONFLICT(day, service_id) DO UPDATE SET {c} = {c} + 1"
    ))?
    .execute(params![k.day, service])?;
    Ok(())
}

fn bump_dim(conn: &Connection, k: &HourKey, dim: &str, value: &str) -> Result<(), StorageError> {
    conn.prepare_cached(
        "INSERT INTO stats_hour_dim (hour_start, day, dimension, value, n) VALUES (?1, ?2, ?3, ?4, 1)
         ON CONFLICT(hour_start, dimension, value) DO UPDATE SET n = n + 1",
    )?
    .execute(params![k.hour_start, k.day, dim, value])?;
    conn.prepare_cached(
        "INSERT INTO stats_day_dim (day, dimension, value, n) VALUES (?1, ?2, ?3, 1)
         ON CONFLICT(day, dimension, value) DO UPDATE SET n = n + 1",
    )?
    .execute(params![k.day, dim, value])?;
    Ok(())
}

type HistRow = (u64, i64, i64, Vec<u8>);

fn updated(row: Option<HistRow>, seconds: i64) -> Result<Histogram, StorageError> {
    let mut h = match row {
        None => Histogram::default(),
        Some((n, sum, max, blob)) => Histogram::decode(&blob, n, sum, max)
            .ok_or_else(|| StorageError::Malformed("statistics histogram".into()))?,
    };
    h.add(seconds);
    Ok(h)
}

fn add_duration(
    conn: &Connection,
    k: &HourKey,
    service: &str,
    measure: &str,
    seconds: i64,
) -> Result<(), StorageError> {
    let row = |r: &rusqlite::Row<'_>| -> rusqlite::Result<HistRow> {
        Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
    };
    let old = conn
        .prepare_cached(
            "SELECT n, sum_s, max_s, buckets FROM stats_hour_hist
              WHERE hour_start = ?1 AND service_id = ?2 AND measure = ?3",
        )?
        .query_row(params![k.hour_start, service, measure], row)
        .optional()?;
    let h = updated(old, seconds)?;
    conn.prepare_cached(
        "INSERT OR REPLACE INTO stats_hour_hist
            (hour_start, service_id, measure, day, n, sum_s, max_s, buckets)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )?
    .execute(params![
        k.hour_start,
        service,
        measure,
        k.day,
        h.n as i64,
        h.sum_s,
        h.max_s,
        h.encode()
    ])?;
    let old = conn
        .prepare_cached(
            "SELECT n, sum_s, max_s, buckets FROM stats_day_hist
              WHERE day = ?1 AND service_id = ?2 AND measure = ?3",
        )?
        .query_row(params![k.day, service, measure], row)
        .optional()?;
    let h = updated(old, seconds)?;
    conn.prepare_cached(
        "INSERT OR REPLACE INTO stats_day_hist (day, service_id, measure, n, sum_s, max_s, buckets)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?
    .execute(params![
        k.day,
        service,
        measure,
        h.n as i64,
        h.sum_s,
        h.max_s,
        h.encode()
    ])?;
    Ok(())
}

/// Adds one change to the hour and day aggregates. Runs inside the caller's
/// transaction, so the figures commit (or roll back) with the change itself.
pub fn apply(conn: &Connection, change: &Change<'_>) -> Result<(), StorageError> {
    match *change {
        Change::CheckIn {
            service,
            arrived_at,
            language,
            identification,
        } => {
            let k = HourKey::of(arrived_at);
            bump(conn, &k, service, Col::Checkins)?;
            bump_dim(conn, &k, "language", language)?;
            bump_dim(conn, &k, "identification", identification)?;
        }
        Change::Call {
            service,
            arrived_at,
            counter,
            wait_s,
        } => {
            let k = HourKey::of(arrived_at);
            bump(conn, &k, service, Col::Calls)?;
            bump_dim(conn, &k, "counter", counter)?;
            add_duration(conn, &k, service, "wait", wait_s)?;
        }
        Change::Done {
            service,
            arrived_at,
            service_s,
        } => {
            let k = HourKey::of(arrived_at);
            bump(conn, &k, service, Col::Served)?;
            add_duration(conn, &k, service, "service", service_s)?;
        }
        Change::NoShow {
            service,
            arrived_at,
        } => bump(conn, &HourKey::of(arrived_at), service, Col::NoShows)?,
        Change::Cancel {
            service,
            arrived_at,
        } => bump(conn, &HourKey::of(arrived_at), service, Col::Cancellations)?,
        Change::Transfer {
            service,
            arrived_at,
        } => bump(conn, &HourKey::of(arrived_at), service, Col::Transfers)?,
        Change::PrintFallback {
            service,
            arrived_at,
        } => bump(conn, &HourKey::of(arrived_at), service, Col::PrintFallbacks)?,
        Change::Delivered {
            created_at,
            delay_s,
        } => add_duration(conn, &HourKey::of(created_at), "", "delivery", delay_s)?,
    }
    Ok(())
}

/// Records a queue change for the statistics: the one hook of `queue::store`, called
/// with the event kind and the ticket as it is after the change. For a transfer the
/// ticket is the new one; the source ticket is still open in this transaction.
pub fn record_ticket(tx: &Tx<'_>, kind: &str, t: &Ticket) -> Result<(), StorageError> {
    let arrived_at = to_ms(t.arrived_at);
    let now = to_ms(tx.now);
    let service = t.service.as_str();
    let change = match kind {
        "ticket.created" if t.transferred_from.is_none() => {
            let identification: String = tx
                .conn
                .prepare_cached("SELECT identification FROM tickets WHERE id = ?1")?
                .query_row([t.id], |r| r.get(0))?;
            return apply(
                tx.conn,
                &Change::CheckIn {
                    service,
                    arrived_at,
                    language: &t.language,
                    identification: &identification,
                },
            );
        }
        "ticket.called" => {
            // A transfer's ticket started waiting when the source ticket ended.
            let entered = match t.transferred_from {
                None => arrived_at,
                Some(from) => tx
                    .conn
                    .prepare_cached("SELECT finished_at FROM tickets WHERE id = ?1")?
                    .query_row([from], |r| r.get::<_, Option<i64>>(0))
                    .optional()?
                    .flatten()
                    .unwrap_or(arrived_at),
            };
            let called = t.called_at.map_or(now, to_ms);
            return apply(
                tx.conn,
                &Change::Call {
                    service,
                    arrived_at,
                    counter: t.counter.as_deref().unwrap_or(""),
                    wait_s: (called - entered) / 1000,
                },
            );
        }
        "ticket.done" => {
            let started = t.started_at.or(t.called_at).map_or(now, to_ms);
            let finished = t.finished_at.map_or(now, to_ms);
            Change::Done {
                service,
                arrived_at,
                service_s: (finished - started) / 1000,
            }
        }
        "ticket.no_show" => Change::NoShow {
            service,
            arrived_at,
        },
        "ticket.cancelled" => Change::Cancel {
            service,
            arrived_at,
        },
        "ticket.transferred" => {
            let Some(from) = t.transferred_from else {
                return Ok(());
            };
            let source: Option<String> = tx
                .conn
                .prepare_cached("SELECT service_id FROM tickets WHERE id = ?1")?
                .query_row([from], |r| r.get(0))
                .optional()?;
            let Some(source) = source else { return Ok(()) };
            return apply(
                tx.conn,
                &Change::Transfer {
                    service: &source,
                    arrived_at,
                },
            );
        }
        _ => return Ok(()),
    };
    apply(tx.conn, &change)
}

/// Counts a ticket that was not printed (the print service's `print_failed` alert).
pub fn record_print_fallback(tx: &Tx<'_>, t: &Ticket) -> Result<(), StorageError> {
    apply(
        tx.conn,
        &Change::PrintFallback {
            service: &t.service,
            arrived_at: to_ms(t.arrived_at),
        },
    )
}

/// Records the delay of a delivered case-system event (outbox `delivered_at − created_at`).
pub fn record_delivery(
    tx: &Tx<'_>,
    created_at: i64,
    delivered_at: i64,
) -> Result<(), StorageError> {
    apply(
        tx.conn,
        &Change::Delivered {
            created_at,
            delay_s: (delivered_at - created_at) / 1000,
        },
    )
}
