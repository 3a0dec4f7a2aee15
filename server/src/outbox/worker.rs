//! The delivery worker: reads due events through `Db::run`, signs and sends them
//! outside the database thread, and records each outcome in a later transaction.
//!
//! - Order per visit: only the oldest pending event of a visit is ever due (see
//!   [`store::due`]), so a visit's later event waits for the earlier one.
//! - Retries: exponential backoff with full jitter per event (`retry_initial`
//!   doubling up to `retry_max`); after `give_up_after` an event becomes a dead
//!   letter. `Retry-After` is honoured.
//! - The endpoint as a whole: after a failure that is the endpoint's (no answer,
//!   429, 5xx) the worker probes with one event at a time, pausing with the same
//!   backoff, instead of hammering a receiver that is down; a 410 Gone switches the
//!   endpoint off until an operator switches it on again (or the URL changes).
//! - Only a 2xx counts as delivered. Delivery is at least once on the wire (a crash
//!   between send and mark sends again); the receiver deduplicates by `webhook-id`.
//! - Waiting uses `tokio::time` and the wall clock comes from [`Clock`], so tests
//!   run days of outage in virtual time.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::{Notify, broadcast, watch};
use tokio::task::JoinSet;

use super::settings::CaseSystemSettings;
use super::sign::Signer;
use super::store::{self, Decision, DueEvent};
use super::transport::{Delivery, OutboxTransport, Outcome, RetryAfter};
use crate::clock::{Clock, to_ms};
use crate::storage::{CommittedEvent, Db, StorageError};

/// Tuning of the worker.
#[derive(Debug, Clone)]
pub struct WorkerOptions {
    /// The endpoint's URL; a 410 switches off exactly this URL.
    pub url: String,
    pub retry_initial: Duration,
    pub retry_max: Duration,
    pub give_up_after: Duration,
    /// Requests in flight at once (to different visits).
    pub concurrency: usize,
}

impl WorkerOptions {
    pub fn from_settings(s: &CaseSystemSettings) -> Self {
        Self {
            url: s.url.clone().unwrap_or_default(),
            retry_initial: s.retry_initial,
            retry_max: s.retry_max,
            give_up_after: s.give_up_after,
            concurrency: DEFAULT_CONCURRENCY,
        }
    }
}

pub const DEFAULT_CONCURRENCY: usize = 16;

/// The longest `Retry-After` that is obeyed; a larger value is cut to this.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(86_400);

/// How often the worker looks at the outbox even when nothing woke it
/// (dead-letter sweep, a missed wake-up).
const IDLE_CHECK: Duration = Duration::from_secs(60);

/// The delay before attempt `attempt + 1` (the first retry is `attempt = 1`):
/// full jitter, a uniformly random part of `min(max, initial · 2^(attempt-1))`.
/// `random` is in `[0, 1)`.
pub fn backoff(attempt: u32, initial: Duration, max: Duration, random: f64) -> Duration {
    let exp = attempt.saturating_sub(1).min(40);
    let ceiling = initial
        .checked_mul(1u32 << exp.min(31))
        .unwrap_or(max)
        .min(max);
    ceiling.mul_f64(random.clamp(0.0, 1.0))
}

/// How the outcome of an attempt affects the endpoint as a whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndpointEffect {
    /// The endpoint works (2xx, or a 4xx about this one event).
    Healthy,
    /// No answer, 429 or 5xx: slow down.
    Failing,
    /// 410 Gone.
    Gone,
}

