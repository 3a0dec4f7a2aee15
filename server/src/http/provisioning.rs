//! What a device shows while it needs provisioning: one page listing the problems of
//! its `lotse-provision.toml` (from the marker `lotse provision` left), on every path,
//! so the kiosk screen shows it whatever URL the session opens. `/healthz` answers 503
//! with the same problems for monitoring.

use std::sync::Arc;

use axum::Router;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

/// The page for `lines`: the file first, then one problem per line.
pub fn app(lines: Vec<String>) -> Router {
    let lines = Arc::new(lines);
    let health = lines.clone();
    Router::new()
        .route(
            "/healthz",
            get(move || {
                let l = health.clone();
                async move {
                    let body = serde_json::json!({
                        "status": "needs-provisioning",
                        "problems": l.iter().skip(1).collect::<Vec<_>>(),
                    });
                    (StatusCode::SERVICE_UNAVAILABLE, axum::Json(body)).into_response()
                }
            }),
        )
        .fallback(move || {
            let l = lines.clone();
            async move { page(&l) }
        })
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn page(lines: &[String]) -> Response {
    let file = lines
        .first()
        .map(String::as_str)
        .unwrap_or("lotse-provision.toml");
    let items: String = lines
        .iter()
        .skip(1)
        .map(|l| format!("<li>{}</li>", escape(l)))
        .collect();
    let html = format!(
        "<!doctype html><html lang=\"de\"><head><meta charset=\"utf-8\">\
<meta http-equiv=\"refresh\" content=\"30\"><title>Lotse: Einrichtung nötig</title>\
<style>body{{font:1.4rem system-ui,sans-serif;margin:3rem;background:#fff8e1;color:#222}}\
li{{font-family:monospace;margin:.4rem 0}}</style></head><body>\
<h1>Dieses Gerät muss eingerichtet werden · This device needs provisioning</h1>\
<p>Die Datei <code>{}</code> enthält Fehler. Bitte korrigieren und das Gerät neu starten. \
The provisioning file has errors; fix them and restart the device.</p><ol>{items}</ol></body></html>",
        escape(file)
    );
    (
        StatusCode::SERVICE_UNAVAILABLE,
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        html,
    )
        .into_response()
}

/// Serves the page until `signal`; tells systemd it is ready and keeps its watchdog
/// fed, so the unit stays up and the screen shows the problems.
pub async fn serve(
    listener: tokio::net::TcpListener,
    lines: Vec<String>,
    signal: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    if let Some(n) = crate::watchdog::Notifier::from_env() {
        let _ = n.notify("READY=1");
        if let Some(every) = crate::watchdog::interval_from_env() {
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(every);
                loop {
                    tick.tick().await;
                    let _ = n.notify("WATCHDOG=1");
                }
            });
        }
    }
    // The same listener loop as the appliance: a client that never finishes its
    // headers is dropped after the header timeout.
    super::serve::serve(
        super::serve::Listeners {
            http: listener,
            https: None,
        },
        app(lines),
        crate::config::DEFAULT_REQUEST_TIMEOUT,
        signal,
    )
    .await
}
