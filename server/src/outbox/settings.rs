//! The `[case_system]` section of the configuration: its raw TOML shape (with spans,
//! so `lotse check-config` can name the line) and its validation into
//! [`CaseSystemSettings`]. Secrets are decoded here and never printed.

use std::ops::Range;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use super::sign;
use crate::config::{SECRET_NOT_TEXT, SecretText, parse_duration};

/// `[case_system]` as written.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawCaseSystem {
    url: Option<Spanned<String>>,
    secret: Option<Spanned<SecretList>>,
    signing_key: Option<Spanned<SecretText>>,
    client_cert: Option<Spanned<String>>,
    client_key: Option<Spanned<String>>,
    ca: Option<Spanned<String>>,
    retry_initial: Option<Spanned<String>>,
    retry_max: Option<Spanned<String>>,
    give_up_after: Option<Spanned<String>>,
    timeout: Option<Spanned<String>>,
    alert_after: Option<Spanned<String>>,
    feed_token: Option<Spanned<SecretText>>,
}

/// `secret = "whsec_…"` or, during a key rotation, `secret = ["whsec_new…", "whsec_old…"]`.
struct SecretList(Vec<String>);

impl std::fmt::Debug for SecretList {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SecretList({} × …)", self.0.len())
    }
}

impl<'de> Deserialize<'de> for SecretList {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        // Through `toml::Value`, so that no type error quotes a secret (`SecretText`).
        match toml::Value::deserialize(d)? {
            toml::Value::String(s) => Ok(SecretList(vec![s])),
            toml::Value::Array(a) => a
                .into_iter()
                .map(|v| match v {
                    toml::Value::String(s) => Ok(s),
                    _ => Err(serde::de::Error::custom(SECRET_NOT_TEXT)),
                })
                .collect::<Result<_, _>>()
                .map(SecretList),
            _ => Err(serde::de::Error::custom(
                "a secret \"whsec_…\" or a list of them (its value is not repeated here)",
            )),
        }
    }
}

/// Key material that must not end up in logs or `Debug` output.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Vec<u8>);

impl Secret {
    pub fn new(bytes: Vec<u8>) -> Self {
        Self(bytes)
    }

    pub fn expose(&self) -> &[u8] {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(…)")
    }
}

/// The validated `[case_system]` section.
#[derive(Debug, Clone)]
pub struct CaseSystemSettings {
    /// Push endpoint; without it events are only offered on the pull feed.
    pub url: Option<String>,
    /// HMAC keys (decoded `whsec_` secrets); every one signs, so the receiver can
    /// rotate keys without losing a delivery. The first is the current one.
    pub secrets: Vec<Secret>,
    /// Ed25519 seed (decoded `whsk_`), adds a `v1a` signature.
    pub signing_key: Option<Secret>,
    /// Client certificate and key for mutual TLS, as one PEM bundle.
    pub client_identity: Option<Secret>,
    /// The only CA the endpoint's certificate may chain to (PEM), when pinned.
    pub ca_pem: Option<Vec<u8>>,
    pub retry_initial: Duration,
    pub retry_max: Duration,
    pub give_up_after: Duration,
    pub timeout: Duration,
    /// `/healthz` reports `degraded` when the oldest undelivered event is older.
    pub alert_after: Duration,
    /// Bearer token of `GET /api/v1/feed`; without it the feed is off.
    pub feed_token: Option<Secret>,
}

impl CaseSystemSettings {
    /// Settings for tests and benchmarks: push to `url` with one secret.
    pub fn for_url(url: &str, secret: &str) -> Result<Self, String> {
        Ok(Self {
            url: Some(url.to_string()),
            secrets: vec![Secret(sign::parse_secret(secret)?)],
            signing_key: None,
            client_identity: None,
            ca_pem: None,
            retry_initial: Duration::from_secs(5),
            retry_max: Duration::from_secs(3600),
            give_up_after: Duration::from_secs(7 * 86_400),
            timeout: Duration::from_secs(15),
            alert_after: Duration::from_secs(600),
            feed_token: None,
        })
    }
}

type Bad<'a> = &'a mut dyn FnMut(Option<Range<usize>>, &str, String);

fn read_file(path: &Spanned<String>, key: &str, bad: Bad<'_>) -> Option<Vec<u8>> {
    match std::fs::read(PathBuf::from(path.get_ref())) {
        Ok(b) => Some(b),
        Err(e) => {
            bad(
                Some(path.span()),
                key,
                format!("cannot read \"{}\": {e}", path.get_ref()),
            );
            None
        }
    }
}

fn duration(v: &Option<Spanned<String>>, key: &str, default: Duration, bad: Bad<'_>) -> Duration {
    match v {
        None => default,
        Some(s) => match parse_duration(s.get_ref()) {
            Ok(d) if !d.is_zero() => d,
            Ok(_) => {
                bad(Some(s.span()), key, "must be longer than zero".into());
                default
            }
            Err(m) => {
                bad(Some(s.span()), key, m);
                default
            }
        },
    }
}

