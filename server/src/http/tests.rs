//! The router of a real appliance (SQLite file, demo site) called in-process, with the
//! peer address and transport a listener would attach: who is redirected to HTTPS,
//! who gets HSTS, where a browser without a session is sent. And, on a whole appliance
//! from `crate::testing`, regression tests for what the `api_json` fuzz target found.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Request, StatusCode, header};
use tower::ServiceExt;

use super::serve::Transport;
use crate::appliance::Appliance;
use crate::clock::SystemClock;
use crate::config::{Settings, TlsSettings};
use crate::testing::{TestApp, TestScan};

struct Fixture {
    app: axum::Router,
    appliance: Appliance,
    _dir: tempfile::TempDir,
}

async fn appliance(tls: bool) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let mut settings = Settings::demo(None).unwrap();
    if tls {
        let pair =
            crate::tls::self_signed(&["lotse.local".into()], chrono::Utc::now(), 30).unwrap();
        let (cert, key) = crate::tls::write_pair(&dir.path().join("tls"), &pair, false).unwrap();
        settings.tls = Some(TlsSettings {
            cert,
            key,
            listen: "0.0.0.0:8443".parse().unwrap(),
        });
    }
    let appliance = Appliance::start(settings, &dir.path().join("data"), Arc::new(SystemClock))
        .await
        .unwrap();
    Fixture {
        app: super::app(appliance.state.clone()),
        appliance,
        _dir: dir,
    }
}

