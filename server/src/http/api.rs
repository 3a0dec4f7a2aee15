//! JSON handlers of `/api/v1`: thin wrappers that parse, call the queue, answer.

use std::collections::BTreeMap;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::AppState;
use super::admin::Actor;
use super::error::{AppError, AppJson, AppPath, Problem, Result};
use crate::queue::{Action, CheckinRequest, Counter, Identification, QueueView, Service, Ticket};
use crate::scanning::hub::Identified;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CheckinBody {
    /// Service id, e.g. `residence`.
    pub service: String,
    /// Language the visitor chose at the kiosk (`de`, `en`, `uk`, `ru`, `ar`, `fa`, `tr`, `ro`, `bg`).
    pub language: String,
    /// The visitor has a booked appointment.
    #[serde(default)]
    pub appointment: bool,
    /// A scanned appointment code or visitor card (`scan` of a `GET /api/v1/kiosk/scans` event).
    #[serde(default)]
    pub scan: Option<String>,
    /// A scanned ID document (`scan` of an `id_document` event).
    #[serde(default)]
    pub id_scan: Option<String>,
    /// The visitor agreed on screen to passing the document's names and birth date on.
    #[serde(default)]
    pub consent: bool,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TransferBody {
    /// Target service id.
    pub service: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ComponentHealth {
    /// `ok`, `degraded`, `fault` or `not_configured`.
    pub status: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    /// Worst state of all components: `ok`, `degraded` or `fault`.
    pub status: String,
    pub version: String,
    pub uptime_seconds: u64,
    pub components: BTreeMap<String, ComponentHealth>,
}

#[utoipa::path(get, path = "/healthz", tag = "operations",
    responses((status = 200, body = Health), (status = 503, body = Health)))]
pub async fn healthz(State(st): State<AppState>) -> Response {
    let body = health(&st).await;
    let code = if body.status == "fault" {
        StatusCode::SERVICE_UNAVAILABLE
    } else {
        StatusCode::OK
    };
    (code, axum::Json(body)).into_response()
}

/// The state of every component; also drives the status LED.
pub async fn health(st: &AppState) -> Health {
    let mut components = BTreeMap::new();
    let probe = st.queue.db().run(|tx| -> crate::storage::Result<i64> {
        Ok(tx
            .conn
            .query_row("SELECT count(*) FROM services", [], |r| r.get(0))?)
    });
    let db = match tokio::time::timeout(std::time::Duration::from_secs(3), probe).await {
        Ok(Ok(_)) => ComponentHealth {
            status: "ok".into(),
            detail: None,
        },
        Ok(Err(e)) => ComponentHealth {
            status: "fault".into(),
            detail: Some(e.to_string()),
        },
        Err(_) => ComponentHealth {
            status: "fault".into(),
            detail: Some("the database did not answer within 3 s".into()),
        },
    };
    components.insert("database".to_string(), db);
    components.insert(
        "events".to_string(),
        ComponentHealth {
            status: "ok".into(),
            detail: Some(format!("{} live subscribers", st.bus.subscribers())),
        },
    );
    let p = st.printer.status();
    components.insert(
        "printer".to_string(),
        ComponentHealth {
            status: match p.state.as_str() {
                "ready" => "ok",
                "not_configured" => "not_configured",
                "paper_near_end" => "degraded",
                _ => "fault",
            }
            .into(),
            detail: Some(format!(
                "{}; {} printed, {} not printed{}",
                p.state,
                p.printed,
                p.failed,
                p.last_error
                    .map(|e| format!("; last error: {e}"))
                    .unwrap_or_default()
            )),
        },
    );
    components.insert(
        "case_system".to_string(),
        super::feed::case_system_health(st).await,
    );
    // Only a dead database makes the appliance unhealthy; a printer without paper
    // or an unreachable case system degrade it but check-in still works.
    let db_fault = components
        .get("database")
        .is_some_and(|c| c.status == "fault");
    let any_problem = components
        .values()
        .any(|c| c.status == "fault" || c.status == "degraded");
    let status = if db_fault {
        "fault"
    } else if any_problem {
        "degraded"
    } else {
        "ok"
    };
    Health {
        status: status.to_string(),
        version: env!("CARGO_PKG_VERSION").to_string(),
        uptime_seconds: st.started.elapsed().as_secs(),
        components,
    }
}

#[utoipa::path(get, path = "/api/v1/services", tag = "kiosk",
    responses((status = 200, body = Vec<Service>)))]
pub async fn services(State(st): State<AppState>) -> Result<AppJson<Vec<Service>>> {
    Ok(AppJson(st.queue.services().await?))
}

#[utoipa::path(get, path = "/api/v1/counters", tag = "desk",
    responses((status = 200, body = Vec<Counter>)))]
pub async fn counters(State(st): State<AppState>) -> Result<AppJson<Vec<Counter>>> {
    Ok(AppJson(st.queue.counters().await?))
}

