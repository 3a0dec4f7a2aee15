//! A reference receiver of case-system webhooks: a real HTTP server on loopback
//! (axum on hyper) that verifies Standard Webhooks signatures with its own code,
//! deduplicates by `webhook-id` (stores each id once) and injects faults: down
//! (port closed), 5xx, 429 with `Retry-After`, 410, delays and timeouts, connection
//! resets. With [`Receiver::start_tls`] it speaks HTTPS and requires a client
//! certificate (mutual TLS) from a test PKI ([`TestPki`]).
//!
//! It is what a case system is expected to do; `docs/case-system-api.md` points here.

use std::collections::{HashMap, VecDeque};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Extension, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use hmac::{Hmac, Mac};
use hyper_util::rt::TokioIo;
use sha2::Sha256;
use tokio::net::TcpListener;
use tokio::sync::Notify;
use tokio::task::{JoinHandle, JoinSet};
use tower::ServiceExt;

/// What the receiver does with a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// Verify, deduplicate, answer 204.
    None,
    /// Answer with this status without looking at the event.
    Status(u16),
    /// 429 with `Retry-After: <seconds>`.
    TooMany(u64),
    /// 410 Gone.
    Gone,
    /// Wait, then handle normally (a slow receiver; longer than the sender's
    /// timeout, a timeout).
    Delay(Duration),
    /// Drop the TCP connection with a reset, without answering.
    Reset,
    /// Store the event first, then wait before answering: the sender may give up
    /// (or die) although the event arrived, and sends it again.
    SlowAck(Duration),
}

/// One stored event.
#[derive(Debug, Clone)]
pub struct Received {
    pub id: String,
    pub body: Bytes,
    pub json: serde_json::Value,
    /// Header names in lower case.
    pub headers: Vec<(String, String)>,
    pub at: Instant,
}

/// One request as it arrived, whatever became of it.
#[derive(Debug, Clone)]
pub struct Request {
    pub id: Option<String>,
    pub at: Instant,
    pub fault: Fault,
}

/// Everything the receiver saw.
#[derive(Debug, Clone, Default)]
pub struct Log {
    /// Event ids in the order they were first stored.
    pub order: Vec<String>,
    pub events: HashMap<String, Received>,
    pub requests: Vec<Request>,
    /// Valid deliveries of an id that was already stored.
    pub duplicates: usize,
    pub bad_signatures: usize,
    /// TLS handshakes that failed (no or a wrong client certificate, …).
    pub tls_failures: Vec<String>,
}

#[derive(Debug)]
struct Shared {
    secrets: Vec<Vec<u8>>,
    public_key: Option<ed25519_dalek::VerifyingKey>,
    script: Mutex<VecDeque<Fault>>,
    mode: Mutex<Fault>,
    log: Mutex<Log>,
    changed: Notify,
}

#[derive(Clone, Debug)]
struct ConnKill(Arc<Notify>);

/// The receiver. Dropping it closes the port.
pub struct Receiver {
    shared: Arc<Shared>,
    addr: SocketAddr,
    server: Mutex<Option<JoinHandle<()>>>,
    tls: Option<tokio_rustls::TlsAcceptor>,
}

impl std::fmt::Debug for Receiver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Receiver")
            .field("addr", &self.addr)
            .field("tls", &self.tls.is_some())
            .finish_non_exhaustive()
    }
}

/// A certificate authority with a server certificate for 127.0.0.1 and a client
/// certificate, all PEM.
#[derive(Debug, Clone)]
pub struct TestPki {
    pub ca_pem: String,
    pub server_cert_pem: String,
    pub server_key_pem: String,
    pub client_cert_pem: String,
    pub client_key_pem: String,
}

