//! The OpenAPI document, generated from the handlers' annotations.

use axum::Json;
use utoipa::OpenApi;

use super::{api, error, feed, public, sse, stats};
use crate::queue;

#[derive(Debug, OpenApi)]
#[openapi(
    info(
        title = "Lotse appliance API",
        description = "Check-in, queue and live events of a Lotse appliance."
    ),
    paths(
        api::healthz,
        api::services,
        api::counters,
        api::queue,
        api::checkin,
        api::call_next,
        api::pause,
        api::resume,
        api::ticket,
        api::recall,
        api::start,
        api::done,
        api::no_show,
        api::cancel,
        api::transfer,
        api::ui_config,
        sse::events,
        public::status_json,
        public::announcement,
        public::confirmation,
        feed::feed,
        feed::ack,
        feed::dead_letters,
        feed::replay,
        feed::enable,
        feed::metrics,
        stats::report,
        stats::chart
    ),
    components(schemas(
        queue::Ticket,
        queue::Service,
        queue::Counter,
        queue::QueueView,
        queue::Status,
        api::CheckinBody,
        api::TransferBody,
        api::Health,
        api::ComponentHealth,
        api::UiConfig,
        api::IdScanUi,
        error::Problem,
        public::TicketStatus,
        crate::stats::query::StatsReport,
        crate::stats::query::StatsRow,
        crate::stats::Granularity
    ))
)]
pub struct ApiDoc;

pub async fn openapi_json() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}