#[utoipa::path(get, path = "/api/v1/queue", tag = "desk",
    responses((status = 200, body = QueueView)))]
pub async fn queue(State(st): State<AppState>) -> Result<AppJson<QueueView>> {
    Ok(AppJson(st.queue.view().await?))
}

/// Kiosks send a fresh `Idempotency-Key` per visit, so a double tap or a retried
/// request gets the same ticket instead of a second one.
#[utoipa::path(post, path = "/api/v1/checkins", tag = "kiosk", request_body = CheckinBody,
    params(("Idempotency-Key" = Option<String>, Header, description = "one key per visit")),
    responses((status = 201, body = Ticket), (status = 200, description = "same idempotency key: the ticket issued before", body = Ticket),
        (status = 422, body = Problem), (status = 400, body = Problem), (status = 410, description = "a scan was already used or expired", body = Problem), (status = 413, body = Problem),
        (status = 429, description = "more than `checkins_per_minute` from this kiosk; see `Retry-After`", body = Problem)))]
pub async fn checkin(
    State(st): State<AppState>,
    headers: HeaderMap,
    AppJson(body): AppJson<CheckinBody>,
) -> Result<Response> {
    let key = match headers.get("idempotency-key") {
        None => None,
        Some(v) => {
            let s = v
                .to_str()
                .ok()
                .filter(|s| !s.is_empty() && s.len() <= 128)
                .ok_or_else(|| {
                    AppError::BadRequest(
                        "Idempotency-Key must be 1 to 128 visible ASCII characters".into(),
                    )
                })?;
            Some(s.to_string())
        }
    };
    let scanned = body.scan.is_some() || body.id_scan.is_some();
    if let Some(k) = key.as_deref().filter(|_| scanned) {
        // A retried check-in: its scans were used by the first attempt.
        if let Some(t) = st.queue.by_idempotency_key(k).await? {
            return Ok((StatusCode::OK, AppJson(t)).into_response());
        }
    }
    // Claimed scans go back to the hub when the check-in is refused (dropped claims),
    // so the visitor need not scan again; only a stored ticket uses them up.
    let scan = body
        .scan
        .as_deref()
        .map(|id| st.scans.claim(id))
        .transpose()?;
    let id_scan = body
        .id_scan
        .as_deref()
        .map(|id| st.scans.claim(id))
        .transpose()?;
    let mut appointment = body.appointment;
    let mut identification = Identification::default();
    if let Some(claim) = &scan {
        match claim.identified() {
            Identified::Appointment { reference, service } => {
                if *service != body.service {
                    return Err(AppError::Unprocessable(format!(
                        "the appointment code is for service \"{service}\", not \"{}\"",
                        body.service
                    )));
                }
                appointment = true;
                identification.appointment_ref = Some(reference.clone());
            }
            Identified::Card { card } => identification.visitor_card = Some(card.clone()),
            Identified::IdDocument { .. } => {
                return Err(AppError::Unprocessable(
                    "an ID document scan goes in \"id_scan\", not \"scan\"".into(),
                ));
            }
        }
    }
    if let Some(claim) = &id_scan {
        match claim.identified() {
            Identified::IdDocument { visitor, .. } => {
                identification.id_document = true;
                identification.visitor = body.consent.then(|| visitor.clone());
            }
            _ => {
                return Err(AppError::Unprocessable(
                    "\"id_scan\" must name an ID document scan".into(),
                ));
            }
        }
    }
    let (mut ticket, new) = st
        .queue
        .check_in(CheckinRequest {
            service: body.service,
            language: body.language,
            appointment,
            idempotency_key: key,
            identification,
        })
        .await?;
    for claim in [scan, id_scan].into_iter().flatten() {
        claim.used();
    }
    let code = if new {
        let issued = ticket.arrived_at;
        ticket.printed = Some(st.printer.submit(&ticket, issued).await);
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((code, AppJson(ticket)).into_response())
}

#[utoipa::path(post, path = "/api/v1/counters/{id}/call-next", tag = "desk",
    params(("id" = String, Path, description = "counter id")),
    responses((status = 200, body = Ticket), (status = 204, description = "nobody is waiting"),
        (status = 404, body = Problem), (status = 409, body = Problem)))]
pub async fn call_next(
    State(st): State<AppState>,
    actor: Actor,
    AppPath(id): AppPath<String>,
) -> Result<Response> {
    Ok(match st.queue.call_next_by(&id, &actor.0).await? {
        Some(t) => AppJson(t).into_response(),
        None => StatusCode::NO_CONTENT.into_response(),
    })
}

#[utoipa::path(post, path = "/api/v1/counters/{id}/pause", tag = "desk",
    params(("id" = String, Path, description = "counter id")),
    responses((status = 200, body = Counter), (status = 404, body = Problem)))]
