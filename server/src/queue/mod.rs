//! The queue of the integration centre: services, counters and tickets.
//!
//! Rules live here as plain functions over plain types ([`rules`]); [`store`] applies
//! them to SQLite inside one transaction per change; [`Queue`] is the async facade the
//! HTTP layer and the hardware call.
//!
//! Invariants:
//! - a ticket number (`A-001`) is issued at most once per Berlin day and prefix;
//! - every status change writes its event in the same transaction;
//! - call-next hands a waiting ticket to exactly one counter.

pub mod rules;
pub mod store;

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::audit;
use crate::config::{QueueSettings, Settings};
use crate::storage::{Db, StorageError};
pub use rules::{Action, Status};

#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    #[error("there is no service \"{0}\"")]
    UnknownService(String),
    #[error("there is no counter \"{0}\"")]
    UnknownCounter(String),
    #[error("there is no ticket {0}")]
    UnknownTicket(i64),
    #[error("ticket {number} is {from} and cannot be {verb}")]
    IllegalTransition {
        number: String,
        from: Status,
        verb: &'static str,
    },
    #[error("counter \"{0}\" is paused")]
    CounterPaused(String),
    #[error("ticket {0} already has service \"{1}\"")]
    SameService(String, String),
    #[error("\"{0}\" is not a supported language code")]
    UnknownLanguage(String),
    #[error("ticket {number} is no longer the current visit at counter \"{counter}\"")]
    NotCurrent { number: String, counter: String },
    #[error(transparent)]
    Storage(#[from] StorageError),
}

pub type Result<T> = std::result::Result<T, QueueError>;

/// Languages the kiosk offers; a check-in in any other is refused.
pub const LANGUAGES: &[&str] = &["de", "en", "uk", "ru", "ar", "fa", "tr", "ro", "bg"];

/// A ticket as the API shows it. Carries no personal data.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, ToSchema)]
pub struct Ticket {
    pub id: i64,
    /// Daily number per service, e.g. `A-001`.
    pub number: String,
    pub service: String,
    pub status: Status,
    pub language: String,
    /// Booked appointment (gets a head start) rather than a walk-in.
    pub appointment: bool,
    /// People ahead in this service; only while waiting.
    pub position: Option<u32>,
    pub estimated_wait_minutes: Option<u32>,
    pub arrived_at: chrono::DateTime<chrono::Utc>,
    pub called_at: Option<chrono::DateTime<chrono::Utc>>,
    pub started_at: Option<chrono::DateTime<chrono::Utc>>,
    pub finished_at: Option<chrono::DateTime<chrono::Utc>>,
    pub counter: Option<String>,
    pub room: Option<String>,
    pub call_count: u32,
    pub transferred_from: Option<i64>,
    /// Token of the public status page `/t/{token}`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    /// Only in a check-in's answer: `true` the ticket is printing, `false` the
    /// visitor must note the number (the desk was alerted), `null` unknown.
    #[serde(default)]
    pub printed: Option<bool>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, ToSchema)]
pub struct Service {
    pub id: String,
    pub prefix: String,
    /// Names by language code; the kiosk falls back to its catalogs.
    pub name: BTreeMap<String, String>,
    pub icon: String,
    pub waiting: u32,
    pub estimated_wait_minutes: u32,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, ToSchema)]
pub struct Counter {
    pub id: String,
    pub name: String,
    pub room: String,
    pub services: Vec<String>,
    pub paused: bool,
    pub current_ticket: Option<Ticket>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, ToSchema)]
pub struct QueueView {
    /// Berlin calendar day, `YYYY-MM-DD`.
    pub day: String,
    /// Open tickets of the day (waiting, called, serving), waiting ones in call order.
    pub tickets: Vec<Ticket>,
    pub waiting: BTreeMap<String, u32>,
}

/// What a check-in asks for.
#[derive(Debug, Clone, Default)]
pub struct CheckinRequest {
    pub service: String,
    pub language: String,
    pub appointment: bool,
    pub idempotency_key: Option<String>,
    pub identification: Identification,
}

