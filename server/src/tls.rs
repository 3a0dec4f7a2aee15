//! HTTPS for the LAN: the certificate and key from `[server] tls_cert`/`tls_key`
//! (reloaded when the files change, so a renewed certificate needs no restart), the
//! rustls server configuration, and self-signed certificates for provisioning and
//! `lotse tls self-signed`.
//!
//! rustls with the *ring* provider: the same TLS stack the case-system client already
//! uses, no OpenSSL on the appliance.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, SystemTime};

use base64::Engine;
use chrono::{DateTime, Datelike, Utc};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use sha2::{Digest, Sha256};

use crate::config::TlsSettings;

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} holds no PEM certificate (\"-----BEGIN CERTIFICATE-----\")")]
    NoCertificate { path: PathBuf },
    #[error(
        "{path} holds no PEM private key (\"-----BEGIN PRIVATE KEY-----\", RSA or EC): {detail}"
    )]
    NoKey { path: PathBuf, detail: String },
    #[error("the key {key} does not belong to the certificate {cert}: {detail}")]
    Mismatch {
        cert: PathBuf,
        key: PathBuf,
        detail: String,
    },
    #[error("cannot build the TLS configuration: {0}")]
    Config(String),
    #[error("cannot generate a certificate: {0}")]
    Generate(String),
    #[error("{0}")]
    Invalid(String),
    #[error("{path} exists; pass --force to replace it")]
    Exists { path: PathBuf },
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn read(path: &Path) -> Result<Vec<u8>, TlsError> {
    fs::read(path).map_err(|source| TlsError::Read {
        path: path.to_path_buf(),
        source,
    })
}

/// The certificate chain and key of two PEM files, checked to belong together.
pub fn load(cert: &Path, key: &Path) -> Result<CertifiedKey, TlsError> {
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&read(cert)?)
        .filter_map(|c| c.ok())
        .collect();
    if chain.is_empty() {
        return Err(TlsError::NoCertificate {
            path: cert.to_path_buf(),
        });
    }
    let der = PrivateKeyDer::from_pem_slice(&read(key)?).map_err(|e| TlsError::NoKey {
        path: key.to_path_buf(),
        detail: e.to_string(),
    })?;
    CertifiedKey::from_der(chain, der, &provider()).map_err(|e| TlsError::Mismatch {
        cert: cert.to_path_buf(),
        key: key.to_path_buf(),
        detail: e.to_string(),
    })
}

/// Hands rustls the current certificate; [`CertResolver::reload_if_changed`] swaps it.
#[derive(Debug)]
pub struct CertResolver {
    cert: PathBuf,
    key: PathBuf,
    current: RwLock<Arc<CertifiedKey>>,
    /// Modification times of certificate and key when they were last read.
    stamp: Mutex<(Option<SystemTime>, Option<SystemTime>)>,
}

fn mtime(p: &Path) -> Option<SystemTime> {
    fs::metadata(p).and_then(|m| m.modified()).ok()
}

impl CertResolver {
    /// Reads the files once; a problem here stops the start with a clear message.
    pub fn open(settings: &TlsSettings) -> Result<Arc<CertResolver>, TlsError> {
        let stamp = (mtime(&settings.cert), mtime(&settings.key));
        let ck = load(&settings.cert, &settings.key)?;
        Ok(Arc::new(CertResolver {
            cert: settings.cert.clone(),
            key: settings.key.clone(),
            current: RwLock::new(Arc::new(ck)),
            stamp: Mutex::new(stamp),
        }))
    }

    /// The certificate served now.
    pub fn current(&self) -> Arc<CertifiedKey> {
        self.current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Reads the files again when either changed since the last read. A broken new
    /// pair is refused and the old certificate stays in use (the error says why).
    pub fn reload_if_changed(&self) -> Result<bool, TlsError> {
        let now = (mtime(&self.cert), mtime(&self.key));
        {
            let stamp = self.stamp.lock().unwrap_or_else(|e| e.into_inner());
            if *stamp == now {
                return Ok(false);
            }
        }
        let ck = load(&self.cert, &self.key);
        // Remember the stamp also on failure, so a broken file is reported once.
        *self.stamp.lock().unwrap_or_else(|e| e.into_inner()) = now;
        let ck = ck?;
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(ck);
        Ok(true)
    }

    /// Checks the files every `every` until `shutdown` flips; logs what happened.
    pub fn spawn_reload(
        self: &Arc<Self>,
        every: Duration,
        mut shutdown: tokio::sync::watch::Receiver<bool>,
    ) -> tokio::task::JoinHandle<()> {
        let me = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.tick().await;
            loop {
                tokio::select! {
                    _ = tick.tick() => {}
                    _ = shutdown.wait_for(|s| *s) => return,
                }
                match me.reload_if_changed() {
                    Ok(true) => tracing::info!(
                        "TLS certificate reloaded from {} ({})",
                        me.cert.display(),
                        fingerprint(&me.current())
                    ),
                    Ok(false) => {}
                    Err(e) => {
                        tracing::error!("TLS certificate not reloaded, the old one stays: {e}")
                    }
                }
            }
        })
    }
}

