//! A visit from check-in to done over HTTP, and SSE replay after a reconnect.

use std::time::Duration;

use lotse_tests::{Server, SseReader};
use serde_json::{Value, json};

#[tokio::test]
async fn visit_end_to_end_with_live_events_and_replay() {
    let dir = tempfile::tempdir().unwrap();
    let srv = Server::start(dir.path());
    let c = srv.client();

    let services: Value = srv.get_json("/api/v1/services").await;
    let ids: Vec<&str> = services
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap())
        .collect();
    assert!(ids.len() >= 4, "{ids:?}");
    let counters: Value = srv.get_json("/api/v1/counters").await;
    assert!(counters.as_array().unwrap().len() >= 3);
    assert!(
        counters[0]["services"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s == "residence")
    );

    let mut sse = SseReader::connect(&srv.base, None).await;

    let r = c
        .post(srv.url("/api/v1/checkins"))
        .json(&json!({"service": "residence", "language": "uk"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let t: Value = r.json().await.unwrap();
    for key in [
        "id",
        "number",
        "service",
        "status",
        "position",
        "estimated_wait_minutes",
    ] {
        assert!(t.get(key).is_some(), "ticket lacks {key}: {t}");
    }
    assert_eq!(t["number"], "A-001");
    assert_eq!(t["status"], "waiting");
    assert_eq!(t["position"], 0);
    let id = t["id"].as_i64().unwrap();

    let created = sse
        .next(Duration::from_secs(5))
        .await
        .expect("created event");
    assert_eq!(created.event.as_deref(), Some("ticket.created"));
    assert_eq!(created.data["ticket"]["number"], "A-001");
    assert_eq!(created.data["waiting"]["residence"], 1);
    let created_id = created.id.clone().unwrap();

    let called: Value = srv.post_json("/api/v1/counters/c1/call-next").await;
    assert_eq!(called["id"], id);
    assert_eq!(called["status"], "called");
    assert_eq!(called["room"], "Raum 101");
    let ev = sse
        .next(Duration::from_secs(5))
        .await
        .expect("called event");
    assert_eq!(ev.event.as_deref(), Some("ticket.called"));
    assert_eq!(ev.data["ticket"]["room"], "Raum 101");

    // The display goes away; meanwhile the visit continues.
    drop(sse);
    for action in ["recall", "start", "done"] {
        let r = c
            .post(srv.url(&format!("/api/v1/tickets/{id}/{action}")))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{action}");
    }
    let r = c
        .post(srv.url("/api/v1/counters/c1/call-next"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204, "nobody waits");

    // Reconnecting with Last-Event-ID replays exactly what was missed, in order.
    let mut sse = SseReader::connect(&srv.base, Some(&created_id)).await;
    let mut kinds = vec![];
    while let Some(ev) = sse.next(Duration::from_millis(500)).await {
        kinds.push(ev.event.unwrap());
    }
    assert_eq!(
        kinds,
        [
            "ticket.called",
            "ticket.recalled",
            "ticket.started",
            "ticket.done"
        ]
    );

    let q: Value = srv.get_json("/api/v1/queue").await;
    assert_eq!(q["tickets"].as_array().unwrap().len(), 0);

    let t: Value = c
        .get(srv.url(&format!("/api/v1/tickets/{id}")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(t["status"], "done");
    assert_eq!(t["call_count"], 2);
}

#[tokio::test]
async fn transfer_no_show_cancel_pause_and_openapi() {
    let dir = tempfile::tempdir().unwrap();
    let srv = Server::start(dir.path());
    let c = srv.client();
    let checkin = |service: &'static str| {
        let c = c.clone();
        let url = srv.url("/api/v1/checkins");
        async move {
            let r = c
                .post(url)
                .json(&json!({"service": service, "language": "ar"}))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 201);
            r.json::<Value>().await.unwrap()
        }
    };
    let a = checkin("residence").await;
    let b = checkin("general").await;
    let r: Value = c
        .post(srv.url(&format!("/api/v1/tickets/{}/transfer", a["id"])))
        .json(&json!({"service": "work"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(r["number"], "A-001");
    assert_eq!(r["service"], "work");
    assert_eq!(r["transferred_from"], a["id"]);

    let r = c
        .post(srv.url(&format!("/api/v1/tickets/{}/cancel", b["id"])))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    let called: Value = srv.post_json("/api/v1/counters/c2/call-next").await;
    assert_eq!(called["number"], "A-001");
    let r: Value = srv
        .post_json(&format!("/api/v1/tickets/{}/no-show", called["id"]))
        .await;
    assert_eq!(r["status"], "no_show");

    let r = c
        .post(srv.url("/api/v1/counters/c3/pause"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    checkin("general").await;
    let r = c
        .post(srv.url("/api/v1/counters/c3/call-next"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 409);
    let r: Value = srv.post_json("/api/v1/counters/c3/resume").await;
    assert_eq!(r["paused"], false);

    let doc: Value = srv.get_json("/api/v1/openapi.json").await;
    let paths = doc["paths"].as_object().unwrap();
    for p in [
        "/api/v1/checkins",
        "/api/v1/counters/{id}/call-next",
        "/api/v1/tickets/{id}/transfer",
        "/api/v1/events",
        "/healthz",
    ] {
        assert!(paths.contains_key(p), "OpenAPI lacks {p}");
    }

    let h: Value = srv.get_json("/healthz").await;
    assert_eq!(h["status"], "ok");
    assert_eq!(h["components"]["database"]["status"], "ok");
}
