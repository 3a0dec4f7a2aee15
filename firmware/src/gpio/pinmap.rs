//! The `[gpio]` configuration: which BCM pin does what, checked before any pin is touched.
//!
//! [`RawGpioConfig`] is what serde reads; [`validate`] turns it into a [`PinMap`] or
//! returns *every* problem at once, so an admin fixes the file in one go. Free-text
//! fields (`function`, `pull`, `active`, `pin`) are read as plain strings/integers on
//! purpose: a serde enum would stop at the first typo and hide the rest.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::inputs::InputTiming;
use super::{Level, Pull};

/// Highest BCM number on the 40-pin header.
pub const MAX_HEADER_PIN: u8 = 27;

/// Which GPIO implementation to open.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    /// The Raspberry Pi header through `rppal` (feature `rpi`).
    Rpi,
    /// The in-memory simulator (demo mode).
    Sim,
    /// No GPIO at all: events never come, output commands are ignored.
    #[default]
    None,
}

/// The `[gpio]` table as written in the configuration file.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawGpioConfig {
    #[serde(default)]
    pub backend: Backend,
    /// Keep BCM 2/3 free for an I²C device.
    #[serde(default)]
    pub reserve_i2c: bool,
    /// Keep BCM 14/15 free for the serial console or a serial printer.
    #[serde(default)]
    pub reserve_uart: bool,
    /// Debounce time; default 30 ms.
    #[serde(default)]
    pub debounce_ms: Option<u64>,
    /// Hold time for a long press; default 1500 ms.
    #[serde(default)]
    pub long_press_ms: Option<u64>,
    #[serde(default)]
    pub pins: Vec<RawPin>,
}

/// One `[[gpio.pins]]` entry, unchecked.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPin {
    /// BCM number; wide so that `pin = 300` becomes a validation error, not a parse error.
    pub pin: i64,
    pub function: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pull: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub counter: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// 1-based line of this entry in the source file, if the caller knows it (e.g. from
    /// `toml::Spanned` and [`line_at`]); copied into every error about the entry.
    #[serde(skip)]
    pub line: Option<usize>,
}

/// What a pin is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PinFunction {
    /// Kiosk button: a ticket for the default concern (accessibility).
    TicketButton,
    /// Desk button calling the next visitor; one per counter.
    CallButton,
    /// Printer paper-low sensor.
    PaperLow,
    /// Cabinet door switch.
    DoorSwitch,
    StatusLed,
    /// "Now calling" lamp above a counter.
    CallingLamp,
    Buzzer,
}

impl PinFunction {
    pub const ALL: [PinFunction; 7] = [
        PinFunction::TicketButton,
        PinFunction::CallButton,
        PinFunction::PaperLow,
        PinFunction::DoorSwitch,
        PinFunction::StatusLed,
        PinFunction::CallingLamp,
        PinFunction::Buzzer,
    ];

    /// The name used in the configuration file and in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            PinFunction::TicketButton => "ticket_button",
            PinFunction::CallButton => "call_button",
            PinFunction::PaperLow => "paper_low",
            PinFunction::DoorSwitch => "door_switch",
            PinFunction::StatusLed => "status_led",
            PinFunction::CallingLamp => "calling_lamp",
            PinFunction::Buzzer => "buzzer",
        }
    }

    pub fn from_name(name: &str) -> Option<PinFunction> {
        PinFunction::ALL.into_iter().find(|f| f.as_str() == name)
    }

    pub fn is_input(self) -> bool {
        matches!(
            self,
            PinFunction::TicketButton
                | PinFunction::CallButton
                | PinFunction::PaperLow
                | PinFunction::DoorSwitch
        )
    }

    pub fn is_output(self) -> bool {
        !self.is_input()
    }

    /// Buttons report presses; the other inputs report level changes.
    pub fn is_button(self) -> bool {
        matches!(self, PinFunction::TicketButton | PinFunction::CallButton)
    }

    /// Functions that belong to one counter and so need `counter`.
    pub fn needs_counter(self) -> bool {
        matches!(self, PinFunction::CallButton | PinFunction::CallingLamp)
    }

    /// Functions the appliance has at most one of.
    pub fn is_unique(self) -> bool {
        matches!(
            self,
            PinFunction::StatusLed | PinFunction::TicketButton | PinFunction::Buzzer
        )
    }

    fn allowed_names() -> String {
        PinFunction::ALL.map(PinFunction::as_str).join(", ")
    }
}

