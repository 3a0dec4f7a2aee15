//! The case system's side of the HTTP API: the pull feed of outbox events (the route
//! policy in [`super`] checks its bearer token), the dead letters and their replay, switching the endpoint on again
//! after a 410, the `case_system` component of `/healthz`, and `/metrics`.
//!
//! Problems have the shape of [`super::error`]'s: `{"type","title","status","detail"}`
//! as `application/problem+json`.

use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::AppState;
use super::api::ComponentHealth;
use super::error::{AppError, AppPath, AppQuery, Problem, problem};
use crate::clock::to_ms;
use crate::outbox::store::{self, DeadLetter, Stats};

#[derive(Debug, thiserror::Error)]
pub enum FeedError {
    #[error("there is no dead letter {0}")]
    UnknownDeadLetter(String),
    #[error("{0}")]
    BadRequest(String),
    #[error("cursor {cursor} was never issued; the last cursor is {last}")]
    CursorAhead { cursor: i64, last: i64 },
    #[error(transparent)]
    App(#[from] AppError),
}

impl From<crate::storage::StorageError> for FeedError {
    fn from(e: crate::storage::StorageError) -> Self {
        FeedError::App(AppError::Storage(e))
    }
}

impl IntoResponse for FeedError {
    fn into_response(self) -> Response {
        let detail = self.to_string();
        match self {
            FeedError::UnknownDeadLetter(_) => problem(
                StatusCode::NOT_FOUND,
                "unknown-dead-letter",
                "Unknown dead letter",
                detail,
            ),
            FeedError::BadRequest(_) => problem(
                StatusCode::BAD_REQUEST,
                "malformed-json",
                "Malformed JSON",
                detail,
            ),
            FeedError::CursorAhead { .. } => problem(
                StatusCode::UNPROCESSABLE_ENTITY,
                "cursor-out-of-range",
                "Cursor out of range",
                detail,
            ),
            FeedError::App(e) => e.into_response(),
        }
    }
}

type Result<T> = std::result::Result<T, FeedError>;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FeedQuery {
    /// Events after this cursor; default: the acknowledged cursor.
    pub after: Option<i64>,
    /// At most this many events (1 to 1000, default 100).
    pub limit: Option<u32>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct FeedItem {
    /// Position in the feed; acknowledge it when processed.
    pub cursor: i64,
    /// The event, exactly as pushed (see `docs/case-system-event.schema.json`).
    #[schema(value_type = Object)]
    pub event: serde_json::Value,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct FeedPage {
    pub events: Vec<FeedItem>,
    /// Pass as `after` for the next page.
    pub next_cursor: i64,
    /// The highest acknowledged cursor.
    pub acknowledged: i64,
    /// The highest cursor issued so far.
    pub last_cursor: i64,
}

#[utoipa::path(get, path = "/api/v1/feed", tag = "case-system",
    params(("after" = Option<i64>, Query, description = "cursor"), ("limit" = Option<u32>, Query, description = "1..1000")),
    responses((status = 200, body = FeedPage), (status = 401, body = Problem), (status = 404, body = Problem)))]
pub async fn feed(
    State(st): State<AppState>,
    AppQuery(q): AppQuery<FeedQuery>,
) -> Result<Response> {
    let limit = q.limit.unwrap_or(100).clamp(1, 1000);
    let after = q.after;
    let (entries, acknowledged, last_cursor) = st
        .queue
        .db()
        .run(
            move |tx| -> std::result::Result<_, crate::storage::StorageError> {
                let acked = store::acked(tx)?;
                let after = after.unwrap_or(acked);
                Ok((
                    store::feed(tx, after, limit)?,
                    acked,
                    store::last_cursor(tx)?,
                ))
            },
        )
        .await?;
    let next_cursor = entries
        .last()
        .map(|e| e.cursor)
        .unwrap_or(q.after.unwrap_or(acknowledged));
    let events = entries
        .into_iter()
        .map(|e| FeedItem {
            cursor: e.cursor,
            event: serde_json::from_str(&e.payload).unwrap_or(serde_json::Value::Null),
        })
        .collect();
    Ok(axum::Json(FeedPage {
        events,
        next_cursor,
        acknowledged,
        last_cursor,
    })
    .into_response())
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AckBody {
    /// Everything up to and including this cursor was processed.
    pub cursor: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AckAnswer {
    pub acknowledged: i64,
}

#[utoipa::path(post, path = "/api/v1/feed/ack", tag = "case-system", request_body = AckBody,
    responses((status = 200, body = AckAnswer), (status = 401, body = Problem),
        (status = 422, body = Problem), (status = 400, body = Problem)))]
pub async fn ack(
    State(st): State<AppState>,
    body: std::result::Result<Bytes, BytesRejection>,
) -> Result<Response> {
    // Read by hand (not `AppJson`) so that any malformed body is a 400, but a body
    // over the limit is still a 413 problem rather than axum's plain-text answer.
    let body = body.map_err(AppError::from)?;
    let body: AckBody = serde_json::from_slice(&body)
        .map_err(|e| FeedError::BadRequest(format!("expected {{\"cursor\": N}}: {e}")))?;
    let cursor = body.cursor;
    let acknowledged = st
        .queue
        .db()
        .run(move |tx| -> Result<i64> {
            let last = store::last_cursor(tx)?;
            if cursor > last || cursor < 0 {
                return Err(FeedError::CursorAhead { cursor, last });
            }
            Ok(store::ack(tx, cursor)?)
        })
        .await?;
    Ok(axum::Json(AckAnswer { acknowledged }).into_response())
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DeadLetters {
    pub dead_letters: Vec<DeadLetter>,
}

#[utoipa::path(get, path = "/api/v1/outbox/dead-letters", tag = "case-system",
    responses((status = 200, body = DeadLetters)))]
