//! The input runner: polls every mapped input, debounces, and sends [`GpioEvent`]s.
//!
//! Polling (every 5 ms by default) instead of edge interrupts keeps the back-end trait
//! tiny and lets `tokio::time::pause()` drive the whole thing in tests; five buttons
//! at 200 Hz cost nothing on a Pi.

use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::{Instant, MissedTickBehavior};

use super::debounce::{Debouncer, EdgeDetector};
use super::pinmap::{PinMap, PinSpec};
use super::{EventKind, GpioBackend, GpioEvent, InputPin, Level, Result};

/// How inputs are sampled and interpreted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InputTiming {
    /// A level must hold this long to count (default 30 ms).
    pub debounce: Duration,
    /// Hold time for [`EventKind::LongPress`] (default 1.5 s).
    pub long_press: Duration,
    /// Sampling period (default 5 ms).
    pub poll: Duration,
}

impl Default for InputTiming {
    fn default() -> Self {
        InputTiming {
            debounce: Duration::from_millis(30),
            long_press: Duration::from_millis(1500),
            poll: Duration::from_millis(5),
        }
    }
}

/// Events queued before the runner waits for the consumer.
const CHANNEL_CAPACITY: usize = 64;

#[derive(Debug)]
struct Watched {
    spec: PinSpec,
    pin: Box<dyn InputPin>,
    debouncer: Debouncer,
    /// Buttons only; sensors report `Changed` straight from the debouncer.
    edges: Option<EdgeDetector>,
}

impl Watched {
    /// The logical level: `High` when the function is active, whatever the wiring.
    fn logical(&self) -> Level {
        Level::from_bool(self.spec.is_active(self.pin.level()))
    }

    fn event(&self, kind: EventKind, at: Instant) -> GpioEvent {
        GpioEvent {
            function: self.spec.function,
            counter: self.spec.counter.clone(),
            pin: self.spec.pin,
            kind,
            at,
        }
    }
}

/// Claims every input of `map` and spawns the polling task; needs a tokio runtime.
///
/// Sensors (`paper_low`, `door_switch`) first report their current state as
/// `Changed`, so the consumer knows it from boot. A button held at boot is not a press.
/// The task ends when the receiver is dropped. With no inputs mapped, the receiver is
/// closed at once.
pub fn spawn_inputs(backend: &dyn GpioBackend, map: &PinMap) -> Result<mpsc::Receiver<GpioEvent>> {
    let timing = map.timing;
    let mut watched = Vec::new();
    for spec in map.inputs() {
        let pin = backend.input(spec.pin, spec.pull)?;
        let initial = Level::from_bool(spec.is_active(pin.level()));
        watched.push(Watched {
            spec: spec.clone(),
            pin,
            debouncer: Debouncer::new(initial, timing.debounce),
            edges: spec
                .function
                .is_button()
                .then(|| EdgeDetector::new(timing.long_press, initial.is_high())),
        });
    }
    let (tx, rx) = mpsc::channel(CHANNEL_CAPACITY);
    if !watched.is_empty() {
        tokio::spawn(run(watched, tx, timing.poll));
    }
    Ok(rx)
}

