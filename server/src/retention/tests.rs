//! The purge against a real SQLite file with an injected clock: delivery, the day
//! boundary in Berlin, the 90-day maximum, open visits, the technical period.

use std::sync::Arc;

use chrono::{DateTime, Duration, TimeZone, Utc};

use super::*;
use crate::clock::ManualClock;
use crate::config::Settings;
use crate::queue::{Action, CheckinRequest, Queue, Ticket};

struct Fixture {
    queue: Queue,
    clock: Arc<ManualClock>,
    dir: tempfile::TempDir,
}

fn utc(y: i32, m: u32, d: u32, h: u32, min: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, m, d, h, min, 0).unwrap()
}

async fn fixture(start: DateTime<Utc>) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(start));
    let settings = Settings::demo(None).unwrap();
    let db = Db::open(&dir.path().join("lotse.db"), clock.clone(), |_| {}).unwrap();
    let queue = Queue::new(db, settings.queue.clone());
    queue.sync_site(&settings).await.unwrap();
    Fixture { queue, clock, dir }
}

impl Fixture {
    /// A visit with a scanned ID and an appointment reference.
    async fn visit(&self) -> Ticket {
        let (t, _) = self
            .queue
            .check_in(CheckinRequest {
                service: "residence".into(),
                language: "uk".into(),
                appointment: true,
                idempotency_key: None,
                identification: Default::default(),
            })
            .await
            .unwrap();
        let id = t.id;
        self.queue
            .db()
            .run(move |tx| -> Result<(), StorageError> {
                tx.conn.execute(
                    "INSERT INTO visitor_data (ticket_id, surname, given_names, birth_date, nationality, consent_at)
                     VALUES (?1, 'Kovalenko', 'Olena', '1988-04-02', 'UKR', 1)",
                    [id],
                )?;
                tx.conn.execute(
                    "UPDATE tickets SET appointment_ref = 'TERMIN-4711' WHERE id = ?1",
                    [id],
                )?;
                Ok(())
            })
            .await
            .unwrap();
        t
    }

    /// Marks every pending outbox row as delivered now.
    async fn deliver(&self) {
        self.queue
            .db()
            .run(|tx| -> Result<(), StorageError> {
                let now = to_ms(tx.now);
                tx.conn.execute(
                    "UPDATE outbox SET state = 'delivered', delivered_at = ?1 WHERE state = 'pending'",
                    [now],
                )?;
                Ok(())
            })
            .await
            .unwrap();
    }

    async fn purge(&self, delivery: Delivery) -> Report {
        run(
            self.queue.db(),
            RetentionSettings::default(),
            delivery,
            crate::audit::SYSTEM,
            false,
        )
        .await
        .unwrap()
    }

    async fn count(&self, sql: &'static str) -> i64 {
        self.queue
            .db()
            .run(move |tx| -> Result<i64, StorageError> {
                Ok(tx.conn.query_row(sql, [], |r| r.get(0))?)
            })
            .await
            .unwrap()
    }

    async fn personal(&self) -> i64 {
        self.count(
            "SELECT (SELECT count(*) FROM visitor_data)
                  + (SELECT count(*) FROM tickets WHERE appointment_ref IS NOT NULL)
                  + (SELECT count(*) FROM outbox WHERE payload LIKE '%Kovalenko%' OR payload LIKE '%TERMIN-4711%')",
        )
        .await
    }

    async fn audit_actions(&self) -> Vec<String> {
        self.queue
            .db()
            .run(|tx| crate::audit::list(tx, None, None, 100))
            .await
            .unwrap()
            .into_iter()
            .map(|e| e.action)
            .collect()
    }
}

#[test]
fn due_is_the_end_of_the_berlin_day_after() {
    // 23:30 Berlin on 14 Jan (winter, UTC+1) is 22:30 UTC; due at the start of 16 Jan.
    let delivered = utc(2026, 1, 14, 22, 30);
    assert_eq!(personal_data_due(delivered, 1), utc(2026, 1, 15, 23, 0));
    assert_eq!(personal_data_due(delivered, 0), utc(2026, 1, 14, 23, 0));
    // Across the spring DST change (29 March 2026): midnight of 30 March is UTC+2.
    let spring = utc(2026, 3, 28, 12, 0);
    assert_eq!(personal_data_due(spring, 1), utc(2026, 3, 29, 22, 0));
}

