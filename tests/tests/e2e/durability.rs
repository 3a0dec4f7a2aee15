//! Restarts and power cuts: nothing confirmed is lost, no number is issued twice.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use lotse_tests::Server;
use serde_json::{Value, json};

#[tokio::test]
async fn a_restart_keeps_the_queue_and_continues_numbering() {
    let dir = tempfile::tempdir().unwrap();
    let mut srv = Server::start(dir.path());
    srv.check_in("housing", "de").await;
    let second = srv.check_in("housing", "de").await;
    let called: Value = srv.post_json("/api/v1/counters/c2/call-next").await;
    assert!(srv.terminate().success(), "graceful shutdown exits 0");

    let srv = Server::start(dir.path());
    let q: Value = srv.get_json("/api/v1/queue").await;
    let tickets = q["tickets"].as_array().unwrap();
    assert_eq!(tickets.len(), 2);
    assert_eq!(tickets[0]["id"], called["id"]);
    assert_eq!(tickets[0]["status"], "called");
    assert_eq!(tickets[1]["id"], second["id"]);
    assert_eq!(srv.check_in("housing", "de").await["number"], "C-003");
}

#[tokio::test]
async fn kill_9_during_a_burst_loses_no_confirmed_check_in() {
    let dir = tempfile::tempdir().unwrap();
    let mut srv = Server::start(dir.path());
    let c = srv.client();
    let confirmed = Arc::new(std::sync::Mutex::new(Vec::<(i64, String)>::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let mut kiosks = vec![];
    for k in 0..16 {
        let c = c.clone();
        let url = srv.url("/api/v1/checkins");
        let confirmed = confirmed.clone();
        let stop = stop.clone();
        kiosks.push(tokio::spawn(async move {
            let service = ["residence", "work", "general", "housing"][k % 4];
            while !stop.load(Ordering::Relaxed) {
                let r = c
                    .post(&url)
                    .json(&json!({"service": service, "language": "ru"}))
                    .send()
                    .await;
                let Ok(r) = r else { break };
                if r.status() != 201 {
                    break;
                }
                let Ok(t) = r.json::<Value>().await else {
                    break;
                };
                confirmed.lock().unwrap().push((
                    t["id"].as_i64().unwrap(),
                    t["number"].as_str().unwrap().to_string(),
                ));
            }
        }));
    }
    // Let the burst run, then cut the power.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    srv.kill9();
    stop.store(true, Ordering::Relaxed);
    for k in kiosks {
        let _ = k.await;
    }
    let confirmed = confirmed.lock().unwrap().clone();
    assert!(
        confirmed.len() > 50,
        "the burst produced {} check-ins",
        confirmed.len()
    );

    let srv = Server::start(dir.path());
    let q: Value = srv.get_json("/api/v1/queue").await;
    let stored: Vec<(i64, String)> = q["tickets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["id"].as_i64().unwrap(),
                t["number"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let stored_ids: HashSet<i64> = stored.iter().map(|(id, _)| *id).collect();
    for (id, number) in &confirmed {
        assert!(
            stored_ids.contains(id),
            "confirmed ticket {number} (id {id}) was lost"
        );
    }
    let numbers: HashSet<&String> = stored.iter().map(|(_, n)| n).collect();
    assert_eq!(numbers.len(), stored.len(), "a number was issued twice");

    // Numbering continues after the highest stored number of each service.
    let next = srv.check_in("residence", "de").await;
    let highest = stored
        .iter()
        .filter(|(_, n)| n.starts_with("A-"))
        .filter_map(|(_, n)| n[2..].parse::<u32>().ok())
        .max()
        .unwrap_or(0);
    assert_eq!(next["number"], format!("A-{:03}", highest + 1));
}
