//! `lotse bench`: how fast a backlog of case-system events drains into a local
//! receiver. The backlog is made with the real queue code (one check-in, one
//! `visit.checked_in` event) while no endpoint is configured; then a real `lotse demo`
//! starts with `[case_system]` pointing at a receiver in this process, which checks
//! every signature and counts distinct `webhook-id`s. Goal: 10,000 events in ≤ 60 s.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::sync::Notify;

use super::sign::{self, Signer};
use crate::clock::SystemClock;
use crate::config::Settings;
use crate::queue::{CheckinRequest, Queue, QueueError};
use crate::storage::{Db, StorageError};

#[derive(Debug, thiserror::Error)]
pub enum DrainError {
    #[error("I/O: {0}")]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error(transparent)]
    Queue(#[from] QueueError),
    #[error("demo configuration: {0}")]
    Config(String),
    #[error("cannot run {0}: {1}")]
    Spawn(String, std::io::Error),
    #[error("only {got} of {want} events arrived within {secs} s")]
    Timeout { got: usize, want: usize, secs: u64 },
}

/// A test secret: the bench needs a valid one, not a confidential one.
const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

#[derive(Debug, Default)]
struct Seen {
    ids: HashSet<String>,
    requests: usize,
    bad: usize,
}

#[derive(Debug)]
struct Sink {
    signer: Signer,
    seen: Mutex<Seen>,
    want: usize,
    done: Notify,
}

async fn hook(State(sink): State<Arc<Sink>>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let h = |n: &str| {
        headers
            .get(n)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    };
    let id = h("webhook-id");
    let ts: i64 = h("webhook-timestamp").parse().unwrap_or(0);
    let ok = sink.signer.sign(&id, ts, &body) == h("webhook-signature");
    let mut seen = sink.seen.lock().unwrap_or_else(|e| e.into_inner());
    seen.requests += 1;
    if !ok {
        seen.bad += 1;
        return StatusCode::UNAUTHORIZED;
    }
    seen.ids.insert(id);
    if seen.ids.len() >= sink.want {
        sink.done.notify_one();
    }
    StatusCode::NO_CONTENT
}

/// Makes a backlog of `events` events, lets `exe` (a `lotse` binary) push them to a
/// local receiver, and returns the report line.
pub async fn drain(exe: &Path, events: usize) -> Result<String, DrainError> {
    let dir = std::env::temp_dir().join(format!("lotse-outbox-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let data = dir.join("data");
    std::fs::create_dir_all(&data)?;
    let result = drain_in(exe, events, &dir, &data).await;
    let _ = std::fs::remove_dir_all(&dir);
    result
}

async fn make_backlog(data: &Path, events: usize) -> Result<Duration, DrainError> {
    let settings = Settings::demo(None).map_err(|e| DrainError::Config(e.to_string()))?;
    let db = Db::open(
        &crate::appliance::db_path(data),
        Arc::new(SystemClock),
        |_| {},
    )?;
    let queue = Queue::new(db.clone(), settings.queue.clone());
    queue.sync_site(&settings).await?;
    super::init(&db, &settings).await?;
    let services = ["residence", "work", "housing", "naturalisation", "general"];
    let started = Instant::now();
    let mut made = 0;
    while made < events {
        let n = (events - made).min(256);
        let batch = (0..n).map(|i| {
            queue.check_in(CheckinRequest {
                service: services[(made + i) % services.len()].into(),
                language: "de".into(),
                ..Default::default()
            })
        });
        for r in futures::future::join_all(batch).await {
            r?;
        }
        made += n;
    }
    let took = started.elapsed();
    db.close().await;
    Ok(took)
}

async fn drain_in(
    exe: &Path,
    events: usize,
    dir: &Path,
    data: &Path,
) -> Result<String, DrainError> {
    let made_in = make_backlog(data, events).await?;

    let key = sign::parse_secret(SECRET).map_err(DrainError::Config)?;
    let sink = Arc::new(Sink {
        signer: Signer::from_keys(vec![key], None),
        seen: Mutex::new(Seen::default()),
        want: events,
        done: Notify::new(),
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let app = Router::new()
        .route("/hook", post(hook))
        .with_state(sink.clone());
    let server = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });

    let config: PathBuf = dir.join("case.toml");
    std::fs::write(
        &config,
        format!(
            "[case_system]\nurl = \"http://{addr}/hook\"\nsecret = \"{SECRET}\"\nretry_initial = \"100ms\"\nretry_max = \"1s\"\n{}",
            crate::bench::BENCH_LIMITS
        ),
    )?;
    let started = Instant::now();
    let mut child = tokio::process::Command::new(exe)
        .args(["demo", "--listen", "127.0.0.1:0", "--data"])
        .arg(data)
        .arg("--config")
        .arg(&config)
        .env("LOTSE_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| DrainError::Spawn(exe.display().to_string(), e))?;
    if let Some(out) = child.stdout.take() {
        let mut lines = BufReader::new(out).lines();
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    }
    let limit = Duration::from_secs(300);
    let waited = tokio::time::timeout(limit, async {
        loop {
            let notified = sink.done.notified();
            if sink
                .seen
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .ids
                .len()
                >= events
            {
                return;
            }
            let _ = tokio::time::timeout(Duration::from_millis(200), notified).await;
        }
    })
    .await;
    let took = started.elapsed();
    let _ = child.start_kill();
    let _ = child.wait().await;
    server.abort();
    let seen = sink.seen.lock().unwrap_or_else(|e| e.into_inner());
    if waited.is_err() {
        return Err(DrainError::Timeout {
            got: seen.ids.len(),
            want: events,
            secs: limit.as_secs(),
        });
    }
    Ok(format!(
        "outbox drain: {events} events into a local receiver in {:.1} s ({:.0}/s, process start included; goal ≤ 60 s), {} requests, {} duplicates, {} bad signatures (backlog made in {:.1} s)\n",
        took.as_secs_f64(),
        events as f64 / took.as_secs_f64(),
        seen.requests,
        seen.requests.saturating_sub(seen.ids.len() + seen.bad),
        seen.bad,
        made_in.as_secs_f64()
    ))
}
