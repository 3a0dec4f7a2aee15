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
    #[error("TLS: {0}")]
    Tls(#[from] crate::tls::TlsError),
    #[error("TLS is configured (server.tls_cert) but no HTTPS listener was given")]
    NoHttpsListener,
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
    /// The HTTPS certificate, when TLS is on.
    tls: Option<Arc<crate::tls::CertResolver>>,
}

/// How often the certificate files are checked for a renewal.
const CERT_RELOAD_EVERY: Duration = Duration::from_secs(30);

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
        // A certificate that cannot be used stops the start, before anything else.
        let tls = settings
            .tls
            .as_ref()
            .map(crate::tls::CertResolver::open)
            .transpose()?;
        let bus = EventBus::new();
        let publisher = bus.clone();
        let db = Db::open(&db_path(data_dir), clock.clone(), move |events| {
            publisher.publish(events)
        })?;
        let file_case_system = settings.case_system.clone();
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
            case_system: crate::outbox::Live::new(file_case_system, settings.case_system.clone()),
            limits: http::limits::Limits::new(
                settings.checkins_per_minute,
                settings.max_event_streams,
            ),
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
            tls,
        })
    }

    /// The SHA-256 fingerprint and the SPKI hash of the HTTPS certificate, for the
    /// start-up banner.
    pub fn tls_fingerprint(&self) -> Option<(String, Option<String>)> {
        self.tls.as_ref().map(|r| {
            let ck = r.current();
            (crate::tls::fingerprint(&ck), crate::tls::spki_sha256(&ck))
        })
    }

    /// Serves `http` (and `https` when TLS is on) until `signal` completes, then
    /// shuts down gracefully.
    pub async fn serve(
        self,
        http: TcpListener,
        https: Option<TcpListener>,
        signal: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), StartError> {
        let Appliance {
            state,
            shutdown,
            scanners,
            tls,
            ..
        } = self;
        let https = match (tls, https) {
            (None, _) => None,
            (Some(_), None) => return Err(StartError::NoHttpsListener),
            (Some(resolver), Some(l)) => {
                resolver.spawn_reload(CERT_RELOAD_EVERY, state.shutdown.clone());
                let cfg = crate::tls::server_config(resolver)?;
                Some((l, tokio_rustls::TlsAcceptor::from(cfg)))
            }
        };
        let maintenance = tokio::spawn(maintenance(state.clone()));
        let expiry = tokio::spawn(crate::scanning::desk::expire(state.desk_scans.clone()));
        let live = state.case_system.clone();
        let purge = crate::retention::spawn(
            state.queue.db().clone(),
            state.settings.retention,
            move || crate::retention::Delivery::of_case_system(live.current().as_ref()),
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
        state.case_system.start(&state.worker_env()).await;
        let router = http::app(state.clone());
        let graceful = async move {
            signal.await;
            tracing::info!("shutting down");
            // Ends the SSE streams, which would otherwise keep the server open.
            let _ = shutdown.send(true);
        };
        // Headers must arrive within the request timeout (no slow-header clients
        // holding connections).
        let served = http::serve::serve(
            http::serve::Listeners { http, https },
            router,
            state.settings.request_timeout,
            graceful,
        )
        .await;
        maintenance.abort();
        expiry.abort();
        purge.abort();
        let _ = purge.await;
        state.case_system.stop().await;
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