impl fmt::Display for PinFunction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One checked pin.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PinSpec {
    pub pin: u8,
    pub function: PinFunction,
    /// Always `Pull::Off` for outputs.
    pub pull: Pull,
    /// The electrical level at which the function is active (pressed, lit, asserted).
    pub active: Level,
    pub counter: Option<String>,
    /// Human label; defaults to e.g. `call_button c1 (BCM 22)`.
    pub name: String,
}

impl PinSpec {
    /// Electrical level for a logical state.
    pub fn level_for(&self, active: bool) -> Level {
        if active { self.active } else { !self.active }
    }

    /// Logical state for an electrical level.
    pub fn is_active(&self, level: Level) -> bool {
        level == self.active
    }
}

/// A validated pin map; only [`validate`] makes one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PinMap {
    pub backend: Backend,
    pub pins: Vec<PinSpec>,
    #[serde(skip)]
    pub timing: InputTiming,
}

impl PinMap {
    pub fn get(&self, pin: u8) -> Option<&PinSpec> {
        self.pins.iter().find(|p| p.pin == pin)
    }

    pub fn inputs(&self) -> impl Iterator<Item = &PinSpec> {
        self.pins.iter().filter(|p| p.function.is_input())
    }

    pub fn outputs(&self) -> impl Iterator<Item = &PinSpec> {
        self.pins.iter().filter(|p| p.function.is_output())
    }

    /// The pin of a unique function (`status_led`, `ticket_button`, `buzzer`), or the
    /// first of a per-counter one.
    pub fn find(&self, function: PinFunction) -> Option<&PinSpec> {
        self.pins.iter().find(|p| p.function == function)
    }

    /// The calling lamp of `counter`, if it has one.
    pub fn lamp(&self, counter: &str) -> Option<&PinSpec> {
        self.pins.iter().find(|p| {
            p.function == PinFunction::CallingLamp && p.counter.as_deref() == Some(counter)
        })
    }
}

/// One problem in the `[gpio]` table.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct PinMapError {
    /// 0-based index into `gpio.pins`; `None` for table-level settings.
    pub index: Option<usize>,
    /// 1-based source line, when the caller knows it.
    pub line: Option<usize>,
    /// The entry's BCM number, when it has a sensible one.
    pub pin: Option<i64>,
    pub kind: PinMapErrorKind,
}

impl PinMapError {
    /// Sets the source line; for callers that learn spans after validation.
    pub fn with_line(mut self, line: usize) -> Self {
        self.line = Some(line);
        self
    }
}

impl fmt::Display for PinMapError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.index {
            // 1-based for people counting `[[gpio.pins]]` blocks in an editor.
            Some(i) => write!(f, "[[gpio.pins]] entry {}", i + 1)?,
            None => f.write_str("[gpio]")?,
        }
        let mut details = Vec::new();
        if let Some(pin) = self.pin {
            details.push(format!("pin {pin}"));
        }
        if let Some(line) = self.line {
            details.push(format!("line {line}"));
        }
        if !details.is_empty() {
            write!(f, " ({})", details.join(", "))?;
        }
        write!(f, ": {}", self.kind)
    }
}

/// The kinds of problem [`validate`] finds.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PinMapErrorKind {
    #[error(
        "BCM {pin} does not exist on the 40-pin header (BCM 0–{MAX_HEADER_PIN}; use BCM numbers, not physical pin numbers)"
    )]
    NoSuchPin { pin: i64 },
    #[error("BCM {pin} is reserved for {reason}")]
    ReservedPin { pin: u8, reason: &'static str },
    #[error("BCM {pin} is already used by [[gpio.pins]] entry {}", first + 1)]
    DuplicatePin { pin: u8, first: usize },
    #[error(
        "unknown function \"{given}\"; allowed: {}",
        PinFunction::allowed_names()
    )]
    UnknownFunction { given: String },
    #[error("unknown pull \"{given}\"; allowed: up, down, none")]
    UnknownPull { given: String },
    #[error("unknown active level \"{given}\"; allowed: low, high")]
    UnknownActive { given: String },
    #[error("{function} needs `counter` (the counter id, e.g. counter = \"c1\")")]
    MissingCounter { function: PinFunction },
    #[error("`counter` is only for call_button and calling_lamp, not {function}")]
    UnexpectedCounter { function: PinFunction },
    #[error("`pull` is for inputs only; {function} is an output")]
    PullOnOutput { function: PinFunction },
    #[error("only one {function} is allowed; [[gpio.pins]] entry {} is one already", first + 1)]
    TooMany { function: PinFunction, first: usize },
    #[error(
        "counter \"{counter}\" already has a {function} at [[gpio.pins]] entry {}",
        first + 1
    )]
    DuplicateCounter {
        function: PinFunction,
        counter: String,
        first: usize,
    },
    #[error("gpio.{key} {message}")]
    Setting { key: &'static str, message: String },
}

