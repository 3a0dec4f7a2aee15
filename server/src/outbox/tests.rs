//! Unit tests of the outbox: signatures, backoff and decisions as pure functions;
//! events against a real SQLite file; the worker with a fake transport in virtual
//! time (`tokio::time::pause`), where days of outage take a few seconds.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine;
use chrono::{DateTime, TimeZone, Utc};
use ed25519_dalek::Verifier;
use serde_json::Value;
use tokio::sync::{Notify, watch};

use super::settings::{CaseSystemSettings, Secret};
use super::sign::{self, Signer};
use super::store::{self, Decision, DueEvent};
use super::transport::{Delivery, OutboxTransport, Outcome, RetryAfter};
use super::worker::{self, EndpointEffect, Worker, WorkerOptions};
use crate::clock::{Clock, ManualClock};
use crate::config::{ConfigError, Settings};
use crate::events::EventBus;
use crate::queue::{Action, CheckinRequest, Queue, Ticket};
use crate::storage::{Db, StorageError};

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

fn start_time() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 2, 8, 0, 0).unwrap()
}

// ---------- signatures ----------

#[test]
fn signature_matches_the_standard_webhooks_test_vector() {
    let key = sign::parse_secret(SECRET).unwrap();
    let s = Signer::from_keys(vec![key], None);
    assert_eq!(
        s.sign(
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1614265330,
            br#"{"test": 2432232314}"#
        ),
        "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
    );
}

#[test]
fn rotation_signs_with_every_secret_and_ed25519_verifies() {
    let a = sign::parse_secret(SECRET).unwrap();
    let b = vec![7u8; 32];
    let seed = [9u8; 32];
    let s = Signer::from_keys(vec![a, b], Some(seed));
    let header = s.sign("evt_1", 1700000000, b"{}");
    let parts: Vec<&str> = header.split(' ').collect();
    assert_eq!(parts.len(), 3, "{header}");
    assert!(parts[0].starts_with("v1,") && parts[1].starts_with("v1,"));
    let sig = parts[2].strip_prefix("v1a,").unwrap();
    let sig = base64::engine::general_purpose::STANDARD
        .decode(sig)
        .unwrap();
    let key = ed25519_dalek::SigningKey::from_bytes(&seed).verifying_key();
    let sig = ed25519_dalek::Signature::from_slice(&sig).unwrap();
    key.verify(b"evt_1.1700000000.{}", &sig).unwrap();
    let pk = sign::public_key(&Secret::new(seed.to_vec()));
    assert!(pk.starts_with("whpk_"));
}

#[test]
fn secrets_and_keys_are_checked() {
    assert!(sign::parse_secret("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").is_err());
    assert!(sign::parse_secret("whsec_!!!").is_err());
    assert!(
        sign::parse_secret("whsec_c2hvcnQ=")
            .unwrap_err()
            .contains("bytes")
    );
    let seed = base64::engine::general_purpose::STANDARD.encode([1u8; 32]);
    assert_eq!(
        sign::parse_signing_key(&format!("whsk_{seed}")).unwrap(),
        [1u8; 32]
    );
    assert!(sign::parse_signing_key("whsk_AAAA").is_err());
}

// ---------- configuration ----------

const SITE: &str = r#"
[site]
id = "kreis-test"
[[services]]
id = "residence"
prefix = "A"
[[counters]]
id = "c1"
name = "Schalter 1"
services = ["residence"]
"#;

