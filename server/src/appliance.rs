//! One running appliance: database, queue, event bus and HTTP server, started
//! together and stopped together (in-flight requests finish, streams end, the
//! database is checkpointed and closed).

use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::clock::Clock;
use crate::config::Settings;
use crate::events::EventBus;
use crate::http::{self, AppState};
use crate::printing::PrintService;
use crate::queue::{Queue, QueueError};
use crate::storage::{Db, StorageError};

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("cannot create the data directory {path}: {source}")]
    DataDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error(transparent)]
    Queue(#[from] QueueError),
    #[error("stored admin settings: {0}")]
    Settings(#[from] crate::settings_store::SettingsError),
    #[error("GPIO: {0}")]
    Gpio(lotse_firmware::gpio::GpioError),
    #[error("cannot set up ticket printing: {0}")]
    Printer(String),
    #[error("HTTP server failed: {0}")]
    Serve(std::io::Error),
    #[error("cannot set up the demo accounts: {0}")]
    Auth(#[from] crate::auth::AuthError),
}

/// The password of the demo accounts `desk` and `admin`.
#[derive(Debug, Clone)]
pub enum DemoPassword {
    /// Taken from `LOTSE_DEMO_PASSWORD`; not printed.
    FromEnv,
    /// Generated at this start; printed next to the URLs.
    Generated(String),
}

/// A started appliance, not yet serving.
#[derive(Debug)]
pub struct Appliance {
    pub state: AppState,
    /// Set in demo mode.
    pub demo_password: Option<DemoPassword>,
    shutdown: watch::Sender<bool>,
    /// Scanner devices feeding the scan hub and the desks' inboxes; stopped at shutdown.
    scanners: Vec<lotse_firmware::scanner::SourceHandle>,
}

/// The database file inside a data directory.
pub fn db_path(data_dir: &Path) -> PathBuf {
    data_dir.join("lotse.db")
}

impl Appliance {
    pub async fn start(
        mut settings: Settings,
        data_dir: &Path,
        clock: Arc<dyn Clock>,
    ) -> Result<Appliance, StartError> {
        std::fs::create_dir_all(data_dir).map_err(|source| StartError::DataDir {
            path: data_dir.to_path_buf(),
            source,
        })?;
        let bus = EventBus::new();
        let publisher = bus.clone();
        let db = Db::open(&db_path(data_dir), clock.clone(), move |events| {
            publisher.publish(events)
        })?;
        crate::settings_store::apply_at_start(&db, &mut settings).await?;
        let queue = Queue::new(db, settings.queue.clone());
        queue.sync_site(&settings).await?;
        queue.prune_events().await?;
        crate::outbox::init(queue.db(), &settings).await?;
        let settings = Arc::new(settings);
        let printer = match crate::printing::open_printer(&settings, data_dir) {
            None => PrintService::disabled(),
            Some(p) => PrintService::start(p, queue.clone(), settings.clone())
                .map_err(|e| StartError::Printer(e.to_string()))?,
        };
        let (shutdown, shutdown_rx) = watch::channel(false);
        let announcer = crate::announce::Announcer::new(
            settings.announcements.enabled,
            settings.announcements.espeak.clone(),
            data_dir.join("announcements"),
        );
        let gpio = lotse_firmware::gpio::start(&settings.gpio).map_err(StartError::Gpio)?;
        let scans = crate::scanning::hub::ScanHub::new(settings.scanning.clone(), clock.clone());
        let desk_scans = crate::scanning::desk::DeskScans::new(
            scans.clone(),
            queue.clone(),
            clock.clone(),
            settings.scanning.hold,
        );
        let feed_token = settings
            .case_system
            .as_ref()
            .and_then(|c| c.feed_token.as_ref())
            .map(|t| t.expose());
        let auth = crate::auth::Auth::new(queue.db().clone(), clock.clone(), feed_token);
        let demo_password = if settings.demo {
            let (password, shown) = match std::env::var("LOTSE_DEMO_PASSWORD") {
                Ok(p) if !p.is_empty() => (p, DemoPassword::FromEnv),
                _ => {
                    let p = crate::auth::random_secret()[..16].to_string();
                    (p.clone(), DemoPassword::Generated(p))
                }
            };
            auth.ensure_demo_accounts(&password).await?;
            Some(shown)
        } else {
            None
        };
        let state = AppState {
            auth,
            scans,
            desk_scans,
            outputs: gpio.outputs,
            gpio_sim: gpio.sim.filter(|_| settings.demo),
            announcer,
            printer,
            queue,
            bus,
            clock,
            settings,
            shutdown: shutdown_rx,
            started: Instant::now(),
        };
        crate::hardware::spawn(state.clone(), gpio.events);
        let mut scanners = crate::scanning::devices::start(&state.settings.scanning, &state.scans);
        scanners.extend(crate::scanning::desk::start(
            &state.settings.scanning.inboxes,
            &state.desk_scans,
        ));
        Ok(Appliance {
            state,
            shutdown,
            demo_password,
            scanners,
        })
    }

    /// Serves until `signal` completes, then shuts down gracefully.
    pub async fn serve(
        self,
        listener: TcpListener,
        signal: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), StartError> {
        let Appliance {
            state,
            shutdown,
            scanners,
            ..
        } = self;
        let maintenance = tokio::spawn(maintenance(state.clone()));
        let expiry = tokio::spawn(crate::scanning::desk::expire(state.desk_scans.clone()));
        let purge = crate::retention::spawn(
            state.queue.db().clone(),
            state.settings.retention,
            crate::retention::Delivery::of(&state.settings),
            state.shutdown.clone(),
        );
        if let Some(n) = crate::watchdog::Notifier::from_env() {
            if let Err(e) = n.notify("READY=1") {
                tracing::warn!("cannot notify systemd: {e}");
            }
            if let Some(every) = crate::watchdog::interval_from_env() {
                tokio::spawn(crate::watchdog::feed(n, state.queue.db().clone(), every));
            }
        }
        let outbox = crate::outbox::start(
            state.queue.db().clone(),
            state.clock.clone(),
            &state.settings,
            &state.bus,
            state.shutdown.clone(),
        );
        let router = http::app(state.clone());
        let graceful = async move {
            signal.await;
            tracing::info!("shutting down");
            // Ends the SSE streams, which would otherwise keep the server open.
            let _ = shutdown.send(true);
        };
        // The peer address feeds the login rate limit.
        let served = axum::serve(
            listener,
            router.into_make_service_with_connect_info::<std::net::SocketAddr>(),
        )
        .with_graceful_shutdown(graceful)
        .await;
        maintenance.abort();
        expiry.abort();
        purge.abort();
        let _ = purge.await;
        outbox.stop().await;
        // Stopping joins the device threads (up to ~200 ms each): off the runtime.
        let _ = tokio::task::spawn_blocking(move || {
            for h in scanners {
                h.stop();
            }
        })
        .await;
        state.queue.db().close().await;
        tracing::info!("database closed");
        served.map_err(StartError::Serve)
    }
}

/// Hourly housekeeping: trims the event log.
async fn maintenance(state: AppState) {
    let mut tick = tokio::time::interval(Duration::from_secs(3600));
    tick.tick().await;
    loop {
        tick.tick().await;
        if let Err(e) = state.queue.prune_events().await {
            tracing::warn!("pruning the event log failed: {e}");
        }
    }
}

/// Completes on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}
