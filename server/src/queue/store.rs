//! The queue's SQL: each function runs inside one transaction on the database thread
//! and records the event of the change it makes.

use std::collections::BTreeMap;
use std::time::Duration;

use rand::RngCore;
use rusqlite::{OptionalExtension, Row, params};
use serde_json::json;

use super::rules::{self, Action, Status};
use super::{
    Attachment, CheckinRequest, Counter, Identification, LANGUAGES, QueueError, QueueView, Result,
    Service, Ticket,
};
use crate::clock::{from_ms, service_day, to_ms};
use crate::config::{CounterDef, QueueSettings, ServiceDef};
use crate::storage::{StorageError, Tx};

const TICKET_COLUMNS: &str = "t.id, t.number, t.service_id, t.status, t.language, t.appointment, \
     t.arrived_at, t.called_at, t.started_at, t.finished_at, t.counter_id, c.room, t.call_count, \
     t.transferred_from, t.token";

fn select_tickets(filter: &str) -> String {
    format!(
        "SELECT {TICKET_COLUMNS} FROM tickets t LEFT JOIN counters c ON c.id = t.counter_id {filter}"
    )
}

fn ticket_from_row(r: &Row<'_>) -> rusqlite::Result<Ticket> {
    let status: String = r.get(3)?;
    let status = Status::parse(&status).ok_or_else(|| {
        rusqlite::Error::FromSqlConversionFailure(
            3,
            rusqlite::types::Type::Text,
            format!("unknown status {status}").into(),
        )
    })?;
    let opt_time = |i: usize| -> rusqlite::Result<Option<chrono::DateTime<chrono::Utc>>> {
        Ok(r.get::<_, Option<i64>>(i)?.map(from_ms))
    };
    Ok(Ticket {
        id: r.get(0)?,
        number: r.get(1)?,
        service: r.get(2)?,
        status,
        language: r.get(4)?,
        appointment: r.get(5)?,
        position: None,
        estimated_wait_minutes: None,
        arrived_at: from_ms(r.get(6)?),
        called_at: opt_time(7)?,
        started_at: opt_time(8)?,
        finished_at: opt_time(9)?,
        counter: r.get(10)?,
        room: r.get(11)?,
        call_count: r.get(12)?,
        transferred_from: r.get(13)?,
        token: Some(r.get(14)?),
        printed: None,
    })
}

