//! The scan hub: every scan at the kiosk (hand scanner, MRZ reader, camera, simulator)
//! comes in here as text or as an image, is recognised and checked, and is announced to
//! the kiosk screen. What a check-in may use is held in memory under an unguessable id
//! for a few minutes and handed out once.
//!
//! Privacy: an MRZ is parsed here and only [`Visitor`] (names, birth date, nationality
//! if configured) survives the call; the document number, the raw lines and the image
//! are dropped before this module returns. Nothing here is written to disk or to the
//! log, and nothing leaves it before the visitor consented (the check-in decides).

use std::collections::{BTreeSet, HashMap};
use std::fmt;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Datelike, Utc};
use serde::Serialize;
use tokio::sync::broadcast;

use super::decode::Decoder;
use super::payload::{self, Payload};
use super::settings::{DocumentKind, ScanSettings};
use super::{mrz, ocr};
use crate::clock::Clock;

/// A visitor's data from an ID document: exactly what may be stored after consent.
#[derive(Clone, PartialEq, Eq, Serialize)]
pub struct Visitor {
    pub surname: String,
    pub given_names: String,
    /// `YYYY-MM-DD` (or the MRZ's raw `YYMMDD` when it is no calendar date).
    pub birth_date: String,
    /// Only when `[scanning] keep_nationality` is set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nationality: Option<String>,
}

impl fmt::Debug for Visitor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Visitor { .. }")
    }
}

/// What a scan identified, ready for a check-in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Identified {
    /// A signed appointment code: the booking's reference and service.
    Appointment { reference: String, service: String },
    /// A signed visitor card.
    Card { card: String },
    /// A valid MRZ of an enabled document type.
    IdDocument {
        kind: DocumentKind,
        visitor: Visitor,
    },
}

/// What the kiosk screen is told about a scan.
#[derive(Clone, Serialize)]
pub struct KioskScan {
    /// `appointment`, `visitor_card`, `id_document` or `refused`.
    pub kind: &'static str,
    /// The id a check-in sends back to use this scan; absent when refused.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scan: Option<String>,
    /// The appointment's service.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub document: Option<DocumentKind>,
    /// Shown to the visitor on the consent screen: what would be passed on.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub person: Option<Visitor>,
    /// Catalog key of the friendly text for a refused scan.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message_key: Option<&'static str>,
}

impl fmt::Debug for KioskScan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KioskScan")
            .field("kind", &self.kind)
            .field("service", &self.service)
            .field("document", &self.document)
            .field("message_key", &self.message_key)
            .finish_non_exhaustive()
    }
}

impl KioskScan {
    fn refused(message_key: &'static str) -> Self {
        Self {
            kind: "refused",
            scan: None,
            service: None,
            document: None,
            person: None,
            message_key: Some(message_key),
        }
    }
}

/// Why a check-in could not use a scan.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScanError {
    #[error("the scan is unknown, was already used, or expired; scan again")]
    Unknown,
}

struct Held {
    identified: Identified,
    until: DateTime<Utc>,
}

/// A scan taken out of the hub by [`ScanHub::claim`]; goes back unless used.
pub struct Claim {
    hub: ScanHub,
    id: String,
    identified: Identified,
    until: DateTime<Utc>,
    used: bool,
}

impl Claim {
    /// What the scan identified.
    pub fn identified(&self) -> &Identified {
        &self.identified
    }

    /// The check-in took the scan: it is gone for good.
    pub fn used(mut self) -> Identified {
        self.used = true;
        self.identified.clone()
    }
}

impl Drop for Claim {
    fn drop(&mut self) {
        if !self.used {
            let h = Held {
                identified: self.identified.clone(),
                until: self.until,
            };
            self.hub.lock().insert(std::mem::take(&mut self.id), h);
        }
    }
}

impl fmt::Debug for Claim {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Claim").finish_non_exhaustive()
    }
}

struct Inner {
    settings: ScanSettings,
    /// The enabled ID document types: the file's, or the admin screen's once changed.
    id_documents: std::sync::RwLock<BTreeSet<DocumentKind>>,
    clock: Arc<dyn Clock>,
    held: Mutex<HashMap<String, Held>>,
    announce: broadcast::Sender<KioskScan>,
    decoder: Decoder,
}

/// Cheap to clone; one per appliance.
#[derive(Clone)]
pub struct ScanHub {
    inner: Arc<Inner>,
}

impl fmt::Debug for ScanHub {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ScanHub")
            .field("id_documents", &self.inner.settings.id_documents)
            .finish_non_exhaustive()
    }
}

/// Most scans held at once; a flood of scans cannot grow memory without bound.
const MAX_HELD: usize = 64;

