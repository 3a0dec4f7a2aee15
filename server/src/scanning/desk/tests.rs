//! Desk scans against a real SQLite file: what is attached at once, what waits for consent,
//! what is dropped, and what reaches the outbox and the audit log.

use std::sync::Arc;

use chrono::{DateTime, Utc};

use super::*;
use crate::clock::ManualClock;
use crate::config::Settings;
use crate::queue::CheckinRequest;
use crate::scanning::decode::Format;
use crate::scanning::payload::{Appointment, sign};
use crate::scanning::settings::ScanSettings;
use crate::storage::Db;

const TD1: &str = "I<UTOD231458907<<<<<<<<<<<<<<<\n\
                   7408122F1204159UTO<<<<<<<<<<<6\n\
                   ERIKSSON<<ANNA<MARIA<<<<<<<<<<";
const CODE: Found = Found::Code(Format::QrCode);

struct Fixture {
    desk: DeskScans,
    queue: Queue,
    clock: Arc<ManualClock>,
    key: ed25519_dalek::SigningKey,
    _dir: tempfile::TempDir,
}

async fn fixture(id_documents: &[DocumentKind]) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let start: DateTime<Utc> = "2026-11-23T09:00:00+01:00".parse().unwrap();
    let clock = Arc::new(ManualClock::new(start));
    let settings = Settings::demo(None).unwrap();
    let db = Db::open(&dir.path().join("lotse.db"), clock.clone(), |_| {}).unwrap();
    let queue = Queue::new(db, settings.queue.clone());
    queue.sync_site(&settings).await.unwrap();
    let key = ed25519_dalek::SigningKey::from_bytes(&[7; 32]);
    let mut s = ScanSettings::default();
    s.trusted_keys.add("k", key.verifying_key());
    s.id_documents = id_documents.iter().copied().collect();
    let hub = ScanHub::new(s, clock.clone());
    let desk = DeskScans::new(hub, queue.clone(), clock.clone(), Duration::from_secs(180));
    Fixture {
        desk,
        queue,
        clock,
        key,
        _dir: dir,
    }
}

impl Fixture {
    fn code(&self, reference: &str) -> String {
        let claims = Appointment {
            reference: reference.into(),
            service: "general".into(),
            day: "2026-11-23".parse().unwrap(),
            exp: 1_795_474_800,
            kid: Some("k".into()),
        };
        sign("LOTSE1", &claims, &self.key).unwrap()
    }

    /// A walk-in called to `counter`.
    async fn called(&self, counter: &str) -> Ticket {
        self.queue
            .check_in(CheckinRequest {
                service: "general".into(),
                language: "uk".into(),
                ..CheckinRequest::default()
            })
            .await
            .unwrap();
        self.queue.call_next(counter).await.unwrap().unwrap()
    }

    async fn query(&self, sql: &'static str, id: i64) -> Option<String> {
        self.queue
            .db()
            .run(move |tx| -> crate::storage::Result<Option<String>> {
                use rusqlite::OptionalExtension;
                Ok(tx
                    .conn
                    .query_row(sql, [id], |r| r.get(0))
                    .optional()?
                    .flatten())
            })
            .await
            .unwrap()
    }

    async fn events(&self, ty: &'static str) -> Vec<serde_json::Value> {
        self.queue
            .db()
            .run(
                move |tx| -> crate::storage::Result<Vec<serde_json::Value>> {
                    let mut stmt = tx
                        .conn
                        .prepare("SELECT payload FROM outbox WHERE type = ?1 ORDER BY seq")?;
                    let rows = stmt.query_map([ty], |r| r.get::<_, String>(0))?;
                    Ok(rows
                        .map(|r| serde_json::from_str(&r.unwrap()).unwrap())
                        .collect())
                },
            )
            .await
            .unwrap()
    }

    async fn audit(&self) -> Vec<(String, String, String)> {
        self.queue
            .db()
            .run(
                |tx| -> crate::storage::Result<Vec<(String, String, String)>> {
                    let mut stmt = tx
                        .conn
                        .prepare("SELECT actor, action, detail FROM audit_log ORDER BY id")?;
                    let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
                    Ok(rows.map(|r| r.unwrap()).collect())
                },
            )
            .await
            .unwrap()
    }
}

