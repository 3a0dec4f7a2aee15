//! Ticket figures for `lotse bench`: render times of the raster and the PDF, and the
//! time from a check-in's HTTP request to the first byte of its job at a network
//! printer (a fake ESC/POS printer on loopback that answers status queries).

use std::fmt::Write as _;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, BufReader};

use super::{PaperWidth, TicketView, render_pdf, render_raster};

fn stats(mut v: Vec<Duration>) -> (f64, f64, f64) {
    v.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let at = |p: f64| ms(v[((v.len() as f64 - 1.0) * p).round() as usize]);
    (at(0.5), at(0.99), ms(*v.last().unwrap_or(&Duration::ZERO)))
}

/// Render times over `rounds` tickets in German and in Arabic (shaped, right to left).
pub fn render_times(rounds: usize) -> String {
    let mut out = String::new();
    let fonts = match crate::assets::fonts() {
        Ok(f) => f,
        Err(e) => return format!("ticket rendering: no fonts: {e}\n"),
    };
    for lang in ["de", "ar"] {
        let catalog = crate::assets::ticket_catalog(lang);
        let local = crate::assets::text(lang, "service.residence.name", &[]);
        let de = crate::assets::text("de", "service.residence.name", &[]);
        let view = TicketView {
            number: "A-042",
            service_name_local: &local,
            service_name_de: &de,
            language: lang,
            issued_at: chrono::Utc::now().with_timezone(&crate::clock::TZ),
            people_ahead: 7,
            estimated_wait_minutes: 35,
            status_url: "http://lotse.local:8080/t/0123456789abcdef0123456789abcdef",
            site_name: "Kommunales Integrationszentrum Musterstadt",
            logo: None,
        };
        let mut raster = Vec::with_capacity(rounds);
        let mut pdf = Vec::with_capacity(rounds);
        for _ in 0..rounds {
            let t = Instant::now();
            let img = render_raster(&view, &catalog, &fonts, PaperWidth::Mm80);
            raster.push(t.elapsed());
            let _ = std::hint::black_box(img);
            let t = Instant::now();
            let doc = render_pdf(&view, &catalog, &fonts);
            pdf.push(t.elapsed());
            std::hint::black_box(doc.ok());
        }
        let (r50, r99, _) = stats(raster);
        let (p50, p99, _) = stats(pdf);
        let _ = writeln!(
            out,
            "ticket render ({lang}, 80 mm): raster p50 {r50:.2} ms, p99 {r99:.2} ms; PDF p50 {p50:.2} ms, p99 {p99:.2} ms ({rounds} each)"
        );
    }
    out
}

/// A loopback ESC/POS printer that reports when the first job byte of each
/// connection arrives.
fn fake_printer() -> std::io::Result<(String, tokio::sync::mpsc::UnboundedReceiver<Instant>)> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?.to_string();
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { continue };
            let tx = tx.clone();
            std::thread::spawn(move || {
                let _ = conn.set_nodelay(true);
                let mut buf = [0u8; 16384];
                let mut job = false;
                let mut pending: Vec<u8> = Vec::new();
                while let Ok(n) = conn.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    pending.extend_from_slice(&buf[..n]);
                    // Answer status queries; anything else is the job.
                    loop {
                        if pending.len() >= 3 && pending[0] == 0x10 && pending[1] == 0x04 {
                            let _ = conn.write_all(&[0x12]);
                            pending.drain(..3);
                        } else if !(pending.is_empty() || pending[0] == 0x10 && pending.len() < 3) {
                            if !job {
                                job = true;
                                let _ = tx.send(Instant::now());
                            }
                            let l = pending.len();
                            if l >= 3 && pending[l - 3] == 0x10 && pending[l - 2] == 0x04 {
                                let _ = conn.write_all(&[0x12]);
                            }
                            pending.clear();
                        } else {
                            break;
                        }
                    }
                }
            });
        }
    });
    Ok((addr, rx))
}

/// Check-in → first job byte at the printer, over `rounds` sequential check-ins.
pub async fn checkin_to_first_byte(exe: &Path, rounds: usize) -> Result<String, String> {
    let (addr, mut arrivals) = fake_printer().map_err(|e| e.to_string())?;
    let dir = std::env::temp_dir().join(format!("lotse-bench-print-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let cfg = dir.join("printer.toml");
    std::fs::write(
        &cfg,
        format!(
            "[printer]\nbackend = \"escpos-tcp\"\naddress = \"{addr}\"\n{}",
            crate::bench::BENCH_LIMITS
        ),
    )
    .map_err(|e| e.to_string())?;
    let mut child = tokio::process::Command::new(exe)
        .args(["demo", "--listen", "127.0.0.1:0", "--data"])
        .arg(dir.join("data"))
        .arg("--config")
        .arg(&cfg)
        .env("LOTSE_LOG", "warn")
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| e.to_string())?;
    let out = child.stdout.take().ok_or("no stdout")?;
    let mut lines = BufReader::new(out).lines();
    let mut base = None;
    while let Ok(Some(line)) = lines.next_line().await {
        if let Some(rest) = line.split(" listening on ").nth(1) {
            base = Some(format!("http://{}", rest.trim()));
            break;
        }
    }
    let base = base.ok_or("the server did not start")?;
    let client = reqwest::Client::new();
    let mut lat = Vec::with_capacity(rounds);
    for i in 0..rounds {
        while arrivals.try_recv().is_ok() {}
        let t0 = Instant::now();
        let r = client
            .post(format!("{base}/api/v1/checkins"))
            .json(&serde_json::json!({"service": "general", "language": if i % 2 == 0 { "de" } else { "ar" }}))
            .send()
            .await
            .map_err(|e| e.to_string())?;
        if r.status() != reqwest::StatusCode::CREATED {
            return Err(format!("check-in answered {}", r.status()));
        }
        let at = tokio::time::timeout(Duration::from_secs(10), arrivals.recv())
            .await
            .ok()
            .flatten()
            .ok_or("no job reached the printer")?;
        lat.push(at.saturating_duration_since(t0));
    }
    let _ = child.start_kill();
    let _ = std::fs::remove_dir_all(&dir);
    let (p50, p99, max) = stats(lat);
    Ok(format!(
        "check-in → first job byte at a TCP printer: p50 {p50:.2} ms, p99 {p99:.2} ms, max {max:.2} ms ({rounds} check-ins)\n"
    ))
}
