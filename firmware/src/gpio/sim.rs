//! Simulated GPIO: real code behind every test and demo mode.
//!
//! [`SimGpio`] is a shared in-memory board: tests and the demo UI set input levels,
//! and every output write is recorded with its (tokio, so pausable) timestamp.
//! [`SimHarness`] adds expectations on top, checked in [`SimHarness::done`] and by a
//! drop guard, in the spirit of embedded-hal-mock.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use serde::Serialize;
use tokio::time::Instant;

use super::pinmap::{MAX_HEADER_PIN, PinFunction, PinMap, PinSpec};
use super::{GpioBackend, GpioError, InputPin, Level, OutputPin, Pull, Result};

/// Output changes kept per pin; a blinking LED in a week-long demo must not eat memory.
pub const HISTORY_LIMIT: usize = 4096;

/// How a pin is currently claimed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    Input,
    Output,
}

impl Direction {
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Input => "input",
            Direction::Output => "output",
        }
    }
}

#[derive(Debug)]
struct SimPin {
    spec: Option<PinSpec>,
    direction: Option<Direction>,
    claimed: bool,
    level: Level,
    history: VecDeque<(Instant, Level)>,
}

impl SimPin {
    fn new(spec: Option<PinSpec>, level: Level) -> Self {
        SimPin {
            spec,
            direction: None,
            claimed: false,
            level,
            history: VecDeque::new(),
        }
    }

    fn record(&mut self, level: Level) {
        self.level = level;
        if self.history.len() == HISTORY_LIMIT {
            self.history.pop_front();
        }
        self.history.push_back((Instant::now(), level));
    }
}

#[derive(Debug, Default)]
struct SimState {
    /// Built from a pin map: unknown pins are errors rather than created on demand.
    strict: bool,
    pins: BTreeMap<u8, SimPin>,
}

impl SimState {
    fn pin(&mut self, pin: u8) -> Result<&mut SimPin> {
        if pin > MAX_HEADER_PIN {
            return Err(GpioError::NoSuchPin(pin));
        }
        if self.strict && !self.pins.contains_key(&pin) {
            return Err(GpioError::UnknownPin(pin));
        }
        Ok(self
            .pins
            .entry(pin)
            .or_insert_with(|| SimPin::new(None, Level::Low)))
    }
}

/// A pin as the demo UI shows it (`GET /api/v1/sim/gpio`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SimPinInfo {
    pub pin: u8,
    pub name: String,
    pub function: Option<PinFunction>,
    pub counter: Option<String>,
    /// `None` while no driver has claimed the pin.
    pub direction: Option<Direction>,
    pub level: Level,
    /// Whether the function is active (pressed, lit, asserted); `None` without a spec.
    pub active: Option<bool>,
}

/// A simulated board, shared by cloning.
#[derive(Debug, Clone, Default)]
pub struct SimGpio {
    state: Arc<Mutex<SimState>>,
}

impl SimGpio {
    /// A board on which any header pin can be claimed; inputs start at their pull level.
    pub fn new() -> Self {
        SimGpio::default()
    }

    /// A board with exactly the pins of `map`, named, and every input at rest
    /// (buttons up, door shut, paper fine).
    pub fn from_pin_map(map: &PinMap) -> Self {
        let pins = map
            .pins
            .iter()
            .map(|spec| {
                (
                    spec.pin,
                    SimPin::new(Some(spec.clone()), spec.level_for(false)),
                )
            })
            .collect();
        SimGpio {
            state: Arc::new(Mutex::new(SimState { strict: true, pins })),
        }
    }

    fn lock(&self) -> MutexGuard<'_, SimState> {
        // A panicking test must not turn every later call into a second panic.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Drives an input to `level`, as the outside world would.
    pub fn set_input(&self, pin: u8, level: Level) -> Result<()> {
        let mut state = self.lock();
        let p = state.pin(pin)?;
        let is_output = p.direction == Some(Direction::Output)
            || p.spec.as_ref().is_some_and(|s| s.function.is_output());
        if is_output {
            return Err(GpioError::NotAnInput(pin));
        }
        p.level = level;
        Ok(())
    }

