//! The office scanner at a desk against the real `lotse demo`: a PNG dropped into the
//! counter's inbox folder is read, deleted, and what it carries is attached to the visit
//! called at that counter and forwarded to the case system; an ID document waits for the
//! desk to confirm the visitor's consent in a real Chromium.

use std::path::{Path, PathBuf};
use std::time::Duration;

use lotse_tests::receiver::{Receiver, test_secret};
use lotse_tests::{Browser, Screen, Server, wait_for};
use serde_json::{Value, json};

use super::id_scan::{MRZ_DE_ID, appointment_code, public_key_b64};

const LONG: Duration = Duration::from_secs(20);

/// A demo appliance with ID cards and passports enabled, the test key trusted, forwarding to `receiver`,
/// and an inbox folder for counter c1.
fn start(dir: &Path, receiver: &Receiver) -> (Server, PathBuf) {
    let inbox = dir.join("inbox-c1");
    std::fs::create_dir_all(&inbox).unwrap();
    let config = format!(
        "[scanning]\nid_documents = [\"id_card\", \"passport\"]\n\
         [scanning.trusted_keys]\nk1 = \"{}\"\n\
         [[scanning.inbox]]\ndir = \"{}\"\ncounter = \"c1\"\n\
         [case_system]\nurl = \"{}\"\nsecret = \"{}\"\nretry_initial = \"100ms\"\nretry_max = \"1s\"\n",
        public_key_b64(),
        inbox.display(),
        receiver.url(),
        test_secret(1)
    );
    let path = dir.join("site.toml");
    std::fs::write(&path, config).unwrap();
    let srv = Server::start_logged(
        &dir.join("data"),
        &["--config", path.to_str().unwrap()],
        &dir.join("lotse.log"),
    );
    (srv, inbox)
}

/// Renders `text` as a QR code on a white page, as a multifunction printer would scan a
/// letter, and writes it as PNG to `path` (via a hidden name, as scanners do).
fn drop_qr_png(text: &str, path: &Path) {
    use rxing::{BarcodeFormat, MultiFormatWriter, Writer};
    let bits = MultiFormatWriter
        .encode(text, &BarcodeFormat::QR_CODE, 400, 400)
        .unwrap();
    let (w, h) = (bits.width() + 400, bits.height() + 600);
    let img = image::GrayImage::from_fn(w, h, |x, y| {
        let inside =
            (200..200 + bits.width()).contains(&x) && (300..300 + bits.height()).contains(&y);
        if inside && bits.get(x - 200, y - 300) {
            image::Luma([0])
        } else {
            image::Luma([255])
        }
    });
    let hidden = path.with_file_name(format!(".{}", path.file_name().unwrap().to_string_lossy()));
    img.save_with_format(&hidden, image::ImageFormat::Png)
        .unwrap();
    std::fs::rename(&hidden, path).unwrap();
}

