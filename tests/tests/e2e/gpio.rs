//! The simulated GPIO of demo mode over HTTP: desk buttons call, sensors alert, the
//! calling lamp and status LED follow; the routes exist only in demo mode.

use std::time::{Duration, Instant};

use lotse_tests::{Server, SseReader, client};
use serde_json::{Value, json};

async fn pins(c: &reqwest::Client, srv: &Server) -> Vec<Value> {
    let r = c.get(srv.url("/api/v1/sim/gpio")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    r.json::<Value>().await.unwrap().as_array().unwrap().clone()
}

async fn set(c: &reqwest::Client, srv: &Server, pin: u8, level: &str) {
    let r = c
        .post(srv.url(&format!("/api/v1/sim/gpio/{pin}")))
        .json(&json!({ "level": level }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "set BCM {pin} {level}");
}

/// Presses an active-low button long enough to pass the debounce, then lets go.
async fn press(c: &reqwest::Client, srv: &Server, pin: u8) {
    set(c, srv, pin, "low").await;
    tokio::time::sleep(Duration::from_millis(150)).await;
    set(c, srv, pin, "high").await;
    tokio::time::sleep(Duration::from_millis(150)).await;
}

async fn eventually<F, Fut>(what: &str, mut f: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(15);
    while !f().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn buttons_sensors_and_lamps_in_demo_mode() {
    let dir = tempfile::tempdir().unwrap();
    let srv = Server::start(dir.path());
    let c = srv.client();
    let list = pins(&c, &srv).await;
    let names: Vec<&str> = list
        .iter()
        .map(|p| p["function"].as_str().unwrap_or(""))
        .collect();
    for f in [
        "ticket_button",
        "call_button",
        "paper_low",
        "door_switch",
        "status_led",
        "calling_lamp",
        "buzzer",
    ] {
        assert!(names.contains(&f), "{f} in {names:?}");
    }
    let mut sse = SseReader::connect(&srv.base, None).await;

    // Nobody waits: the desk button of counter 1 (BCM 5) calls nobody.
    press(&c, &srv, 5).await;
    let q: Value = srv.get_json("/api/v1/queue").await;
    assert_eq!(q["tickets"].as_array().unwrap().len(), 0);

    // The accessible ticket button (BCM 17) issues a ticket for the default concern.
    press(&c, &srv, 17).await;
    let mut button_ticket = None;
    while let Some(ev) = sse.next(Duration::from_secs(10)).await {
        if ev.event.as_deref() == Some("kiosk.button_ticket") {
            button_ticket = Some(ev.data["ticket"].clone());
            break;
        }
    }
    let t = button_ticket.expect("kiosk.button_ticket event");
    assert_eq!(t["service"], "general");
    let wav = c
        .get(srv.url(&format!("/api/v1/tickets/{}/confirmation", t["id"])))
        .send()
        .await
        .unwrap();
    assert!(
        wav.status() == 200 || wav.status() == 503,
        "{}",
        wav.status()
    );

    // One press of counter 1's button calls exactly that ticket, once.
    press(&c, &srv, 5).await;
    eventually("the call", || async {
        let q: Value = srv.get_json("/api/v1/queue").await;
        q["tickets"][0]["status"] == "called"
    })
    .await;
    let q: Value = srv.get_json("/api/v1/queue").await;
    assert_eq!(q["tickets"][0]["counter"], "c1");
    assert_eq!(q["tickets"][0]["call_count"], 1);
    // Counter 1's calling lamp (BCM 24) lights up.
    eventually("the calling lamp", || async {
        pins(&c, &srv)
            .await
            .iter()
            .any(|p| p["pin"] == 24 && p["active"] == true)
    })
    .await;

    // Paper running low (BCM 27, active low) reaches the printer state and the desk.
    set(&c, &srv, 27, "low").await;
    eventually("paper near end", || async {
        let h: Value = srv.get_json("/healthz").await;
        h["components"]["printer"]["detail"]
            .as_str()
            .unwrap_or("")
            .starts_with("paper_near_end")
    })
    .await;
    let mut saw_alert = false;
    while let Some(ev) = sse.next(Duration::from_secs(5)).await {
        if ev.event.as_deref() == Some("alert") && ev.data["code"] == "paper_low" {
            saw_alert = true;
            break;
        }
    }
    assert!(saw_alert, "desk alert for paper low");
    // ... and the status LED (BCM 23) blinks "degraded" rather than staying on.
    eventually("a blinking status LED", || async {
        let mut seen = std::collections::HashSet::new();
        for _ in 0..8 {
            let p = pins(&c, &srv).await;
            if let Some(led) = p.iter().find(|p| p["pin"] == 23) {
                seen.insert(led["level"].as_str().unwrap_or("").to_string());
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        seen.len() == 2
    })
    .await;

    // Outputs cannot be driven from outside.
    let r = c
        .post(srv.url("/api/v1/sim/gpio/23"))
        .json(&json!({"level": "high"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let r = c
        .post(srv.url("/api/v1/sim/gpio/5"))
        .json(&json!({"level": "sideways"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
}

#[tokio::test]
async fn sim_routes_are_absent_outside_demo_mode() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("lotse.toml");
    std::fs::write(
        &cfg,
        format!(
            "[site]\nid = \"t\"\n[server]\nlisten = \"127.0.0.1:0\"\ndata_dir = \"{}\"\n[[services]]\nid = \"a\"\nprefix = \"A\"\n[[counters]]\nid = \"c1\"\nname = \"1\"\nservices = [\"a\"]\n",
            dir.path().join("data").display()
        ),
    )
    .unwrap();
    // An operator creates the first account with the command line.
    let mut add = std::process::Command::new(lotse_tests::lotse_bin())
        .args(["account", "add", "--username", "ops", "--role", "admin"])
        .arg("--password-stdin")
        .arg("--config")
        .arg(&cfg)
        .stdin(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        let mut stdin = add.stdin.take().unwrap();
        writeln!(stdin, "operator password 1").unwrap();
    }
    assert!(add.wait().unwrap().success());
    let srv = Server::serve(&cfg);
    let r = client()
        .get(srv.url("/api/v1/sim/gpio"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401, "no staff route without a login");
    let c = srv.login_blocking("ops", "operator password 1").client();
    let r = c.get(srv.url("/api/v1/sim/gpio")).send().await.unwrap();
    assert_eq!(r.status(), 404);
    let r = c
        .post(srv.url("/api/v1/sim/gpio/5"))
        .json(&json!({"level": "low"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
}

#[test]
fn a_pin_map_with_gpio_but_no_gpio_hardware_fails_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("lotse.toml");
    std::fs::write(
        &cfg,
        format!(
            "[site]\nid = \"t\"\n[server]\nlisten = \"127.0.0.1:0\"\ndata_dir = \"{}\"\n[[services]]\nid = \"a\"\nprefix = \"A\"\n[[counters]]\nid = \"c1\"\nname = \"1\"\nservices = [\"a\"]\n[gpio]\nbackend = \"rpi\"\n[[gpio.pins]]\npin = 17\nfunction = \"ticket_button\"\npull = \"up\"\n",
            dir.path().join("data").display()
        ),
    )
    .unwrap();
    let out = std::process::Command::new(lotse_tests::lotse_bin())
        .args(["serve", "--config"])
        .arg(&cfg)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("GPIO"), "{err}");
}

#[test]
fn an_invalid_pin_map_is_rejected_with_the_offending_line() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("lotse.toml");
    std::fs::write(
        &cfg,
        "[site]\nid = \"t\"\n[[services]]\nid = \"a\"\nprefix = \"A\"\n[[counters]]\nid = \"c1\"\nname = \"1\"\nservices = [\"a\"]\n[gpio]\nbackend = \"sim\"\n[[gpio.pins]]\npin = 17\nfunction = \"ticket_button\"\n[[gpio.pins]]\npin = 17\nfunction = \"buzzer\"\n[[gpio.pins]]\npin = 1\nfunction = \"door_switch\"\n[[gpio.pins]]\npin = 4\nfunction = \"laser\"\n",
    )
    .unwrap();
    let out = std::process::Command::new(lotse_tests::lotse_bin())
        .arg("check-config")
        .arg(&cfg)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("line 15: gpio.pins[1]"),
        "duplicate pin: {err}"
    );
    assert!(err.contains("line 18: gpio.pins[2]"), "reserved pin: {err}");
    assert!(
        err.contains("line 21: gpio.pins[3]"),
        "unknown function: {err}"
    );
    assert!(
        err.contains("ticket_button"),
        "lists the known functions: {err}"
    );
}
