//! Pure state machines that turn timed samples into clean edges and presses.
//!
//! No clock, no I/O: callers pass `(level, Instant)` samples, so tests can feed any
//! timeline. The async runner in [`super::inputs`] drives them from real pins.

use std::time::Duration;

use tokio::time::Instant;

use super::{EventKind, Level};

/// Accepts a level change only after it has held for the whole window.
///
/// Waiting for a stable level (rather than reacting to the first edge and then going
/// deaf) also rejects short spikes picked up by long wires to the desks.
#[derive(Debug, Clone)]
pub struct Debouncer {
    window: Duration,
    stable: Level,
    /// When the raw level first differed from `stable`, if it still does.
    differs_since: Option<Instant>,
}

impl Debouncer {
    /// Starts from `initial`, so a button held at boot does not count as a press.
    pub fn new(initial: Level, window: Duration) -> Self {
        Debouncer {
            window,
            stable: initial,
            differs_since: None,
        }
    }

    /// The last accepted level.
    pub fn stable(&self) -> Level {
        self.stable
    }

    /// Feeds one raw sample; returns the new stable level when it changes.
    pub fn sample(&mut self, level: Level, now: Instant) -> Option<Level> {
        if level == self.stable {
            // A bounce back: the change did not hold.
            self.differs_since = None;
            return None;
        }
        let since = *self.differs_since.get_or_insert(now);
        if now.saturating_duration_since(since) >= self.window {
            self.stable = level;
            self.differs_since = None;
            Some(level)
        } else {
            None
        }
    }
}

/// Turns a debounced button state into `Pressed`, `LongPress` and `Released`.
#[derive(Debug, Clone)]
pub struct EdgeDetector {
    long_press: Duration,
    state: ButtonState,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ButtonState {
    Up,
    Down {
        since: Instant,
        long_reported: bool,
    },
    /// Held when we started: ignored until released once, so a jammed button (or a
    /// wiring fault) at boot does not print a ticket.
    HeldAtStart,
}

impl EdgeDetector {
    pub fn new(long_press: Duration, initially_pressed: bool) -> Self {
        EdgeDetector {
            long_press,
            state: if initially_pressed {
                ButtonState::HeldAtStart
            } else {
                ButtonState::Up
            },
        }
    }

    /// Whether a press is in progress (one that was reported as `Pressed`).
    pub fn is_pressed(&self) -> bool {
        matches!(self.state, ButtonState::Down { .. })
    }

    /// Feeds the debounced state (`true` = pressed) at `now`. Call it on every poll,
    /// not only on changes, so a held button is noticed as a long press while held.
    /// At most two events come back (a long press noticed only at release, then the
    /// release).
    pub fn update(&mut self, pressed: bool, now: Instant) -> Vec<EventKind> {
        let mut events = Vec::new();
        match (self.state, pressed) {
            (ButtonState::Up, true) => {
                self.state = ButtonState::Down {
                    since: now,
                    long_reported: false,
                };
                events.push(EventKind::Pressed);
            }
            (
                ButtonState::Down {
                    since,
                    long_reported,
                },
                still,
            ) => {
                let long =
                    !long_reported && now.saturating_duration_since(since) >= self.long_press;
                if long {
                    events.push(EventKind::LongPress);
                }
                if still {
                    self.state = ButtonState::Down {
                        since,
                        long_reported: long_reported || long,
                    };
                } else {
                    self.state = ButtonState::Up;
                    events.push(EventKind::Released);
                }
            }
            (ButtonState::HeldAtStart, false) => self.state = ButtonState::Up,
            (ButtonState::Up, false) | (ButtonState::HeldAtStart, true) => {}
        }
        events
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use EventKind::*;
    use Level::*;

    const WINDOW: Duration = Duration::from_millis(30);

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    /// Feeds `(ms, level)` samples; returns `(ms, new level)` for each accepted change.
    fn run(samples: &[(u64, Level)]) -> Vec<(u64, Level)> {
        let t0 = Instant::now();
        let mut d = Debouncer::new(High, WINDOW);
        samples
            .iter()
            .filter_map(|&(t, l)| d.sample(l, t0 + ms(t)).map(|l| (t, l)))
            .collect()
    }

    #[test]
    fn bounces_inside_window_give_one_change() {
        // Contact bounce for ~12 ms, then held low; released cleanly later.
        let mut samples = vec![(0, Low), (2, High), (4, Low), (7, High), (12, Low)];
        samples.extend((13..=100).step_by(5).map(|t| (t, Low)));
        samples.extend((105..=200).step_by(5).map(|t| (t, High)));
        // Accepted 30 ms after the last bounce, released 30 ms after letting go.
        assert_eq!(run(&samples), vec![(43, Low), (135, High)]);
    }

    #[test]
    fn short_spike_is_ignored() {
        let samples: Vec<_> = (0..20)
            .map(|i| (i * 5, if (2..=6).contains(&i) { Low } else { High }))
            .collect();
        assert_eq!(run(&samples), vec![]);
    }

    #[test]
    fn zero_window_accepts_at_once() {
        let t0 = Instant::now();
        let mut d = Debouncer::new(Low, Duration::ZERO);
        assert_eq!(d.sample(High, t0), Some(High));
        assert_eq!(d.stable(), High);
    }

    #[test]
    fn long_press_reported_once() {
        let t0 = Instant::now();
        let mut e = EdgeDetector::new(ms(1500), false);
        let mut seen = Vec::new();
        for t in (0..3000).step_by(5) {
            let pressed = (100..2500).contains(&t);
            for kind in e.update(pressed, t0 + ms(t)) {
                seen.push((t, kind));
            }
        }
        assert_eq!(
            seen,
            vec![(100, Pressed), (1600, LongPress), (2500, Released)]
        );
    }

    #[test]
    fn short_press_has_no_long_press() {
        let t0 = Instant::now();
        let mut e = EdgeDetector::new(ms(1500), false);
        assert_eq!(e.update(true, t0), vec![Pressed]);
        assert!(e.is_pressed());
        assert_eq!(e.update(true, t0 + ms(200)), vec![]);
        assert_eq!(e.update(false, t0 + ms(300)), vec![Released]);
        assert_eq!(e.update(false, t0 + ms(5000)), vec![]);
        // A second press starts afresh.
        assert_eq!(e.update(true, t0 + ms(6000)), vec![Pressed]);
        assert_eq!(e.update(true, t0 + ms(7500)), vec![LongPress]);
    }

    #[test]
    fn held_at_start_is_ignored_until_released() {
        let t0 = Instant::now();
        let mut e = EdgeDetector::new(ms(1500), true);
        assert_eq!(e.update(true, t0), vec![]);
        assert_eq!(e.update(true, t0 + ms(5000)), vec![]);
        assert!(!e.is_pressed());
        assert_eq!(e.update(false, t0 + ms(5005)), vec![]);
        assert_eq!(e.update(true, t0 + ms(6000)), vec![Pressed]);
    }

    #[test]
    fn long_press_noticed_at_release_comes_first() {
        let t0 = Instant::now();
        let mut e = EdgeDetector::new(ms(1500), false);
        assert_eq!(e.update(true, t0), vec![Pressed]);
        assert_eq!(e.update(false, t0 + ms(2000)), vec![LongPress, Released]);
    }
}