/// Checks the section (`at`: where it is written) and reports every problem through
/// `bad` (span, key, message).
pub fn validate(raw: &RawCaseSystem, at: Range<usize>, bad: Bad<'_>) -> CaseSystemSettings {
    let mut url = None;
    let mut https = false;
    if let Some(u) = &raw.url {
        match reqwest::Url::parse(u.get_ref()) {
            Ok(p) if (p.scheme() == "http" || p.scheme() == "https") && p.has_host() => {
                https = p.scheme() == "https";
                url = Some(u.get_ref().clone());
            }
            _ => bad(
                Some(u.span()),
                "case_system.url",
                format!(
                    "\"{}\" is not an http:// or https:// URL of the receiving endpoint",
                    u.get_ref()
                ),
            ),
        }
    }

    let mut secrets = Vec::new();
    if let Some(s) = &raw.secret {
        if s.get_ref().0.is_empty() {
            bad(
                Some(s.span()),
                "case_system.secret",
                "the list of secrets is empty".into(),
            );
        }
        for (i, one) in s.get_ref().0.iter().enumerate() {
            match sign::parse_secret(one) {
                Ok(k) => secrets.push(Secret(k)),
                Err(m) => bad(
                    Some(s.span()),
                    "case_system.secret",
                    if s.get_ref().0.len() > 1 {
                        format!("secret {}: {m}", i + 1)
                    } else {
                        m
                    },
                ),
            }
        }
    } else if raw.url.is_some() {
        bad(
            raw.url.as_ref().map(|u| u.span()),
            "case_system.secret",
            "is required with a url: the receiver verifies every delivery with it (\"whsec_\" and base64 of 24 to 64 random bytes)".into(),
        );
    }

    let signing_key =
        raw.signing_key
            .as_ref()
            .and_then(|k| match sign::parse_signing_key(&k.get_ref().0) {
                Ok(seed) => Some(Secret(seed.to_vec())),
                Err(m) => {
                    bad(Some(k.span()), "case_system.signing_key", m);
                    None
                }
            });

    let mut client_identity = None;
    match (&raw.client_cert, &raw.client_key) {
        (Some(c), Some(k)) => {
            if raw.url.is_some() && !https {
                bad(
                    Some(c.span()),
                    "case_system.client_cert",
                    "mutual TLS needs an https:// url".into(),
                );
            }
            let cert = read_file(c, "case_system.client_cert", bad);
            let key = read_file(k, "case_system.client_key", bad);
            if let (Some(mut cert), Some(key)) = (cert, key) {
                cert.push(b'\n');
                cert.extend_from_slice(&key);
                match reqwest::Identity::from_pem(&cert) {
                    Ok(_) => client_identity = Some(Secret(cert)),
                    Err(e) => bad(
                        Some(c.span()),
                        "case_system.client_cert",
                        format!("certificate and key are not a usable PEM pair: {e}"),
                    ),
                }
            }
        }
        (Some(c), None) => bad(
            Some(c.span()),
            "case_system.client_key",
            "client_cert needs client_key (the PEM private key)".into(),
        ),
        (None, Some(k)) => bad(
            Some(k.span()),
            "case_system.client_cert",
            "client_key needs client_cert (the PEM certificate)".into(),
        ),
        (None, None) => {}
    }

    let ca_pem = raw.ca.as_ref().and_then(|c| {
        let pem = read_file(c, "case_system.ca", bad)?;
        match reqwest::Certificate::from_pem_bundle(&pem) {
            Ok(certs) if !certs.is_empty() => Some(pem),
            Ok(_) => {
                bad(
                    Some(c.span()),
                    "case_system.ca",
                    format!("\"{}\" contains no PEM certificate", c.get_ref()),
                );
                None
            }
            Err(e) => {
                bad(
                    Some(c.span()),
                    "case_system.ca",
                    format!("\"{}\" is not a PEM certificate: {e}", c.get_ref()),
                );
                None
            }
        }
    });
    if raw.ca.is_some() && raw.url.is_some() && !https {
        bad(
            raw.ca.as_ref().map(|c| c.span()),
            "case_system.ca",
            "a pinned CA needs an https:// url".into(),
        );
    }

    let retry_initial = duration(
        &raw.retry_initial,
        "case_system.retry_initial",
        Duration::from_secs(5),
        bad,
    );
    let retry_max = duration(
        &raw.retry_max,
        "case_system.retry_max",
        Duration::from_secs(3600),
        bad,
    );
    if retry_max < retry_initial {
        bad(
            raw.retry_max
                .as_ref()
                .or(raw.retry_initial.as_ref())
                .map(|s| s.span()),
            "case_system.retry_max",
            format!(
                "must not be shorter than retry_initial ({} ms < {} ms)",
                retry_max.as_millis(),
                retry_initial.as_millis()
            ),
        );
    }
    let give_up_after = duration(
        &raw.give_up_after,
        "case_system.give_up_after",
        Duration::from_secs(7 * 86_400),
        bad,
    );
    let timeout = duration(
        &raw.timeout,
        "case_system.timeout",
        Duration::from_secs(15),
        bad,
    );
    let alert_after = duration(
        &raw.alert_after,
        "case_system.alert_after",
        Duration::from_secs(600),
        bad,
    );

    let feed_token = raw.feed_token.as_ref().and_then(|t| {
        let v = &t.get_ref().0;
        if v.len() < 16 || !v.bytes().all(|b| b.is_ascii_graphic()) {
            bad(
                Some(t.span()),
                "case_system.feed_token",
                "must be at least 16 visible ASCII characters without spaces".into(),
            );
            None
        } else {
            Some(Secret(v.as_bytes().to_vec()))
        }
    });

    if raw.url.is_none() && raw.feed_token.is_none() {
        bad(
            Some(at),
            "case_system",
            "needs a url (push) or a feed_token (pull), or both".into(),
        );
    }

    CaseSystemSettings {
        url,
        secrets,
        signing_key,
        client_identity,
        ca_pem,
        retry_initial,
        retry_max,
        give_up_after,
        timeout,
        alert_after,
        feed_token,
    }
}
