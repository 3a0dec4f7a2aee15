//! Aggregates against scripted days of visits played through the real queue (real
//! SQLite file, injected clock). Expected figures are computed here from the script
//! alone, independently of the aggregation code.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, Duration, DurationRound, NaiveDate, TimeZone, Utc};

use super::export::{self, Separator};
use super::query::{self, StatsReport, StatsRow};
use super::*;
use crate::clock::{ManualClock, TZ};
use crate::config::Settings;
use crate::queue::{Action, CheckinRequest, Queue};
use crate::storage::Db;

struct Fixture {
    queue: Queue,
    clock: Arc<ManualClock>,
    _dir: tempfile::TempDir,
}

async fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(
        Utc.with_ymd_and_hms(2026, 1, 1, 8, 0, 0).unwrap(),
    ));
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

fn berlin(day: NaiveDate, h: u32, m: u32) -> DateTime<Utc> {
    TZ.from_local_datetime(&day.and_hms_opt(h, m, 0).unwrap())
        .earliest()
        .unwrap()
        .with_timezone(&Utc)
}

fn date(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
}

/// What happens to a visit after check-in; durations in seconds.
#[derive(Debug, Clone, Copy)]
enum Fate {
    Done {
        wait: i64,
        serve: i64,
    },
    NoShow {
        wait: i64,
    },
    CancelWaiting {
        after: i64,
    },
    CancelCalled {
        wait: i64,
    },
    Transfer {
        wait: i64,
        to: &'static str,
        wait2: i64,
        serve2: i64,
    },
}

#[derive(Debug, Clone, Copy)]
struct Visit {
    at: DateTime<Utc>,
    service: &'static str,
    lang: &'static str,
    counter: &'static str,
    fate: Fate,
}

fn v(
    at: DateTime<Utc>,
    service: &'static str,
    lang: &'static str,
    counter: &'static str,
    fate: Fate,
) -> Visit {
    Visit {
        at,
        service,
        lang,
        counter,
        fate,
    }
}

impl Fixture {
    /// Plays visits one after another; the clock jumps back to each arrival, so
    /// exactly one ticket waits whenever a counter calls.
    async fn play(&self, visits: &[Visit]) {
        for x in visits {
            self.play_one(x).await;
        }
    }

    async fn play_one(&self, x: &Visit) {
        let q = &self.queue;
        self.clock.set(x.at);
        let (t, _) = q
            .check_in(CheckinRequest {
                service: x.service.into(),
                language: x.lang.into(),
                ..Default::default()
            })
            .await
            .unwrap();
        let at = |s: i64| x.at + Duration::seconds(s);
        let call =
            |counter: &'static str| async move { q.call_next(counter).await.unwrap().unwrap() };
        match x.fate {
            Fate::Done { wait, serve } => {
                self.clock.set(at(wait));
                assert_eq!(call(x.counter).await.id, t.id);
                q.act(t.id, Action::Start).await.unwrap();
                self.clock.set(at(wait + serve));
                q.act(t.id, Action::Done).await.unwrap();
            }
            Fate::NoShow { wait } => {
                self.clock.set(at(wait));
                assert_eq!(call(x.counter).await.id, t.id);
                self.clock.set(at(wait + 60));
                q.act(t.id, Action::NoShow).await.unwrap();
            }
            Fate::CancelWaiting { after } => {
                self.clock.set(at(after));
                q.act(t.id, Action::Cancel).await.unwrap();
            }
            Fate::CancelCalled { wait } => {
                self.clock.set(at(wait));
                assert_eq!(call(x.counter).await.id, t.id);
                self.clock.set(at(wait + 30));
                q.act(t.id, Action::Cancel).await.unwrap();
            }
            Fate::Transfer {
                wait,
                to,
                wait2,
                serve2,
            } => {
                self.clock.set(at(wait));
                assert_eq!(call(x.counter).await.id, t.id);
                self.clock.set(at(wait + 120));
                let n = q.transfer(t.id, to).await.unwrap();
                self.clock.set(at(wait + 120 + wait2));
                assert_eq!(call("c3").await.id, n.id);
                q.act(n.id, Action::Start).await.unwrap();
                self.clock.set(at(wait + 120 + wait2 + serve2));
                q.act(n.id, Action::Done).await.unwrap();
            }
        }
    }

