//! The outgoing event of a visit change, built and stored inside the change's own
//! transaction. Its JSON is versioned (`spec_version`) and documented in
//! `docs/case-system-api.md` with the JSON Schema `docs/case-system-event.schema.json`.
//!
//! Personal data (`data.person`) is included only when the visitor consented
//! (`visitor_data.consent_at` is set); the document number is never stored or sent.

use chrono::{DateTime, SecondsFormat, Utc};
use rusqlite::{OptionalExtension, params};
use serde_json::{Map, Value, json};
use uuid::Uuid;

use crate::clock::to_ms;
use crate::queue::Ticket;
use crate::storage::{StorageError, Tx};

/// Version of the event format; a breaking change gets a new major number.
/// 1.1 added the event type `visit.identified`.
pub const SPEC_VERSION: &str = "1.1";

/// The case-system event of a queue event, or `None` when it has none
/// (`ticket.started`: its time is part of `visit.completed`).
pub fn event_type(kind: &str) -> Option<&'static str> {
    Some(match kind {
        "ticket.created" => "visit.checked_in",
        "ticket.called" | "ticket.recalled" => "visit.called",
        "ticket.done" => "visit.completed",
        "ticket.no_show" => "visit.no_show",
        "ticket.transferred" => "visit.transferred",
        "ticket.cancelled" => "visit.cancelled",
        "ticket.identified" => "visit.identified",
        _ => return None,
    })
}

fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// A UUIDv7 whose time part is `at` (from the injected clock, not the system's).
pub fn uuid_v7(at: DateTime<Utc>) -> Uuid {
    let secs = u64::try_from(at.timestamp()).unwrap_or(0);
    let ts = uuid::Timestamp::from_unix(uuid::NoContext, secs, at.timestamp_subsec_nanos());
    Uuid::new_v7(ts)
}

fn meta(tx: &Tx<'_>, key: &str) -> Result<Option<String>, StorageError> {
    Ok(tx
        .conn
        .prepare_cached("SELECT value FROM outbox_meta WHERE key = ?1")?
        .query_row([key], |r| r.get(0))
        .optional()?)
}

/// The visit a ticket belongs to: its own `visit_id`, else the one of the ticket it
/// was transferred from (walking up the chain), else a new UUIDv7. Tickets on the
/// way get it stored, so every later event of the visit carries the same id.
fn visit_id(tx: &Tx<'_>, t: &Ticket) -> Result<String, StorageError> {
    let mut chain = vec![t.id];
    let mut next = t.transferred_from;
    let own: Option<String> = tx
        .conn
        .prepare_cached("SELECT visit_id FROM tickets WHERE id = ?1")?
        .query_row([t.id], |r| r.get(0))
        .optional()?
        .flatten();
    if let Some(v) = own {
        return Ok(v);
    }
    let mut found = None;
    // A transfer chain is short; the bound only guards against a damaged database.
    while let Some(id) = next.filter(|_| chain.len() < 1000) {
        let row: Option<(Option<String>, Option<i64>)> = tx
            .conn
            .prepare_cached("SELECT visit_id, transferred_from FROM tickets WHERE id = ?1")?
            .query_row([id], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?;
        match row {
            Some((Some(v), _)) => {
                found = Some(v);
                break;
            }
            Some((None, from)) => {
                chain.push(id);
                next = from;
            }
            None => break,
        }
    }
    let v = found.unwrap_or_else(|| uuid_v7(tx.now).to_string());
    let mut up = tx
        .conn
        .prepare_cached("UPDATE tickets SET visit_id = ?2 WHERE id = ?1")?;
    for id in chain {
        up.execute(params![id, v])?;
    }
    Ok(v)
}

/// Name and birth date of a visitor who consented to passing them on.
fn person(tx: &Tx<'_>, visit: &str) -> Result<Option<Value>, StorageError> {
    type Row = (
        Option<String>,
        Option<String>,
        Option<String>,
        Option<String>,
    );
    let row: Option<Row> = tx
        .conn
        .prepare_cached(
            "SELECT v.surname, v.given_names, v.birth_date, v.nationality
               FROM visitor_data v JOIN tickets t ON t.id = v.ticket_id
              WHERE t.visit_id = ?1 AND v.consent_at IS NOT NULL
              ORDER BY t.id DESC LIMIT 1",
        )?
        .query_row([visit], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
        })
        .optional()?;
    Ok(row.map(|(surname, given_names, birth_date, nationality)| {
        let mut p =
            json!({ "surname": surname, "given_names": given_names, "birth_date": birth_date });
        if let Some(n) = nationality {
            p["nationality"] = json!(n);
        }
        p
    }))
}

