//! End-to-end scenarios: the real `lotse` binary on loopback, a real SQLite file.
//! One test binary with a module per area (ripgrep's layout).

// A panic is how a test reports failure.
#![allow(clippy::unwrap_used)]

mod admin;
mod auth;
mod backup;
mod bad_input;
mod browser;
mod cli;
mod concurrency;
mod desk_scan;
mod durability;
mod gpio;
mod http_flow;
mod id_scan;
mod kiosk_scan;
mod limits;
mod outbox;
mod printing;
mod provision;
mod retention;
mod scanning;
mod stats;
mod tls;

/// Sends a simulated scan once the kiosk page listens for scans: a scan sent before its
/// stream is connected is (rightly) lost, so the first one is repeated until the page
/// reacts — harmless, as every scan is idempotent for the page.
pub(crate) async fn id_scan_wait(
    b: &lotse_tests::Browser,
    c: &reqwest::Client,
    srv: &lotse_tests::Server,
    text: &str,
) -> serde_json::Value {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let s = id_scan::scan(c, srv, text).await;
        let reacted = b
            .eval(
                "['qr-message','id-message','id-person'].some(id => \
                 !document.getElementById(id).hidden)",
            )
            .await;
        if reacted == serde_json::Value::Bool(true) || std::time::Instant::now() > deadline {
            return s;
        }
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    }
}

/// Logs in through the desk's real login form (the desk must show it: no session yet).
pub(crate) async fn desk_login(b: &lotse_tests::Browser, username: &str, password: &str) {
    let user = b
        .wait_testid("desk-login-username", std::time::Duration::from_secs(20))
        .await;
    assert!(
        !b.visible("desk-counter-select").await,
        "the desk shows the queue before the login"
    );
    user.send_keys(username).await.unwrap();
    b.wait_testid("desk-login-password", std::time::Duration::from_secs(5))
        .await
        .send_keys(password)
        .await
        .unwrap();
    b.tap("desk-login-submit").await;
}

/// Chooses `counter` at the logged-in desk once the counters are in the choice (given
/// `timeout` after the desk itself, which may take 20 s, appeared).
pub(crate) async fn desk_at_counter(
    b: &lotse_tests::Browser,
    counter: &str,
    timeout: std::time::Duration,
) {
    let select = b
        .wait_testid("desk-counter-select", std::time::Duration::from_secs(20))
        .await;
    b.wait_js(
        "the counters in the choice",
        &format!(
            "document.querySelector('[data-testid=desk-counter-select] option[value={counter}]')"
        ),
        timeout,
    )
    .await;
    select.select_by_value(counter).await.unwrap();
}

/// Opens `/admin`, checks that it asks for a login before showing any setting, logs in
/// as the demo `admin` through its real login form and waits until every section loaded.
pub(crate) async fn admin_login(b: &lotse_tests::Browser, srv: &lotse_tests::Server) {
    b.client.goto(&srv.url("/admin")).await.unwrap();
    let user = b
        .wait_testid("admin-login-username", std::time::Duration::from_secs(20))
        .await;
    assert!(
        !b.visible("admin-retention-max-days").await,
        "the admin screen shows settings before the login"
    );
    user.send_keys("admin").await.unwrap();
    b.wait_testid("admin-login-password", std::time::Duration::from_secs(5))
        .await
        .send_keys(lotse_tests::DEMO_PASSWORD)
        .await
        .unwrap();
    b.tap("admin-login-submit").await;
    b.wait_js(
        "the admin screen loaded every section after the login",
        "document.body.dataset.ready === '1'",
        std::time::Duration::from_secs(20),
    )
    .await;
    assert!(
        !b.visible("admin-login-username").await,
        "the login form is gone after the login"
    );
}
