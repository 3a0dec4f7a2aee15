//! Reports over a date range from the stored aggregates: by day (from the day tables)
//! or by hour (from the hour tables), plus totals for the whole range.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use rusqlite::{Connection, params};
use serde::Serialize;
use utoipa::ToSchema;

use super::hist::Histogram;
use crate::clock::{TZ, from_ms};
use crate::storage::StorageError;

#[derive(Debug, thiserror::Error)]
pub enum StatsError {
    #[error("\"{0}\" is not a date; write YYYY-MM-DD")]
    BadDate(String),
    #[error("the range ends ({to}) before it starts ({from})")]
    Reversed { from: NaiveDate, to: NaiveDate },
    #[error("the range has {days} days; at most {max} are allowed with granularity {granularity}")]
    TooLong {
        days: i64,
        max: i64,
        granularity: &'static str,
    },
    #[error("granularity must be \"day\" or \"hour\", not \"{0}\"")]
    BadGranularity(String),
    #[error("format must be \"json\" or \"csv\", not \"{0}\"")]
    BadFormat(String),
    #[error("sep must be \"comma\" or \"semicolon\", not \"{0}\"")]
    BadSeparator(String),
    #[error("there is no chart \"{0}\"")]
    UnknownChart(String),
    #[error(transparent)]
    Storage(#[from] StorageError),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Granularity {
    Day,
    Hour,
}

impl Granularity {
    pub fn parse(s: &str) -> Result<Granularity, StatsError> {
        match s {
            "day" => Ok(Granularity::Day),
            "hour" => Ok(Granularity::Hour),
            _ => Err(StatsError::BadGranularity(s.to_string())),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Granularity::Day => "day",
            Granularity::Hour => "hour",
        }
    }

    /// Longest range a request may ask for: ten years by day, one year by hour.
    fn max_days(self) -> i64 {
        match self {
            Granularity::Day => 3660,
            Granularity::Hour => 366,
        }
    }
}

/// Berlin days from `from` to `to`, both included.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Range {
    pub from: NaiveDate,
    pub to: NaiveDate,
}

impl Range {
    pub fn parse(from: &str, to: &str, g: Granularity) -> Result<Range, StatsError> {
        let date = |s: &str| {
            (s.len() == 10)
                .then(|| NaiveDate::parse_from_str(s, "%Y-%m-%d").ok())
                .flatten()
                .ok_or_else(|| StatsError::BadDate(s.chars().take(40).collect()))
        };
        let (from, to) = (date(from)?, date(to)?);
        if to < from {
            return Err(StatsError::Reversed { from, to });
        }
        let days = (to - from).num_days() + 1;
        if days > g.max_days() {
            return Err(StatsError::TooLong {
                days,
                max: g.max_days(),
                granularity: g.as_str(),
            });
        }
        Ok(Range { from, to })
    }
}

/// One line of a report: a period (a day, an hour, or `total`) and one key of one
/// dimension. `site` rows hold the whole centre; `service` rows one concern;
/// `language` and `identification` rows count check-ins, `counter` rows count the
/// tickets called to that counter. Durations are in minutes: median and p90 are whole
/// minutes (nearest rank over 1-minute buckets, 180 meaning three hours or more), the
/// maximum is exact to a tenth.
#[derive(Debug, Clone, Default, PartialEq, Serialize, ToSchema)]
pub struct StatsRow {
    /// `2026-03-29`, `2026-03-29T02:00+01:00` or `total`.
    pub period: String,
    pub day: Option<String>,
    /// Berlin hour 0..23 (by hour only).
    pub hour: Option<u32>,
    pub dimension: String,
    pub key: String,
    pub checkins: Option<u64>,
    pub calls: Option<u64>,
    pub served: Option<u64>,
    pub no_shows: Option<u64>,
    pub cancellations: Option<u64>,
    pub transfers: Option<u64>,
    pub no_show_rate: Option<f64>,
    pub cancellation_rate: Option<f64>,
    pub transfer_rate: Option<f64>,
    pub print_fallbacks: Option<u64>,
    pub wait_count: Option<u64>,
    pub wait_median_min: Option<u32>,
    pub wait_p90_min: Option<u32>,
    pub wait_max_min: Option<f64>,
    pub service_count: Option<u64>,
    pub service_median_min: Option<u32>,
    pub service_p90_min: Option<u32>,
    pub service_max_min: Option<f64>,
    pub delivery_count: Option<u64>,
    pub delivery_median_min: Option<u32>,
    pub delivery_p90_min: Option<u32>,
    pub delivery_max_min: Option<f64>,
}