fn new_token() -> String {
    let mut b = [0u8; 16];
    rand::rng().fill_bytes(&mut b);
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn head_start_ms(s: &QueueSettings) -> i64 {
    s.appointment_head_start.as_millis() as i64
}

/// Brings services and counters in line with the configuration. Services that left
/// the configuration stay in the database (history refers to them) but inactive.
pub fn sync_site(tx: &mut Tx<'_>, services: &[ServiceDef], counters: &[CounterDef]) -> Result<()> {
    let c = tx.conn;
    c.execute("UPDATE services SET active = 0", [])
        .map_err(StorageError::from)?;
    for (i, s) in services.iter().enumerate() {
        let names = serde_json::to_string(&s.name).unwrap_or_else(|_| "{}".into());
        c.execute(
            "INSERT INTO services (id, prefix, icon, names, default_minutes, position, active)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, 1)
             ON CONFLICT(id) DO UPDATE SET prefix = ?2, icon = ?3, names = ?4,
                default_minutes = ?5, position = ?6, active = 1",
            params![s.id, s.prefix, s.icon, names, s.default_minutes, i as i64],
        )
        .map_err(StorageError::from)?;
    }
    c.execute("UPDATE counters SET active = 0", [])
        .map_err(StorageError::from)?;
    for (i, k) in counters.iter().enumerate() {
        c.execute(
            "INSERT INTO counters (id, name, room, position, active) VALUES (?1, ?2, ?3, ?4, 1)
             ON CONFLICT(id) DO UPDATE SET name = ?2, room = ?3, position = ?4, active = 1",
            params![k.id, k.name, k.room, i as i64],
        )
        .map_err(StorageError::from)?;
        c.execute(
            "DELETE FROM counter_services WHERE counter_id = ?1",
            [&k.id],
        )
        .map_err(StorageError::from)?;
        for s in &k.services {
            c.execute(
                "INSERT INTO counter_services (counter_id, service_id) VALUES (?1, ?2)",
                [&k.id, s],
            )
            .map_err(StorageError::from)?;
        }
    }
    Ok(())
}

/// The ticket prefix of an active service.
fn service_prefix(tx: &Tx<'_>, id: &str) -> Result<String> {
    tx.conn
        .query_row(
            "SELECT prefix FROM services WHERE id = ?1 AND active = 1",
            [id],
            |r| r.get(0),
        )
        .optional()
        .map_err(StorageError::from)?
        .ok_or_else(|| QueueError::UnknownService(id.to_string()))
}

fn load_ticket(tx: &Tx<'_>, id: i64) -> Result<Ticket> {
    tx.conn
        .query_row(&select_tickets("WHERE t.id = ?1"), [id], ticket_from_row)
        .optional()
        .map_err(StorageError::from)?
        .ok_or(QueueError::UnknownTicket(id))
}

/// Typical service time for a concern: the mean of its recent completed visits, or
/// the configured default while there is no history.
fn avg_service_secs(
    tx: &Tx<'_>,
    s: &QueueSettings,
    service: &str,
    default_min: Option<u32>,
) -> Result<f64> {
    let avg: Option<f64> = tx
        .conn
        .query_row(
            "SELECT avg(d) FROM (SELECT finished_at - started_at AS d FROM tickets
              WHERE service_id = ?1 AND status = 'done' AND started_at IS NOT NULL
              ORDER BY finished_at DESC LIMIT ?2)",
            params![service, s.recent_services],
            |r| r.get(0),
        )
        .map_err(StorageError::from)?;
    Ok(match avg {
        Some(ms) if ms > 0.0 => ms / 1000.0,
        _ => f64::from(default_min.unwrap_or(s.default_service_minutes)) * 60.0,
    })
}

fn open_counters(tx: &Tx<'_>, service: &str) -> Result<u32> {
    Ok(tx
        .conn
        .query_row(
            "SELECT count(*) FROM counters c JOIN counter_services cs ON cs.counter_id = c.id
              WHERE cs.service_id = ?1 AND c.active = 1 AND c.paused = 0",
            [service],
            |r| r.get(0),
        )
        .map_err(StorageError::from)?)
}

/// Fills in position and estimated wait of a waiting ticket.
fn with_position(tx: &Tx<'_>, s: &QueueSettings, mut t: Ticket) -> Result<Ticket> {
    if t.status != Status::Waiting {
        return Ok(t);
    }
    let key = rules::call_order_key(to_ms(t.arrived_at), t.appointment, s.appointment_head_start);
    let ahead: u32 = tx
        .conn
        .query_row(
            "SELECT count(*) FROM tickets
              WHERE status = 'waiting' AND service_id = ?1 AND id != ?2
                AND ((arrived_at - CASE WHEN appointment = 1 THEN ?3 ELSE 0 END) < ?4
                  OR ((arrived_at - CASE WHEN appointment = 1 THEN ?3 ELSE 0 END) = ?4 AND id < ?2))",
            params![t.service, t.id, head_start_ms(s), key],
            |r| r.get(0),
        )
        .map_err(StorageError::from)?;
    let default_min: Option<u32> = tx
        .conn
        .query_row(
            "SELECT default_minutes FROM services WHERE id = ?1",
            [&t.service],
            |r| r.get(0),
        )
        .optional()
        .map_err(StorageError::from)?
        .flatten();
    let avg = avg_service_secs(tx, s, &t.service, default_min)?;
    let open = open_counters(tx, &t.service)?;
    t.position = Some(ahead);
    t.estimated_wait_minutes = Some(rules::estimate_wait_minutes(ahead, avg, open));
    Ok(t)
}