/// 1-based line number of a byte offset, to turn a `toml::Spanned` span into
/// [`RawPin::line`].
pub fn line_at(source: &str, offset: usize) -> usize {
    let end = offset.min(source.len());
    source.as_bytes()[..end]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

/// Checks a raw `[gpio]` table; returns all problems, in file order.
pub fn validate(raw: &RawGpioConfig) -> Result<PinMap, Vec<PinMapError>> {
    let mut errors = Vec::new();
    let timing = validate_timing(raw, &mut errors);

    let mut pins = Vec::with_capacity(raw.pins.len());
    let mut pin_owner: BTreeMap<u8, usize> = BTreeMap::new();
    let mut unique_owner: BTreeMap<PinFunction, usize> = BTreeMap::new();
    let mut counter_owner: BTreeMap<(PinFunction, String), usize> = BTreeMap::new();

    for (index, entry) in raw.pins.iter().enumerate() {
        let mut fail = |kind| {
            errors.push(PinMapError {
                index: Some(index),
                line: entry.line,
                pin: Some(entry.pin),
                kind,
            })
        };

        // The pin number itself.
        let pin = match u8::try_from(entry.pin) {
            Ok(p) if p <= MAX_HEADER_PIN => Some(p),
            _ => {
                fail(PinMapErrorKind::NoSuchPin { pin: entry.pin });
                None
            }
        };
        if let Some(pin) = pin {
            if let Some(reason) = reserved_reason(pin, raw) {
                fail(PinMapErrorKind::ReservedPin { pin, reason });
            }
            if let Some(&first) = pin_owner.get(&pin) {
                fail(PinMapErrorKind::DuplicatePin { pin, first });
            } else {
                pin_owner.insert(pin, index);
            }
        }

        // Function and the fields that depend on it.
        let function = PinFunction::from_name(entry.function.trim());
        if function.is_none() {
            fail(PinMapErrorKind::UnknownFunction {
                given: entry.function.clone(),
            });
        }

        let pull = match entry.pull.as_deref().map(str::trim) {
            None => Some(Pull::Off),
            Some("up") => Some(Pull::Up),
            Some("down") => Some(Pull::Down),
            Some("none") => Some(Pull::Off),
            Some(other) => {
                // On an output the real problem is that `pull` is there at all.
                if !function.is_some_and(PinFunction::is_output) {
                    fail(PinMapErrorKind::UnknownPull {
                        given: other.to_owned(),
                    });
                }
                None
            }
        };
        let active = match entry.active.as_deref().map(str::trim) {
            None => None,
            Some("low") => Some(Level::Low),
            Some("high") => Some(Level::High),
            Some(other) => {
                fail(PinMapErrorKind::UnknownActive {
                    given: other.to_owned(),
                });
                None
            }
        };
        let counter = entry
            .counter
            .as_deref()
            .map(str::trim)
            .filter(|c| !c.is_empty());

        let Some(function) = function else { continue };

        if function.is_output()
            && matches!(entry.pull.as_deref().map(str::trim), Some(p) if p != "none")
        {
            fail(PinMapErrorKind::PullOnOutput { function });
        }
        match (function.needs_counter(), counter) {
            (true, None) => fail(PinMapErrorKind::MissingCounter { function }),
            (false, Some(_)) => fail(PinMapErrorKind::UnexpectedCounter { function }),
            (true, Some(c)) => {
                let key = (function, c.to_owned());
                if let Some(&first) = counter_owner.get(&key) {
                    fail(PinMapErrorKind::DuplicateCounter {
                        function,
                        counter: c.to_owned(),
                        first,
                    });
                } else {
                    counter_owner.insert(key, index);
                }
            }
            (false, None) => {}
        }
        if function.is_unique() {
            if let Some(&first) = unique_owner.get(&function) {
                fail(PinMapErrorKind::TooMany { function, first });
            } else {
                unique_owner.insert(function, index);
            }
        }

        let (Some(pin), Some(pull)) = (pin, pull) else {
            continue;
        };
        let pull = if function.is_input() { pull } else { Pull::Off };
        // Pull-up wiring almost always means a switch to ground, i.e. active low.
        let active = active.unwrap_or(if pull == Pull::Up {
            Level::Low
        } else {
            Level::High
        });
        let counter = if function.needs_counter() {
            counter.map(str::to_owned)
        } else {
            None
        };
        let name = match entry.name.as_deref().map(str::trim) {
            Some(n) if !n.is_empty() => n.to_owned(),
            _ => match &counter {
                Some(c) => format!("{function} {c} (BCM {pin})"),
                None => format!("{function} (BCM {pin})"),
            },
        };
        pins.push(PinSpec {
            pin,
            function,
            pull,
            active,
            counter,
            name,
        });
    }

    if errors.is_empty() {
        Ok(PinMap {
            backend: raw.backend,
            pins,
            timing,
        })
    } else {
        Err(errors)
    }
}

fn reserved_reason(pin: u8, raw: &RawGpioConfig) -> Option<&'static str> {
    match pin {
        0 | 1 => Some("the HAT ID EEPROM (ID_SD/ID_SC)"),
        2 | 3 if raw.reserve_i2c => Some("I²C (gpio.reserve_i2c = true)"),
        14 | 15 if raw.reserve_uart => Some("the UART (gpio.reserve_uart = true)"),
        _ => None,
    }
}