/// The answer of `GET /api/v1/stats`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct StatsReport {
    pub from: String,
    pub to: String,
    pub granularity: Granularity,
    pub timezone: String,
    /// Per period: the site row, then services, languages, identification methods, counters.
    pub rows: Vec<StatsRow>,
    /// The same for the whole range (period `total`).
    pub totals: Vec<StatsRow>,
}

#[derive(Debug, Clone, Default)]
pub struct Counts {
    pub checkins: u64,
    pub calls: u64,
    pub served: u64,
    pub no_shows: u64,
    pub cancellations: u64,
    pub transfers: u64,
    pub print_fallbacks: u64,
}

impl Counts {
    fn add(&mut self, o: &Counts) {
        self.checkins += o.checkins;
        self.calls += o.calls;
        self.served += o.served;
        self.no_shows += o.no_shows;
        self.cancellations += o.cancellations;
        self.transfers += o.transfers;
        self.print_fallbacks += o.print_fallbacks;
    }
}

#[derive(Debug, Clone, Default)]
struct ServiceAgg {
    counts: Counts,
    wait: Histogram,
    service: Histogram,
}

impl ServiceAgg {
    fn add(&mut self, o: &ServiceAgg) {
        self.counts.add(&o.counts);
        self.wait.merge(&o.wait);
        self.service.merge(&o.service);
    }
}

/// Everything of one period.
#[derive(Debug, Clone, Default)]
struct Period {
    day: String,
    hour: Option<u32>,
    label: String,
    services: BTreeMap<String, ServiceAgg>,
    dims: BTreeMap<(u8, String), u64>,
    delivery: Histogram,
}

const DIMS: [&str; 3] = ["language", "identification", "counter"];

fn dim_index(d: &str) -> Option<u8> {
    DIMS.iter().position(|x| *x == d).map(|i| i as u8)
}

fn hour_label(hour_start: i64) -> (String, u32) {
    let local = from_ms(hour_start).with_timezone(&TZ);
    (
        local.format("%Y-%m-%dT%H:%M%:z").to_string(),
        chrono::Timelike::hour(&local),
    )
}

/// The first moment of a Berlin day, in milliseconds since the epoch.
fn berlin_midnight_ms(d: NaiveDate) -> i64 {
    use chrono::TimeZone;
    d.and_hms_opt(0, 0, 0)
        .and_then(|t| TZ.from_local_datetime(&t).earliest())
        .map_or(0, |t| t.timestamp_millis())
}

fn rate(x: u64, of: u64) -> Option<f64> {
    (of > 0).then(|| (x as f64 / of as f64 * 1000.0).round() / 1000.0)
}

fn minutes(s: i64) -> f64 {
    (s as f64 / 6.0).round() / 10.0
}

type Quantiles = (Option<u64>, Option<u32>, Option<u32>, Option<f64>);

fn quantiles(h: &Histogram) -> Quantiles {
    (
        Some(h.n),
        h.quantile_minutes(0.5),
        h.quantile_minutes(0.9),
        (h.n > 0).then(|| minutes(h.max_s)),
    )
}

fn service_row(p: &Period, dimension: &str, key: &str, a: &ServiceAgg) -> StatsRow {
    let c = &a.counts;
    let (wait_count, wait_median_min, wait_p90_min, wait_max_min) = quantiles(&a.wait);
    let (service_count, service_median_min, service_p90_min, service_max_min) =
        quantiles(&a.service);
    StatsRow {
        period: p.label.clone(),
        day: (!p.day.is_empty()).then(|| p.day.clone()),
        hour: p.hour,
        dimension: dimension.into(),
        key: key.into(),
        checkins: Some(c.checkins),
        calls: Some(c.calls),
        served: Some(c.served),
        no_shows: Some(c.no_shows),
        cancellations: Some(c.cancellations),
        transfers: Some(c.transfers),
        no_show_rate: rate(c.no_shows, c.checkins),
        cancellation_rate: rate(c.cancellations, c.checkins),
        transfer_rate: rate(c.transfers, c.checkins),
        print_fallbacks: Some(c.print_fallbacks),
        wait_count,
        wait_median_min,
        wait_p90_min,
        wait_max_min,
        service_count,
        service_median_min,
        service_p90_min,
        service_max_min,
        ..StatsRow::default()
    }
}