fn waiting_counts(tx: &Tx<'_>) -> Result<BTreeMap<String, u32>> {
    let mut stmt = tx
        .conn
        .prepare_cached(
            "SELECT s.id, (SELECT count(*) FROM tickets t WHERE t.status = 'waiting' AND t.service_id = s.id)
               FROM services s WHERE s.active = 1",
        )
        .map_err(StorageError::from)?;
    let rows = stmt
        .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, u32>(1)?)))
        .map_err(StorageError::from)?;
    let mut m = BTreeMap::new();
    for row in rows {
        let (k, v) = row.map_err(StorageError::from)?;
        m.insert(k, v);
    }
    Ok(m)
}

/// The public part of a ticket for the event log: numbers, never personal data.
fn event_ticket(t: &Ticket) -> serde_json::Value {
    json!({
        "id": t.id,
        "number": t.number,
        "service": t.service,
        "status": t.status,
        "counter": t.counter,
        "room": t.room,
        "language": t.language,
        "call_count": t.call_count,
        "transferred_from": t.transferred_from,
    })
}

fn record_ticket_event(tx: &mut Tx<'_>, kind: &str, t: &Ticket) -> Result<()> {
    let waiting = waiting_counts(tx)?;
    tx.record_event(
        kind,
        Some(t.id),
        json!({ "ticket": event_ticket(t), "counter": null, "waiting": waiting }),
    )?;
    // The case-system event commits with the change (transactional outbox).
    crate::outbox::record(tx, kind, t)?;
    // So do the statistics, which must survive the purge of tickets.
    crate::stats::record_ticket(tx, kind, t)?;
    Ok(())
}

pub fn by_idempotency_key(tx: &mut Tx<'_>, s: &QueueSettings, key: &str) -> Result<Option<Ticket>> {
    let existing: Option<i64> = tx
        .conn
        .query_row(
            "SELECT id FROM tickets WHERE idempotency_key = ?1",
            [key],
            |r| r.get(0),
        )
        .optional()
        .map_err(StorageError::from)?;
    match existing {
        Some(id) => {
            let t = load_ticket(tx, id)?;
            Ok(Some(with_position(tx, s, t)?))
        }
        None => Ok(None),
    }
}

pub fn check_in(
    tx: &mut Tx<'_>,
    s: &QueueSettings,
    req: &CheckinRequest,
) -> Result<(Ticket, bool)> {
    if !LANGUAGES.contains(&req.language.as_str()) {
        return Err(QueueError::UnknownLanguage(req.language.clone()));
    }
    if let Some(key) = &req.idempotency_key
        && let Some(t) = by_idempotency_key(tx, s, key)?
    {
        return Ok((t, false));
    }
    let prefix = service_prefix(tx, &req.service)?;
    let now = to_ms(tx.now);
    let day = service_day(tx.now).to_string();
    let seq: i64 = tx
        .conn
        .query_row(
            "INSERT INTO day_sequences (day, prefix, last) VALUES (?1, ?2, 1)
             ON CONFLICT(day, prefix) DO UPDATE SET last = last + 1
             RETURNING last",
            params![day, prefix],
            |r| r.get(0),
        )
        .map_err(StorageError::from)?;
    let number = rules::format_number(&prefix, seq);
    tx.conn
        .execute(
            "INSERT INTO tickets (day, prefix, seq, number, service_id, status, language,
                appointment, token, idempotency_key, arrived_at)
             VALUES (?1, ?2, ?3, ?4, ?5, 'waiting', ?6, ?7, ?8, ?9, ?10)",
            params![
                day,
                prefix,
                seq,
                number,
                req.service,
                req.language,
                req.appointment,
                new_token(),
                req.idempotency_key,
                now
            ],
        )
        .map_err(StorageError::from)?;
    let id = tx.conn.last_insert_rowid();
    identify(tx, id, &req.identification)?;
    let t = load_ticket(tx, id)?;
    record_ticket_event(tx, "ticket.created", &t)?;
    Ok((with_position(tx, s, t)?, true))
}