    async fn report(&self, from: &str, to: &str, g: Granularity) -> StatsReport {
        let range = Range::parse(from, to, g).unwrap();
        self.queue
            .db()
            .run(move |tx| query::report(tx.conn, range, g))
            .await
            .unwrap()
    }

    async fn sql(&self, sql: &'static str) -> usize {
        self.queue
            .db()
            .run(move |tx| -> crate::storage::Result<usize> {
                tx.conn.execute_batch("PRAGMA foreign_keys = ON")?;
                Ok(tx.conn.execute(sql, [])?)
            })
            .await
            .unwrap()
    }
}

/// The figures of a script, computed without the statistics code.
#[derive(Debug, Default)]
struct Expected {
    /// (period, service) → [checkins, calls, served, no_shows, cancellations, transfers]
    counts: BTreeMap<(String, String), [u64; 6]>,
    /// (period, dimension, key) → n
    dims: BTreeMap<(String, String, String), u64>,
    /// (day, service) → waiting seconds / service seconds
    waits: BTreeMap<(String, String), Vec<i64>>,
    serves: BTreeMap<(String, String), Vec<i64>>,
}

fn hour_period(t: DateTime<Utc>) -> String {
    t.duration_trunc(Duration::hours(1))
        .unwrap()
        .with_timezone(&TZ)
        .format("%Y-%m-%dT%H:%M%:z")
        .to_string()
}

fn expected(visits: &[Visit], by_hour: bool) -> Expected {
    let mut e = Expected::default();
    for x in visits {
        let day = x.at.with_timezone(&TZ).date_naive().to_string();
        let p = if by_hour {
            hour_period(x.at)
        } else {
            day.clone()
        };
        let mut count = |svc: &str, i: usize| {
            e.counts.entry((p.clone(), svc.to_string())).or_default()[i] += 1;
        };
        count(x.service, 0);
        let mut dims = vec![("language", x.lang.to_string())];
        let mut wait = |svc: &str, s: i64| {
            e.waits
                .entry((day.clone(), svc.to_string()))
                .or_default()
                .push(s);
        };
        match x.fate {
            Fate::Done { wait: w, serve } => {
                count(x.service, 1);
                count(x.service, 2);
                wait(x.service, w);
                e.serves
                    .entry((day.clone(), x.service.to_string()))
                    .or_default()
                    .push(serve);
                dims.push(("counter", x.counter.into()));
            }
            Fate::NoShow { wait: w } => {
                count(x.service, 1);
                count(x.service, 3);
                wait(x.service, w);
                dims.push(("counter", x.counter.into()));
            }
            Fate::CancelWaiting { .. } => count(x.service, 4),
            Fate::CancelCalled { wait: w } => {
                count(x.service, 1);
                count(x.service, 4);
                wait(x.service, w);
                dims.push(("counter", x.counter.into()));
            }
            Fate::Transfer {
                wait: w,
                to,
                wait2,
                serve2,
            } => {
                count(x.service, 1);
                count(x.service, 5);
                count(to, 1);
                count(to, 2);
                wait(x.service, w);
                wait(to, wait2);
                e.serves
                    .entry((day.clone(), to.to_string()))
                    .or_default()
                    .push(serve2);
                dims.push(("counter", x.counter.into()));
                dims.push(("counter", "c3".into()));
            }
        }
        dims.push(("identification", "none".into()));
        for (d, k) in dims {
            *e.dims.entry((p.clone(), d.to_string(), k)).or_default() += 1;
        }
    }
    e
}

