//! `/api/v1/admin/...`: the admin screen's settings, the audit log and a purge run.
//! Handlers stay thin: validation and storage are in `settings_store`, `audit` and
//! `retention`; every change is written with its audit entry in one transaction.

use std::collections::BTreeMap;

use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use utoipa::IntoParams;

use super::AppState;
use super::error::{AppError, AppJson, AppQuery, Problem, Result};
use crate::audit::{self, AuditEntry};
use crate::auth::Principal;
use crate::config::RetentionSettings;
use crate::settings_store::{
    self as store, CaseSystemUpdate, CaseSystemView, CounterSetting, ScanningSetting,
    ServiceSetting, SettingsError,
};

/// Who made a request, for the audit log: the [`Principal`] the auth middleware put
/// into the request's extensions, or `unknown` when none did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor(pub String);

impl<S: Send + Sync> FromRequestParts<S> for Actor {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        _: &S,
    ) -> std::result::Result<Self, Self::Rejection> {
        Ok(Actor(
            parts
                .extensions
                .get::<Principal>()
                .map(|p| p.username.clone())
                .unwrap_or_else(|| audit::UNKNOWN.to_string()),
        ))
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    /// Entries at or after this time (RFC 3339).
    pub from: Option<DateTime<Utc>>,
    /// Entries before this time (RFC 3339).
    pub to: Option<DateTime<Utc>>,
    /// At most this many, newest first (1..=1000, default 200).
    pub limit: Option<u32>,
}

#[utoipa::path(get, path = "/api/v1/admin/audit", tag = "admin", params(AuditQuery),
    responses((status = 200, body = Vec<AuditEntry>), (status = 400, body = Problem)))]
pub async fn audit_log(
    State(st): State<AppState>,
    AppQuery(q): AppQuery<AuditQuery>,
) -> Result<AppJson<Vec<AuditEntry>>> {
    let limit = q.limit.unwrap_or(200);
    if !(1..=1000).contains(&limit) {
        return Err(AppError::BadRequest(
            "limit must be between 1 and 1000".into(),
        ));
    }
    if let (Some(f), Some(t)) = (q.from, q.to)
        && f > t
    {
        return Err(AppError::BadRequest("from must not be after to".into()));
    }
    let from = q.from.map(|t| t.timestamp_millis());
    let to = q.to.map(|t| t.timestamp_millis());
    Ok(AppJson(
        st.queue
            .db()
            .run(move |tx| audit::list(tx, from, to, limit))
            .await?,
    ))
}

async fn read<T, F>(st: &AppState, f: F) -> Result<AppJson<T>>
where
    T: Send + 'static,
    F: FnOnce(&mut crate::storage::Tx<'_>, &crate::config::Settings) -> store::Result<T>
        + Send
        + 'static,
{
    let settings = st.settings.clone();
    Ok(AppJson(
        st.queue.db().run(move |tx| f(tx, &settings)).await?,
    ))
}

#[utoipa::path(get, path = "/api/v1/admin/services", tag = "admin",
    responses((status = 200, body = Vec<ServiceSetting>)))]
pub async fn get_services(State(st): State<AppState>) -> Result<AppJson<Vec<ServiceSetting>>> {
    read(&st, |tx, s| store::services(tx, s)).await
}

#[utoipa::path(put, path = "/api/v1/admin/services", tag = "admin",
    request_body = Vec<ServiceSetting>,
    responses((status = 200, body = Vec<ServiceSetting>), (status = 422, body = Problem),
        (status = 409, description = "a removed service still has open tickets", body = Problem)))]
pub async fn put_services(
    State(st): State<AppState>,
    actor: Actor,
    AppJson(body): AppJson<Vec<ServiceSetting>>,
) -> Result<AppJson<Vec<ServiceSetting>>> {
    read(&st, move |tx, s| {
        store::set_services(tx, s, &body, &actor.0)?;
        store::services(tx, s)
    })
    .await
}

#[utoipa::path(get, path = "/api/v1/admin/counters", tag = "admin",
    responses((status = 200, body = Vec<CounterSetting>)))]
pub async fn get_counters(State(st): State<AppState>) -> Result<AppJson<Vec<CounterSetting>>> {
    read(&st, |tx, s| store::counters(tx, s)).await
}

#[utoipa::path(put, path = "/api/v1/admin/counters", tag = "admin",
    request_body = Vec<CounterSetting>,
    responses((status = 200, body = Vec<CounterSetting>), (status = 422, body = Problem)))]
pub async fn put_counters(
    State(st): State<AppState>,
    actor: Actor,
    AppJson(body): AppJson<Vec<CounterSetting>>,
) -> Result<AppJson<Vec<CounterSetting>>> {
    read(&st, move |tx, s| {
        store::set_counters(tx, s, &body, &actor.0)?;
        store::counters(tx, s)
    })
    .await
}

#[utoipa::path(get, path = "/api/v1/admin/scanning", tag = "admin",
    responses((status = 200, body = ScanningSetting)))]
pub async fn get_scanning(State(st): State<AppState>) -> Result<AppJson<ScanningSetting>> {
    read(&st, |tx, s| store::scanning(tx, s)).await
}