impl ResolvesServerCert for CertResolver {
    fn resolve(&self, _: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current())
    }
}

/// The rustls configuration of the HTTPS listener: TLS 1.2 and 1.3, HTTP/1.1.
pub fn server_config(resolver: Arc<CertResolver>) -> Result<Arc<rustls::ServerConfig>, TlsError> {
    let mut cfg = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Config(e.to_string()))?
        .with_no_client_auth()
        .with_cert_resolver(resolver);
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(cfg))
}

/// SHA-256 of the server certificate, as browsers show it (`AB:CD:…`).
pub fn fingerprint(ck: &CertifiedKey) -> String {
    ck.cert
        .first()
        .map(|c| {
            Sha256::digest(c.as_ref())
                .iter()
                .map(|b| format!("{b:02X}"))
                .collect::<Vec<_>>()
                .join(":")
        })
        .unwrap_or_default()
}

/// Base64 SHA-256 of the key's SubjectPublicKeyInfo: what Chromium's
/// `--ignore-certificate-errors-spki-list` takes to trust a self-signed hub.
pub fn spki_sha256(ck: &CertifiedKey) -> Option<String> {
    let spki = ck.key.public_key()?;
    Some(base64::engine::general_purpose::STANDARD.encode(Sha256::digest(spki.as_ref())))
}

/// A new self-signed certificate and its key.
#[derive(Debug)]
pub struct SelfSigned {
    pub cert_pem: String,
    pub key_pem: String,
}

/// How long a generated certificate is valid.
pub const SELF_SIGNED_DAYS: i64 = 3650;

/// What a certificate may name: a DNS host name or an IP address.
pub fn is_host_name_or_ip(n: &str) -> bool {
    n.parse::<std::net::IpAddr>().is_ok()
        || (n.len() <= 253
            && n.split('.').all(|l| {
                (1..=63).contains(&l.len())
                    && !l.starts_with('-')
                    && !l.ends_with('-')
                    && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            }))
}

