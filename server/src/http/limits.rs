//! Limits of the public endpoints: check-ins per kiosk per minute and live event
//! streams at once. A kiosk is known by its address: there is no proxy in front of
//! the appliance, and the kiosk on the appliance itself is loopback.
//!
//! The check-in limit is a token bucket per address: a burst of `per_minute`, then one
//! more every `60 s / per_minute`. A busy kiosk issues a ticket every 10 to 20 seconds;
//! the default of 30 a minute is only reached by a script or a stuck device.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

/// Addresses tracked before idle ones are forgotten.
const MAX_TRACKED: usize = 4096;

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

/// Token buckets by client address.
#[derive(Debug)]
pub struct RateLimiter {
    per_minute: u32,
    buckets: Mutex<HashMap<IpAddr, Bucket>>,
}

impl RateLimiter {
    pub fn new(per_minute: u32) -> RateLimiter {
        RateLimiter {
            per_minute: per_minute.max(1),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    fn refill_per_sec(&self) -> f64 {
        f64::from(self.per_minute) / 60.0
    }

    /// Takes one token for `ip` at `now`; `Err(wait)` when there is none, with how
    /// long until there is.
    pub fn take(&self, ip: IpAddr, now: Instant) -> Result<(), Duration> {
        let cap = f64::from(self.per_minute);
        let rate = self.refill_per_sec();
        let mut map = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        if map.len() >= MAX_TRACKED && !map.contains_key(&ip) {
            // Full buckets carry no information: forget those first.
            map.retain(|_, b| b.tokens + now.duration_since(b.at).as_secs_f64() * rate < cap);
            if map.len() >= MAX_TRACKED {
                map.clear();
            }
        }
        let b = map.entry(ip).or_insert(Bucket {
            tokens: cap,
            at: now,
        });
        let elapsed = now.saturating_duration_since(b.at).as_secs_f64();
        b.tokens = (b.tokens + elapsed * rate).min(cap);
        b.at = now;
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - b.tokens) / rate))
        }
    }
}

/// The limits of one running appliance; cheap to clone.
#[derive(Debug, Clone)]
pub struct Limits {
    pub checkins: Arc<RateLimiter>,
    streams: Arc<Semaphore>,
    max_streams: u32,
}

impl Limits {
    pub fn new(checkins_per_minute: u32, max_event_streams: u32) -> Limits {
        Limits {
            checkins: Arc::new(RateLimiter::new(checkins_per_minute)),
            streams: Arc::new(Semaphore::new(max_event_streams as usize)),
            max_streams: max_event_streams,
        }
    }

    /// A slot for one live stream, held as long as the stream is open; `None` when
    /// every slot is taken.
    pub fn stream_slot(&self) -> Option<OwnedSemaphorePermit> {
        self.streams.clone().try_acquire_owned().ok()
    }

    /// Live streams open now.
    pub fn open_streams(&self) -> u32 {
        let free = u32::try_from(self.streams.available_permits()).unwrap_or(u32::MAX);
        self.max_streams.saturating_sub(free)
    }
}

/// Whole seconds for `Retry-After`, at least 1.
pub fn retry_after_secs(d: Duration) -> u64 {
    (d.as_secs() + u64::from(d.subsec_nanos() > 0)).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    const KIOSK: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(192, 168, 10, 31));
    const OTHER: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(192, 168, 10, 32));

    #[test]
    fn a_burst_of_the_limit_then_one_token_per_interval() {
        let l = RateLimiter::new(30);
        let t0 = Instant::now();
        for _ in 0..30 {
            l.take(KIOSK, t0).unwrap();
        }
        let wait = l.take(KIOSK, t0).unwrap_err();
        assert_eq!(wait, Duration::from_secs(2), "60 s / 30");
        assert_eq!(retry_after_secs(wait), 2);
        // Another kiosk is not affected.
        l.take(OTHER, t0).unwrap();
        // Half an interval later: still nothing; a full one later: one more.
        let wait = l.take(KIOSK, t0 + Duration::from_secs(1)).unwrap_err();
        assert_eq!(retry_after_secs(wait), 1);
        l.take(KIOSK, t0 + Duration::from_secs(2)).unwrap();
        assert!(l.take(KIOSK, t0 + Duration::from_secs(2)).is_err());
        // After a quiet minute the whole burst is back, never more.
        let later = t0 + Duration::from_secs(600);
        for _ in 0..30 {
            l.take(KIOSK, later).unwrap();
        }
        assert!(l.take(KIOSK, later).is_err());
    }

    #[test]
    fn a_sustained_rate_below_the_limit_is_never_refused() {
        // A very busy kiosk: a ticket every 3 seconds for an hour.
        let l = RateLimiter::new(30);
        let t0 = Instant::now();
        for i in 0..1200 {
            l.take(KIOSK, t0 + Duration::from_secs(3 * i)).unwrap();
        }
    }

    #[test]
    fn many_addresses_do_not_grow_the_table_without_bound() {
        let l = RateLimiter::new(5);
        let t0 = Instant::now();
        for i in 0..(MAX_TRACKED as u32 * 3) {
            let ip = IpAddr::V4(std::net::Ipv4Addr::from(0x0a00_0000 + i));
            l.take(ip, t0).unwrap();
        }
        assert!(l.buckets.lock().unwrap().len() <= MAX_TRACKED);
    }

    #[test]
    fn stream_slots_are_returned_when_dropped() {
        let limits = Limits::new(30, 2);
        let a = limits.stream_slot().unwrap();
        let _b = limits.stream_slot().unwrap();
        assert!(limits.stream_slot().is_none());
        assert_eq!(limits.open_streams(), 2);
        drop(a);
        assert!(limits.stream_slot().is_some());
        assert_eq!(retry_after_secs(Duration::ZERO), 1);
        assert_eq!(retry_after_secs(Duration::from_millis(1500)), 2);
    }
}
