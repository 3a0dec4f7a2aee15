//! Queue rules against a real SQLite file with an injected clock.

use std::sync::Arc;

use chrono::{DateTime, Duration, TimeZone, Utc};

use super::*;
use crate::clock::ManualClock;
use crate::config::Settings;
use crate::storage::Db;

struct Fixture {
    queue: Queue,
    clock: Arc<ManualClock>,
    _dir: tempfile::TempDir,
}

async fn fixture(start: DateTime<Utc>) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(start));
    let settings = Settings::demo(None).unwrap();
    let db = Db::open(&dir.path().join("lotse.db"), clock.clone(), |_| {}).unwrap();
    let queue = Queue::new(db, settings.queue.clone());
    queue.sync_site(&settings).await.unwrap();
    Fixture {
        queue,
        clock,
        _dir: dir,
    }
}

fn utc(y: i32, m: u32, d: u32, h: u32, min: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, m, d, h, min, 0).unwrap()
}

impl Fixture {
    async fn check_in(&self, service: &str) -> Ticket {
        self.check_in_with(service, false).await
    }

    async fn check_in_with(&self, service: &str, appointment: bool) -> Ticket {
        let (t, new) = self
            .queue
            .check_in(CheckinRequest {
                service: service.into(),
                language: "de".into(),
                appointment,
                idempotency_key: None,
                identification: Default::default(),
            })
            .await
            .unwrap();
        assert!(new);
        t
    }

    async fn event_count(&self) -> i64 {
        self.queue
            .db()
            .run(|tx| -> crate::storage::Result<i64> {
                Ok(tx
                    .conn
                    .query_row("SELECT count(*) FROM events", [], |r| r.get(0))?)
            })
            .await
            .unwrap()
    }
}

#[tokio::test]
async fn numbers_count_per_service() {
    let f = fixture(utc(2026, 11, 20, 8, 0)).await;
    assert_eq!(f.check_in("residence").await.number, "A-001");
    assert_eq!(f.check_in("residence").await.number, "A-002");
    assert_eq!(f.check_in("work").await.number, "B-001");
    assert_eq!(f.check_in("residence").await.number, "A-003");
}

#[tokio::test]
async fn numbers_restart_at_berlin_midnight() {
    // 22:58 UTC on a winter evening is 23:58 in Berlin.
    let f = fixture(utc(2026, 1, 14, 22, 58)).await;
    assert_eq!(f.check_in("residence").await.number, "A-001");
    assert_eq!(f.check_in("residence").await.number, "A-002");
    f.clock.advance(Duration::minutes(2));
    let t = f.check_in("residence").await;
    assert_eq!(t.number, "A-001", "a new Berlin day has begun");
    // The UTC date is still the 14th: the day is Berlin's, not UTC's.
    assert_eq!(t.arrived_at.date_naive().to_string(), "2026-01-14");
    assert_eq!(f.queue.view().await.unwrap().day, "2026-01-15");
}

#[tokio::test]
async fn numbers_follow_berlin_days_across_dst_changes() {
    // Spring: on 29 March 2026 Berlin jumps from 02:00 CET to 03:00 CEST, so the
    // next midnight is 22:00 UTC.
    let f = fixture(utc(2026, 3, 28, 22, 59)).await;
    assert_eq!(f.check_in("work").await.number, "B-001"); // 23:59 CET, 28 March
    f.clock.set(utc(2026, 3, 28, 23, 0)); // 00:00 CET, 29 March
    assert_eq!(f.check_in("work").await.number, "B-001");
    f.clock.set(utc(2026, 3, 29, 1, 30)); // 03:30 CEST, same day
    assert_eq!(f.check_in("work").await.number, "B-002");
    f.clock.set(utc(2026, 3, 29, 21, 59)); // 23:59 CEST
    assert_eq!(f.check_in("work").await.number, "B-003");
    f.clock.set(utc(2026, 3, 29, 22, 0)); // 00:00 CEST, 30 March
    assert_eq!(f.check_in("work").await.number, "B-001");

    // Autumn: on 25 October 2026 02:00–03:00 happens twice; the day lasts 25 hours.
    f.clock.set(utc(2026, 10, 24, 22, 0)); // 00:00 CEST, 25 October
    assert_eq!(f.check_in("housing").await.number, "C-001");
    f.clock.set(utc(2026, 10, 25, 0, 30)); // 02:30 CEST
    assert_eq!(f.check_in("housing").await.number, "C-002");
    f.clock.set(utc(2026, 10, 25, 1, 30)); // 02:30 CET, the second time
    assert_eq!(f.check_in("housing").await.number, "C-003");
    f.clock.set(utc(2026, 10, 25, 22, 59)); // 23:59 CET
    assert_eq!(f.check_in("housing").await.number, "C-004");
    f.clock.set(utc(2026, 10, 25, 23, 0)); // 00:00 CET, 26 October
    assert_eq!(f.check_in("housing").await.number, "C-001");
}