/// The decision for one attempt, and its effect on the endpoint.
pub fn decide(
    ev: &DueEvent,
    outcome: &Outcome,
    now: DateTime<Utc>,
    opts: &WorkerOptions,
    random: f64,
) -> (Decision, EndpointEffect, Option<DateTime<Utc>>) {
    let seq = ev.seq;
    let now_ms = to_ms(now);
    let (error, retry_after, effect) = match outcome {
        Outcome::Delivered { .. } => {
            return (Decision::Delivered { seq }, EndpointEffect::Healthy, None);
        }
        Outcome::Rejected {
            status: 410,
            detail,
            ..
        } => {
            return (
                Decision::Gone {
                    seq,
                    url: opts.url.clone(),
                    error: detail.clone(),
                },
                EndpointEffect::Gone,
                None,
            );
        }
        Outcome::Rejected {
            status,
            retry_after,
            detail,
        } => {
            let endpoint = *status == 429 || *status >= 500;
            (
                detail.clone(),
                *retry_after,
                if endpoint {
                    EndpointEffect::Failing
                } else {
                    EndpointEffect::Healthy
                },
            )
        }
        Outcome::Failed { error } => (error.clone(), None, EndpointEffect::Failing),
    };
    let retry_at = retry_after.map(|ra| {
        let d = match ra {
            RetryAfter::Seconds(s) => Duration::from_secs(s),
            RetryAfter::At(t) => (t - now).to_std().unwrap_or(Duration::ZERO),
        };
        now + chrono::Duration::from_std(d.min(MAX_RETRY_AFTER)).unwrap_or_default()
    });
    let give_up_ms = opts.give_up_after.as_millis() as i64;
    if now_ms - ev.pending_since >= give_up_ms {
        return (Decision::Dead { seq, error }, effect, retry_at);
    }
    let delay = backoff(ev.attempts + 1, opts.retry_initial, opts.retry_max, random);
    let at = now_ms + delay.as_millis() as i64;
    let at = retry_at.map_or(at, |r| at.max(to_ms(r)));
    (Decision::Retry { seq, at, error }, effect, retry_at)
}

/// Pushes the outbox of one database to one endpoint.
#[derive(Debug)]
pub struct Worker {
    db: Db,
    clock: Arc<dyn Clock>,
    transport: Arc<dyn OutboxTransport>,
    signer: Arc<Signer>,
    opts: WorkerOptions,
    wake: Arc<Notify>,
}

/// Whether the endpoint may be sent to, as the worker sees it.
#[derive(Debug, Default)]
struct Endpoint {
    /// Consecutive endpoint failures; above zero only one request is in flight.
    failures: u32,
    paused_until: Option<DateTime<Utc>>,
    disabled: bool,
}

type Attempt = (DueEvent, Outcome);

impl Worker {
    pub fn new(
        db: Db,
        clock: Arc<dyn Clock>,
        transport: Arc<dyn OutboxTransport>,
        signer: Arc<Signer>,
        opts: WorkerOptions,
    ) -> Self {
        let wake = super::waker(db.path());
        Self {
            db,
            clock,
            transport,
            signer,
            opts,
            wake,
        }
    }

