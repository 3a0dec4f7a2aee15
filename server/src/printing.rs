//! Printing tickets without ever holding up a check-in.
//!
//! A check-in only *queues* its ticket here; a worker renders it (one layout, raster
//! and PDF) and sends it to the printer with a timeout, retries once, and otherwise
//! raises an alert so the kiosk shows the number on screen and the desk knows. A
//! poller keeps the printer's state (ready, paper near end, paper out, cover open,
//! offline) current for `/healthz`, `/metrics` and the desk.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use lotse_firmware::printer::{Printer, PrinterState};
use serde::Serialize;
use serde_json::json;
use tokio::sync::mpsc;

use crate::assets;
use crate::clock::TZ;
use crate::config::{PaperSensor, PrinterBackend, Settings};
use crate::queue::{Queue, Ticket};
use crate::tickets::{self, PaperWidth, TicketView};

/// Jobs waiting for the printer; beyond this the printer is hopelessly behind and
/// the visitor is better served by the number on screen.
const QUEUE_DEPTH: usize = 32;
const POLL_EVERY: Duration = Duration::from_secs(3);

/// What the rest of the appliance sees of the printer.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct PrinterStatus {
    /// `ready`, `paper_near_end`, `paper_out`, `cover_open`, `offline`, or `not_configured`.
    pub state: String,
    pub printed: u64,
    pub failed: u64,
    pub last_error: Option<String>,
    /// The GPIO paper sensor reports the roll running low.
    pub paper_low_sensor: bool,
}

#[derive(Debug)]
struct Shared {
    device_state: PrinterState,
    paper_low_sensor: bool,
    sensor_means: PaperSensor,
    printed: u64,
    failed: u64,
    last_error: Option<String>,
}

impl Shared {
    /// The device's own report, overruled by the GPIO paper sensor where one is wired.
    fn effective(&self) -> PrinterState {
        match (self.paper_low_sensor, self.sensor_means, self.device_state) {
            (true, PaperSensor::Out, _) => PrinterState::PaperOut,
            (true, PaperSensor::NearEnd, PrinterState::Ready) => PrinterState::PaperNearEnd,
            _ => self.device_state,
        }
    }
}

struct Job {
    ticket: Ticket,
    issued_at: DateTime<Utc>,
}

/// Handle to the print queue; cheap to clone.
#[derive(Debug, Clone)]
pub struct PrintService {
    inner: Option<Arc<Inner>>,
}

#[derive(Debug)]
struct Inner {
    jobs: mpsc::Sender<Job>,
    shared: Mutex<Shared>,
    queue: Queue,
}

impl std::fmt::Debug for Job {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Job")
            .field("ticket", &self.ticket.number)
            .finish()
    }
}

struct Worker {
    printer: Arc<dyn Printer>,
    inner: Arc<Inner>,
    settings: Arc<Settings>,
    fonts: Arc<tickets::Fonts>,
}

impl PrintService {
    /// No printer: every check-in shows its number on screen.
    pub fn disabled() -> Self {
        Self { inner: None }
    }

    /// Starts the worker and the state poller for `printer`.
    pub fn start(
        printer: Arc<dyn Printer>,
        queue: Queue,
        settings: Arc<Settings>,
    ) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        let fonts = Arc::new(assets::fonts()?);
        let (tx, rx) = mpsc::channel(QUEUE_DEPTH);
        let inner = Arc::new(Inner {
            queue: queue.clone(),
            jobs: tx,
            shared: Mutex::new(Shared {
                device_state: PrinterState::Ready,
                paper_low_sensor: false,
                sensor_means: settings.printer.paper_sensor,
                printed: 0,
                failed: 0,
                last_error: None,
            }),
        });
        let worker = Arc::new(Worker {
            printer,
            inner: inner.clone(),
            settings,
            fonts,
        });
        tokio::spawn(worker.clone().run(rx));
        tokio::spawn(worker.poll_state());
        Ok(Self { inner: Some(inner) })
    }

    /// Queues the ticket of a new check-in. Returns whether it is expected to print:
    /// `false` means the visitor must note the number (and the desk was alerted).
    pub async fn submit(&self, ticket: &Ticket, issued_at: DateTime<Utc>) -> bool {
        let Some(inner) = &self.inner else {
            return false;
        };
        let state = lock(&inner.shared).effective();
        let refused = if !state.can_print() {
            format!("Drucker: {}", state_de(state))
        } else {
            match inner.jobs.try_send(Job {
                ticket: ticket.clone(),
                issued_at,
            }) {
                Ok(()) => return true,
                Err(_) => "Druckwarteschlange voll".to_string(),
            }
        };
        lock(&inner.shared).failed += 1;
        alert(
            inner,
            "print_failed",
            "error",
            format!(
                "Ticket {} wurde nicht gedruckt ({refused}). Die Person sieht ihre Nummer am Bildschirm.",
                ticket.number
            ),
            Some(ticket),
        )
        .await;
        false
    }

    pub fn status(&self) -> PrinterStatus {
        match &self.inner {
            None => PrinterStatus {
                state: "not_configured".into(),
                printed: 0,
                failed: 0,
                last_error: None,
                paper_low_sensor: false,
            },
            Some(inner) => {
                let s = lock(&inner.shared);
                PrinterStatus {
                    state: s.effective().as_str().to_string(),
                    printed: s.printed,
                    failed: s.failed,
                    last_error: s.last_error.clone(),
                    paper_low_sensor: s.paper_low_sensor,
                }
            }
        }
    }

    /// Prometheus lines: one gauge per printer state (1 for the current one), counters.
    pub fn metrics_text(&self) -> String {
        let s = self.status();
        let mut out = String::from(
            "# HELP lotse_printer_state 1 for the printer's current state.\n# TYPE lotse_printer_state gauge\n",
        );
        for state in [
            "ready",
            "paper_near_end",
            "paper_out",
            "cover_open",
            "offline",
            "not_configured",
        ] {
            out.push_str(&format!(
                "lotse_printer_state{{state=\"{state}\"}} {}\n",
                u8::from(s.state == state)
            ));
        }
        out.push_str(&format!(
            "# HELP lotse_tickets_printed_total Tickets the printer accepted.\n# TYPE lotse_tickets_printed_total counter\nlotse_tickets_printed_total {}\n\
             # HELP lotse_tickets_not_printed_total Check-ins whose number was shown on screen instead.\n# TYPE lotse_tickets_not_printed_total counter\nlotse_tickets_not_printed_total {}\n",
            s.printed, s.failed
        ));
        out
    }

    /// The GPIO paper sensor changed.
    pub fn set_paper_low(&self, low: bool) {
        if let Some(inner) = &self.inner {
            lock(&inner.shared).paper_low_sensor = low;
        }
    }
}