impl Period {
    fn rows(&self, out: &mut Vec<StatsRow>) {
        let mut site = ServiceAgg::default();
        for a in self.services.values() {
            site.add(a);
        }
        let mut row = service_row(self, "site", "all", &site);
        let (n, med, p90, max) = quantiles(&self.delivery);
        row.delivery_count = n;
        row.delivery_median_min = med;
        row.delivery_p90_min = p90;
        row.delivery_max_min = max;
        out.push(row);
        for (id, a) in &self.services {
            out.push(service_row(self, "service", id, a));
        }
        for ((d, value), n) in &self.dims {
            let mut r = StatsRow {
                period: self.label.clone(),
                day: (!self.day.is_empty()).then(|| self.day.clone()),
                hour: self.hour,
                dimension: DIMS[usize::from(*d)].into(),
                key: value.clone(),
                ..StatsRow::default()
            };
            if *d == 2 {
                r.calls = Some(*n);
            } else {
                r.checkins = Some(*n);
            }
            out.push(r);
        }
    }

    fn absorb(&mut self, o: &Period) {
        for (k, a) in &o.services {
            self.services.entry(k.clone()).or_default().add(a);
        }
        for (k, n) in &o.dims {
            *self.dims.entry(k.clone()).or_default() += n;
        }
        self.delivery.merge(&o.delivery);
    }
}

fn counts_from(r: &rusqlite::Row<'_>, first: usize) -> rusqlite::Result<Counts> {
    Ok(Counts {
        checkins: r.get(first)?,
        calls: r.get(first + 1)?,
        served: r.get(first + 2)?,
        no_shows: r.get(first + 3)?,
        cancellations: r.get(first + 4)?,
        transfers: r.get(first + 5)?,
        print_fallbacks: r.get(first + 6)?,
    })
}

/// Period key: the day, or the hour's UTC start (0 by day).
type Key = (String, i64);

fn period(
    periods: &mut BTreeMap<Key, Period>,
    g: Granularity,
    day: String,
    hour_start: i64,
) -> &mut Period {
    periods.entry((day.clone(), hour_start)).or_insert_with(|| {
        let (label, hour) = match g {
            Granularity::Day => (day.clone(), None),
            Granularity::Hour => {
                let (l, h) = hour_label(hour_start);
                (l, Some(h))
            }
        };
        Period {
            day,
            hour,
            label,
            ..Period::default()
        }
    })
}

fn load(
    conn: &Connection,
    range: Range,
    g: Granularity,
) -> Result<BTreeMap<Key, Period>, StorageError> {
    let mut periods: BTreeMap<Key, Period> = BTreeMap::new();
    // By day the keys are days; by hour a range of the hours' UTC starts, which scans
    // the primary keys in order (Berlin midnight to Berlin midnight, DST included).
    let (from, to): (rusqlite::types::Value, rusqlite::types::Value) = match g {
        Granularity::Day => (range.from.to_string().into(), range.to.to_string().into()),
        Granularity::Hour => (
            berlin_midnight_ms(range.from).into(),
            (berlin_midnight_ms(range.to.succ_opt().unwrap_or(range.to)) - 1).into(),
        ),
    };
    let (counts_sql, dims_sql, hist_sql) = match g {
        Granularity::Day => (
            "SELECT day, 0, service_id, checkins, calls, served, no_shows, cancellations,
                    transfers, print_fallbacks FROM stats_day WHERE day BETWEEN ?1 AND ?2",
            "SELECT day, 0, dimension, value, n FROM stats_day_dim WHERE day BETWEEN ?1 AND ?2",
            "SELECT day, 0, service_id, measure, n, sum_s, max_s, buckets FROM stats_day_hist
              WHERE day BETWEEN ?1 AND ?2",
        ),
        Granularity::Hour => (
            "SELECT day, hour_start, service_id, checkins, calls, served, no_shows, cancellations,
                    transfers, print_fallbacks FROM stats_hour WHERE hour_start BETWEEN ?1 AND ?2",
            "SELECT day, hour_start, dimension, value, n FROM stats_hour_dim
              WHERE hour_start BETWEEN ?1 AND ?2",
            "SELECT day, hour_start, service_id, measure, n, sum_s, max_s, buckets
               FROM stats_hour_hist WHERE hour_start BETWEEN ?1 AND ?2",
        ),
    };
    let mut stmt = conn.prepare_cached(counts_sql)?;
    let mut rows = stmt.query(params![from, to])?;
    while let Some(r) = rows.next()? {
        let c = counts_from(r, 3)?;
        let p = period(&mut periods, g, r.get(0)?, r.get(1)?);
        p.services.entry(r.get(2)?).or_default().counts.add(&c);
    }
    drop(rows);
    let mut stmt = conn.prepare_cached(dims_sql)?;
    let mut rows = stmt.query(params![from, to])?;
    while let Some(r) = rows.next()? {
        let dim: String = r.get(2)?;
        let Some(d) = dim_index(&dim) else { continue };
        let p = period(&mut periods, g, r.get(0)?, r.get(1)?);
        *p.dims.entry((d, r.get(3)?)).or_default() += r.get::<_, u64>(4)?;
    }
    drop(rows);
    let mut stmt = conn.prepare_cached(hist_sql)?;
    let mut rows = stmt.query(params![from, to])?;
    while let Some(r) = rows.next()? {
        let service: String = r.get(2)?;
        let measure: String = r.get(3)?;
        let (n, sum, max): (u64, i64, i64) = (r.get(4)?, r.get(5)?, r.get(6)?);
        let blob = r.get_ref(7)?.as_blob().unwrap_or_default();
        let p = period(&mut periods, g, r.get(0)?, r.get(1)?);
        let h = match measure.as_str() {
            "delivery" => &mut p.delivery,
            "wait" => &mut p.services.entry(service).or_default().wait,
            "service" => &mut p.services.entry(service).or_default().service,
            _ => continue,
        };
        if !h.merge_encoded(blob, n, sum, max) {
            return Err(StorageError::Malformed("statistics histogram".into()));
        }
    }
    Ok(periods)
}