#[test]
fn case_system_section_is_validated_with_lines() {
    let src = format!(
        "{SITE}[case_system]\nurl = \"ftp://x\"\nsecret = [\"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\", \"nope\"]\nretry_initial = \"5x\"\nclient_cert = \"/nonexistent.pem\"\n"
    );
    let Err(ConfigError::Invalid(p)) = Settings::from_toml(&src) else {
        panic!("expected problems");
    };
    let text: Vec<String> = p.iter().map(|p| p.to_string()).collect();
    assert!(
        text.iter()
            .any(|t| t.starts_with("line 12: case_system.url")),
        "{text:#?}"
    );
    assert!(
        text.iter()
            .any(|t| t.starts_with("line 13: case_system.secret: secret 2")),
        "{text:#?}"
    );
    assert!(
        text.iter()
            .any(|t| t.starts_with("line 14: case_system.retry_initial")),
        "{text:#?}"
    );
    assert!(
        text.iter()
            .any(|t| t.starts_with("line 15: case_system.client_key")),
        "{text:#?}"
    );

    let ok = format!(
        "{SITE}[case_system]\nurl = \"https://case.example/hook\"\nsecret = \"{SECRET}\"\nretry_max = \"10m\"\nfeed_token = \"0123456789abcdef\"\n"
    );
    let s = Settings::from_toml(&ok).unwrap();
    let cs = s.case_system.unwrap();
    assert_eq!(cs.retry_initial, Duration::from_secs(5));
    assert_eq!(cs.retry_max, Duration::from_secs(600));
    assert_eq!(cs.give_up_after, Duration::from_secs(7 * 86_400));
    assert_eq!(cs.secrets.len(), 1);
    assert!(!format!("{cs:?}").contains("0123456789abcdef"));
    assert!(Settings::from_toml(SITE).unwrap().case_system.is_none());
}

// ---------- backoff and decisions ----------

#[test]
fn backoff_is_full_jitter_doubling_to_the_cap() {
    let i = Duration::from_secs(5);
    let m = Duration::from_secs(3600);
    assert_eq!(
        worker::backoff(1, i, m, 0.999_999),
        Duration::from_secs(5).mul_f64(0.999_999)
    );
    assert_eq!(worker::backoff(2, i, m, 0.5), Duration::from_secs(5));
    assert_eq!(worker::backoff(4, i, m, 1.0), Duration::from_secs(40));
    assert_eq!(worker::backoff(30, i, m, 1.0), m);
    assert_eq!(worker::backoff(u32::MAX, i, m, 1.0), m);
    assert_eq!(worker::backoff(3, i, m, 0.0), Duration::ZERO);
}

fn due_event(attempts: u32, pending_since: i64) -> DueEvent {
    DueEvent {
        seq: 1,
        event_id: "e".into(),
        visit_id: "v".into(),
        payload: "{}".into(),
        attempts,
        pending_since,
    }
}

fn options() -> WorkerOptions {
    WorkerOptions {
        url: "http://receiver/hook".into(),
        retry_initial: Duration::from_secs(5),
        retry_max: Duration::from_secs(3600),
        give_up_after: Duration::from_secs(7 * 86_400),
        concurrency: 16,
    }
}

#[test]
fn decisions_follow_the_status() {
    let now = start_time();
    let ms = now.timestamp_millis();
    let ev = due_event(0, ms);
    let o = options();
    let (d, e, _) = worker::decide(&ev, &Outcome::Delivered { status: 204 }, now, &o, 0.5);
    assert_eq!(
        (d, e),
        (Decision::Delivered { seq: 1 }, EndpointEffect::Healthy)
    );

    let gone = Outcome::Rejected {
        status: 410,
        retry_after: None,
        detail: "HTTP 410".into(),
    };
    let (d, e, _) = worker::decide(&ev, &gone, now, &o, 0.5);
    assert!(matches!(d, Decision::Gone { .. }));
    assert_eq!(e, EndpointEffect::Gone);

    let busy = Outcome::Rejected {
        status: 429,
        retry_after: Some(RetryAfter::Seconds(120)),
        detail: "HTTP 429".into(),
    };
    let (d, e, r) = worker::decide(&ev, &busy, now, &o, 0.0);
    assert_eq!(e, EndpointEffect::Failing);
    assert_eq!(r, Some(now + chrono::Duration::seconds(120)));
    assert!(matches!(d, Decision::Retry { at, .. } if at == ms + 120_000));

    let bad = Outcome::Rejected {
        status: 422,
        retry_after: None,
        detail: "HTTP 422".into(),
    };
    let (d, e, _) = worker::decide(&due_event(3, ms), &bad, now, &o, 1.0);
    assert_eq!(
        e,
        EndpointEffect::Healthy,
        "a 4xx is about the event, not the endpoint"
    );
    assert!(matches!(d, Decision::Retry { at, .. } if at == ms + 40_000));

    let old = due_event(50, ms - 8 * 86_400_000);
    let (d, _, _) = worker::decide(
        &old,
        &Outcome::Failed {
            error: "refused".into(),
        },
        now,
        &o,
        0.5,
    );
    assert!(matches!(d, Decision::Dead { .. }));

    assert_eq!(RetryAfter::parse(" 30 "), Some(RetryAfter::Seconds(30)));
    assert_eq!(
        RetryAfter::parse("Wed, 21 Oct 2015 07:28:00 GMT"),
        Some(RetryAfter::At(
            Utc.with_ymd_and_hms(2015, 10, 21, 7, 28, 0).unwrap()
        ))
    );
    assert_eq!(RetryAfter::parse("soon"), None);
}