fn lock(m: &Mutex<Shared>) -> std::sync::MutexGuard<'_, Shared> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// German name of a printer state for the desk.
fn state_de(s: PrinterState) -> &'static str {
    match s {
        PrinterState::Ready => "bereit",
        PrinterState::PaperNearEnd => "Papier fast leer",
        PrinterState::PaperOut => "Papier leer",
        PrinterState::CoverOpen => "Deckel offen",
        PrinterState::Offline => "nicht erreichbar",
    }
}

impl Worker {
    async fn run(self: Arc<Self>, mut rx: mpsc::Receiver<Job>) {
        while let Some(job) = rx.recv().await {
            let outcome = self.print(&job).await;
            match outcome {
                Ok(()) => lock(&self.inner.shared).printed += 1,
                Err(reason) => {
                    {
                        let mut s = lock(&self.inner.shared);
                        s.failed += 1;
                        s.last_error = Some(reason.clone());
                    }
                    tracing::warn!("ticket {} not printed: {reason}", job.ticket.number);
                    alert(
                        &self.inner,
                        "print_failed",
                        "error",
                        format!(
                            "Ticket {} wurde nicht gedruckt ({reason}). Die Person sieht ihre Nummer am Bildschirm.",
                            job.ticket.number
                        ),
                        Some(&job.ticket),
                    )
                    .await;
                }
            }
        }
    }

    /// Renders and prints one ticket; a failed attempt is retried once.
    async fn print(&self, job: &Job) -> Result<(), String> {
        let rendered = self.render(job).await?;
        let rendered = Arc::new(rendered);
        let mut last = String::new();
        for _ in 0..2 {
            let printer = self.printer.clone();
            let j = rendered.clone();
            let attempt = tokio::time::timeout(
                self.settings.printer.timeout,
                tokio::task::spawn_blocking(move || printer.print(&j)),
            )
            .await;
            match attempt {
                Ok(Ok(Ok(()))) => return Ok(()),
                Ok(Ok(Err(e))) => last = e.to_string(),
                Ok(Err(e)) => last = format!("print task failed: {e}"),
                Err(_) => {
                    last = format!(
                        "printer did not finish within {:?}",
                        self.settings.printer.timeout
                    )
                }
            }
        }
        Err(last)
    }

    async fn render(&self, job: &Job) -> Result<tickets::PrintJob, String> {
        let t = job.ticket.clone();
        let settings = self.settings.clone();
        let fonts = self.fonts.clone();
        let issued_at = job.issued_at;
        tokio::task::spawn_blocking(move || {
            let lang = t.language.as_str();
            let local = service_name(&settings, &t.service, lang);
            let de = service_name(&settings, &t.service, "de");
            let status_url = format!(
                "{}/t/{}",
                public_base(&settings),
                t.token.as_deref().unwrap_or("")
            );
            let view = TicketView {
                number: &t.number,
                service_name_local: &local,
                service_name_de: &de,
                language: lang,
                issued_at: issued_at.with_timezone(&TZ),
                people_ahead: t.position.unwrap_or(0),
                estimated_wait_minutes: t.estimated_wait_minutes.unwrap_or(0),
                status_url: &status_url,
                site_name: &settings.site_name,
                logo: None,
            };
            let paper = if settings.printer.paper_mm == 58 {
                PaperWidth::Mm58
            } else {
                PaperWidth::Mm80
            };
            let with_pdf = matches!(settings.printer.backend, PrinterBackend::Cups(_));
            tickets::print_job(
                &view,
                &assets::ticket_catalog(lang),
                &fonts,
                paper,
                with_pdf,
            )
            .map_err(|e| e.to_string())
        })
        .await
        .map_err(|e| format!("render task failed: {e}"))?
    }

