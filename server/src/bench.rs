//! `lotse bench`: starts a real `lotse demo` process on loopback with a fresh
//! database and measures it from outside, the way kiosks and displays load it.
//! Figures are printed; nothing here asserts a speed (that would be a flaky test).

use std::fmt::Write as _;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use futures::StreamExt;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

#[derive(Debug, Clone)]
pub struct Options {
    pub seconds: u64,
    pub sse_clients: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    #[error("cannot run {0}: {1}")]
    Spawn(String, std::io::Error),
    #[error("the server under test did not report its address")]
    NoAddress,
    #[error("HTTP: {0}")]
    Http(#[from] reqwest::Error),
    #[error("I/O: {0}")]
    Io(#[from] std::io::Error),
    #[error("unexpected answer: {0}")]
    Unexpected(String),
}

/// Every bench server is loaded from one address far beyond a kiosk's pace, so the
/// per-kiosk check-in limit and the stream cap are lifted (said in the report).
pub const BENCH_LIMITS: &str =
    "[server]\ncheckins_per_minute = 1000000\nmax_event_streams = 100000\n";

fn rss_kib(pid: u32) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    s.lines()
        .find(|l| l.starts_with("VmRSS:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx.min(sorted.len() - 1)]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

async fn start_server(
    exe: &Path,
    data: &Path,
    password: &str,
) -> Result<(Child, String), BenchError> {
    std::fs::create_dir_all(data)?;
    let config = data.join("bench.toml");
    std::fs::write(&config, BENCH_LIMITS)?;
    let mut child = Command::new(exe)
        .args(["demo", "--listen", "127.0.0.1:0", "--data"])
        .arg(data)
        .arg("--config")
        .arg(&config)
        .env("LOTSE_LOG", "warn")
        .env("LOTSE_DEMO_PASSWORD", password)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| BenchError::Spawn(exe.display().to_string(), e))?;
    let out = child.stdout.take().ok_or(BenchError::NoAddress)?;
    let mut lines = BufReader::new(out).lines();
    while let Some(line) = lines.next_line().await? {
        if let Some(rest) = line.split(" listening on ").nth(1) {
            let addr = rest.trim().to_string();
            tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
            return Ok((child, format!("http://{addr}")));
        }
    }
    Err(BenchError::NoAddress)
}

async fn checkin(client: &reqwest::Client, base: &str, service: &str) -> Result<(), BenchError> {
    let r = client
        .post(format!("{base}/api/v1/checkins"))
        .json(&serde_json::json!({"service": service, "language": "de"}))
        .send()
        .await?;
    if r.status() != reqwest::StatusCode::CREATED {
        return Err(BenchError::Unexpected(format!(
            "check-in answered {}",
            r.status()
        )));
    }
    Ok(())
}

/// Logs in as the demo `desk`; returns the headers every staff request carries.
async fn login(base: &str, password: &str) -> Result<reqwest::header::HeaderMap, BenchError> {
    let r = reqwest::Client::new()
        .post(format!("{base}/api/v1/login"))
        .json(&serde_json::json!({"username": "desk", "password": password}))
        .send()
        .await?;
    if r.status() != reqwest::StatusCode::OK {
        return Err(BenchError::Unexpected(format!(
            "login answered {}",
            r.status()
        )));
    }
    let cookie = r
        .headers()
        .get(reqwest::header::SET_COOKIE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(str::to_string)
        .ok_or_else(|| BenchError::Unexpected("login without a session cookie".into()))?;
    let body: serde_json::Value = r.json().await?;
    let csrf = body["csrf_token"].as_str().unwrap_or_default().to_string();
    let mut h = reqwest::header::HeaderMap::new();
    for (k, v) in [("cookie", cookie), ("x-csrf-token", csrf)] {
        let v = reqwest::header::HeaderValue::from_str(&v)
            .map_err(|e| BenchError::Unexpected(format!("login answer: {e}")))?;
        h.insert(k, v);
    }
    Ok(h)
}

pub async fn run(exe: &Path, opts: Options) -> Result<String, BenchError> {
    let dir = tempfile_dir()?;
    let password = crate::auth::random_secret();
    let (mut child, base) = start_server(exe, &dir, &password).await?;
    let pid = child.id().unwrap_or(0);
    // One client for everything: check-ins ignore the session, call-next needs it.
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(256)
        .default_headers(login(&base, &password).await?)
        .build()?;
    let services = ["residence", "work", "housing", "naturalisation", "general"];
    let mut report = String::new();
    let _ = writeln!(
        report,
        "lotse bench — {} build, server pid {pid}, {} (per-kiosk check-in limit and stream cap lifted)",
        if cfg!(debug_assertions) {
            "DEBUG (numbers not representative)"
        } else {
            "release"
        },
        base
    );

    // Warm up, then idle memory.
    checkin(&client, &base, "general").await?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let idle = rss_kib(pid).unwrap_or(0);

    // Sustained check-ins from many concurrent kiosks.
    let concurrency = 64;
    let deadline = Instant::now() + Duration::from_secs(opts.seconds);
    let sampler = {
        tokio::spawn(async move {
            let mut peak = 0;
            while Instant::now() < deadline {
                peak = peak.max(rss_kib(pid).unwrap_or(0));
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            peak
        })
    };
    let started = Instant::now();
    let mut tasks = Vec::new();
    for i in 0..concurrency {
        let client = client.clone();
        let base = base.clone();
        tasks.push(tokio::spawn(async move {
            let mut n = 0u64;
            while Instant::now() < deadline {
                if checkin(&client, &base, services[i % services.len()])
                    .await
                    .is_ok()
                {
                    n += 1;
                }
            }
            n
        }));
    }
    let mut total = 0;
    for t in tasks {
        total += t.await.unwrap_or(0);
    }
    let elapsed = started.elapsed().as_secs_f64();
    let peak = sampler.await.unwrap_or(0);
    let _ = writeln!(
        report,
        "check-ins sustained: {:.0}/s ({total} in {elapsed:.1} s, {concurrency} concurrent clients, synchronous=FULL)",
        total as f64 / elapsed
    );

    // Latency of single requests on a quiet server.
    let mut lat = Vec::new();
    for i in 0..1000 {
        let t = Instant::now();
        checkin(&client, &base, services[i % services.len()]).await?;
        lat.push(t.elapsed());
    }
    lat.sort();
    let _ = writeln!(
        report,
        "check-in latency over HTTP: p50 {:.2} ms, p99 {:.2} ms (1000 sequential)",
        ms(percentile(&lat, 0.5)),
        ms(percentile(&lat, 0.99))
    );
    let mut lat = Vec::new();
    for i in 0..1000 {
        let counter = ["c1", "c2", "c3"][i % 3];
        let t = Instant::now();
        let r = client
            .post(format!("{base}/api/v1/counters/{counter}/call-next"))
            .send()
            .await?;
        lat.push(t.elapsed());
        if !r.status().is_success() {
            return Err(BenchError::Unexpected(format!(
                "call-next answered {}",
                r.status()
            )));
        }
    }
    lat.sort();
    let _ = writeln!(
        report,
        "call-next latency over HTTP: p50 {:.2} ms, p99 {:.2} ms (1000 sequential)",
        ms(percentile(&lat, 0.5)),
        ms(percentile(&lat, 0.99))
    );

    // Call → SSE event with many displays connected.
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(i64, Instant)>();
    let mut readers = Vec::new();
    for _ in 0..opts.sse_clients {
        let resp = client.get(format!("{base}/api/v1/events")).send().await?;
        let tx = tx.clone();
        readers.push(tokio::spawn(async move {
            let mut body = resp.bytes_stream();
            let mut buf = String::new();
            while let Some(Ok(chunk)) = body.next().await {
                buf.push_str(&String::from_utf8_lossy(&chunk));
                while let Some(end) = buf.find("\n\n") {
                    let frame: String = buf.drain(..end + 2).collect();
                    if !frame.contains("event: ticket.called") {
                        continue;
                    }
                    let id = frame
                        .lines()
                        .find_map(|l| l.strip_prefix("data: "))
                        .and_then(|d| serde_json::from_str::<serde_json::Value>(d).ok())
                        .and_then(|v| v["ticket"]["id"].as_i64());
                    if let Some(id) = id {
                        let _ = tx.send((id, Instant::now()));
                    }
                }
            }
        }));
    }
    drop(tx);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let calls = 200;
    let mut lat = Vec::new();
    for i in 0..calls {
        let counter = ["c1", "c2", "c3"][i % 3];
        let t0 = Instant::now();
        let r = client
            .post(format!("{base}/api/v1/counters/{counter}/call-next"))
            .send()
            .await?;
        let v: serde_json::Value = r.json().await?;
        let id = v["id"].as_i64().unwrap_or(-1);
        let mut got = 0;
        let wait = tokio::time::timeout(Duration::from_secs(5), async {
            while got < opts.sse_clients {
                match rx.recv().await {
                    Some((tid, at)) if tid == id => {
                        got += 1;
                        lat.push(at.saturating_duration_since(t0));
                    }
                    Some(_) => {}
                    None => break,
                }
            }
        })
        .await;
        if wait.is_err() {
            let _ = writeln!(
                report,
                "warning: only {got} of {} clients saw call {i}",
                opts.sse_clients
            );
        }
    }
    lat.sort();
    let _ = writeln!(
        report,
        "call-next → SSE event at {} clients: p50 {:.2} ms, p99 {:.2} ms ({} deliveries)",
        opts.sse_clients,
        ms(percentile(&lat, 0.5)),
        ms(percentile(&lat, 0.99)),
        lat.len()
    );
    let with_clients = rss_kib(pid).unwrap_or(0);
    let _ = writeln!(
        report,
        "RSS: idle {:.1} MB, peak under check-in load {:.1} MB, with {} SSE clients {:.1} MB",
        idle as f64 / 1024.0,
        peak as f64 / 1024.0,
        opts.sse_clients,
        with_clients as f64 / 1024.0
    );
    for r in readers {
        r.abort();
    }
    let _ = child.start_kill();
    let _ = child.wait().await;
    let _ = std::fs::remove_dir_all(&dir);
    // Tickets: render times and check-in → first byte at a network printer.
    report.push_str(&crate::tickets::bench::render_times(200));
    match crate::tickets::bench::checkin_to_first_byte(exe, 300).await {
        Ok(line) => report.push_str(&line),
        Err(e) => {
            let _ = writeln!(report, "check-in → printer: failed: {e}");
        }
    }
    // Case-system outbox: a 10,000-event backlog drained into a local receiver.
    match crate::outbox::bench::drain(exe, 10_000).await {
        Ok(line) => report.push_str(&line),
        Err(e) => {
            let _ = writeln!(report, "outbox drain: failed: {e}");
        }
    }
    Ok(report)
}

fn tempfile_dir() -> Result<std::path::PathBuf, BenchError> {
    let dir = std::env::temp_dir().join(format!("lotse-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}