/// Nearest rank over whole minutes, three hours and more in one class.
fn nearest_rank(secs: &[i64], q: f64) -> u32 {
    let mut m: Vec<i64> = secs.iter().map(|s| (s / 60).min(180)).collect();
    m.sort();
    let rank = ((q * m.len() as f64).ceil() as usize).clamp(1, m.len());
    m[rank - 1] as u32
}

fn tenth_minutes(s: i64) -> f64 {
    (s as f64 / 6.0).round() / 10.0
}

fn assert_matches(report: &StatsReport, e: &Expected, check_durations: bool) {
    let mut counts = BTreeMap::new();
    let mut dims = BTreeMap::new();
    for r in &report.rows {
        match r.dimension.as_str() {
            "service" => {
                let c = [
                    r.checkins.unwrap(),
                    r.calls.unwrap(),
                    r.served.unwrap(),
                    r.no_shows.unwrap(),
                    r.cancellations.unwrap(),
                    r.transfers.unwrap(),
                ];
                counts.insert((r.period.clone(), r.key.clone()), c);
                if check_durations {
                    let key = (r.period.clone(), r.key.clone());
                    match e.waits.get(&key) {
                        None => assert_eq!(r.wait_count, Some(0), "{key:?}"),
                        Some(w) => {
                            assert_eq!(r.wait_count, Some(w.len() as u64), "{key:?}");
                            assert_eq!(r.wait_median_min, Some(nearest_rank(w, 0.5)), "{key:?}");
                            assert_eq!(r.wait_p90_min, Some(nearest_rank(w, 0.9)), "{key:?}");
                            let max = w.iter().copied().max().unwrap();
                            assert_eq!(r.wait_max_min, Some(tenth_minutes(max)), "{key:?}");
                        }
                    }
                    match e.serves.get(&key) {
                        None => assert_eq!(r.service_count, Some(0), "{key:?}"),
                        Some(s) => {
                            assert_eq!(r.service_count, Some(s.len() as u64), "{key:?}");
                            assert_eq!(r.service_median_min, Some(nearest_rank(s, 0.5)));
                            assert_eq!(r.service_p90_min, Some(nearest_rank(s, 0.9)));
                        }
                    }
                }
            }
            "language" | "identification" => {
                dims.insert(
                    (r.period.clone(), r.dimension.clone(), r.key.clone()),
                    r.checkins.unwrap(),
                );
            }
            "counter" => {
                dims.insert(
                    (r.period.clone(), r.dimension.clone(), r.key.clone()),
                    r.calls.unwrap(),
                );
            }
            _ => {}
        }
    }
    // Services that only received transfers have rows too; compare what the script knows.
    assert_eq!(counts, e.counts);
    assert_eq!(dims, e.dims);
}

/// A working day: morning rush, lunch, afternoon; every outcome.
fn scripted_day(day: NaiveDate) -> Vec<Visit> {
    use Fate::*;
    let m = |x: i64| x * 60;
    vec![
        v(
            berlin(day, 8, 2),
            "residence",
            "ar",
            "c1",
            Done {
                wait: m(3) + 20,
                serve: m(12),
            },
        ),
        v(
            berlin(day, 8, 10),
            "residence",
            "uk",
            "c1",
            Done {
                wait: m(14) + 59,
                serve: m(9) + 30,
            },
        ),
        v(
            berlin(day, 8, 15),
            "work",
            "de",
            "c2",
            NoShow { wait: m(22) },
        ),
        v(
            berlin(day, 8, 40),
            "general",
            "fa",
            "c3",
            CancelWaiting { after: m(5) },
        ),
        v(
            berlin(day, 8, 59),
            "housing",
            "ru",
            "c2",
            Done {
                wait: m(41),
                serve: m(25),
            },
        ),
        v(
            berlin(day, 9, 0),
            "residence",
            "ar",
            "c3",
            Transfer {
                wait: m(7),
                to: "naturalisation",
                wait2: m(11) + 5,
                serve2: m(31),
            },
        ),
        v(
            berlin(day, 9, 30),
            "naturalisation",
            "tr",
            "c1",
            Done {
                wait: m(2),
                serve: m(45),
            },
        ),
        v(
            berlin(day, 10, 5),
            "work",
            "en",
            "c2",
            CancelCalled { wait: m(16) },
        ),
        v(
            berlin(day, 10, 45),
            "residence",
            "ar",
            "c1",
            Done {
                wait: m(200),
                serve: m(8),
            },
        ),
        v(
            berlin(day, 12, 20),
            "general",
            "de",
            "c1",
            Done {
                wait: 45,
                serve: m(4),
            },
        ),
        v(
            berlin(day, 13, 0),
            "housing",
            "bg",
            "c3",
            Transfer {
                wait: m(19),
                to: "residence",
                wait2: 30,
                serve2: m(14),
            },
        ),
        v(
            berlin(day, 14, 55),
            "residence",
            "ro",
            "c3",
            NoShow { wait: m(9) },
        ),
        v(
            berlin(day, 15, 10),
            "work",
            "uk",
            "c2",
            Done {
                wait: m(33),
                serve: m(17),
            },
        ),
        v(
            berlin(day, 15, 50),
            "general",
            "uk",
            "c1",
            Done {
                wait: m(6),
                serve: m(6),
            },
        ),
    ]
}