#[tokio::test]
async fn an_appointment_code_is_attached_to_the_called_visit_and_forwarded() {
    let f = fixture(&[]).await;
    let t = f.called("c1").await;
    let mut changes = f.desk.subscribe();
    let r = f.desk.submit("c1", CODE, &f.code("T-2026-0815")).await;
    assert_eq!(r.state, FindingState::Attached);
    assert_eq!(r.kind, "appointment");
    assert_eq!(r.ticket.as_ref().unwrap().id, t.id);
    assert_eq!(changes.try_recv().unwrap(), "c1");
    assert_eq!(
        f.query("SELECT appointment_ref FROM tickets WHERE id = ?1", t.id)
            .await
            .as_deref(),
        Some("T-2026-0815")
    );
    assert_eq!(
        f.query("SELECT identification FROM tickets WHERE id = ?1", t.id)
            .await
            .as_deref(),
        Some("qr")
    );
    let ev = f.events("visit.identified").await;
    assert_eq!(ev.len(), 1);
    assert_eq!(ev[0]["data"]["appointment_ref"], "T-2026-0815");
    assert_eq!(ev[0]["data"]["ticket_id"], t.id);
    // The same code again changes nothing and sends nothing.
    f.desk.submit("c1", CODE, &f.code("T-2026-0815")).await;
    assert_eq!(f.events("visit.identified").await.len(), 1);
    let audit = f.audit().await;
    let last = audit.last().unwrap();
    assert_eq!(
        (last.0.as_str(), last.1.as_str()),
        ("inbox:c1", "ticket.identified")
    );
    assert!(
        !last.2.contains("T-2026-0815"),
        "no references in the audit log"
    );
}

#[tokio::test]
async fn without_a_current_visit_nothing_is_attached_and_names_are_dropped() {
    let f = fixture(&[DocumentKind::IdCard]).await;
    // c2 has a visit, c1 has none.
    f.called("c2").await;
    let r = f.desk.submit("c1", CODE, &f.code("T-1")).await;
    assert_eq!(r.state, FindingState::NoCurrentVisit);
    assert!(r.ticket.is_none());
    let r = f.desk.submit("c1", CODE, TD1).await;
    assert_eq!(r.state, FindingState::NoCurrentVisit);
    assert_eq!(r.kind, "id_document");
    assert!(r.person.is_none(), "names are not held without a visit");
    assert!(f.events("visit.identified").await.is_empty());
    assert_eq!(f.desk.list("c1").len(), 2);
    assert!(f.desk.list("c2").is_empty());
    // Dropped after the hold time.
    f.clock.advance(chrono::Duration::seconds(181));
    assert!(f.desk.list("c1").is_empty());
}

#[tokio::test]
async fn an_mrz_waits_for_the_desks_consent_before_anything_is_stored() {
    let f = fixture(&[DocumentKind::IdCard]).await;
    let t = f.called("c1").await;
    let r = f.desk.submit("c1", Found::Mrz, TD1).await;
    assert_eq!(r.state, FindingState::NeedsConsent);
    assert_eq!(r.document, Some(DocumentKind::IdCard));
    let person = r.person.clone().unwrap();
    assert_eq!(
        (person.surname.as_str(), person.birth_date.as_str()),
        ("ERIKSSON", "1974-08-12")
    );
    let json = serde_json::to_string(&r).unwrap();
    assert!(!json.contains("D23145890"), "{json}");
    assert!(!format!("{r:?}").contains("ERIKSSON"));
    assert_eq!(
        f.query(
            "SELECT surname FROM visitor_data WHERE ticket_id = ?1",
            t.id
        )
        .await,
        None
    );
    assert!(matches!(
        f.desk.confirm("c1", &r.id, false, "desk").await,
        Err(DeskScanError::NoConsent)
    ));
    assert!(matches!(
        f.desk.confirm("c2", &r.id, true, "desk").await,
        Err(DeskScanError::Unknown(_))
    ));
    let got = f.desk.confirm("c1", &r.id, true, "desk").await.unwrap();
    assert_eq!(got.id, t.id);
    assert_eq!(
        f.query(
            "SELECT surname FROM visitor_data WHERE ticket_id = ?1",
            t.id
        )
        .await
        .as_deref(),
        Some("ERIKSSON")
    );
    assert_eq!(
        f.query("SELECT identification FROM tickets WHERE id = ?1", t.id)
            .await
            .as_deref(),
        Some("id_document")
    );
    let ev = f.events("visit.identified").await;
    assert_eq!(ev.len(), 1);
    assert_eq!(ev[0]["data"]["person"]["surname"], "ERIKSSON");
    assert!(!ev[0].to_string().contains("D23145890"));
    assert!(f.desk.list("c1").is_empty(), "confirmed findings are gone");
    let audit = f.audit().await;
    let last = audit.last().unwrap();
    assert_eq!(
        (last.0.as_str(), last.1.as_str()),
        ("desk", "ticket.identified")
    );
    assert!(!last.2.contains("ERIKSSON"));
    // Once is enough.
    assert!(f.desk.confirm("c1", &r.id, true, "desk").await.is_err());
}

