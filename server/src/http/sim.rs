//! Demo mode's simulated GPIO board over HTTP: list the pins, press buttons and flip
//! sensors from a browser or a test. Outside demo mode these routes answer 404.

use axum::extract::State;
use lotse_firmware::gpio::{Level, SimPinInfo};
use serde::Deserialize;

use super::AppState;
use super::error::{AppError, AppJson, AppPath, Result};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SetLevel {
    pub level: Level,
}

fn board(st: &AppState) -> Result<&lotse_firmware::gpio::SimGpio> {
    st.gpio_sim
        .as_ref()
        .ok_or_else(|| AppError::NotFound("the simulated GPIO exists only in demo mode".into()))
}

pub async fn list(State(st): State<AppState>) -> Result<AppJson<Vec<SimPinInfo>>> {
    Ok(AppJson(board(&st)?.pins()))
}

pub async fn set(
    State(st): State<AppState>,
    AppPath(pin): AppPath<u8>,
    AppJson(body): AppJson<SetLevel>,
) -> Result<AppJson<SimPinInfo>> {
    let sim = board(&st)?;
    sim.set_input(pin, body.level)
        .map_err(|e| AppError::BadRequest(format!("BCM {pin}: {e}")))?;
    sim.pins()
        .into_iter()
        .find(|p| p.pin == pin)
        .map(AppJson)
        .ok_or_else(|| AppError::NotFound(format!("no pin {pin}")))
}
