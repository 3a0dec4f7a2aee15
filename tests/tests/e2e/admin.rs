//! The admin API on the real binary: bad input to every admin endpoint is refused with
//! a problem document and changes nothing; a service added by the admin is on the
//! kiosk at once; every staff action lands in the audit log, which holds no visitor data.

use std::time::Duration;

use lotse_tests::{Server, client};
use serde_json::{Value, json};

const SECTIONS: [&str; 6] = [
    "services",
    "counters",
    "scanning",
    "retention",
    "privacy-notices",
    "case-system",
];

async fn all_settings(srv: &Server) -> Vec<Value> {
    let mut out = Vec::new();
    for s in SECTIONS {
        out.push(srv.get_json(&format!("/api/v1/admin/{s}")).await);
    }
    out
}

async fn put(srv: &Server, section: &str, body: Value) -> reqwest::Response {
    client()
        .put(srv.url(&format!("/api/v1/admin/{section}")))
        .json(&body)
        .send()
        .await
        .unwrap()
}

async fn audit(srv: &Server) -> Vec<Value> {
    srv.get_json("/api/v1/admin/audit?limit=1000")
        .await
        .as_array()
        .unwrap()
        .clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_admin_input_is_refused_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let srv = Server::start(dir.path());
    let before = all_settings(&srv).await;
    let services_before = srv.get_json("/api/v1/services").await;
    let audit_before = audit(&srv).await.len();
    let service = |id: &str, prefix: &str| json!({"id": id, "prefix": prefix});
    let cases: Vec<(&str, Value, u16, &str)> = vec![
        ("services", json!([]), 422, "invalid-setting"),
        ("services", json!({"id": "x"}), 422, "invalid-body"),
        (
            "services",
            json!([service("general", "G"), service("Bad Id", "g1")]),
            422,
            "invalid-setting",
        ),
        (
            "services",
            json!([service("general", "G"), service("x", "G")]),
            422,
            "invalid-setting",
        ),
        (
            "services",
            json!([{"id": "general", "prefix": "G", "colour": "red"}]),
            422,
            "invalid-body",
        ),
        (
            // Counters serve "residence", which this list drops.
            "services",
            json!([service("general", "G")]),
            422,
            "invalid-setting",
        ),
        ("counters", json!([]), 422, "invalid-setting"),
        (
            "counters",
            json!([{"id": "c1", "name": "Schalter 1", "services": ["nope"]}]),
            422,
            "invalid-setting",
        ),
        (
            // c2 has a desk button wired in the configuration.
            "counters",
            json!([{"id": "c1", "name": "Schalter 1", "services": ["general"]}]),
            422,
            "invalid-setting",
        ),
        ("scanning", json!({"passport": "yes"}), 422, "invalid-body"),
        (
            "scanning",
            json!({"driving_licence": true}),
            422,
            "invalid-body",
        ),
        (
            "retention",
            json!({"personal_data_days_after_delivery": 1, "max_days": 365, "technical_days": 400}),
            422,
            "invalid-setting",
        ),
        (
            "retention",
            json!({"personal_data_days_after_delivery": 30, "max_days": 7, "technical_days": 400}),
            422,
            "invalid-setting",
        ),
        (
            "retention",
            json!({"personal_data_days_after_delivery": -1, "max_days": 7, "technical_days": 400}),
            422,
            "invalid-body",
        ),
        (
            "privacy-notices",
            json!({"xx": "Hallo"}),
            422,
            "invalid-setting",
        ),
        (
            "privacy-notices",
            json!({"de": "a".repeat(8001)}),
            422,
            "invalid-setting",
        ),
        ("privacy-notices", json!(["de"]), 422, "invalid-body"),
        (
            "case-system",
            json!({"url": "ftp://fallakte", "enabled": true}),
            422,
            "invalid-setting",
        ),
        (
            "case-system",
            json!({"url": "https://fallakte.example", "enabled": true, "secret": "plain"}),
            422,
            "invalid-setting",
        ),
        (
            "case-system",
            json!({"url": "https://fallakte.example", "enabled": true}),
            422,
            "invalid-setting",
        ),
    ];
    for (section, body, status, kind) in cases {
        let text = body.to_string();
        let r = put(&srv, section, body).await;
        assert_eq!(r.status().as_u16(), status, "{section} {text}");
        assert_eq!(
            r.headers()["content-type"].to_str().unwrap(),
            "application/problem+json"
        );
        let p: Value = r.json().await.unwrap();
        assert_eq!(
            p["type"],
            format!("urn:lotse:problem:{kind}"),
            "{section} {text}: {p}"
        );
        assert!(!p["detail"].as_str().unwrap().is_empty());
    }
    // Not JSON at all.
    let r = client()
        .put(srv.url("/api/v1/admin/retention"))
        .header("content-type", "application/json")
        .body("{max_days: 3")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    for q in [
        "limit=0",
        "limit=5000",
        "from=yesterday",
        "from=2026-03-02T10:00:00Z&to=2026-03-01T10:00:00Z",
    ] {
        let r = client()
            .get(srv.url(&format!("/api/v1/admin/audit?{q}")))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400, "{q}");
    }
    // A removed service with open tickets is a conflict.
    srv.check_in("housing", "fa").await;
    let mut list = before[0].as_array().unwrap().clone();
    list.retain(|s| s["id"] != "housing");
    let counters: Vec<Value> = before[1]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            let mut c = c.clone();
            let s: Vec<Value> = c["services"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|s| *s != "housing")
                .cloned()
                .collect();
            c["services"] = json!(s);
            c
        })
        .collect();
    let r = put(&srv, "counters", json!(counters)).await;
    assert_eq!(r.status(), 200, "counters without housing are fine");
    let r = put(&srv, "services", json!(list)).await;
    assert_eq!(r.status(), 409);
    let p: Value = r.json().await.unwrap();
    assert_eq!(p["type"], "urn:lotse:problem:setting-conflict");

    let mut after = all_settings(&srv).await;
    // Only the counters changed (on purpose, above).
    after[1] = before[1].clone();
    assert_eq!(after, before);
    assert_eq!(
        srv.get_json("/api/v1/services")
            .await
            .as_array()
            .unwrap()
            .len(),
        services_before.as_array().unwrap().len()
    );
    let changes: Vec<Value> = audit(&srv)
        .await
        .into_iter()
        .filter(|e| e["action"] == "setting.changed")
        .collect();
    assert_eq!(
        changes.len(),
        1,
        "only the accepted change is logged: {changes:?}"
    );
    assert_eq!(audit_before, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_service_added_by_the_admin_is_on_the_kiosk_and_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let mut srv = Server::start(dir.path());
    let mut services = srv.get_json("/api/v1/admin/services").await;
    services.as_array_mut().unwrap().push(json!({
        "id": "family",
        "prefix": "F",
        "icon": "general",
        "default_minutes": 20,
        "name": {"de": "Familie", "en": "Family", "ar": "الأسرة"}
    }));
    let r = put(&srv, "services", services).await;
    assert_eq!(r.status(), 200);
    let kiosk = srv.get_json("/api/v1/services").await;
    let family = kiosk
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == "family")
        .expect("the new service is on the kiosk");
    assert_eq!(family["name"]["en"], "Family");
    let t = srv.check_in("family", "ar").await;
    assert_eq!(t["number"], "F-001");
    // A counter takes it over and calls it.
    let mut counters = srv.get_json("/api/v1/admin/counters").await;
    counters[2]["services"]
        .as_array_mut()
        .unwrap()
        .push(json!("family"));
    counters[2]["room"] = json!("Raum 7");
    assert_eq!(put(&srv, "counters", counters).await.status(), 200);
    let c3 = srv.get_json("/api/v1/counters").await[2].clone();
    assert_eq!(c3["room"], "Raum 7");
    assert!(
        c3["services"]
            .as_array()
            .unwrap()
            .contains(&json!("family"))
    );

    // ID scanning and privacy notices reach the kiosk's configuration.
    let r = put(&srv, "scanning", json!({"passport": true, "visa": true})).await;
    assert_eq!(r.status(), 200);
    let r = put(
        &srv,
        "privacy-notices",
        json!({"de": "Hinweis", "uk": "Повідомлення", "en": ""}),
    )
    .await;
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.json::<Value>().await.unwrap(),
        json!({"de": "Hinweis", "uk": "Повідомлення"})
    );
    let ui = srv.get_json("/api/v1/config/ui").await;
    assert_eq!(ui["id_scan"]["enabled"], true);
    assert_eq!(ui["id_scan"]["documents"], json!(["passport", "visa"]));
    assert_eq!(ui["id_scan"]["privacy_notices"]["uk"], "Повідомлення");
    assert_eq!(ui["privacy"]["retention_days"], 90);
    let r = put(
        &srv,
        "retention",
        json!({"personal_data_days_after_delivery": 1, "max_days": 60, "technical_days": 400}),
    )
    .await;
    assert_eq!(r.status(), 200);
    let ui = srv.get_json("/api/v1/config/ui").await;
    assert_eq!(
        ui["privacy"]["retention_days"], 60,
        "the kiosk's notice says 60 days"
    );

    // The secret is write-only.
    let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    let r = put(
        &srv,
        "case-system",
        json!({"url": "https://fallakte.example/lotse", "enabled": true, "secret": secret}),
    )
    .await;
    assert_eq!(r.status(), 200);
    let text = r.text().await.unwrap();
    assert!(!text.contains("MfKQ9r8"), "{text}");
    let view = srv.get_json("/api/v1/admin/case-system").await;
    assert_eq!(view["secret_set"], true);
    assert_eq!(view["url"], "https://fallakte.example/lotse");
    assert!(
        !audit(&srv)
            .await
            .iter()
            .any(|e| e.to_string().contains("MfKQ9r8"))
    );

    // Overrides are in the database, so they survive a restart.
    srv.restart();
    let kiosk = srv.get_json("/api/v1/services").await;
    assert!(
        kiosk
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["id"] == "family")
    );
    let c3 = srv.get_json("/api/v1/counters").await[2].clone();
    assert_eq!(c3["room"], "Raum 7");
    let health = srv.get_json("/healthz").await;
    assert!(
        health["components"]["case_system"]["detail"]
            .as_str()
            .unwrap()
            .contains("push"),
        "{health}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_staff_action_is_audited_without_visitor_data() {
    let dir = tempfile::tempdir().unwrap();
    let srv = Server::start(dir.path());
    let c = client();
    let post = |path: String| {
        let c = c.clone();
        let url = srv.url(&path);
        async move {
            let r = c.post(url).send().await.unwrap();
            assert!(r.status().is_success(), "{path}: {}", r.status());
        }
    };
    let a = srv.check_in("residence", "ar").await;
    let a_id = a["id"].as_i64().unwrap();
    {
        let conn = rusqlite::Connection::open(dir.path().join("lotse.db")).unwrap();
        conn.busy_timeout(Duration::from_secs(5)).unwrap();
        conn.execute(
            "INSERT INTO visitor_data (ticket_id, surname, given_names, birth_date, nationality, consent_at)
             VALUES (?1, 'Haddad', 'Mariam', '1992-07-15', 'SYR', 1)",
            [a_id],
        )
        .unwrap();
        conn.execute(
            "UPDATE tickets SET appointment_ref = 'KIM-TERMIN-8841' WHERE id = ?1",
            [a_id],
        )
        .unwrap();
    }
    let b = srv.check_in("residence", "de").await;
    let b_id = b["id"].as_i64().unwrap();
    let d = srv.check_in("general", "de").await;
    let d_id = d["id"].as_i64().unwrap();
    post("/api/v1/counters/c1/call-next".into()).await; // a
    post(format!("/api/v1/tickets/{a_id}/recall")).await;
    post(format!("/api/v1/tickets/{a_id}/start")).await;
    post(format!("/api/v1/tickets/{a_id}/done")).await;
    post("/api/v1/counters/c1/call-next".into()).await; // b
    post(format!("/api/v1/tickets/{b_id}/no-show")).await;
    let r = c
        .post(srv.url(&format!("/api/v1/tickets/{d_id}/transfer")))
        .json(&json!({"service": "work"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let moved = r.json::<Value>().await.unwrap()["id"].as_i64().unwrap();
    post(format!("/api/v1/tickets/{moved}/cancel")).await;
    post("/api/v1/counters/c2/pause".into()).await;
    post("/api/v1/counters/c2/resume".into()).await;
    let r = put(
        &srv,
        "retention",
        json!({"personal_data_days_after_delivery": 0, "max_days": 30, "technical_days": 400}),
    )
    .await;
    assert_eq!(r.status(), 200);
    post("/api/v1/admin/retention/purge".into()).await;
    // The desk button of counter c1 (BCM 5, simulated): a call by "button:c1".
    let e = srv.check_in("general", "de").await;
    for level in ["low", "high"] {
        let r = c
            .post(srv.url("/api/v1/sim/gpio/5"))
            .json(&json!({"level": level}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
    let log = lotse_tests::wait_for(
        "the button's call in the log",
        Duration::from_secs(10),
        || {
            let srv = &srv;
            async move {
                let log = audit(srv).await;
                log.iter().any(|x| x["actor"] == "button:c1").then_some(log)
            }
        },
    )
    .await;

    let actions: Vec<(String, String, String)> = log
        .iter()
        .rev()
        .map(|e| {
            (
                e["actor"].as_str().unwrap().to_string(),
                e["action"].as_str().unwrap().to_string(),
                e["target"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let a_num = a["number"].as_str().unwrap();
    let expect = [
        (
            "unknown",
            "ticket.called",
            format!("ticket {a_num} (#{a_id})"),
        ),
        (
            "unknown",
            "ticket.recalled",
            format!("ticket {a_num} (#{a_id})"),
        ),
        (
            "unknown",
            "ticket.started",
            format!("ticket {a_num} (#{a_id})"),
        ),
        (
            "unknown",
            "ticket.done",
            format!("ticket {a_num} (#{a_id})"),
        ),
        (
            "unknown",
            "ticket.called",
            format!("ticket {} (#{b_id})", b["number"].as_str().unwrap()),
        ),
        (
            "unknown",
            "ticket.no_show",
            format!("ticket {} (#{b_id})", b["number"].as_str().unwrap()),
        ),
        (
            "unknown",
            "ticket.transferred",
            format!("ticket {} (#{d_id})", d["number"].as_str().unwrap()),
        ),
        (
            "unknown",
            "ticket.cancelled",
            format!("ticket {} (#{moved})", d["number"].as_str().unwrap()),
        ),
        ("unknown", "counter.paused", "counter c2".to_string()),
        ("unknown", "counter.resumed", "counter c2".to_string()),
        (
            "unknown",
            "setting.changed",
            "setting retention".to_string(),
        ),
        ("unknown", "retention.purged", "personal data".to_string()),
        (
            "button:c1",
            "ticket.called",
            format!("ticket {} (#{})", e["number"].as_str().unwrap(), e["id"]),
        ),
    ];
    let expect: Vec<(String, String, String)> = expect
        .into_iter()
        .map(|(a, b, c)| (a.to_string(), b.to_string(), c))
        .collect();
    assert_eq!(actions, expect);
    let text = Value::Array(log).to_string();
    for n in ["Haddad", "Mariam", "1992-07-15", "SYR", "KIM-TERMIN-8841"] {
        assert!(!text.contains(n), "{n} in the audit log: {text}");
    }
    // The time filter.
    let future = srv
        .get_json("/api/v1/admin/audit?from=2100-01-01T00:00:00Z")
        .await;
    assert_eq!(future, json!([]));
}