#[tokio::test]
async fn delivered_visits_lose_personal_data_at_the_end_of_the_next_day() {
    // 10:00 Berlin on a Monday in winter.
    let f = fixture(utc(2026, 2, 2, 9, 0)).await;
    let t = f.visit().await;
    f.queue.call_next("c1").await.unwrap().unwrap();
    f.queue.act(t.id, Action::Start).await.unwrap();
    f.clock.advance(Duration::minutes(20));
    f.queue.act(t.id, Action::Done).await.unwrap();
    // Consent was given, so the last event carries the name.
    assert!(f.personal().await >= 3);
    f.clock.advance(Duration::minutes(5));
    f.deliver().await;

    // Same day, and the next day just before midnight: kept.
    assert_eq!(f.purge(Delivery::Push).await, Report::default());
    f.clock.set(utc(2026, 2, 3, 22, 59));
    assert_eq!(f.purge(Delivery::Push).await.visits, 0);
    assert!(f.personal().await > 0);

    // Midnight Berlin at the end of the next day: gone, outbox rows included.
    f.clock.set(utc(2026, 2, 3, 23, 0));
    let r = f.purge(Delivery::Push).await;
    assert_eq!(r.visits, 1);
    assert_eq!(r.visitor_data_rows, 1);
    assert_eq!(r.appointment_refs, 1);
    assert!(r.outbox_delivered_deleted >= 3, "{r:?}");
    assert_eq!(r.outbox_undelivered_deleted, 0);
    assert!(r.vacuumed && r.wal_truncated, "{r:?}");
    assert_eq!(f.personal().await, 0);
    // The ticket itself stays (no personal data on it) for the technical period.
    assert_eq!(f.count("SELECT count(*) FROM tickets").await, 1);
    assert!(
        f.audit_actions()
            .await
            .contains(&"retention.purged".to_string())
    );
    // Nothing left to do: the next run is a no-op and writes no audit entry.
    let before = f.audit_actions().await.len();
    assert_eq!(f.purge(Delivery::Push).await, Report::default());
    assert_eq!(f.audit_actions().await.len(), before);
}

#[tokio::test]
async fn undelivered_and_open_visits_are_kept_until_the_maximum() {
    let start = utc(2026, 5, 4, 8, 0);
    let f = fixture(start).await;
    let open = f.visit().await;
    let closed = f.visit().await;
    f.queue.act(closed.id, Action::Cancel).await.unwrap();
    // Nothing was delivered (the case system is down): kept for 89 days.
    f.clock.set(start + Duration::days(89));
    let r = f.purge(Delivery::Push).await;
    assert_eq!(r.visits, 0, "{r:?}");
    assert_eq!(f.count("SELECT count(*) FROM visitor_data").await, 2);
    // Day 90: both go, with their undelivered events, and a record of it.
    f.clock.set(start + Duration::days(90));
    let r = f.purge(Delivery::Push).await;
    assert_eq!(r.visits, 2, "{r:?}");
    assert_eq!(r.visits_at_max_days, 2);
    assert!(r.outbox_undelivered_deleted >= 3, "{r:?}");
    assert_eq!(f.personal().await, 0);
    assert_eq!(f.count("SELECT count(*) FROM outbox").await, 0);
    let actions = f.audit_actions().await;
    assert!(actions.contains(&"retention.undelivered_deleted".to_string()));
    // The open ticket still exists; only its personal data is gone.
    let t = f.queue.ticket(open.id).await.unwrap();
    assert_eq!(t.number, open.number);
}

#[tokio::test]
async fn an_open_visit_keeps_its_data_although_its_events_were_delivered() {
    let f = fixture(utc(2026, 2, 2, 9, 0)).await;
    f.visit().await;
    f.deliver().await;
    f.clock.advance(Duration::days(3));
    assert_eq!(f.purge(Delivery::Push).await.visits, 0);
    assert_eq!(f.count("SELECT count(*) FROM visitor_data").await, 1);
}

#[tokio::test]
async fn pull_counts_acknowledged_rows_and_no_case_system_counts_closing() {
    let f = fixture(utc(2026, 2, 2, 9, 0)).await;
    let t = f.visit().await;
    f.queue.act(t.id, Action::Cancel).await.unwrap();
    f.clock.set(utc(2026, 2, 4, 9, 0));
    // Pull: nothing acknowledged yet.
    assert_eq!(f.purge(Delivery::Pull).await.visits, 0);
    f.queue
        .db()
        .run(|tx| -> Result<(), StorageError> {
            tx.conn.execute(
                "INSERT INTO outbox_meta (key, value) VALUES ('feed_ack', (SELECT max(seq) FROM outbox))",
                [],
            )?;
            Ok(())
        })
        .await
        .unwrap();
    assert_eq!(f.purge(Delivery::Pull).await.visits, 1);

    // Without a case system, the end of the day after the visit closed counts.
    let t = f.visit().await;
    f.queue.act(t.id, Action::Cancel).await.unwrap();
    f.clock.set(utc(2026, 2, 5, 22, 59));
    assert_eq!(f.purge(Delivery::None).await.visits, 0);
    f.clock.set(utc(2026, 2, 5, 23, 0));
    assert_eq!(f.purge(Delivery::None).await.visits, 1);
    assert_eq!(f.personal().await, 0);
}