/// A self-signed ECDSA P-256 certificate for `names` (host names and IP addresses,
/// the first one also its common name), valid from a day before `now`.
pub fn self_signed(
    names: &[String],
    now: DateTime<Utc>,
    days: i64,
) -> Result<SelfSigned, TlsError> {
    let names: Vec<String> = names
        .iter()
        .map(|n| n.trim().to_string())
        .filter(|n| !n.is_empty())
        .collect();
    let Some(first) = names.first().cloned() else {
        return Err(TlsError::Invalid(
            "a certificate needs at least one host name".into(),
        ));
    };
    for n in &names {
        if !is_host_name_or_ip(n) {
            return Err(TlsError::Invalid(format!(
                "\"{n}\" is neither a host name nor an IP address"
            )));
        }
    }
    if !(1..=36_500).contains(&days) {
        return Err(TlsError::Invalid(
            "the validity must be between 1 and 36500 days".into(),
        ));
    }
    let gen_err = |e: rcgen::Error| TlsError::Generate(e.to_string());
    let mut params = rcgen::CertificateParams::new(names).map_err(gen_err)?;
    let mut dn = rcgen::DistinguishedName::new();
    dn.push(rcgen::DnType::CommonName, first);
    dn.push(rcgen::DnType::OrganizationName, "Lotse appliance");
    params.distinguished_name = dn;
    let ymd = |t: DateTime<Utc>| {
        rcgen::date_time_ymd(
            t.year(),
            u8::try_from(t.month()).unwrap_or(1),
            u8::try_from(t.day()).unwrap_or(1),
        )
    };
    params.not_before = ymd(now - chrono::Duration::days(1));
    params.not_after = ymd(now + chrono::Duration::days(days));
    params.is_ca = rcgen::IsCa::ExplicitNoCa;
    params.key_usages = vec![rcgen::KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
    let key = rcgen::KeyPair::generate().map_err(gen_err)?;
    let cert = params.self_signed(&key).map_err(gen_err)?;
    Ok(SelfSigned {
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
    })
}

/// File names inside the directory `lotse tls self-signed` and provisioning write.
pub const CERT_FILE: &str = "cert.pem";
pub const KEY_FILE: &str = "key.pem";

/// Writes `cert.pem` (0644) and `key.pem` (0600) into `dir`; refuses to replace
/// existing files unless `force`. Returns both paths.
pub fn write_pair(
    dir: &Path,
    pair: &SelfSigned,
    force: bool,
) -> Result<(PathBuf, PathBuf), TlsError> {
    let cert = dir.join(CERT_FILE);
    let key = dir.join(KEY_FILE);
    if !force {
        for p in [&cert, &key] {
            if p.exists() {
                return Err(TlsError::Exists { path: p.clone() });
            }
        }
    }
    fs::create_dir_all(dir).map_err(|source| TlsError::Write {
        path: dir.to_path_buf(),
        source,
    })?;
    // The key first: a certificate without its key is never left behind alone.
    write_file(&key, pair.key_pem.as_bytes(), 0o600)?;
    write_file(&cert, pair.cert_pem.as_bytes(), 0o644)?;
    Ok((cert, key))
}

/// Written beside and renamed, so a reload never sees half a file.
fn write_file(path: &Path, body: &[u8], mode: u32) -> Result<(), TlsError> {
    let err = |source| TlsError::Write {
        path: path.to_path_buf(),
        source,
    };
    let tmp = path.with_extension("lotse-tmp");
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .open(&tmp)
        .map_err(err)?;
    f.set_permissions(fs::Permissions::from_mode(mode))
        .map_err(err)?;
    f.write_all(body).map_err(err)?;
    f.sync_all().map_err(err)?;
    fs::rename(&tmp, path).map_err(err)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(dir: &Path) -> TlsSettings {
        TlsSettings {
            cert: dir.join(CERT_FILE),
            key: dir.join(KEY_FILE),
            listen: "127.0.0.1:0".parse().unwrap(),
        }
    }

    #[test]
    fn a_self_signed_pair_loads_and_names_its_hosts() {
        let dir = tempfile::tempdir().unwrap();
        let names = ["kim-empfang".to_string(), "192.168.10.20".to_string()];
        let pair = self_signed(&names, Utc::now(), 30).unwrap();
        assert!(pair.cert_pem.starts_with("-----BEGIN CERTIFICATE-----"));
        assert!(pair.key_pem.contains("PRIVATE KEY"));
        let (cert, key) = write_pair(dir.path(), &pair, false).unwrap();
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&key), 0o600);
        assert_eq!(mode(&cert), 0o644);
        let ck = load(&cert, &key).unwrap();
        assert_eq!(fingerprint(&ck).len(), 32 * 3 - 1);
        assert_eq!(spki_sha256(&ck).unwrap().len(), 44);
        // Never replaced silently.
        assert!(matches!(
            write_pair(dir.path(), &pair, false),
            Err(TlsError::Exists { .. })
        ));
        write_pair(dir.path(), &pair, true).unwrap();
    }

    #[test]
    fn bad_names_and_mismatched_files_are_refused_with_the_file() {
        assert!(matches!(
            self_signed(&["bad name".into()], Utc::now(), 30),
            Err(TlsError::Invalid(_))
        ));
        assert!(self_signed(&[], Utc::now(), 30).is_err());
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        write_pair(
            a.path(),
            &self_signed(&["a".into()], Utc::now(), 30).unwrap(),
            false,
        )
        .unwrap();
        write_pair(
            b.path(),
            &self_signed(&["b".into()], Utc::now(), 30).unwrap(),
            false,
        )
        .unwrap();
        let e = load(&a.path().join(CERT_FILE), &b.path().join(KEY_FILE)).unwrap_err();
        assert!(matches!(e, TlsError::Mismatch { .. }), "{e}");
        let e = load(&a.path().join(KEY_FILE), &a.path().join(KEY_FILE)).unwrap_err();
        assert!(matches!(e, TlsError::NoCertificate { .. }), "{e}");
        let e = load(&a.path().join(CERT_FILE), &a.path().join(CERT_FILE)).unwrap_err();
        assert!(matches!(e, TlsError::NoKey { .. }), "{e}");
        let e = load(&a.path().join("nope.pem"), &a.path().join(KEY_FILE)).unwrap_err();
        assert!(e.to_string().contains("nope.pem"), "{e}");
    }

    #[test]
    fn a_renewed_certificate_is_picked_up_and_a_broken_one_is_not() {
        let dir = tempfile::tempdir().unwrap();
        let s = settings(dir.path());
        write_pair(
            dir.path(),
            &self_signed(&["a".into()], Utc::now(), 30).unwrap(),
            false,
        )
        .unwrap();
        let r = CertResolver::open(&s).unwrap();
        let first = fingerprint(&r.current());
        assert!(!r.reload_if_changed().unwrap(), "nothing changed");
        // Renewed (a new pair); mtimes can be equal within a coarse clock tick.
        write_pair(
            dir.path(),
            &self_signed(&["a".into()], Utc::now(), 30).unwrap(),
            true,
        )
        .unwrap();
        let later = SystemTime::now() + Duration::from_secs(5);
        for p in [&s.cert, &s.key] {
            fs::File::options()
                .write(true)
                .open(p)
                .unwrap()
                .set_modified(later)
                .unwrap();
        }
        assert!(r.reload_if_changed().unwrap());
        let second = fingerprint(&r.current());
        assert_ne!(first, second);
        // A key that does not fit: refused, the renewed certificate stays.
        fs::write(
            &s.key,
            self_signed(&["x".into()], Utc::now(), 30).unwrap().key_pem,
        )
        .unwrap();
        fs::File::options()
            .write(true)
            .open(&s.key)
            .unwrap()
            .set_modified(later + Duration::from_secs(5))
            .unwrap();
        assert!(r.reload_if_changed().is_err());
        assert_eq!(fingerprint(&r.current()), second);
        assert!(!r.reload_if_changed().unwrap(), "reported once");
    }
}
