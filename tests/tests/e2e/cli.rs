//! The command line: version, and configuration checks that explain every error.

use std::process::Command;

use lotse_tests::lotse_bin;

#[test]
fn version() {
    let out = Command::new(lotse_bin()).arg("--version").output().unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("lotse "));
}

#[test]
fn check_config_accepts_a_good_file_and_explains_a_bad_one() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.toml");
    std::fs::write(
        &good,
        r#"
[site]
id = "kreis-test"
name = "KI Kreis Test"
[server]
listen = "0.0.0.0:8080"
[[services]]
id = "residence"
prefix = "A"
[[counters]]
id = "c1"
name = "Schalter 1"
services = ["residence"]
"#,
    )
    .unwrap();
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
    assert!(String::from_utf8_lossy(&out.stdout).contains("OK"));

    let bad = dir.path().join("bad.toml");
    std::fs::write(
        &bad,
        r#"[site]
id = "kreis-test"
[server]
listen = "everywhere"
[[services]]
id = "residence"
prefix = "AAA"
[[counters]]
id = "c1"
name = "Schalter 1"
services = ["residence", "ghost"]
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
    assert!(err.contains("3 problem(s)"), "{err}");
    assert!(err.contains("line 4: server.listen"), "{err}");
    assert!(err.contains("line 7: services[0].prefix"), "{err}");
    assert!(
        err.contains("line 11: counters[0].services: unknown service \"ghost\""),
        "{err}"
    );

    let out = Command::new(lotse_bin())
        .arg("check-config")
        .arg(dir.path().join("missing.toml"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot read"));
}

#[test]
fn a_newer_database_is_refused_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("lotse.db");
    // A database that claims a schema from the future.
    let out = Command::new("python3")
        .args([
            "-c",
            "import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); c.execute('PRAGMA user_version=999'); c.commit()",
        ])
        .arg(&db)
        .status();
    if !out.map(|s| s.success()).unwrap_or(false) {
        eprintln!("python3 sqlite3 not available; skipping");
        return;
    }
    let out = Command::new(lotse_bin())
        .args(["demo", "--listen", "127.0.0.1:0", "--data"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("newer Lotse"), "{err}");
}
