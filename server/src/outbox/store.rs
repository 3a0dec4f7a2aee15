//! The outbox's SQL. Every function runs inside a `Db::run` job on the database
//! thread; the worker calls them around its sends, the HTTP handlers for the feed,
//! dead letters, `/healthz` and `/metrics`.

use rusqlite::{OptionalExtension, params};

use crate::storage::{StorageError, Tx};

type Result<T> = std::result::Result<T, StorageError>;

/// An event the worker may send now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DueEvent {
    pub seq: i64,
    pub event_id: String,
    pub visit_id: String,
    pub payload: String,
    pub attempts: u32,
    pub pending_since: i64,
}

/// The events that are due, and when the next one that is not yet due will be.
#[derive(Debug, Clone, Default)]
pub struct Due {
    pub events: Vec<DueEvent>,
    pub next_at: Option<i64>,
    /// The URL that answered 410 Gone, while the endpoint is disabled.
    pub disabled_url: Option<String>,
}

/// What the worker decided after an attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Delivered {
        seq: i64,
    },
    Retry {
        seq: i64,
        at: i64,
        error: String,
    },
    Dead {
        seq: i64,
        error: String,
    },
    /// 410 Gone: the event stays pending and the endpoint is switched off.
    Gone {
        seq: i64,
        url: String,
        error: String,
    },
}

pub fn meta_get(tx: &Tx<'_>, key: &str) -> Result<Option<String>> {
    Ok(tx
        .conn
        .prepare_cached("SELECT value FROM outbox_meta WHERE key = ?1")?
        .query_row([key], |r| r.get(0))
        .optional()?)
}

pub fn meta_set(tx: &Tx<'_>, key: &str, value: &str) -> Result<()> {
    tx.conn
        .prepare_cached(
            "INSERT INTO outbox_meta (key, value) VALUES (?1, ?2)
             ON CONFLICT(key) DO UPDATE SET value = ?2",
        )?
        .execute([key, value])?;
    Ok(())
}

fn meta_del(tx: &Tx<'_>, key: &str) -> Result<()> {
    tx.conn
        .prepare_cached("DELETE FROM outbox_meta WHERE key = ?1")?
        .execute([key])?;
    Ok(())
}

fn meta_i64(tx: &Tx<'_>, key: &str) -> Result<i64> {
    Ok(meta_get(tx, key)?.and_then(|v| v.parse().ok()).unwrap_or(0))
}

pub fn set_identity(tx: &mut Tx<'_>, site_id: &str, device_id: &str) -> Result<()> {
    meta_set(tx, "site_id", site_id)?;
    meta_set(tx, "device_id", device_id)
}

