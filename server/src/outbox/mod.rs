//! Forwarding every visit to the municipality's case-management system.
//!
//! The transactional outbox: each visit change writes its outgoing event into the
//! `outbox` table inside the same SQLite transaction as the change itself
//! ([`record`], called from `queue::store`), so an event exists exactly when its
//! change committed. A [`worker::Worker`] pushes the events to the configured endpoint
//! as [Standard Webhooks](https://www.standardwebhooks.com/) (signed, retried with
//! backoff, in order per visit); `GET /api/v1/feed` lets the case system pull them
//! instead. The kiosk never waits for the case system: the worker reads and marks
//! rows through `Db::run` and sends outside the database thread.
//!
//! - [`event`]: the versioned JSON of an event (documented in `docs/case-system-api.md`);
//! - [`store`]: the SQL of the outbox (due rows, marking, feed, dead letters, stats);
//! - [`sign`]: Standard Webhooks signatures (HMAC-SHA256 `v1`, Ed25519 `v1a`);
//! - [`transport`]: the [`transport::OutboxTransport`] trait and its reqwest implementation;
//! - [`worker`]: delivery with backoff, ordering per visit, dead letters, 410 handling;
//! - [`settings`]: the `[case_system]` configuration section;
//! - [`bench`]: how fast a backlog drains (`lotse bench`).

pub mod bench;
pub mod event;
pub mod settings;
pub mod sign;
pub mod store;
pub mod transport;
pub mod worker;

#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, LazyLock, Mutex};
use std::time::Duration;

use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;

use crate::clock::Clock;
use crate::config::Settings;
use crate::events::EventBus;
use crate::storage::{Db, StorageError};

pub use event::record;
pub use settings::CaseSystemSettings;

#[derive(Debug, thiserror::Error)]
pub enum OutboxError {
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error("the case-system HTTP client cannot be built: {0}")]
    Client(String),
    #[error("{0}")]
    Invalid(String),
}

/// Wakes the delivery worker of a database (after a replay or re-enabling the
/// endpoint), keyed by the database file so several appliances in one process
/// (tests) do not wake each other.
pub fn waker(db_path: &Path) -> Arc<Notify> {
    static WAKERS: LazyLock<Mutex<HashMap<PathBuf, Arc<Notify>>>> =
        LazyLock::new(|| Mutex::new(HashMap::new()));
    let mut map = WAKERS.lock().unwrap_or_else(|e| e.into_inner());
    map.entry(db_path.to_path_buf())
        .or_insert_with(|| Arc::new(Notify::new()))
        .clone()
}

/// Writes the site and device ids that every event carries; called at start,
/// before the first ticket can change.
pub async fn init(db: &Db, settings: &Settings) -> Result<(), StorageError> {
    let site = settings.site_id.clone();
    let device = settings.device_id.clone();
    db.run(move |tx| store::set_identity(tx, &site, &device))
        .await
}

/// The running delivery worker and the hourly trimming of the outbox.
#[derive(Debug)]
pub struct OutboxHandle {
    stop: watch::Sender<bool>,
    task: Option<JoinHandle<()>>,
}

/// How long delivered (and, with a feed, acknowledged) events are kept.
pub const RETENTION: Duration = Duration::from_secs(30 * 86_400);

/// Starts pushing to the configured endpoint (when there is one) and the hourly
/// trimming of old events. `shutdown` is the appliance's stop signal.
pub fn start(
    db: Db,
    clock: Arc<dyn Clock>,
    settings: &Settings,
    bus: &EventBus,
    shutdown: watch::Receiver<bool>,
) -> OutboxHandle {
    start_with(db, clock, settings.case_system.clone(), bus, shutdown)
}

