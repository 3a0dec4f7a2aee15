//! What anyone in the waiting room may reach: the live status page behind a ticket's
//! QR code, and the spoken call the display plays. Numbers and rooms only.

use axum::extract::State;
use axum::http::header;
use axum::response::{Html, IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use super::AppState;
use super::error::{AppError, AppJson, AppPath, Result};
use crate::assets;
use crate::queue::{Status, Ticket};

/// A ticket's public status: no personal data.
#[derive(Debug, Serialize, ToSchema)]
pub struct TicketStatus {
    pub number: String,
    pub status: Status,
    pub service: String,
    pub position: Option<u32>,
    pub estimated_wait_minutes: Option<u32>,
    pub room: Option<String>,
}

fn public(t: Ticket) -> TicketStatus {
    TicketStatus {
        number: t.number,
        status: t.status,
        service: t.service,
        position: t.position,
        estimated_wait_minutes: t.estimated_wait_minutes,
        room: t.room,
    }
}

async fn by_token(st: &AppState, token: &str) -> Result<Ticket> {
    let valid = token.len() == 32 && token.bytes().all(|b| b.is_ascii_hexdigit());
    let found = if valid {
        st.queue.ticket_by_token(token).await?
    } else {
        None
    };
    found.ok_or_else(|| AppError::NotFound("no ticket with this code".into()))
}

#[utoipa::path(get, path = "/api/v1/status/{token}", tag = "kiosk",
    params(("token" = String, Path, description = "the token printed in the ticket's QR code")),
    responses((status = 200, body = TicketStatus), (status = 404, body = super::error::Problem)))]
pub async fn status_json(
    State(st): State<AppState>,
    AppPath(token): AppPath<String>,
) -> Result<AppJson<TicketStatus>> {
    Ok(AppJson(public(by_token(&st, &token).await?)))
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// `/t/{token}`: a small page for the visitor's phone, in the visitor's language,
/// that refreshes itself while the ticket is open.
pub async fn status_page(State(st): State<AppState>, AppPath(token): AppPath<String>) -> Response {
    let t = match by_token(&st, &token).await {
        Ok(t) => t,
        Err(e) => return e.into_response(),
    };
    let lang = t.language.clone();
    let tx = |key: &str, args: &[(&str, &str)]| escape(&assets::text(&lang, key, args));
    let dir = assets::text(&lang, "_dir", &[]);
    let service = escape(&crate::printing::service_name(
        &st.settings,
        &t.service,
        &lang,
    ));
    let body = match t.status {
        Status::Waiting => {
            let n = t.position.unwrap_or(0).to_string();
            let m = t.estimated_wait_minutes.unwrap_or(0).to_string();
            format!(
                "<p class=\"big\">{}</p><p>{}</p><p>{}</p>",
                tx("ticket.people_ahead", &[("n", &n)]),
                tx("ticket.estimated_wait", &[("minutes", &m)]),
                tx("ticket.please_wait", &[])
            )
        }
        Status::Called | Status::Serving => {
            let sentence = crate::announce::sentence(&lang, &t.number, t.room.as_deref());
            format!("<p class=\"call\">{}</p>", escape(&sentence))
        }
        _ => String::from("<p>✓</p>"),
    };
    let refresh = if t.status.is_open() {
        "<meta http-equiv=\"refresh\" content=\"15\">"
    } else {
        ""
    };
    let html = format!(
        "<!doctype html><html lang=\"{lang}\" dir=\"{dir}\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">{refresh}\
         <title>{number}</title><style>body{{font-family:sans-serif;margin:2rem;color:#111;background:#fff;\
         text-align:center}}.num{{font-size:4rem;font-weight:bold;margin:.5rem 0}}.big{{font-size:1.6rem}}\
         .call{{font-size:2rem;font-weight:bold;color:#0b5}}</style></head><body>\
         <p>{heading}</p><p class=\"num\">{number}</p><p>{service}</p>{body}\
         <p><small>{privacy}</small></p></body></html>",
        number = escape(&t.number),
        heading = tx("ticket.heading", &[]),
        privacy = tx("ticket.privacy_note", &[]),
    );
    ([(header::CACHE_CONTROL, "no-store")], Html(html)).into_response()
}

/// The kiosk speaks this after the accessible ticket button issued a ticket.
#[utoipa::path(get, path = "/api/v1/tickets/{id}/confirmation", tag = "kiosk",
    params(("id" = i64, Path, description = "ticket id")),
    responses((status = 200, description = "WAV audio: \"Your number: A 42 …\"", content_type = "audio/wav"),
        (status = 404, body = super::error::Problem), (status = 503, body = super::error::Problem)))]
pub async fn confirmation(
    State(st): State<AppState>,
    AppPath(id): AppPath<i64>,
) -> Result<Response> {
    let t = st.queue.ticket(id).await?;
    let wav = st
        .announcer
        .confirmation_wav(&t.number, &t.language)
        .await?;
    Ok(([(header::CONTENT_TYPE, "audio/wav")], wav).into_response())
}

#[utoipa::path(get, path = "/api/v1/tickets/{id}/announcement", tag = "display",
    params(("id" = i64, Path, description = "ticket id")),
    responses((status = 200, description = "WAV audio of the call in German and the visitor's language", content_type = "audio/wav"),
        (status = 404, body = super::error::Problem), (status = 503, body = super::error::Problem)))]