    /// Presses (`true`) or releases an input in its own wiring sense, so callers need
    /// not know whether it is active low; pins without a spec count as active high.
    pub fn set_active(&self, pin: u8, active: bool) -> Result<()> {
        let level = {
            let mut state = self.lock();
            let p = state.pin(pin)?;
            match &p.spec {
                Some(spec) => spec.level_for(active),
                None => Level::from_bool(active),
            }
        };
        self.set_input(pin, level)
    }

    /// Holds an input active for `hold`, then releases it: a button press for demo mode.
    pub async fn press_for(&self, pin: u8, hold: Duration) -> Result<()> {
        self.set_active(pin, true)?;
        tokio::time::sleep(hold).await;
        self.set_active(pin, false)
    }

    /// The current level of a pin, input or output.
    pub fn level(&self, pin: u8) -> Option<Level> {
        self.lock().pins.get(&pin).map(|p| p.level)
    }

    /// Every level written to output `pin`, oldest first, including the initial level
    /// it was claimed with (at most [`HISTORY_LIMIT`] entries).
    pub fn history(&self, pin: u8) -> Vec<(Instant, Level)> {
        self.lock()
            .pins
            .get(&pin)
            .map(|p| p.history.iter().copied().collect())
            .unwrap_or_default()
    }

    /// Every known pin with name, function and current level, by BCM number.
    pub fn pins(&self) -> Vec<SimPinInfo> {
        self.lock()
            .pins
            .iter()
            .map(|(&pin, p)| SimPinInfo {
                pin,
                name: p
                    .spec
                    .as_ref()
                    .map_or_else(|| format!("BCM {pin}"), |s| s.name.clone()),
                function: p.spec.as_ref().map(|s| s.function),
                counter: p.spec.as_ref().and_then(|s| s.counter.clone()),
                direction: p.direction,
                level: p.level,
                active: p.spec.as_ref().map(|s| s.is_active(p.level)),
            })
            .collect()
    }

    fn claim(&self, pin: u8, direction: Direction) -> Result<()> {
        let mut state = self.lock();
        let p = state.pin(pin)?;
        if p.claimed {
            return Err(GpioError::PinBusy(pin));
        }
        p.claimed = true;
        p.direction = Some(direction);
        Ok(())
    }

    fn release(&self, pin: u8) {
        if let Some(p) = self.lock().pins.get_mut(&pin) {
            p.claimed = false;
        }
    }
}

impl GpioBackend for SimGpio {
    fn input(&self, pin: u8, pull: Pull) -> Result<Box<dyn InputPin>> {
        // A pin first seen now floats to its pull level; mapped pins start at rest.
        let fresh = !self.lock().pins.contains_key(&pin);
        self.claim(pin, Direction::Input)?;
        if fresh && let Some(p) = self.lock().pins.get_mut(&pin) {
            p.level = pull.resting_level();
        }
        Ok(Box::new(SimInputPin {
            pin,
            gpio: self.clone(),
        }))
    }

    fn output(&self, pin: u8, initial: Level) -> Result<Box<dyn OutputPin>> {
        self.claim(pin, Direction::Output)?;
        if let Ok(p) = self.lock().pin(pin) {
            p.record(initial);
        }
        Ok(Box::new(SimOutputPin {
            pin,
            gpio: self.clone(),
        }))
    }
}

#[derive(Debug)]
struct SimInputPin {
    pin: u8,
    gpio: SimGpio,
}

impl InputPin for SimInputPin {
    fn pin(&self) -> u8 {
        self.pin
    }

    fn level(&self) -> Level {
        self.gpio.level(self.pin).unwrap_or(Level::Low)
    }
}

impl Drop for SimInputPin {
    fn drop(&mut self) {
        self.gpio.release(self.pin);
    }
}

#[derive(Debug)]
struct SimOutputPin {
    pin: u8,
    gpio: SimGpio,
}

impl OutputPin for SimOutputPin {
    fn pin(&self) -> u8 {
        self.pin
    }

    fn set(&mut self, level: Level) {
        if let Some(p) = self.gpio.lock().pins.get_mut(&self.pin) {
            p.record(level);
        }
    }
}

