//! QR payloads: arbitrary scanned text, and arbitrary claims under a valid signature (so the
//! fuzzer gets past the signature check into claim parsing and the date rules).
#![no_main]

use std::sync::OnceLock;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{TimeZone, Utc};
use ed25519_dalek::{Signer as _, SigningKey};
use libfuzzer_sys::fuzz_target;
use lotse_server::scanning::payload::{self, TrustedKeys};

fn key() -> &'static (SigningKey, TrustedKeys) {
    static KEY: OnceLock<(SigningKey, TrustedKeys)> = OnceLock::new();
    KEY.get_or_init(|| {
        let signing = SigningKey::from_bytes(&[7; 32]);
        let mut keys = TrustedKeys::default();
        keys.add("", signing.verifying_key());
        keys.add("fa-2026", signing.verifying_key());
        (signing, keys)
    })
}

fuzz_target!(|data: &[u8]| {
    let (signing, keys) = key();
    let Some(now) = Utc.timestamp_opt(1_795_420_800, 0).single() else {
        return;
    };
    let text = String::from_utf8_lossy(data);
    if let Err(e) = payload::verify(&text, keys, now) {
        assert!(e.message_key().starts_with("kiosk.qr.error."));
    }
    // The bytes as claims of a correctly signed appointment code and visitor card.
    for prefix in [payload::APPOINTMENT_PREFIX, payload::CARD_PREFIX] {
        let signed = format!("{prefix}.{}", URL_SAFE_NO_PAD.encode(data));
        let sig = signing.sign(signed.as_bytes());
        let code = format!("{signed}.{}", URL_SAFE_NO_PAD.encode(sig.to_bytes()));
        match payload::verify(&code, keys, now) {
            Ok(_) => assert!(code.len() <= payload::MAX_LEN),
            Err(e) => assert!(e.message_key().starts_with("kiosk.qr.error.")),
        }
    }
});