/// The report for a range: rows per period and totals.
pub fn report(
    conn: &Connection,
    range: Range,
    g: Granularity,
) -> Result<StatsReport, StorageError> {
    let periods = load(conn, range, g)?;
    let mut rows = Vec::new();
    let mut total = Period {
        label: "total".into(),
        ..Period::default()
    };
    for p in periods.values() {
        p.rows(&mut rows);
        total.absorb(p);
    }
    let mut totals = Vec::new();
    total.rows(&mut totals);
    Ok(StatsReport {
        from: range.from.to_string(),
        to: range.to.to_string(),
        granularity: g,
        timezone: TZ.name().to_string(),
        rows,
        totals,
    })
}

/// What the charts need beyond the report.
#[derive(Debug, Clone, Default)]
pub struct ChartData {
    /// Check-ins per day and service, every day of the range.
    pub days: Vec<(NaiveDate, BTreeMap<String, u64>)>,
    /// All waiting times of the range.
    pub wait: Histogram,
    /// Check-ins per weekday (0 = Monday) and Berlin hour.
    pub heat: [[u64; 24]; 7],
    /// Check-ins per language, most first.
    pub languages: Vec<(String, u64)>,
    pub services: Vec<String>,
}

pub fn chart_data(conn: &Connection, range: Range) -> Result<ChartData, StorageError> {
    let periods = load(conn, range, Granularity::Day)?;
    let mut out = ChartData::default();
    let mut services = BTreeMap::<String, u64>::new();
    let mut langs = BTreeMap::<String, u64>::new();
    let mut d = range.from;
    while d <= range.to {
        let key = (d.to_string(), 0);
        let mut per = BTreeMap::new();
        if let Some(p) = periods.get(&key) {
            for (s, a) in &p.services {
                per.insert(s.clone(), a.counts.checkins);
                *services.entry(s.clone()).or_default() += a.counts.checkins;
                out.wait.merge(&a.wait);
            }
            for ((dim, v), n) in &p.dims {
                if *dim == 0 {
                    *langs.entry(v.clone()).or_default() += n;
                }
            }
        }
        out.days.push((d, per));
        match d.succ_opt() {
            Some(n) => d = n,
            None => break,
        }
    }
    let mut stmt = conn.prepare_cached(
        "SELECT weekday, local_hour, sum(checkins) FROM stats_hour
          WHERE day BETWEEN ?1 AND ?2 GROUP BY weekday, local_hour",
    )?;
    let mut rows = stmt.query(params![range.from.to_string(), range.to.to_string()])?;
    while let Some(r) = rows.next()? {
        let (wd, h, n): (usize, usize, u64) = (r.get(0)?, r.get(1)?, r.get(2)?);
        if (1..=7).contains(&wd) && h < 24 {
            out.heat[wd - 1][h] += n;
        }
    }
    let mut langs: Vec<_> = langs.into_iter().collect();
    langs.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    out.languages = langs;
    let mut svc: Vec<_> = services.into_iter().filter(|(_, n)| *n > 0).collect();
    svc.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    out.services = svc.into_iter().map(|(s, _)| s).collect();
    Ok(out)
}
