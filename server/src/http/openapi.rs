//! The OpenAPI document, generated from the handlers' annotations.

use axum::Json;
use utoipa::OpenApi;

use super::{admin, api, auth, error, feed, public, scans, sse, stats};
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
        scans::stream,
        public::status_json,
        public::announcement,
        public::confirmation,
        feed::feed,
        feed::ack,
        feed::dead_letters,
        feed::replay,
        feed::enable,
        feed::metrics,
        public::display,
        auth::login,
        auth::session,
        auth::logout,
        auth::reauth,
        auth::accounts,
        auth::create_account,
        auth::update_account,
        auth::delete_account,
        auth::tokens,
        auth::create_token,
        auth::delete_token,
        admin::audit_log,
        admin::get_services,
        admin::put_services,
        admin::get_counters,
        admin::put_counters,
        admin::get_scanning,
        admin::put_scanning,
        admin::get_retention,
        admin::put_retention,
        admin::purge_now,
        admin::get_privacy,
        admin::put_privacy,
        admin::get_case_system,
        admin::put_case_system,
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
        api::PrivacyUi,
        error::Problem,
        public::TicketStatus,
        public::DisplayView,
        public::DisplayCall,
        public::DisplayCounter,
        auth::LoginBody,
        auth::SessionAnswer,
        auth::ReauthBody,
        auth::ReauthAnswer,
        auth::NewAccount,
        auth::AccountChange,
        auth::NewToken,
        auth::CreatedToken,
        crate::auth::AccountInfo,
        crate::auth::TokenInfo,
        crate::auth::Role,
        crate::auth::Scope,
        crate::audit::AuditEntry,
        crate::config::RetentionSettings,
        crate::settings_store::ServiceSetting,
        crate::settings_store::CounterSetting,
        crate::settings_store::ScanningSetting,
        crate::settings_store::CaseSystemView,
        crate::settings_store::CaseSystemUpdate,
        crate::stats::query::StatsReport,
        crate::stats::query::StatsRow,
        crate::stats::Granularity
    ))
)]
pub struct ApiDoc;

pub async fn openapi_json() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}