#[utoipa::path(put, path = "/api/v1/admin/scanning", tag = "admin",
    request_body = ScanningSetting,
    responses((status = 200, body = ScanningSetting), (status = 422, body = Problem)))]
pub async fn put_scanning(
    State(st): State<AppState>,
    actor: Actor,
    AppJson(body): AppJson<ScanningSetting>,
) -> Result<AppJson<ScanningSetting>> {
    let saved = read(&st, move |tx, s| {
        store::set_scanning(tx, &body, &actor.0)?;
        store::scanning(tx, s)
    })
    .await?;
    st.scans.set_id_documents(saved.0.kinds());
    Ok(saved)
}

#[utoipa::path(get, path = "/api/v1/admin/retention", tag = "admin",
    responses((status = 200, body = RetentionSettings)))]
pub async fn get_retention(State(st): State<AppState>) -> Result<AppJson<RetentionSettings>> {
    read(&st, |tx, s| Ok(store::retention(tx, s.retention)?)).await
}

#[utoipa::path(put, path = "/api/v1/admin/retention", tag = "admin",
    request_body = RetentionSettings,
    responses((status = 200, body = RetentionSettings), (status = 422, body = Problem)))]
pub async fn put_retention(
    State(st): State<AppState>,
    actor: Actor,
    AppJson(body): AppJson<RetentionSettings>,
) -> Result<AppJson<RetentionSettings>> {
    read(&st, move |tx, s| {
        store::set_retention(tx, &body, &actor.0)?;
        Ok(store::retention(tx, s.retention)?)
    })
    .await
}

/// Runs the retention purge now (also checkpoints and vacuums the database).
#[utoipa::path(post, path = "/api/v1/admin/retention/purge", tag = "admin",
    responses((status = 200, description = "what was deleted")))]
pub async fn purge_now(
    State(st): State<AppState>,
    actor: Actor,
) -> Result<AppJson<crate::retention::Report>> {
    let report = crate::retention::run(
        st.queue.db(),
        st.settings.retention,
        crate::retention::Delivery::of_case_system(st.case_system.current().as_ref()),
        &actor.0,
        true,
    )
    .await?;
    Ok(AppJson(report))
}

#[utoipa::path(get, path = "/api/v1/admin/privacy-notices", tag = "admin",
    responses((status = 200, description = "notice text by language code", body = BTreeMap<String, String>)))]
pub async fn get_privacy(State(st): State<AppState>) -> Result<AppJson<BTreeMap<String, String>>> {
    read(&st, |tx, _| store::privacy_notices(tx)).await
}

#[utoipa::path(put, path = "/api/v1/admin/privacy-notices", tag = "admin",
    request_body = BTreeMap<String, String>,
    responses((status = 200, body = BTreeMap<String, String>), (status = 422, body = Problem)))]
pub async fn put_privacy(
    State(st): State<AppState>,
    actor: Actor,
    AppJson(body): AppJson<BTreeMap<String, String>>,
) -> Result<AppJson<BTreeMap<String, String>>> {
    read(&st, move |tx, _| {
        store::set_privacy_notices(tx, &body, &actor.0)?;
        store::privacy_notices(tx)
    })
    .await
}

#[utoipa::path(get, path = "/api/v1/admin/case-system", tag = "admin",
    responses((status = 200, body = CaseSystemView)))]
pub async fn get_case_system(State(st): State<AppState>) -> Result<AppJson<CaseSystemView>> {
    read(&st, |tx, s| store::case_system(tx, s)).await
}

#[utoipa::path(put, path = "/api/v1/admin/case-system", tag = "admin",
    request_body = CaseSystemUpdate,
    responses((status = 200, body = CaseSystemView), (status = 422, body = Problem)))]
pub async fn put_case_system(
    State(st): State<AppState>,
    actor: Actor,
    AppJson(body): AppJson<CaseSystemUpdate>,
) -> Result<AppJson<CaseSystemView>> {
    let file = st.case_system.file().cloned();
    let (view, effective) = read(&st, move |tx, s| {
        let view = store::set_case_system(tx, s, &body, &actor.0)?;
        Ok((view, store::effective_case_system(tx, file.as_ref())?))
    })
    .await?
    .0;
    // Applies at once: the delivery worker restarts with the new endpoint.
    st.case_system.replace(effective, &st.worker_env()).await;
    Ok(AppJson(view))
}

/// What the kiosk needs of the admin settings: document types, privacy notices and
/// the retention in effect (no secrets, no personal data).
pub async fn kiosk_scanning(
    st: &AppState,
) -> (ScanningSetting, BTreeMap<String, String>, RetentionSettings) {
    let config = st.settings.retention;
    let settings = st.settings.clone();
    let from_file = ScanningSetting::from_kinds(&settings.scanning.id_documents);
    st.queue
        .db()
        .run(move |tx| -> std::result::Result<_, SettingsError> {
            Ok((
                store::scanning(tx, &settings)?,
                store::privacy_notices(tx)?,
                store::retention(tx, config)?,
            ))
        })
        .await
        .unwrap_or((from_file, Default::default(), config))
}