impl Drop for SimOutputPin {
    fn drop(&mut self) {
        self.gpio.release(self.pin);
    }
}

#[derive(Debug)]
enum Expectation {
    Levels(u8, Vec<Level>),
    Timed(u8, Vec<(Duration, Level)>),
}

/// A [`SimGpio`] with expectations on its outputs.
///
/// Call [`done`](SimHarness::done) at the end of the test. Dropping the harness
/// without it panics (unless the test is already panicking), so forgotten checks
/// cannot pass silently.
#[derive(Debug)]
pub struct SimHarness {
    gpio: SimGpio,
    start: Instant,
    expectations: Vec<Expectation>,
    done: bool,
}

impl SimHarness {
    /// A harness over a board with the pins of `map`; timed expectations count from now.
    pub fn new(map: &PinMap) -> Self {
        SimHarness::with_gpio(SimGpio::from_pin_map(map))
    }

    /// A harness over an existing board.
    pub fn with_gpio(gpio: SimGpio) -> Self {
        SimHarness {
            gpio,
            start: Instant::now(),
            expectations: Vec::new(),
            done: false,
        }
    }

    pub fn gpio(&self) -> &SimGpio {
        &self.gpio
    }

    /// The board as a back-end for [`super::start_with`] and friends.
    pub fn backend(&self) -> Arc<dyn GpioBackend> {
        Arc::new(self.gpio.clone())
    }

    /// When timed expectations start counting.
    pub fn start(&self) -> Instant {
        self.start
    }

    /// Expects exactly these levels on `pin`, in order, ignoring timing (the first is
    /// the level the pin was claimed with).
    pub fn expect_output(&mut self, pin: u8, levels: &[Level]) -> &mut Self {
        self.expectations
            .push(Expectation::Levels(pin, levels.to_vec()));
        self
    }

    /// Expects exactly these `(time since the harness was made, level)` writes on `pin`.
    pub fn expect_output_at(&mut self, pin: u8, changes: &[(Duration, Level)]) -> &mut Self {
        self.expectations
            .push(Expectation::Timed(pin, changes.to_vec()));
        self
    }

    /// Checks every expectation; panics listing all that failed.
    pub fn done(mut self) {
        self.done = true;
        let failures = self.failures();
        if !failures.is_empty() {
            panic!("SimHarness: unmet expectations:\n{}", failures.join("\n"));
        }
    }

    fn failures(&self) -> Vec<String> {
        let mut failures = Vec::new();
        for e in &self.expectations {
            match e {
                Expectation::Levels(pin, want) => {
                    let got: Vec<Level> = self
                        .gpio
                        .history(*pin)
                        .into_iter()
                        .map(|(_, l)| l)
                        .collect();
                    if &got != want {
                        failures.push(format!(
                            "  pin {pin}: expected {want:?}\n         got {got:?}"
                        ));
                    }
                }
                Expectation::Timed(pin, want) => {
                    let got: Vec<(Duration, Level)> = self
                        .gpio
                        .history(*pin)
                        .into_iter()
                        .map(|(t, l)| (t.saturating_duration_since(self.start), l))
                        .collect();
                    if &got != want {
                        failures.push(format!(
                            "  pin {pin}: expected {want:?}\n         got {got:?}"
                        ));
                    }
                }
            }
        }
        failures
    }
}