/// How the visitor identified at the kiosk: decides `tickets.identification` and what
/// is forwarded to the case system.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Identification {
    /// From a signed appointment code (QR).
    pub appointment_ref: Option<String>,
    /// From a signed visitor card (QR).
    pub visitor_card: Option<String>,
    /// A valid ID document was scanned.
    pub id_document: bool,
    /// Names and birth date from it: only when the visitor consented on screen.
    pub visitor: Option<crate::scanning::hub::Visitor>,
}

impl Identification {
    /// The `tickets.identification` value.
    pub fn method(&self) -> &'static str {
        if self.id_document {
            "id_document"
        } else if self.appointment_ref.is_some() || self.visitor_card.is_some() {
            "qr"
        } else {
            "none"
        }
    }
}

/// What a scan at a desk adds to the visit at that counter.
#[derive(Clone, PartialEq, Eq)]
pub enum Attachment {
    /// The reference of a signed appointment code.
    Appointment(String),
    /// The id of a signed visitor card.
    Card(String),
    /// Names and birth date from an ID document, after the desk confirmed the consent.
    Person(crate::scanning::hub::Visitor),
}

impl Attachment {
    /// What is attached, for the audit log (no visitor data).
    pub fn describe(&self) -> &'static str {
        match self {
            Attachment::Appointment(_) => "appointment code",
            Attachment::Card(_) => "visitor card",
            Attachment::Person(_) => "name and birth date from an ID document (consent confirmed)",
        }
    }
}

/// The reference or card is personal data: not in logs.
impl std::fmt::Debug for Attachment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.describe())
    }
}

/// The queue engine: cheap to clone.
#[derive(Debug, Clone)]
pub struct Queue {
    db: Db,
    settings: Arc<QueueSettings>,
}

impl Queue {
    pub fn new(db: Db, settings: QueueSettings) -> Self {
        Self {
            db,
            settings: Arc::new(settings),
        }
    }

    pub fn db(&self) -> &Db {
        &self.db
    }

    /// Makes the database's services and counters match the configuration.
    pub async fn sync_site(&self, settings: &Settings) -> Result<()> {
        let services = settings.services.clone();
        let counters = settings.counters.clone();
        self.db
            .run(move |tx| store::sync_site(tx, &services, &counters))
            .await
    }

    /// Issues a ticket. Returns it and whether it was new (false when the same
    /// idempotency key was used before: a double tap).
    /// The ticket an earlier check-in with this `Idempotency-Key` issued, if any.
    pub async fn by_idempotency_key(&self, key: &str) -> Result<Option<Ticket>> {
        let s = self.settings.clone();
        let key = key.to_string();
        self.db
            .run(move |tx| store::by_idempotency_key(tx, &s, &key))
            .await
    }

    pub async fn check_in(&self, req: CheckinRequest) -> Result<(Ticket, bool)> {
        let s = self.settings.clone();
        self.db.run(move |tx| store::check_in(tx, &s, &req)).await
    }

    pub async fn call_next(&self, counter: &str) -> Result<Option<Ticket>> {
        self.call_next_by(counter, audit::SYSTEM).await
    }

    /// Calls the next visitor to `counter`; `actor` goes into the audit log with it.
    pub async fn call_next_by(&self, counter: &str, actor: &str) -> Result<Option<Ticket>> {
        let s = self.settings.clone();
        let counter = counter.to_string();
        let actor = actor.to_string();
        self.db
            .run(move |tx| {
                let t = store::call_next(tx, &s, &counter)?;
                if let Some(t) = &t {
                    audit::record(
                        tx,
                        &actor,
                        Action::Call.event(),
                        &audit::ticket_target(&t.number, t.id),
                        &format!("counter {counter}"),
                    )?;
                }
                Ok(t)
            })
            .await
    }

    pub async fn act(&self, ticket: i64, action: Action) -> Result<Ticket> {
        self.act_by(ticket, action, audit::SYSTEM).await
    }

    /// A desk action on a ticket, recorded in the audit log as done by `actor`.
    pub async fn act_by(&self, ticket: i64, action: Action, actor: &str) -> Result<Ticket> {
        let s = self.settings.clone();
        let actor = actor.to_string();
        self.db
            .run(move |tx| {
                let t = store::act(tx, &s, ticket, action)?;
                let detail = t
                    .counter
                    .as_ref()
                    .map(|c| format!("counter {c}"))
                    .unwrap_or_default();
                audit::record(
                    tx,
                    &actor,
                    action.event(),
                    &audit::ticket_target(&t.number, t.id),
                    &detail,
                )?;
                Ok(t)
            })
            .await
    }

