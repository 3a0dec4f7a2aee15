//! HTTP through the real router on a whole appliance (`crate::testing`): regression
//! tests for what the `api_json` fuzz target found.

use crate::testing::{TestApp, TestScan};

async fn app() -> (TestApp, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let app = TestApp::start(dir.path()).await.unwrap();
    (app, dir)
}

/// Found by `api_json`: a refused check-in used up the scans it named, so the visitor
/// had to scan the appointment code or ID card again.
#[tokio::test]
async fn a_refused_checkin_keeps_its_scans() {
    let (app, _dir) = app().await;
    let appointment = app.scan(TestScan::Appointment("residence")).unwrap();
    let id_card = app.scan(TestScan::IdCard).unwrap();
    let before = app.snapshot().await;
    for body in [
        // The appointment is for another service.
        format!(r#"{{"service":"work","language":"de","scan":"{appointment}"}}"#),
        // An ID card in "scan".
        format!(r#"{{"service":"general","language":"de","scan":"{id_card}"}}"#),
        // Both scans fine, the language unknown.
        format!(
            r#"{{"service":"residence","language":"xx","scan":"{appointment}","id_scan":"{id_card}","consent":true}}"#
        ),
        // The same scan twice.
        format!(
            r#"{{"service":"residence","language":"de","scan":"{appointment}","id_scan":"{appointment}"}}"#
        ),
    ] {
        let a = app
            .send(app.request("POST", "/api/v1/checkins", None, &body))
            .await;
        assert!(a.status.is_client_error(), "{body}: {}", a.status);
    }
    assert_eq!(app.snapshot().await, before);

    let body = format!(
        r#"{{"service":"residence","language":"de","scan":"{appointment}","id_scan":"{id_card}","consent":true}}"#
    );
    let a = app
        .send(app.request("POST", "/api/v1/checkins", None, &body))
        .await;
    assert_eq!(a.status, 201, "{:?}", a.json());
    assert!(
        app.scan_still_held(&appointment).is_none(),
        "a stored check-in uses its scans up"
    );
}

/// Found by `api_json`: a feed acknowledgement over the body limit got axum's plain-text
/// 413 instead of a problem document.
#[tokio::test]
async fn a_feed_ack_over_the_body_limit_is_a_problem() {
    let (app, _dir) = app().await;
    let body = format!(
        "{{\"cursor\": 0}}{}",
        " ".repeat(app.state.settings.max_body_bytes)
    );
    let req = axum::http::Request::builder()
        .method("POST")
        .uri("/api/v1/feed/ack")
        .header("authorization", format!("Bearer {}", app.feed_token))
        .body(axum::body::Body::from(body))
        .unwrap();
    let a = app.send(req).await;
    assert_eq!(a.status, 413);
    assert_eq!(a.content_type(), "application/problem+json");
    assert_eq!(
        a.json().unwrap()["type"],
        "urn:lotse:problem:body-too-large"
    );
}