/// [`start`] with the case-system settings given directly.
pub fn start_with(
    db: Db,
    clock: Arc<dyn Clock>,
    cs: Option<CaseSystemSettings>,
    bus: &EventBus,
    shutdown: watch::Receiver<bool>,
) -> OutboxHandle {
    let (stop, stop_rx) = watch::channel(false);
    let worker = match cs.as_ref().filter(|c| c.url.is_some()) {
        None => None,
        Some(c) => match transport::HttpTransport::new(c) {
            Ok(t) => Some(worker::Worker::new(
                db.clone(),
                clock.clone(),
                Arc::new(t),
                Arc::new(sign::Signer::new(c)),
                worker::WorkerOptions::from_settings(c),
            )),
            Err(e) => {
                tracing::error!("case system: {e}; events are kept but not pushed");
                None
            }
        },
    };
    if let Some(key) = cs.as_ref().and_then(|c| c.signing_key.as_ref()) {
        tracing::info!(
            "case system: Ed25519 public key for v1a signatures: {}",
            sign::public_key(key)
        );
    }
    // Only a worker listens to the bus (to wake when events commit).
    let events = worker.as_ref().map(|_| bus.subscribe());
    let push_configured = worker.is_some();
    let feed_configured = cs.as_ref().is_some_and(|c| c.feed_token.is_some());
    let task = tokio::spawn(async move {
        let trim = tokio::spawn(trim_loop(db, clock, push_configured, feed_configured));
        match worker {
            Some(w) => w.run(stop_rx, shutdown, events).await,
            None => {
                let (mut a, mut b) = (stop_rx, shutdown);
                tokio::select! {
                    _ = a.wait_for(|s| *s) => {},
                    _ = b.wait_for(|s| *s) => {},
                }
            }
        }
        trim.abort();
    });
    OutboxHandle {
        stop,
        task: Some(task),
    }
}

impl OutboxHandle {
    /// Stops the worker: requests in flight are abandoned (they are sent again
    /// after the next start; the receiver deduplicates by `webhook-id`).
    pub async fn stop(mut self) {
        let _ = self.stop.send(true);
        if let Some(mut t) = self.task.take()
            && tokio::time::timeout(Duration::from_secs(5), &mut t)
                .await
                .is_err()
        {
            t.abort();
        }
    }
}

/// The case-system settings in effect and the worker that follows them: the admin
/// screen changes them while the appliance runs, so whoever needs them (the worker,
/// `/healthz`, `/metrics`, the retention purge) asks here, not the configuration.
#[derive(Clone, Debug)]
pub struct Live {
    /// `[case_system]` of the configuration file, under the admin's override.
    file: Option<CaseSystemSettings>,
    current: Arc<std::sync::RwLock<Option<CaseSystemSettings>>>,
    worker: Arc<tokio::sync::Mutex<Option<OutboxHandle>>>,
}

/// What a running worker needs besides its settings.
#[derive(Clone, Debug)]
pub struct WorkerEnv {
    pub db: Db,
    pub clock: Arc<dyn Clock>,
    pub bus: EventBus,
    pub shutdown: watch::Receiver<bool>,
}

impl Live {
    /// `file`: the configuration's section; `current`: in effect (override applied).
    pub fn new(file: Option<CaseSystemSettings>, current: Option<CaseSystemSettings>) -> Live {
        Live {
            file,
            current: Arc::new(std::sync::RwLock::new(current)),
            worker: Arc::default(),
        }
    }

    /// The configuration file's `[case_system]`, before the admin's override.
    pub fn file(&self) -> Option<&CaseSystemSettings> {
        self.file.as_ref()
    }

    /// The settings in effect.
    pub fn current(&self) -> Option<CaseSystemSettings> {
        self.current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Starts the worker for the settings in effect.
    pub async fn start(&self, env: &WorkerEnv) {
        let cs = self.current();
        let mut w = self.worker.lock().await;
        if let Some(old) = w.take() {
            old.stop().await;
        }
        *w = Some(start_with(
            env.db.clone(),
            env.clock.clone(),
            cs,
            &env.bus,
            env.shutdown.clone(),
        ));
    }

    /// New settings take effect at once: the running worker stops (a request in flight
    /// is sent again later; the receiver deduplicates) and one for `cs` starts.
    pub async fn replace(&self, cs: Option<CaseSystemSettings>, env: &WorkerEnv) {
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = cs;
        self.start(env).await;
        tracing::info!("case system: the changed settings apply now");
    }

    /// Stops the worker (at shutdown).
    pub async fn stop(&self) {
        if let Some(w) = self.worker.lock().await.take() {
            w.stop().await;
        }
    }
}

impl Drop for OutboxHandle {
    fn drop(&mut self) {
        if let Some(t) = self.task.take() {
            t.abort();
        }
    }
}

async fn trim_loop(db: Db, clock: Arc<dyn Clock>, push: bool, feed: bool) {
    let mut tick = tokio::time::interval(Duration::from_secs(3600));
    loop {
        tick.tick().await;
        let now = crate::clock::to_ms(clock.now());
        let keep = RETENTION.as_millis() as i64;
        match db
            .run(move |tx| store::prune(tx, now - keep, push, feed))
            .await
        {
            Ok(0) => {}
            Ok(n) => tracing::info!("case system: removed {n} old outbox events"),
            Err(StorageError::Closed) => return,
            Err(e) => tracing::warn!("case system: trimming the outbox failed: {e}"),
        }
    }
}