async fn run(mut watched: Vec<Watched>, tx: mpsc::Sender<GpioEvent>, poll: Duration) {
    let now = Instant::now();
    for w in watched.iter().filter(|w| w.edges.is_none()) {
        let kind = EventKind::Changed(w.debouncer.stable());
        if tx.send(w.event(kind, now)).await.is_err() {
            return;
        }
    }

    let mut tick = tokio::time::interval(poll);
    // After a stall, sample once and carry on rather than bursting stale samples.
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut pending = Vec::new();
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            () = tx.closed() => return,
        }
        let now = Instant::now();
        for w in &mut watched {
            let changed = w.debouncer.sample(w.logical(), now);
            match &mut w.edges {
                Some(edges) => {
                    let kinds = edges.update(w.debouncer.stable().is_high(), now);
                    pending.extend(kinds.into_iter().map(|k| w.event(k, now)));
                }
                None => {
                    if let Some(level) = changed {
                        pending.push(w.event(EventKind::Changed(level), now));
                    }
                }
            }
        }
        for event in pending.drain(..) {
            if tx.send(event).await.is_err() {
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gpio::pinmap::{RawGpioConfig, RawPin, validate};
    use crate::gpio::{EventKind::*, PinFunction, SimHarness};
    use Level::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn map() -> PinMap {
        let pin = |pin, function: &str, pull: &str, counter: Option<&str>| RawPin {
            pin,
            function: function.into(),
            pull: Some(pull.into()),
            counter: counter.map(Into::into),
            ..RawPin::default()
        };
        validate(&RawGpioConfig {
            pins: vec![
                pin(17, "ticket_button", "up", None),
                pin(22, "call_button", "up", Some("c1")),
                pin(5, "paper_low", "down", None),
            ],
            ..RawGpioConfig::default()
        })
        .expect("test pin map is valid")
    }

    /// Drains what has arrived so far, as `(ms since t0, function, kind)`.
    fn drain(
        rx: &mut mpsc::Receiver<GpioEvent>,
        t0: Instant,
    ) -> Vec<(u128, PinFunction, EventKind)> {
        let mut out = Vec::new();
        while let Ok(e) = rx.try_recv() {
            out.push((e.at.duration_since(t0).as_millis(), e.function, e.kind));
        }
        out
    }

    #[tokio::test(start_paused = true)]
    async fn bounces_give_one_press() {
        let h = SimHarness::new(&map());
        let sim = h.gpio().clone();
        let t0 = Instant::now();
        let mut rx = spawn_inputs(&sim, &map()).expect("inputs open");
        tokio::time::sleep(ms(50)).await;
        assert_eq!(
            drain(&mut rx, t0),
            vec![(0, PinFunction::PaperLow, Changed(Low))]
        );

        // Contact bounce on the ticket button (active low), then held for 200 ms.
        for (i, level) in [Low, High, Low, High, Low, High, Low]
            .into_iter()
            .enumerate()
        {
            sim.set_input(17, level).expect("pin 17 is an input");
            tokio::time::sleep(ms(if i % 2 == 0 { 7 } else { 3 })).await;
        }
        tokio::time::sleep(ms(200)).await;
        // Bounce on release, too.
        for level in [High, Low, High] {
            sim.set_input(17, level).expect("pin 17 is an input");
            tokio::time::sleep(ms(6)).await;
        }
        tokio::time::sleep(ms(100)).await;

        let events: Vec<_> = drain(&mut rx, t0)
            .into_iter()
            .map(|(_, f, k)| (f, k))
            .collect();
        assert_eq!(
            events,
            vec![
                (PinFunction::TicketButton, Pressed),
                (PinFunction::TicketButton, Released),
            ]
        );
        h.done();
    }

    #[tokio::test(start_paused = true)]
    async fn long_press_reported_once_with_counter() {
        let h = SimHarness::new(&map());
        let sim = h.gpio().clone();
        let t0 = Instant::now();
        let mut rx = spawn_inputs(&sim, &map()).expect("inputs open");
        let _ = rx.recv().await; // initial paper state

        // Change levels between samples (5 ms grid) so the timeline is obvious.
        tokio::time::sleep(ms(2)).await;
        sim.set_active(22, true).expect("pin 22 is an input");
        tokio::time::sleep(ms(4000)).await;
        sim.set_active(22, false).expect("pin 22 is an input");
        tokio::time::sleep(ms(100)).await;

        let mut events = Vec::new();
        while let Ok(e) = rx.try_recv() {
            assert_eq!(e.counter.as_deref(), Some("c1"));
            assert_eq!(e.pin, 22);
            events.push((e.at.duration_since(t0).as_millis(), e.kind));
        }
        // First seen at 5 ms, accepted 30 ms later; long press 1.5 s after that.
        assert_eq!(
            events,
            vec![(35, Pressed), (1535, LongPress), (4035, Released)]
        );
        h.done();
    }

    #[tokio::test(start_paused = true)]
    async fn sensors_report_changes_in_logical_levels() {
        let h = SimHarness::new(&map());
        let sim = h.gpio().clone();
        let t0 = Instant::now();
        let mut rx = spawn_inputs(&sim, &map()).expect("inputs open");
        sim.set_active(5, true).expect("pin 5 is an input");
        tokio::time::sleep(ms(100)).await;
        // A 10 ms glitch back is ignored.
        sim.set_input(5, Low).expect("pin 5 is an input");
        tokio::time::sleep(ms(10)).await;
        sim.set_input(5, High).expect("pin 5 is an input");
        tokio::time::sleep(ms(100)).await;
        sim.set_active(5, false).expect("pin 5 is an input");
        tokio::time::sleep(ms(100)).await;
        assert_eq!(
            drain(&mut rx, t0),
            vec![
                (0, PinFunction::PaperLow, Changed(Low)),
                (30, PinFunction::PaperLow, Changed(High)),
                (240, PinFunction::PaperLow, Changed(Low)),
            ]
        );
        h.done();
    }

    #[tokio::test(start_paused = true)]
    async fn button_held_at_boot_is_not_a_press() {
        let h = SimHarness::new(&map());
        let sim = h.gpio().clone();
        sim.set_active(17, true).expect("pin 17 is an input");
        let mut rx = spawn_inputs(&sim, &map()).expect("inputs open");
        let _ = rx.recv().await; // initial paper state
        tokio::time::sleep(ms(3000)).await;
        assert!(rx.try_recv().is_err(), "no event for a stuck button");
        sim.set_active(17, false).expect("pin 17 is an input");
        tokio::time::sleep(ms(100)).await;
        sim.set_active(17, true).expect("pin 17 is an input");
        tokio::time::sleep(ms(100)).await;
        assert_eq!(rx.try_recv().map(|e| e.kind).ok(), Some(Pressed));
        h.done();
    }

    #[tokio::test(start_paused = true)]
    async fn runner_stops_and_releases_pins_when_receiver_dropped() {
        let h = SimHarness::new(&map());
        let sim = h.gpio().clone();
        let rx = spawn_inputs(&sim, &map()).expect("inputs open");
        assert!(spawn_inputs(&sim, &map()).is_err(), "pins are claimed");
        drop(rx);
        tokio::time::sleep(ms(20)).await;
        let again = spawn_inputs(&sim, &map()).expect("pins released after the task ended");
        drop(again);
        h.done();
    }
}
