//! `GET /api/v1/events`: Server-Sent Events of every queue change; and [`live_stream`], the
//! loop every live stream (display, kiosk scans, desk findings) runs on.
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

/// What a live stream does with the next broadcast message.
pub(super) enum Step {
    Send(Event),
    Skip,
    End,
}

/// A live stream: `first`, then `next` applied to each of `replay` and then to each message
/// broadcast on `live`, until shutdown. A subscriber that fell behind the broadcast gets
/// `next(None)`: each stream decides what missed messages mean (end and replay, skip,
/// resend the whole state). Comments every 15 s keep proxies from closing idle streams.
pub(super) fn live_stream<T: Clone + Send + 'static>(
    first: Event,
    replay: VecDeque<T>,
    live: broadcast::Receiver<T>,
    shutdown: watch::Receiver<bool>,
    next: impl FnMut(Option<T>) -> Step + Send + 'static,
) -> Sse<impl Stream<Item = std::result::Result<Event, Infallible>>> {
    struct Cursor<T, F> {
        first: Option<Event>,
        replay: VecDeque<T>,
        live: broadcast::Receiver<T>,
        shutdown: watch::Receiver<bool>,
        next: F,
    }
    let cursor = Cursor {
        first: Some(first),
        replay,
        live,
        shutdown,
        next,
    };
    let stream = futures::stream::unfold(cursor, |mut c| async move {
        if *c.shutdown.borrow() {
            return None;
        }
        if let Some(first) = c.first.take() {
            return Some((Ok(first), c));
        }
        loop {
            let item = match c.replay.pop_front() {
                Some(item) => Some(item),
                None => tokio::select! {
                    _ = c.shutdown.changed() => return None,
                    r = c.live.recv() => match r {
                        Ok(item) => Some(item),
                        Err(broadcast::error::RecvError::Lagged(_)) => None,
                        Err(broadcast::error::RecvError::Closed) => return None,
                    },
                },
            };
            match (c.next)(item) {
                Step::Send(e) => return Some((Ok(e), c)),
                Step::Skip => {}
                Step::End => return None,
            }
        }
    });
    Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
}

/// Tells EventSource to come back quickly after a server restart.
pub(super) fn hello(comment: &str) -> Event {
    Event::default()
        .retry(Duration::from_millis(1000))
        .comment(comment)
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
        (status = 429, description = "this address (not loopback) holds a quarter of `max_event_streams` already; see `Retry-After`", body = super::error::Problem),
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
    if let Some(mut last) = last_seen {
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
    let replay = replay.into_iter().map(Arc::new).collect();
    // Replayed events pass the same filter as live ones, from where the client was.
    let mut last = last_seen.unwrap_or(0);
    Ok(live_stream(
        hello("lotse"),
        replay,
        live,
        st.shutdown.clone(),
        move |e| match e {
            Some(e) if e.id > last => {
                last = e.id;
                Step::Send(sse_event(&e))
            }
            Some(_) => Step::Skip,
            // Too slow to keep up: end the stream; the client reconnects with
            // Last-Event-ID and replays from the log.
            None => Step::End,
        },
    ))
}
