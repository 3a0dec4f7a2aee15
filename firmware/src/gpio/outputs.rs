//! The output driver: renders status-LED patterns, calling-lamp timers and beeps.
//!
//! One task owns every output pin and sleeps until the next scheduled change, so the
//! timing is exact under `tokio::time::pause()` and costs nothing while idle. Callers
//! talk to it through the cheap, cloneable [`OutputsHandle`].

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::pinmap::{PinFunction, PinMap, PinSpec};
use super::{GpioBackend, GpioError, OutputPin, Result};

/// What the status LED shows.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LedPattern {
    #[default]
    Off,
    /// Steady on.
    Ready,
    /// Slow blink, 1 s on / 1 s off.
    Degraded,
    /// Fast blink, 200 ms on / 200 ms off.
    Fault,
}

impl LedPattern {
    fn program(self) -> Program {
        match self {
            LedPattern::Off => Program::steady(false),
            LedPattern::Ready => Program::steady(true),
            LedPattern::Degraded => Program::blink(Duration::from_secs(1), Duration::from_secs(1)),
            LedPattern::Fault => {
                Program::blink(Duration::from_millis(200), Duration::from_millis(200))
            }
        }
    }
}

/// What a counter's "now calling" lamp does. Every mode ends by itself, so a lost
/// "off" can never leave a lamp lit all day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LampMode {
    Off,
    /// Steady on for `duration`.
    On {
        duration: Duration,
    },
    /// Blinking for `duration`.
    Blink {
        on: Duration,
        off: Duration,
        duration: Duration,
    },
}

impl LampMode {
    pub fn on_for(duration: Duration) -> Self {
        LampMode::On { duration }
    }

    /// Blinks at 1 Hz (500 ms on / 500 ms off) for `duration`.
    pub fn blink_for(duration: Duration) -> Self {
        LampMode::Blink {
            on: Duration::from_millis(500),
            off: Duration::from_millis(500),
            duration,
        }
    }

    fn program(self) -> Program {
        match self {
            LampMode::Off => Program::steady(false),
            LampMode::On { duration } => Program::once(vec![(true, duration)]),
            LampMode::Blink { on, off, duration } => Program {
                until: Some(duration),
                ..Program::blink(on, off)
            },
        }
    }
}

/// A buzzer sequence of `(on, off)` pairs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BeepPattern {
    pub beeps: Vec<(Duration, Duration)>,
}

impl BeepPattern {
    pub fn new(beeps: Vec<(Duration, Duration)>) -> Self {
        BeepPattern { beeps }
    }

    /// One 120 ms beep: acknowledges a button.
    pub fn short() -> Self {
        BeepPattern::new(vec![(Duration::from_millis(120), Duration::ZERO)])
    }

    /// Two 100 ms beeps: a visitor is called.
    pub fn double() -> Self {
        let beep = (Duration::from_millis(100), Duration::from_millis(100));
        BeepPattern::new(vec![beep, beep])
    }

    /// One 600 ms beep: something needs attention.
    pub fn long() -> Self {
        BeepPattern::new(vec![(Duration::from_millis(600), Duration::ZERO)])
    }

    fn program(&self) -> Program {
        let steps = self
            .beeps
            .iter()
            .flat_map(|&(on, off)| [(true, on), (false, off)])
            .filter(|&(_, d)| !d.is_zero())
            .collect();
        Program::once(steps)
    }
}

/// A logical waveform: `steps` of (lit, how long), optionally repeated, cut off after
/// `until`, then `rest` for good.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Program {
    steps: Vec<(bool, Duration)>,
    repeat: bool,
    until: Option<Duration>,
    rest: bool,
}

impl Program {
    fn steady(on: bool) -> Self {
        Program {
            steps: Vec::new(),
            repeat: false,
            until: None,
            rest: on,
        }
    }

    fn once(steps: Vec<(bool, Duration)>) -> Self {
        Program {
            steps,
            repeat: false,
            until: None,
            rest: false,
        }
    }

    fn blink(on: Duration, off: Duration) -> Self {
        Program {
            steps: vec![(true, on), (false, off)],
            repeat: true,
            until: None,
            rest: false,
        }
    }
}

/// Shortest step, so a zero-length repeating pattern cannot spin the driver.
const MIN_STEP: Duration = Duration::from_millis(1);

