//! The appliance's physical side wired to the domain: desk buttons call the next
//! visitor, the kiosk button issues a ticket, sensors raise alerts, the calling lamps
//! and buzzer follow the calls, and the status LED shows the health of the appliance.
//! Hardware events and outputs come from `firmware`; nothing here touches a pin.

use std::time::Duration;

use lotse_firmware::gpio::{
    BeepPattern, EventKind, GpioEvent, LampMode, LedPattern, Level, OutputsHandle, PinFunction,
};
use serde_json::json;
use tokio::sync::mpsc;

use crate::http::AppState;
use crate::queue::{Action, CheckinRequest};

/// How long a calling lamp blinks after a call.
const LAMP_TIME: Duration = Duration::from_secs(10);
/// How often the status LED is brought in line with the appliance's health.
const HEALTH_EVERY: Duration = Duration::from_secs(2);

/// Starts the tasks that connect GPIO events and outputs to the queue.
pub fn spawn(state: AppState, events: mpsc::Receiver<GpioEvent>) {
    tokio::spawn(handle_inputs(state.clone(), events));
    tokio::spawn(follow_calls(state.clone()));
    tokio::spawn(status_led(state));
}

async fn alert(state: &AppState, code: &str, level: &str, message: &str) {
    let data = json!({"code": code, "level": level, "message": message, "ticket": null});
    if let Err(e) = state
        .queue
        .db()
        .run(move |tx| tx.record_event("alert", None, data))
        .await
    {
        tracing::error!("cannot record an alert: {e}");
    }
}

async fn handle_inputs(state: AppState, mut events: mpsc::Receiver<GpioEvent>) {
    while let Some(ev) = events.recv().await {
        handle(&state, &ev).await;
    }
}

/// What one input event does.
pub async fn handle(state: &AppState, ev: &GpioEvent) {
    let outputs = &state.outputs;
    match (ev.function, ev.kind) {
        (PinFunction::CallButton, EventKind::Pressed) => {
            let Some(counter) = ev.counter.as_deref() else {
                return;
            };
            match state
                .queue
                .call_next_by(counter, &crate::audit::button(counter))
                .await
            {
                // The lamp and the display follow from the `ticket.called` event.
                Ok(Some(_)) => {}
                Ok(None) => {
                    let _ = outputs.beep(BeepPattern::double());
                }
                Err(e) => {
                    tracing::warn!("call button of {counter}: {e}");
                    let _ = outputs.beep(BeepPattern::long());
                }
            }
        }
        (PinFunction::CallButton, EventKind::LongPress) => {
            // A long press calls the current visitor again.
            let Some(counter) = ev.counter.as_deref() else {
                return;
            };
            let current = state
                .queue
                .counters()
                .await
                .ok()
                .and_then(|cs| cs.into_iter().find(|c| c.id == counter))
                .and_then(|c| c.current_ticket)
                .filter(|t| t.status == crate::queue::Status::Called);
            if let Some(t) = current {
                let _ = state
                    .queue
                    .act_by(t.id, Action::Recall, &crate::audit::button(counter))
                    .await;
            }
        }
        (PinFunction::TicketButton, EventKind::Pressed) => ticket_button(state).await,
        (PinFunction::PaperLow, EventKind::Changed(level)) => {
            let low = level == Level::High;
            state.printer.set_paper_low(low);
            if low {
                alert(
                    state,
                    "paper_low",
                    "warn",
                    "Ticketdrucker: Papier fast leer (Sensor). Bitte Rolle wechseln.",
                )
                .await;
            }
        }
        (PinFunction::DoorSwitch, EventKind::Changed(level)) => {
            if level == Level::High {
                alert(
                    state,
                    "door_open",
                    "warn",
                    "Die Gehäusetür des Geräts wurde geöffnet.",
                )
                .await;
            } else {
                alert(
                    state,
                    "door_closed",
                    "info",
                    "Die Gehäusetür ist wieder geschlossen.",
                )
                .await;
            }
        }
        _ => {}
    }
}