    async fn poll_state(self: Arc<Self>) {
        let mut tick = tokio::time::interval(POLL_EVERY);
        let mut reported = PrinterState::Ready;
        loop {
            tick.tick().await;
            let printer = self.printer.clone();
            let state = match tokio::time::timeout(
                Duration::from_secs(5),
                tokio::task::spawn_blocking(move || printer.state()),
            )
            .await
            {
                Ok(Ok(s)) => s,
                _ => PrinterState::Offline,
            };
            let effective = {
                let mut s = lock(&self.inner.shared);
                s.device_state = state;
                s.effective()
            };
            if effective != reported {
                reported = effective;
                let level = if effective.can_print() {
                    "warn"
                } else {
                    "error"
                };
                let level = if effective == PrinterState::Ready {
                    "info"
                } else {
                    level
                };
                alert(
                    &self.inner,
                    "printer_state",
                    level,
                    format!("Ticketdrucker: {}", state_de(effective)),
                    None,
                )
                .await;
            }
        }
    }
}

/// Records an alert in the event log, so the desk sees it live and after a reload.
async fn alert(
    inner: &Arc<Inner>,
    code: &str,
    level: &str,
    message: String,
    ticket: Option<&Ticket>,
) {
    let status = PrintService {
        inner: Some(inner.clone()),
    }
    .status();
    let data = json!({
        "code": code,
        "level": level,
        "message": message,
        "ticket": ticket.map(|t| json!({"id": t.id, "number": t.number})),
        "printer": status,
    });
    // A ticket that was not printed counts as a printer fallback in the statistics.
    let fallback = (code == "print_failed").then(|| ticket.cloned()).flatten();
    let r = inner
        .queue
        .db()
        .run(move |tx| {
            if let Some(t) = &fallback {
                crate::stats::record_print_fallback(tx, t)?;
            }
            tx.record_event("alert", None, data)
        })
        .await;
    if let Err(e) = r {
        tracing::error!("cannot record a printer alert: {e}");
    }
}

/// A service's name in a language: the configured name, else the catalog's.
pub fn service_name(settings: &Settings, service: &str, lang: &str) -> String {
    settings
        .services
        .iter()
        .find(|s| s.id == service)
        .and_then(|s| s.name.get(lang).or_else(|| s.name.get("de")).cloned())
        .unwrap_or_else(|| assets::text(lang, &format!("service.{service}.name"), &[]))
}

/// Base URL that printed links point to: `public_url`, else this host on HTTPS when TLS
/// is on (plain HTTP from the LAN is only redirected there), else on HTTP.
pub fn public_base(settings: &Settings) -> String {
    if let Some(u) = &settings.public_url {
        return u.trim_end_matches('/').to_string();
    }
    let (scheme, addr) = match &settings.tls {
        Some(tls) => ("https", tls.listen),
        None => ("http", settings.listen),
    };
    if addr.ip().is_unspecified() {
        format!("{scheme}://lotse.local:{}", addr.port())
    } else {
        // SocketAddr's own form: an IPv6 host in brackets.
        format!("{scheme}://{addr}")
    }
}

/// Builds the configured printer back-end.
pub fn open_printer(settings: &Settings, data_dir: &std::path::Path) -> Option<Arc<dyn Printer>> {
    use lotse_firmware::printer::{
        cups::CupsPrinter, device::EscPosDevice, sim::SimPrinter, tcp::EscPosTcp,
    };
    Some(match &settings.printer.backend {
        PrinterBackend::None => return None,
        PrinterBackend::Sim => Arc::new(SimPrinter::new(data_dir.join("printer"))),
        PrinterBackend::EscPosDevice(p) => Arc::new(EscPosDevice::new(p.clone())),
        PrinterBackend::EscPosTcp(a) => Arc::new(EscPosTcp::new(a.clone())),
        PrinterBackend::Cups(q) => Arc::new(CupsPrinter::new(q.clone())),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::TlsSettings;

    #[test]
    fn printed_links_follow_public_url_then_tls_then_listen() {
        let mut s = Settings::demo(None).unwrap();
        s.listen = "0.0.0.0:8080".parse().unwrap();
        s.public_url = None;
        s.tls = None;
        assert_eq!(public_base(&s), "http://lotse.local:8080");
        s.listen = "[fd00::5]:8080".parse().unwrap();
        assert_eq!(public_base(&s), "http://[fd00::5]:8080");
        s.tls = Some(TlsSettings {
            cert: "c.pem".into(),
            key: "k.pem".into(),
            listen: "0.0.0.0:8443".parse().unwrap(),
        });
        assert_eq!(public_base(&s), "https://lotse.local:8443");
        s.public_url = Some("https://kim.example.de/".into());
        assert_eq!(public_base(&s), "https://kim.example.de");
    }
}
