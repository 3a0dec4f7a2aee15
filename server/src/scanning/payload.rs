//! QR payloads the kiosk understands: appointment codes and visitor cards, both signed by the
//! case system (format: `docs/appointment-codes.md`).
//!
//! ```text
//! LOTSE1.<base64url(claims JSON)>.<base64url(Ed25519 signature)>        appointment
//! LOTSE-CARD1.<base64url(claims JSON)>.<base64url(Ed25519 signature)>   visitor card
//! ```
//!
//! The signature covers the ASCII text before the last dot (prefix included), so a card can
//! never pass as an appointment and a changed claim byte breaks it. Ed25519 rather than HMAC:
//! the appliance holds only public keys, so a stolen kiosk cannot mint codes.
//!
//! Everything a visitor can hold in front of the camera is untrusted: any failure is a
//! [`PayloadError`] whose [`PayloadError::message_key`] names a friendly kiosk text; the kiosk
//! never shows an error page. Codes carry no personal data (a reference, a service, a day).

use std::collections::HashMap;
use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, NaiveDate, Utc};
use ed25519_dalek::{Signature, VerifyingKey};
use serde::{Deserialize, Serialize};

/// Prefix of appointment codes (format version 1).
pub const APPOINTMENT_PREFIX: &str = "LOTSE1";
/// Prefix of visitor cards (format version 1).
pub const CARD_PREFIX: &str = "LOTSE-CARD1";
/// Longer scans are refused before any parsing; real codes are about 200 characters.
pub const MAX_LEN: usize = 1024;

/// Verified claims of an appointment code.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Appointment {
    /// The case system's appointment reference.
    #[serde(rename = "ref")]
    pub reference: String,
    /// The Lotse service id (`[[services]] id`).
    #[serde(rename = "svc")]
    pub service: String,
    /// The Berlin day of the appointment.
    pub day: NaiveDate,
    /// Unix seconds after which the code is void.
    pub exp: i64,
    /// Which case-system key signed it (optional with a single key).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kid: Option<String>,
}

/// Verified claims of a visitor card: an opaque card id, no personal data.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VisitorCard {
    /// The case system's card id.
    pub card: String,
    /// Optional end of validity, unix seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exp: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kid: Option<String>,
}

/// A verified payload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Payload {
    Appointment(Appointment),
    Card(VisitorCard),
}

/// Why a scanned text was not accepted. Messages are for logs; the kiosk shows
/// [`PayloadError::message_key`].
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PayloadError {
    #[error("not a Lotse code")]
    NotLotse,
    #[error("a Lotse code of an unsupported version")]
    UnsupportedVersion,
    #[error("malformed code: {0}")]
    Malformed(&'static str),
    #[error("signed with an unknown key")]
    UnknownKey,
    #[error("signature does not verify")]
    BadSignature,
    #[error("the code expired")]
    Expired,
    #[error("the appointment is on {day}, not today")]
    WrongDay { day: NaiveDate },
}

impl PayloadError {
    /// The kiosk catalog key (`kiosk-ui/i18n/*.json`) of the friendly text to show.
    pub fn message_key(&self) -> &'static str {
        match self {
            PayloadError::NotLotse | PayloadError::UnsupportedVersion => "kiosk.qr.error.unknown",
            PayloadError::Malformed(_) | PayloadError::UnknownKey | PayloadError::BadSignature => {
                "kiosk.qr.error.invalid"
            }
            PayloadError::Expired => "kiosk.qr.error.expired",
            PayloadError::WrongDay { .. } => "kiosk.qr.error.other_day",
        }
    }
}

/// The case system's public keys, by key id. A single key may be registered without an id.
#[derive(Clone, Default)]
pub struct TrustedKeys {
    keys: HashMap<String, VerifyingKey>,
}

impl fmt::Debug for TrustedKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut ids: Vec<&String> = self.keys.keys().collect();
        ids.sort();
        f.debug_struct("TrustedKeys").field("kids", &ids).finish()
    }
}

