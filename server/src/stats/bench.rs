//! `lotse bench stats`: writes synthetic history through the same aggregate path as
//! live changes ([`super::apply`]), then times report queries over the whole range.
//! With `--db` the history stays in a database file (demo data for the stats page).

use std::fmt::Write as _;
use std::path::Path;
use std::time::{Duration, Instant};

use chrono::{Datelike, NaiveDate, TimeZone, Utc};

use super::query::{self, Granularity, Range};
use super::{Change, apply};
use crate::clock::{TZ, to_ms};
use crate::storage::{StorageError, open_connection};

#[derive(Debug, Clone)]
pub struct Options {
    /// Visits in total, spread over the working days of the range.
    pub visits: u64,
    /// Days of history, ending yesterday (Berlin).
    pub days: u32,
}

/// A small deterministic generator (xorshift), so every run writes the same history.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
    fn pick<'a>(&mut self, weighted: &[(&'a str, f64)]) -> &'a str {
        let total: f64 = weighted.iter().map(|w| w.1).sum();
        let mut r = self.unit() * total;
        for (v, w) in weighted {
            if r < *w {
                return v;
            }
            r -= w;
        }
        weighted.last().map_or("", |w| w.0)
    }
}

const SERVICES: [(&str, f64); 5] = [
    ("residence", 5.0),
    ("work", 2.0),
    ("housing", 1.5),
    ("naturalisation", 1.0),
    ("general", 2.5),
];
const LANGUAGES: [(&str, f64); 9] = [
    ("de", 3.0),
    ("uk", 3.0),
    ("ar", 2.5),
    ("en", 1.5),
    ("ru", 1.2),
    ("fa", 1.0),
    ("tr", 1.0),
    ("ro", 0.6),
    ("bg", 0.4),
];
const IDENT: [(&str, f64); 3] = [("none", 6.0), ("qr", 2.0), ("id_document", 2.0)];
const COUNTERS: [(&str, f64); 3] = [("c1", 1.0), ("c2", 1.0), ("c3", 1.0)];
/// Arrivals per Berlin hour of a working day, busiest in the morning.
const HOURS: [(&str, f64); 9] = [
    ("8", 1.5),
    ("9", 2.5),
    ("10", 2.5),
    ("11", 2.0),
    ("12", 1.2),
    ("13", 1.4),
    ("14", 1.6),
    ("15", 1.0),
    ("16", 0.4),
];

/// Writes `o.visits` synthetic visits ending `end` (exclusive) into the database at
/// `path`, one transaction per day. Returns how many visits were written.
pub fn generate(path: &Path, o: &Options, end: NaiveDate) -> Result<u64, StorageError> {
    let conn = open_connection(path)?;
    let start = end - chrono::Duration::days(i64::from(o.days));
    let working: Vec<NaiveDate> = start
        .iter_days()
        .take_while(|d| *d < end)
        .filter(|d| d.weekday().number_from_monday() <= 5)
        .collect();
    let per_day = o.visits as f64 / working.len().max(1) as f64;
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut written = 0u64;
    for (i, day) in working.iter().enumerate() {
        let target = ((i + 1) as f64 * per_day).round() as u64;
        conn.execute_batch("BEGIN")?;
        while written < target {
            visit(&conn, &mut rng, *day)?;
            written += 1;
        }
        conn.execute_batch("COMMIT")?;
    }
    Ok(written)
}

