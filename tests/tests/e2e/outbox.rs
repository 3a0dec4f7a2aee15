//! Forwarding visits to the case-management system: the real `lotse` pushing to the
//! reference receiver (`lotse_tests::receiver`) on loopback through outages, errors,
//! 429, 410, timeouts, resets and a `kill -9`; the pull feed; signatures checked by
//! an independent implementation (the `standardwebhooks` package from PyPI); no
//! personal data without consent. Short retry settings keep the outage scenarios
//! to seconds; `server/src/outbox/tests.rs` runs days of outage in virtual time.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use lotse_tests::receiver::{Fault, Receiver, TestPki, test_secret};
use lotse_tests::{Server, client, lotse_bin};
use serde_json::{Value, json};

const TOKEN: &str = "feed-token-0123456789";

/// A `lotse demo` with a `[case_system]` section; the directory holds data and config.
fn start(body: &str) -> (tempfile::TempDir, Server, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("case.toml");
    std::fs::write(&config, format!("[case_system]\n{body}")).unwrap();
    let data = dir.path().join("data");
    let srv = Server::start_with(&data, &["--config", config.to_str().unwrap()]);
    (dir, srv, config)
}

fn push_config(r: &Receiver, extra: &str) -> String {
    format!(
        "url = \"{}\"\nsecret = \"{}\"\nfeed_token = \"{TOKEN}\"\nretry_initial = \"100ms\"\nretry_max = \"1s\"\n{extra}",
        r.url(),
        test_secret(1)
    )
}

async fn receiver() -> Receiver {
    Receiver::start(&[&test_secret(1)], None).await
}