    /// Runs until `stop` or `shutdown` turns true (or the database closes).
    /// `events` (the live event bus) wakes it when new events commit.
    pub async fn run(
        self,
        mut stop: watch::Receiver<bool>,
        mut shutdown: watch::Receiver<bool>,
        mut events: Option<broadcast::Receiver<Arc<CommittedEvent>>>,
    ) {
        let mut inflight: JoinSet<Attempt> = JoinSet::new();
        let mut inflight_seqs: HashSet<i64> = HashSet::new();
        let mut done: Vec<Attempt> = Vec::new();
        let mut endpoint = Endpoint::default();
        let mut last_sweep: Option<DateTime<Utc>> = None;
        loop {
            if *stop.borrow() || *shutdown.borrow() {
                break;
            }
            if !done.is_empty() {
                match self
                    .record(&mut done, &mut endpoint, &mut inflight_seqs)
                    .await
                {
                    Ok(()) => {}
                    Err(StorageError::Closed) => return,
                    Err(e) => {
                        tracing::warn!("case system: recording deliveries failed: {e}");
                        self.pause(Duration::from_secs(1), &mut stop, &mut shutdown)
                            .await;
                        continue;
                    }
                }
            }
            let now = self.clock.now();
            if last_sweep.is_none_or(|t| now - t >= chrono::Duration::seconds(60)) {
                last_sweep = Some(now);
                let give_up = self.opts.give_up_after.as_millis() as i64;
                let now_ms = to_ms(now);
                match self
                    .db
                    .run(move |tx| store::sweep(tx, now_ms, give_up))
                    .await
                {
                    Ok(0) => {}
                    Ok(n) => tracing::error!(
                        "case system: {n} events were not delivered within {:?} and are now dead letters",
                        self.opts.give_up_after
                    ),
                    Err(StorageError::Closed) => return,
                    Err(e) => tracing::warn!("case system: dead-letter sweep failed: {e}"),
                }
            }

            let capacity = if endpoint.failures == 0 {
                self.opts.concurrency.max(1)
            } else {
                1
            };
            let mut wake_at: Option<DateTime<Utc>> =
                Some(now + chrono::Duration::from_std(IDLE_CHECK).unwrap_or_default());
            let paused = endpoint.paused_until.filter(|p| *p > now);
            if let Some(p) = paused {
                wake_at = wake_at.min(Some(p));
            } else if inflight.len() < capacity {
                let want = capacity - inflight.len();
                let limit = want + inflight_seqs.len();
                let now_ms = to_ms(now);
                match self.db.run(move |tx| store::due(tx, now_ms, limit)).await {
                    Ok(due) => {
                        let disabled = due.disabled_url.as_deref() == Some(self.opts.url.as_str());
                        if disabled && !endpoint.disabled {
                            tracing::error!(
                                "case system: {} answered 410 Gone; delivery is off until it is switched on again (POST /api/v1/outbox/enable)",
                                self.opts.url
                            );
                        }
                        endpoint.disabled = disabled;
                        if !disabled {
                            let fresh: Vec<DueEvent> = due
                                .events
                                .into_iter()
                                .filter(|e| !inflight_seqs.contains(&e.seq))
                                .take(want)
                                .collect();
                            for ev in fresh {
                                inflight_seqs.insert(ev.seq);
                                self.spawn_send(&mut inflight, ev);
                            }
                            if let Some(n) = due.next_at {
                                let n = crate::clock::from_ms(n);
                                wake_at = wake_at.min(Some(n));
                            }
                        }
                    }
                    Err(StorageError::Closed) => return,
                    Err(e) => {
                        tracing::warn!("case system: reading the outbox failed: {e}");
                        wake_at = Some(now + chrono::Duration::seconds(1));
                    }
                }
            }

            let sleep_for = wake_at
                .map(|w| (w - self.clock.now()).to_std().unwrap_or(Duration::ZERO))
                .unwrap_or(IDLE_CHECK);
            let sleep = tokio::time::sleep(sleep_for);
            tokio::select! {
                biased;
                r = stop.changed() => if r.is_err() { break },
                r = shutdown.changed() => if r.is_err() { break },
                Some(r) = inflight.join_next(), if !inflight.is_empty() => {
                    if let Ok(a) = r {
                        done.push(a);
                    }
                    while let Some(r) = inflight.try_join_next() {
                        if let Ok(a) = r {
                            done.push(a);
                        }
                    }
                }
                _ = self.wake.notified() => {
                    // A replay or a re-enabled endpoint: look again right away.
                    endpoint.paused_until = None;
                }
                r = recv(&mut events) => {
                    if r.is_none() {
                        events = None;
                    }
                    if let Some(rx) = events.as_mut() {
                        // Several commits in a row need one look, not one each.
                        while rx.try_recv().is_ok() {}
                    }
                }
                _ = sleep => {}
            }
        }
        // Record what finished; what is still in flight is sent again next time.
        while let Some(r) = inflight.try_join_next() {
            if let Ok(a) = r {
                done.push(a);
            }
        }
        inflight.abort_all();
        if !done.is_empty() {
            let _ = self
                .record(&mut done, &mut endpoint, &mut inflight_seqs)
                .await;
        }
    }

