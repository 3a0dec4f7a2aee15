//! Duration histograms with fixed buckets, so that quantiles over any date range come
//! from merging stored histograms instead of reading visits.

/// One bucket per minute from 0 to `MINUTES` (exclusive) and one overflow bucket.
pub const MINUTES: usize = 180;
pub const BUCKETS: usize = MINUTES + 1;

/// Counts per minute bucket, how many, their sum and the exact maximum (seconds).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Histogram {
    pub buckets: Vec<u32>,
    pub n: u64,
    pub sum_s: i64,
    pub max_s: i64,
}

/// The bucket of a duration: whole minutes, the overflow bucket from three hours on.
pub fn bucket_of(seconds: i64) -> usize {
    ((seconds.max(0) / 60) as usize).min(MINUTES)
}

impl Histogram {
    pub fn add(&mut self, seconds: i64) {
        let s = seconds.max(0);
        let b = bucket_of(s);
        if self.buckets.len() <= b {
            self.buckets.resize(b + 1, 0);
        }
        self.buckets[b] = self.buckets[b].saturating_add(1);
        self.n += 1;
        self.sum_s += s;
        self.max_s = self.max_s.max(s);
    }

    pub fn merge(&mut self, other: &Histogram) {
        if self.buckets.len() < other.buckets.len() {
            self.buckets.resize(other.buckets.len(), 0);
        }
        for (a, b) in self.buckets.iter_mut().zip(&other.buckets) {
            *a = a.saturating_add(*b);
        }
        self.n += other.n;
        self.sum_s += other.sum_s;
        self.max_s = self.max_s.max(other.max_s);
    }

    /// Nearest-rank quantile in whole minutes (the lower bound of the bucket holding
    /// the rank); `MINUTES` means "three hours or more". `None` without data.
    pub fn quantile_minutes(&self, q: f64) -> Option<u32> {
        if self.n == 0 {
            return None;
        }
        let rank = ((q * self.n as f64).ceil() as u64).clamp(1, self.n);
        let mut seen = 0u64;
        for (i, c) in self.buckets.iter().enumerate() {
            seen += u64::from(*c);
            if seen >= rank {
                return Some(i as u32);
            }
        }
        Some(self.buckets.len().saturating_sub(1) as u32)
    }

    /// Little-endian u32 per bucket, trailing empty buckets left off.
    pub fn encode(&self) -> Vec<u8> {
        let used = self
            .buckets
            .iter()
            .rposition(|c| *c != 0)
            .map_or(0, |i| i + 1);
        self.buckets[..used]
            .iter()
            .flat_map(|c| c.to_le_bytes())
            .collect()
    }

    /// Reads what [`encode`](Self::encode) wrote; `None` for a blob that is not one.
    pub fn decode(blob: &[u8], n: u64, sum_s: i64, max_s: i64) -> Option<Histogram> {
        if !blob.len().is_multiple_of(4) || blob.len() / 4 > BUCKETS {
            return None;
        }
        let buckets = blob
            .chunks_exact(4)
            .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        Some(Histogram {
            buckets,
            n,
            sum_s,
            max_s,
        })
    }

    /// Adds an encoded histogram without building a second one.
    pub fn merge_encoded(&mut self, blob: &[u8], n: u64, sum_s: i64, max_s: i64) -> bool {
        if !blob.len().is_multiple_of(4) || blob.len() / 4 > BUCKETS {
            return false;
        }
        let len = blob.len() / 4;
        if self.buckets.len() < len {
            self.buckets.resize(len, 0);
        }
        for (a, c) in self.buckets.iter_mut().zip(blob.chunks_exact(4)) {
            *a = a.saturating_add(u32::from_le_bytes([c[0], c[1], c[2], c[3]]));
        }
        self.n += n;
        self.sum_s += sum_s;
        self.max_s = self.max_s.max(max_s);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_are_nearest_rank_minutes() {
        let mut h = Histogram::default();
        assert_eq!(h.quantile_minutes(0.5), None);
        for s in [30, 90, 150, 610, 11_000] {
            h.add(s);
        }
        // minutes 0, 1, 2, 10 and the overflow bucket
        assert_eq!(h.quantile_minutes(0.5), Some(2));
        assert_eq!(h.quantile_minutes(0.9), Some(MINUTES as u32));
        assert_eq!(h.quantile_minutes(0.2), Some(0));
        assert_eq!(h.max_s, 11_000);
        assert_eq!(h.n, 5);
    }

    #[test]
    fn encoding_round_trips_and_merges() {
        let mut a = Histogram::default();
        a.add(61);
        a.add(3 * 60 + 5);
        let blob = a.encode();
        assert_eq!(blob.len(), 4 * 4, "trailing zero buckets are left off");
        let back = Histogram::decode(&blob, a.n, a.sum_s, a.max_s).unwrap();
        assert_eq!(back, a);
        let mut b = Histogram::default();
        b.add(10);
        assert!(b.merge_encoded(&blob, a.n, a.sum_s, a.max_s));
        let mut c = a.clone();
        c.merge(&{
            let mut x = Histogram::default();
            x.add(10);
            x
        });
        assert_eq!(b.n, c.n);
        assert_eq!(b.quantile_minutes(0.5), c.quantile_minutes(0.5));
        assert!(Histogram::decode(&[1, 2, 3], 1, 1, 1).is_none());
        assert!(Histogram::default().encode().is_empty());
    }
}