/// The oldest pending event of each visit whose time has come, oldest first: a
/// visit's later event waits until the earlier one is delivered (or dead).
pub fn due(tx: &mut Tx<'_>, now: i64, limit: usize) -> Result<Due> {
    let mut stmt = tx.conn.prepare_cached(
        "SELECT o.seq, o.event_id, o.visit_id, o.payload, o.attempts, o.pending_since
           FROM outbox o
          WHERE o.state = 'pending' AND o.next_attempt_at <= ?1
            AND NOT EXISTS (SELECT 1 FROM outbox p
                             WHERE p.state = 'pending' AND p.visit_id = o.visit_id
                               AND p.seq < o.seq)
          ORDER BY o.seq LIMIT ?2",
    )?;
    let events = stmt
        .query_map(params![now, limit as i64], |r| {
            Ok(DueEvent {
                seq: r.get(0)?,
                event_id: r.get(1)?,
                visit_id: r.get(2)?,
                payload: r.get(3)?,
                attempts: r.get(4)?,
                pending_since: r.get(5)?,
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    drop(stmt);
    let next_at: Option<i64> = tx
        .conn
        .prepare_cached(
            "SELECT min(o.next_attempt_at) FROM outbox o
              WHERE o.state = 'pending' AND o.next_attempt_at > ?1
                AND NOT EXISTS (SELECT 1 FROM outbox p
                                 WHERE p.state = 'pending' AND p.visit_id = o.visit_id
                                   AND p.seq < o.seq)",
        )?
        .query_row([now], |r| r.get(0))?;
    Ok(Due {
        events,
        next_at,
        disabled_url: meta_get(tx, "disabled_url")?,
    })
}

/// Records the outcome of attempts: delivered, retry later, dead letter, or 410.
pub fn apply(tx: &mut Tx<'_>, decisions: &[Decision], now: i64) -> Result<()> {
    let mut delivered = 0i64;
    let mut last_error = None;
    for d in decisions {
        match d {
            Decision::Delivered { seq } => {
                let created: Option<i64> = tx
                    .conn
                    .prepare_cached(
                        "UPDATE outbox SET state = 'delivered', delivered_at = ?2,
                                attempts = attempts + 1, last_error = NULL
                          WHERE seq = ?1 AND state = 'pending'
                          RETURNING created_at",
                    )?
                    .query_row(params![seq, now], |r| r.get(0))
                    .optional()?;
                if let Some(created) = created {
                    delivered += 1;
                    // The delivery delay outlives the outbox row (trimmed later).
                    crate::stats::record_delivery(tx, created, now)?;
                }
            }
            Decision::Retry { seq, at, error } => {
                tx.conn
                    .prepare_cached(
                        "UPDATE outbox SET attempts = attempts + 1, next_attempt_at = ?2,
                                last_error = ?3
                          WHERE seq = ?1 AND state = 'pending'",
                    )?
                    .execute(params![seq, at, error])?;
                last_error = Some(error);
            }
            Decision::Dead { seq, error } => {
                tx.conn
                    .prepare_cached(
                        "UPDATE outbox SET state = 'dead', attempts = attempts + 1, last_error = ?2
                          WHERE seq = ?1 AND state = 'pending'",
                    )?
                    .execute(params![seq, error])?;
                last_error = Some(error);
            }
            Decision::Gone { seq, url, error } => {
                tx.conn
                    .prepare_cached(
                        "UPDATE outbox SET attempts = attempts + 1, last_error = ?2
                          WHERE seq = ?1 AND state = 'pending'",
                    )?
                    .execute(params![seq, error])?;
                meta_set(tx, "disabled_url", url)?;
                meta_set(tx, "disabled_at", &now.to_string())?;
                last_error = Some(error);
            }
        }
    }
    if delivered > 0 {
        let total = meta_i64(tx, "delivered_total")? + delivered;
        meta_set(tx, "delivered_total", &total.to_string())?;
        meta_set(tx, "last_delivery_at", &now.to_string())?;
    }
    if let Some(e) = last_error {
        meta_set(tx, "last_error", e)?;
        meta_set(tx, "last_error_at", &now.to_string())?;
    }
    Ok(())
}

/// Moves events that stayed pending longer than `give_up_ms` to the dead letters,
/// also those never tried because the endpoint was paused or disabled.
pub fn sweep(tx: &mut Tx<'_>, now: i64, give_up_ms: i64) -> Result<usize> {
    Ok(tx
        .conn
        .prepare_cached(
            "UPDATE outbox SET state = 'dead',
                    last_error = coalesce(last_error, 'not delivered in time')
              WHERE state = 'pending' AND pending_since <= ?1",
        )?
        .execute([now - give_up_ms])?)
}

/// Switches the endpoint on again after a 410.
pub fn enable(tx: &mut Tx<'_>) -> Result<bool> {
    let was = meta_get(tx, "disabled_url")?.is_some();
    meta_del(tx, "disabled_url")?;
    meta_del(tx, "disabled_at")?;
    Ok(was)
}

/// One event of the pull feed.
#[derive(Debug, Clone)]
pub struct FeedEntry {
    pub cursor: i64,
    pub payload: String,
}

/// Events after `after` in commit order.
pub fn feed(tx: &mut Tx<'_>, after: i64, limit: u32) -> Result<Vec<FeedEntry>> {
    let mut stmt = tx
        .conn
        .prepare_cached("SELECT seq, payload FROM outbox WHERE seq > ?1 ORDER BY seq LIMIT ?2")?;
    let rows = stmt
        .query_map(params![after, limit], |r| {
            Ok(FeedEntry {
                cursor: r.get(0)?,
                payload: r.get(1)?,
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(rows)
}

/// The highest cursor the puller acknowledged.
pub fn acked(tx: &mut Tx<'_>) -> Result<i64> {
    meta_i64(tx, "feed_ack")
}

/// The highest cursor issued so far.
pub fn last_cursor(tx: &mut Tx<'_>) -> Result<i64> {
    Ok(tx
        .conn
        .query_row("SELECT coalesce(max(seq), 0) FROM outbox", [], |r| r.get(0))?)
}

/// Acknowledges everything up to `cursor` (never moves backwards).
pub fn ack(tx: &mut Tx<'_>, cursor: i64) -> Result<i64> {
    let now = acked(tx)?.max(cursor);
    meta_set(tx, "feed_ack", &now.to_string())?;
    Ok(now)
}

/// A dead letter as listed for operators: no payload (it may hold personal data).
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct DeadLetter {
    /// Event id (`webhook-id`), used to replay it.
    pub id: String,
    pub cursor: i64,
    #[serde(rename = "type")]
    pub kind: String,
    pub visit_id: String,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub attempts: u32,
    pub last_error: Option<String>,
}

pub fn dead_letters(tx: &mut Tx<'_>, limit: u32) -> Result<Vec<DeadLetter>> {
    let mut stmt = tx.conn.prepare_cached(
        "SELECT event_id, seq, type, visit_id, created_at, attempts, last_error
           FROM outbox WHERE state = 'dead' ORDER BY seq LIMIT ?1",
    )?;
    let rows = stmt
        .query_map([limit], |r| {
            Ok(DeadLetter {
                id: r.get(0)?,
                cursor: r.get(1)?,
                kind: r.get(2)?,
                visit_id: r.get(3)?,
                created_at: crate::clock::from_ms(r.get(4)?),
                attempts: r.get(5)?,
                last_error: r.get(6)?,
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(rows)
}

/// Puts a dead letter back into delivery, with a fresh give-up period.
pub fn replay(tx: &mut Tx<'_>, event_id: &str, now: i64) -> Result<bool> {
    Ok(tx
        .conn
        .prepare_cached(
            "UPDATE outbox SET state = 'pending', attempts = 0, pending_since = ?2,
                    next_attempt_at = ?2
              WHERE event_id = ?1 AND state = 'dead'",
        )?
        .execute(params![event_id, now])?
        > 0)
}

/// Figures for `/healthz` and `/metrics`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    /// Events not yet delivered (push) or not yet acknowledged (pull only).
    pub backlog: i64,
    /// Creation time (ms) of the oldest of them.
    pub oldest_at: Option<i64>,
    pub dead_letters: i64,
    pub delivered_total: i64,
    pub last_error: Option<String>,
    pub last_error_at: Option<i64>,
    pub last_delivery_at: Option<i64>,
    pub disabled_url: Option<String>,
    pub feed_acked: i64,
    pub last_cursor: i64,
}

pub fn stats(tx: &mut Tx<'_>, push: bool) -> Result<Stats> {
    let feed_acked = acked(tx)?;
    let (backlog, oldest_at): (i64, Option<i64>) = if push {
        tx.conn.query_row(
            "SELECT count(*), min(created_at) FROM outbox WHERE state = 'pending'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?
    } else {
        tx.conn.query_row(
            "SELECT count(*), min(created_at) FROM outbox WHERE seq > ?1",
            [feed_acked],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?
    };
    let dead_letters: i64 = tx.conn.query_row(
        "SELECT count(*) FROM outbox WHERE state = 'dead'",
        [],
        |r| r.get(0),
    )?;
    let opt_i64 = |v: Option<String>| v.and_then(|s| s.parse().ok());
    Ok(Stats {
        backlog,
        oldest_at,
        dead_letters,
        delivered_total: meta_i64(tx, "delivered_total")?,
        last_error: meta_get(tx, "last_error")?,
        last_error_at: opt_i64(meta_get(tx, "last_error_at")?),
        last_delivery_at: opt_i64(meta_get(tx, "last_delivery_at")?),
        disabled_url: meta_get(tx, "disabled_url")?,
        feed_acked,
        last_cursor: last_cursor(tx)?,
    })
}

/// Removes events created before `before` that nobody needs any more: delivered
/// (or never to be pushed) and acknowledged by the feed (or no feed configured).
/// Dead letters stay until replayed.
pub fn prune(tx: &mut Tx<'_>, before: i64, push: bool, feed: bool) -> Result<usize> {
    let acked = if feed { acked(tx)? } else { i64::MAX };
    let sql = if push {
        "DELETE FROM outbox WHERE created_at < ?1 AND seq <= ?2 AND state = 'delivered'"
    } else {
        "DELETE FROM outbox WHERE created_at < ?1 AND seq <= ?2 AND state != 'dead'"
    };
    Ok(tx.conn.execute(sql, params![before, acked])?)
}