// ---------- events in the database ----------

struct Site {
    db: Db,
    queue: Queue,
    bus: EventBus,
    _dir: tempfile::TempDir,
}

async fn site(clock: Arc<dyn Clock>) -> Site {
    let dir = tempfile::tempdir().unwrap();
    let bus = EventBus::new();
    let publisher = bus.clone();
    let db = Db::open(&dir.path().join("lotse.db"), clock, move |e| {
        publisher.publish(e)
    })
    .unwrap();
    let settings = Settings::demo(None).unwrap();
    let queue = Queue::new(db.clone(), settings.queue.clone());
    queue.sync_site(&settings).await.unwrap();
    super::init(&db, &settings).await.unwrap();
    Site {
        db,
        queue,
        bus,
        _dir: dir,
    }
}

async fn check_in(q: &Queue, service: &str) -> Ticket {
    q.check_in(CheckinRequest {
        service: service.into(),
        language: "uk".into(),
        ..Default::default()
    })
    .await
    .unwrap()
    .0
}

async fn outbox(db: &Db) -> Vec<(i64, String, Value)> {
    db.run(|tx| -> Result<Vec<(i64, String, Value)>, StorageError> {
        let rows = store::feed(tx, 0, 100_000)?;
        let states: HashMap<i64, String> = tx
            .conn
            .prepare("SELECT seq, state FROM outbox")?
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<rusqlite::Result<_>>()?;
        Ok(rows
            .into_iter()
            .map(|e| {
                (
                    e.cursor,
                    states.get(&e.cursor).cloned().unwrap_or_default(),
                    serde_json::from_str(&e.payload).unwrap(),
                )
            })
            .collect())
    })
    .await
    .unwrap()
}