/// The accessible button: a ticket for the default concern without the touch screen.
/// The kiosk shows it and speaks it (event `kiosk.button_ticket`).
async fn ticket_button(state: &AppState) {
    let req = CheckinRequest {
        service: state.settings.kiosk.default_service.clone(),
        language: "de".into(),
        appointment: false,
        idempotency_key: None,
        identification: Default::default(),
    };
    match state.queue.check_in(req).await {
        Ok((mut t, _)) => {
            let _ = state.outputs.beep(BeepPattern::short());
            t.printed = Some(state.printer.submit(&t, t.arrived_at).await);
            let data = json!({ "ticket": t });
            let _ = state
                .queue
                .db()
                .run(move |tx| tx.record_event("kiosk.button_ticket", None, data))
                .await;
        }
        Err(e) => {
            tracing::error!("ticket button: {e}");
            let _ = state.outputs.beep(BeepPattern::long());
        }
    }
}

/// Blinks a counter's lamp (and beeps) whenever that counter calls someone.
async fn follow_calls(state: AppState) {
    let mut rx = state.bus.subscribe();
    loop {
        let ev = match rx.recv().await {
            Ok(ev) => ev,
            Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
            Err(_) => return,
        };
        if ev.kind != "ticket.called" && ev.kind != "ticket.recalled" {
            continue;
        }
        if let Some(counter) = ev.data["ticket"]["counter"].as_str() {
            let _ = state
                .outputs
                .call_lamp(counter, LampMode::blink_for(LAMP_TIME));
            let _ = state.outputs.beep(BeepPattern::short());
        }
    }
}

/// The LED pattern for a health summary: fault for the database or a printer that
/// cannot print, degraded for anything else that is not fine.
pub fn pattern_for(health: &crate::http::api::Health) -> LedPattern {
    let status = |name: &str| {
        health
            .components
            .get(name)
            .map(|c| c.status.as_str())
            .unwrap_or("ok")
    };
    if status("database") == "fault" || status("printer") == "fault" {
        LedPattern::Fault
    } else if health.status != "ok" {
        LedPattern::Degraded
    } else {
        LedPattern::Ready
    }
}

async fn status_led(state: AppState) {
    let mut tick = tokio::time::interval(HEALTH_EVERY);
    loop {
        tick.tick().await;
        let health = crate::http::api::health(&state).await;
        let _ = state.outputs.set_status(pattern_for(&health));
    }
}

/// Re-exported so the appliance can keep a handle without naming `firmware`.
pub type Outputs = OutputsHandle;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::api::{ComponentHealth, Health};

    fn health(status: &str, parts: &[(&str, &str)]) -> Health {
        Health {
            status: status.into(),
            version: String::new(),
            uptime_seconds: 0,
            components: parts
                .iter()
                .map(|(k, v)| {
                    (
                        k.to_string(),
                        ComponentHealth {
                            status: v.to_string(),
                            detail: None,
                        },
                    )
                })
                .collect(),
        }
    }

    #[test]
    fn led_patterns_follow_component_health() {
        let ok = health("ok", &[("database", "ok"), ("printer", "ok")]);
        assert_eq!(pattern_for(&ok), LedPattern::Ready);
        let backlog = health(
            "degraded",
            &[("database", "ok"), ("case_system", "degraded")],
        );
        assert_eq!(pattern_for(&backlog), LedPattern::Degraded);
        let paper_low = health("degraded", &[("printer", "degraded")]);
        assert_eq!(pattern_for(&paper_low), LedPattern::Degraded);
        let paper_out = health("degraded", &[("database", "ok"), ("printer", "fault")]);
        assert_eq!(pattern_for(&paper_out), LedPattern::Fault);
        let db = health("fault", &[("database", "fault")]);
        assert_eq!(pattern_for(&db), LedPattern::Fault);
    }
}
