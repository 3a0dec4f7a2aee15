//! `GET /api/v1/events`: Server-Sent Events of every queue change.
//!
//! A client that reconnects with `Last-Event-ID` first gets what it missed from the
//! event log, then live events. The subscription is taken before the log is read, and
//! live events at or below the replay cursor are skipped, so nothing is lost or doubled.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures::Stream;
use tokio::sync::{broadcast, watch};

use super::AppState;
use super::error::Result;
use crate::events::to_json;
use crate::queue::store::events_after;
use crate::storage::{CommittedEvent, StorageError};

const REPLAY_PAGE: u32 = 2000;
const REPLAY_MAX: usize = 50_000;

struct Cursor {
    replay: VecDeque<CommittedEvent>,
    live: broadcast::Receiver<Arc<CommittedEvent>>,
    last: i64,
    shutdown: watch::Receiver<bool>,
    first: bool,
}

fn sse_event(e: &CommittedEvent) -> Event {
    Event::default()
        .id(e.id.to_string())
        .event(e.kind.as_str())
        .data(to_json(e).to_string())
}

#[utoipa::path(get, path = "/api/v1/events", tag = "display",
    params(("Last-Event-ID" = Option<i64>, Header, description = "replay events after this id")),
    responses((status = 200, description = "text/event-stream of queue events", content_type = "text/event-stream"),
        (status = 503, description = "all `max_event_streams` are in use; see `Retry-After`", body = super::error::Problem)))]
pub async fn events(
    State(st): State<AppState>,
    headers: HeaderMap,
) -> Result<Sse<impl Stream<Item = std::result::Result<Event, Infallible>>>> {
    let live = st.bus.subscribe();
    let last_seen = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|s| s.trim().parse::<i64>().ok());
    let mut replay = VecDeque::new();
    let mut last = 0;
    if let Some(after) = last_seen {
        last = after;
        loop {
            let page = st
                .queue
                .db()
                .run(move |tx| -> std::result::Result<_, StorageError> {
                    events_after(tx, last, REPLAY_PAGE)
                })
                .await?;
            let n = page.len();
            if let Some(e) = page.last() {
                last = e.id;
            }
            replay.extend(page);
            if n < REPLAY_PAGE as usize || replay.len() >= REPLAY_MAX {
                break;
            }
        }
    }
    let cursor = Cursor {
        replay,
        live,
        last,
        shutdown: st.shutdown.clone(),
        first: true,
    };
    let stream = futures::stream::unfold(cursor, |mut c| async move {
        if *c.shutdown.borrow() {
            return None;
        }
        if c.first {
            c.first = false;
            // Tell EventSource to come back quickly after a server restart.
            let hello = Event::default()
                .retry(Duration::from_millis(1000))
                .comment("lotse");
            return Some((Ok(hello), c));
        }
        if let Some(e) = c.replay.pop_front() {
            return Some((Ok(sse_event(&e)), c));
        }
        loop {
            tokio::select! {
                _ = c.shutdown.changed() => return None,
                r = c.live.recv() => match r {
                    Ok(e) if e.id > c.last => {
                        c.last = e.id;
                        return Some((Ok(sse_event(&e)), c));
                    }
                    Ok(_) => continue,
                    // Too slow to keep up: end the stream; the client reconnects
                    // with Last-Event-ID and replays from the log.
                    Err(_) => return None,
                },
            }
        }
    });
    Ok(Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}