#[tokio::test]
async fn every_visit_change_writes_its_event_in_the_same_transaction() {
    let clock = Arc::new(ManualClock::new(start_time()));
    let s = site(clock.clone()).await;
    let a = check_in(&s.queue, "residence").await;
    clock.advance(chrono::Duration::minutes(12));
    let called = s.queue.call_next("c1").await.unwrap().unwrap();
    assert_eq!(called.id, a.id);
    s.queue.act(a.id, Action::Recall).await.unwrap();
    s.queue.act(a.id, Action::Start).await.unwrap();
    clock.advance(chrono::Duration::minutes(20));
    s.queue.act(a.id, Action::Done).await.unwrap();

    let b = check_in(&s.queue, "work").await;
    let moved = s.queue.transfer(b.id, "housing").await.unwrap();
    s.queue.act(moved.id, Action::Cancel).await.unwrap();
    // A refused change writes no event.
    assert!(s.queue.act(a.id, Action::Done).await.is_err());

    let events = outbox(&s.db).await;
    let types: Vec<&str> = events
        .iter()
        .map(|(_, _, e)| e["type"].as_str().unwrap())
        .collect();
    assert_eq!(
        types,
        [
            "visit.checked_in",
            "visit.called",
            "visit.called",
            "visit.completed",
            "visit.checked_in",
            "visit.transferred",
            "visit.cancelled"
        ]
    );
    let done = &events[3].2;
    assert_eq!(done["spec_version"], "1.1");
    assert_eq!(done["site_id"], "demo");
    assert_eq!(done["device_id"], "demo-hub");
    assert_eq!(done["data"]["waiting_seconds"], 12 * 60);
    assert_eq!(done["data"]["service_seconds"], 20 * 60);
    assert_eq!(done["data"]["ticket_number"], "A-001");
    assert_eq!(done["data"]["identification"], "none");
    let id = uuid::Uuid::parse_str(done["id"].as_str().unwrap()).unwrap();
    assert_eq!(id.get_version_num(), 7);
    // One visit id per visit, kept across the transfer.
    let visit = |i: usize| {
        events[i].2["data"]["visit_id"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert!((1..4).all(|i| visit(i) == visit(0)));
    assert_ne!(visit(4), visit(0));
    assert_eq!(visit(5), visit(4));
    assert_eq!(visit(6), visit(4));
    assert_eq!(events[5].2["data"]["transferred_from"]["service"], "work");
    assert_eq!(events[5].2["data"]["service"], "housing");
    for (_, state, e) in &events {
        assert_eq!(state, "pending");
        assert!(
            e["data"].get("person").is_none(),
            "no consent, no person: {e}"
        );
    }
}

#[tokio::test]
async fn personal_data_only_with_consent_and_never_the_document_number() {
    let clock = Arc::new(ManualClock::new(start_time()));
    let s = site(clock.clone()).await;
    let with = check_in(&s.queue, "residence").await;
    let without = check_in(&s.queue, "residence").await;
    let refused = check_in(&s.queue, "residence").await;
    let (w, n, r) = (with.id, without.id, refused.id);
    s.db.run(move |tx| -> Result<(), StorageError> {
        tx.conn.execute(
            "INSERT INTO visitor_data (ticket_id, surname, given_names, birth_date, nationality, consent_at)
             VALUES (?1, 'Shevchenko', 'Olena', '1990-04-01', NULL, 1)",
            [w],
        )?;
        // (The nationality is stored, and then forwarded, only with `keep_nationality`.)
        // Data read but consent refused: never forwarded.
        tx.conn.execute(
            "INSERT INTO visitor_data (ticket_id, surname, given_names, birth_date, nationality, consent_at)
             VALUES (?1, 'Kovalenko', 'Ivan', '1985-01-01', 'UKR', NULL)",
            [r],
        )?;
        Ok(())
    })
    .await
    .unwrap();
    for id in [w, n, r] {
        s.queue.act(id, Action::Cancel).await.unwrap();
    }
    let events = outbox(&s.db).await;
    for (_, _, e) in &events {
        let ticket = e["data"]["ticket_id"].as_i64().unwrap();
        let text = e.to_string();
        assert!(
            !text.contains("UKR") && !text.contains("document"),
            "{text}"
        );
        if ticket == w && e["type"] == "visit.cancelled" {
            assert_eq!(
                e["data"]["person"],
                serde_json::json!({"surname": "Shevchenko", "given_names": "Olena", "birth_date": "1990-04-01"})
            );
        } else {
            assert!(e["data"].get("person").is_none(), "{text}");
            assert!(!text.contains("Kovalenko"));
        }
    }
    let _ = n;
}

// ---------- the worker in virtual time ----------

/// Wall-clock time that follows tokio's (paused) clock, also on the database thread.
#[derive(Debug)]
struct VirtualClock {
    base: DateTime<Utc>,
    start: tokio::time::Instant,
    handle: tokio::runtime::Handle,
}

impl VirtualClock {
    fn new() -> Arc<Self> {
        Arc::new(Self {
            base: start_time(),
            start: tokio::time::Instant::now(),
            handle: tokio::runtime::Handle::current(),
        })
    }
}

impl Clock for VirtualClock {
    fn now(&self) -> DateTime<Utc> {
        let _g = self.handle.enter();
        let d = tokio::time::Instant::now() - self.start;
        self.base + chrono::Duration::from_std(d).unwrap_or_default()
    }
}

type Script = Box<dyn FnMut(&Delivery, DateTime<Utc>) -> Outcome + Send>;

/// A receiver in memory: a script decides each answer; it records every attempt.
struct Fake {
    clock: Arc<dyn Clock>,
    script: Mutex<Script>,
    attempts: Mutex<Vec<(String, DateTime<Utc>, Outcome)>>,
    delivered: Mutex<Vec<String>>,
    count: AtomicUsize,
    changed: Notify,
}

impl std::fmt::Debug for Fake {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fake").finish_non_exhaustive()
    }
}

impl Fake {
    fn new(clock: Arc<dyn Clock>, script: Script) -> Arc<Self> {
        Arc::new(Self {
            clock,
            script: Mutex::new(script),
            attempts: Mutex::new(Vec::new()),
            delivered: Mutex::new(Vec::new()),
            count: AtomicUsize::new(0),
            changed: Notify::new(),
        })
    }

    /// Waits (without a timer, so virtual time only moves for the worker) until
    /// `n` deliveries succeeded.
    async fn until_delivered(&self, n: usize) {
        while self.count.load(Ordering::SeqCst) < n {
            self.changed.notified().await;
        }
    }

    async fn until_attempts(&self, n: usize) {
        while self.attempts.lock().unwrap().len() < n {
            self.changed.notified().await;
        }
    }
}

impl OutboxTransport for Fake {
    fn send(
        &self,
        d: Delivery,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Outcome> + Send + '_>> {
        let now = self.clock.now();
        let outcome = (self.script.lock().unwrap())(&d, now);
        self.attempts
            .lock()
            .unwrap()
            .push((d.id.clone(), now, outcome.clone()));
        if matches!(outcome, Outcome::Delivered { .. }) {
            self.delivered.lock().unwrap().push(d.id.clone());
            self.count.fetch_add(1, Ordering::SeqCst);
        }
        self.changed.notify_one();
        Box::pin(async move { outcome })
    }
}

struct Running {
    stop: watch::Sender<bool>,
    _shutdown: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

fn run_worker(s: &Site, clock: Arc<dyn Clock>, fake: Arc<Fake>, opts: WorkerOptions) -> Running {
    let settings = CaseSystemSettings::for_url(&opts.url, SECRET).unwrap();
    let w = Worker::new(
        s.db.clone(),
        clock,
        fake,
        Arc::new(Signer::new(&settings)),
        opts,
    );
    let (stop, stop_rx) = watch::channel(false);
    let (shutdown, shutdown_rx) = watch::channel(false);
    let task = tokio::spawn(w.run(stop_rx, shutdown_rx, Some(s.bus.subscribe())));
    Running {
        stop,
        _shutdown: shutdown,
        task,
    }
}

impl Running {
    async fn stop(self) {
        let _ = self.stop.send(true);
        self.task.await.unwrap();
    }
}

/// Lets virtual time pass in steps, giving the worker real time after each step for
/// its database round trips: while it waits for the database thread it has no timer
/// pending, and tokio would otherwise jump the clock straight past it.
async fn advance(total: Duration) {
    let step = Duration::from_secs(1800);
    let mut left = total;
    while !left.is_zero() {
        let d = left.min(step);
        tokio::time::sleep(d).await;
        left -= d;
        for _ in 0..4 {
            std::thread::sleep(Duration::from_millis(2));
            tokio::task::yield_now().await;
        }
    }
}

fn down() -> Outcome {
    Outcome::Failed {
        error: "connection refused".into(),
    }
}

/// 1,000 visits while the receiver is down for two days; after it comes back every
/// event is delivered once, in order per visit, within the backoff cap.
#[tokio::test(start_paused = true)]
async fn two_days_of_outage_lose_nothing_virtual_time() {
    let clock: Arc<dyn Clock> = VirtualClock::new();
    let s = site(clock.clone()).await;
    let back = start_time() + chrono::Duration::days(2);
    let fake = Fake::new(
        clock.clone(),
        Box::new(move |_, now| {
            if now < back {
                down()
            } else {
                Outcome::Delivered { status: 204 }
            }
        }),
    );
    let opts = options();
    let w = run_worker(&s, clock.clone(), fake.clone(), opts);

    let services = ["residence", "work", "housing", "naturalisation", "general"];
    let mut tickets = Vec::new();
    for chunk in 0..10 {
        let batch = (0..100).map(|i| check_in(&s.queue, services[(chunk * 100 + i) % 5]));
        tickets.extend(futures::future::join_all(batch).await);
        tokio::time::sleep(Duration::from_secs(600)).await;
    }
    // Part of the visits go on at the counters while the receiver is down.
    for i in 0..300 {
        let c = ["c1", "c2", "c3"][i % 3];
        if let Some(t) = s.queue.call_next(c).await.unwrap() {
            match i % 4 {
                0 => {
                    s.queue.act(t.id, Action::Start).await.unwrap();
                    s.queue.act(t.id, Action::Done).await.unwrap();
                }
                1 => {
                    s.queue.act(t.id, Action::NoShow).await.unwrap();
                }
                2 => {
                    let to = if t.service == "general" {
                        "work"
                    } else {
                        "general"
                    };
                    s.queue.transfer(t.id, to).await.unwrap();
                }
                _ => {
                    s.queue.act(t.id, Action::Recall).await.unwrap();
                }
            }
        }
    }
    let expected = outbox(&s.db).await;
    assert!(expected.len() > 1500, "{} events", expected.len());
    assert_eq!(fake.count.load(Ordering::SeqCst), 0);

    fake.until_delivered(expected.len()).await;
    let finished = clock.now();
    w.stop().await;

    assert!(
        finished <= back + chrono::Duration::hours(1) + chrono::Duration::minutes(5),
        "drained at {finished}, receiver back at {back}"
    );
    // While down, the worker probed with one request at a time, not per event.
    let attempts = fake.attempts.lock().unwrap().clone();
    let failed = attempts.iter().filter(|a| a.1 < back).count();
    assert!(failed < 200, "{failed} attempts during the outage");

    let delivered = fake.delivered.lock().unwrap().clone();
    let unique: HashSet<&String> = delivered.iter().collect();
    assert_eq!(
        unique.len(),
        delivered.len(),
        "an event was delivered twice"
    );
    assert_eq!(delivered.len(), expected.len());
    let seq_of: HashMap<String, (i64, String)> = expected
        .iter()
        .map(|(seq, _, e)| {
            (
                e["id"].as_str().unwrap().to_string(),
                (*seq, e["data"]["visit_id"].as_str().unwrap().to_string()),
            )
        })
        .collect();
    let mut last: HashMap<String, i64> = HashMap::new();
    for id in &delivered {
        let (seq, visit) = seq_of.get(id).unwrap();
        let prev = last.insert(visit.clone(), *seq);
        assert!(prev.is_none_or(|p| p < *seq), "visit {visit} out of order");
    }
    assert!(
        outbox(&s.db)
            .await
            .iter()
            .all(|(_, st, _)| st == "delivered")
    );
    let stats = s.db.run(|tx| store::stats(tx, true)).await.unwrap();
    assert_eq!(stats.backlog, 0);
    assert_eq!(stats.delivered_total, expected.len() as i64);
}

/// A later event of a visit waits while an earlier one is refused.
#[tokio::test(start_paused = true)]
async fn order_per_visit_is_kept_through_failures() {
    let clock: Arc<dyn Clock> = VirtualClock::new();
    let s = site(clock.clone()).await;
    let t = check_in(&s.queue, "residence").await;
    let other = check_in(&s.queue, "work").await;
    s.queue.call_next("c1").await.unwrap();
    s.queue.act(t.id, Action::Cancel).await.unwrap();
    let events = outbox(&s.db).await;
    let first = events[0].2["id"].as_str().unwrap().to_string();
    let mut refusals = 0;
    let f = first.clone();
    let fake = Fake::new(
        clock.clone(),
        Box::new(move |d, _| {
            if d.id == f && refusals < 3 {
                refusals += 1;
                Outcome::Rejected {
                    status: 500,
                    retry_after: None,
                    detail: "HTTP 500".into(),
                }
            } else {
                Outcome::Delivered { status: 200 }
            }
        }),
    );
    let w = run_worker(&s, clock.clone(), fake.clone(), options());
    fake.until_delivered(events.len()).await;
    w.stop().await;
    let delivered = fake.delivered.lock().unwrap().clone();
    let visit_of = |id: &str| {
        events
            .iter()
            .find(|e| e.2["id"] == id)
            .map(|e| e.2["data"]["ticket_id"].as_i64().unwrap())
            .unwrap()
    };
    let mine: Vec<&String> = delivered.iter().filter(|id| visit_of(id) == t.id).collect();
    assert_eq!(mine.len(), 3);
    assert_eq!(mine[0], &first, "checked_in goes first: {delivered:?}");
    // The other visit was not held up by the refusals.
    let pos_other = delivered
        .iter()
        .position(|id| visit_of(id) == other.id)
        .unwrap();
    let pos_first = delivered.iter().position(|id| *id == first).unwrap();
    assert!(pos_other < pos_first);
}

/// `Retry-After` is obeyed, for the event and for the endpoint.
#[tokio::test(start_paused = true)]
async fn retry_after_is_honoured() {
    let clock: Arc<dyn Clock> = VirtualClock::new();
    let s = site(clock.clone()).await;
    check_in(&s.queue, "residence").await;
    let mut first = true;
    let fake = Fake::new(
        clock.clone(),
        Box::new(move |_, _| {
            if std::mem::take(&mut first) {
                Outcome::Rejected {
                    status: 429,
                    retry_after: Some(RetryAfter::Seconds(900)),
                    detail: "HTTP 429".into(),
                }
            } else {
                Outcome::Delivered { status: 202 }
            }
        }),
    );
    let w = run_worker(&s, clock.clone(), fake.clone(), options());
    fake.until_delivered(1).await;
    w.stop().await;
    let a = fake.attempts.lock().unwrap().clone();
    assert_eq!(a.len(), 2);
    assert!(a[1].1 - a[0].1 >= chrono::Duration::seconds(900), "{a:?}");
}

/// 410 Gone switches the endpoint off until it is switched on again.
#[tokio::test(start_paused = true)]
async fn gone_disables_the_endpoint_until_enabled() {
    let clock: Arc<dyn Clock> = VirtualClock::new();
    let s = site(clock.clone()).await;
    check_in(&s.queue, "residence").await;
    check_in(&s.queue, "work").await;
    let gone = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let g = gone.clone();
    let fake = Fake::new(
        clock.clone(),
        Box::new(move |_, _| {
            if g.load(Ordering::SeqCst) {
                Outcome::Rejected {
                    status: 410,
                    retry_after: None,
                    detail: "HTTP 410".into(),
                }
            } else {
                Outcome::Delivered { status: 200 }
            }
        }),
    );
    let w = run_worker(&s, clock.clone(), fake.clone(), options());
    fake.until_attempts(1).await;
    // A day later nothing more was tried.
    advance(Duration::from_secs(86_400)).await;
    let tried = fake.attempts.lock().unwrap().len();
    assert!(tried <= 2, "{tried} attempts after 410");
    let mut stats = s.db.run(|tx| store::stats(tx, true)).await.unwrap();
    for _ in 0..10 {
        if stats.disabled_url.is_some() {
            break;
        }
        advance(Duration::from_secs(60)).await;
        stats = s.db.run(|tx| store::stats(tx, true)).await.unwrap();
    }
    assert_eq!(stats.disabled_url.as_deref(), Some("http://receiver/hook"));
    assert_eq!(stats.backlog, 2);

    gone.store(false, Ordering::SeqCst);
    assert!(s.db.run(store::enable).await.unwrap());
    super::waker(s.db.path()).notify_one();
    fake.until_delivered(2).await;
    w.stop().await;
}

/// After `give_up_after` events become dead letters; a replay delivers them.
#[tokio::test(start_paused = true)]
async fn dead_letters_after_give_up_and_replay() {
    let clock: Arc<dyn Clock> = VirtualClock::new();
    let s = site(clock.clone()).await;
    for _ in 0..5 {
        check_in(&s.queue, "residence").await;
    }
    let up = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let u = up.clone();
    let fake = Fake::new(
        clock.clone(),
        Box::new(move |_, _| {
            if u.load(Ordering::SeqCst) {
                Outcome::Delivered { status: 200 }
            } else {
                Outcome::Rejected {
                    status: 503,
                    retry_after: None,
                    detail: "HTTP 503".into(),
                }
            }
        }),
    );
    let w = run_worker(&s, clock.clone(), fake.clone(), options());
    advance(Duration::from_secs(8 * 86_400)).await;
    let dead = s.db.run(|tx| store::dead_letters(tx, 100)).await.unwrap();
    assert_eq!(dead.len(), 5);
    assert!(dead.iter().all(|d| d.last_error.is_some()));

    up.store(true, Ordering::SeqCst);
    let now = crate::clock::to_ms(clock.now());
    let id = dead[0].id.clone();
    assert!(
        s.db.run(move |tx| store::replay(tx, &id, now))
            .await
            .unwrap()
    );
    super::waker(s.db.path()).notify_one();
    fake.until_delivered(1).await;
    w.stop().await;
    let stats = s.db.run(|tx| store::stats(tx, true)).await.unwrap();
    assert_eq!(stats.dead_letters, 4);
    assert_eq!(stats.delivered_total, 1);
}