#[tokio::test]
async fn a_scripted_day_matches_its_aggregates() {
    let f = fixture().await;
    let day = date("2026-11-18");
    let visits = scripted_day(day);
    f.play(&visits).await;

    let by_day = f.report("2026-11-18", "2026-11-18", Granularity::Day).await;
    assert_matches(&by_day, &expected(&visits, false), true);
    let by_hour = f
        .report("2026-11-18", "2026-11-18", Granularity::Hour)
        .await;
    assert_matches(&by_hour, &expected(&visits, true), false);

    // The site row is the sum of the day; rates are per check-in.
    let site = by_day.rows.iter().find(|r| r.dimension == "site").unwrap();
    assert_eq!(site.checkins, Some(visits.len() as u64));
    assert_eq!(site.no_shows, Some(2));
    assert_eq!(
        site.no_show_rate,
        Some((2.0f64 / 14.0 * 1000.0).round() / 1000.0)
    );
    assert_eq!(site.transfers, Some(2));
    let all_waits: Vec<i64> = expected(&visits, false)
        .waits
        .into_values()
        .flatten()
        .collect();
    assert_eq!(site.wait_median_min, Some(nearest_rank(&all_waits, 0.5)));
    assert_eq!(
        site.wait_max_min,
        Some(200.0),
        "the exact maximum beyond the last bucket"
    );
    // A day before or after has nothing; totals equal the only day.
    let empty = f.report("2026-11-19", "2026-11-30", Granularity::Day).await;
    assert!(empty.rows.is_empty());
    let week = f.report("2026-11-16", "2026-11-22", Granularity::Day).await;
    assert_eq!(week.totals, {
        let mut t = by_day.rows.clone();
        for r in &mut t {
            r.period = "total".into();
            r.day = None;
        }
        t
    });
}