#[tokio::test]
async fn admin_retention_overrides_the_file_and_old_tickets_go() {
    let start = utc(2026, 2, 2, 9, 0);
    let f = fixture(start).await;
    f.visit().await;
    f.queue
        .db()
        .run(|tx| {
            crate::settings_store::set_retention(
                tx,
                &RetentionSettings {
                    personal_data_days_after_delivery: 0,
                    max_days: 7,
                    technical_days: 30,
                },
                "admin",
            )
        })
        .await
        .unwrap();
    f.clock.set(start + Duration::days(7));
    let r = f.purge(Delivery::Push).await;
    assert_eq!(r.visits_at_max_days, 1, "{r:?}");
    assert_eq!(r.tickets_deleted, 0);
    f.clock.set(start + Duration::days(31));
    let r = f.purge(Delivery::Push).await;
    assert_eq!(r.tickets_deleted, 1, "{r:?}");
    assert!(r.audit_entries_deleted >= 1, "{r:?}");
    assert_eq!(f.count("SELECT count(*) FROM tickets").await, 0);
    assert_eq!(f.count("SELECT count(*) FROM day_sequences").await, 0);
}

#[tokio::test]
async fn the_file_holds_no_trace_after_a_purge() {
    let f = fixture(utc(2026, 2, 2, 9, 0)).await;
    for _ in 0..20 {
        let t = f.visit().await;
        f.queue.act(t.id, Action::Cancel).await.unwrap();
    }
    f.deliver().await;
    f.clock.set(utc(2026, 2, 4, 9, 0));
    let r = f.purge(Delivery::Push).await;
    assert_eq!(r.visits, 20);
    let db = f.dir.path().join("lotse.db");
    for file in [
        db.clone(),
        db.with_extension("db-wal"),
        db.with_extension("db-shm"),
    ] {
        let Ok(bytes) = std::fs::read(&file) else {
            continue;
        };
        for needle in ["Kovalenko", "Olena", "1988-04-02", "TERMIN-4711"] {
            assert!(
                !bytes.windows(needle.len()).any(|w| w == needle.as_bytes()),
                "{needle} found in {}",
                file.display()
            );
        }
    }
}

#[tokio::test]
async fn the_maximum_ends_at_a_berlin_midnight_for_the_whole_day() {
    // Two visits on 4 May 2026 (Berlin, UTC+2), at 08:00 and 17:30.
    let f = fixture(utc(2026, 5, 4, 6, 0)).await;
    f.visit().await;
    f.clock.set(utc(2026, 5, 4, 15, 30));
    f.visit().await;
    // 2 August 00:00 Berlin is 90 days after 4 May 00:00: 1 August 22:00 UTC.
    f.clock.set(utc(2026, 8, 1, 21, 59));
    assert_eq!(f.purge(Delivery::Push).await.visits, 0);
    f.clock.set(utc(2026, 8, 1, 22, 0));
    let r = f.purge(Delivery::Push).await;
    assert_eq!(r.visits, 2, "{r:?}");
    assert_eq!(r.visits_at_max_days, 2);
    assert_eq!(f.personal().await, 0);
}

#[tokio::test]
#[ignore = "measurement: cargo test -p lotse-server --lib purge_figure -- --ignored --nocapture"]
async fn purge_figure() {
    let f = fixture(utc(2026, 2, 2, 7, 0)).await;
    for i in 0..3000 {
        let t = f.visit().await;
        f.queue.act(t.id, Action::Cancel).await.unwrap();
        if i % 300 == 0 {
            f.clock.advance(Duration::minutes(1));
        }
    }
    for _ in 0..10000 {
        f.queue
            .check_in(CheckinRequest {
                service: "general".into(),
                language: "de".into(),
                appointment: false,
                idempotency_key: None,
                identification: Default::default(),
            })
            .await
            .unwrap();
    }
    f.deliver().await;
    let db = f.dir.path().join("lotse.db");
    let size = |p: &std::path::Path| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
    println!(
        "before: db {} B, wal {} B",
        size(&db),
        size(&db.with_extension("db-wal"))
    );
    f.clock.set(utc(2026, 2, 4, 9, 0));
    let t0 = std::time::Instant::now();
    let r = f.purge(Delivery::Push).await;
    println!(
        "purge of {} visits incl. VACUUM: {:?}; {r:?}",
        r.visits,
        t0.elapsed()
    );
    println!(
        "after: db {} B, wal {} B",
        size(&db),
        size(&db.with_extension("db-wal"))
    );
}