/// Records how the visitor identified, in the check-in's transaction, before its event is
/// built (the event carries the identification and, with consent, the person).
fn identify(tx: &mut Tx<'_>, id: i64, how: &Identification) -> Result<()> {
    if how.method() == "none" {
        return Ok(());
    }
    tx.conn
        .execute(
            "UPDATE tickets SET identification = ?2, appointment_ref = ?3, visitor_card = ?4
             WHERE id = ?1",
            params![id, how.method(), how.appointment_ref, how.visitor_card],
        )
        .map_err(StorageError::from)?;
    if let Some(v) = how.visitor.as_ref().filter(|_| how.id_document) {
        tx.conn
            .execute(
                "INSERT INTO visitor_data
                    (ticket_id, surname, given_names, birth_date, nationality, consent_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![
                    id,
                    v.surname,
                    v.given_names,
                    v.birth_date,
                    v.nationality,
                    to_ms(tx.now)
                ],
            )
            .map_err(StorageError::from)?;
    }
    Ok(())
}

fn counter_state(tx: &Tx<'_>, id: &str) -> Result<bool> {
    tx.conn
        .query_row(
            "SELECT paused FROM counters WHERE id = ?1 AND active = 1",
            [id],
            |r| r.get(0),
        )
        .optional()
        .map_err(StorageError::from)?
        .ok_or_else(|| QueueError::UnknownCounter(id.to_string()))
}

pub fn call_next(tx: &mut Tx<'_>, s: &QueueSettings, counter: &str) -> Result<Option<Ticket>> {
    if counter_state(tx, counter)? {
        return Err(QueueError::CounterPaused(counter.to_string()));
    }
    let next: Option<i64> = tx
        .conn
        .query_row(
            "SELECT t.id FROM tickets t
               JOIN counter_services cs ON cs.service_id = t.service_id AND cs.counter_id = ?1
              WHERE t.status = 'waiting'
              ORDER BY t.arrived_at - CASE WHEN t.appointment = 1 THEN ?2 ELSE 0 END, t.id
              LIMIT 1",
            params![counter, head_start_ms(s)],
            |r| r.get(0),
        )
        .optional()
        .map_err(StorageError::from)?;
    let Some(id) = next else { return Ok(None) };
    tx.conn
        .execute(
            "UPDATE tickets SET status = 'called', called_at = ?2, counter_id = ?3,
                    call_count = call_count + 1
              WHERE id = ?1 AND status = 'waiting'",
            params![id, to_ms(tx.now), counter],
        )
        .map_err(StorageError::from)?;
    let t = load_ticket(tx, id)?;
    record_ticket_event(tx, Action::Call.event(), &t)?;
    Ok(Some(t))
}

pub fn act(tx: &mut Tx<'_>, s: &QueueSettings, id: i64, action: Action) -> Result<Ticket> {
    let t = load_ticket(tx, id)?;
    let to = rules::transition(t.status, action)
        .filter(|_| !matches!(action, Action::Call | Action::Transfer))
        .ok_or(QueueError::IllegalTransition {
            number: t.number.clone(),
            from: t.status,
            verb: action.verb(),
        })?;
    let now = to_ms(tx.now);
    let changed = match action {
        Action::Recall => tx.conn.execute(
            "UPDATE tickets SET call_count = call_count + 1 WHERE id = ?1",
            [id],
        ),
        Action::Start => tx.conn.execute(
            "UPDATE tickets SET status = ?2, started_at = ?3 WHERE id = ?1",
            params![id, to.as_str(), now],
        ),
        _ => tx.conn.execute(
            "UPDATE tickets SET status = ?2, finished_at = ?3 WHERE id = ?1",
            params![id, to.as_str(), now],
        ),
    };
    changed.map_err(StorageError::from)?;
    let t = load_ticket(tx, id)?;
    record_ticket_event(tx, action.event(), &t)?;
    with_position(tx, s, t)
}

/// Moves a visit to another concern. The old ticket ends as `transferred`; a new one
/// waits in the target service with the same number, arrival time and status-page
/// token, so the visitor keeps their paper ticket and their place in time.
pub fn transfer(tx: &mut Tx<'_>, s: &QueueSettings, id: i64, service: &str) -> Result<Ticket> {
    let old = load_ticket(tx, id)?;
    service_prefix(tx, service)?;
    if rules::transition(old.status, Action::Transfer).is_none() {
        return Err(QueueError::IllegalTransition {
            number: old.number,
            from: old.status,
            verb: Action::Transfer.verb(),
        });
    }
    if old.service == service {
        return Err(QueueError::SameService(old.number, service.to_string()));
    }
    let now = to_ms(tx.now);
    tx.conn
        .execute(
            "UPDATE tickets SET status = 'transferred', finished_at = ?2, token = ?3 WHERE id = ?1",
            params![id, now, new_token()],
        )
        .map_err(StorageError::from)?;
    tx.conn
        .execute(
            "INSERT INTO tickets (day, prefix, seq, number, service_id, status, language,
                appointment, token, arrived_at, transferred_from)
             SELECT day, prefix, seq, number, ?2, 'waiting', language, appointment, ?3,
                    arrived_at, id
               FROM tickets WHERE id = ?1",
            params![id, service, old.token.clone().unwrap_or_else(new_token)],
        )
        .map_err(StorageError::from)?;
    let new_id = tx.conn.last_insert_rowid();
    let t = load_ticket(tx, new_id)?;
    record_ticket_event(tx, Action::Transfer.event(), &t)?;
    with_position(tx, s, t)
}