async fn check_in(c: &reqwest::Client, srv: &Server, service: &str) -> Value {
    let r = c
        .post(srv.url("/api/v1/checkins"))
        .json(&json!({"service": service, "language": "ar"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    r.json().await.unwrap()
}

/// A staff POST: as the demo admin, whatever client the test holds.
async fn post(_c: &reqwest::Client, srv: &Server, path: &str) -> reqwest::Response {
    srv.client().post(srv.url(path)).send().await.unwrap()
}

/// Every event of the pull feed, oldest first, with its cursor.
async fn feed_all(c: &reqwest::Client, srv: &Server) -> Vec<(i64, Value)> {
    let mut out = Vec::new();
    let mut after = 0;
    loop {
        let page: Value = c
            .get(srv.url(&format!("/api/v1/feed?after={after}&limit=1000")))
            .bearer_auth(TOKEN)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let events = page["events"].as_array().unwrap();
        if events.is_empty() {
            return out;
        }
        for e in events {
            out.push((e["cursor"].as_i64().unwrap(), e["event"].clone()));
        }
        after = page["next_cursor"].as_i64().unwrap();
    }
}

fn validator() -> jsonschema::Validator {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../docs/case-system-event.schema.json"
    );
    let schema: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    jsonschema::validator_for(&schema).unwrap()
}

fn assert_valid(v: &jsonschema::Validator, event: &Value) {
    let errors: Vec<String> = v.iter_errors(event).map(|e| e.to_string()).collect();
    assert!(errors.is_empty(), "{errors:#?}\n{event:#}");
}

async fn get_json(_c: &reqwest::Client, srv: &Server, path: &str) -> Value {
    srv.client()
        .get(srv.url(path))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// `/metrics` as the demo admin (monitoring tokens are tested in auth.rs).
async fn metrics(_c: &reqwest::Client, srv: &Server) -> HashMap<String, f64> {
    let text = srv
        .client()
        .get(srv.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let (k, v) = l.split_once(' ')?;
            Some((k.to_string(), v.trim().parse().ok()?))
        })
        .collect()
}

/// The receiver stored exactly the feed's events, each once, in order per visit.
fn assert_delivered_once_in_order(r: &Receiver, feed: &[(i64, Value)]) {
    let log = r.log();
    let unique: HashSet<&String> = log.order.iter().collect();
    assert_eq!(unique.len(), log.order.len(), "an id was stored twice");
    let expected: HashSet<String> = feed
        .iter()
        .map(|(_, e)| e["id"].as_str().unwrap().to_string())
        .collect();
    let stored: HashSet<String> = log.order.iter().cloned().collect();
    assert_eq!(stored, expected, "stored events differ from the feed");
    assert_eq!(log.bad_signatures, 0);
    let cursor: HashMap<&str, (i64, &str)> = feed
        .iter()
        .map(|(c, e)| {
            (
                e["id"].as_str().unwrap(),
                (*c, e["data"]["visit_id"].as_str().unwrap()),
            )
        })
        .collect();
    let mut last: HashMap<&str, i64> = HashMap::new();
    for id in &log.order {
        let (c, visit) = cursor[id.as_str()];
        if let Some(prev) = last.insert(visit, c) {
            assert!(prev < c, "visit {visit}: event {c} arrived after {prev}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn receiver_down_during_1000_visits_then_every_event_arrives_once() {
    let t0 = Instant::now();
    let r = Arc::new(receiver().await);
    r.down();
    let (_dir, srv, _) = start(&push_config(&r, ""));
    let c = srv.client();

    // 1,000 check-ins from 16 kiosks while the case system is unreachable.
    let mut kiosks = Vec::new();
    for k in 0..16 {
        let c = c.clone();
        let url = srv.url("/api/v1/checkins");
        kiosks.push(tokio::spawn(async move {
            let services = ["residence", "work", "housing", "naturalisation", "general"];
            let mut n = 0;
            for i in (k..1000).step_by(16) {
                let resp = c
                    .post(&url)
                    .json(&json!({"service": services[i % 5], "language": "uk"}))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(resp.status(), 201);
                n += 1;
            }
            n
        }));
    }
    let mut issued = 0;
    for k in kiosks {
        issued += k.await.unwrap();
    }
    assert_eq!(issued, 1000);
    // The desks carry on: calls, completions, no-shows, transfers, cancellations.
    for i in 0..240 {
        let counter = ["c1", "c2", "c3"][i % 3];
        let resp = post(&c, &srv, &format!("/api/v1/counters/{counter}/call-next")).await;
        let t: Value = resp.json().await.unwrap();
        let id = t["id"].as_i64().unwrap();
        match i % 5 {
            0 => {
                post(&c, &srv, &format!("/api/v1/tickets/{id}/start")).await;
                post(&c, &srv, &format!("/api/v1/tickets/{id}/done")).await;
            }
            1 => {
                post(&c, &srv, &format!("/api/v1/tickets/{id}/no-show")).await;
            }
            2 => {
                let to = if t["service"] == "general" {
                    "work"
                } else {
                    "general"
                };
                c.post(srv.url(&format!("/api/v1/tickets/{id}/transfer")))
                    .json(&json!({ "service": to }))
                    .send()
                    .await
                    .unwrap();
            }
            3 => {
                post(&c, &srv, &format!("/api/v1/tickets/{id}/cancel")).await;
            }
            _ => {
                post(&c, &srv, &format!("/api/v1/tickets/{id}/recall")).await;
            }
        }
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let health = get_json(&c, &srv, "/healthz").await;
    let cs = &health["components"]["case_system"];
    assert!(cs["detail"].as_str().unwrap().contains("refused"), "{cs}");
    assert_eq!(r.stored(), 0);
    let feed = feed_all(&c, &srv).await;
    assert!(feed.len() > 1400, "{} events", feed.len());
    let m = metrics(&c, &srv).await;
    assert_eq!(m["lotse_outbox_backlog"], feed.len() as f64);

    let outage_end = Instant::now();
    r.up().await;
    let all = feed.len();
    assert!(
        r.wait_until(Duration::from_secs(60), |l| l.order.len() >= all)
            .await,
        "only {} of {all} events arrived",
        r.stored()
    );
    let drained = outage_end.elapsed();
    assert_delivered_once_in_order(&r, &feed);
    let v = validator();
    for (_, e) in &feed {
        assert_valid(&v, e);
    }
    // The receiver got the same bytes the feed serves.
    let log = r.log();
    let (_, first) = &feed[0];
    let got: Value =
        serde_json::from_slice(&log.events[first["id"].as_str().unwrap()].body).unwrap();
    assert_eq!(&got, first);

    let m = lotse_tests::wait_for("backlog 0", Duration::from_secs(10), || {
        let c = c.clone();
        let srv_url = srv.url("");
        async move {
            let text = c
                .get(format!("{srv_url}/metrics"))
                .send()
                .await
                .ok()?
                .text()
                .await
                .ok()?;
            text.contains("lotse_outbox_backlog 0\n").then_some(text)
        }
    })
    .await;
    assert!(
        m.contains(&format!("lotse_outbox_delivered_total {all}\n")),
        "{m}"
    );
    let health = get_json(&c, &srv, "/healthz").await;
    assert_eq!(
        health["components"]["case_system"]["status"], "ok",
        "{health}"
    );
    eprintln!(
        "outage test: {all} events, drained in {:.1} s after recovery, {} duplicates on the wire, {:.1} s in all",
        drained.as_secs_f64(),
        log.duplicates,
        t0.elapsed().as_secs_f64()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_errors_and_connection_resets_are_retried() {
    let r = receiver().await;
    r.script(Fault::Status(500), 6);
    r.script(Fault::Reset, 4);
    r.script(Fault::Status(502), 2);
    r.script(Fault::Status(400), 2);
    let (_dir, srv, _) = start(&push_config(&r, ""));
    let c = srv.client();
    for _ in 0..20 {
        check_in(&c, &srv, "work").await;
    }
    assert!(
        r.wait_until(Duration::from_secs(30), |l| l.order.len() >= 20)
            .await,
        "{} stored",
        r.stored()
    );
    let feed = feed_all(&c, &srv).await;
    assert_eq!(feed.len(), 20);
    assert_delivered_once_in_order(&r, &feed);
    assert!(r.requests() >= 34, "{} requests", r.requests());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_after_of_a_429_is_honoured() {
    let r = receiver().await;
    r.script(Fault::TooMany(2), 1);
    let (_dir, srv, _) = start(&push_config(&r, ""));
    let c = srv.client();
    check_in(&c, &srv, "housing").await;
    assert!(
        r.wait_until(Duration::from_secs(15), |l| l.order.len() == 1)
            .await
    );
    let log = r.log();
    assert_eq!(log.requests.len(), 2, "{:?}", log.requests);
    assert_eq!(log.requests[0].fault, Fault::TooMany(2));
    let waited = log.requests[1].at - log.requests[0].at;
    assert!(
        waited >= Duration::from_millis(1900),
        "retried after {waited:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gone_switches_delivery_off_until_enabled() {
    let r = receiver().await;
    r.set_mode(Fault::Gone);
    let (_dir, srv, _) = start(&push_config(&r, ""));
    let c = srv.client();
    for _ in 0..3 {
        check_in(&c, &srv, "general").await;
    }
    assert!(
        r.wait_until(Duration::from_secs(10), |l| !l.requests.is_empty())
            .await
    );
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let seen = r.requests();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(r.requests(), seen, "kept sending after 410");
    assert!(seen <= 3, "{seen} requests");
    let health = get_json(&c, &srv, "/healthz").await;
    let cs = &health["components"]["case_system"];
    assert_eq!(cs["status"], "degraded", "{cs}");
    assert!(cs["detail"].as_str().unwrap().contains("410"), "{cs}");
    assert_eq!(
        metrics(&c, &srv).await["lotse_outbox_endpoint_disabled"],
        1.0
    );

    r.set_mode(Fault::None);
    let resp = post(&c, &srv, "/api/v1/outbox/enable").await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.json::<Value>().await.unwrap()["was_disabled"], true);
    assert!(
        r.wait_until(Duration::from_secs(10), |l| l.order.len() == 3)
            .await
    );
    assert_eq!(
        metrics(&c, &srv).await["lotse_outbox_endpoint_disabled"],
        0.0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timeouts_and_a_slow_receiver_never_slow_the_kiosk() {
    let r = receiver().await;
    // Longer than lotse's timeout: every attempt hangs for 3 s, then times out.
    r.set_mode(Fault::Delay(Duration::from_secs(10)));
    let (_dir, srv, _) = start(&push_config(&r, "timeout = \"3s\"\n"));
    let c = srv.client();
    let mut slowest = Duration::ZERO;
    for i in 0..40 {
        let t = Instant::now();
        check_in(&c, &srv, ["residence", "work"][i % 2]).await;
        slowest = slowest.max(t.elapsed());
    }
    // Far below the 3 s a check-in would take if it waited for the case system.
    assert!(
        slowest < Duration::from_millis(1500),
        "a check-in took {slowest:?}"
    );
    assert!(r.requests() > 0);
    let health = lotse_tests::wait_for("a timeout", Duration::from_secs(15), || {
        let c = c.clone();
        let url = srv.url("/healthz");
        async move {
            let h: Value = c.get(url).send().await.ok()?.json().await.ok()?;
            let d = h["components"]["case_system"]["detail"]
                .as_str()?
                .to_string();
            d.contains("timed out").then_some(d)
        }
    })
    .await;
    assert!(health.contains("backlog"), "{health}");
    // Stored, but answered after lotse gave up: sent again, stored once. Then slow
    // but within the timeout: everything arrives, each id stored once.
    r.script(Fault::SlowAck(Duration::from_secs(4)), 2);
    r.set_mode(Fault::Delay(Duration::from_millis(150)));
    assert!(
        r.wait_until(Duration::from_secs(30), |l| l.order.len() >= 40)
            .await,
        "{} stored",
        r.stored()
    );
    let feed = feed_all(&c, &srv).await;
    assert_eq!(feed.len(), 40);
    assert_delivered_once_in_order(&r, &feed);
    assert!(r.log().duplicates >= 1, "the late answers caused no resend");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_in_mid_delivery_loses_nothing() {
    let r = receiver().await;
    // Events are stored before the (slow) answer: a kill leaves stored events
    // unmarked in lotse, which sends them again; the receiver keeps one of each.
    r.set_mode(Fault::SlowAck(Duration::from_millis(200)));
    let (dir, mut srv, config) = start(&push_config(&r, ""));
    let c = srv.client();
    let mut kiosks = Vec::new();
    for k in 0..8 {
        let c = c.clone();
        let url = srv.url("/api/v1/checkins");
        kiosks.push(tokio::spawn(async move {
            let service = ["work", "general"][k % 2];
            for _ in 0..40 {
                let resp = c
                    .post(&url)
                    .json(&json!({"service": service, "language": "fa"}))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(resp.status(), 201);
            }
        }));
    }
    for k in kiosks {
        k.await.unwrap();
    }
    let feed = feed_all(&c, &srv).await;
    assert_eq!(feed.len(), 320);
    assert!(
        r.wait_until(Duration::from_secs(30), |l| l.order.len() >= 60)
            .await
    );
    srv.kill9();
    let at_kill = r.stored();
    assert!(at_kill < 320, "everything was delivered before the kill");
    // Requests that were in flight may still complete at the receiver.
    tokio::time::sleep(Duration::from_millis(400)).await;

    let srv = Server::start_with(
        &dir.path().join("data"),
        &["--config", config.to_str().unwrap()],
    );
    assert!(
        r.wait_until(Duration::from_secs(60), |l| l.order.len() >= 320)
            .await,
        "{} of 320 after restart",
        r.stored()
    );
    assert_delivered_once_in_order(&r, &feed);
    assert_eq!(feed_all(&c, &srv).await.len(), 320);
    assert!(
        r.log().duplicates > 0,
        "the kill left no event to send twice"
    );
    eprintln!(
        "kill -9 test: {at_kill} stored before the kill, {} duplicates on the wire",
        r.log().duplicates
    );
}

/// The `standardwebhooks` package (PyPI) verifies what lotse signed, with the
/// current and with the previous secret during a rotation; the reference receiver
/// checks the Ed25519 `v1a` signature with the public key.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signatures_verify_with_the_standardwebhooks_package() {
    let seed = [42u8; 32];
    let public = ed25519_dalek::SigningKey::from_bytes(&seed).verifying_key();
    let new_secret = test_secret(2);
    let old_secret = test_secret(1);
    // A receiver that has not rotated yet: it only knows the old secret.
    let r = Receiver::start(&[&old_secret], Some(public)).await;
    use base64::Engine;
    let sk = base64::engine::general_purpose::STANDARD.encode(seed);
    let (_dir, srv, _) = start(&format!(
        "url = \"{}\"\nsecret = [\"{new_secret}\", \"{old_secret}\"]\nsigning_key = \"whsk_{sk}\"\nretry_initial = \"100ms\"\nretry_max = \"1s\"\n",
        r.url()
    ));
    let c = srv.client();
    check_in(&c, &srv, "naturalisation").await;
    assert!(
        r.wait_until(Duration::from_secs(10), |l| l.order.len() == 1)
            .await,
        "{:?}",
        r.log()
    );
    let log = r.log();
    let ev = &log.events[&log.order[0]];
    let sig = ev
        .headers
        .iter()
        .find(|(k, _)| k == "webhook-signature")
        .map(|(_, v)| v.clone())
        .unwrap();
    assert_eq!(sig.matches("v1,").count(), 2, "{sig}");
    assert_eq!(sig.matches("v1a,").count(), 1, "{sig}");

    let ok = Command::new("python3")
        .args(["-c", "import standardwebhooks"])
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if !ok {
        eprintln!(
            "python3 with standardwebhooks is not installed (tests/run installs it); skipping"
        );
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let body = dir.path().join("body");
    std::fs::write(&body, &ev.body).unwrap();
    let headers: serde_json::Map<String, Value> = ev
        .headers
        .iter()
        .map(|(k, v)| (k.clone(), Value::String(v.clone())))
        .collect();
    let headers_file = dir.path().join("headers.json");
    std::fs::write(&headers_file, Value::Object(headers).to_string()).unwrap();
    for secret in [&new_secret, &old_secret, &test_secret(9)] {
        let out = Command::new("python3")
            .args([
                "-c",
                "import json, sys\n\
                 from standardwebhooks.webhooks import Webhook\n\
                 body = open(sys.argv[1], 'rb').read()\n\
                 headers = json.load(open(sys.argv[2]))\n\
                 print(Webhook(sys.argv[3]).verify(body, headers)['id'])",
            ])
            .arg(&body)
            .arg(&headers_file)
            .arg(secret)
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        if *secret == test_secret(9) {
            assert!(!out.status.success(), "a wrong secret verified");
        } else {
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            assert_eq!(stdout.trim(), log.order[0]);
        }
    }
}

/// Mutual TLS: the receiver requires a client certificate from its CA; lotse
/// presents one and accepts only a receiver certificate from the pinned CA.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mutual_tls_with_a_pinned_ca() {
    let pki = TestPki::generate("case system");
    let other = TestPki::generate("somebody else");
    let r = Receiver::start_tls(&[&test_secret(1)], &pki).await;
    let files = tempfile::tempdir().unwrap();
    let write = |name: &str, pem: &str| {
        let p = files.path().join(name);
        std::fs::write(&p, pem).unwrap();
        p.display().to_string()
    };
    let ca = write("ca.pem", &pki.ca_pem);
    let wrong_ca = write("other-ca.pem", &other.ca_pem);
    let cert = write("client.pem", &pki.client_cert_pem);
    let key = write("client.key", &pki.client_key_pem);
    let base = format!(
        "url = \"{}\"\nsecret = \"{}\"\nretry_initial = \"100ms\"\nretry_max = \"1s\"\n",
        r.url(),
        test_secret(1)
    );
    let c = client();

    let (_d1, srv, _) = start(&format!(
        "{base}client_cert = \"{cert}\"\nclient_key = \"{key}\"\nca = \"{ca}\"\n"
    ));
    check_in(&c, &srv, "work").await;
    assert!(
        r.wait_until(Duration::from_secs(10), |l| l.order.len() == 1)
            .await,
        "{:?}",
        r.log().tls_failures
    );

    // Without a client certificate the receiver refuses the handshake.
    let (_d2, srv2, _) = start(&format!("{base}ca = \"{ca}\"\n"));
    check_in(&c, &srv2, "work").await;
    assert!(
        r.wait_until(Duration::from_secs(10), |l| !l.tls_failures.is_empty())
            .await
    );

    // A receiver certificate from another CA than the pinned one is refused.
    let (_d3, srv3, _) = start(&format!(
        "{base}client_cert = \"{cert}\"\nclient_key = \"{key}\"\nca = \"{wrong_ca}\"\n"
    ));
    check_in(&c, &srv3, "work").await;
    let detail = lotse_tests::wait_for("a certificate error", Duration::from_secs(10), || {
        let c = c.clone();
        let url = srv3.url("/healthz");
        async move {
            let h: Value = c.get(url).send().await.ok()?.json().await.ok()?;
            let d = h["components"]["case_system"]["detail"]
                .as_str()?
                .to_string();
            d.contains("certificate").then_some(d)
        }
    })
    .await;
    assert!(detail.contains("UnknownIssuer"), "{detail}");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        r.stored(),
        1,
        "only the correctly configured appliance delivered"
    );
}

fn insert_visitor(db: &Path, ticket: i64, consent: bool) {
    let conn = rusqlite::Connection::open(db).unwrap();
    conn.busy_timeout(Duration::from_secs(5)).unwrap();
    conn.execute(
        "INSERT INTO visitor_data (ticket_id, surname, given_names, birth_date, nationality, consent_at)
         VALUES (?1, 'Haddad', 'Mariam', '1992-07-15', NULL, ?2)",
        rusqlite::params![ticket, consent.then_some(1_700_000_000_000i64)],
    )
    .unwrap();
    conn.execute(
        "UPDATE tickets SET identification = 'id_document' WHERE id = ?1",
        [ticket],
    )
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn personal_data_only_with_consent() {
    // Pull only: no url, so nothing is pushed and the feed holds everything.
    let (_dir, srv, _) = start(&format!("feed_token = \"{TOKEN}\"\n"));
    let c = srv.client();
    let consented = check_in(&c, &srv, "residence").await["id"]
        .as_i64()
        .unwrap();
    let refused = check_in(&c, &srv, "residence").await["id"]
        .as_i64()
        .unwrap();
    let plain = check_in(&c, &srv, "residence").await["id"]
        .as_i64()
        .unwrap();
    let db = srv.data.join("lotse.db");
    insert_visitor(&db, consented, true);
    insert_visitor(&db, refused, false);
    for id in [consented, refused, plain] {
        let r = post(&c, &srv, &format!("/api/v1/tickets/{id}/cancel")).await;
        assert_eq!(r.status(), 200);
    }
    let feed = feed_all(&c, &srv).await;
    assert_eq!(feed.len(), 6);
    let v = validator();
    for (_, e) in &feed {
        assert_valid(&v, e);
        let text = e.to_string();
        // Without `[scanning] keep_nationality` the nationality is never stored, so never sent.
        assert!(!text.contains("nationality"), "{text}");
        let ticket = e["data"]["ticket_id"].as_i64().unwrap();
        if ticket == consented && e["type"] == "visit.cancelled" {
            assert_eq!(
                e["data"]["person"],
                json!({"surname": "Haddad", "given_names": "Mariam", "birth_date": "1992-07-15"})
            );
            assert_eq!(e["data"]["identification"], "id_document");
        } else {
            assert!(e["data"].get("person").is_none(), "{text}");
            assert!(!text.contains("Haddad"), "{text}");
        }
    }
    // The public live stream never carries names.
    let mut sse = lotse_tests::SseReader::connect(&srv.base, Some("0")).await;
    while let Some(ev) = sse.next(Duration::from_millis(500)).await {
        assert!(!ev.data.to_string().contains("Haddad"));
    }
    let health = get_json(&c, &srv, "/healthz").await;
    let cs = &health["components"]["case_system"];
    assert_eq!(cs["status"], "ok", "{cs}");
    assert!(
        cs["detail"]
            .as_str()
            .unwrap()
            .starts_with("pull; backlog 6"),
        "{cs}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_feed_needs_its_token_and_pages_by_cursor() {
    let (_dir, srv, _) = start(&format!("feed_token = \"{TOKEN}\"\n"));
    let c = client();
    for _ in 0..5 {
        check_in(&c, &srv, "general").await;
    }
    for auth in [
        None,
        Some("Bearer wrong-token-0123456789"),
        Some("Basic abc"),
    ] {
        let mut req = c.get(srv.url("/api/v1/feed"));
        if let Some(a) = auth {
            req = req.header("authorization", a);
        }
        let r = req.send().await.unwrap();
        assert_eq!(r.status(), 401);
        assert!(
            r.headers()["www-authenticate"]
                .to_str()
                .unwrap()
                .starts_with("Bearer")
        );
        assert_eq!(r.headers()["content-type"], "application/problem+json");
        let p: Value = r.json().await.unwrap();
        assert_eq!(p["type"], "urn:lotse:problem:unauthorized");
        assert_eq!(p["status"], 401);
    }
    let page = |after: Option<i64>, limit: u32| {
        let c = c.clone();
        let url = match after {
            Some(a) => srv.url(&format!("/api/v1/feed?after={a}&limit={limit}")),
            None => srv.url(&format!("/api/v1/feed?limit={limit}")),
        };
        async move {
            c.get(url)
                .bearer_auth(TOKEN)
                .send()
                .await
                .unwrap()
                .json::<Value>()
                .await
                .unwrap()
        }
    };
    let p1 = page(Some(0), 2).await;
    assert_eq!(p1["events"].as_array().unwrap().len(), 2);
    assert_eq!(p1["next_cursor"], 2);
    assert_eq!(p1["last_cursor"], 5);
    let p2 = page(Some(2), 10).await;
    assert_eq!(p2["events"].as_array().unwrap().len(), 3);
    assert_eq!(p2["events"][0]["cursor"], 3);

    let ack = |body: Value| {
        let c = c.clone();
        let url = srv.url("/api/v1/feed/ack");
        async move {
            c.post(url)
                .bearer_auth(TOKEN)
                .json(&body)
                .send()
                .await
                .unwrap()
        }
    };
    let r = ack(json!({"cursor": 3})).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap()["acknowledged"], 3);
    // Without `after` the feed continues after the acknowledged cursor.
    let p3 = page(None, 10).await;
    assert_eq!(p3["events"][0]["cursor"], 4);
    assert_eq!(p3["acknowledged"], 3);
    let r = ack(json!({"cursor": 99})).await;
    assert_eq!(r.status(), 422);
    assert_eq!(
        r.json::<Value>().await.unwrap()["type"],
        "urn:lotse:problem:cursor-out-of-range"
    );
    let r = c
        .post(srv.url("/api/v1/feed/ack"))
        .bearer_auth(TOKEN)
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    // Acknowledging never goes backwards.
    assert_eq!(
        ack(json!({"cursor": 1}))
            .await
            .json::<Value>()
            .await
            .unwrap()["acknowledged"],
        3
    );
    let m = metrics(&c, &srv).await;
    assert_eq!(m["lotse_outbox_backlog"], 2.0);
}

#[tokio::test]
async fn without_a_case_system_events_wait_and_health_says_not_configured() {
    let dir = tempfile::tempdir().unwrap();
    let srv = Server::start(dir.path());
    let c = srv.client();
    check_in(&c, &srv, "general").await;
    let health = get_json(&c, &srv, "/healthz").await;
    assert_eq!(
        health["components"]["case_system"]["status"],
        "not_configured"
    );
    let r = c
        .get(srv.url("/api/v1/feed"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    // Without a configured feed token that token is simply unknown.
    assert_eq!(r.status(), 401);
    assert_eq!(
        r.json::<Value>().await.unwrap()["type"],
        "urn:lotse:problem:unauthorized"
    );
    // The event is kept for a feed or endpoint configured later.
    let m = metrics(&c, &srv).await;
    assert_eq!(m["lotse_outbox_backlog"], 1.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dead_letters_are_listed_and_replayed() {
    let r = receiver().await;
    r.set_mode(Fault::Status(500));
    let (_dir, srv, _) = start(&push_config(&r, "give_up_after = \"1s\"\n"));
    let c = srv.client();
    check_in(&c, &srv, "work").await;
    check_in(&c, &srv, "housing").await;
    let dead = lotse_tests::wait_for("two dead letters", Duration::from_secs(20), || {
        let c = c.clone();
        let url = srv.url("/api/v1/outbox/dead-letters");
        async move {
            let v: Value = c.get(url).send().await.ok()?.json().await.ok()?;
            (v["dead_letters"].as_array()?.len() == 2).then_some(v)
        }
    })
    .await;
    let first = &dead["dead_letters"][0];
    assert_eq!(first["type"], "visit.checked_in");
    assert!(
        first["last_error"].as_str().unwrap().contains("500"),
        "{first}"
    );
    assert!(first.get("data").is_none(), "no payload in the list");
    assert_eq!(metrics(&c, &srv).await["lotse_outbox_dead_letters"], 2.0);
    let health = get_json(&c, &srv, "/healthz").await;
    assert_eq!(health["components"]["case_system"]["status"], "degraded");

    r.set_mode(Fault::None);
    for d in dead["dead_letters"].as_array().unwrap() {
        let id = d["id"].as_str().unwrap();
        let resp = post(
            &c,
            &srv,
            &format!("/api/v1/outbox/dead-letters/{id}/replay"),
        )
        .await;
        assert_eq!(resp.status(), 200);
    }
    assert!(
        r.wait_until(Duration::from_secs(10), |l| l.order.len() == 2)
            .await
    );
    let resp = post(&c, &srv, "/api/v1/outbox/dead-letters/nope/replay").await;
    assert_eq!(resp.status(), 404);
    assert_eq!(
        resp.json::<Value>().await.unwrap()["type"],
        "urn:lotse:problem:unknown-dead-letter"
    );
    let list = get_json(&c, &srv, "/api/v1/outbox/dead-letters").await;
    assert_eq!(list["dead_letters"].as_array().unwrap().len(), 0);
    // Each replay is in the audit log (the unknown one is not).
    let audit = get_json(&c, &srv, "/api/v1/admin/audit").await;
    let replays: Vec<&Value> = audit
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "outbox.dead_letter_replayed")
        .collect();
    assert_eq!(replays.len(), 2, "{audit}");
    for d in dead["dead_letters"].as_array().unwrap() {
        let target = format!("event {}", d["id"].as_str().unwrap());
        assert!(replays.iter().any(|e| e["target"] == target), "{audit}");
    }
}

#[test]
fn check_config_explains_case_system_problems_by_line() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.toml");
    std::fs::write(
        &bad,
        r#"[site]
id = "kreis-test"
[[services]]
id = "residence"
prefix = "A"
[[counters]]
id = "c1"
name = "Schalter 1"
services = ["residence"]
[case_system]
url = "https://case.example/lotse"
secret = "not-a-whsec"
retry_initial = "soon"
give_up_after = "7d"
client_cert = "/nonexistent/client.pem"
colour = "red"
"#,
    )
    .unwrap();
    let out = Command::new(lotse_bin())
        .arg("check-config")
        .arg(&bad)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    // Unknown keys stop parsing first, with their line.
    assert!(err.contains("line 16"), "{err}");
    assert!(err.contains("colour"), "{err}");

    let text = std::fs::read_to_string(&bad)
        .unwrap()
        .replace("colour = \"red\"\n", "");
    std::fs::write(&bad, text).unwrap();
    let out = Command::new(lotse_bin())
        .arg("check-config")
        .arg(&bad)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("line 12: case_system.secret"), "{err}");
    assert!(err.contains("line 13: case_system.retry_initial"), "{err}");
    assert!(err.contains("line 15: case_system.client_key"), "{err}");

    let good = dir.path().join("good.toml");
    let text = std::fs::read_to_string(&bad)
        .unwrap()
        .replace(
            "\"not-a-whsec\"",
            &format!("[\"{}\", \"{}\"]", test_secret(1), test_secret(2)),
        )
        .replace("\"soon\"", "\"5s\"")
        .replace(
            "client_cert = \"/nonexistent/client.pem\"\n",
            "feed_token = \"0123456789abcdef\"\n",
        );
    std::fs::write(&good, text).unwrap();
    let out = Command::new(lotse_bin())
        .arg("check-config")
        .arg(&good)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The admin screen's case-system settings apply at once: the delivery worker follows
/// a new endpoint with its new secret, and stops pushing when forwarding is switched
/// off, without a restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_endpoint_from_the_admin_screen_applies_without_a_restart() {
    let a = receiver().await;
    let b = Receiver::start(&[&test_secret(2)], None).await;
    let (_dir, srv, _) = start(&push_config(&a, ""));
    let c = client();
    check_in(&c, &srv, "work").await;
    assert!(
        a.wait_until(Duration::from_secs(20), |l| !l.order.is_empty())
            .await
    );
    let at_a = a.stored();

    let put = |body: Value| {
        let url = srv.url("/api/v1/admin/case-system");
        let admin = srv.client();
        async move { admin.put(url).json(&body).send().await.unwrap() }
    };
    let r = put(json!({"url": b.url(), "enabled": true, "secret": test_secret(2)})).await;
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.json::<Value>().await.unwrap()["applies_after_restart"],
        false
    );
    check_in(&c, &srv, "housing").await;
    assert!(
        b.wait_until(Duration::from_secs(20), |l| !l.order.is_empty())
            .await,
        "the new endpoint got nothing"
    );
    assert_eq!(b.log().bad_signatures, 0, "signed with the new secret");
    assert_eq!(a.stored(), at_a, "the old endpoint gets nothing more");

    // Switched off: the next visit waits in the outbox (the feed still has it).
    let r = put(json!({"url": b.url(), "enabled": false})).await;
    assert_eq!(r.status(), 200);
    let at_b = b.stored();
    check_in(&c, &srv, "general").await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(b.stored(), at_b, "pushed although switched off");
    let health = srv.get_json("/healthz").await;
    let detail = health["components"]["case_system"]["detail"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(detail.starts_with("pull;"), "{detail}");
}