/// One output pin and the program it is playing.
#[derive(Debug)]
struct Channel {
    spec: PinSpec,
    pin: Box<dyn OutputPin>,
    lit: bool,
    program: Program,
    step: usize,
    /// When the current step ends; `None` once the program rests.
    next_at: Option<Instant>,
    end_at: Option<Instant>,
}

impl Channel {
    fn new(spec: PinSpec, pin: Box<dyn OutputPin>) -> Self {
        Channel {
            spec,
            pin,
            lit: false,
            program: Program::steady(false),
            step: 0,
            next_at: None,
            end_at: None,
        }
    }

    fn start(&mut self, mut program: Program, now: Instant) {
        for step in &mut program.steps {
            step.1 = step.1.max(MIN_STEP);
        }
        self.end_at = program.until.and_then(|d| now.checked_add(d));
        self.step = 0;
        let first = program.steps.first().copied();
        self.program = program;
        match first {
            Some((lit, d)) => {
                // Overflowing "forever" durations simply never end.
                self.next_at = now.checked_add(d);
                self.write(lit);
            }
            None => self.rest(),
        }
    }

    fn rest(&mut self) {
        self.next_at = None;
        self.end_at = None;
        self.write(self.program.rest);
    }

    /// Moves the program on to `now`, writing only the final level.
    fn advance(&mut self, now: Instant) {
        if self.end_at.is_some_and(|end| end <= now) {
            self.rest();
            return;
        }
        let mut lit = self.lit;
        while let Some(at) = self.next_at.filter(|&at| at <= now) {
            self.step += 1;
            if self.step >= self.program.steps.len() {
                if !self.program.repeat {
                    self.rest();
                    return;
                }
                self.step = 0;
            }
            let (step_lit, d) = self.program.steps[self.step];
            lit = step_lit;
            self.next_at = at.checked_add(d);
        }
        self.write(lit);
    }

    fn deadline(&self) -> Option<Instant> {
        match (self.next_at, self.end_at) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Writes only on change, so the pin history shows real transitions.
    fn write(&mut self, lit: bool) {
        if lit != self.lit {
            self.lit = lit;
            self.pin.set(self.spec.level_for(lit));
        }
    }
}

#[derive(Debug)]
enum Command {
    Status(LedPattern),
    Lamp(String, LampMode),
    Beep(BeepPattern),
}

/// Cheap, cloneable control of the outputs; the driver stops when every clone is gone.
///
/// Commands for outputs that are not mapped are accepted and ignored, so the server
/// need not care which appliance has which lamps.
#[derive(Debug, Clone)]
pub struct OutputsHandle {
    tx: Option<mpsc::UnboundedSender<Command>>,
    lamps: Arc<BTreeSet<String>>,
}

impl OutputsHandle {
    /// A handle that ignores everything (back-end `none`).
    pub fn disabled() -> Self {
        OutputsHandle {
            tx: None,
            lamps: Arc::default(),
        }
    }

    /// Shows `pattern` on the status LED; setting the current pattern again keeps the
    /// blink phase, so periodic health checks do not make it stutter.
    pub fn set_status(&self, pattern: LedPattern) -> Result<()> {
        self.send(Command::Status(pattern))
    }

    /// Lights, blinks or clears the calling lamp of `counter`; a new call restarts the
    /// timer.
    pub fn call_lamp(&self, counter: &str, mode: LampMode) -> Result<()> {
        if !self.has_lamp(counter) {
            return Ok(());
        }
        self.send(Command::Lamp(counter.to_owned(), mode))
    }

    /// Plays `pattern` on the buzzer, cutting off any beep still playing.
    pub fn beep(&self, pattern: BeepPattern) -> Result<()> {
        self.send(Command::Beep(pattern))
    }

    /// Whether `counter` has a calling lamp in the pin map.
    pub fn has_lamp(&self, counter: &str) -> bool {
        self.lamps.contains(counter)
    }