pub fn set_paused(tx: &mut Tx<'_>, s: &QueueSettings, id: &str, paused: bool) -> Result<Counter> {
    counter_state(tx, id)?;
    tx.conn
        .execute(
            "UPDATE counters SET paused = ?2 WHERE id = ?1",
            params![id, paused],
        )
        .map_err(StorageError::from)?;
    let c = counters(tx, s)?
        .into_iter()
        .find(|c| c.id == id)
        .ok_or_else(|| QueueError::UnknownCounter(id.to_string()))?;
    let waiting = waiting_counts(tx)?;
    let counter_json = serde_json::to_value(&c).unwrap_or_default();
    tx.record_event(
        "counter.updated",
        None,
        json!({ "ticket": null, "counter": counter_json, "waiting": waiting }),
    )?;
    Ok(c)
}

pub fn services(tx: &mut Tx<'_>, s: &QueueSettings) -> Result<Vec<Service>> {
    let mut stmt = tx
        .conn
        .prepare_cached(
            "SELECT id, prefix, names, icon, default_minutes FROM services
              WHERE active = 1 ORDER BY position",
        )
        .map_err(StorageError::from)?;
    let rows: Vec<(String, String, String, String, Option<u32>)> = stmt
        .query_map([], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
        })
        .map_err(StorageError::from)?
        .collect::<rusqlite::Result<_>>()
        .map_err(StorageError::from)?;
    drop(stmt);
    let waiting = waiting_counts(tx)?;
    let mut out = Vec::with_capacity(rows.len());
    for (id, prefix, names, icon, default_min) in rows {
        let n = waiting.get(&id).copied().unwrap_or(0);
        let avg = avg_service_secs(tx, s, &id, default_min)?;
        let open = open_counters(tx, &id)?;
        out.push(Service {
            name: serde_json::from_str(&names)
                .map_err(|e| StorageError::Malformed(format!("service names: {e}")))?,
            estimated_wait_minutes: rules::estimate_wait_minutes(n, avg, open),
            waiting: n,
            id,
            prefix,
            icon,
        });
    }
    Ok(out)
}