    pub async fn transfer(&self, ticket: i64, service: &str) -> Result<Ticket> {
        self.transfer_by(ticket, service, audit::SYSTEM).await
    }

    /// Moves a visit to another service, recorded in the audit log as done by `actor`.
    pub async fn transfer_by(&self, ticket: i64, service: &str, actor: &str) -> Result<Ticket> {
        let s = self.settings.clone();
        let service = service.to_string();
        let actor = actor.to_string();
        self.db
            .run(move |tx| {
                let t = store::transfer(tx, &s, ticket, &service)?;
                audit::record(
                    tx,
                    &actor,
                    Action::Transfer.event(),
                    &audit::ticket_target(&t.number, ticket),
                    &format!("to service {service} as #{}", t.id),
                )?;
                Ok(t)
            })
            .await
    }

    /// The visit `counter` is working on (called or serving there), if any.
    pub async fn current_at_counter(&self, counter: &str) -> Result<Option<Ticket>> {
        let counter = counter.to_string();
        self.db
            .run(move |tx| store::current_at_counter(tx, &counter))
            .await
    }

    /// Attaches a desk scan's finding to `ticket`, still current at `counter`; audited as
    /// `ticket.identified` by `actor` when it changed something (`source` says from where).
    pub async fn attach_by(
        &self,
        ticket: i64,
        counter: &str,
        what: Attachment,
        actor: &str,
        source: &str,
    ) -> Result<(Ticket, bool)> {
        let counter = counter.to_string();
        let actor = actor.to_string();
        let source = source.to_string();
        self.db
            .run(move |tx| {
                let (t, changed) = store::attach(tx, ticket, &counter, &what)?;
                if changed {
                    audit::record(
                        tx,
                        &actor,
                        "ticket.identified",
                        &audit::ticket_target(&t.number, t.id),
                        &format!("{} from {source}, counter {counter}", what.describe()),
                    )?;
                }
                Ok((t, changed))
            })
            .await
    }

    pub async fn set_paused(&self, counter: &str, paused: bool) -> Result<Counter> {
        self.set_paused_by(counter, paused, audit::SYSTEM).await
    }

    /// Pauses or resumes a counter, recorded in the audit log as done by `actor`.
    pub async fn set_paused_by(&self, counter: &str, paused: bool, actor: &str) -> Result<Counter> {
        let s = self.settings.clone();
        let counter = counter.to_string();
        let actor = actor.to_string();
        self.db
            .run(move |tx| {
                let c = store::set_paused(tx, &s, &counter, paused)?;
                let action = if paused {
                    "counter.paused"
                } else {
                    "counter.resumed"
                };
                audit::record(tx, &actor, action, &format!("counter {counter}"), "")?;
                Ok(c)
            })
            .await
    }

    pub async fn services(&self) -> Result<Vec<Service>> {
        let s = self.settings.clone();
        self.db.run(move |tx| store::services(tx, &s)).await
    }

    pub async fn counters(&self) -> Result<Vec<Counter>> {
        let s = self.settings.clone();
        self.db.run(move |tx| store::counters(tx, &s)).await
    }

    pub async fn view(&self) -> Result<QueueView> {
        let s = self.settings.clone();
        self.db.run(move |tx| store::view(tx, &s)).await
    }

    pub async fn ticket(&self, id: i64) -> Result<Ticket> {
        let s = self.settings.clone();
        self.db.run(move |tx| store::ticket(tx, &s, id)).await
    }

    pub async fn ticket_by_token(&self, token: &str) -> Result<Option<Ticket>> {
        let s = self.settings.clone();
        let token = token.to_string();
        self.db
            .run(move |tx| store::ticket_by_token(tx, &s, &token))
            .await
    }

    /// Drops event-log rows older than the retention; SSE replay reaches back this far.
    pub async fn prune_events(&self) -> Result<usize> {
        let keep = self.settings.event_retention;
        self.db.run(move |tx| store::prune_events(tx, keep)).await
    }
}

#[cfg(test)]
mod tests;
