//! The retention purge on the real binary: personal data of a visit delivered to the
//! reference receiver is gone from the raw bytes of the database file, its WAL and
//! shared-memory file after `lotse purge` at the end of the next day. The ID-scan
//! write path is not built yet, so the visitor's data is written into the real file
//! with rusqlite, as `outbox.rs` does.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use lotse_tests::receiver::{Receiver, test_secret};
use lotse_tests::{Server, client, lotse_bin};
use serde_json::Value;

const NEEDLES: [&str; 4] = ["Haddad", "Mariam", "1992-07-15", "KIM-TERMIN-8841"];

/// Which of the needles occur in the DB file, its WAL or its -shm file.
fn found_on_disk(data: &Path) -> Vec<String> {
    let db = data.join("lotse.db");
    let mut found = Vec::new();
    for file in [
        db.clone(),
        data.join("lotse.db-wal"),
        data.join("lotse.db-shm"),
    ] {
        let Ok(bytes) = std::fs::read(&file) else {
            continue;
        };
        for n in NEEDLES {
            if bytes.windows(n.len()).any(|w| w == n.as_bytes()) {
                found.push(format!("{n} in {}", file.display()));
            }
        }
    }
    found
}

fn purge(data: &Path, config: &Path, now: &str) -> Value {
    let out = Command::new(lotse_bin())
        .args(["purge", "--demo", "--config"])
        .arg(config)
        .arg("--data")
        .arg(data)
        .args(["--now", now])
        .env("LOTSE_LOG", "warn")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "lotse purge failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delivered_personal_data_leaves_no_bytes_on_disk() {
    let r = Receiver::start(&[&test_secret(1)], None).await;
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("case.toml");
    std::fs::write(
        &config,
        format!(
            "[case_system]\nurl = \"{}\"\nsecret = \"{}\"\nretry_initial = \"100ms\"\nretry_max = \"1s\"\n",
            r.url(),
            test_secret(1)
        ),
    )
    .unwrap();
    let data = dir.path().join("data");
    let mut srv = Server::start_with(&data, &["--config", config.to_str().unwrap()]);
    let c = client();

    let ticket = srv.check_in("residence", "ar").await;
    let id = ticket["id"].as_i64().unwrap();
    // Another visit without personal data must survive untouched.
    let other = srv.check_in("general", "de").await["id"].as_i64().unwrap();
    {
        let conn = rusqlite::Connection::open(data.join("lotse.db")).unwrap();
        conn.busy_timeout(Duration::from_secs(5)).unwrap();
        conn.execute(
            "INSERT INTO visitor_data (ticket_id, surname, given_names, birth_date, nationality, consent_at)
             VALUES (?1, 'Haddad', 'Mariam', '1992-07-15', 'SYR', 1700000000000)",
            [id],
        )
        .unwrap();
        conn.execute(
            "UPDATE tickets SET identification = 'id_document', appointment_ref = 'KIM-TERMIN-8841' WHERE id = ?1",
            [id],
        )
        .unwrap();
    }
    let resp = c
        .post(srv.url(&format!("/api/v1/tickets/{id}/cancel")))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    // created x2 + cancelled, the cancellation carrying the person (consent given).
    assert!(
        r.wait_until(Duration::from_secs(30), |l| l.order.len() >= 3)
            .await,
        "the receiver got every event"
    );
    assert_eq!(r.stored(), 3);
    let status = srv.terminate();
    assert!(status.success());
    // The test can see the data before the purge.
    assert!(
        found_on_disk(&data).iter().any(|f| f.starts_with("Haddad")),
        "{:?}",
        found_on_disk(&data)
    );

    // The same day (Berlin): nothing is due yet.
    let today = chrono::Utc::now();
    let report = purge(&data, &config, &today.to_rfc3339());
    assert_eq!(report["visits"], 0, "{report}");
    // Three days later the end of the day after delivery has passed.
    let later = today + chrono::Duration::days(3);
    let report = purge(&data, &config, &later.to_rfc3339());
    assert_eq!(report["visits"], 1, "{report}");
    assert_eq!(report["visitor_data_rows"], 1, "{report}");
    assert_eq!(report["appointment_refs"], 1, "{report}");
    assert_eq!(report["outbox_undelivered_deleted"], 0, "{report}");
    assert_eq!(report["vacuumed"], true, "{report}");
    assert_eq!(report["wal_truncated"], true, "{report}");
    let left = found_on_disk(&data);
    assert!(left.is_empty(), "personal data left on disk: {left:?}");

    // The appliance starts again on the purged file; the tickets are still there
    // without personal data, and the purge is in the audit log.
    let srv = Server::start_with(&data, &["--config", config.to_str().unwrap()]);
    let t = srv.get_json(&format!("/api/v1/tickets/{id}")).await;
    assert_eq!(t["status"], "cancelled");
    let o = srv.get_json(&format!("/api/v1/tickets/{other}")).await;
    assert_eq!(o["status"], "waiting");
    let audit = srv.get_json("/api/v1/admin/audit").await;
    let purges: Vec<&Value> = audit
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "retention.purged")
        .collect();
    assert_eq!(purges.len(), 2, "{audit}");
    assert_eq!(purges[0]["actor"], "operator:lotse-purge");
    for n in NEEDLES {
        assert!(!audit.to_string().contains(n));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn purge_refuses_a_missing_database_and_a_bad_time() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(lotse_bin())
        .args(["purge", "--demo", "--data"])
        .arg(dir.path().join("nothing"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("no database"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = Command::new(lotse_bin())
        .args(["purge", "--demo", "--now", "yesterday", "--data"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("RFC 3339"));
}