/// A key that is not a valid Ed25519 public key.
#[derive(Debug, thiserror::Error)]
#[error("not an Ed25519 public key (32 bytes, base64url): {0}")]
pub struct KeyError(&'static str);

impl TrustedKeys {
    /// Adds a public key under `kid` (`""` for a code without `kid`).
    pub fn add(&mut self, kid: &str, key: VerifyingKey) {
        self.keys.insert(kid.to_owned(), key);
    }

    /// Adds a public key given as base64url (padding optional), the format of the config file.
    pub fn add_base64(&mut self, kid: &str, key: &str) -> Result<(), KeyError> {
        let bytes = URL_SAFE_NO_PAD
            .decode(key.trim().trim_end_matches('='))
            .map_err(|_| KeyError("not base64url"))?;
        let arr: [u8; 32] = bytes.try_into().map_err(|_| KeyError("not 32 bytes"))?;
        let key = VerifyingKey::from_bytes(&arr).map_err(|_| KeyError("not a curve point"))?;
        self.add(kid, key);
        Ok(())
    }

    fn get(&self, kid: Option<&str>) -> Option<&VerifyingKey> {
        self.keys.get(kid.unwrap_or(""))
    }
}

/// Parses and verifies a scanned text against the trusted keys at `now`.
pub fn verify(text: &str, keys: &TrustedKeys, now: DateTime<Utc>) -> Result<Payload, PayloadError> {
    if text.len() > MAX_LEN {
        return Err(PayloadError::Malformed("too long"));
    }
    let text = text.trim();
    let (prefix, _) = text.split_once('.').ok_or(PayloadError::NotLotse)?;
    match prefix {
        APPOINTMENT_PREFIX => {
            let a: Appointment = verified_claims(text, keys, |a: &Appointment| a.kid.as_deref())?;
            check_appointment(&a)?;
            let now_s = now.timestamp();
            if now_s > a.exp {
                return Err(PayloadError::Expired);
            }
            if a.day != crate::clock::service_day(now) {
                return Err(PayloadError::WrongDay { day: a.day });
            }
            Ok(Payload::Appointment(a))
        }
        CARD_PREFIX => {
            let c: VisitorCard = verified_claims(text, keys, |c: &VisitorCard| c.kid.as_deref())?;
            if !is_token(&c.card, 64) {
                return Err(PayloadError::Malformed("card id"));
            }
            if c.exp.is_some_and(|exp| now.timestamp() > exp) {
                return Err(PayloadError::Expired);
            }
            Ok(Payload::Card(c))
        }
        p if p.starts_with("LOTSE") => Err(PayloadError::UnsupportedVersion),
        _ => Err(PayloadError::NotLotse),
    }
}

/// Splits `PREFIX.claims.sig`, picks the key named by the claims, verifies, then trusts them.
fn verified_claims<T: for<'de> Deserialize<'de>>(
    text: &str,
    keys: &TrustedKeys,
    kid: impl Fn(&T) -> Option<&str>,
) -> Result<T, PayloadError> {
    let (signed, sig_b64) = text
        .rsplit_once('.')
        .ok_or(PayloadError::Malformed("no signature"))?;
    let (_, claims_b64) = signed
        .split_once('.')
        .ok_or(PayloadError::Malformed("no claims"))?;
    if claims_b64.contains('.') {
        return Err(PayloadError::Malformed("too many parts"));
    }
    let claims_json = URL_SAFE_NO_PAD
        .decode(claims_b64)
        .map_err(|_| PayloadError::Malformed("claims are not base64url"))?;
    let sig_bytes = URL_SAFE_NO_PAD
        .decode(sig_b64)
        .map_err(|_| PayloadError::Malformed("signature is not base64url"))?;
    let sig = Signature::from_slice(&sig_bytes)
        .map_err(|_| PayloadError::Malformed("signature length"))?;
    let claims: T = serde_json::from_slice(&claims_json)
        .map_err(|_| PayloadError::Malformed("claims are not the expected JSON"))?;
    let key = keys.get(kid(&claims)).ok_or(PayloadError::UnknownKey)?;
    key.verify_strict(signed.as_bytes(), &sig)
        .map_err(|_| PayloadError::BadSignature)?;
    Ok(claims)
}

fn check_appointment(a: &Appointment) -> Result<(), PayloadError> {
    if !is_token(&a.reference, 64) {
        return Err(PayloadError::Malformed("appointment reference"));
    }
    if !is_token(&a.service, 32) {
        return Err(PayloadError::Malformed("service id"));
    }
    Ok(())
}

/// Identifiers are short ASCII tokens, so nothing odd reaches logs, the database or the screen.
fn is_token(s: &str, max: usize) -> bool {
    !s.is_empty()
        && s.len() <= max
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'/' | b':'))
}