#[tokio::test]
async fn dst_days_keep_their_hours_apart() {
    use Fate::*;
    let f = fixture().await;
    // Spring: 29 March 2026 has no 02:00 hour (23 hours).
    let spring = date("2026-03-29");
    let utc = |d, h, mi| Utc.with_ymd_and_hms(2026, 10, d, h, mi, 0).unwrap();
    let visits = vec![
        v(
            berlin(spring, 1, 30),
            "residence",
            "de",
            "c1",
            Done {
                wait: 300,
                serve: 600,
            },
        ),
        v(
            berlin(spring, 3, 30),
            "residence",
            "ar",
            "c1",
            Done {
                wait: 900,
                serve: 600,
            },
        ),
        v(
            berlin(spring, 23, 50),
            "work",
            "uk",
            "c2",
            NoShow { wait: 120 },
        ),
        // Autumn: 02:00–03:00 twice (25 hours): 02:30 CEST is 00:30 UTC, 02:30 CET 01:30 UTC.
        v(
            utc(25, 0, 30),
            "general",
            "fa",
            "c1",
            Done {
                wait: 60,
                serve: 60,
            },
        ),
        v(
            utc(25, 0, 45),
            "general",
            "fa",
            "c1",
            Done {
                wait: 60,
                serve: 60,
            },
        ),
        v(
            utc(25, 1, 30),
            "general",
            "tr",
            "c1",
            Done {
                wait: 600,
                serve: 60,
            },
        ),
        v(
            utc(24, 22, 10),
            "housing",
            "ru",
            "c2",
            CancelWaiting { after: 60 },
        ),
        v(
            utc(25, 22, 55),
            "housing",
            "ru",
            "c2",
            CancelWaiting { after: 60 },
        ),
    ];
    f.play(&visits).await;

    let by_hour = f
        .report("2026-03-29", "2026-03-29", Granularity::Hour)
        .await;
    assert_matches(&by_hour, &expected(&visits[..3], true), false);
    let periods: Vec<_> = by_hour
        .rows
        .iter()
        .filter(|r| r.dimension == "site")
        .map(|r| (r.period.as_str(), r.hour))
        .collect();
    assert_eq!(
        periods,
        [
            ("2026-03-29T01:00+01:00", Some(1)),
            ("2026-03-29T03:00+02:00", Some(3)),
            ("2026-03-29T23:00+02:00", Some(23)),
        ]
    );

    let by_hour = f
        .report("2026-10-25", "2026-10-25", Granularity::Hour)
        .await;
    assert_matches(&by_hour, &expected(&visits[3..], true), false);
    let sites: Vec<_> = by_hour
        .rows
        .iter()
        .filter(|r| r.dimension == "site")
        .map(|r| (r.period.as_str(), r.hour, r.checkins.unwrap()))
        .collect();
    assert_eq!(
        sites,
        [
            ("2026-10-25T00:00+02:00", Some(0), 1),
            ("2026-10-25T02:00+02:00", Some(2), 2),
            ("2026-10-25T02:00+01:00", Some(2), 1),
            ("2026-10-25T23:00+01:00", Some(23), 1),
        ],
        "the two 02:00 hours are not merged"
    );
    let by_day = f.report("2026-03-28", "2026-10-26", Granularity::Day).await;
    assert_matches(&by_day, &expected(&visits, false), true);

    // The heat map adds both 02:00 hours of the Sunday together, as a wall clock would.
    let range = Range::parse("2026-10-25", "2026-10-25", Granularity::Day).unwrap();
    let d = f
        .queue
        .db()
        .run(move |tx| query::chart_data(tx.conn, range))
        .await
        .unwrap();
    assert_eq!(d.heat[6][2], 3);
    assert_eq!(d.heat[6][0], 1);
}

