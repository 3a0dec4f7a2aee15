//! `lotse backup` while the appliance runs and `lotse restore` after it stopped: the
//! restored database has exactly what was committed before the backup; a backup from
//! a newer Lotse is refused and changes nothing.

use std::path::Path;
use std::process::Command;

use lotse_tests::{Server, lotse_bin};

fn tickets(db: &Path) -> i64 {
    let c = rusqlite::Connection::open(db).unwrap();
    c.query_row("SELECT count(*) FROM tickets", [], |r| r.get(0))
        .unwrap()
}

fn lotse(args: &[&str], paths: &[&Path]) -> std::process::Output {
    let mut cmd = Command::new(lotse_bin());
    cmd.args(args);
    for p in paths {
        cmd.arg(p);
    }
    cmd.output().unwrap()
}

#[tokio::test]
async fn backup_while_running_then_restore() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let copy = dir.path().join("copy.db");
    let mut server = Server::start(&data);
    server.check_in("general", "de").await;
    server.check_in("general", "uk").await;

    let out = lotse(&["backup", "--data"], &[&data]);
    assert!(!out.status.success(), "--to is required");
    let mut cmd = Command::new(lotse_bin());
    cmd.args(["backup", "--to"])
        .arg(&copy)
        .arg("--data")
        .arg(&data);
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    server.check_in("general", "ar").await;
    assert!(server.terminate().success());
    assert_eq!(tickets(&data.join("lotse.db")), 3);
    assert_eq!(tickets(&copy), 2);

    // A backup from a newer Lotse is refused before anything changes.
    let newer = dir.path().join("newer.db");
    std::fs::copy(&copy, &newer).unwrap();
    rusqlite::Connection::open(&newer)
        .unwrap()
        .pragma_update(None, "user_version", 99)
        .unwrap();
    let mut cmd = Command::new(lotse_bin());
    cmd.args(["restore", "--from"])
        .arg(&newer)
        .arg("--data")
        .arg(&data);
    let out = cmd.output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("newer"), "{err}");
    assert_eq!(tickets(&data.join("lotse.db")), 3);

    let mut cmd = Command::new(lotse_bin());
    cmd.args(["restore", "--from"])
        .arg(&copy)
        .arg("--data")
        .arg(&data);
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(tickets(&data.join("lotse.db")), 2);
    assert!(String::from_utf8_lossy(&out.stdout).contains("backups/0001-before-restore.db"));

    // The appliance runs on the restored database.
    let server = Server::start(&data);
    let ticket = server.check_in("general", "fa").await;
    assert_eq!(ticket["number"], "E-003", "{ticket}");
}
