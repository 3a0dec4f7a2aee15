//! GPIO inputs (buttons, sensors) and outputs (LEDs, lamps, buzzer) behind small traits.
//!
//! Two back-ends implement [`GpioBackend`]: `rpi::RpiGpio` (feature `rpi`, the only
//! code that names `rppal`) and [`sim::SimGpio`], which every test and demo mode use.
//! On top of a back-end, [`inputs`] polls and debounces inputs into [`GpioEvent`]s and
//! [`outputs`] renders LED patterns, lamp timers and beeps, both on `tokio::time` so a
//! paused clock makes them deterministic.
//!
//! The usual entry point is [`start`]: validated [`PinMap`] in, event channel and
//! [`OutputsHandle`] out.

use std::fmt::Debug;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

pub mod debounce;
pub mod inputs;
pub mod outputs;
pub mod pinmap;
#[cfg(feature = "rpi")]
pub mod rpi;
pub mod sim;

pub use debounce::{Debouncer, EdgeDetector};
pub use inputs::{InputTiming, spawn_inputs};
pub use outputs::{BeepPattern, LampMode, LedPattern, OutputsHandle, spawn_outputs};
pub use pinmap::{
    Backend, PinFunction, PinMap, PinMapError, PinMapErrorKind, PinSpec, RawGpioConfig, RawPin,
    line_at, validate,
};
pub use sim::{Direction, SimGpio, SimHarness, SimPinInfo};

/// Electrical level of a pin.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    Low,
    High,
}

impl Level {
    /// `High` for `true`, so logical states map onto levels without `if`s.
    pub fn from_bool(high: bool) -> Level {
        if high { Level::High } else { Level::Low }
    }

    pub fn is_high(self) -> bool {
        self == Level::High
    }

    /// Stable lower-case name for logs and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Low => "low",
            Level::High => "high",
        }
    }
}

impl std::ops::Not for Level {
    type Output = Level;
    fn not(self) -> Level {
        match self {
            Level::Low => Level::High,
            Level::High => Level::Low,
        }
    }
}

/// Internal bias resistor of an input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Pull {
    Up,
    Down,
    /// No bias; written `none` in the configuration.
    #[serde(rename = "none")]
    Off,
}

impl Pull {
    /// Level an open (unpressed) input floats to, as the simulator models it.
    pub fn resting_level(self) -> Level {
        match self {
            Pull::Up => Level::High,
            Pull::Down | Pull::Off => Level::Low,
        }
    }
}

/// Errors of the GPIO back-ends and drivers.
#[derive(Debug, thiserror::Error)]
pub enum GpioError {
    #[error(
        "no GPIO on this machine ({0}); set gpio.backend = \"none\" (or \"sim\" for demo mode) in the configuration"
    )]
    NoGpio(String),
    #[error(
        "gpio.backend = \"rpi\" needs a build with the `rpi` feature; rebuild with --features rpi or set gpio.backend = \"none\""
    )]
    RpiNotBuilt,
    #[error("GPIO access denied: {0}; add the service user to the `gpio` group")]
    PermissionDenied(String),
    #[error("GPIO pin {0} does not exist on this board")]
    NoSuchPin(u8),
    #[error("GPIO pin {0} is already in use")]
    PinBusy(u8),
    #[error("GPIO pin {0} is not in the pin map")]
    UnknownPin(u8),
    #[error("GPIO pin {0} is an output; only inputs can be set from outside")]
    NotAnInput(u8),
    #[error("the GPIO output driver has stopped")]
    DriverStopped,
    #[error("GPIO back-end failed: {0}")]
    Backend(String),
}

pub type Result<T> = std::result::Result<T, GpioError>;

/// A source of pins; implemented by the real board and the simulator.
pub trait GpioBackend: Send + Sync + Debug {
    /// Claims `pin` as an input with the given bias.
    fn input(&self, pin: u8, pull: Pull) -> Result<Box<dyn InputPin>>;
    /// Claims `pin` as an output, driven to `initial` straight away so nothing glitches
    /// (an active-low buzzer must not chirp at boot).
    fn output(&self, pin: u8, initial: Level) -> Result<Box<dyn OutputPin>>;
}

/// A claimed input; released when dropped.
pub trait InputPin: Send + Sync + Debug {
    fn pin(&self) -> u8;
    fn level(&self) -> Level;
    fn is_high(&self) -> bool {
        self.level() == Level::High
    }
    fn is_low(&self) -> bool {
        self.level() == Level::Low
    }
}

/// A claimed output; released when dropped.
pub trait OutputPin: Send + Sync + Debug {
    fn pin(&self) -> u8;
    fn set(&mut self, level: Level);
}

/// What happened on an input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    /// A button went active (after debouncing).
    Pressed,
    /// A button went inactive again; follows every `Pressed`, long or not.
    Released,
    /// A button has been held for the long-press time; reported once per press.
    LongPress,
    /// A sensor (`paper_low`, `door_switch`) changed. The level is logical:
    /// `High` means asserted (paper low, door open) whatever the wiring.
    Changed(Level),
}

