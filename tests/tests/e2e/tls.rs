//! HTTPS for the LAN against the real binary: a certificate from `lotse tls
//! self-signed`, real TLS handshakes on loopback with that certificate as the only
//! trusted root, sessions with the `__Host-` cookie over HTTPS, HSTS, plain HTTP served
//! to loopback (the kiosk and display on the appliance) and redirected for the LAN.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use lotse_tests::{DEMO_PASSWORD, Server, client, lotse_bin};
use serde_json::{Value, json};

/// `lotse tls self-signed` into `dir` for `lotse.local`, `127.0.0.1` and `extra`;
/// returns the certificate's PEM.
fn self_signed(dir: &Path, extra: &[&str]) -> String {
    let mut cmd = Command::new(lotse_bin());
    cmd.args(["tls", "self-signed", "--out-dir"])
        .arg(dir)
        .args(["--hostname", "lotse.local", "--hostname", "127.0.0.1"]);
    for h in extra {
        cmd.args(["--hostname", h]);
    }
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("SHA-256 fingerprint: "), "{text}");
    let spki = text
        .lines()
        .find_map(|l| l.strip_prefix("SPKI SHA-256: "))
        .expect("the SPKI hash")
        .to_string();
    std::fs::write(dir.join("spki"), spki).unwrap();
    assert!(text.contains("tls_cert = "), "{text}");
    // Never replaced by accident.
    let again = Command::new(lotse_bin())
        .args(["tls", "self-signed", "--out-dir"])
        .arg(dir)
        .args(["--hostname", "x"])
        .output()
        .unwrap();
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("--force"));
    std::fs::read_to_string(dir.join("cert.pem")).unwrap()
}

fn tls_config(dir: &Path) -> std::path::PathBuf {
    let file = dir.join("tls.toml");
    std::fs::write(
        &file,
        format!(
            "[server]\ntls_cert = \"{}\"\ntls_key = \"{}\"\nhttps_listen = \"127.0.0.1:0\"\n",
            dir.join("tls/cert.pem").display(),
            dir.join("tls/key.pem").display()
        ),
    )
    .unwrap();
    file
}

/// A client that trusts only the appliance's certificate and follows no redirects.
fn https_client(cert_pem: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(cert_pem.as_bytes()).unwrap())
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