#[tokio::test]
async fn a_purge_in_the_middle_of_the_day_changes_no_figure() {
    let f = fixture().await;
    let day = date("2026-11-18");
    let visits = scripted_day(day);
    let (morning, afternoon) = visits.split_at(7);
    f.play(morning).await;
    // A visitor who is still waiting when the purge runs.
    let mut late = scripted_day(day)[6];
    late.at = berlin(day, 11, 0);
    late.fate = Fate::Done {
        wait: 3 * 3600,
        serve: 600,
    };
    f.clock.set(late.at);
    let (open, _) = f
        .queue
        .check_in(CheckinRequest {
            service: late.service.into(),
            language: late.lang.into(),
            ..Default::default()
        })
        .await
        .unwrap();
    let before = f
        .report("2026-11-18", "2026-11-18", Granularity::Hour)
        .await;

    // The purge: personal data, appointment references and finished tickets go.
    f.sql("UPDATE tickets SET appointment_ref = NULL").await;
    f.sql("DELETE FROM visitor_data").await;
    let purged = f
        .sql(
            "DELETE FROM tickets WHERE status IN ('done','no_show','cancelled','transferred')
               AND id NOT IN (SELECT transferred_from FROM tickets
                               WHERE transferred_from IS NOT NULL AND status IN ('waiting','called','serving'))",
        )
        .await;
    assert!(purged >= 7, "purged {purged}");
    assert_eq!(
        f.report("2026-11-18", "2026-11-18", Granularity::Hour)
            .await
            .rows,
        before.rows,
        "deleting tickets changes no figure"
    );

    // The day goes on: the waiting visitor is served, more visitors come.
    f.clock.set(late.at + Duration::hours(3));
    assert_eq!(f.queue.call_next("c1").await.unwrap().unwrap().id, open.id);
    f.queue.act(open.id, Action::Start).await.unwrap();
    f.clock
        .set(late.at + Duration::hours(3) + Duration::minutes(10));
    f.queue.act(open.id, Action::Done).await.unwrap();
    f.play(afternoon).await;

    let mut all = visits.clone();
    all.push(late);
    assert_matches(
        &f.report("2026-11-18", "2026-11-18", Granularity::Day).await,
        &expected(&all, false),
        true,
    );
    assert_matches(
        &f.report("2026-11-18", "2026-11-18", Granularity::Hour)
            .await,
        &expected(&all, true),
        false,
    );
}

#[tokio::test]
async fn exports_never_contain_personal_data() {
    let f = fixture().await;
    let day = date("2026-11-18");
    f.play(&scripted_day(day)[..4]).await;
    f.sql(
        "INSERT INTO visitor_data (ticket_id, surname, given_names, birth_date, nationality, consent_at)
         SELECT id, 'MUSTERMANN', 'ERIKA', '1964-08-12', 'D', 1 FROM tickets",
    )
    .await;
    f.sql("UPDATE tickets SET appointment_ref = 'APT-7QX9-REF', identification = 'id_document'")
        .await;
    for g in [Granularity::Day, Granularity::Hour] {
        let r = f.report("2026-11-01", "2026-11-30", g).await;
        let json = serde_json::to_string(&r).unwrap();
        let csv = export::csv(&r, Separator::Semicolon) + &export::csv(&r, Separator::Comma);
        for text in [json, csv] {
            for secret in ["MUSTERMANN", "ERIKA", "1964", "APT-7QX9", "Mustermann"] {
                assert!(!text.contains(secret), "{secret} in {text}");
            }
            assert!(text.contains("residence"));
        }
    }
}

#[tokio::test]
async fn identification_printer_fallbacks_and_delivery_delays_are_counted() {
    let f = fixture().await;
    let t0 = berlin(date("2026-11-18"), 9, 15);
    let ms = to_ms(t0);
    f.clock.set(t0);
    f.queue
        .db()
        .run(move |tx| -> crate::storage::Result<()> {
            for ident in ["qr", "id_document", "id_document", "none"] {
                apply(
                    tx.conn,
                    &Change::CheckIn {
                        service: "work",
                        arrived_at: ms,
                        language: "de",
                        identification: ident,
                    },
                )?;
            }
            let t = crate::queue::Ticket {
                id: 1,
                number: "B-001".into(),
                service: "work".into(),
                status: crate::queue::Status::Waiting,
                language: "de".into(),
                appointment: false,
                position: None,
                estimated_wait_minutes: None,
                arrived_at: t0,
                called_at: None,
                started_at: None,
                finished_at: None,
                counter: None,
                room: None,
                call_count: 0,
                transferred_from: None,
                token: None,
                printed: Some(false),
            };
            record_print_fallback(tx, &t)?;
            for delay in [2_000, 5_000, 65_000, 4 * 3_600_000] {
                record_delivery(tx, ms, ms + delay)?;
            }
            Ok(())
        })
        .await
        .unwrap();
    let r = f.report("2026-11-18", "2026-11-18", Granularity::Day).await;
    let row = |d: &str, k: &str| -> StatsRow {
        r.rows
            .iter()
            .find(|r| r.dimension == d && r.key == k)
            .cloned()
            .unwrap()
    };
    assert_eq!(row("identification", "id_document").checkins, Some(2));
    assert_eq!(row("identification", "qr").checkins, Some(1));
    assert_eq!(row("service", "work").print_fallbacks, Some(1));
    let site = row("site", "all");
    assert_eq!(site.print_fallbacks, Some(1));
    assert_eq!(site.delivery_count, Some(4));
    assert_eq!(site.delivery_median_min, Some(0));
    assert_eq!(
        site.delivery_p90_min,
        Some(180),
        "four hours is in the overflow class"
    );
    assert_eq!(site.delivery_max_min, Some(240.0));
}