pub async fn dead_letters(State(st): State<AppState>) -> Result<Response> {
    let list = st
        .queue
        .db()
        .run(|tx| store::dead_letters(tx, 1000))
        .await?;
    Ok(axum::Json(DeadLetters { dead_letters: list }).into_response())
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Replayed {
    pub id: String,
    /// `pending`: it is delivered again.
    pub state: String,
}

#[utoipa::path(post, path = "/api/v1/outbox/dead-letters/{id}/replay", tag = "case-system",
    params(("id" = String, Path, description = "event id")),
    responses((status = 200, body = Replayed), (status = 404, body = Problem)))]
pub async fn replay(
    State(st): State<AppState>,
    actor: super::admin::Actor,
    AppPath(id): AppPath<String>,
) -> Result<Response> {
    let now = to_ms(st.clock.now());
    let key = id.clone();
    let found = st
        .queue
        .db()
        .run(move |tx| {
            let found = store::replay(tx, &key, now)?;
            if found {
                crate::audit::record(
                    tx,
                    &actor.0,
                    "outbox.dead_letter_replayed",
                    &format!("event {key}"),
                    "",
                )?;
            }
            Ok::<_, crate::storage::StorageError>(found)
        })
        .await?;
    if !found {
        return Err(FeedError::UnknownDeadLetter(id));
    }
    crate::outbox::waker(st.queue.db().path()).notify_one();
    Ok(axum::Json(Replayed {
        id,
        state: "pending".into(),
    })
    .into_response())
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Enabled {
    /// Whether the endpoint had been switched off by a 410.
    pub was_disabled: bool,
}

#[utoipa::path(post, path = "/api/v1/outbox/enable", tag = "case-system",
    responses((status = 200, body = Enabled)))]
pub async fn enable(State(st): State<AppState>, actor: super::admin::Actor) -> Result<Response> {
    let was_disabled = st
        .queue
        .db()
        .run(move |tx| {
            let was = store::enable(tx)?;
            crate::audit::record(tx, &actor.0, "outbox.enabled", "case system", "")?;
            Ok::<_, crate::storage::StorageError>(was)
        })
        .await?;
    crate::outbox::waker(st.queue.db().path()).notify_one();
    Ok(axum::Json(Enabled { was_disabled }).into_response())
}

