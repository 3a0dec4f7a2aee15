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
mod durability;
mod gpio;
mod http_flow;
mod id_scan;
mod kiosk_scan;
mod outbox;
mod printing;
mod provision;
mod retention;
mod scanning;
mod stats;

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