impl TestPki {
    pub fn generate(name: &str) -> TestPki {
        use rcgen::{
            BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
        };
        let ca_key = KeyPair::generate().expect("key");
        let mut ca = CertificateParams::new(Vec::<String>::new()).expect("params");
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca.distinguished_name
            .push(DnType::CommonName, format!("{name} test CA"));
        let ca_cert = ca.self_signed(&ca_key).expect("CA");
        let server_key = KeyPair::generate().expect("key");
        let mut server =
            CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()])
                .expect("params");
        server.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let server_cert = server
            .signed_by(&server_key, &ca_cert, &ca_key)
            .expect("server cert");
        let client_key = KeyPair::generate().expect("key");
        let mut client = CertificateParams::new(Vec::<String>::new()).expect("params");
        client
            .distinguished_name
            .push(DnType::CommonName, "lotse appliance");
        client.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        let client_cert = client
            .signed_by(&client_key, &ca_cert, &ca_key)
            .expect("client cert");
        TestPki {
            ca_pem: ca_cert.pem(),
            server_cert_pem: server_cert.pem(),
            server_key_pem: server_key.serialize_pem(),
            client_cert_pem: client_cert.pem(),
            client_key_pem: client_key.serialize_pem(),
        }
    }

    /// TLS for the receiver: its certificate, and client certificates required.
    fn acceptor(&self) -> tokio_rustls::TlsAcceptor {
        use rustls::pki_types::pem::PemObject;
        use rustls::pki_types::{CertificateDer, PrivateKeyDer};
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut roots = rustls::RootCertStore::empty();
        roots
            .add(CertificateDer::from_pem_slice(self.ca_pem.as_bytes()).expect("CA pem"))
            .expect("CA");
        let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
            Arc::new(roots),
            provider.clone(),
        )
        .build()
        .expect("client verifier");
        let cert = CertificateDer::from_pem_slice(self.server_cert_pem.as_bytes()).expect("pem");
        let key = PrivateKeyDer::from_pem_slice(self.server_key_pem.as_bytes()).expect("pem");
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("protocols")
            .with_client_cert_verifier(verifier)
            .with_single_cert(vec![cert], key)
            .expect("server config");
        tokio_rustls::TlsAcceptor::from(Arc::new(config))
    }
}

/// Decodes `whsec_<base64>`.
pub fn decode_secret(s: &str) -> Vec<u8> {
    B64.decode(s.trim_start_matches("whsec_"))
        .expect("secret is whsec_ + base64")
}

/// A fresh random-looking secret for a test (deterministic per `n`).
pub fn test_secret(n: u8) -> String {
    let bytes: Vec<u8> = (0..32u8)
        .map(|i| i.wrapping_mul(37).wrapping_add(n))
        .collect();
    format!("whsec_{}", B64.encode(bytes))
}

/// Checks a delivery the way the Standard Webhooks libraries do: required headers,
/// timestamp within five minutes, one `v1` signature made with one of `secrets`,
/// and, if a public key is given, a valid `v1a` signature too.
pub fn verify(
    secrets: &[Vec<u8>],
    public_key: Option<&ed25519_dalek::VerifyingKey>,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<String, String> {
    let get = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
            .ok_or(format!("missing header {name}"))
    };
    let id = get("webhook-id")?;
    let ts = get("webhook-timestamp")?;
    let sigs = get("webhook-signature")?;
    let t: i64 = ts.parse().map_err(|_| "bad timestamp".to_string())?;
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    if (now - t).abs() > 300 {
        return Err(format!("timestamp {t} is more than 5 min from {now}"));
    }
    let mut content = format!("{id}.{ts}.").into_bytes();
    content.extend_from_slice(body);
    let mut hmac_ok = false;
    let mut ed_ok = false;
    for part in sigs.split(' ') {
        let Some((version, sig)) = part.split_once(',') else {
            continue;
        };
        let Ok(sig) = B64.decode(sig) else { continue };
        match version {
            "v1" => {
                for key in secrets {
                    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(key) else {
                        continue;
                    };
                    mac.update(&content);
                    if mac.verify_slice(&sig).is_ok() {
                        hmac_ok = true;
                    }
                }
            }
            "v1a" => {
                if let (Some(pk), Ok(s)) = (public_key, ed25519_dalek::Signature::from_slice(&sig))
                    && pk.verify_strict(&content, &s).is_ok()
                {
                    ed_ok = true;
                }
            }
            _ => {}
        }
    }
    if !hmac_ok {
        return Err("no matching v1 signature".into());
    }
    if public_key.is_some() && !ed_ok {
        return Err("no valid v1a signature".into());
    }
    Ok(id)
}