/// Builds a code; the case system's side of the format, used by tests, tools and the docs.
pub fn sign<T: Serialize>(
    prefix: &str,
    claims: &T,
    key: &ed25519_dalek::SigningKey,
) -> Result<String, serde_json::Error> {
    use ed25519_dalek::Signer as _;
    let json = serde_json::to_vec(claims)?;
    let signed = format!("{prefix}.{}", URL_SAFE_NO_PAD.encode(json));
    let sig = key.sign(signed.as_bytes());
    Ok(format!(
        "{signed}.{}",
        URL_SAFE_NO_PAD.encode(sig.to_bytes())
    ))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use chrono::TimeZone;
    use ed25519_dalek::SigningKey;

    /// The worked example of docs/appointment-codes.md: seed bytes 0x01..=0x20.
    fn doc_key() -> SigningKey {
        let seed: [u8; 32] = std::array::from_fn(|i| i as u8 + 1);
        SigningKey::from_bytes(&seed)
    }

    fn keys() -> TrustedKeys {
        let mut k = TrustedKeys::default();
        k.add("fa-2026", doc_key().verifying_key());
        k
    }

    /// 2026-11-23 09:00 Berlin (UTC+1).
    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 23, 8, 0, 0).unwrap()
    }

    fn claims() -> Appointment {
        Appointment {
            reference: "T-2026-004711".into(),
            service: "residence".into(),
            day: NaiveDate::from_ymd_opt(2026, 11, 23).unwrap(),
            exp: 1_795_474_800, // 2026-11-23 24:00 Berlin
            kid: Some("fa-2026".into()),
        }
    }

    fn code(c: &Appointment) -> String {
        sign(APPOINTMENT_PREFIX, c, &doc_key()).unwrap()
    }

    #[test]
    fn worked_example_of_the_docs() {
        let doc = include_str!("../../../docs/appointment-codes.md");
        let public = URL_SAFE_NO_PAD.encode(doc_key().verifying_key().to_bytes());
        assert!(doc.contains(&public), "public key {public} not in the docs");
        let c = code(&claims());
        assert!(doc.contains(&c), "example code {c} not in the docs");
        let mut k = TrustedKeys::default();
        k.add_base64("fa-2026", &public).unwrap();
        assert_eq!(verify(&c, &k, now()), Ok(Payload::Appointment(claims())));
    }

    #[test]
    fn valid_appointment() {
        let got = verify(&code(&claims()), &keys(), now()).unwrap();
        assert_eq!(got, Payload::Appointment(claims()));
        // Berlin midnight, not UTC midnight: 23:30 UTC on the 22nd is already the 23rd.
        let early = Utc.with_ymd_and_hms(2026, 11, 22, 23, 30, 0).unwrap();
        assert!(verify(&code(&claims()), &keys(), early).is_ok());
    }

    #[test]
    fn expired() {
        let c = Appointment {
            exp: now().timestamp() - 1,
            ..claims()
        };
        let e = verify(&code(&c), &keys(), now()).unwrap_err();
        assert_eq!(e, PayloadError::Expired);
        assert_eq!(e.message_key(), "kiosk.qr.error.expired");
    }

    #[test]
    fn wrong_day() {
        let c = Appointment {
            day: NaiveDate::from_ymd_opt(2026, 11, 24).unwrap(),
            exp: now().timestamp() + 2 * 86_400,
            ..claims()
        };
        let e = verify(&code(&c), &keys(), now()).unwrap_err();
        assert!(matches!(e, PayloadError::WrongDay { .. }));
        assert_eq!(e.message_key(), "kiosk.qr.error.other_day");
    }

    #[test]
    fn bad_signature_and_unknown_key() {
        let other = SigningKey::from_bytes(&[7; 32]);
        let forged = sign(APPOINTMENT_PREFIX, &claims(), &other).unwrap();
        assert_eq!(
            verify(&forged, &keys(), now()),
            Err(PayloadError::BadSignature)
        );
        let c = Appointment {
            kid: Some("nobody".into()),
            ..claims()
        };
        assert_eq!(
            verify(&code(&c), &keys(), now()),
            Err(PayloadError::UnknownKey)
        );
        // A flipped signature bit.
        let good = code(&claims());
        let (head, sig) = good.rsplit_once('.').unwrap();
        let mut raw = URL_SAFE_NO_PAD.decode(sig).unwrap();
        raw[5] ^= 1;
        let flipped = format!("{head}.{}", URL_SAFE_NO_PAD.encode(raw));
        assert_eq!(
            verify(&flipped, &keys(), now()),
            Err(PayloadError::BadSignature)
        );
    }

    #[test]
    fn tampered_claims() {
        let good = code(&claims());
        let parts: Vec<&str> = good.split('.').collect();
        let other = Appointment {
            service: "work".into(),
            ..claims()
        };
        let tampered = format!(
            "{}.{}.{}",
            parts[0],
            URL_SAFE_NO_PAD.encode(serde_json::to_vec(&other).unwrap()),
            parts[2]
        );
        assert_eq!(
            verify(&tampered, &keys(), now()),
            Err(PayloadError::BadSignature)
        );
        // The same claims and signature under the card prefix do not verify either.
        let as_card = good.replacen(APPOINTMENT_PREFIX, CARD_PREFIX, 1);
        assert!(verify(&as_card, &keys(), now()).is_err());
    }

    #[test]
    fn visitor_card() {
        let card = VisitorCard {
            card: "K-8842-1193".into(),
            exp: None,
            kid: Some("fa-2026".into()),
        };
        let c = sign(CARD_PREFIX, &card, &doc_key()).unwrap();
        assert_eq!(verify(&c, &keys(), now()), Ok(Payload::Card(card)));
        // A card signature is not an appointment signature.
        let as_appt = c.replacen(CARD_PREFIX, APPOINTMENT_PREFIX, 1);
        assert!(verify(&as_appt, &keys(), now()).is_err());
    }

    #[test]
    fn garbage_is_a_friendly_error() {
        let k = keys();
        for text in [
            "",
            "https://example.org",
            "LOTSE1",
            "LOTSE1.",
            "LOTSE1..",
            "LOTSE1.a.b.c",
            "LOTSE1.!!!.???",
            "LOTSE2.e30.AAAA",
            "LOTSE1.e30.AAAA",
        ] {
            let e = verify(text, &k, now()).unwrap_err();
            assert!(
                e.message_key().starts_with("kiosk.qr.error."),
                "{text}: {e}"
            );
        }
        let huge = format!("LOTSE1.{}.x", "A".repeat(1 << 20));
        assert_eq!(
            verify(&huge, &k, now()),
            Err(PayloadError::Malformed("too long"))
        );
        // Deterministic pseudo-random bytes, read lossily as scanners do.
        let mut s: u64 = 0x2545_F491_4F6C_DD1D;
        for len in [1usize, 7, 64, 300, 1000] {
            let bytes: Vec<u8> = (0..len)
                .map(|_| {
                    s ^= s << 13;
                    s ^= s >> 7;
                    s ^= s << 17;
                    s as u8
                })
                .collect();
            let text = String::from_utf8_lossy(&bytes);
            assert!(verify(&text, &k, now()).is_err());
            let prefixed = format!("LOTSE1.{}", URL_SAFE_NO_PAD.encode(&bytes));
            assert!(verify(&prefixed, &k, now()).is_err());
        }
    }
}
