//! Wall-clock time behind a trait, because `tokio::time::pause` does not freeze
//! `SystemTime` and queue rules (daily numbering, aging) must be testable across
//! midnight and DST changes.

use std::fmt::Debug;
use std::sync::Mutex;

use chrono::{DateTime, Duration, NaiveDate, Utc};
use chrono_tz::Tz;

/// The integration centres are in North Rhine-Westphalia: every "day" is a Berlin day.
pub const TZ: Tz = chrono_tz::Europe::Berlin;

pub trait Clock: Send + Sync + Debug {
    fn now(&self) -> DateTime<Utc>;
}

/// The real clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// A clock that only moves when told to; used by tests and benchmarks.
#[derive(Debug)]
pub struct ManualClock(Mutex<DateTime<Utc>>);

impl ManualClock {
    pub fn new(start: DateTime<Utc>) -> Self {
        Self(Mutex::new(start))
    }

    pub fn set(&self, t: DateTime<Utc>) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = t;
    }

    pub fn advance(&self, d: Duration) {
        let mut t = self.0.lock().unwrap_or_else(|e| e.into_inner());
        *t += d;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The Berlin calendar day a moment belongs to; ticket numbers restart with it.
pub fn service_day(t: DateTime<Utc>) -> NaiveDate {
    t.with_timezone(&TZ).date_naive()
}

/// Milliseconds since the epoch, the storage format of every timestamp.
pub fn to_ms(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

pub fn from_ms(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn berlin_day_changes_at_local_midnight() {
        // 22:59:59 UTC in winter is 23:59:59 in Berlin.
        let before = Utc.with_ymd_and_hms(2026, 1, 14, 22, 59, 59).unwrap();
        let after = before + Duration::seconds(1);
        assert_eq!(service_day(before).to_string(), "2026-01-14");
        assert_eq!(service_day(after).to_string(), "2026-01-15");
        // In summer Berlin is UTC+2.
        let summer = Utc.with_ymd_and_hms(2026, 7, 1, 22, 0, 0).unwrap();
        assert_eq!(service_day(summer).to_string(), "2026-07-02");
    }
}
