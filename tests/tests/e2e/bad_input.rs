//! Bad input gets a 4xx problem document and changes nothing.

use lotse_tests::Server;
use serde_json::{Value, json};

async fn snapshot(srv: &Server) -> (Value, Value) {
    let q: Value = srv.get_json("/api/v1/queue").await;
    let s: Value = srv.get_json("/api/v1/services").await;
    (q["tickets"].clone(), s)
}

async fn expect_problem(r: reqwest::Response, status: u16, kind: &str) {
    assert_eq!(r.status().as_u16(), status);
    assert_eq!(
        r.headers()["content-type"].to_str().unwrap(),
        "application/problem+json"
    );
    let p: Value = r.json().await.unwrap();
    assert_eq!(p["type"], format!("urn:lotse:problem:{kind}"), "{p}");
    assert_eq!(p["status"], status);
    assert!(p["title"].is_string() && p["detail"].is_string());
}

#[tokio::test]
async fn refused_requests_change_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let srv = Server::start(dir.path());
    let c = srv.client();
    let r = c
        .post(srv.url("/api/v1/checkins"))
        .json(&json!({"service": "general", "language": "tr"}))
        .send()
        .await
        .unwrap();
    let t: Value = r.json().await.unwrap();
    let id = t["id"].as_i64().unwrap();
    let before = snapshot(&srv).await;
    let checkins = srv.url("/api/v1/checkins");

    let cases: Vec<(reqwest::RequestBuilder, u16, &str)> = vec![
        (
            c.post(&checkins)
                .json(&json!({"service": "nope", "language": "de"})),
            422,
            "unknown-service",
        ),
        (
            c.post(&checkins)
                .json(&json!({"service": "general", "language": "xx"})),
            422,
            "unknown-language",
        ),
        (
            c.post(&checkins).json(&json!({"service": "general"})),
            422,
            "invalid-body",
        ),
        (
            c.post(&checkins)
                .json(&json!({"service": 7, "language": "de"})),
            422,
            "invalid-body",
        ),
        (
            c.post(&checkins)
                .json(&json!({"service": "general", "language": "de", "name": "X"})),
            422,
            "invalid-body",
        ),
        (
            c.post(&checkins)
                .header("content-type", "application/json")
                .body("{\"service\": "),
            400,
            "malformed-json",
        ),
        (
            c.post(&checkins).body("service=general"),
            415,
            "unsupported-media-type",
        ),
        (
            c.post(&checkins)
                // The server answers before reading the whole body and closes the connection.
                .header("connection", "close")
                .header("content-type", "application/json")
                .body(format!(
                    "{{\"service\":\"general\",\"language\":\"de\",\"pad\":\"{}\"}}",
                    "x".repeat(100_000)
                )),
            413,
            "body-too-large",
        ),
        (
            c.post(srv.url(&format!("/api/v1/tickets/{id}/done"))),
            409,
            "illegal-transition",
        ),
        (
            c.post(srv.url(&format!("/api/v1/tickets/{id}/no-show"))),
            409,
            "illegal-transition",
        ),
        (
            c.post(srv.url("/api/v1/tickets/99999/start")),
            404,
            "unknown-ticket",
        ),
        (
            c.post(srv.url("/api/v1/tickets/abc/start")),
            400,
            "invalid-path",
        ),
        (
            c.post(srv.url("/api/v1/counters/nope/call-next")),
            404,
            "unknown-counter",
        ),
        (
            c.post(srv.url(&format!("/api/v1/tickets/{id}/transfer")))
                .json(&json!({"service": "general"})),
            422,
            "same-service",
        ),
        (
            c.post(srv.url(&format!("/api/v1/tickets/{id}/transfer")))
                .json(&json!({"service": "mars"})),
            422,
            "unknown-service",
        ),
        (c.get(srv.url("/api/v1/nothing-here")), 404, "not-found"),
        (
            c.post(&checkins)
                .header("Idempotency-Key", "")
                .json(&json!({"service": "general", "language": "de"})),
            400,
            "bad-request",
        ),
    ];
    for (req, status, kind) in cases {
        expect_problem(req.send().await.unwrap(), status, kind).await;
    }
    assert_eq!(
        snapshot(&srv).await,
        before,
        "a refused request changed the queue"
    );
}