fn seconds_between(a: Option<DateTime<Utc>>, b: Option<DateTime<Utc>>) -> Value {
    match (a, b) {
        (Some(a), Some(b)) if b >= a => json!((b - a).num_seconds()),
        _ => Value::Null,
    }
}

/// Builds the event of a ticket change and appends it to the outbox. Runs in the
/// change's transaction (called from `queue::store::record_ticket_event`).
pub fn record(tx: &mut Tx<'_>, kind: &str, t: &Ticket) -> Result<(), StorageError> {
    let Some(ty) = event_type(kind) else {
        return Ok(());
    };
    let visit = visit_id(tx, t)?;
    let (identification, appointment_ref, visitor_card): (String, Option<String>, Option<String>) =
        tx.conn
            .prepare_cached(
                "SELECT identification, appointment_ref, visitor_card FROM tickets WHERE id = ?1",
            )?
            .query_row([t.id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
    let transferred_from = match t.transferred_from {
        None => Value::Null,
        Some(from) => {
            let service: Option<String> = tx
                .conn
                .prepare_cached("SELECT service_id FROM tickets WHERE id = ?1")?
                .query_row([from], |r| r.get(0))
                .optional()?;
            json!({ "ticket_id": from, "service": service })
        }
    };
    let mut data = Map::new();
    data.insert("visit_id".into(), json!(visit));
    data.insert("ticket_id".into(), json!(t.id));
    data.insert("ticket_number".into(), json!(t.number));
    data.insert("service".into(), json!(t.service));
    data.insert("status".into(), json!(t.status.as_str()));
    data.insert("language".into(), json!(t.language));
    data.insert("appointment".into(), json!(t.appointment));
    data.insert("appointment_ref".into(), json!(appointment_ref));
    data.insert("identification".into(), json!(identification));
    data.insert("visitor_card".into(), json!(visitor_card));
    data.insert("counter".into(), json!(t.counter));
    data.insert("room".into(), json!(t.room));
    data.insert("call_count".into(), json!(t.call_count));
    data.insert("arrived_at".into(), json!(rfc3339(t.arrived_at)));
    for (k, v) in [
        ("called_at", t.called_at),
        ("started_at", t.started_at),
        ("finished_at", t.finished_at),
    ] {
        data.insert(k.into(), v.map(rfc3339).into());
    }
    data.insert(
        "waiting_seconds".into(),
        seconds_between(Some(t.arrived_at), t.called_at),
    );
    data.insert(
        "service_seconds".into(),
        seconds_between(t.started_at, t.finished_at),
    );
    data.insert("transferred_from".into(), transferred_from);
    if let Some(p) = person(tx, &visit)? {
        data.insert("person".into(), p);
    }
    let id = uuid_v7(tx.now).to_string();
    let event = json!({
        "id": id,
        "type": ty,
        "spec_version": SPEC_VERSION,
        "occurred_at": rfc3339(tx.now),
        "site_id": meta(tx, "site_id")?.unwrap_or_default(),
        "device_id": meta(tx, "device_id")?.unwrap_or_default(),
        "data": Value::Object(data),
    });
    let now = to_ms(tx.now);
    tx.conn
        .prepare_cached(
            "INSERT INTO outbox (event_id, visit_id, type, created_at, payload,
                                 pending_since, next_attempt_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?4, ?4)",
        )?
        .execute(params![id, visit, ty, now, event.to_string()])?;
    Ok(())
}