async fn hook(
    State(sh): State<Arc<Shared>>,
    Extension(kill): Extension<ConnKill>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let fault = {
        let next = sh
            .script
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .pop_front();
        next.unwrap_or_else(|| sh.mode.lock().unwrap_or_else(|e| e.into_inner()).clone())
    };
    let id = headers
        .get("webhook-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    {
        let mut log = sh.log.lock().unwrap_or_else(|e| e.into_inner());
        log.requests.push(Request {
            id: id.clone(),
            at: Instant::now(),
            fault: fault.clone(),
        });
    }
    sh.changed.notify_waiters();
    match fault {
        Fault::Reset => {
            kill.0.notify_one();
            return std::future::pending().await;
        }
        Fault::Status(s) => {
            return StatusCode::from_u16(s)
                .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
                .into_response();
        }
        Fault::TooMany(secs) => {
            return (
                StatusCode::TOO_MANY_REQUESTS,
                [("retry-after", secs.to_string())],
                "slow down",
            )
                .into_response();
        }
        Fault::Gone => return StatusCode::GONE.into_response(),
        Fault::Delay(d) => tokio::time::sleep(d).await,
        Fault::None | Fault::SlowAck(_) => {}
    }
    match verify(&sh.secrets, sh.public_key.as_ref(), &headers, &body) {
        Err(e) => {
            sh.log
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .bad_signatures += 1;
            sh.changed.notify_waiters();
            (StatusCode::UNAUTHORIZED, e).into_response()
        }
        Ok(id) => {
            let json: serde_json::Value =
                serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null);
            {
                let mut log = sh.log.lock().unwrap_or_else(|e| e.into_inner());
                if log.events.contains_key(&id) {
                    log.duplicates += 1;
                } else {
                    log.order.push(id.clone());
                    let headers = headers
                        .iter()
                        .map(|(k, v)| {
                            (
                                k.as_str().to_string(),
                                v.to_str().unwrap_or_default().to_string(),
                            )
                        })
                        .collect();
                    log.events.insert(
                        id.clone(),
                        Received {
                            id,
                            body,
                            json,
                            headers,
                            at: Instant::now(),
                        },
                    );
                }
            }
            sh.changed.notify_waiters();
            if let Fault::SlowAck(d) = fault {
                tokio::time::sleep(d).await;
            }
            StatusCode::NO_CONTENT.into_response()
        }
    }
}

async fn serve_connection<IO>(io: IO, router: Router)
where
    IO: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let kill = Arc::new(Notify::new());
    let k = kill.clone();
    let svc = hyper::service::service_fn(move |mut req: hyper::Request<hyper::body::Incoming>| {
        req.extensions_mut().insert(ConnKill(k.clone()));
        let r = router.clone();
        async move { Ok::<_, Infallible>(r.oneshot(req).await.into_response()) }
    });
    let conn = hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(io), svc);
    tokio::select! {
        _ = conn => {}
        _ = kill.notified() => {}
    }
}

async fn serve(listener: TcpListener, shared: Arc<Shared>, tls: Option<tokio_rustls::TlsAcceptor>) {
    let router = Router::new()
        .route("/hook", post(hook))
        .with_state(shared.clone());
    let mut conns = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else { continue };
                // Every close is a reset: what `Fault::Reset` and `down()` need.
                let _ = stream.set_zero_linger();
                let router = router.clone();
                let tls = tls.clone();
                let shared = shared.clone();
                conns.spawn(async move {
                    match tls {
                        None => serve_connection(stream, router).await,
                        Some(acceptor) => match acceptor.accept(stream).await {
                            Ok(s) => serve_connection(s, router).await,
                            Err(e) => {
                                shared.log.lock().unwrap_or_else(|e| e.into_inner()).tls_failures.push(e.to_string());
                                shared.changed.notify_waiters();
                            }
                        },
                    }
                });
            }
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
}

