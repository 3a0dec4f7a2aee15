//! First-boot provisioning through the real binary: a good file configures a target
//! root that `lotse serve` then runs from, and leaves no secret on the boot partition;
//! a bad file changes nothing and the served page shows its problems with their lines.

use std::path::Path;
use std::process::Command;

use lotse_tests::{Server, client, lotse_bin};

const KEY: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAABAgMEBQYHCAkKCwwNDg8QERITFBUWFxgZGhscHR4f it@musterstadt";

fn hub_file(data_dir: &Path) -> String {
    format!(
        r#"[device]
role = "all-in-one"
hostname = "kim-empfang"

[network.static]
address = "192.168.10.20/24"
gateway = "192.168.10.1"
dns = ["192.168.10.1"]

[ssh]
authorized_keys = ["{KEY}"]

[admin]
password = "correct horse battery"

[site]
id = "kim-musterstadt"
name = "KIM Musterstadt"

[server]
listen = "127.0.0.1:0"
data_dir = "{}"

[[services]]
id = "general"
prefix = "A"

[[counters]]
id = "c1"
name = "Schalter 1"
services = ["general"]

[case_system]
url = "http://127.0.0.1:9/lotse"
secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
"#,
        data_dir.display()
    )
}

fn provision(file: &Path, root: &Path) -> std::process::Output {
    Command::new(lotse_bin())
        .arg("provision")
        .arg(file)
        .arg("--root")
        .arg(root)
        .output()
        .unwrap()
}

#[tokio::test]
async fn a_good_file_is_applied_and_its_secrets_wiped() {
    let boot = tempfile::tempdir().unwrap();
    let root = tempfile::tempdir().unwrap();
    let data = root.path().join("var/lib/lotse");
    let file = boot.path().join("lotse-provision.toml");
    std::fs::write(&file, hub_file(&data)).unwrap();

    let out = provision(&file, root.path());
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r = root.path();
    assert_eq!(
        std::fs::read_to_string(r.join("etc/hostname")).unwrap(),
        "kim-empfang\n"
    );
    let net = std::fs::read_to_string(r.join("etc/systemd/network/10-lotse-eth0.network")).unwrap();
    assert!(net.contains("Address=192.168.10.20/24") && net.contains("Gateway=192.168.10.1"));
    assert!(
        std::fs::read_to_string(r.join("root/.ssh/authorized_keys"))
            .unwrap()
            .contains(KEY)
    );
    assert!(
        std::fs::read_to_string(r.join("etc/lotse/admin.hash"))
            .unwrap()
            .starts_with("$argon2id$")
    );

    // Nothing secret is left beside the boot files.
    assert!(!file.exists());
    for entry in std::fs::read_dir(boot.path()).unwrap() {
        let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        assert!(
            !text.contains("correct horse") && !text.contains("whsec_"),
            "{text}"
        );
    }

    // The written configuration runs.
    std::fs::create_dir_all(&data).unwrap();
    let mut cmd = Command::new(lotse_bin());
    cmd.args(["serve", "--config"])
        .arg(r.join("etc/lotse/lotse.toml"));
    let server = Server::spawn(cmd, &data);
    let health = client().get(server.url("/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200);
    // Public, so no session is needed (a served appliance has no demo admin).
    let services: serde_json::Value = server.get_public_json("/api/v1/services").await;
    assert_eq!(services[0]["id"], "general", "{services}");
    assert!(data.join("lotse.db").exists());
}

#[tokio::test]
async fn a_bad_file_shows_its_problems_on_screen() {
    let boot = tempfile::tempdir().unwrap();
    let root = tempfile::tempdir().unwrap();
    let data = root.path().join("var/lib/lotse");
    let file = boot.path().join("lotse-provision.toml");
    let bad = hub_file(&data)
        .replace("role = \"all-in-one\"", "role = \"kiosque\"")
        .replace("prefix = \"A\"", "prefix = \"<A>\"");
    std::fs::write(&file, &bad).unwrap();

    let out = provision(&file, root.path());
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("line 2: device.role"), "{err}");
    assert!(err.contains("line 26: services[0].prefix"), "{err}");
    // Nothing applied, the file untouched.
    assert!(!root.path().join("etc").exists());
    assert_eq!(std::fs::read_to_string(&file).unwrap(), bad);

    // `lotse serve` has no configuration yet and shows the problems instead.
    let mut cmd = Command::new(lotse_bin());
    cmd.args(["serve", "--config"])
        .arg(root.path().join("etc/lotse/lotse.toml"))
        .arg("--data")
        .arg(&data)
        .args(["--listen", "127.0.0.1:0"]);
    let server = Server::spawn(cmd, &data);
    let page = client().get(server.url("/kiosk")).send().await.unwrap();
    assert_eq!(page.status(), 503);
    let html = page.text().await.unwrap();
    assert!(html.contains("needs provisioning"), "{html}");
    assert!(html.contains("line 2: device.role"), "{html}");
    assert!(html.contains("&lt;A&gt;"), "escaped: {html}");
    let health = client().get(server.url("/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 503);
    let body: serde_json::Value = health.json().await.unwrap();
    assert_eq!(body["status"], "needs-provisioning");
    // Also in this mode a client that never finishes its headers is dropped.
    let mut slow = tokio::net::TcpStream::connect(server.addr()).await.unwrap();
    tokio::io::AsyncWriteExt::write_all(&mut slow, b"GET /kiosk HTTP/1.1\r\nX-Slow: ")
        .await
        .unwrap();
    let answer = super::limits::status_within(slow, std::time::Duration::from_secs(20)).await;
    assert!(answer.is_ok(), "slow headers held the connection");
    drop(server);

    // Fixed and provisioned again: the marker is gone.
    std::fs::write(&file, hub_file(&data)).unwrap();
    let out = provision(&file, root.path());
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!data.join("needs-provisioning").exists());
}

#[tokio::test]
async fn an_unprovisioned_device_says_so_instead_of_failing() {
    let root = tempfile::tempdir().unwrap();
    let data = root.path().join("var/lib/lotse");
    let mut cmd = Command::new(lotse_bin());
    cmd.args(["serve", "--config"])
        .arg(root.path().join("etc/lotse/lotse.toml"))
        .arg("--data")
        .arg(&data)
        .args(["--listen", "127.0.0.1:0"]);
    let server = Server::spawn(cmd, &data);
    let page = client().get(server.url("/")).send().await.unwrap();
    assert_eq!(page.status(), 503);
    let html = page.text().await.unwrap();
    assert!(
        html.contains("put lotse-provision.toml onto the boot partition"),
        "{html}"
    );
}
