//! Scans over HTTP: the kiosk screen's live stream of scan results
//! (`GET /api/v1/kiosk/scans`), demo mode's simulated scanner (`POST /api/v1/sim/scan`), and
//! the desks' office-scanner findings (`/api/v1/counters/{id}/findings…`, staff only).
//!
//! The stream can carry a visitor's name (for the consent screen), so it is served only
//! to the kiosk browser on the appliance itself (loopback); the display's public event
//! stream never sees a scan.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::Duration;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::StatusCode;
use axum::response::sse::{Event, Sse};
use base64::Engine as _;
use futures::Stream;
use serde::Deserialize;

use super::AppState;
use super::admin::Actor;
use super::error::{AppError, AppJson, AppPath, Result};
use super::sse::{Step, hello, live_stream};
use crate::queue::Ticket;
use crate::scanning::desk::Finding;
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
        (status = 429, description = "this address (not loopback) holds a quarter of `max_event_streams` already; see `Retry-After`", body = super::error::Problem),
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
    Ok(live_stream(
        hello("lotse scans"),
        VecDeque::new(),
        st.scans.subscribe(),
        st.shutdown.clone(),
        |s: Option<KioskScan>| match s {
            Some(s) => Step::Send(scan_event(&s)),
            // A scan missed while lagging is simply scanned again.
            None => Step::Skip,
        },
    ))
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

/// The desk's answer to an ID document finding.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConsentBody {
    /// `true`: the visitor agreed that names and birth date are stored and passed on.
    pub consent: bool,
}

async fn existing_counter(st: &AppState, id: &str) -> Result<()> {
    st.queue.current_at_counter(id).await?;
    Ok(())
}

#[utoipa::path(get, path = "/api/v1/counters/{id}/findings", tag = "desk",
    params(("id" = String, Path, description = "counter id")),
    responses((status = 200, description = "what the counter's office scanner found, oldest first (names only while waiting for consent)"),
        (status = 404, body = super::error::Problem)))]
pub async fn findings(
    State(st): State<AppState>,
    AppPath(id): AppPath<String>,
) -> Result<AppJson<Vec<Finding>>> {
    existing_counter(&st, &id).await?;
    Ok(AppJson(st.desk_scans.list(&id)))
}

fn findings_event(list: &[Finding]) -> Event {
    Event::default()
        .event("findings")
        .data(serde_json::to_string(list).unwrap_or_default())
}

#[utoipa::path(get, path = "/api/v1/counters/{id}/findings/stream", tag = "desk",
    params(("id" = String, Path, description = "counter id")),
    responses((status = 200, description = "text/event-stream: event `findings` with the counter's whole list, at once and after every change", content_type = "text/event-stream"),
        (status = 404, body = super::error::Problem),
        (status = 429, description = "this address (not loopback) holds a quarter of `max_event_streams` already; see `Retry-After`", body = super::error::Problem),
        (status = 503, description = "all `max_event_streams` are in use; see `Retry-After`", body = super::error::Problem)))]
pub async fn findings_stream(
    State(st): State<AppState>,
    AppPath(id): AppPath<String>,
) -> Result<Sse<impl Stream<Item = std::result::Result<Event, Infallible>>>> {
    existing_counter(&st, &id).await?;
    let desk = st.desk_scans.clone();
    let first = findings_event(&desk.list(&id)).retry(Duration::from_millis(1000));
    Ok(live_stream(
        first,
        VecDeque::new(),
        desk.subscribe(),
        st.shutdown.clone(),
        move |changed: Option<String>| match changed {
            // Missed changes (None): the whole list is sent anyway.
            Some(ref counter) if *counter != id => Step::Skip,
            _ => Step::Send(findings_event(&desk.list(&id))),
        },
    ))
}

#[utoipa::path(post, path = "/api/v1/counters/{id}/findings/{finding}/confirm", tag = "desk",
    request_body = ConsentBody,
    params(("id" = String, Path, description = "counter id"), ("finding" = String, Path, description = "finding id")),
    responses((status = 200, body = Ticket, description = "names and birth date stored with the visit and forwarded"),
        (status = 404, body = super::error::Problem), (status = 409, body = super::error::Problem),
        (status = 422, body = super::error::Problem)))]
pub async fn confirm_finding(
    State(st): State<AppState>,
    actor: Actor,
    AppPath((id, finding)): AppPath<(String, String)>,
    AppJson(body): AppJson<ConsentBody>,
) -> Result<AppJson<Ticket>> {
    Ok(AppJson(
        st.desk_scans
            .confirm(&id, &finding, body.consent, &actor.0)
            .await?,
    ))
}

#[utoipa::path(post, path = "/api/v1/counters/{id}/findings/{finding}/dismiss", tag = "desk",
    params(("id" = String, Path, description = "counter id"), ("finding" = String, Path, description = "finding id")),
    responses((status = 204, description = "dropped; nothing of it was stored"),
        (status = 404, body = super::error::Problem)))]
pub async fn dismiss_finding(
    State(st): State<AppState>,
    actor: Actor,
    AppPath((id, finding)): AppPath<(String, String)>,
) -> Result<StatusCode> {
    st.desk_scans.dismiss(&id, &finding, &actor.0).await?;
    Ok(StatusCode::NO_CONTENT)
}
