//! Printed tickets: the bytes a printer receives are decoded back into a picture,
//! its QR code read and followed; printer failures never stop a check-in.

use std::time::{Duration, Instant};

use lotse_tests::fake_printer::{FakePrinter, Mode, escpos_raster};
use lotse_tests::{Server, SseReader};
use serde_json::{Value, json};

fn screenshots_dir() -> std::path::PathBuf {
    let exe = std::env::current_exe().unwrap();
    // target/<profile>/deps/<test> → target/screenshots
    let dir = exe.ancestors().nth(3).unwrap().join("screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn read_qr(width: u32, height: u32, luma: Vec<u8>) -> String {
    let found =
        rxing::helpers::detect_in_luma(luma, width, height, Some(rxing::BarcodeFormat::QR_CODE))
            .expect("a QR code on the ticket");
    found.getText().to_string()
}

async fn wait_for<F: FnMut() -> bool>(what: &str, timeout: Duration, mut f: F) {
    let deadline = Instant::now() + timeout;
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits for an `alert` event with the given code (and ticket number, if given).
async fn expect_alert(sse: &mut SseReader, code: &str, number: Option<&str>) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let ev = sse
            .next(left)
            .await
            .unwrap_or_else(|| panic!("no {code} alert"));
        eprintln!("event {:?}: {}", ev.event, ev.data);
        if ev.event.as_deref() == Some("alert")
            && ev.data["code"] == code
            && number.is_none_or(|n| ev.data["ticket"]["number"] == n)
        {
            return ev.data;
        }
    }
}

#[tokio::test]
async fn simulated_printer_tickets_decode_back_to_a_working_status_link() {
    let dir = tempfile::tempdir().unwrap();
    let srv = Server::start(dir.path());
    let c = srv.client();
    let shots = screenshots_dir();
    for (lang, service) in [
        ("de", "residence"),
        ("uk", "work"),
        ("ar", "housing"),
        ("fa", "general"),
    ] {
        let t = srv.check_in(service, lang).await;
        assert_eq!(t["printed"], true);
        let number = t["number"].as_str().unwrap().to_string();
        let escpos = dir.path().join("printer").join(format!("{number}.escpos"));
        let png = dir.path().join("printer").join(format!("{number}.png"));
        wait_for(
            "the simulated printer's files",
            Duration::from_secs(10),
            || escpos.exists() && png.exists(),
        )
        .await;
        std::fs::copy(&png, shots.join(format!("ticket-{lang}.png"))).unwrap();

        let bytes = std::fs::read(&escpos).unwrap();
        assert_eq!(&bytes[..2], b"\x1b@", "starts with ESC @");
        let (w, h, luma) = escpos_raster(&bytes).expect("GS v 0 raster");
        assert_eq!(w, 576, "80 mm paper at 203 dpi");
        assert!(h > 400);
        let url = read_qr(w, h, luma);
        let token = t["token"].as_str().unwrap();
        assert!(url.ends_with(&format!("/t/{token}")), "{url}");
        let path = &url[url.find("/t/").unwrap()..];
        let page = c.get(srv.url(path)).send().await.unwrap();
        assert_eq!(page.status(), 200);
        let html = page.text().await.unwrap();
        assert!(html.contains(&number), "the status page shows the number");
        assert!(html.contains(&format!("lang=\"{lang}\"")));
    }
    let r = c
        .get(srv.url("/t/00000000000000000000000000000000"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
}

#[tokio::test]
async fn network_printer_prints_and_failures_fall_back_to_the_screen() {
    let printer = FakePrinter::start(Mode::Ready);
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("printer.toml");
    std::fs::write(
        &cfg,
        format!(
            "[printer]\nbackend = \"escpos-tcp\"\naddress = \"{}\"\ntimeout = \"3s\"\n",
            printer.address
        ),
    )
    .unwrap();
    let srv = Server::start_with(
        &dir.path().join("data"),
        &["--config", cfg.to_str().unwrap()],
    );
    let mut sse = SseReader::connect(&srv.base, None).await;

    // A good print: the bytes on the wire are the ticket.
    let t = srv.check_in("residence", "de").await;
    assert_eq!(t["printed"], true);
    wait_for("a job at the printer", Duration::from_secs(10), || {
        !printer.jobs().is_empty()
    })
    .await;
    let (w, h, luma) = escpos_raster(&printer.jobs()[0]).unwrap();
    assert!(read_qr(w, h, luma).contains(t["token"].as_str().unwrap()));

    // Paper out, as the printer reports it over DLE EOT.
    printer.set_mode(Mode::PaperOut);
    let alert = expect_alert(&mut sse, "printer_state", None).await;
    assert_eq!(alert["printer"]["state"], "paper_out");
    let h: Value = srv.get_json("/healthz").await;
    assert_eq!(h["components"]["printer"]["status"], "fault");
    assert_eq!(h["status"], "degraded", "check-in still works");
    let t = srv.check_in("work", "uk").await;
    assert_eq!(t["printed"], false, "the kiosk shows the number");
    expect_alert(&mut sse, "print_failed", t["number"].as_str()).await;

    // The printer vanishes in the middle of a job: retried once, then the fallback.
    printer.set_mode(Mode::VanishMidJob);
    expect_alert(&mut sse, "printer_state", None).await; // back to "ready"
    let t = srv.check_in("general", "ar").await;
    assert_eq!(t["printed"], true, "it looked fine when the job was queued");
    let alert = expect_alert(&mut sse, "print_failed", t["number"].as_str()).await;
    assert_eq!(alert["level"], "error");
    let q: Value = srv.get_json("/api/v1/queue").await;
    assert_eq!(
        q["tickets"].as_array().unwrap().len(),
        3,
        "every check-in stands"
    );
}

#[tokio::test]
async fn paper_out_from_the_gpio_sensor_falls_back_to_the_screen() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("sensor.toml");
    std::fs::write(
        &cfg,
        "[printer]\nbackend = \"sim\"\npaper_sensor = \"out\"\n",
    )
    .unwrap();
    let srv = Server::start_with(
        &dir.path().join("data"),
        &["--config", cfg.to_str().unwrap()],
    );
    let c = srv.client();
    let mut sse = SseReader::connect(&srv.base, None).await;
    assert_eq!(srv.check_in("general", "de").await["printed"], true);
    // The paper sensor (BCM 27, active low) triggers.
    let r = c
        .post(srv.url("/api/v1/sim/gpio/27"))
        .json(&json!({"level": "low"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let alert = expect_alert(&mut sse, "printer_state", None).await;
    assert_eq!(alert["printer"]["state"], "paper_out");
    let t = srv.check_in("general", "fa").await;
    assert_eq!(t["printed"], false, "the kiosk shows the number");
    expect_alert(&mut sse, "print_failed", t["number"].as_str()).await;
    let metrics = c
        .get(srv.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("lotse_printer_state{state=\"paper_out\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("lotse_tickets_not_printed_total 1"),
        "{metrics}"
    );
}