pub async fn pause(
    State(st): State<AppState>,
    actor: Actor,
    AppPath(id): AppPath<String>,
) -> Result<AppJson<Counter>> {
    Ok(AppJson(st.queue.set_paused_by(&id, true, &actor.0).await?))
}

#[utoipa::path(post, path = "/api/v1/counters/{id}/resume", tag = "desk",
    params(("id" = String, Path, description = "counter id")),
    responses((status = 200, body = Counter), (status = 404, body = Problem)))]
pub async fn resume(
    State(st): State<AppState>,
    actor: Actor,
    AppPath(id): AppPath<String>,
) -> Result<AppJson<Counter>> {
    Ok(AppJson(st.queue.set_paused_by(&id, false, &actor.0).await?))
}

#[utoipa::path(get, path = "/api/v1/tickets/{id}", tag = "desk",
    params(("id" = i64, Path, description = "ticket id")),
    responses((status = 200, body = Ticket), (status = 404, body = Problem)))]
pub async fn ticket(
    State(st): State<AppState>,
    AppPath(id): AppPath<i64>,
) -> Result<AppJson<Ticket>> {
    Ok(AppJson(st.queue.ticket(id).await?))
}

async fn act(st: AppState, actor: Actor, id: i64, action: Action) -> Result<AppJson<Ticket>> {
    Ok(AppJson(st.queue.act_by(id, action, &actor.0).await?))
}

macro_rules! ticket_action {
    ($name:ident, $path:literal, $action:expr) => {
        #[utoipa::path(post, path = $path, tag = "desk",
            params(("id" = i64, Path, description = "ticket id")),
            responses((status = 200, body = Ticket), (status = 404, body = Problem),
                (status = 409, description = "not allowed in the ticket's state", body = Problem)))]
        pub async fn $name(
            State(st): State<AppState>,
            actor: Actor,
            AppPath(id): AppPath<i64>,
        ) -> Result<AppJson<Ticket>> {
            act(st, actor, id, $action).await
        }
    };
}

ticket_action!(recall, "/api/v1/tickets/{id}/recall", Action::Recall);
ticket_action!(start, "/api/v1/tickets/{id}/start", Action::Start);
ticket_action!(done, "/api/v1/tickets/{id}/done", Action::Done);
ticket_action!(no_show, "/api/v1/tickets/{id}/no-show", Action::NoShow);
ticket_action!(cancel, "/api/v1/tickets/{id}/cancel", Action::Cancel);

#[utoipa::path(post, path = "/api/v1/tickets/{id}/transfer", tag = "desk",
    params(("id" = i64, Path, description = "ticket id")), request_body = TransferBody,
    responses((status = 200, description = "the new ticket in the target service", body = Ticket),
        (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn transfer(
    State(st): State<AppState>,
    actor: Actor,
    AppPath(id): AppPath<i64>,
    AppJson(body): AppJson<TransferBody>,
) -> Result<AppJson<Ticket>> {
    Ok(AppJson(
        st.queue.transfer_by(id, &body.service, &actor.0).await?,
    ))
}

/// What the kiosk screens need to know about the site.
#[derive(Debug, Serialize, ToSchema)]
pub struct UiConfig {
    pub site_name: String,
    pub languages: Vec<String>,
    pub id_scan: IdScanUi,
    pub privacy: PrivacyUi,
    pub kiosk_reset_seconds: u32,
}

/// What the kiosk's privacy notice says about retention.
#[derive(Debug, Serialize, ToSchema)]
pub struct PrivacyUi {
    /// Personal data is deleted after at most this many days (the retention in effect).
    pub retention_days: u32,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct IdScanUi {
    pub enabled: bool,
    /// Document types the admin switched on: `id_card`, `passport`,
    /// `residence_permit`, `visa`.
    pub documents: Vec<String>,
    /// The admin's privacy notice per language, shown before a scan; languages
    /// without one use the catalog's notice.
    pub privacy_notices: BTreeMap<String, String>,
}

#[utoipa::path(get, path = "/api/v1/config/ui", tag = "kiosk",
    responses((status = 200, body = UiConfig)))]
pub async fn ui_config(State(st): State<AppState>) -> AppJson<UiConfig> {
    let (scanning, privacy_notices, retention) = super::admin::kiosk_scanning(&st).await;
    let documents = scanning.documents();
    AppJson(UiConfig {
        site_name: st.settings.site_name.clone(),
        languages: crate::queue::LANGUAGES
            .iter()
            .map(|s| s.to_string())
            .collect(),
        id_scan: IdScanUi {
            enabled: !documents.is_empty(),
            documents,
            privacy_notices,
        },
        privacy: PrivacyUi {
            retention_days: retention.max_days,
        },
        kiosk_reset_seconds: st.settings.kiosk.reset_seconds,
    })
}
