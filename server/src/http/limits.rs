//! Limits of the public endpoints: check-ins per kiosk per minute and live event
//! streams at once. A kiosk is known by its address: there is no proxy in front of
//! the appliance, and the kiosk on the appliance itself is loopback.
//!
//! One address may hold at most a quarter of the live streams, so a single stuck or
//! hostile client cannot starve the displays and desks. The appliance's own screens
//! (loopback) are exempt: only the overall cap applies to them.
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

/// Live streams open per address (loopback not counted).
type StreamsByAddress = Arc<Mutex<HashMap<IpAddr, u32>>>;

/// The limits of one running appliance; cheap to clone.
#[derive(Debug, Clone)]
pub struct Limits {
    pub checkins: Arc<RateLimiter>,
    streams: Arc<Semaphore>,
    max_streams: u32,
    by_address: StreamsByAddress,
}

/// Why a live stream was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamRefused {
    /// Every slot is taken.
    Full { max: u32 },
    /// This address holds its whole share already.
    AddressShare { per_address: u32 },
}

/// One open live stream: its slot and its address's count are given back on drop.
#[derive(Debug)]
pub struct StreamSlot {
    _permit: OwnedSemaphorePermit,
    address: Option<(IpAddr, StreamsByAddress)>,
}

impl Drop for StreamSlot {
    fn drop(&mut self) {
        if let Some((ip, map)) = &self.address {
            let mut map = map.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(n) = map.get_mut(ip) {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    map.remove(ip);
                }
            }
        }
    }
}

impl Limits {
    pub fn new(checkins_per_minute: u32, max_event_streams: u32) -> Limits {
        Limits {
            checkins: Arc::new(RateLimiter::new(checkins_per_minute)),
            streams: Arc::new(Semaphore::new(max_event_streams as usize)),
            max_streams: max_event_streams,
            by_address: Arc::new(Mutex::new(HashMap::new())),
        }
    }

    /// Live streams one address other than loopback may hold: a quarter, at least one.
    pub fn streams_per_address(&self) -> u32 {
        self.max_streams.div_ceil(4).max(1)
    }

    /// A slot for one live stream from `ip`, held as long as the stream is open.
    pub fn stream_slot(&self, ip: IpAddr) -> Result<StreamSlot, StreamRefused> {
        let full = StreamRefused::Full {
            max: self.max_streams,
        };
        if ip.is_loopback() {
            let permit = self.streams.clone().try_acquire_owned().map_err(|_| full)?;
            return Ok(StreamSlot {
                _permit: permit,
                address: None,
            });
        }
        let per_address = self.streams_per_address();
        let mut map = self.by_address.lock().unwrap_or_else(|e| e.into_inner());
        let held = map.get(&ip).copied().unwrap_or(0);
        if held >= per_address {
            return Err(StreamRefused::AddressShare { per_address });
        }
        let permit = self.streams.clone().try_acquire_owned().map_err(|_| full)?;
        map.insert(ip, held + 1);
        Ok(StreamSlot {
            _permit: permit,
            address: Some((ip, self.by_address.clone())),
        })
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
        let lo = IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);
        let a = limits.stream_slot(lo).unwrap();
        let _b = limits.stream_slot(lo).unwrap();
        assert_eq!(
            limits.stream_slot(lo).unwrap_err(),
            StreamRefused::Full { max: 2 }
        );
        assert_eq!(limits.open_streams(), 2);
        drop(a);
        assert!(limits.stream_slot(lo).is_ok());
        assert_eq!(retry_after_secs(Duration::ZERO), 1);
        assert_eq!(retry_after_secs(Duration::from_millis(1500)), 2);
    }

    #[test]
    fn one_address_holds_at_most_a_quarter_of_the_streams() {
        let limits = Limits::new(30, 8);
        assert_eq!(limits.streams_per_address(), 2);
        let a = limits.stream_slot(KIOSK).unwrap();
        let _b = limits.stream_slot(KIOSK).unwrap();
        assert_eq!(
            limits.stream_slot(KIOSK).unwrap_err(),
            StreamRefused::AddressShare { per_address: 2 }
        );
        // Others still get theirs, and the appliance's own screens only meet the cap.
        let _c = limits.stream_slot(OTHER).unwrap();
        let lo = IpAddr::V6(std::net::Ipv6Addr::LOCALHOST);
        let own: Vec<_> = (0..5).map(|_| limits.stream_slot(lo).unwrap()).collect();
        assert_eq!(
            limits.stream_slot(OTHER).unwrap_err(),
            StreamRefused::Full { max: 8 }
        );
        drop(own);
        drop(a);
        let _d = limits.stream_slot(KIOSK).unwrap();
        assert_eq!(limits.by_address.lock().unwrap().get(&KIOSK), Some(&2));
        drop(_d);
        drop(_b);
        assert_eq!(limits.by_address.lock().unwrap().get(&KIOSK), None);
        // A cap below four still leaves every address one stream.
        assert_eq!(Limits::new(30, 3).streams_per_address(), 1);
    }
}
