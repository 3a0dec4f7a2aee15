//! Smoke test of the simulated GPIO: press the ticket button, print what the runner reports.
//!
//! Run with `cargo run -p lotse-firmware --example gpio_sim`.

use std::time::Duration;

use lotse_firmware::gpio::{self, LedPattern, RawGpioConfig, RawPin};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let raw = RawGpioConfig {
        backend: gpio::Backend::Sim,
        pins: vec![
            RawPin {
                pin: 17,
                function: "ticket_button".into(),
                pull: Some("up".into()),
                active: Some("low".into()),
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
    };
    let map = gpio::validate(&raw).map_err(|errors| {
        let lines: Vec<String> = errors.iter().map(ToString::to_string).collect();
        lines.join("\n")
    })?;

    let mut gpio = gpio::start(&map)?;
    let sim = gpio
        .sim
        .clone()
        .ok_or("the sim back-end exposes its board")?;
    gpio.outputs.set_status(LedPattern::Ready)?;

    println!("pressing the ticket button (BCM 17) for 100 ms");
    sim.press_for(17, Duration::from_millis(100)).await?;

    for _ in 0..2 {
        let event = tokio::time::timeout(Duration::from_secs(1), gpio.events.recv())
            .await?
            .ok_or("input runner stopped")?;
        println!(
            "event: {} {:?} on BCM {}",
            event.function, event.kind, event.pin
        );
    }
    for pin in sim.pins() {
        println!(
            "BCM {:>2}  {:<20} {:<6} {}",
            pin.pin,
            pin.name,
            pin.direction.map_or("-", |d| d.as_str()),
            pin.level.as_str()
        );
    }
    Ok(())
}
