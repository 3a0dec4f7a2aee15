//! HTTP on top of the domain: the router, shared state and middleware.
//! Handlers stay thin; errors become problem documents in [`error`].

pub mod api;
pub mod error;
pub mod feed;
pub mod openapi;
pub mod provisioning;
pub mod public;
pub mod sim;
pub mod sse;
pub mod ui;

use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{StatusCode, Uri};
use axum::routing::{get, post};
use tokio::sync::watch;
use tower_http::timeout::TimeoutLayer;

use crate::clock::Clock;
use crate::config::Settings;
use crate::events::EventBus;
use crate::queue::Queue;

/// Everything a handler may use.
#[derive(Clone, Debug)]
pub struct AppState {
    pub queue: Queue,
    pub bus: EventBus,
    pub clock: Arc<dyn Clock>,
    pub settings: Arc<Settings>,
    /// Flips to `true` at shutdown so long-lived streams end and the server can stop.
    pub shutdown: watch::Receiver<bool>,
    pub started: Instant,
    pub printer: crate::printing::PrintService,
    pub announcer: crate::announce::Announcer,
    /// Status LED, calling lamps and buzzer (a no-op without GPIO).
    pub outputs: lotse_firmware::gpio::OutputsHandle,
    /// The simulated GPIO board; only in demo mode.
    pub gpio_sim: Option<lotse_firmware::gpio::SimGpio>,
}

async fn api_not_found(uri: Uri) -> error::AppError {
    error::AppError::NotFound(format!("no API route {}", uri.path()))
}

/// The whole HTTP surface of the appliance.
pub fn app(state: AppState) -> Router {
    let limit = state.settings.max_body_bytes;
    let timeout = state.settings.request_timeout;
    let api = Router::new()
        .route("/services", get(api::services))
        .route("/counters", get(api::counters))
        .route("/queue", get(api::queue))
        .route("/checkins", post(api::checkin))
        .route("/counters/{id}/call-next", post(api::call_next))
        .route("/counters/{id}/pause", post(api::pause))
        .route("/counters/{id}/resume", post(api::resume))
        .route("/tickets/{id}", get(api::ticket))
        .route("/tickets/{id}/recall", post(api::recall))
        .route("/tickets/{id}/start", post(api::start))
        .route("/tickets/{id}/done", post(api::done))
        .route("/tickets/{id}/no-show", post(api::no_show))
        .route("/tickets/{id}/cancel", post(api::cancel))
        .route("/tickets/{id}/transfer", post(api::transfer))
        .route("/feed", get(feed::feed))
        .route("/feed/ack", post(feed::ack))
        .route("/outbox/dead-letters", get(feed::dead_letters))
        .route("/outbox/dead-letters/{id}/replay", post(feed::replay))
        .route("/outbox/enable", post(feed::enable))
        .route("/tickets/{id}/announcement", get(public::announcement))
        .route("/tickets/{id}/confirmation", get(public::confirmation))
        .route("/status/{token}", get(public::status_json))
        .route("/sim/gpio", get(sim::list))
        .route("/sim/gpio/{pin}", post(sim::set))
        .route("/config/ui", get(api::ui_config))
        .route("/openapi.json", get(openapi::openapi_json))
        .fallback(api_not_found);
    Router::new()
        .route("/api/v1/events", get(sse::events))
        .nest(
            "/api/v1",
            api.layer(TimeoutLayer::with_status_code(
                StatusCode::REQUEST_TIMEOUT,
                timeout,
            )),
        )
        .route("/healthz", get(api::healthz))
        .route("/metrics", get(feed::metrics))
        .route("/", get(ui::index))
        .route("/kiosk", get(ui::kiosk))
        .route("/display", get(ui::display))
        .route("/desk", get(ui::desk))
        .route("/t/{token}", get(public::status_page))
        .fallback(ui::asset)
        .layer(DefaultBodyLimit::max(limit))
        .with_state(state)
}