impl Drop for SimHarness {
    fn drop(&mut self) {
        if self.done || std::thread::panicking() {
            return;
        }
        let failures = self.failures();
        panic!(
            "SimHarness dropped without done(){}",
            if failures.is_empty() {
                String::new()
            } else {
                format!("; unmet expectations:\n{}", failures.join("\n"))
            }
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gpio::pinmap::{RawGpioConfig, RawPin, validate};
    use Level::*;

    fn map() -> PinMap {
        validate(&RawGpioConfig {
            pins: vec![
                RawPin {
                    pin: 17,
                    function: "ticket_button".into(),
                    pull: Some("up".into()),
                    name: Some("Ticket-Taster".into()),
                    ..RawPin::default()
                },
                RawPin {
                    pin: 27,
                    function: "status_led".into(),
                    ..RawPin::default()
                },
            ],
            ..RawGpioConfig::default()
        })
        .expect("test pin map is valid")
    }

    #[test]
    fn pins_lists_names_functions_levels() {
        let sim = SimGpio::from_pin_map(&map());
        sim.set_active(17, true).expect("pin 17 is an input");
        let pins = sim.pins();
        assert_eq!(pins.len(), 2);
        assert_eq!(
            pins[0],
            SimPinInfo {
                pin: 17,
                name: "Ticket-Taster".into(),
                function: Some(PinFunction::TicketButton),
                counter: None,
                direction: None,
                level: Low,
                active: Some(true),
            }
        );
        assert_eq!(pins[1].name, "status_led (BCM 27)");
        assert_eq!(pins[1].active, Some(false));
    }

    #[test]
    fn strict_board_rejects_unknown_pins_and_output_writes() {
        let sim = SimGpio::from_pin_map(&map());
        assert!(matches!(
            sim.set_input(5, High),
            Err(GpioError::UnknownPin(5))
        ));
        assert!(matches!(
            sim.set_input(27, High),
            Err(GpioError::NotAnInput(27))
        ));
        assert!(matches!(
            sim.input(5, Pull::Up),
            Err(GpioError::UnknownPin(5))
        ));
        assert!(matches!(
            SimGpio::new().input(40, Pull::Up),
            Err(GpioError::NoSuchPin(40))
        ));
    }

    #[test]
    fn claims_are_exclusive_until_dropped() {
        let sim = SimGpio::new();
        let a = sim.input(4, Pull::Up).expect("free pin");
        assert!(a.is_high(), "pull-up rests high");
        assert!(matches!(sim.output(4, Low), Err(GpioError::PinBusy(4))));
        drop(a);
        let mut b = sim.output(4, Low).expect("released");
        b.set(High);
        assert_eq!(sim.level(4), Some(High));
        let levels: Vec<_> = sim.history(4).into_iter().map(|(_, l)| l).collect();
        assert_eq!(levels, vec![Low, High]);
        assert!(matches!(
            sim.set_input(4, Low),
            Err(GpioError::NotAnInput(4))
        ));
    }

    #[test]
    fn history_is_bounded() {
        let sim = SimGpio::new();
        let mut out = sim.output(9, Low).expect("free pin");
        for i in 0..(HISTORY_LIMIT + 10) {
            out.set(Level::from_bool(i % 2 == 0));
        }
        assert_eq!(sim.history(9).len(), HISTORY_LIMIT);
    }

    #[test]
    fn harness_passes_met_expectations() {
        let mut h = SimHarness::new(&map());
        let mut led = h.gpio().output(27, Low).expect("led pin");
        led.set(High);
        h.expect_output(27, &[Low, High]);
        h.done();
    }

    #[test]
    #[should_panic(expected = "unmet expectations")]
    fn harness_panics_on_unmet_expectation() {
        let mut h = SimHarness::new(&map());
        h.expect_output(27, &[Low, High]);
        h.done();
    }

    #[test]
    #[should_panic(expected = "dropped without done()")]
    fn harness_panics_when_done_is_forgotten() {
        let _h = SimHarness::new(&map());
    }

    #[test]
    fn harness_does_not_double_panic() {
        let result = std::panic::catch_unwind(|| {
            let mut h = SimHarness::new(&map());
            h.expect_output(27, &[High]);
            panic!("test failed for another reason");
        });
        let err = result.expect_err("the inner panic propagates");
        let msg = err.downcast_ref::<&str>().copied().unwrap_or_default();
        assert_eq!(msg, "test failed for another reason");
    }

    #[tokio::test(start_paused = true)]
    async fn press_for_holds_then_releases() {
        let sim = SimGpio::from_pin_map(&map());
        let t = tokio::spawn({
            let sim = sim.clone();
            async move { sim.press_for(17, Duration::from_millis(200)).await }
        });
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(sim.level(17), Some(Low));
        t.await.expect("task runs").expect("pin 17 is an input");
        assert_eq!(sim.level(17), Some(High));
    }
}
