//! Scans at the kiosk over HTTP: the kiosk screen's live stream of scan results
//! (`GET /api/v1/kiosk/scans`) and demo mode's simulated scanner
//! (`POST /api/v1/sim/scan`).
//!
//! The stream can carry a visitor's name (for the consent screen), so it is served only
//! to the kiosk browser on the appliance itself (loopback); the display's public event
//! stream never sees a scan.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::Duration;

use axum::extract::{ConnectInfo, Request, State};
use axum::response::sse::{Event, KeepAlive, Sse};
use base64::Engine as _;
use futures::Stream;
use serde::Deserialize;
use tokio::sync::{broadcast, watch};

use super::AppState;
use super::error::{AppError, AppJson, Result};
use crate::scanning::hub::KioskScan;

/// Whether the request came over loopback (the kiosk browser on the appliance).
pub(crate) fn from_loopback(req: &Request) -> bool {
    req.extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .is_some_and(|c| c.0.ip().to_canonical().is_loopback())
}

fn scan_event(s: &KioskScan) -> Event {
    Event::default()
        .event("scan")
        .data(serde_json::to_string(s).unwrap_or_default())
}

#[utoipa::path(get, path = "/api/v1/kiosk/scans", tag = "kiosk",
    responses((status = 200, description = "text/event-stream of scan results (event `scan`); loopback only", content_type = "text/event-stream"),
        (status = 403, body = super::error::Problem),
        (status = 503, description = "all `max_event_streams` are in use; see `Retry-After`", body = super::error::Problem)))]
pub async fn stream(
    State(st): State<AppState>,
    req: Request,
) -> Result<Sse<impl Stream<Item = std::result::Result<Event, Infallible>>>> {
    if !from_loopback(&req) {
        return Err(AppError::Forbidden(
            "scan results are only served to the kiosk on this appliance (loopback)".into(),
        ));
    }
    struct Cursor {
        live: broadcast::Receiver<KioskScan>,
        shutdown: watch::Receiver<bool>,
        first: bool,
    }
    let cursor = Cursor {
        live: st.scans.subscribe(),
        shutdown: st.shutdown.clone(),
        first: true,
    };
    let stream = futures::stream::unfold(cursor, |mut c| async move {
        if *c.shutdown.borrow() {
            return None;
        }
        if c.first {
            c.first = false;
            let hello = Event::default()
                .retry(Duration::from_millis(1000))
                .comment("lotse scans");
            return Some((Ok(hello), c));
        }
        loop {
            tokio::select! {
                _ = c.shutdown.changed() => return None,
                r = c.live.recv() => match r {
                    Ok(s) => return Some((Ok(scan_event(&s)), c)),
                    // A scan missed while lagging is simply scanned again.
                    Err(broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(broadcast::error::RecvError::Closed) => return None,
                },
            }
        }
    });
    Ok(Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}

/// A simulated scan: the text a hand scanner or MRZ reader would type, or an image
/// (PNG/JPEG/…, base64) as a camera would see it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SimScan {
    pub text: Option<String>,
    pub image_base64: Option<String>,
}

/// Demo mode only: feeds a scan into the hub as if a device had read it.
pub async fn simulate(
    State(st): State<AppState>,
    AppJson(body): AppJson<SimScan>,
) -> Result<AppJson<Vec<KioskScan>>> {
    if !st.settings.demo {
        return Err(AppError::NotFound(
            "the simulated scanner exists only in demo mode".into(),
        ));
    }
    match (body.text, body.image_base64) {
        (Some(text), None) => Ok(AppJson(vec![st.scans.submit_text(&text)])),
        (None, Some(b64)) => {
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(b64.trim())
                .map_err(|e| AppError::BadRequest(format!("image_base64: {e}")))?;
            let img = image::load_from_memory(&bytes)
                .map_err(|e| AppError::BadRequest(format!("image_base64: not an image: {e}")))?
                .into_luma8();
            let (w, h) = img.dimensions();
            let hub = st.scans.clone();
            let found = tokio::task::spawn_blocking(move || hub.submit_image(img.as_raw(), w, h))
                .await
                .map_err(|e| AppError::BadRequest(format!("image decoding failed: {e}")))?;
            Ok(AppJson(found))
        }
        _ => Err(AppError::BadRequest(
            "send exactly one of \"text\" and \"image_base64\"".into(),
        )),
    }
}
