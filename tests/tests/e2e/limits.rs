//! Limits of the public endpoints against the real binary: check-ins per kiosk per
//! minute, live event streams at once, request bodies, and clients too slow with their
//! headers or bodies — on every route of the table.

use std::time::{Duration, Instant};

use futures::future::join_all;
use lotse_server::http::{ROUTES, Verb};
use lotse_tests::{Server, SseReader, client, wait_for};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::auth::fill;

fn start(dir: &std::path::Path, config: &str) -> Server {
    let file = dir.join("limits.toml");
    std::fs::write(&file, config).unwrap();
    Server::start_with(&dir.join("data"), &["--config", file.to_str().unwrap()])
}

async fn problem(r: reqwest::Response) -> (u16, Option<u64>, String) {
    let status = r.status().as_u16();
    let retry = r
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().parse().unwrap());
    let v: Value = r.json().await.unwrap();
    (
        status,
        retry,
        v["type"].as_str().unwrap_or_default().to_string(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kiosk_beyond_its_check_ins_per_minute_gets_429_and_nothing_is_issued() {
    let dir = tempfile::tempdir().unwrap();
    let srv = start(dir.path(), "[server]\ncheckins_per_minute = 6\n");
    let checkin = || {
        client()
            .post(srv.url("/api/v1/checkins"))
            .json(&json!({"service": "general", "language": "de"}))
            .send()
    };
    for _ in 0..6 {
        assert_eq!(checkin().await.unwrap().status(), 201);
    }
    let (status, retry, kind) = problem(checkin().await.unwrap()).await;
    assert_eq!(status, 429);
    assert_eq!(kind, "urn:lotse:problem:checkin-rate-limited");
    let retry = retry.expect("Retry-After");
    assert!((1..=10).contains(&retry), "one token every 10 s: {retry}");
    // A malformed body counts too (the limit comes before the work), and is refused.
    let r = client()
        .post(srv.url("/api/v1/checkins"))
        .body("{")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 429);
    // Only the six were issued; the kiosk's other requests are not limited.
    let q = srv.get_json("/api/v1/queue").await;
    assert_eq!(q["tickets"].as_array().unwrap().len(), 6);
    assert_eq!(
        client()
            .get(srv.url("/api/v1/services"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    // After Retry-After the kiosk gets its next ticket.
    tokio::time::sleep(Duration::from_secs(retry)).await;
    assert_eq!(checkin().await.unwrap().status(), 201);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_streams_beyond_the_cap_get_503_until_one_ends() {
    let dir = tempfile::tempdir().unwrap();
    // A short request timeout: it must not end the live streams.
    let srv = start(
        dir.path(),
        "[server]\nmax_event_streams = 3\nrequest_timeout = \"1s\"\n",
    );
    let a = SseReader::connect(&srv.base, None).await;
    let mut b = SseReader::connect(&srv.base, None).await;
    // The kiosk's scan stream counts against the same cap.
    let scans = client()
        .get(srv.url("/api/v1/kiosk/scans"))
        .send()
        .await
        .unwrap();
    assert_eq!(scans.status(), 200);
    for path in ["/api/v1/events", "/api/v1/kiosk/scans"] {
        let (status, retry, kind) =
            problem(client().get(srv.url(path)).send().await.unwrap()).await;
        assert_eq!((status, retry), (503, Some(5)), "{path}");
        assert_eq!(kind, "urn:lotse:problem:too-many-streams");
    }
    // The open streams still work, also after several request timeouts.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let t = srv.check_in("work", "de").await;
    let e = b.next(Duration::from_secs(10)).await.expect("an event");
    assert_eq!(e.event.as_deref(), Some("ticket.created"));
    assert_eq!(e.data["ticket"]["id"], t["id"]);
    // A display that goes away frees its slot.
    drop(a);
    drop(scans);
    let t = Instant::now();
    // The server notices a closed stream at its next write (a keep-alive every 15 s).
    wait_for("a free stream slot", Duration::from_secs(40), || async {
        let r = client().get(srv.url("/api/v1/events")).send().await.ok()?;
        (r.status() == 200).then_some(())
    })
    .await;
    eprintln!("a stream slot was free again after {:?}", t.elapsed());
}

/// `POST`/`PUT` routes as the demo admin (re-authenticated at start), CSRF included.
fn head(srv: &Server, verb: Verb, path: &str, length: usize) -> String {
    let admin = srv.admin();
    format!(
        "{} {path} HTTP/1.1\r\nHost: {}\r\nCookie: {}\r\nX-CSRF-Token: {}\r\nContent-Type: application/json\r\nContent-Length: {length}\r\n\r\n",
        verb.method(),
        srv.addr(),
        admin.cookie,
        admin.csrf
    )
}

/// The status of the first answer on a raw connection, or `None` when the server
/// closed it without one; `Err` after `within`.
pub(crate) async fn status_within(
    mut s: tokio::net::TcpStream,
    within: Duration,
) -> Result<Option<u16>, &'static str> {
    let mut got = Vec::new();
    let read = async {
        let mut buf = [0u8; 1024];
        loop {
            match s.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
            if got.windows(2).any(|w| w == b"\r\n") {
                return;
            }
        }
    };
    tokio::time::timeout(within, read)
        .await
        .map_err(|_| "no answer in time")?;
    Ok(String::from_utf8_lossy(&got)
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_route_waits_for_a_slow_client_and_every_body_is_limited() {
    let dir = tempfile::tempdir().unwrap();
    let srv = start(
        dir.path(),
        "[server]\nrequest_timeout = \"1s\"\nmax_body_bytes = 2048\n",
    );
    let doc: Value = srv.get_public_json("/api/v1/openapi.json").await;
    let routes: Vec<_> = ROUTES
        .iter()
        .filter(|r| matches!(r.verb, Verb::Post | Verb::Put))
        // Logging out would end the admin session the other requests use.
        .filter(|r| r.path != "/api/v1/logout")
        .collect();

    // Headers that never end: the connection is closed after request_timeout (without
    // the header timeout it would be held for ever).
    let mut s = tokio::net::TcpStream::connect(srv.addr()).await.unwrap();
    s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        .await
        .unwrap();
    let answer = status_within(s, Duration::from_secs(10)).await;
    assert!(answer.is_ok(), "slow headers held the connection");

    // A body that never arrives: every route answers within the timeout (408 where
    // the handler reads the body; at once where it does not need one).
    let slow = join_all(routes.iter().map(|r| {
        let path = fill(r.path);
        let head = head(&srv, r.verb, &path, 100);
        let addr = srv.addr().to_string();
        async move {
            let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
            s.write_all(head.as_bytes()).await.unwrap();
            s.write_all(b"{\"a\":").await.unwrap();
            (path, status_within(s, Duration::from_secs(10)).await)
        }
    }))
    .await;
    for (path, answer) in &slow {
        match answer {
            Ok(Some(status)) => assert_ne!(*status, 500, "{path}"),
            other => panic!("{path}: {other:?}"),
        }
    }
    assert!(
        slow.iter().filter(|(_, a)| *a == Ok(Some(408))).count() > 10,
        "{slow:?}"
    );

    // A body over max_body_bytes: 413 on every route that takes one (as documented).
    let big = format!("{{{}}}", " ".repeat(2048));
    for r in &routes {
        let path = fill(r.path);
        let documented = doc["paths"][r.path][r.verb.method().as_str().to_lowercase()]
            .get("requestBody")
            .is_some();
        let mut s = tokio::net::TcpStream::connect(srv.addr()).await.unwrap();
        s.write_all(head(&srv, r.verb, &path, big.len()).as_bytes())
            .await
            .unwrap();
        // The server may answer before it read the whole body.
        let _ = s.write_all(big.as_bytes()).await;
        let status = status_within(s, Duration::from_secs(10)).await;
        if documented {
            assert_eq!(status, Ok(Some(413)), "{} {path}", r.verb.method());
        } else {
            assert_ne!(status, Ok(Some(500)), "{} {path}", r.verb.method());
        }
    }
}