fn new_id() -> String {
    use rand::RngCore;
    let mut bytes = [0u8; 16];
    rand::rng().fill_bytes(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// An MRZ has 2 or 3 lines with fillers; appointment codes are one line starting `LOTSE`.
pub(crate) fn looks_like_mrz(text: &str) -> bool {
    let lines = text.lines().filter(|l| !l.trim().is_empty()).count();
    (2..=3).contains(&lines) && text.contains('<') && !text.trim_start().starts_with("LOTSE")
}

impl ScanHub {
    pub fn new(settings: ScanSettings, clock: Arc<dyn Clock>) -> Self {
        let (announce, _) = broadcast::channel(16);
        Self {
            inner: Arc::new(Inner {
                id_documents: std::sync::RwLock::new(settings.id_documents.clone()),
                settings,
                clock,
                held: Mutex::new(HashMap::new()),
                announce,
                decoder: Decoder::default(),
            }),
        }
    }

    pub fn settings(&self) -> &ScanSettings {
        &self.inner.settings
    }

    /// Switches ID document types on or off (admin screen); off for all is "no ID scanning".
    pub fn set_id_documents(&self, kinds: BTreeSet<DocumentKind>) {
        *self
            .inner
            .id_documents
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = kinds;
    }

    /// The ID document types enabled now.
    pub fn id_documents(&self) -> BTreeSet<DocumentKind> {
        self.inner
            .id_documents
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Kiosk screens listening for scans.
    pub fn subscribe(&self) -> broadcast::Receiver<KioskScan> {
        self.inner.announce.subscribe()
    }

    /// Recognises one scanned text (a code's content, or MRZ lines), announces the
    /// result to the kiosk and returns it.
    pub fn submit_text(&self, text: &str) -> KioskScan {
        let result = self.recognise(text);
        let _ = self.inner.announce.send(result.clone());
        result
    }

    /// Decodes a still image (8-bit luma) and submits every code in it. An image without
    /// a code is refused as unreadable, so the visitor gets an answer.
    /// An ID document's MRZ in the picture is read too (OCR), while ID scanning is on.
    pub fn submit_image(&self, luma: &[u8], width: u32, height: u32) -> Vec<KioskScan> {
        match self.inner.decoder.decode_image(luma, width, height) {
            Ok(symbols) if !symbols.is_empty() => {
                symbols.iter().map(|s| self.submit_text(&s.text)).collect()
            }
            Ok(_) | Err(_) => {
                if let Some(lines) = self.read_mrz(luma, width, height, true) {
                    return vec![self.submit_text(&lines)];
                }
                let r = KioskScan::refused("kiosk.qr.error.invalid");
                let _ = self.inner.announce.send(r.clone());
                vec![r]
            }
        }
    }

    /// The MRZ printed in a picture (8-bit luma) as lines joined by `'\n'`, read only while
    /// some ID document type is enabled: with ID scanning off nothing of a document is read,
    /// and frames cost no OCR time. `any_orientation` also tries the quarter turns (scanned
    /// pages); a camera looks at documents held about upright.
    pub fn read_mrz(
        &self,
        luma: &[u8],
        width: u32,
        height: u32,
        any_orientation: bool,
    ) -> Option<String> {
        if self.id_documents().is_empty() {
            return None;
        }
        let read = if any_orientation {
            ocr::read_mrz_any_orientation(luma, width, height)
        } else {
            ocr::read_mrz(luma, width, height)
        };
        match read {
            Ok(Some(r)) => Some(r.mrz().lines().join("\n")),
            Ok(None) => None,
            Err(e) => {
                tracing::warn!("picture not searchable for an MRZ: {e}");
                None
            }
        }
    }

    /// Hands out a held scan once.
    pub fn take(&self, id: &str) -> Result<Identified, ScanError> {
        self.claim(id).map(Claim::used)
    }

    /// Takes a held scan for a check-in that may still be refused: unless
    /// [`Claim::used`] is called, the scan is held again (until its original expiry)
    /// when the claim drops, so a refused request does not use it up.
    pub fn claim(&self, id: &str) -> Result<Claim, ScanError> {
        let now = self.inner.clock.now();
        let mut held = self.lock();
        held.retain(|_, h| h.until > now);
        let h = held.remove(id).ok_or(ScanError::Unknown)?;
        Ok(Claim {
            hub: self.clone(),
            id: id.to_string(),
            identified: h.identified,
            until: h.until,
            used: false,
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Held>> {
        // A panic while holding the lock leaves a plain map behind: still usable.
        self.inner
            .held
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn hold(&self, identified: Identified) -> String {
        let now = self.inner.clock.now();
        let until = now
            + chrono::Duration::from_std(self.inner.settings.hold)
                .unwrap_or_else(|_| chrono::Duration::minutes(3));
        let id = new_id();
        let mut held = self.lock();
        held.retain(|_, h| h.until > now);
        while held.len() >= MAX_HELD {
            let oldest = held
                .iter()
                .min_by_key(|(_, h)| h.until)
                .map(|(k, _)| k.clone());
            match oldest {
                Some(k) => held.remove(&k),
                None => break,
            };
        }
        held.insert(id.clone(), Held { identified, until });
        id
    }

    /// What a scanned text is: a signed appointment code, a visitor card, or an ID document
    /// of an enabled type (reduced to [`Visitor`]); otherwise the catalog key of why not.
    /// Used by the kiosk's scans and the desks' office scanners alike.
    pub fn identify(&self, text: &str) -> Result<Identified, &'static str> {
        if looks_like_mrz(text) {
            return self.identify_mrz(text);
        }
        let now = self.inner.clock.now();
        match payload::verify(text, &self.inner.settings.trusted_keys, now) {
            Ok(Payload::Appointment(a)) => Ok(Identified::Appointment {
                reference: a.reference,
                service: a.service,
            }),
            Ok(Payload::Card(c)) => Ok(Identified::Card { card: c.card }),
            Err(e) => {
                tracing::info!("scan refused: {e}");
                Err(e.message_key())
            }
        }
    }

    /// Reads MRZ lines (typed by a reader, or found by OCR): only names, birth date and, if
    /// configured, nationality survive this function.
    pub fn identify_mrz(&self, text: &str) -> Result<Identified, &'static str> {
        let enabled = self.id_documents();
        if enabled.is_empty() {
            tracing::info!("ID document scan refused: ID scanning is off");
            return Err("kiosk.id.error.disabled");
        }
        let (kind, personal) = match mrz::parse_with_repair(text) {
            Ok(m) if m.is_valid() => {
                let kind = DocumentKind::of_code(m.document_type());
                (kind, m.personal_data())
                // `m`, with the document number and the lines, is dropped here.
            }
            Ok(_) | Err(_) => {
                tracing::info!("ID document scan refused: the MRZ does not check out");
                return Err("kiosk.id.error.unreadable");
            }
        };
        let Some(kind) = kind.filter(|k| enabled.contains(k)) else {
            tracing::info!("ID document scan refused: document type not enabled");
            return Err("kiosk.id.error.disabled");
        };
        let year = self
            .inner
            .clock
            .now()
            .with_timezone(&crate::clock::TZ)
            .year();
        let visitor = Visitor {
            birth_date: personal
                .birth_date_iso(year)
                .unwrap_or_else(|| personal.birth_date.clone()),
            surname: personal.surname,
            given_names: personal.given_names,
            nationality: self
                .inner
                .settings
                .keep_nationality
                .then_some(personal.nationality),
        };
        Ok(Identified::IdDocument { kind, visitor })
    }

    fn recognise(&self, text: &str) -> KioskScan {
        let identified = match self.identify(text) {
            Ok(i) => i,
            Err(key) => return KioskScan::refused(key),
        };
        let mut scan = KioskScan {
            kind: "",
            scan: None,
            service: None,
            document: None,
            person: None,
            message_key: None,
        };
        match &identified {
            Identified::Appointment { service, .. } => {
                scan.kind = "appointment";
                scan.service = Some(service.clone());
            }
            Identified::Card { .. } => scan.kind = "visitor_card",
            Identified::IdDocument { kind, visitor } => {
                scan.kind = "id_document";
                scan.document = Some(*kind);
                scan.person = Some(visitor.clone());
            }
        }
        scan.scan = Some(self.hold(identified));
        scan
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;
    use crate::scanning::payload::{Appointment, sign};

    const TD1: &str = "I<UTOD231458907<<<<<<<<<<<<<<<\n\
                       7408122F1204159UTO<<<<<<<<<<<6\n\
                       ERIKSSON<<ANNA<MARIA<<<<<<<<<<";

    fn hub(docs: &[DocumentKind]) -> (ScanHub, Arc<ManualClock>, ed25519_dalek::SigningKey) {
        let key = ed25519_dalek::SigningKey::from_bytes(&[7; 32]);
        let mut s = ScanSettings::default();
        s.trusted_keys.add("k", key.verifying_key());
        s.id_documents = docs.iter().copied().collect();
        let clock = Arc::new(ManualClock::new(
            "2026-11-23T09:00:00+01:00".parse().unwrap(),
        ));
        (ScanHub::new(s, clock.clone()), clock, key)
    }

    #[test]
    fn mrz_is_refused_while_id_scanning_is_off() {
        let (h, _, _) = hub(&[]);
        let r = h.submit_text(TD1);
        assert_eq!(r.kind, "refused");
        assert_eq!(r.message_key, Some("kiosk.id.error.disabled"));
    }

    #[test]
    fn mrz_of_a_disabled_type_is_refused() {
        let (h, _, _) = hub(&[DocumentKind::Passport]);
        assert_eq!(
            h.submit_text(TD1).message_key,
            Some("kiosk.id.error.disabled")
        );
    }

    #[test]
    fn mrz_keeps_names_and_birth_date_only() {
        let (h, _, _) = hub(&[DocumentKind::IdCard]);
        let r = h.submit_text(TD1);
        assert_eq!(r.kind, "id_document");
        let json = serde_json::to_string(&r).unwrap();
        assert!(
            !json.contains("D23145890"),
            "document number leaked: {json}"
        );
        assert!(
            !json.contains("UTO"),
            "nationality is off by default: {json}"
        );
        let Identified::IdDocument { visitor, kind } = h.take(r.scan.as_deref().unwrap()).unwrap()
        else {
            panic!("not an ID document");
        };
        assert_eq!(kind, DocumentKind::IdCard);
        assert_eq!(visitor.surname, "ERIKSSON");
        assert_eq!(visitor.given_names, "ANNA MARIA");
        assert_eq!(visitor.birth_date, "1974-08-12");
        assert_eq!(visitor.nationality, None);
        assert!(!format!("{r:?}{visitor:?}").contains("ERIKSSON"));
    }

    /// A document held to the camera or scanned as a picture: its printed MRZ is read only
    /// while ID scanning is on, and then reduced like a typed one.
    #[test]
    fn an_mrz_in_a_picture_is_read_only_while_id_scanning_is_on() {
        let lines: Vec<&str> = TD1.lines().map(str::trim).collect();
        let page = super::ocr::synth::render(&lines, &super::ocr::synth::Scene::scan(3));

        let (off, _, _) = hub(&[]);
        assert_eq!(
            off.read_mrz(&page.luma, page.width, page.height, true),
            None
        );
        let r = off.submit_image(&page.luma, page.width, page.height);
        assert_eq!(r[0].message_key, Some("kiosk.qr.error.invalid"));

        let (on, _, _) = hub(&[DocumentKind::IdCard]);
        let r = on.submit_image(&page.luma, page.width, page.height);
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].kind, "id_document");
        let person = r[0].person.as_ref().unwrap();
        assert_eq!(person.surname, "ERIKSSON");
        assert!(!serde_json::to_string(&r).unwrap().contains("D23145890"));
    }

    #[test]
    fn broken_mrz_is_unreadable() {
        let (h, _, _) = hub(&[DocumentKind::IdCard]);
        let bad = TD1.replace("7408122", "7408123");
        assert_eq!(
            h.submit_text(&bad).message_key,
            Some("kiosk.id.error.unreadable")
        );
    }

    #[test]
    fn appointment_is_held_once_and_expires() {
        let (h, clock, key) = hub(&[]);
        let claims = Appointment {
            reference: "T-1".into(),
            service: "residence".into(),
            day: "2026-11-23".parse().unwrap(),
            exp: 1_795_474_800,
            kid: Some("k".into()),
        };
        let code = sign("LOTSE1", &claims, &key).unwrap();
        let mut rx = h.subscribe();
        let r = h.submit_text(&code);
        assert_eq!(r.kind, "appointment");
        assert_eq!(r.service.as_deref(), Some("residence"));
        assert_eq!(rx.try_recv().unwrap().kind, "appointment");
        let id = r.scan.unwrap();
        assert!(matches!(h.take(&id), Ok(Identified::Appointment { .. })));
        assert_eq!(h.take(&id), Err(ScanError::Unknown), "handed out once");

        let r = h.submit_text(&code);
        clock.advance(chrono::Duration::seconds(181));
        assert_eq!(h.take(&r.scan.unwrap()), Err(ScanError::Unknown), "expired");
    }

    #[test]
    fn other_codes_get_a_friendly_key() {
        let (h, _, _) = hub(&[]);
        assert_eq!(
            h.submit_text("https://example.org").message_key,
            Some("kiosk.qr.error.unknown")
        );
    }

    #[test]
    fn held_scans_are_bounded() {
        let (h, _, _) = hub(&[DocumentKind::IdCard]);
        for _ in 0..(MAX_HELD * 2) {
            h.submit_text(TD1);
        }
        assert!(h.lock().len() <= MAX_HELD);
    }
}
