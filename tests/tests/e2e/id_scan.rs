//! Identification at the kiosk against the real `lotse`: signed appointment codes and
//! visitor cards, ID documents with and without consent, and the privacy law's test —
//! after a full check-in with an MRZ, the document number is nowhere on disk: not in
//! the database, its WAL, the log, the printer's jobs or what the case system received.

use std::path::{Path, PathBuf};
use std::time::Duration;

use ed25519_dalek::SigningKey;
use lotse_server::scanning::payload::{Appointment, VisitorCard, sign};
use lotse_tests::Server;
use lotse_tests::receiver::{Receiver, test_secret};
use serde_json::{Value, json};

/// The German ID card specimen (2021) from ../shared/testdata/mrz/cases.json.
pub(crate) const MRZ_DE_ID: &str = "IDD<<LZ6311T475<<<<<<<<<<<<<<<\n\
                         8308126<3110315D<<2108<<<<<<<9\n\
                         MUSTERMANN<<ERIKA<<<<<<<<<<<<<";
const DOCUMENT_NUMBER: &str = "LZ6311T47";

fn key() -> SigningKey {
    SigningKey::from_bytes(&[42; 32])
}

pub(crate) fn public_key_b64() -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(key().verifying_key().as_bytes())
}

/// A demo appliance with ID cards enabled, the test key trusted and, optionally,
/// forwarding to `receiver`; logs at debug level into `dir/lotse.log`.
pub(crate) fn start(dir: &Path, receiver: Option<&Receiver>) -> Server {
    let mut config = format!(
        "[scanning]\nid_documents = [\"id_card\"]\n[scanning.trusted_keys]\nk1 = \"{}\"\n",
        public_key_b64()
    );
    if let Some(r) = receiver {
        config.push_str(&format!(
            "[case_system]\nurl = \"{}\"\nsecret = \"{}\"\nretry_initial = \"100ms\"\nretry_max = \"1s\"\n",
            r.url(),
            test_secret(1)
        ));
    }
    let path = dir.join("site.toml");
    std::fs::write(&path, config).unwrap();
    Server::start_logged(
        &dir.join("data"),
        &["--config", path.to_str().unwrap()],
        &dir.join("lotse.log"),
    )
}