fn request(
    method: &str,
    uri: &str,
    peer: &str,
    transport: Transport,
    host: Option<&str>,
) -> Request<Body> {
    let mut b = Request::builder().method(method).uri(uri);
    if let Some(h) = host {
        b = b.header(header::HOST, h);
    }
    let body = if method == "POST" {
        b = b.header(header::CONTENT_TYPE, "application/json");
        Body::from(r#"{"service":"general","language":"de"}"#)
    } else {
        Body::empty()
    };
    let mut req = b.body(body).unwrap();
    let peer: SocketAddr = peer.parse().unwrap();
    req.extensions_mut().insert(ConnectInfo(peer));
    req.extensions_mut().insert(transport);
    req
}

async fn call(f: &Fixture, req: Request<Body>) -> axum::response::Response {
    f.app.clone().oneshot(req).await.unwrap()
}

fn location(r: &axum::response::Response) -> &str {
    r.headers()[header::LOCATION].to_str().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_tls_the_lan_is_sent_to_https_and_loopback_is_served() {
    let f = appliance(true).await;
    let lan = "192.168.10.31:50123";
    let host = Some("lotse.local:8080");

    let r = call(
        &f,
        request("GET", "/kiosk?lang=uk", lan, Transport::Http, host),
    )
    .await;
    assert_eq!(r.status(), StatusCode::MOVED_PERMANENTLY);
    assert_eq!(location(&r), "https://lotse.local:8443/kiosk?lang=uk");
    assert!(r.headers().get(header::STRICT_TRANSPORT_SECURITY).is_none());
    // A POST is repeated with its method and body: 308, and nothing is done over HTTP.
    let r = call(
        &f,
        request("POST", "/api/v1/checkins", lan, Transport::Http, host),
    )
    .await;
    assert_eq!(r.status(), StatusCode::PERMANENT_REDIRECT);
    assert_eq!(location(&r), "https://lotse.local:8443/api/v1/checkins");
    let waiting: u32 = f
        .appliance
        .state
        .queue
        .services()
        .await
        .unwrap()
        .iter()
        .map(|s| s.waiting)
        .sum();
    assert_eq!(waiting, 0, "no ticket was issued over plain HTTP");
    // IPv6 hosts keep their brackets; an IPv6 LAN peer is redirected too.
    let r = call(
        &f,
        request(
            "GET",
            "/desk",
            "[fd00::5]:4000",
            Transport::Http,
            Some("[fd00::2]:8080"),
        ),
    )
    .await;
    assert_eq!(location(&r), "https://[fd00::2]:8443/desk");
    // Without a Host header there is nowhere to send the client.
    let r = call(&f, request("GET", "/desk", lan, Transport::Http, None)).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);

    // The kiosk and display on the appliance itself use loopback HTTP, also as
    // IPv4-mapped IPv6 (a listener on [::]).
    for peer in ["127.0.0.1:40000", "[::1]:40000", "[::ffff:127.0.0.1]:40000"] {
        let r = call(&f, request("GET", "/kiosk", peer, Transport::Http, host)).await;
        assert_eq!(r.status(), StatusCode::OK, "{peer}");
        assert!(r.headers().get(header::STRICT_TRANSPORT_SECURITY).is_none());
        let r = call(
            &f,
            request("POST", "/api/v1/checkins", peer, Transport::Http, host),
        )
        .await;
        assert_eq!(r.status(), StatusCode::CREATED, "{peer}");
    }
    // HTTPS answers carry HSTS, for everyone.
    let r = call(&f, request("GET", "/desk", lan, Transport::Https, host)).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        r.headers()[header::STRICT_TRANSPORT_SECURITY],
        "max-age=31536000"
    );
    let r = call(
        &f,
        request("GET", "/api/v1/nope", lan, Transport::Https, host),
    )
    .await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert!(r.headers().contains_key(header::STRICT_TRANSPORT_SECURITY));
    assert!(f.appliance.tls_fingerprint().is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_tls_everyone_gets_plain_http() {
    let f = appliance(false).await;
    let r = call(
        &f,
        request(
            "GET",
            "/kiosk",
            "192.168.10.31:50123",
            Transport::Http,
            Some("lotse.local:8080"),
        ),
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.headers().get(header::STRICT_TRANSPORT_SECURITY).is_none());
    assert!(f.appliance.tls_fingerprint().is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_lan_address_holds_at_most_a_quarter_of_the_live_streams() {
    let dir = tempfile::tempdir().unwrap();
    let mut settings = Settings::demo(None).unwrap();
    settings.max_event_streams = 8;
    let appliance = Appliance::start(settings, &dir.path().join("data"), Arc::new(SystemClock))
        .await
        .unwrap();
    let app = super::app(appliance.state.clone());
    let open = |peer: &'static str| {
        let app = app.clone();
        async move {
            app.oneshot(request(
                "GET",
                "/api/v1/events",
                peer,
                Transport::Http,
                None,
            ))
            .await
            .unwrap()
        }
    };
    let (display, other, own) = ("192.168.10.40:1", "192.168.10.41:1", "127.0.0.1:1");
    let mut held = vec![open(display).await, open(display).await];
    assert!(held.iter().all(|r| r.status() == StatusCode::OK));
    let refused = open(display).await;
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(refused.headers()[header::RETRY_AFTER], "5");
    let body = axum::body::to_bytes(refused.into_body(), 1 << 16)
        .await
        .unwrap();
    let problem: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(
        problem["type"],
        "urn:lotse:problem:too-many-streams-from-address"
    );
    // Another display and the appliance's own screens are not affected.
    held.push(open(other).await);
    for _ in 0..5 {
        held.push(open(own).await);
    }
    assert!(held.iter().all(|r| r.status() == StatusCode::OK));
    // The cap is reached: now everyone gets 503, loopback too.
    assert_eq!(open(own).await.status(), StatusCode::SERVICE_UNAVAILABLE);
    // A closed stream gives its address's share back.
    held.remove(0);
    assert_eq!(open(display).await.status(), StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_browser_without_a_session_is_sent_to_the_login_and_scripts_get_401() {
    let f = appliance(false).await;
    let page = |accept: &str| {
        let mut r = request(
            "GET",
            "/admin/stats?from=2026-01-01&to=2026-01-31",
            "127.0.0.1:1",
            Transport::Http,
            Some("127.0.0.1:8080"),
        );
        r.headers_mut()
            .insert(header::ACCEPT, accept.parse().unwrap());
        r
    };
    let r = call(&f, page("text/html,application/xhtml+xml,*/*;q=0.8")).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        location(&r),
        "/admin?next=/admin/stats%3Ffrom%3D2026-01-01%26to%3D2026-01-31"
    );
    let r = call(&f, page("*/*")).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    // The API never redirects, whatever the client accepts.
    let mut req = request("GET", "/api/v1/queue", "127.0.0.1:1", Transport::Http, None);
    req.headers_mut()
        .insert(header::ACCEPT, "text/html".parse().unwrap());
    assert_eq!(call(&f, req).await.status(), StatusCode::UNAUTHORIZED);
}

#[test]
fn every_route_but_the_live_streams_has_the_request_timeout() {
    let t = std::time::Duration::from_secs(10);
    for spec in super::ROUTES {
        let live = super::LIVE_STREAMS.contains(&spec.path);
        assert_eq!(
            super::route_timeout(spec.path, t).is_none(),
            live,
            "{spec:?}"
        );
    }
    for path in super::LIVE_STREAMS {
        assert!(
            super::ROUTES.iter().any(|r| r.path == *path),
            "{path} is routed"
        );
    }
}

async fn testing_app() -> (TestApp, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let app = TestApp::start(dir.path()).await.unwrap();
    (app, dir)
}

/// Found by `api_json`: a refused check-in used up the scans it named, so the visitor
/// had to scan the appointment code or ID card again.
#[tokio::test]
async fn a_refused_checkin_keeps_its_scans() {
    let (app, _dir) = testing_app().await;
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
    let (app, _dir) = testing_app().await;
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