#[tokio::test]
async fn a_consent_for_a_visit_that_ended_is_refused_and_the_names_are_gone() {
    let f = fixture(&[DocumentKind::IdCard]).await;
    let t = f.called("c1").await;
    let r = f.desk.submit("c1", Found::Mrz, TD1).await;
    f.queue
        .act(t.id, crate::queue::Action::NoShow)
        .await
        .unwrap();
    assert!(matches!(
        f.desk.confirm("c1", &r.id, true, "desk").await,
        Err(DeskScanError::Queue(QueueError::NotCurrent { .. }))
    ));
    assert!(f.desk.list("c1").is_empty());
    assert_eq!(
        f.query(
            "SELECT surname FROM visitor_data WHERE ticket_id = ?1",
            t.id
        )
        .await,
        None
    );
}

#[tokio::test]
async fn refusals_dismissals_and_bounds() {
    let f = fixture(&[]).await;
    f.called("c1").await;
    // ID scanning is off: an MRZ is refused, whether typed or found by OCR.
    for found in [CODE, Found::Mrz] {
        let r = f.desk.submit("c1", found, TD1).await;
        assert_eq!(r.state, FindingState::Refused);
        assert_eq!(r.kind, "id_document");
        assert_eq!(r.message_key, Some("kiosk.id.error.disabled"));
    }
    let r = f.desk.submit("c1", CODE, "https://example.org").await;
    assert_eq!(r.state, FindingState::Refused);
    assert_eq!(r.message_key, Some("kiosk.qr.error.unknown"));
    assert!(matches!(
        f.desk.confirm("c1", &r.id, true, "desk").await,
        Err(DeskScanError::NotPending)
    ));
    f.desk.dismiss("c1", &r.id, "desk").await.unwrap();
    assert!(f.desk.list("c1").iter().all(|x| x.id != r.id));
    assert!(f.desk.dismiss("c1", &r.id, "desk").await.is_err());
    for _ in 0..MAX_PER_COUNTER * 2 {
        f.desk.submit("c1", CODE, "junk").await;
    }
    assert_eq!(f.desk.list("c1").len(), MAX_PER_COUNTER);
}

#[tokio::test]
async fn dismissing_an_id_document_is_audited_and_stores_nothing() {
    let f = fixture(&[DocumentKind::IdCard]).await;
    let t = f.called("c1").await;
    let r = f.desk.submit("c1", Found::Mrz, TD1).await;
    f.desk.dismiss("c1", &r.id, "desk").await.unwrap();
    assert!(f.desk.list("c1").is_empty());
    assert_eq!(
        f.query(
            "SELECT surname FROM visitor_data WHERE ticket_id = ?1",
            t.id
        )
        .await,
        None
    );
    let audit = f.audit().await;
    let last = audit.last().unwrap();
    assert_eq!(
        (last.0.as_str(), last.1.as_str()),
        ("desk", "scan.dismissed")
    );
}
