//! The Raspberry Pi header through `rppal` (feature `rpi`); the only file naming rppal.
//!
//! Pins are memory-mapped through `/dev/gpiomem` (`/dev/gpiomem0` on a Pi 5), so reads
//! and writes are cheap enough for the 5 ms polling loop.

use std::path::Path;

use rppal::gpio as hw;

use super::{GpioBackend, GpioError, InputPin, Level, OutputPin, Pull, Result};

/// Devices rppal maps; without one of them there is no GPIO to talk to.
const GPIOMEM: [&str; 2] = ["/dev/gpiomem", "/dev/gpiomem0"];

/// The real GPIO header.
#[derive(Debug, Clone)]
pub struct RpiGpio {
    gpio: hw::Gpio,
}

impl RpiGpio {
    /// Opens the header; fails with [`GpioError::NoGpio`] on machines without one, so a
    /// laptop or CI run says what to configure instead of "unknown model".
    pub fn open() -> Result<Self> {
        if !GPIOMEM.iter().any(|dev| Path::new(dev).exists()) {
            return Err(GpioError::NoGpio("/dev/gpiomem missing".to_owned()));
        }
        let gpio = hw::Gpio::new().map_err(map_err)?;
        Ok(RpiGpio { gpio })
    }
}

fn map_err(err: hw::Error) -> GpioError {
    match err {
        hw::Error::UnknownModel => {
            GpioError::NoGpio("not a Raspberry Pi model rppal recognises".to_owned())
        }
        hw::Error::PinUsed(pin) => GpioError::PinBusy(pin),
        hw::Error::PinNotAvailable(pin) => GpioError::NoSuchPin(pin),
        hw::Error::PermissionDenied(path) => GpioError::PermissionDenied(path),
        hw::Error::Io(io) if io.kind() == std::io::ErrorKind::NotFound => {
            GpioError::NoGpio(io.to_string())
        }
        other => GpioError::Backend(other.to_string()),
    }
}

fn to_hw(level: Level) -> hw::Level {
    match level {
        Level::Low => hw::Level::Low,
        Level::High => hw::Level::High,
    }
}

impl GpioBackend for RpiGpio {
    fn input(&self, pin: u8, pull: Pull) -> Result<Box<dyn InputPin>> {
        let p = self.gpio.get(pin).map_err(map_err)?;
        let p = match pull {
            Pull::Up => p.into_input_pullup(),
            Pull::Down => p.into_input_pulldown(),
            Pull::Off => p.into_input(),
        };
        Ok(Box::new(RpiInput(p)))
    }

    fn output(&self, pin: u8, initial: Level) -> Result<Box<dyn OutputPin>> {
        let p = self.gpio.get(pin).map_err(map_err)?;
        let p = match initial {
            Level::Low => p.into_output_low(),
            Level::High => p.into_output_high(),
        };
        Ok(Box::new(RpiOutput(p)))
    }
}

/// rppal resets the pin's mode and bias when this is dropped.
#[derive(Debug)]
struct RpiInput(hw::InputPin);

impl InputPin for RpiInput {
    fn pin(&self) -> u8 {
        self.0.pin()
    }

    fn level(&self) -> Level {
        match self.0.read() {
            hw::Level::Low => Level::Low,
            hw::Level::High => Level::High,
        }
    }
}

#[derive(Debug)]
struct RpiOutput(hw::OutputPin);

impl OutputPin for RpiOutput {
    fn pin(&self) -> u8 {
        self.0.pin()
    }

    fn set(&mut self, level: Level) {
        self.0.write(to_hw(level));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn level_conversion() {
        assert_eq!(to_hw(Level::High), hw::Level::High);
        assert_eq!(to_hw(Level::Low), hw::Level::Low);
    }

    #[test]
    fn errors_map_to_clear_messages() {
        assert!(matches!(
            map_err(hw::Error::PinUsed(4)),
            GpioError::PinBusy(4)
        ));
        let msg = map_err(hw::Error::UnknownModel).to_string();
        assert!(msg.starts_with("no GPIO on this machine"), "{msg}");
        let msg = map_err(hw::Error::PermissionDenied("/dev/gpiomem".into())).to_string();
        assert!(msg.contains("`gpio` group"), "{msg}");
    }

    /// On a development machine or CI, opening must fail with the configuration hint.
    #[test]
    fn open_without_gpio_says_what_to_do() {
        if GPIOMEM.iter().any(|dev| Path::new(dev).exists()) {
            return; // a real Pi: nothing to check here
        }
        let err = RpiGpio::open().expect_err("no GPIO here");
        assert_eq!(
            err.to_string(),
            "no GPIO on this machine (/dev/gpiomem missing); set gpio.backend = \"none\" \
             (or \"sim\" for demo mode) in the configuration"
        );
    }
}