#[tokio::test]
async fn outbox_delivery_records_the_delay() {
    let f = fixture().await;
    let t0 = berlin(date("2026-11-18"), 10, 0);
    f.clock.set(t0);
    f.queue
        .check_in(CheckinRequest {
            service: "general".into(),
            language: "de".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    let later = to_ms(t0) + 90_000;
    let n = f
        .queue
        .db()
        .run(move |tx| -> crate::storage::Result<usize> {
            let seqs: Vec<i64> = tx
                .conn
                .prepare("SELECT seq FROM outbox")?
                .query_map([], |r| r.get(0))?
                .collect::<rusqlite::Result<_>>()?;
            let d: Vec<_> = seqs
                .iter()
                .map(|seq| crate::outbox::store::Decision::Delivered { seq: *seq })
                .collect();
            crate::outbox::store::apply(tx, &d, later)?;
            // Applying twice must not count twice.
            crate::outbox::store::apply(tx, &d, later)?;
            Ok(seqs.len())
        })
        .await
        .unwrap();
    assert!(n >= 1);
    let r = f.report("2026-11-18", "2026-11-18", Granularity::Day).await;
    let site = r.rows.iter().find(|r| r.dimension == "site").unwrap();
    assert_eq!(site.delivery_count, Some(n as u64));
    assert_eq!(site.delivery_median_min, Some(1));
    assert_eq!(site.delivery_max_min, Some(1.5));
}

#[test]
fn bad_ranges_are_refused() {
    assert!(matches!(
        Range::parse("2026-13-01", "2026-12-01", Granularity::Day),
        Err(StatsError::BadDate(_))
    ));
    assert!(matches!(
        Range::parse("2026-1-1", "2026-12-01", Granularity::Day),
        Err(StatsError::BadDate(_))
    ));
    assert!(matches!(
        Range::parse("2026-12-02", "2026-12-01", Granularity::Day),
        Err(StatsError::Reversed { .. })
    ));
    assert!(matches!(
        Range::parse("2024-01-01", "2026-12-01", Granularity::Hour),
        Err(StatsError::TooLong { .. })
    ));
    assert!(Range::parse("2025-12-01", "2026-11-30", Granularity::Hour).is_ok());
    assert!(matches!(
        Granularity::parse("week"),
        Err(StatsError::BadGranularity(_))
    ));
}

#[test]
fn hour_keys_label_berlin_time() {
    let k = HourKey::of(to_ms(
        Utc.with_ymd_and_hms(2026, 10, 25, 1, 59, 59).unwrap(),
    ));
    assert_eq!(k.day, "2026-10-25");
    assert_eq!((k.local_hour, k.utc_offset_min, k.weekday), (2, 60, 7));
    let k2 = HourKey::of(to_ms(Utc.with_ymd_and_hms(2026, 10, 25, 0, 0, 0).unwrap()));
    assert_eq!((k2.local_hour, k2.utc_offset_min), (2, 120));
    assert_ne!(k.hour_start, k2.hour_start);
    let k3 = HourKey::of(to_ms(Utc.with_ymd_and_hms(2026, 1, 14, 23, 30, 0).unwrap()));
    assert_eq!((k3.day.as_str(), k3.local_hour), ("2026-01-15", 0));
}