/// An input event, tagged with the pin's function so the server needs no pin numbers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GpioEvent {
    pub function: PinFunction,
    /// The counter of a `call_button`; `None` for other functions.
    pub counter: Option<String>,
    pub pin: u8,
    pub kind: EventKind,
    /// When the change was accepted (after the debounce time).
    pub at: tokio::time::Instant,
}

/// A running GPIO set-up, as [`start`] returns it.
#[derive(Debug)]
pub struct Gpio {
    /// Input events; closed at once when the back-end is `none` or no inputs are mapped.
    pub events: mpsc::Receiver<GpioEvent>,
    /// Status LED, calling lamps and buzzer; a no-op when the back-end is `none`.
    pub outputs: OutputsHandle,
    /// The simulator, when the back-end is `sim`, so demo mode can press buttons.
    pub sim: Option<SimGpio>,
}

/// Opens the configured back-end and starts the input and output tasks.
///
/// Must be called inside a tokio runtime. With the `rpi` back-end but without the `rpi`
/// feature, this fails ([`GpioError::RpiNotBuilt`]) rather than silently simulating.
pub fn start(map: &PinMap) -> Result<Gpio> {
    let (backend, sim): (Arc<dyn GpioBackend>, Option<SimGpio>) = match map.backend {
        Backend::None => {
            let (_tx, events) = mpsc::channel(1);
            return Ok(Gpio {
                events,
                outputs: OutputsHandle::disabled(),
                sim: None,
            });
        }
        Backend::Sim => {
            let sim = SimGpio::from_pin_map(map);
            (Arc::new(sim.clone()), Some(sim))
        }
        #[cfg(feature = "rpi")]
        Backend::Rpi => (Arc::new(rpi::RpiGpio::open()?), None),
        #[cfg(not(feature = "rpi"))]
        Backend::Rpi => {
            return Err(GpioError::RpiNotBuilt);
        }
    };
    start_with(backend, map, sim)
}

/// Like [`start`], on a back-end the caller opened (tests, custom boards).
pub fn start_with(
    backend: Arc<dyn GpioBackend>,
    map: &PinMap,
    sim: Option<SimGpio>,
) -> Result<Gpio> {
    let events = spawn_inputs(backend.as_ref(), map)?;
    let outputs = spawn_outputs(backend.as_ref(), map)?;
    Ok(Gpio {
        events,
        outputs,
        sim,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn level_helpers() {
        assert_eq!(!Level::High, Level::Low);
        assert_eq!(Level::from_bool(true), Level::High);
        assert_eq!(Pull::Up.resting_level(), Level::High);
        assert_eq!(Pull::Off.resting_level(), Level::Low);
    }

    #[test]
    fn no_gpio_message_tells_what_to_do() {
        let msg = GpioError::NoGpio("/dev/gpiomem missing".into()).to_string();
        assert!(msg.contains("/dev/gpiomem missing"), "{msg}");
        assert!(msg.contains("gpio.backend = \"none\""), "{msg}");
    }

    #[cfg(not(feature = "rpi"))]
    #[tokio::test(start_paused = true)]
    async fn rpi_backend_without_feature_says_so() {
        let raw = RawGpioConfig {
            backend: Backend::Rpi,
            ..RawGpioConfig::default()
        };
        let map = validate(&raw).expect("empty pin list is valid");
        let err = start(&map).expect_err("not built with rppal");
        assert!(err.to_string().contains("--features rpi"), "{err}");
    }

    #[tokio::test(start_paused = true)]
    async fn none_backend_starts_quietly() {
        let map = validate(&RawGpioConfig::default()).expect("empty config is valid");
        let mut gpio = start(&map).expect("none back-end always starts");
        assert!(gpio.events.recv().await.is_none());
        gpio.outputs
            .set_status(LedPattern::Fault)
            .expect("disabled outputs accept commands");
        assert!(gpio.sim.is_none());
    }

    #[tokio::test(start_paused = true)]
    async fn sim_backend_end_to_end() {
        let raw: RawGpioConfig = toml::from_str(
            r#"
            backend = "sim"
            [[pins]]
            pin = 17
            function = "ticket_button"
            pull = "up"
            active = "low"
            [[pins]]
            pin = 27
            function = "status_led"
            "#,
        )
        .expect("test TOML parses");
        let map = validate(&raw).expect("test pin map is valid");
        let mut gpio = start(&map).expect("sim starts");
        let sim = gpio
            .sim
            .clone()
            .expect("sim back-end exposes the simulator");
        gpio.outputs
            .set_status(LedPattern::Ready)
            .expect("driver runs");
        sim.set_active(17, true).expect("pin 17 is an input");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        let ev = gpio.events.recv().await.expect("a press arrives");
        assert_eq!(ev.function, PinFunction::TicketButton);
        assert_eq!(ev.kind, EventKind::Pressed);
        assert_eq!(sim.level(27), Some(Level::High));
    }
}
