//! Scanning at the kiosk in a real Chromium: an appointment letter's QR code checks the
//! visitor in for the booked concern; an ID document is read only after consent, its
//! names are shown for the visitor to confirm, and nothing of it stays on the page.

use std::time::Duration;

use lotse_tests::{Browser, Screen};
use serde_json::Value;

use super::browser::text;
use super::id_scan::{MRZ_DE_ID, appointment_code, scan, start};

const LONG: Duration = Duration::from_secs(20);

#[tokio::test]
async fn an_appointment_letter_checks_in_for_its_concern_in_arabic() {
    let dir = tempfile::tempdir().unwrap();
    let srv = start(dir.path(), None);
    let c = srv.client();
    let b = Browser::open(&srv.base, Screen::Kiosk).await;
    b.tap("lang-ar").await;
    b.tap("service-general").await;
    b.wait_testid("skip-identification", LONG).await;
    // The scan stream is connected once the page is up; a scan of some other QR code
    // gets a friendly text in the visitor's language, and the visit goes on.
    let refused = super::id_scan_wait(&b, &c, &srv, "https://example.org/x").await;
    assert_eq!(refused["message_key"], "kiosk.qr.error.unknown");
    b.wait_js(
        "the refusal text",
        "document.querySelector('[data-testid=qr-message]').checkVisibility()",
        LONG,
    )
    .await;
    let msg = text(&b, "qr-message").await;
    assert!(msg.contains("QR"), "{msg:?}");
    assert!(
        msg.chars().any(|c| ('\u{600}'..='\u{6ff}').contains(&c)),
        "not Arabic: {msg:?}"
    );
    b.screenshot("kiosk-qr-refused-ar").await;

    let s = scan(&c, &srv, &appointment_code("T-2026-0815", "residence")).await;
    assert_eq!(s["kind"], "appointment");
    // This site also reads ID documents: the visitor is asked, and declines.
    b.tap("privacy-decline").await;
    b.wait_testid("ticket-number", LONG).await;
    let number = text(&b, "ticket-number").await;
    assert!(
        number.starts_with("A-"),
        "booked concern residence (A): {number}"
    );
    b.screenshot("kiosk-qr-ticket-ar").await;
    let q = srv.get_json("/api/v1/queue").await;
    let t: &Value = &q["tickets"][0];
    assert_eq!(t["service"], "residence");
    assert_eq!(t["appointment"], true);
    assert_eq!(t["language"], "ar");
}

#[tokio::test]
async fn an_id_document_is_read_after_consent_and_forgotten_after_the_visit() {
    let dir = tempfile::tempdir().unwrap();
    let srv = start(dir.path(), None);
    let c = srv.client();
    // The site's own privacy notice in Ukrainian replaces the catalog's general one.
    let r = c
        .put(srv.url("/api/v1/admin/privacy-notices"))
        .json(&serde_json::json!({"uk": "Повідомлення центру про захист даних"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let b = Browser::open(&srv.base, Screen::Kiosk).await;
    b.tap("lang-uk").await;
    b.tap("service-residence").await;
    b.tap("skip-identification").await;
    b.wait_testid("privacy-consent", LONG).await;
    assert_eq!(
        text(&b, "privacy-site-notice").await,
        "Повідомлення центру про захист даних"
    );
    assert_eq!(b.eval(CATALOG_NOTICE_SHOWN).await, Value::Bool(false));
    b.tap("privacy-consent").await;
    b.wait_testid("skip-id-scan", LONG).await;
    let s = super::id_scan_wait(&b, &c, &srv, MRZ_DE_ID).await;
    assert_eq!(s["kind"], "id_document");
    b.wait_js(
        "the names read from the document",
        "document.querySelector('[data-testid=id-person]').checkVisibility()",
        LONG,
    )
    .await;
    let shown = text(&b, "id-person").await;
    assert!(shown.contains("ERIKA MUSTERMANN"), "{shown:?}");
    assert!(shown.contains("12.08.1983"), "{shown:?}");
    assert!(!shown.contains("LZ6311T47"), "no document number on screen");
    b.screenshot("kiosk-id-consent-uk").await;
    b.tap("id-continue").await;
    b.wait_testid("ticket-number", LONG).await;
    b.tap("ticket-done").await;
    b.wait_testid("lang-de", LONG).await;
    let html = b.eval("document.documentElement.outerHTML").await;
    assert!(
        !html.as_str().unwrap().contains("MUSTERMANN"),
        "the name stays on the page"
    );
    // German has no site notice: the catalog's is shown.
    b.tap("lang-de").await;
    b.tap("service-work").await;
    b.tap("skip-identification").await;
    b.wait_testid("privacy-decline", LONG).await;
    assert!(!b.visible("privacy-site-notice").await);
    assert_eq!(b.eval(CATALOG_NOTICE_SHOWN).await, Value::Bool(true));
    b.tap("privacy-decline").await;
    b.wait_testid("ticket-number", LONG).await;
}

/// Whether every item of the catalog's privacy notice is shown.
const CATALOG_NOTICE_SHOWN: &str = "[...document.querySelectorAll('#step-privacy .privacy-list > li:not(#privacy-site-notice)')]\
     .every((li) => li.checkVisibility())";
