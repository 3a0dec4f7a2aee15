//! Standard Webhooks signatures.
//!
//! The signed content is `"{webhook-id}.{webhook-timestamp}.{body}"`. The
//! `webhook-signature` header holds space-separated `version,base64` entries:
//! `v1` (HMAC-SHA256 with each configured `whsec_` secret, so the receiver can rotate
//! keys) and, with a `signing_key`, `v1a` (Ed25519).

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use ed25519_dalek::{Signer as _, SigningKey};
use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::settings::{CaseSystemSettings, Secret};

/// Decodes `whsec_<base64>` (24 to 64 bytes of key).
pub fn parse_secret(s: &str) -> Result<Vec<u8>, String> {
    let b64 = s.strip_prefix("whsec_").ok_or_else(|| {
        "must start with \"whsec_\" followed by base64 (e.g. whsec_ + `openssl rand -base64 32`)"
            .to_string()
    })?;
    let key = B64
        .decode(b64.trim_end_matches('='))
        .or_else(|_| {
            base64::engine::general_purpose::STANDARD_NO_PAD.decode(b64.trim_end_matches('='))
        })
        .map_err(|_| "the part after \"whsec_\" is not valid base64".to_string())?;
    if !(24..=64).contains(&key.len()) {
        return Err(format!(
            "decodes to {} bytes; use 24 to 64 random bytes",
            key.len()
        ));
    }
    Ok(key)
}

/// Decodes `whsk_<base64>`: a 32-byte Ed25519 seed (or 64 bytes of seed and public key).
pub fn parse_signing_key(s: &str) -> Result<[u8; 32], String> {
    let b64 = s.strip_prefix("whsk_").ok_or_else(|| {
        "must start with \"whsk_\" followed by base64 of an Ed25519 seed".to_string()
    })?;
    let raw = base64::engine::general_purpose::STANDARD_NO_PAD
        .decode(b64.trim_end_matches('='))
        .map_err(|_| "the part after \"whsk_\" is not valid base64".to_string())?;
    match raw.len() {
        32 | 64 => {
            let mut seed = [0u8; 32];
            seed.copy_from_slice(&raw[..32]);
            Ok(seed)
        }
        n => Err(format!("decodes to {n} bytes; an Ed25519 seed has 32")),
    }
}

/// `whpk_<base64>` of the public key belonging to a seed; the receiver verifies `v1a` with it.
pub fn public_key(seed: &Secret) -> String {
    let mut s = [0u8; 32];
    let raw = seed.expose();
    let n = raw.len().min(32);
    s[..n].copy_from_slice(&raw[..n]);
    let key = SigningKey::from_bytes(&s);
    format!("whpk_{}", B64.encode(key.verifying_key().as_bytes()))
}

/// Signs deliveries with every configured key.
pub struct Signer {
    hmac_keys: Vec<Vec<u8>>,
    ed25519: Option<SigningKey>,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signer")
            .field("hmac_keys", &self.hmac_keys.len())
            .field("ed25519", &self.ed25519.is_some())
            .finish()
    }
}

impl Signer {
    pub fn new(s: &CaseSystemSettings) -> Self {
        Self::from_keys(
            s.secrets.iter().map(|k| k.expose().to_vec()).collect(),
            s.signing_key.as_ref().map(|k| {
                let mut seed = [0u8; 32];
                let raw = k.expose();
                let n = raw.len().min(32);
                seed[..n].copy_from_slice(&raw[..n]);
                seed
            }),
        )
    }

    pub fn from_keys(hmac_keys: Vec<Vec<u8>>, ed25519_seed: Option<[u8; 32]>) -> Self {
        Self {
            hmac_keys,
            ed25519: ed25519_seed.map(|s| SigningKey::from_bytes(&s)),
        }
    }

    /// The value of the `webhook-signature` header.
    pub fn sign(&self, id: &str, timestamp: i64, body: &[u8]) -> String {
        let mut content = Vec::with_capacity(id.len() + body.len() + 24);
        content.extend_from_slice(id.as_bytes());
        content.push(b'.');
        content.extend_from_slice(timestamp.to_string().as_bytes());
        content.push(b'.');
        content.extend_from_slice(body);
        let mut parts = Vec::with_capacity(self.hmac_keys.len() + 1);
        for key in &self.hmac_keys {
            // HMAC accepts keys of any length; `new_from_slice` cannot fail for it.
            if let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(key) {
                mac.update(&content);
                parts.push(format!("v1,{}", B64.encode(mac.finalize().into_bytes())));
            }
        }
        if let Some(k) = &self.ed25519 {
            parts.push(format!("v1a,{}", B64.encode(k.sign(&content).to_bytes())));
        }
        parts.join(" ")
    }
}