#[tokio::test]
async fn a_number_is_never_issued_twice_after_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(utc(2026, 11, 20, 9, 0)));
    let settings = Settings::demo(None).unwrap();
    let path = dir.path().join("lotse.db");
    for expected in ["A-001", "A-002", "A-003"] {
        let db = Db::open(&path, clock.clone(), |_| {}).unwrap();
        let q = Queue::new(db.clone(), settings.queue.clone());
        q.sync_site(&settings).await.unwrap();
        let (t, _) = q
            .check_in(CheckinRequest {
                service: "residence".into(),
                language: "ar".into(),
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(t.number, expected);
        db.close().await;
    }
}

#[tokio::test]
async fn appointments_go_first_but_walk_ins_age_past_them() {
    let f = fixture(utc(2026, 11, 20, 8, 0)).await;
    let walk_in = f.check_in("residence").await;
    f.clock.advance(Duration::minutes(10));
    let appt = f.check_in_with("residence", true).await;
    assert_eq!(appt.position, Some(0), "the appointment is placed first");
    let first = f.queue.call_next("c1").await.unwrap().unwrap();
    assert_eq!(first.id, appt.id);

    // An appointment 20 minutes after a walk-in no longer overtakes it.
    f.clock.advance(Duration::minutes(20));
    let late_appt = f.check_in_with("residence", true).await;
    assert_eq!(late_appt.position, Some(1));
    let next = f.queue.call_next("c1").await.unwrap().unwrap();
    assert_eq!(next.id, walk_in.id);
}

#[tokio::test]
async fn call_next_serves_only_the_counters_services() {
    let f = fixture(utc(2026, 11, 20, 8, 0)).await;
    f.check_in("work").await; // c1 does not serve work
    assert_eq!(f.queue.call_next("c1").await.unwrap(), None);
    let t = f.queue.call_next("c2").await.unwrap().unwrap();
    assert_eq!(t.number, "B-001");
    assert_eq!(t.counter.as_deref(), Some("c2"));
    assert_eq!(t.room.as_deref(), Some("Raum 102"));
    assert_eq!(t.call_count, 1);
    assert!(matches!(
        f.queue.call_next("nope").await,
        Err(QueueError::UnknownCounter(_))
    ));
}

#[tokio::test]
async fn a_paused_counter_calls_nobody() {
    let f = fixture(utc(2026, 11, 20, 8, 0)).await;
    f.check_in("general").await;
    f.queue.set_paused("c1", true).await.unwrap();
    assert!(matches!(
        f.queue.call_next("c1").await,
        Err(QueueError::CounterPaused(_))
    ));
    f.queue.set_paused("c1", false).await.unwrap();
    assert!(f.queue.call_next("c1").await.unwrap().is_some());
}

#[tokio::test]
async fn full_visit_and_recall() {
    let f = fixture(utc(2026, 11, 20, 8, 0)).await;
    let t = f.check_in("general").await;
    f.queue.call_next("c3").await.unwrap().unwrap();
    let r = f.queue.act(t.id, Action::Recall).await.unwrap();
    assert_eq!((r.status, r.call_count), (Status::Called, 2));
    f.clock.advance(Duration::minutes(1));
    let s = f.queue.act(t.id, Action::Start).await.unwrap();
    assert_eq!(s.status, Status::Serving);
    f.clock.advance(Duration::minutes(12));
    let d = f.queue.act(t.id, Action::Done).await.unwrap();
    assert_eq!(d.status, Status::Done);
    assert_eq!(
        d.finished_at.unwrap() - d.started_at.unwrap(),
        Duration::minutes(12)
    );
}

#[tokio::test]
async fn illegal_transitions_change_nothing() {
    let f = fixture(utc(2026, 11, 20, 8, 0)).await;
    let t = f.check_in("general").await;
    let before = f.event_count().await;
    for action in [Action::Recall, Action::Start, Action::Done, Action::NoShow] {
        match f.queue.act(t.id, action).await {
            Err(QueueError::IllegalTransition { from, .. }) => assert_eq!(from, Status::Waiting),
            other => panic!("{action:?} on a waiting ticket: {other:?}"),
        }
    }
    f.queue.act(t.id, Action::Cancel).await.unwrap();
    let after_cancel = f.event_count().await;
    assert_eq!(after_cancel, before + 1);
    for action in [Action::Cancel, Action::Recall, Action::Done] {
        assert!(f.queue.act(t.id, action).await.is_err());
    }
    assert!(f.queue.transfer(t.id, "work").await.is_err());
    assert_eq!(f.event_count().await, after_cancel);
    assert_eq!(
        f.queue.ticket(t.id).await.unwrap().status,
        Status::Cancelled
    );
    assert!(matches!(
        f.queue.act(9999, Action::Done).await,
        Err(QueueError::UnknownTicket(9999))
    ));
}

#[tokio::test]
async fn transfer_keeps_number_and_arrival_time() {
    let f = fixture(utc(2026, 11, 20, 8, 0)).await;
    let t = f.check_in("residence").await;
    f.clock.advance(Duration::minutes(5));
    let later = f.check_in("work").await;
    f.queue.call_next("c1").await.unwrap().unwrap();
    f.queue.act(t.id, Action::Start).await.unwrap();
    f.clock.advance(Duration::minutes(3));
    let moved = f.queue.transfer(t.id, "work").await.unwrap();
    assert_eq!(moved.number, "A-001");
    assert_eq!(moved.service, "work");
    assert_eq!(moved.status, Status::Waiting);
    assert_eq!(moved.arrived_at, t.arrived_at);
    assert_eq!(moved.transferred_from, Some(t.id));
    assert_eq!(moved.token, t.token, "the printed status QR keeps working");
    assert_eq!(moved.position, Some(0), "ahead of the later walk-in");
    let old = f.queue.ticket(t.id).await.unwrap();
    assert_eq!(old.status, Status::Transferred);
    let next = f.queue.call_next("c2").await.unwrap().unwrap();
    assert_eq!(next.id, moved.id);
    assert_ne!(next.id, later.id);
    assert!(matches!(
        f.queue.transfer(moved.id, "work").await,
        Err(QueueError::SameService(..))
    ));
    assert!(matches!(
        f.queue.transfer(moved.id, "nowhere").await,
        Err(QueueError::UnknownService(_))
    ));
    // A new residence ticket still gets the next number, not A-001 again.
    assert_eq!(f.check_in("residence").await.number, "A-002");
}

#[tokio::test]
async fn estimate_uses_recent_service_times_and_open_counters() {
    let f = fixture(utc(2026, 11, 20, 8, 0)).await;
    // "work" has no history: default 10 minutes, served by c2 and c3.
    f.check_in("work").await;
    f.check_in("work").await;
    let third = f.check_in("work").await;
    assert_eq!(third.position, Some(2));
    assert_eq!(third.estimated_wait_minutes, Some(10)); // 2 × 10 min / 2 counters
    // Two visits of 4 minutes each teach the estimate.
    for _ in 0..2 {
        let t = f.queue.call_next("c2").await.unwrap().unwrap();
        f.queue.act(t.id, Action::Start).await.unwrap();
        f.clock.advance(Duration::minutes(4));
        f.queue.act(t.id, Action::Done).await.unwrap();
    }
    f.queue.set_paused("c3", true).await.unwrap();
    f.check_in("work").await;
    let t = f.check_in("work").await;
    assert_eq!(t.position, Some(2));
    assert_eq!(t.estimated_wait_minutes, Some(8)); // 2 × 4 min / 1 open counter
}

#[tokio::test]
async fn same_idempotency_key_gives_the_same_ticket() {
    let f = fixture(utc(2026, 11, 20, 8, 0)).await;
    let req = CheckinRequest {
        service: "general".into(),
        language: "fa".into(),
        appointment: false,
        idempotency_key: Some("visit-1".into()),
        identification: Default::default(),
    };
    let (a, new_a) = f.queue.check_in(req.clone()).await.unwrap();
    let (b, new_b) = f.queue.check_in(req).await.unwrap();
    assert!(new_a && !new_b);
    assert_eq!(a.id, b.id);
    assert_eq!(f.check_in("general").await.number, "E-002");
}

#[tokio::test]
async fn unknown_language_and_service_are_refused() {
    let f = fixture(utc(2026, 11, 20, 8, 0)).await;
    let r = f
        .queue
        .check_in(CheckinRequest {
            service: "general".into(),
            language: "xx".into(),
            ..Default::default()
        })
        .await;
    assert!(matches!(r, Err(QueueError::UnknownLanguage(_))));
    let r = f
        .queue
        .check_in(CheckinRequest {
            service: "nope".into(),
            language: "de".into(),
            ..Default::default()
        })
        .await;
    assert!(matches!(r, Err(QueueError::UnknownService(_))));
    assert_eq!(f.event_count().await, 0);
    assert_eq!(f.check_in("general").await.number, "E-001");
}