pub fn counters(tx: &mut Tx<'_>, _s: &QueueSettings) -> Result<Vec<Counter>> {
    let mut stmt = tx
        .conn
        .prepare_cached(
            "SELECT c.id, c.name, c.room, c.paused,
                    (SELECT group_concat(service_id, ',') FROM
                        (SELECT cs.service_id FROM counter_services cs
                           JOIN services s ON s.id = cs.service_id
                          WHERE cs.counter_id = c.id ORDER BY s.position))
               FROM counters c WHERE c.active = 1 ORDER BY c.position",
        )
        .map_err(StorageError::from)?;
    let rows: Vec<(String, String, String, bool, Option<String>)> = stmt
        .query_map([], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
        })
        .map_err(StorageError::from)?
        .collect::<rusqlite::Result<_>>()
        .map_err(StorageError::from)?;
    drop(stmt);
    let mut out = Vec::with_capacity(rows.len());
    for (id, name, room, paused, services) in rows {
        let current = tx
            .conn
            .query_row(
                &select_tickets(
                    "WHERE t.counter_id = ?1 AND t.status IN ('called','serving')
                     ORDER BY t.called_at DESC LIMIT 1",
                ),
                [&id],
                ticket_from_row,
            )
            .optional()
            .map_err(StorageError::from)?;
        out.push(Counter {
            services: services
                .map(|s| s.split(',').map(str::to_string).collect())
                .unwrap_or_default(),
            current_ticket: current,
            id,
            name,
            room,
            paused,
        });
    }
    Ok(out)
}

pub fn view(tx: &mut Tx<'_>, s: &QueueSettings) -> Result<QueueView> {
    let mut stmt = tx
        .conn
        .prepare_cached(&select_tickets(
            "WHERE t.status IN ('waiting','called','serving')
             ORDER BY CASE t.status WHEN 'waiting' THEN 1 ELSE 0 END,
                      CASE WHEN t.status = 'waiting'
                           THEN t.arrived_at - CASE WHEN t.appointment = 1 THEN ?1 ELSE 0 END
                           ELSE -t.called_at END,
                      t.id",
        ))
        .map_err(StorageError::from)?;
    let tickets: Vec<Ticket> = stmt
        .query_map([head_start_ms(s)], ticket_from_row)
        .map_err(StorageError::from)?
        .collect::<rusqlite::Result<_>>()
        .map_err(StorageError::from)?;
    drop(stmt);
    let mut out = Vec::with_capacity(tickets.len());
    for t in tickets {
        out.push(with_position(tx, s, t)?);
    }
    Ok(QueueView {
        day: service_day(tx.now).to_string(),
        tickets: out,
        waiting: waiting_counts(tx)?,
    })
}

pub fn ticket(tx: &mut Tx<'_>, s: &QueueSettings, id: i64) -> Result<Ticket> {
    let t = load_ticket(tx, id)?;
    with_position(tx, s, t)
}

pub fn ticket_by_token(tx: &mut Tx<'_>, s: &QueueSettings, token: &str) -> Result<Option<Ticket>> {
    let t = tx
        .conn
        .query_row(
            &select_tickets("WHERE t.token = ?1"),
            [token],
            ticket_from_row,
        )
        .optional()
        .map_err(StorageError::from)?;
    t.map(|t| with_position(tx, s, t)).transpose()
}

pub fn prune_events(tx: &mut Tx<'_>, keep: Duration) -> Result<usize> {
    let cutoff = to_ms(tx.now) - keep.as_millis() as i64;
    Ok(tx
        .conn
        .execute("DELETE FROM events WHERE at < ?1", [cutoff])
        .map_err(StorageError::from)?)
}