impl Receiver {
    /// Starts on a free loopback port, verifying with `secrets` (`whsec_…`) and, if
    /// given, the Ed25519 public key.
    pub async fn start(
        secrets: &[&str],
        public_key: Option<ed25519_dalek::VerifyingKey>,
    ) -> Receiver {
        Self::start_with(secrets, public_key, None).await
    }

    /// Starts with HTTPS, requiring a client certificate signed by `pki`'s CA.
    pub async fn start_tls(secrets: &[&str], pki: &TestPki) -> Receiver {
        Self::start_with(secrets, None, Some(pki.acceptor())).await
    }

    async fn start_with(
        secrets: &[&str],
        public_key: Option<ed25519_dalek::VerifyingKey>,
        tls: Option<tokio_rustls::TlsAcceptor>,
    ) -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let shared = Arc::new(Shared {
            secrets: secrets.iter().map(|s| decode_secret(s)).collect(),
            public_key,
            script: Mutex::new(VecDeque::new()),
            mode: Mutex::new(Fault::None),
            log: Mutex::new(Log::default()),
            changed: Notify::new(),
        });
        let server = tokio::spawn(serve(listener, shared.clone(), tls.clone()));
        Receiver {
            shared,
            addr,
            server: Mutex::new(Some(server)),
            tls,
        }
    }

    pub fn url(&self) -> String {
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        format!("{scheme}://{}/hook", self.addr)
    }

    /// Closes the port and every open connection: senders get "connection refused".
    pub fn down(&self) {
        if let Some(s) = self.server.lock().unwrap_or_else(|e| e.into_inner()).take() {
            s.abort();
        }
    }

    /// Opens the same port again.
    pub async fn up(&self) {
        let mut tries = 0;
        let listener = loop {
            match TcpListener::bind(self.addr).await {
                Ok(l) => break l,
                Err(e) if tries < 100 => {
                    tries += 1;
                    let _ = e;
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Err(e) => panic!("cannot bind {} again: {e}", self.addr),
            }
        };
        let server = tokio::spawn(serve(listener, self.shared.clone(), self.tls.clone()));
        *self.server.lock().unwrap_or_else(|e| e.into_inner()) = Some(server);
    }

    /// What every request gets once the script is used up.
    pub fn set_mode(&self, f: Fault) {
        *self.shared.mode.lock().unwrap_or_else(|e| e.into_inner()) = f;
    }

    /// The next `n` requests get `f`.
    pub fn script(&self, f: Fault, n: usize) {
        let mut s = self.shared.script.lock().unwrap_or_else(|e| e.into_inner());
        for _ in 0..n {
            s.push_back(f.clone());
        }
    }

    pub fn log(&self) -> Log {
        self.shared
            .log
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Number of distinct events stored.
    pub fn stored(&self) -> usize {
        self.shared
            .log
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .order
            .len()
    }

    pub fn requests(&self) -> usize {
        self.shared
            .log
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .requests
            .len()
    }

    /// Waits until `pred` holds for the log, or `timeout`; returns whether it held.
    pub async fn wait_until(&self, timeout: Duration, pred: impl Fn(&Log) -> bool) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let notified = self.shared.changed.notified();
            if pred(&self.shared.log.lock().unwrap_or_else(|e| e.into_inner())) {
                return true;
            }
            // Also poll: a notification between the check and the wait is not lost
            // for long.
            let step = tokio::time::Instant::now() + Duration::from_millis(100);
            if tokio::time::timeout_at(deadline.min(step), notified)
                .await
                .is_err()
                && tokio::time::Instant::now() >= deadline
            {
                return pred(&self.shared.log.lock().unwrap_or_else(|e| e.into_inner()));
            }
        }
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.down();
    }
}