async fn stats(st: &AppState) -> std::result::Result<Stats, String> {
    let push = st.case_system.current().is_some_and(|c| c.url.is_some());
    let probe = st.queue.db().run(move |tx| store::stats(tx, push));
    match tokio::time::timeout(std::time::Duration::from_secs(3), probe).await {
        Ok(Ok(s)) => Ok(s),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err("the database did not answer within 3 s".into()),
    }
}

fn age_seconds(st: &AppState, s: &Stats) -> i64 {
    s.oldest_at
        .map(|t| ((to_ms(st.clock.now()) - t) / 1000).max(0))
        .unwrap_or(0)
}

/// The `case_system` component of `/healthz`.
pub async fn case_system_health(st: &AppState) -> ComponentHealth {
    let Some(cs) = st.case_system.current() else {
        return ComponentHealth {
            status: "not_configured".into(),
            detail: None,
        };
    };
    let s = match stats(st).await {
        Ok(s) => s,
        Err(e) => {
            return ComponentHealth {
                status: "fault".into(),
                detail: Some(e),
            };
        }
    };
    let age = age_seconds(st, &s);
    let mode = match (&cs.url, &cs.feed_token) {
        (Some(_), Some(_)) => "push and pull",
        (Some(_), None) => "push",
        _ => "pull",
    };
    let mut detail = format!(
        "{mode}; backlog {} (oldest {age} s), {} dead letters, {} delivered",
        s.backlog, s.dead_letters, s.delivered_total
    );
    if let Some(e) = &s.last_error {
        detail.push_str("; last error: ");
        detail.push_str(e);
    }
    let disabled = cs.url.is_some() && s.disabled_url.is_some() && s.disabled_url == cs.url;
    let status = if disabled {
        detail = format!(
            "the endpoint answered 410 Gone and is switched off (POST /api/v1/outbox/enable); {detail}"
        );
        "degraded"
    } else if (s.backlog > 0 && age as u64 > cs.alert_after.as_secs()) || s.dead_letters > 0 {
        "degraded"
    } else {
        "ok"
    };
    ComponentHealth {
        status: status.into(),
        detail: Some(detail),
    }
}

/// The outbox's lines of the Prometheus text format.
pub async fn metrics_text(st: &AppState) -> String {
    let s = stats(st).await.unwrap_or_default();
    let age = age_seconds(st, &s);
    let disabled = st
        .case_system
        .current()
        .is_some_and(|c| c.url.is_some() && s.disabled_url == c.url);
    let mut out = String::new();
    let mut metric = |name: &str, kind: &str, help: &str, value: i64| {
        out.push_str(&format!(
            "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}\n"
        ));
    };
    metric(
        "lotse_outbox_backlog",
        "gauge",
        "Events not yet delivered to the case system (pull only: not yet acknowledged).",
        s.backlog,
    );
    metric(
        "lotse_outbox_oldest_age_seconds",
        "gauge",
        "Age of the oldest undelivered event.",
        age,
    );
    metric(
        "lotse_outbox_delivered_total",
        "counter",
        "Events the case system acknowledged with a 2xx.",
        s.delivered_total,
    );
    metric(
        "lotse_outbox_dead_letters",
        "gauge",
        "Events given up on; replay them with POST /api/v1/outbox/dead-letters/{id}/replay.",
        s.dead_letters,
    );
    metric(
        "lotse_outbox_endpoint_disabled",
        "gauge",
        "1 while the endpoint is switched off after a 410 Gone.",
        i64::from(disabled),
    );
    out.push_str(&st.printer.metrics_text());
    out
}

/// `GET /metrics` in the Prometheus text format.
#[utoipa::path(get, path = "/metrics", tag = "operations",
    responses((status = 200, description = "Prometheus text format", content_type = "text/plain")))]
pub async fn metrics(State(st): State<AppState>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        metrics_text(&st).await,
    )
        .into_response()
}