fn berlin_today() -> String {
    // The appliance's day; the test runs far from midnight often enough, and a code
    // for the wrong day would fail loudly as `other_day`.
    let out = std::process::Command::new("date")
        .env("TZ", "Europe/Berlin")
        .arg("+%Y-%m-%d")
        .output()
        .unwrap();
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

pub(crate) fn appointment_code(reference: &str, service: &str) -> String {
    let claims = Appointment {
        reference: reference.into(),
        service: service.into(),
        day: berlin_today().parse().unwrap(),
        exp: i64::MAX / 4,
        kid: Some("k1".into()),
    };
    sign("LOTSE1", &claims, &key()).unwrap()
}

pub(crate) async fn scan(c: &reqwest::Client, srv: &Server, text: &str) -> Value {
    let r = c
        .post(srv.url("/api/v1/sim/scan"))
        .json(&json!({ "text": text }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    v[0].clone()
}

async fn check_in(c: &reqwest::Client, srv: &Server, body: Value) -> reqwest::Response {
    c.post(srv.url("/api/v1/checkins"))
        .json(&body)
        .send()
        .await
        .unwrap()
}

fn files_under(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            files_under(&p, out);
        } else {
            out.push(p);
        }
    }
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

#[tokio::test]
async fn appointment_code_checks_in_for_its_service_once() {
    let dir = tempfile::tempdir().unwrap();
    let srv = start(dir.path(), None);
    let c = srv.client();

    let s = scan(&c, &srv, &appointment_code("T-2026-0815", "residence")).await;
    assert_eq!(s["kind"], "appointment", "{s}");
    assert_eq!(s["service"], "residence");
    let id = s["scan"].as_str().unwrap().to_string();

    // The code is for "residence": another service is refused and the scan stays usable.
    let r = check_in(
        &c,
        &srv,
        json!({"service": "general", "language": "uk", "scan": id}),
    )
    .await;
    assert_eq!(r.status(), 422);
    let s = scan(&c, &srv, &appointment_code("T-2026-0815", "residence")).await;
    let id = s["scan"].as_str().unwrap().to_string();
    let r = check_in(
        &c,
        &srv,
        json!({"service": "residence", "language": "uk", "scan": id}),
    )
    .await;
    assert_eq!(r.status(), 201);
    let t: Value = r.json().await.unwrap();
    assert_eq!(t["appointment"], true);

    // Used once: a second check-in with the same scan is 410, and nothing is issued.
    let r = check_in(
        &c,
        &srv,
        json!({"service": "residence", "language": "uk", "scan": id}),
    )
    .await;
    assert_eq!(r.status(), 410);
    let q = srv.get_json("/api/v1/queue").await;
    assert_eq!(q["tickets"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn a_retried_checkin_with_a_used_scan_gets_its_ticket() {
    let dir = tempfile::tempdir().unwrap();
    let srv = start(dir.path(), None);
    let c = srv.client();
    let s = scan(&c, &srv, &appointment_code("T-1", "residence")).await;
    let body = json!({"service": "residence", "language": "de", "scan": s["scan"]});
    let first = c
        .post(srv.url("/api/v1/checkins"))
        .header("Idempotency-Key", "visit-42")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(first.status(), 201);
    let first: Value = first.json().await.unwrap();
    let again = c
        .post(srv.url("/api/v1/checkins"))
        .header("Idempotency-Key", "visit-42")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 200);
    let again: Value = again.json().await.unwrap();
    assert_eq!(first["id"], again["id"]);
}

#[tokio::test]
async fn other_codes_get_friendly_keys_and_change_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let srv = start(dir.path(), None);
    let c = srv.client();
    let other_key = SigningKey::from_bytes(&[9; 32]);
    let forged = sign(
        "LOTSE1",
        &Appointment {
            reference: "X".into(),
            service: "residence".into(),
            day: berlin_today().parse().unwrap(),
            exp: i64::MAX / 4,
            kid: Some("k1".into()),
        },
        &other_key,
    )
    .unwrap();
    let expired = sign(
        "LOTSE-CARD1",
        &VisitorCard {
            card: "C-1".into(),
            exp: Some(1_000_000_000),
            kid: Some("k1".into()),
        },
        &key(),
    )
    .unwrap();
    for (text, want) in [
        ("https://example.org/some/page", "kiosk.qr.error.unknown"),
        ("LOTSE1.garbage", "kiosk.qr.error.invalid"),
        (forged.as_str(), "kiosk.qr.error.invalid"),
        (expired.as_str(), "kiosk.qr.error.expired"),
    ] {
        let s = scan(&c, &srv, text).await;
        assert_eq!(s["kind"], "refused", "{text}: {s}");
        assert_eq!(s["message_key"], want, "{text}");
        assert!(s.get("scan").is_none());
    }
    let r = check_in(
        &c,
        &srv,
        json!({"service": "residence", "language": "de", "scan": "00112233445566778899aabbccddeeff"}),
    )
    .await;
    assert_eq!(r.status(), 410);
    let q = srv.get_json("/api/v1/queue").await;
    assert!(q["tickets"].as_array().unwrap().is_empty());
}

#[tokio::test]
async fn id_scanning_is_off_unless_enabled() {
    let dir = tempfile::tempdir().unwrap();
    let srv = Server::start(&dir.path().join("data"));
    let c = srv.client();
    let ui = srv.get_json("/api/v1/config/ui").await;
    assert_eq!(ui["id_scan"]["enabled"], false);
    let s = scan(&c, &srv, MRZ_DE_ID).await;
    assert_eq!(s["kind"], "refused");
    assert_eq!(s["message_key"], "kiosk.id.error.disabled");
    assert!(s.get("person").is_none());
}

#[tokio::test]
async fn without_consent_nothing_personal_is_kept_or_sent() {
    let dir = tempfile::tempdir().unwrap();
    let receiver = Receiver::start(&[&test_secret(1)], None).await;
    let srv = start(dir.path(), Some(&receiver));
    let c = srv.client();
    let s = scan(&c, &srv, MRZ_DE_ID).await;
    assert_eq!(s["kind"], "id_document");
    let r = check_in(
        &c,
        &srv,
        json!({"service": "residence", "language": "de", "id_scan": s["scan"], "consent": false}),
    )
    .await;
    assert_eq!(r.status(), 201);
    assert!(
        receiver
            .wait_until(Duration::from_secs(10), |l| !l.order.is_empty())
            .await
    );
    let log = receiver.log();
    let e = &log.events[&log.order[0]].json;
    assert_eq!(e["data"]["identification"], "id_document");
    assert!(e["data"].get("person").is_none(), "{e}");
    let all = serde_json::to_string(
        &log.order
            .iter()
            .map(|i| &log.events[i].json)
            .collect::<Vec<_>>(),
    )
    .unwrap();
    assert!(!all.contains("MUSTERMANN"));
}

/// AufenthG §78 / PAuswG §20: a full check-in with an MRZ and consent; afterwards the
/// document number is in no byte on disk and in nothing the case system received,
/// while the name the visitor agreed to pass on did arrive.
#[tokio::test]
async fn document_number_is_never_written_anywhere() {
    let dir = tempfile::tempdir().unwrap();
    let receiver = Receiver::start(&[&test_secret(1)], None).await;
    let mut srv = start(dir.path(), Some(&receiver));
    let c = srv.client();

    let ui = srv.get_json("/api/v1/config/ui").await;
    assert_eq!(ui["id_scan"]["enabled"], true);
    assert_eq!(ui["id_scan"]["documents"], json!(["id_card"]));

    let s = scan(&c, &srv, MRZ_DE_ID).await;
    assert_eq!(s["kind"], "id_document", "{s}");
    assert_eq!(s["document"], "id_card");
    assert_eq!(s["person"]["surname"], "MUSTERMANN");
    assert_eq!(s["person"]["birth_date"], "1983-08-12");
    assert!(!s.to_string().contains(DOCUMENT_NUMBER));

    let r = check_in(
        &c,
        &srv,
        json!({"service": "residence", "language": "ar", "id_scan": s["scan"], "consent": true}),
    )
    .await;
    assert_eq!(r.status(), 201);
    let ticket: Value = r.json().await.unwrap();
    assert!(
        !ticket.to_string().contains("MUSTERMANN"),
        "the ticket answer carries no name"
    );

    // The visit goes through the queue and is forwarded with the consented person.
    let counter = srv.get_json("/api/v1/counters").await[0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    srv.post_json(&format!("/api/v1/counters/{counter}/call-next"))
        .await;
    srv.post_json(&format!("/api/v1/tickets/{}/start", ticket["id"]))
        .await;
    srv.post_json(&format!("/api/v1/tickets/{}/done", ticket["id"]))
        .await;
    assert!(
        receiver
            .wait_until(Duration::from_secs(20), |l| l.order.len() >= 3)
            .await,
        "case system got the visit"
    );
    let log = receiver.log();
    let first = &log.events[&log.order[0]].json;
    assert_eq!(first["data"]["person"]["surname"], "MUSTERMANN");
    assert_eq!(first["data"]["person"]["given_names"], "ERIKA");
    assert_eq!(first["data"]["person"]["birth_date"], "1983-08-12");
    assert!(first["data"]["person"].get("nationality").is_none());
    for id in &log.order {
        assert!(!contains(&log.events[id].body, DOCUMENT_NUMBER.as_bytes()));
    }

    // Stop the appliance (a clean shutdown checkpoints the WAL) and look at every byte;
    // also before shutdown's checkpoint, the WAL is searched via a copy.
    let mut wal_copy = Vec::new();
    let mut files = Vec::new();
    files_under(&dir.path().join("data"), &mut files);
    for f in &files {
        if f.to_string_lossy().ends_with("-wal") {
            wal_copy = std::fs::read(f).unwrap();
        }
    }
    srv.terminate();
    let mut files = Vec::new();
    files_under(dir.path(), &mut files);
    assert!(
        files
            .iter()
            .any(|f| f.extension().is_some_and(|e| e == "sqlite3" || e == "db")),
        "the database file is among the searched files: {files:?}"
    );
    let log = std::fs::read(dir.path().join("lotse.log")).unwrap();
    assert!(!log.is_empty(), "the log was written");
    let mut searched = 0;
    for f in files {
        let bytes = std::fs::read(&f).unwrap();
        searched += bytes.len();
        for needle in [DOCUMENT_NUMBER, "LZ6311T475", "IDD<<LZ6311T475"] {
            assert!(
                !contains(&bytes, needle.as_bytes()),
                "{needle} found in {}",
                f.display()
            );
        }
    }
    assert!(
        !contains(&wal_copy, DOCUMENT_NUMBER.as_bytes()),
        "in the live WAL"
    );
    assert!(searched > 10_000, "searched {searched} bytes");
}