pub async fn announcement(
    State(st): State<AppState>,
    AppPath(id): AppPath<i64>,
) -> Result<Response> {
    let t = st.queue.ticket(id).await?;
    let wav = st
        .announcer
        .call_wav(&t.number, t.room.as_deref(), &t.language)
        .await?;
    Ok((
        [
            (header::CONTENT_TYPE, "audio/wav"),
            (header::CACHE_CONTROL, "public, max-age=300"),
        ],
        wav,
    )
        .into_response())
}

/// A call on the display: number and where to go, nothing about the person.
#[derive(Debug, Serialize, ToSchema)]
pub struct DisplayCall {
    pub id: i64,
    pub number: String,
    pub service: String,
    pub status: Status,
    pub counter: Option<String>,
    pub room: Option<String>,
    pub called_at: Option<chrono::DateTime<chrono::Utc>>,
}

/// A counter as the waiting room sees it.
#[derive(Debug, Serialize, ToSchema)]
pub struct DisplayCounter {
    pub id: String,
    pub name: String,
    pub room: String,
    pub paused: bool,
}

/// What the public display needs after (re)connecting: the staff-only queue and
/// counters reduced to numbers, counters and rooms.
#[derive(Debug, Serialize, ToSchema)]
pub struct DisplayView {
    pub counters: Vec<DisplayCounter>,
    /// Tickets called or being served today.
    pub calls: Vec<DisplayCall>,
    /// Waiting tickets per service.
    pub waiting: std::collections::BTreeMap<String, u32>,
}

#[utoipa::path(get, path = "/api/v1/display", tag = "display",
    responses((status = 200, body = DisplayView)))]
pub async fn display(State(st): State<AppState>) -> Result<AppJson<DisplayView>> {
    let counters = st
        .queue
        .counters()
        .await?
        .into_iter()
        .map(|c| DisplayCounter {
            id: c.id,
            name: c.name,
            room: c.room,
            paused: c.paused,
        })
        .collect();
    let view = st.queue.view().await?;
    let calls = view
        .tickets
        .into_iter()
        .filter(|t| matches!(t.status, Status::Called | Status::Serving))
        .map(|t| DisplayCall {
            id: t.id,
            number: t.number,
            service: t.service,
            status: t.status,
            counter: t.counter,
            room: t.room,
            called_at: t.called_at,
        })
        .collect();
    Ok(AppJson(DisplayView {
        counters,
        calls,
        waiting: view.waiting,
    }))
}
