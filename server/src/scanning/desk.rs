//! Scans at the desks: what an office scanner's inbox folder (`[[scanning.inbox]]`) finds
//! is attached to the visit currently called or served at that inbox's counter.
//!
//! - A signed **appointment code** or **visitor card** is attached at once, like the kiosk's
//!   check-in stores it (`tickets.appointment_ref`, `visitor_card`), forwarded to the case
//!   system as `visit.identified` and purged by retention like the kiosk's.
//! - An **ID document's MRZ** (typed text, or lines an OCR found in the image) is reduced to
//!   names and birth date (+ nationality if configured) by the scan hub, and held **in memory
//!   only** until the desk user confirms on the desk screen that the visitor consented; only
//!   then is it stored and forwarded. Dismissing it, or the hold time passing, drops it.
//! - **No current visit** at the counter: the desk is told, nothing is kept (an ID document's
//!   names are dropped at once), and the notice goes after the hold time.
//! - Anything else (foreign codes, expired appointments, ID scanning off) is shown as refused.
//!
//! The desk sees its counter's findings over `GET /api/v1/counters/{id}/findings` and the
//! staff-only event stream beside it. Findings are bounded per counter and expire after
//! `[scanning] hold_seconds`; staff actions on them are in the audit log (without visitor data).

use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;
use tokio::sync::{broadcast, mpsc};

use super::hub::{Identified, ScanHub, Visitor};
use super::inbox::{Found, InboxFinding};
use super::settings::DocumentKind;
use crate::clock::Clock;
use crate::queue::{Attachment, Queue, QueueError, Ticket};

/// Most findings a counter keeps; older ones give way.
pub const MAX_PER_COUNTER: usize = 16;

/// What happened to a finding.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FindingState {
    /// Attached to the current visit (appointment code, visitor card).
    Attached,
    /// An ID document waiting for the desk to confirm the visitor's consent.
    NeedsConsent,
    /// Nobody was called or served at the counter: nothing was attached.
    NoCurrentVisit,
    /// Not usable: see `message_key`.
    Refused,
}

/// The ticket a finding belongs to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FindingTicket {
    pub id: i64,
    pub number: String,
}

/// One finding as the desk sees it.
#[derive(Clone, Serialize)]
pub struct Finding {
    /// Random id for confirm and dismiss.
    pub id: String,
    pub counter: String,
    pub state: FindingState,
    /// `appointment`, `visitor_card`, `id_document` or `unknown`.
    pub kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ticket: Option<FindingTicket>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub document: Option<DocumentKind>,
    /// Only while waiting for consent: what would be stored.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub person: Option<Visitor>,
    /// Catalog key of why a finding was refused.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message_key: Option<&'static str>,
    pub at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

impl fmt::Debug for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Finding")
            .field("id", &self.id)
            .field("counter", &self.counter)
            .field("state", &self.state)
            .field("kind", &self.kind)
            .field("ticket", &self.ticket)
            .finish_non_exhaustive()
    }
}

/// Why a desk action on a finding failed.
#[derive(Debug, thiserror::Error)]
pub enum DeskScanError {
    #[error("there is no such finding at counter \"{0}\"; it was handled, dismissed or expired")]
    Unknown(String),
    #[error("this finding is not waiting for a consent")]
    NotPending,
    #[error("the visitor's consent must be confirmed (\"consent\": true)")]
    NoConsent,
    #[error(transparent)]
    Queue(#[from] QueueError),
}

struct Inner {
    hub: ScanHub,
    queue: Queue,
    clock: Arc<dyn Clock>,
    hold: Duration,
    findings: Mutex<Vec<Finding>>,
    /// The counter whose findings changed.
    changed: broadcast::Sender<String>,
}

/// Cheap to clone; one per appliance.
#[derive(Clone)]
pub struct DeskScans {
    inner: Arc<Inner>,
}

impl fmt::Debug for DeskScans {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DeskScans")
            .field("hold", &self.inner.hold)
            .finish_non_exhaustive()
    }
}