/// Events after `after`, oldest first, for SSE replay.
pub fn events_after(
    tx: &mut Tx<'_>,
    after: i64,
    limit: u32,
) -> std::result::Result<Vec<crate::storage::CommittedEvent>, StorageError> {
    let mut stmt = tx.conn.prepare_cached(
        "SELECT id, kind, at, data FROM events WHERE id > ?1 ORDER BY id LIMIT ?2",
    )?;
    let rows = stmt.query_map(params![after, limit], |r| {
        let data: String = r.get(3)?;
        Ok(crate::storage::CommittedEvent {
            id: r.get(0)?,
            kind: r.get(1)?,
            at: r.get(2)?,
            data: serde_json::from_str(&data).unwrap_or(serde_json::Value::Null),
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// The visit a counter is working on: its newest called or serving ticket.
pub fn current_at_counter(tx: &mut Tx<'_>, counter: &str) -> Result<Option<Ticket>> {
    counter_state(tx, counter)?;
    tx.conn
        .query_row(
            &select_tickets(
                "WHERE t.counter_id = ?1 AND t.status IN ('called','serving')
                 ORDER BY t.called_at DESC LIMIT 1",
            ),
            [counter],
            ticket_from_row,
        )
        .optional()
        .map_err(|e| StorageError::from(e).into())
}

/// Attaches what a desk scan identified to the visit `ticket`, which must still be current
/// at `counter` (called or serving there). Returns the ticket and whether anything changed;
/// a change writes the event `ticket.identified` (case system: `visit.identified`) in this
/// transaction.
pub fn attach(
    tx: &mut Tx<'_>,
    ticket: i64,
    counter: &str,
    what: &Attachment,
) -> Result<(Ticket, bool)> {
    let t = load_ticket(tx, ticket)?;
    if !matches!(t.status, Status::Called | Status::Serving)
        || t.counter.as_deref() != Some(counter)
    {
        return Err(QueueError::NotCurrent {
            number: t.number,
            counter: counter.to_string(),
        });
    }
    let (appointment_ref, visitor_card): (Option<String>, Option<String>) = tx
        .conn
        .query_row(
            "SELECT appointment_ref, visitor_card FROM tickets WHERE id = ?1",
            [ticket],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .map_err(StorageError::from)?;
    let changed = match what {
        Attachment::Appointment(reference) => {
            appointment_ref.as_deref() != Some(reference)
                && tx
                    .conn
                    .execute(
                        "UPDATE tickets SET appointment_ref = ?2,
                            identification = CASE identification WHEN 'none' THEN 'qr'
                                             ELSE identification END
                          WHERE id = ?1",
                        params![ticket, reference],
                    )
                    .map_err(StorageError::from)?
                    > 0
        }
        Attachment::Card(card) => {
            visitor_card.as_deref() != Some(card)
                && tx
                    .conn
                    .execute(
                        "UPDATE tickets SET visitor_card = ?2,
                            identification = CASE identification WHEN 'none' THEN 'qr'
                                             ELSE identification END
                          WHERE id = ?1",
                        params![ticket, card],
                    )
                    .map_err(StorageError::from)?
                    > 0
        }
        Attachment::Person(v) => {
            tx.conn
                .execute(
                    "INSERT INTO visitor_data
                        (ticket_id, surname, given_names, birth_date, nationality, consent_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                     ON CONFLICT(ticket_id) DO UPDATE SET surname = excluded.surname,
                        given_names = excluded.given_names, birth_date = excluded.birth_date,
                        nationality = excluded.nationality, consent_at = excluded.consent_at",
                    params![
                        ticket,
                        v.surname,
                        v.given_names,
                        v.birth_date,
                        v.nationality,
                        to_ms(tx.now)
                    ],
                )
                .map_err(StorageError::from)?;
            tx.conn
                .execute(
                    "UPDATE tickets SET identification = 'id_document' WHERE id = ?1",
                    [ticket],
                )
                .map_err(StorageError::from)?;
            true
        }
    };
    if changed {
        // A public event without personal data (desks refresh, the outbox worker wakes up)
        // and, with it, the case-system event.
        record_ticket_event(tx, "ticket.identified", &t)?;
    }
    Ok((t, changed))
}