    fn spawn_send(&self, set: &mut JoinSet<Attempt>, ev: DueEvent) {
        let transport = self.transport.clone();
        let timestamp = self.clock.now().timestamp();
        let signature = self
            .signer
            .sign(&ev.event_id, timestamp, ev.payload.as_bytes());
        let delivery = Delivery {
            id: ev.event_id.clone(),
            timestamp,
            signature,
            body: ev.payload.clone(),
        };
        set.spawn(async move {
            let outcome = transport.send(delivery).await;
            (ev, outcome)
        });
    }

    /// Decides about finished attempts and records them in one transaction.
    async fn record(
        &self,
        done: &mut Vec<Attempt>,
        endpoint: &mut Endpoint,
        inflight_seqs: &mut HashSet<i64>,
    ) -> Result<(), StorageError> {
        let now = self.clock.now();
        let mut decisions = Vec::with_capacity(done.len());
        let mut effects = Vec::with_capacity(done.len());
        for (ev, outcome) in done.iter() {
            let (d, effect, retry_at) = decide(ev, outcome, now, &self.opts, rand::random());
            match &d {
                Decision::Retry { error, .. } => {
                    tracing::debug!("case system: {} not delivered: {error}", ev.event_id)
                }
                Decision::Dead { error, .. } => tracing::error!(
                    "case system: event {} is a dead letter after {} attempts: {error}",
                    ev.event_id,
                    ev.attempts + 1
                ),
                _ => {}
            }
            decisions.push(d);
            effects.push((effect, retry_at));
        }
        let ds = decisions.clone();
        let now_ms = to_ms(now);
        self.db.run(move |tx| store::apply(tx, &ds, now_ms)).await?;
        for (ev, _) in done.drain(..) {
            inflight_seqs.remove(&ev.seq);
        }
        // One batch counts once: sixteen requests that failed together are one
        // failure of the endpoint, not sixteen.
        let healthy = effects.iter().any(|(e, _)| *e == EndpointEffect::Healthy);
        let failing = effects.iter().any(|(e, _)| *e == EndpointEffect::Failing);
        let retry_at = effects.iter().filter_map(|(_, r)| *r).max();
        if effects.iter().any(|(e, _)| *e == EndpointEffect::Gone) {
            endpoint.disabled = true;
            tracing::error!(
                "case system: {} answered 410 Gone; delivery is off until it is switched on again (POST /api/v1/outbox/enable)",
                self.opts.url
            );
        }
        if healthy {
            if endpoint.failures > 0 {
                tracing::info!("case system: the endpoint answers again");
            }
            endpoint.failures = 0;
            endpoint.paused_until = retry_at;
        } else if failing {
            endpoint.failures = endpoint.failures.saturating_add(1);
            if endpoint.failures == 1 {
                tracing::warn!("case system: the endpoint fails; backing off");
            }
            let d = backoff(
                endpoint.failures,
                self.opts.retry_initial,
                self.opts.retry_max,
                rand::random(),
            );
            let pause = now + chrono::Duration::from_std(d).unwrap_or_default();
            endpoint.paused_until = Some(retry_at.map_or(pause, |r| r.max(pause)));
        }
        Ok(())
    }

    async fn pause(
        &self,
        d: Duration,
        stop: &mut watch::Receiver<bool>,
        shutdown: &mut watch::Receiver<bool>,
    ) {
        tokio::select! {
            _ = tokio::time::sleep(d) => {}
            _ = stop.wait_for(|s| *s) => {}
            _ = shutdown.wait_for(|s| *s) => {}
        }
    }
}

/// The next bus message, `Some(())` also when lagging; `None` when the bus is gone
/// (then this never completes again).
async fn recv(events: &mut Option<broadcast::Receiver<Arc<CommittedEvent>>>) -> Option<()> {
    match events {
        None => std::future::pending().await,
        Some(rx) => match rx.recv().await {
            Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => Some(()),
            Err(broadcast::error::RecvError::Closed) => None,
        },
    }
}