async fn call_next(c: &reqwest::Client, srv: &Server, counter: &str) -> Value {
    let r = c
        .post(srv.url(&format!("/api/v1/counters/{counter}/call-next")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    r.json().await.unwrap()
}

async fn findings(c: &reqwest::Client, srv: &Server, counter: &str) -> Vec<Value> {
    let r = c
        .get(srv.url(&format!("/api/v1/counters/{counter}/findings")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    r.json().await.unwrap()
}

async fn identified_event(receiver: &Receiver) -> Value {
    let found = receiver
        .wait_until(LONG, |l| {
            l.events
                .values()
                .any(|e| e.json["type"] == "visit.identified")
        })
        .await;
    assert!(found, "no visit.identified event arrived");
    let log = receiver.log();
    log.events
        .values()
        .find(|e| e.json["type"] == "visit.identified")
        .unwrap()
        .json
        .clone()
}

#[tokio::test]
async fn an_office_scan_is_attached_to_the_called_visit_and_forwarded() {
    let dir = tempfile::tempdir().unwrap();
    let receiver = Receiver::start(&[&test_secret(1)], None).await;
    let (srv, inbox) = start(dir.path(), &receiver);
    let c = srv.client();

    // Without a current visit at c1, a scan is shown as such and attached to nothing.
    drop_qr_png(
        &appointment_code("T-2026-0001", "general"),
        &inbox.join("Scan_0001.png"),
    );
    let early = wait_for("the scan without a visit", LONG, || async {
        findings(&c, &srv, "c1")
            .await
            .into_iter()
            .find(|f| f["state"] == "no_current_visit")
    })
    .await;
    assert_eq!(early["kind"], "appointment");
    assert!(early.get("ticket").is_none());

    let t = srv.check_in("general", "uk").await;
    let called = call_next(&c, &srv, "c1").await;
    assert_eq!(called["id"], t["id"]);
    let file = inbox.join("Scan_0002.png");
    drop_qr_png(&appointment_code("T-2026-4711", "general"), &file);
    let f = wait_for("the scan attached", LONG, || async {
        findings(&c, &srv, "c1")
            .await
            .into_iter()
            .find(|f| f["state"] == "attached")
    })
    .await;
    assert_eq!(f["kind"], "appointment");
    assert_eq!(f["ticket"]["id"], t["id"]);
    assert_eq!(f["ticket"]["number"], t["number"]);
    assert!(!file.exists(), "the read scan is deleted");
    assert_eq!(std::fs::read_dir(&inbox).unwrap().count(), 0);

    // Forwarded as an update of that visit, with the appointment's reference.
    let ev = identified_event(&receiver).await;
    assert_eq!(ev["data"]["ticket_id"], t["id"]);
    assert_eq!(ev["data"]["appointment_ref"], "T-2026-4711");
    assert_eq!(ev["data"]["identification"], "qr");
    let log = receiver.log();
    let checked_in = log
        .events
        .values()
        .find(|e| e.json["type"] == "visit.checked_in")
        .unwrap();
    assert_eq!(checked_in.json["data"]["visit_id"], ev["data"]["visit_id"]);

    // The attachment is audited with the inbox as actor and without the reference.
    let audit = srv.get_json("/api/v1/admin/audit").await;
    let entry = audit
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == "ticket.identified")
        .expect("audited");
    assert_eq!(entry["actor"], "inbox:c1");
    assert!(!entry.to_string().contains("T-2026-4711"));

    // The desk's findings are staff-only; a dismissed one is gone.
    let anon = lotse_tests::client();
    let r = anon
        .get(srv.url("/api/v1/counters/c1/findings"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let r = c
        .post(srv.url(&format!(
            "/api/v1/counters/c1/findings/{}/dismiss",
            f["id"].as_str().unwrap()
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    assert!(
        findings(&c, &srv, "c1")
            .await
            .iter()
            .all(|x| x["id"] != f["id"])
    );
    let r = c
        .get(srv.url("/api/v1/counters/c9/findings"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
}

#[tokio::test]
async fn the_desk_confirms_consent_before_an_id_document_is_stored() {
    let dir = tempfile::tempdir().unwrap();
    let receiver = Receiver::start(&[&test_secret(1)], None).await;
    let (srv, inbox) = start(dir.path(), &receiver);
    let c = srv.client();
    let t = srv.check_in("general", "de").await;

    let b = Browser::open(&srv.base, Screen::Desk).await;
    crate::desk_login(&b, "desk", lotse_tests::DEMO_PASSWORD).await;
    crate::desk_at_counter(&b, "c1", LONG).await;
    b.tap("desk-call-next").await;
    b.wait_js(
        "the called ticket",
        &format!(
            "document.querySelector('[data-testid=desk-current-number]')?.textContent === '{}'",
            t["number"].as_str().unwrap()
        ),
        LONG,
    )
    .await;

    // The office scanner reads an ID card's MRZ (here carried by a QR code: no OCR needed).
    drop_qr_png(MRZ_DE_ID, &inbox.join("ausweis.png"));
    b.wait_js(
        "the ID document waiting for consent",
        "document.querySelector('[data-testid=desk-finding][data-state=needs_consent]')?.checkVisibility()",
        LONG,
    )
    .await;
    let name = b
        .eval("document.querySelector('[data-testid=desk-finding-name]').textContent")
        .await;
    assert_eq!(name, "MUSTERMANN, ERIKA");
    // Nothing is stored or sent before the desk confirms.
    assert_eq!(
        b.eval("document.querySelector('[data-testid=desk-finding-confirm]').disabled")
            .await,
        true
    );
    assert!(
        !receiver
            .log()
            .events
            .values()
            .any(|e| e.json["type"] == "visit.identified")
    );
    b.screenshot("desk-finding-consent").await;
    b.tap("desk-finding-consent").await;
    b.wait_js(
        "the confirm button enabled by the consent",
        "document.querySelector('[data-testid=desk-finding-confirm]')?.disabled === false",
        LONG,
    )
    .await;
    // A visitor checks in meanwhile: the desk re-renders, the ticked consent stays.
    let next = srv.check_in("general", "de").await;
    b.wait_js(
        "the new visitor in the waiting list",
        &format!(
            "document.querySelector('[data-testid=desk-waiting-row][data-number=\"{}\"]')",
            next["number"].as_str().unwrap()
        ),
        LONG,
    )
    .await;
    assert_eq!(
        b.eval(
            "[document.querySelector('[data-testid=desk-finding-consent]').checked, \
              document.querySelector('[data-testid=desk-finding-confirm]').disabled]"
        )
        .await,
        json!([true, false])
    );
    b.tap("desk-finding-confirm").await;
    b.wait_js(
        "the finding handled",
        "!document.querySelector('[data-testid=desk-finding]')",
        LONG,
    )
    .await;
    let status = super::browser::text(&b, "desk-status").await;
    assert!(status.contains("gespeichert"), "{status}");

    let ev = identified_event(&receiver).await;
    assert_eq!(ev["data"]["ticket_id"], t["id"]);
    assert_eq!(ev["data"]["identification"], "id_document");
    assert_eq!(ev["data"]["person"]["surname"], "MUSTERMANN");
    assert_eq!(ev["data"]["person"]["birth_date"], "1983-08-12");
    assert!(!ev.to_string().contains("LZ6311T47"), "no document number");
    assert!(!inbox.join("ausweis.png").exists());

    let audit = srv.get_json("/api/v1/admin/audit").await;
    let entry = audit
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == "ticket.identified")
        .expect("audited");
    assert_eq!(entry["actor"], "desk");
    assert!(!entry.to_string().contains("MUSTERMANN"));

    // A consent for a finding that is gone changes nothing.
    let r = c
        .post(srv.url("/api/v1/counters/c1/findings/0000/confirm"))
        .json(&json!({"consent": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
}

/// A scanned passport page has no code, only its printed MRZ: the inbox reads it (OCR), the
/// desk confirms consent over the API, and names and birth date are forwarded without the
/// document number.
#[tokio::test]
async fn a_scanned_passport_page_is_read_by_ocr_and_waits_for_consent() {
    let specimen = PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../shared/testdata/mrz/images/passport-td3.jpg"
    ));
    if !specimen.is_file() {
        eprintln!("skipped: no MRZ images");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let receiver = Receiver::start(&[&test_secret(1)], None).await;
    let (srv, inbox) = start(dir.path(), &receiver);
    let c = srv.client();
    let t = srv.check_in("general", "en").await;
    call_next(&c, &srv, "c1").await;

    let file = inbox.join("Scan_0003.jpg");
    let hidden = inbox.join(".Scan_0003.jpg");
    std::fs::copy(&specimen, &hidden).unwrap();
    std::fs::rename(&hidden, &file).unwrap();
    let f = wait_for("the passport waiting for consent", LONG, || async {
        findings(&c, &srv, "c1")
            .await
            .into_iter()
            .find(|f| f["state"] == "needs_consent")
    })
    .await;
    assert!(!file.exists(), "the read scan is deleted");
    assert!(
        !f.to_string().contains("L898902C3"),
        "no document number: {f}"
    );
    assert!(
        !receiver
            .log()
            .events
            .values()
            .any(|e| e.json["type"] == "visit.identified")
    );

    let confirm = srv.url(&format!(
        "/api/v1/counters/c1/findings/{}/confirm",
        f["id"].as_str().unwrap()
    ));
    let r = c.post(&confirm).json(&json!({})).send().await.unwrap();
    assert!(r.status().is_client_error(), "no consent, nothing stored");
    let r = c
        .post(&confirm)
        .json(&json!({"consent": true}))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.status());

    let ev = identified_event(&receiver).await;
    assert_eq!(ev["data"]["ticket_id"], t["id"]);
    assert_eq!(ev["data"]["identification"], "id_document");
    assert_eq!(ev["data"]["person"]["surname"], "ERIKSSON");
    assert_eq!(ev["data"]["person"]["given_names"], "ANNA MARIA");
    assert!(!ev.to_string().contains("L898902C3"), "no document number");
}