    fn send(&self, command: Command) -> Result<()> {
        match &self.tx {
            Some(tx) => tx.send(command).map_err(|_| GpioError::DriverStopped),
            None => Ok(()),
        }
    }
}

/// Claims every output of `map` (driven inactive at once) and spawns the driver task;
/// needs a tokio runtime.
pub fn spawn_outputs(backend: &dyn GpioBackend, map: &PinMap) -> Result<OutputsHandle> {
    let mut driver = Driver::default();
    for spec in map.outputs() {
        let pin = backend.output(spec.pin, spec.level_for(false))?;
        let channel = Channel::new(spec.clone(), pin);
        match (spec.function, &spec.counter) {
            (PinFunction::StatusLed, _) => driver.status = Some(channel),
            (PinFunction::Buzzer, _) => driver.buzzer = Some(channel),
            (PinFunction::CallingLamp, Some(counter)) => {
                driver.lamps.insert(counter.clone(), channel);
            }
            // Validation guarantees outputs are one of the above.
            _ => {}
        }
    }
    if driver.is_empty() {
        return Ok(OutputsHandle::disabled());
    }
    let lamps = Arc::new(driver.lamps.keys().cloned().collect());
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(driver.run(rx));
    Ok(OutputsHandle {
        tx: Some(tx),
        lamps,
    })
}

#[derive(Debug, Default)]
struct Driver {
    status: Option<Channel>,
    status_pattern: LedPattern,
    buzzer: Option<Channel>,
    lamps: BTreeMap<String, Channel>,
}

impl Driver {
    fn is_empty(&self) -> bool {
        self.status.is_none() && self.buzzer.is_none() && self.lamps.is_empty()
    }

    fn channels(&mut self) -> impl Iterator<Item = &mut Channel> {
        self.status
            .iter_mut()
            .chain(self.buzzer.iter_mut())
            .chain(self.lamps.values_mut())
    }

    fn apply(&mut self, command: Command, now: Instant) {
        match command {
            Command::Status(pattern) => {
                if pattern != self.status_pattern {
                    self.status_pattern = pattern;
                    if let Some(ch) = &mut self.status {
                        ch.start(pattern.program(), now);
                    }
                }
            }
            Command::Lamp(counter, mode) => {
                if let Some(ch) = self.lamps.get_mut(&counter) {
                    ch.start(mode.program(), now);
                }
            }
            Command::Beep(pattern) => {
                if let Some(ch) = &mut self.buzzer {
                    ch.start(pattern.program(), now);
                }
            }
        }
    }