fn new_id() -> String {
    use rand::RngCore;
    let mut bytes = [0u8; 12];
    rand::rng().fill_bytes(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn kind_of(i: &Identified) -> &'static str {
    match i {
        Identified::Appointment { .. } => "appointment",
        Identified::Card { .. } => "visitor_card",
        Identified::IdDocument { .. } => "id_document",
    }
}

/// The actor of attachments the inbox makes on its own.
pub fn inbox_actor(counter: &str) -> String {
    format!("inbox:{counter}")
}

impl DeskScans {
    pub fn new(hub: ScanHub, queue: Queue, clock: Arc<dyn Clock>, hold: Duration) -> Self {
        let (changed, _) = broadcast::channel(64);
        DeskScans {
            inner: Arc::new(Inner {
                hub,
                queue,
                clock,
                hold,
                findings: Mutex::new(Vec::new()),
                changed,
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Finding>> {
        self.inner
            .findings
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Counters whose findings changed (for the desk's event stream).
    pub fn subscribe(&self) -> broadcast::Receiver<String> {
        self.inner.changed.subscribe()
    }

    /// The counter's findings, oldest first, without expired ones.
    pub fn list(&self, counter: &str) -> Vec<Finding> {
        self.prune();
        self.lock()
            .iter()
            .filter(|f| f.counter == counter)
            .cloned()
            .collect()
    }

    /// Drops expired findings and tells the desks whose list changed.
    pub fn prune(&self) {
        let now = self.inner.clock.now();
        let mut gone = Vec::new();
        self.lock().retain(|f| {
            let keep = f.expires_at > now;
            if !keep {
                gone.push(f.counter.clone());
            }
            keep
        });
        gone.dedup();
        for c in gone {
            let _ = self.inner.changed.send(c);
        }
    }

    fn push(&self, f: Finding) -> Finding {
        let counter = f.counter.clone();
        {
            let mut all = self.lock();
            while all.iter().filter(|x| x.counter == counter).count() >= MAX_PER_COUNTER {
                match all.iter().position(|x| x.counter == counter) {
                    Some(i) => all.remove(i),
                    None => break,
                };
            }
            all.push(f.clone());
        }
        let _ = self.inner.changed.send(counter);
        f
    }

    fn take(&self, counter: &str, id: &str) -> Result<Finding, DeskScanError> {
        let now = self.inner.clock.now();
        let mut all = self.lock();
        let i = all
            .iter()
            .position(|f| f.counter == counter && f.id == id && f.expires_at > now)
            .ok_or_else(|| DeskScanError::Unknown(counter.to_string()))?;
        Ok(all.remove(i))
    }

    /// Handles one finding of `counter`'s office scanner and returns what the desk is shown.
    pub async fn submit(&self, counter: &str, found: Found, text: &str) -> Finding {
        let identified = match found {
            Found::Mrz => self.inner.hub.identify_mrz(text),
            Found::Code(_) => self.inner.hub.identify(text),
        };
        let now = self.inner.clock.now();
        let hold = chrono::Duration::from_std(self.inner.hold)
            .unwrap_or_else(|_| chrono::Duration::minutes(3));
        let mut f = Finding {
            id: new_id(),
            counter: counter.to_string(),
            state: FindingState::Refused,
            kind: "unknown",
            ticket: None,
            document: None,
            person: None,
            message_key: None,
            at: now,
            expires_at: now + hold,
        };
        let identified = match identified {
            Ok(i) => i,
            Err(key) => {
                if found == Found::Mrz || super::hub::looks_like_mrz(text) {
                    f.kind = "id_document";
                }
                f.message_key = Some(key);
                return self.push(f);
            }
        };
        f.kind = kind_of(&identified);
        let current = match self.inner.queue.current_at_counter(counter).await {
            Ok(t) => t,
            Err(e) => {
                tracing::warn!("desk scan at counter {counter}: {e}");
                None
            }
        };
        let Some(ticket) = current else {
            // Nothing to attach to: the names of an ID document are dropped right here.
            f.state = FindingState::NoCurrentVisit;
            return self.push(f);
        };
        f.ticket = Some(FindingTicket {
            id: ticket.id,
            number: ticket.number.clone(),
        });
        let attachment = match identified {
            Identified::IdDocument { kind, visitor } => {
                f.state = FindingState::NeedsConsent;
                f.document = Some(kind);
                f.person = Some(visitor);
                return self.push(f);
            }
            Identified::Appointment { reference, .. } => Attachment::Appointment(reference),
            Identified::Card { card } => Attachment::Card(card),
        };
        match self
            .inner
            .queue
            .attach_by(
                ticket.id,
                counter,
                attachment,
                &inbox_actor(counter),
                "the office scanner",
            )
            .await
        {
            Ok(_) => f.state = FindingState::Attached,
            Err(QueueError::NotCurrent { .. }) => {
                f.state = FindingState::NoCurrentVisit;
                f.ticket = None;
            }
            Err(e) => {
                tracing::warn!("desk scan at counter {counter}: cannot attach: {e}");
                f.state = FindingState::Refused;
                f.message_key = Some("kiosk.qr.error.invalid");
            }
        }
        self.push(f)
    }

    /// The desk confirmed that the visitor consented: the finding's names and birth date are
    /// stored with its visit (still current at the counter) and forwarded.
    pub async fn confirm(
        &self,
        counter: &str,
        id: &str,
        consent: bool,
        actor: &str,
    ) -> Result<Ticket, DeskScanError> {
        if !consent {
            return Err(DeskScanError::NoConsent);
        }
        {
            let all = self.lock();
            let f = all
                .iter()
                .find(|f| f.counter == counter && f.id == id)
                .ok_or_else(|| DeskScanError::Unknown(counter.to_string()))?;
            if f.state != FindingState::NeedsConsent {
                return Err(DeskScanError::NotPending);
            }
        }
        // Taken out first: whatever happens next, the names are not held any longer.
        let f = self.take(counter, id)?;
        let _ = self.inner.changed.send(counter.to_string());
        let (Some(ticket), Some(person)) = (f.ticket, f.person) else {
            return Err(DeskScanError::NotPending);
        };
        let (t, _) = self
            .inner
            .queue
            .attach_by(
                ticket.id,
                counter,
                Attachment::Person(person),
                actor,
                "the office scanner",
            )
            .await?;
        Ok(t)
    }

    /// Drops a finding; audited when it held a visitor's data.
    pub async fn dismiss(&self, counter: &str, id: &str, actor: &str) -> Result<(), DeskScanError> {
        let f = self.take(counter, id)?;
        let _ = self.inner.changed.send(counter.to_string());
        if f.state == FindingState::NeedsConsent {
            let target = f
                .ticket
                .as_ref()
                .map(|t| crate::audit::ticket_target(&t.number, t.id))
                .unwrap_or_default();
            let actor = actor.to_string();
            let detail = format!(
                "ID document from the office scanner at counter {counter} dismissed without storing"
            );
            self.inner
                .queue
                .db()
                .run(move |tx| crate::audit::record(tx, &actor, "scan.dismissed", &target, &detail))
                .await
                .map_err(QueueError::from)?;
        }
        Ok(())
    }
}

/// Hands every finding of `counter`'s inbox to `desk` until the inbox stops.
pub async fn forward(mut rx: mpsc::Receiver<InboxFinding>, desk: DeskScans, counter: String) {
    while let Some(f) = rx.recv().await {
        let r = desk.submit(&counter, f.found, &f.text).await;
        tracing::info!(
            file = %f.file_name,
            "office scan at counter {counter}: {} {:?}",
            r.kind,
            r.state
        );
    }
}

/// Drops expired findings every few seconds, so the desks' lists empty themselves.
pub async fn expire(desk: DeskScans) {
    let mut tick = tokio::time::interval(Duration::from_secs(2));
    loop {
        tick.tick().await;
        desk.prune();
    }
}

/// OCR for the office scanner's pages, in any orientation; reads nothing while ID scanning
/// is off (see [`ScanHub::read_mrz`]).
fn mrz_reader(hub: ScanHub) -> super::inbox::MrzReader {
    Arc::new(move |luma: &[u8], width: u32, height: u32| {
        hub.read_mrz(luma, width, height, true)
            .into_iter()
            .collect()
    })
}

/// Starts an inbox thread per `[[scanning.inbox]]` and the tasks that attach their findings.
pub fn start(
    inboxes: &[super::settings::InboxConfig],
    desk: &DeskScans,
) -> Vec<lotse_firmware::scanner::SourceHandle> {
    let decoder = Arc::new(super::decode::Decoder::default());
    inboxes
        .iter()
        .map(|cfg| {
            let (tx, rx) = mpsc::channel(8);
            tokio::spawn(forward(rx, desk.clone(), cfg.counter.clone()));
            let inbox = super::inbox::Inbox::new(
                super::inbox::InboxSettings {
                    dir: cfg.dir.clone(),
                    poll_interval: Duration::from_secs(1),
                },
                decoder.clone(),
            )
            .with_mrz_reader(mrz_reader(desk.inner.hub.clone()));
            super::inbox::spawn(inbox, tx)
        })
        .collect()
}

#[cfg(test)]
mod tests;