fn validate_timing(raw: &RawGpioConfig, errors: &mut Vec<PinMapError>) -> InputTiming {
    let mut timing = InputTiming::default();
    let mut fail = |key, message: String| {
        errors.push(PinMapError {
            index: None,
            line: None,
            pin: None,
            kind: PinMapErrorKind::Setting { key, message },
        })
    };
    if let Some(ms) = raw.debounce_ms {
        if (1..=1000).contains(&ms) {
            timing.debounce = Duration::from_millis(ms);
        } else {
            fail("debounce_ms", format!("is {ms}; use 1–1000 ms"));
        }
    }
    if let Some(ms) = raw.long_press_ms {
        if (100..=60_000).contains(&ms) {
            timing.long_press = Duration::from_millis(ms);
        } else {
            fail("long_press_ms", format!("is {ms}; use 100–60000 ms"));
        }
    }
    if timing.long_press <= timing.debounce {
        fail(
            "long_press_ms",
            format!(
                "({} ms) must be longer than debounce_ms ({} ms)",
                timing.long_press.as_millis(),
                timing.debounce.as_millis()
            ),
        );
    }
    timing
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(src: &str) -> RawGpioConfig {
        #[derive(Deserialize)]
        struct File {
            gpio: RawGpioConfig,
        }
        toml::from_str::<File>(src).expect("test TOML parses").gpio
    }

    fn kinds(raw: &RawGpioConfig) -> Vec<PinMapErrorKind> {
        validate(raw)
            .expect_err("config should be rejected")
            .into_iter()
            .map(|e| e.kind)
            .collect()
    }

    fn pin(pin: i64, function: &str) -> RawPin {
        RawPin {
            pin,
            function: function.into(),
            ..RawPin::default()
        }
    }

    fn counter_pin(p: i64, function: &str, counter: &str) -> RawPin {
        RawPin {
            counter: Some(counter.into()),
            ..pin(p, function)
        }
    }

    fn config(pins: Vec<RawPin>) -> RawGpioConfig {
        RawGpioConfig {
            pins,
            ..RawGpioConfig::default()
        }
    }

    const GOOD: &str = r#"
[gpio]
backend = "rpi"
reserve_uart = true
debounce_ms = 25

[[gpio.pins]]
pin = 17
function = "ticket_button"
pull = "up"
active = "low"
name = "Ticket-Taster"

[[gpio.pins]]
pin = 22
function = "call_button"
pull = "up"
counter = "c1"

[[gpio.pins]]
pin = 23
function = "calling_lamp"
counter = "c1"

[[gpio.pins]]
pin = 5
function = "paper_low"
pull = "down"

[[gpio.pins]]
pin = 6
function = "door_switch"
pull = "up"
active = "high"

[[gpio.pins]]
pin = 27
function = "status_led"

[[gpio.pins]]
pin = 24
function = "buzzer"
active = "low"
"#;

    #[test]
    fn good_file() {
        let map = validate(&parse(GOOD)).expect("good file validates");
        assert_eq!(map.backend, Backend::Rpi);
        assert_eq!(map.pins.len(), 7);
        assert_eq!(map.timing.debounce, Duration::from_millis(25));
        assert_eq!(map.timing.long_press, Duration::from_millis(1500));

        let ticket = map.find(PinFunction::TicketButton).expect("ticket button");
        assert_eq!(
            (ticket.pin, ticket.pull, ticket.active),
            (17, Pull::Up, Level::Low)
        );
        assert_eq!(ticket.name, "Ticket-Taster");

        let call = map.get(22).expect("pin 22");
        assert_eq!(call.counter.as_deref(), Some("c1"));
        assert_eq!(call.active, Level::Low, "pull-up defaults to active low");
        assert_eq!(call.name, "call_button c1 (BCM 22)");

        assert_eq!(map.get(6).map(|p| p.active), Some(Level::High));
        assert_eq!(map.get(5).map(|p| p.active), Some(Level::High));
        assert_eq!(map.lamp("c1").map(|p| p.pin), Some(23));
        assert_eq!(map.lamp("c2"), None);
        assert_eq!(map.inputs().count(), 4);
        assert_eq!(map.outputs().count(), 3);
    }

    #[test]
    fn empty_config_is_valid_and_off() {
        let map = validate(&RawGpioConfig::default()).expect("empty config is valid");
        assert_eq!(map.backend, Backend::None);
        assert!(map.pins.is_empty());
    }

    #[test]
    fn duplicate_pin() {
        let raw = config(vec![pin(17, "ticket_button"), pin(17, "status_led")]);
        let errors = validate(&raw).expect_err("duplicate rejected");
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].index, Some(1));
        assert_eq!(
            errors[0].kind,
            PinMapErrorKind::DuplicatePin { pin: 17, first: 0 }
        );
        assert_eq!(
            errors[0].to_string(),
            "[[gpio.pins]] entry 2 (pin 17): BCM 17 is already used by [[gpio.pins]] entry 1"
        );
    }

    #[test]
    fn reserved_and_missing_pins() {
        let mut raw = config(vec![
            pin(0, "status_led"),
            pin(1, "buzzer"),
            pin(2, "paper_low"),
            pin(14, "door_switch"),
            pin(28, "ticket_button"),
            pin(-3, "call_button"),
        ]);
        raw.pins[5].counter = Some("c1".into());
        // I²C and UART are free unless reserved.
        assert_eq!(
            kinds(&raw),
            vec![
                PinMapErrorKind::ReservedPin {
                    pin: 0,
                    reason: "the HAT ID EEPROM (ID_SD/ID_SC)"
                },
                PinMapErrorKind::ReservedPin {
                    pin: 1,
                    reason: "the HAT ID EEPROM (ID_SD/ID_SC)"
                },
                PinMapErrorKind::NoSuchPin { pin: 28 },
                PinMapErrorKind::NoSuchPin { pin: -3 },
            ]
        );
        raw.reserve_i2c = true;
        raw.reserve_uart = true;
        let errors = validate(&raw).expect_err("reserved pins rejected");
        assert_eq!(errors.len(), 6);
        assert!(
            errors[2].to_string().contains("BCM 2 is reserved for I²C"),
            "{}",
            errors[2]
        );
        assert!(
            errors[3].to_string().contains("reserved for the UART"),
            "{}",
            errors[3]
        );
        assert!(
            errors[4]
                .to_string()
                .contains("BCM 28 does not exist on the 40-pin header"),
            "{}",
            errors[4]
        );
    }

    #[test]
    fn unknown_function_lists_allowed_names() {
        let raw = config(vec![pin(17, "tiket_button")]);
        let errors = validate(&raw).expect_err("unknown function rejected");
        assert_eq!(
            errors[0].to_string(),
            "[[gpio.pins]] entry 1 (pin 17): unknown function \"tiket_button\"; allowed: \
             ticket_button, call_button, paper_low, door_switch, status_led, calling_lamp, buzzer"
        );
    }

    #[test]
    fn counter_rules() {
        let mut led = pin(27, "status_led");
        led.counter = Some("c1".into());
        let raw = config(vec![
            pin(22, "call_button"),
            counter_pin(23, "calling_lamp", "  "),
            led,
            counter_pin(24, "call_button", "c2"),
            counter_pin(25, "call_button", "c2"),
            // Same counter, different function: fine.
            counter_pin(26, "calling_lamp", "c2"),
        ]);
        assert_eq!(
            kinds(&raw),
            vec![
                PinMapErrorKind::MissingCounter {
                    function: PinFunction::CallButton
                },
                PinMapErrorKind::MissingCounter {
                    function: PinFunction::CallingLamp
                },
                PinMapErrorKind::UnexpectedCounter {
                    function: PinFunction::StatusLed
                },
                PinMapErrorKind::DuplicateCounter {
                    function: PinFunction::CallButton,
                    counter: "c2".into(),
                    first: 3
                },
            ]
        );
    }

    #[test]
    fn pull_active_and_uniqueness() {
        let mut led = pin(27, "status_led");
        led.pull = Some("up".into());
        let mut quiet = pin(24, "buzzer");
        quiet.pull = Some("none".into()); // harmless, allowed
        let mut bad = pin(5, "paper_low");
        bad.pull = Some("sideways".into());
        bad.active = Some("yes".into());
        let raw = config(vec![
            led,
            quiet,
            bad,
            pin(17, "ticket_button"),
            pin(18, "ticket_button"),
            pin(19, "buzzer"),
            pin(20, "status_led"),
        ]);
        assert_eq!(
            kinds(&raw),
            vec![
                PinMapErrorKind::PullOnOutput {
                    function: PinFunction::StatusLed
                },
                PinMapErrorKind::UnknownPull {
                    given: "sideways".into()
                },
                PinMapErrorKind::UnknownActive {
                    given: "yes".into()
                },
                PinMapErrorKind::TooMany {
                    function: PinFunction::TicketButton,
                    first: 3
                },
                PinMapErrorKind::TooMany {
                    function: PinFunction::Buzzer,
                    first: 1
                },
                PinMapErrorKind::TooMany {
                    function: PinFunction::StatusLed,
                    first: 0
                },
            ]
        );
    }

    #[test]
    fn timing_settings() {
        let mut raw = RawGpioConfig {
            debounce_ms: Some(0),
            long_press_ms: Some(50),
            ..RawGpioConfig::default()
        };
        let errors = validate(&raw).expect_err("bad timing rejected");
        assert_eq!(errors.len(), 2, "{errors:?}");
        assert_eq!(
            errors[0].to_string(),
            "[gpio]: gpio.debounce_ms is 0; use 1–1000 ms"
        );
        raw.debounce_ms = Some(500);
        raw.long_press_ms = Some(400);
        let errors = validate(&raw).expect_err("long press must exceed debounce");
        assert!(
            errors[0].to_string().contains("must be longer"),
            "{errors:?}"
        );
    }

    #[test]
    fn serde_rejects_unknown_keys_and_backends() {
        let err = toml::from_str::<RawGpioConfig>("backend = \"gpiod\"")
            .expect_err("unknown backend rejected");
        assert!(err.to_string().contains("`rpi`, `sim`"), "{err}");
        let err = toml::from_str::<RawGpioConfig>(
            "[[pins]]\npin = 1\nfunction = \"buzzer\"\ncountr = \"c1\"",
        )
        .expect_err("typo in key rejected");
        assert!(err.to_string().contains("countr"), "{err}");
    }

    /// How the server fills in line numbers: spans from `toml::Spanned`, then [`line_at`].
    #[test]
    fn line_numbers_from_spans() {
        #[derive(Deserialize)]
        struct Spans {
            gpio: SpanTable,
        }
        #[derive(Deserialize)]
        struct SpanTable {
            #[serde(default)]
            pins: Vec<toml::Spanned<toml::Table>>,
        }
        let src = GOOD.replace("pin = 23", "pin = 17");
        let mut raw = parse(&src);
        let spans: Spans = toml::from_str(&src).expect("test TOML parses");
        for (entry, span) in raw.pins.iter_mut().zip(&spans.gpio.pins) {
            entry.line = Some(line_at(&src, span.span().start));
        }
        let errors = validate(&raw).expect_err("duplicate rejected");
        let text = errors[0].to_string();
        assert!(
            text.starts_with("[[gpio.pins]] entry 3 (pin 17, line "),
            "{text}"
        );
        let line: usize = text["[[gpio.pins]] entry 3 (pin 17, line ".len()..]
            .split(')')
            .next()
            .and_then(|n| n.parse().ok())
            .expect("line number in message");
        // The span of an array-of-tables entry starts at its `[[gpio.pins]]` header.
        let at_line = src.lines().nth(line - 1).unwrap_or_default();
        let next_line = src.lines().nth(line).unwrap_or_default();
        assert_eq!(
            (at_line, next_line),
            ("[[gpio.pins]]", "pin = 17"),
            "line {line}"
        );
        assert_eq!(
            PinMapError {
                index: None,
                line: None,
                pin: None,
                kind: PinMapErrorKind::UnknownPull { given: "x".into() }
            }
            .with_line(9)
            .line,
            Some(9)
        );
    }
}