fn visit(conn: &rusqlite::Connection, rng: &mut Rng, day: NaiveDate) -> Result<(), StorageError> {
    let hour: u32 = rng.pick(&HOURS).parse().unwrap_or(9);
    let minute = (rng.next() % 60) as u32;
    let Some(local) = day.and_hms_opt(hour, minute, (rng.next() % 60) as u32) else {
        return Ok(());
    };
    let Some(arrived) = TZ.from_local_datetime(&local).earliest() else {
        return Ok(());
    };
    let arrived_at = to_ms(arrived.with_timezone(&Utc));
    let service = rng.pick(&SERVICES);
    apply(
        conn,
        &Change::CheckIn {
            service,
            arrived_at,
            language: rng.pick(&LANGUAGES),
            identification: rng.pick(&IDENT),
        },
    )?;
    let outcome = rng.unit();
    if outcome < 0.04 {
        return apply(
            conn,
            &Change::Cancel {
                service,
                arrived_at,
            },
        );
    }
    // Waiting: mostly under half an hour, a long tail.
    let wait_s = (-(1.0 - rng.unit()).ln() * 900.0) as i64;
    let counter = rng.pick(&COUNTERS);
    apply(
        conn,
        &Change::Call {
            service,
            arrived_at,
            counter,
            wait_s,
        },
    )?;
    if outcome < 0.11 {
        return apply(
            conn,
            &Change::NoShow {
                service,
                arrived_at,
            },
        );
    }
    let mut service = service;
    if outcome < 0.15 {
        apply(
            conn,
            &Change::Transfer {
                service,
                arrived_at,
            },
        )?;
        service = "general";
        apply(
            conn,
            &Change::Call {
                service,
                arrived_at,
                counter,
                wait_s: (rng.unit() * 600.0) as i64,
            },
        )?;
    }
    apply(
        conn,
        &Change::Done {
            service,
            arrived_at,
            service_s: 240 + (rng.unit() * 1500.0) as i64,
        },
    )?;
    if rng.unit() < 0.01 {
        apply(
            conn,
            &Change::PrintFallback {
                service,
                arrived_at,
            },
        )?;
    }
    apply(
        conn,
        &Change::Delivered {
            created_at: arrived_at,
            delay_s: (rng.unit() * 20.0) as i64,
        },
    )
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v.get(v.len() / 2).copied().unwrap_or_default()
}

/// Generates the history (into `db`, or a temporary file) and times the queries.
pub fn run(o: &Options, db: Option<&Path>) -> Result<String, StorageError> {
    let tmp;
    let path = match db {
        Some(p) => p.to_path_buf(),
        None => {
            tmp = tempfile_dir()?;
            tmp.join("lotse.db")
        }
    };
    let end = crate::clock::service_day(Utc::now());
    let t0 = Instant::now();
    let written = generate(&path, o, end)?;
    let gen_time = t0.elapsed();
    let conn = open_connection(&path)?;
    let from = end - chrono::Duration::days(i64::from(o.days));
    let to = end - chrono::Duration::days(1);
    let range = Range { from, to };
    let mut out = String::new();
    let _ = writeln!(
        out,
        "stats: {written} synthetic visits over {} days ({from} … {to}) written through the aggregate path in {:.1} s",
        o.days,
        gen_time.as_secs_f64()
    );
    let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
    let _ = writeln!(out, "database: {:.1} MiB", size as f64 / 1_048_576.0);
    for g in [Granularity::Day, Granularity::Hour] {
        let mut times = Vec::new();
        let mut rows = 0;
        for _ in 0..5 {
            let t = Instant::now();
            let r = query::report(&conn, range, g)?;
            times.push(t.elapsed());
            rows = r.rows.len();
        }
        let _ = writeln!(
            out,
            "report by {}: {rows} rows, median {:.1} ms (best {:.1} ms) over 5 runs",
            g.as_str(),
            median(times.clone()).as_secs_f64() * 1000.0,
            times
                .iter()
                .min()
                .copied()
                .unwrap_or_default()
                .as_secs_f64()
                * 1000.0
        );
    }
    let mut times = Vec::new();
    for _ in 0..5 {
        let t = Instant::now();
        let d = query::chart_data(&conn, range)?;
        let _ = super::charts::page(
            "bench",
            range,
            &query::report(&conn, range, Granularity::Day)?,
            &d,
            &|s| s.to_string(),
            &|s| s.to_string(),
        );
        times.push(t.elapsed());
    }
    let _ = writeln!(
        out,
        "stats page (report + charts): median {:.1} ms",
        median(times).as_secs_f64() * 1000.0
    );
    if db.is_none() {
        let _ = std::fs::remove_dir_all(path.parent().unwrap_or(Path::new("/nonexistent")));
    }
    Ok(out)
}

fn tempfile_dir() -> Result<std::path::PathBuf, StorageError> {
    let dir = std::env::temp_dir().join(format!("lotse-bench-stats-{}", std::process::id()));
    std::fs::create_dir_all(&dir)
        .map_err(|e| StorageError::Malformed(format!("cannot create {}: {e}", dir.display())))?;
    Ok(dir)
}