    async fn run(mut self, mut rx: mpsc::UnboundedReceiver<Command>) {
        loop {
            let deadline = self.channels().filter_map(|ch| ch.deadline()).min();
            let command = tokio::select! {
                command = rx.recv() => match command {
                    Some(command) => Some(command),
                    None => break,
                },
                () = sleep_until(deadline) => None,
            };
            let now = Instant::now();
            if let Some(command) = command {
                self.apply(command, now);
            }
            for ch in self.channels() {
                ch.advance(now);
            }
        }
        // Nobody can switch them off any more: leave everything dark and quiet.
        for ch in self.channels() {
            ch.write(false);
        }
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gpio::pinmap::{RawGpioConfig, RawPin, validate};
    use crate::gpio::{Level::*, SimHarness};

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    const LED: u8 = 27;
    const LAMP: u8 = 23;
    const BUZZER: u8 = 24;

    fn map() -> PinMap {
        let pin = |pin: u8, function: &str| RawPin {
            pin: pin.into(),
            function: function.into(),
            ..RawPin::default()
        };
        validate(&RawGpioConfig {
            pins: vec![
                pin(LED, "status_led"),
                RawPin {
                    counter: Some("c1".into()),
                    ..pin(LAMP, "calling_lamp")
                },
                RawPin {
                    active: Some("low".into()),
                    ..pin(BUZZER, "buzzer")
                },
            ],
            ..RawGpioConfig::default()
        })
        .expect("test pin map is valid")
    }

    fn start(h: &SimHarness) -> OutputsHandle {
        spawn_outputs(h.gpio(), &map()).expect("outputs open")
    }

    #[tokio::test(start_paused = true)]
    async fn degraded_blinks_one_second() {
        let mut h = SimHarness::new(&map());
        let out = start(&h);
        out.set_status(LedPattern::Degraded).expect("driver runs");
        tokio::time::sleep(ms(4500)).await;
        h.expect_output_at(
            LED,
            &[
                (ms(0), Low),
                (ms(0), High),
                (ms(1000), Low),
                (ms(2000), High),
                (ms(3000), Low),
                (ms(4000), High),
            ],
        );
        h.done();
    }

    #[tokio::test(start_paused = true)]
    async fn fault_blinks_fast_then_ready_then_off() {
        let mut h = SimHarness::new(&map());
        let out = start(&h);
        out.set_status(LedPattern::Fault).expect("driver runs");
        tokio::time::sleep(ms(700)).await;
        // Repeating the pattern must not restart the phase.
        out.set_status(LedPattern::Fault).expect("driver runs");
        tokio::time::sleep(ms(200)).await;
        out.set_status(LedPattern::Ready).expect("driver runs");
        tokio::time::sleep(ms(3000)).await;
        out.set_status(LedPattern::Off).expect("driver runs");
        tokio::time::sleep(ms(100)).await;
        h.expect_output_at(
            LED,
            &[
                (ms(0), Low),
                (ms(0), High),
                (ms(200), Low),
                (ms(400), High),
                (ms(600), Low),
                (ms(800), High),
                // Ready at 900 while already lit: no change until Off.
                (ms(3900), Low),
            ],
        );
        h.done();
    }

    #[tokio::test(start_paused = true)]
    async fn calling_lamp_turns_off_after_its_period() {
        let mut h = SimHarness::new(&map());
        let out = start(&h);
        assert!(out.has_lamp("c1"));
        out.call_lamp("c1", LampMode::on_for(Duration::from_secs(10)))
            .expect("driver runs");
        tokio::time::sleep(Duration::from_secs(4)).await;
        // A second call restarts the timer.
        out.call_lamp("c1", LampMode::on_for(Duration::from_secs(10)))
            .expect("driver runs");
        tokio::time::sleep(Duration::from_secs(20)).await;
        // Unknown counters are ignored.
        out.call_lamp("c9", LampMode::on_for(Duration::from_secs(10)))
            .expect("ignored");
        h.expect_output_at(LAMP, &[(ms(0), Low), (ms(0), High), (ms(14_000), Low)]);
        h.done();
    }

    #[tokio::test(start_paused = true)]
    async fn calling_lamp_blinks_then_stops() {
        let mut h = SimHarness::new(&map());
        let out = start(&h);
        out.call_lamp("c1", LampMode::blink_for(ms(1800)))
            .expect("driver runs");
        tokio::time::sleep(ms(5000)).await;
        h.expect_output_at(
            LAMP,
            &[
                (ms(0), Low),
                (ms(0), High),
                (ms(500), Low),
                (ms(1000), High),
                (ms(1500), Low),
            ],
        );
        h.done();
    }

    #[tokio::test(start_paused = true)]
    async fn lamp_off_cuts_it_short() {
        let mut h = SimHarness::new(&map());
        let out = start(&h);
        out.call_lamp("c1", LampMode::on_for(ms(10_000)))
            .expect("driver runs");
        tokio::time::sleep(ms(300)).await;
        out.call_lamp("c1", LampMode::Off).expect("driver runs");
        tokio::time::sleep(ms(20_000)).await;
        h.expect_output_at(LAMP, &[(ms(0), Low), (ms(0), High), (ms(300), Low)]);
        h.done();
    }

    #[tokio::test(start_paused = true)]
    async fn double_beep_on_active_low_buzzer() {
        let mut h = SimHarness::new(&map());
        let out = start(&h);
        out.beep(BeepPattern::double()).expect("driver runs");
        tokio::time::sleep(ms(1000)).await;
        // Active low: idle high, sounding low.
        h.expect_output_at(
            BUZZER,
            &[
                (ms(0), High),
                (ms(0), Low),
                (ms(100), High),
                (ms(200), Low),
                (ms(300), High),
            ],
        );
        h.expect_output(LED, &[Low]);
        h.done();
    }

    #[tokio::test(start_paused = true)]
    async fn dropping_every_handle_goes_dark() {
        let mut h = SimHarness::new(&map());
        let out = start(&h);
        out.set_status(LedPattern::Ready).expect("driver runs");
        tokio::time::sleep(ms(100)).await;
        drop(out);
        tokio::time::sleep(ms(100)).await;
        h.expect_output(LED, &[Low, High, Low]);
        h.done();
        // The pins were released with the driver.
        let h2 = SimHarness::new(&map());
        drop(spawn_outputs(h2.gpio(), &map()).expect("pins free again"));
        h2.done();
    }

    #[test]
    fn disabled_handle_ignores_everything() {
        let out = OutputsHandle::disabled();
        assert!(out.set_status(LedPattern::Fault).is_ok());
        assert!(out.beep(BeepPattern::long()).is_ok());
        assert!(!out.has_lamp("c1"));
    }
}