fn cookie_of(r: &reqwest::Response) -> String {
    r.headers()["set-cookie"].to_str().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_work_over_real_https_and_carry_the_host_cookie() {
    let dir = tempfile::tempdir().unwrap();
    let cert = self_signed(&dir.path().join("tls"), &[]);
    let cfg = tls_config(dir.path());
    let srv = Server::start_with(
        &dir.path().join("data"),
        &["--config", cfg.to_str().unwrap()],
    );
    let https = srv
        .https
        .clone()
        .expect("the server reports its HTTPS address");
    let c = https_client(&cert);

    let r = c
        .post(format!("{https}/api/v1/login"))
        .json(&json!({"username": "desk", "password": DEMO_PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["strict-transport-security"], "max-age=31536000");
    let set = cookie_of(&r);
    assert!(set.starts_with("__Host-lotse_session="), "{set}");
    for attr in ["Secure", "HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(set.contains(attr), "{set} lacks {attr}");
    }
    assert!(!set.contains("Domain"), "{set}");
    let cookie = set.split(';').next().unwrap().to_string();
    let csrf = r.json::<Value>().await.unwrap()["csrf_token"]
        .as_str()
        .unwrap()
        .to_string();
    // The session works over HTTPS: read, and change with the CSRF token.
    let r = c
        .get(format!("{https}/api/v1/login"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap()["username"], "desk");
    let r = c
        .post(format!("{https}/api/v1/counters/c1/call-next"))
        .header("cookie", &cookie)
        .header("x-csrf-token", &csrf)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204, "nobody waits");
    // The same id under the plain cookie name is not a session.
    let plain = cookie.replacen("__Host-lotse_session", "lotse_session", 1);
    let r = c
        .get(format!("{https}/api/v1/login"))
        .header("cookie", plain)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let r = c
        .post(format!("{https}/api/v1/logout"))
        .header("cookie", &cookie)
        .header("x-csrf-token", &csrf)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let gone = cookie_of(&r);
    assert!(
        gone.contains("Max-Age=0") && gone.contains("Secure"),
        "{gone}"
    );

    // A client that does not trust the certificate gets no answer at all.
    let strict = reqwest::Client::builder()
        .tls_built_in_root_certs(true)
        .build()
        .unwrap();
    assert!(strict.get(format!("{https}/healthz")).send().await.is_err());

    // The kiosk and display on the appliance use loopback HTTP: served, no HSTS.
    let r = client().get(srv.url("/kiosk")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers().get("strict-transport-security").is_none());
    srv.check_in("general", "de").await;

    // A browser that learnt HSTS upgrades http://host:PORT to https://host:PORT, the
    // HTTP port: that port answers TLS too.
    let upgraded = format!("https://{}", srv.addr());
    let r = c.get(format!("{upgraded}/healthz")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers().contains_key("strict-transport-security"));
}

/// A non-loopback address of this machine, if it has one: connecting to it from here
/// stays inside the machine, but the peer address the server sees is not loopback.
fn lan_address() -> Option<std::net::IpAddr> {
    let s = std::net::UdpSocket::bind("0.0.0.0:0").ok()?;
    // UDP connect sends nothing; it only picks the outgoing interface's address.
    s.connect("192.0.2.1:9").ok()?;
    let ip = s.local_addr().ok()?.ip();
    (!ip.is_loopback() && !ip.is_unspecified()).then_some(ip)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_http_from_the_lan_is_redirected_to_https() {
    let Some(lan) = lan_address() else {
        eprintln!("skipped: this machine has no non-loopback address");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let cert = self_signed(&dir.path().join("tls"), &[&lan.to_string()]);
    // Both listeners on every interface (as on the appliance), HTTPS on a free port.
    let file = dir.path().join("tls.toml");
    std::fs::write(
        &file,
        format!(
            "[server]\ntls_cert = \"{}\"\ntls_key = \"{}\"\nhttps_listen = \"0.0.0.0:0\"\n",
            dir.path().join("tls/cert.pem").display(),
            dir.path().join("tls/key.pem").display()
        ),
    )
    .unwrap();
    let mut cmd = Command::new(lotse_bin());
    cmd.args(["demo", "--listen", "0.0.0.0:0", "--data"])
        .arg(dir.path().join("data"))
        .args(["--config", file.to_str().unwrap()]);
    let srv = Server::spawn(cmd, &dir.path().join("data"));
    let http_port = srv.addr().rsplit(':').next().unwrap().to_string();
    let https_port = srv
        .https
        .as_ref()
        .unwrap()
        .rsplit(':')
        .next()
        .unwrap()
        .to_string();
    let no_follow = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let from_lan = format!("http://{lan}:{http_port}");
    let r = no_follow
        .get(format!("{from_lan}/desk?x=1"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 301);
    assert_eq!(
        r.headers()["location"],
        format!("https://{lan}:{https_port}/desk?x=1").as_str()
    );
    let r = no_follow
        .post(format!("{from_lan}/api/v1/checkins"))
        .json(&json!({"service": "general", "language": "de"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 308);
    assert_eq!(
        r.headers()["location"],
        format!("https://{lan}:{https_port}/api/v1/checkins").as_str()
    );
    // Following the 308 repeats the check-in over HTTPS; only that one counts.
    let follow = reqwest::Client::builder()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(cert.as_bytes()).unwrap())
        .build()
        .unwrap();
    let r = follow
        .post(format!("{from_lan}/api/v1/checkins"))
        .json(&json!({"service": "general", "language": "de"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    assert!(r.url().as_str().starts_with("https://"), "{}", r.url());
    let services: Value = srv.get_public_json("/api/v1/services").await;
    let waiting: u64 = services
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["waiting"].as_u64().unwrap())
        .sum();
    assert_eq!(waiting, 1);
}

#[test]
fn a_key_that_does_not_fit_the_certificate_stops_the_start() {
    let dir = tempfile::tempdir().unwrap();
    self_signed(&dir.path().join("tls"), &[]);
    self_signed(&dir.path().join("other"), &[]);
    let file = dir.path().join("bad.toml");
    std::fs::write(
        &file,
        format!(
            "[server]\ntls_cert = \"{}\"\ntls_key = \"{}\"\n",
            dir.path().join("tls/cert.pem").display(),
            dir.path().join("other/key.pem").display()
        ),
    )
    .unwrap();
    let out = Command::new(lotse_bin())
        .args(["demo", "--listen", "127.0.0.1:0", "--data"])
        .arg(dir.path().join("data"))
        .args(["--config", file.to_str().unwrap()])
        .env("LOTSE_LOG", "warn")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("does not belong to the certificate"), "{err}");
    assert!(err.contains("other/key.pem"), "{err}");
    // check-config only checks the keys, so a file can be checked on another machine.
    let out = Command::new(lotse_bin())
        .args(["check-config"])
        .arg(&file)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("site.id"), "{err}");
    assert!(!err.contains("tls_"), "{err}");
}

/// Chromium `--dump-dom` of `url` with `flags`: the page's HTML, empty when the page
/// could not be loaded (a certificate error shows no page).
fn chromium_dom(url: &str, flags: &[String], profile: &Path) -> String {
    let out = Command::new(lotse_tests::CHROMIUM)
        .args([
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(flags)
        .args(["--dump-dom", url])
        .stderr(std::process::Stdio::null())
        .output()
        .expect("run chromium");
    String::from_utf8_lossy(&out.stdout).to_string()
}

/// A display (another device) whose hub has a self-signed certificate: provisioning
/// writes the hub's key into the kiosk session's Chromium flags, and a real Chromium
/// with exactly those flags opens the hub's display over HTTPS; without them it does not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_display_device_opens_its_self_signed_hub_with_the_provisioned_flags() {
    let dir = tempfile::tempdir().unwrap();
    self_signed(&dir.path().join("tls"), &[]);
    let spki = std::fs::read_to_string(dir.path().join("tls/spki")).unwrap();
    let cfg = tls_config(dir.path());
    let srv = Server::start_with(
        &dir.path().join("data"),
        &["--config", cfg.to_str().unwrap()],
    );
    let hub = srv.https.clone().unwrap();

    let boot = dir.path().join("boot");
    std::fs::create_dir_all(&boot).unwrap();
    let file = boot.join("lotse-provision.toml");
    std::fs::write(
        &file,
        format!(
            "[device]\nrole = \"display\"\nhostname = \"kim-wartezimmer\"\nhub = \"{hub}\"\nhub_spki = \"{spki}\"\n\n[site]\nid = \"demo\"\n"
        ),
    )
    .unwrap();
    let root = dir.path().join("root");
    let out = Command::new(lotse_bin())
        .args(["provision"])
        .arg(&file)
        .arg("--root")
        .arg(&root)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let env = std::fs::read_to_string(root.join("etc/lotse/kiosk.env")).unwrap();
    let var = |name: &str| {
        env.lines()
            .find_map(|l| l.strip_prefix(&format!("{name}=")))
            .unwrap_or_else(|| panic!("{name} in {env}"))
            .to_string()
    };
    let url = var("LOTSE_KIOSK_URL");
    assert_eq!(url, format!("{hub}/display"));
    // The session's profile lives in /run/lotse-kiosk; here in the test's directory.
    let profile = dir.path().join("profile");
    let flags: Vec<String> = var("LOTSE_KIOSK_FLAGS")
        .split_whitespace()
        .filter(|f| !f.starts_with("--user-data-dir="))
        .map(str::to_string)
        .collect();
    let (u, f, p) = (url.clone(), flags.clone(), profile.clone());
    let dom = tokio::task::spawn_blocking(move || chromium_dom(&u, &f, &p))
        .await
        .unwrap();
    assert!(
        dom.contains("Aufrufanzeige"),
        "the display did not load: {dom}"
    );
    let p = dir.path().join("profile-without");
    let dom = tokio::task::spawn_blocking(move || chromium_dom(&url, &[], &p))
        .await
        .unwrap();
    assert!(
        !dom.contains("Aufrufanzeige"),
        "loaded without trusting the key"
    );
}
