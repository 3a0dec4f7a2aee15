//! Shared fixtures for the end-to-end tests: the real `lotse` binary on loopback
//! with its own data directory, an HTTP client, and an SSE reader.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use futures::StreamExt;

/// Path of the `lotse` binary, built once per test process so it is never stale.
pub fn lotse_bin() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        if let Some(p) = std::env::var_os("LOTSE_BIN") {
            return PathBuf::from(p);
        }
        let exe = std::env::current_exe().expect("test executable path");
        // target/<profile>/deps/<test> → target/<profile>
        let profile_dir = exe
            .parent()
            .and_then(Path::parent)
            .expect("test binary lives in target/<profile>/deps");
        let target_dir = profile_dir.parent().expect("target dir");
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let mut cmd = Command::new(cargo);
        cmd.args([
            "build",
            "-q",
            "-p",
            "lotse-server",
            "--bin",
            "lotse",
            "--target-dir",
        ])
        .arg(target_dir);
        if profile_dir.file_name().is_some_and(|n| n == "release") {
            cmd.arg("--release");
        }
        let status = cmd.status().expect("run cargo build");
        assert!(status.success(), "building lotse failed");
        profile_dir.join("lotse")
    })
    .clone()
}

/// The password of the demo accounts `desk` and `admin` in every test server.
pub const DEMO_PASSWORD: &str = "lotse-e2e-demo-password";

/// A logged-in staff session: the cookie and the CSRF token of the login answer.
#[derive(Debug, Clone)]
pub struct Session {
    /// `lotse_session=<id>`, ready for a `Cookie` header.
    pub cookie: String,
    pub csrf: String,
}

impl Session {
    /// A client that sends this session's cookie and CSRF token with every request.
    pub fn client(&self) -> reqwest::Client {
        let mut h = reqwest::header::HeaderMap::new();
        h.insert(
            reqwest::header::COOKIE,
            self.cookie.parse().expect("cookie header"),
        );
        h.insert("x-csrf-token", self.csrf.parse().expect("csrf header"));
        reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .default_headers(h)
            .build()
            .expect("client")
    }
}

/// A `lotse demo` process with a data directory the test owns.
#[derive(Debug)]
pub struct Server {
    child: Child,
    pub base: String,
    /// `https://host:port` when the server has TLS on.
    pub https: Option<String>,
    pub data: PathBuf,
    /// `admin`, logged in and re-authenticated at start (demo servers only).
    admin: Option<Session>,
}

impl Server {
    /// Starts `lotse demo` on a free loopback port with `data` as its data directory.
    pub fn start(data: &Path) -> Server {
        Self::start_with(data, &[])
    }

    pub fn start_with(data: &Path, extra: &[&str]) -> Server {
        Self::start_listening(data, "127.0.0.1:0", extra)
    }

    /// Starts `lotse demo` on a given address, e.g. the one of a server that was
    /// just stopped, so that open browser pages find it again.
    pub fn start_on(data: &Path, addr: &str) -> Server {
        Self::start_listening(data, addr, &[])
    }

    fn start_listening(data: &Path, listen: &str, extra: &[&str]) -> Server {
        let mut cmd = Command::new(lotse_bin());
        cmd.args(["demo", "--listen", listen, "--data"])
            .arg(data)
            .args(e2e_config(data, extra));
        Self::demo(cmd, data)
    }

    /// Spawns a `lotse demo` command and logs in as its `admin`.
    fn demo(cmd: Command, data: &Path) -> Server {
        let mut srv = Self::spawn(cmd, data);
        let admin = srv.login_blocking("admin", DEMO_PASSWORD);
        let (status, _, body) = raw_request(
            srv.addr(),
            "POST",
            "/api/v1/reauth",
            &admin,
            Some(&serde_json::json!({"password": DEMO_PASSWORD})),
        );
        assert_eq!(status, 200, "re-authentication of admin: {body}");
        srv.admin = Some(admin);
        srv
    }

    /// Logs in with a plain blocking request (usable outside a runtime).
    pub fn login_blocking(&self, username: &str, password: &str) -> Session {
        let none = Session {
            cookie: String::new(),
            csrf: String::new(),
        };
        let (status, headers, body) = raw_request(
            self.addr(),
            "POST",
            "/api/v1/login",
            &none,
            Some(&serde_json::json!({"username": username, "password": password})),
        );
        assert_eq!(status, 200, "login as {username}: {body}");
        let cookie = headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("set-cookie"))
            .and_then(|(_, v)| v.split(';').next())
            .expect("a session cookie")
            .to_string();
        let answer: serde_json::Value = serde_json::from_str(&body).expect("login JSON");
        Session {
            cookie,
            csrf: answer["csrf_token"]
                .as_str()
                .expect("csrf_token")
                .to_string(),
        }
    }

    /// The `admin` session of a demo server (re-authenticated at start).
    pub fn admin(&self) -> &Session {
        self.admin
            .as_ref()
            .expect("only `lotse demo` servers have the demo admin")
    }

    /// A client logged in as the demo `admin`, CSRF token included.
    pub fn client(&self) -> reqwest::Client {
        self.admin().client()
    }

    /// `lotse serve --config FILE`: production mode, no simulated hardware routes.
    /// The data directory is whatever the file says.
    pub fn serve(config: &Path) -> Server {
        let mut cmd = Command::new(lotse_bin());
        cmd.args(["serve", "--config"]).arg(config);
        Self::spawn(cmd, config.parent().unwrap_or(Path::new(".")))
    }

    /// `lotse demo` logging at debug level into `log`, for tests that search the log.
    pub fn start_logged(data: &Path, extra: &[&str], log: &Path) -> Server {
        let mut cmd = Command::new(lotse_bin());
        cmd.args(["demo", "--listen", "127.0.0.1:0", "--data"])
            .arg(data)
            .args(e2e_config(data, extra));
        let file = std::fs::File::create(log).expect("create log file");
        cmd.env("LOTSE_LOG", "debug").stderr(file);
        Self::demo(cmd, data)
    }

    /// Any `lotse` command line that serves and prints "listening on ADDR".
    pub fn spawn(mut cmd: Command, data: &Path) -> Server {
        if !cmd.get_envs().any(|(k, _)| k == "LOTSE_LOG") {
            cmd.env("LOTSE_LOG", "warn").stderr(Stdio::inherit());
        }
        let mut child = cmd
            .env("LOTSE_DEMO_PASSWORD", DEMO_PASSWORD)
            .stdout(Stdio::piped())
            .spawn()
            .expect("spawn lotse");
        let out = child.stdout.take().expect("stdout");
        let mut lines = BufReader::new(out).lines();
        let mut base = None;
        let mut https = None;
        for line in lines.by_ref() {
            let line = line.expect("read stdout");
            if let Some(rest) = line.split(" serving HTTPS on ").nth(1) {
                https = Some(format!("https://{}", rest.trim()));
            }
            if let Some(rest) = line.split(" listening on ").nth(1) {
                base = Some(format!("http://{}", rest.trim()));
                break;
            }
        }
        let base = base.expect("lotse did not report its address");
        std::thread::spawn(move || for _ in lines {});
        Server {
            child,
            base,
            https,
            data: data.to_path_buf(),
            admin: None,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// `GET path` as admin, which must answer 200 with JSON.
    pub async fn get_json(&self, path: &str) -> serde_json::Value {
        let r = self.client().get(self.url(path)).send().await.expect("GET");
        assert_eq!(r.status(), 200, "GET {path}");
        r.json().await.expect("JSON body")
    }

    /// `GET path` without credentials (what a kiosk, display or phone sees), which must
    /// answer 200 with JSON.
    pub async fn get_public_json(&self, path: &str) -> serde_json::Value {
        let r = client().get(self.url(path)).send().await.expect("GET");
        assert_eq!(r.status(), 200, "GET {path}");
        r.json().await.expect("JSON body")
    }

    /// `POST path` as admin without a body, which must answer 200 with JSON.
    pub async fn post_json(&self, path: &str) -> serde_json::Value {
        let r = self
            .client()
            .post(self.url(path))
            .send()
            .await
            .expect("POST");
        assert_eq!(r.status(), 200, "POST {path}");
        r.json().await.expect("JSON body")
    }

    /// A check-in that must succeed with 201; returns the ticket.
    pub async fn check_in(&self, service: &str, language: &str) -> serde_json::Value {
        let r = client()
            .post(self.url("/api/v1/checkins"))
            .json(&serde_json::json!({"service": service, "language": language}))
            .send()
            .await
            .expect("POST /api/v1/checkins");
        assert_eq!(r.status(), 201, "check-in {service}/{language}");
        r.json().await.expect("ticket JSON")
    }

    /// `host:port` the server listens on.
    pub fn addr(&self) -> &str {
        self.base.trim_start_matches("http://")
    }

    /// Stops the server gracefully (SIGTERM) and starts `lotse demo` again on the
    /// same address with the same data directory (without `start_with`'s extras).
    pub fn restart(&mut self) {
        let status = self.terminate();
        assert!(status.success(), "graceful shutdown exits 0, got {status}");
        let addr = self.addr().to_string();
        *self = Server::start_on(&self.data, &addr);
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// `kill -9`: no chance to flush or close anything.
    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM and wait for a graceful exit.
    pub fn terminate(&mut self) -> ExitStatus {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(Some(s)) = self.child.try_wait() {
                return s;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                return self.child.wait().expect("wait");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// Check-ins per minute of every test server: the tests check in from one address
/// (loopback) far faster than a kiosk, so the per-kiosk limit is lifted unless a test's
/// own configuration sets it (as the limit's own tests do).
pub const E2E_CHECKINS_PER_MINUTE: u32 = 1_000_000;

/// `extra` with its `--config FILE` replaced by `DATA/e2e.toml`: the file's text with
/// `[server] checkins_per_minute` added when it does not set it (a new file when
/// there was no `--config`).
pub fn e2e_config(data: &Path, extra: &[&str]) -> Vec<String> {
    let mut args: Vec<String> = extra.iter().map(|s| s.to_string()).collect();
    let at = args.iter().position(|a| a == "--config");
    let text = match at.and_then(|i| args.get(i + 1)) {
        Some(file) => std::fs::read_to_string(file).expect("read the test's --config"),
        None => String::new(),
    };
    if text.contains("checkins_per_minute") {
        return args;
    }
    let key = format!("checkins_per_minute = {E2E_CHECKINS_PER_MINUTE}\n");
    let merged = match text.lines().position(|l| l.trim() == "[server]") {
        Some(line) => {
            let mut lines: Vec<&str> = text.lines().collect();
            lines.insert(line + 1, key.trim_end());
            lines.join("\n") + "\n"
        }
        None => format!("{text}\n[server]\n{key}"),
    };
    std::fs::create_dir_all(data).expect("create the data directory");
    let file = data.join("e2e.toml");
    std::fs::write(&file, merged).expect("write DATA/e2e.toml");
    let file = file.to_string_lossy().to_string();
    match at {
        Some(i) if i + 1 < args.len() => args[i + 1] = file,
        _ => args.extend(["--config".to_string(), file]),
    }
    args
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One HTTP/1.1 request over a plain blocking socket: status, headers, body.
pub fn raw_request(
    addr: &str,
    method: &str,
    path: &str,
    session: &Session,
    body: Option<&serde_json::Value>,
) -> (u16, Vec<(String, String)>, String) {
    use std::io::{Read, Write};
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n",
        body.len()
    );
    if !session.cookie.is_empty() {
        req.push_str(&format!(
            "Cookie: {}\r\nX-CSRF-Token: {}\r\n",
            session.cookie, session.csrf
        ));
    }
    req.push_str("\r\n");
    req.push_str(&body);
    let mut s = std::net::TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(30))).ok();
    s.write_all(req.as_bytes()).expect("send");
    let mut got = Vec::new();
    s.read_to_end(&mut got).expect("read the answer");
    let text = String::from_utf8_lossy(&got).to_string();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|c| c.parse().ok())
        .expect("status line");
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    (status, headers, body.to_string())
}

/// A client without credentials (kiosk, display, or an attacker).
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("client")
}

/// One Server-Sent Event.
#[derive(Debug, Clone)]
pub struct SseEvent {
    pub id: Option<String>,
    pub event: Option<String>,
    pub data: serde_json::Value,
}

/// Reads an SSE response frame by frame.
pub struct SseReader {
    body: futures::stream::BoxStream<'static, reqwest::Result<bytes::Bytes>>,
    buf: String,
}

impl std::fmt::Debug for SseReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SseReader").finish_non_exhaustive()
    }
}

impl SseReader {
    pub async fn connect(base: &str, last_event_id: Option<&str>) -> SseReader {
        let mut req = client().get(format!("{base}/api/v1/events"));
        if let Some(id) = last_event_id {
            req = req.header("Last-Event-ID", id);
        }
        let resp = reqwest::Client::new()
            .execute(req.build().expect("request"))
            .await
            .expect("connect SSE");
        assert_eq!(resp.status(), 200);
        SseReader {
            body: resp.bytes_stream().boxed(),
            buf: String::new(),
        }
    }

    /// The next event with data, or `None` after `timeout`.
    pub async fn next(&mut self, timeout: Duration) -> Option<SseEvent> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            while let Some(end) = self.buf.find("\n\n") {
                let frame: String = self.buf.drain(..end + 2).collect();
                let mut ev = SseEvent {
                    id: None,
                    event: None,
                    data: serde_json::Value::Null,
                };
                let mut data = String::new();
                for line in frame.lines() {
                    if let Some(v) = line.strip_prefix("id: ") {
                        ev.id = Some(v.to_string());
                    } else if let Some(v) = line.strip_prefix("event: ") {
                        ev.event = Some(v.to_string());
                    } else if let Some(v) = line.strip_prefix("data: ") {
                        data.push_str(v);
                    }
                }
                if !data.is_empty() {
                    ev.data = serde_json::from_str(&data).expect("event data is JSON");
                    return Some(ev);
                }
            }
            let chunk = tokio::time::timeout_at(deadline, self.body.next()).await;
            match chunk {
                Ok(Some(Ok(b))) => self.buf.push_str(&String::from_utf8_lossy(&b)),
                _ => return None,
            }
        }
    }
}

/// Polls `probe` until it yields `Some`, every 25 ms; panics with `what` after `timeout`.
pub async fn wait_for<T, F, Fut>(what: &str, timeout: Duration, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = probe().await {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// The target directory the tests were built into (`target/` or `$CARGO_TARGET_DIR`).
pub fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    // target/<profile>/deps/<test> → target
    exe.ancestors()
        .nth(3)
        .expect("test binary lives in target/<profile>/deps")
        .to_path_buf()
}

/// `<target>/screenshots/`, created on first use.
pub fn screenshot_dir() -> PathBuf {
    let dir = target_dir().join("screenshots");
    std::fs::create_dir_all(&dir).expect("create screenshot dir");
    dir
}

// ------------------------------------------------------------------ browser

/// Debian's Chromium and its WebDriver; `tests/run` installs both.
pub const CHROMIUM: &str = "/usr/bin/chromium";
pub const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// One `chromedriver` per test process, started on first use. A small shell
/// watchdog kills it when the test process is gone (statics are never dropped).
#[derive(Debug)]
struct Chromedriver {
    port: u16,
    _child: Child,
    _watchdog: Child,
}

fn chromedriver() -> &'static Chromedriver {
    static DRIVER: OnceLock<Chromedriver> = OnceLock::new();
    DRIVER.get_or_init(|| {
        for bin in [CHROMIUM, CHROMEDRIVER] {
            assert!(
                Path::new(bin).exists(),
                "{bin} is missing: the browser tests need Debian's `chromium` and \
                 `chromium-driver` packages; run `tests/run` (it installs them) or \
                 `apt-get install -y chromium chromium-driver`"
            );
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let child = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn chromedriver");
        let watchdog = Command::new("sh")
            .args([
                "-c",
                r#"while kill -0 "$0" 2>/dev/null; do sleep 0.5; done; kill "$1" 2>/dev/null"#,
            ])
            .arg(std::process::id().to_string())
            .arg(child.id().to_string())
            .stdin(Stdio::null())
            .spawn()
            .expect("spawn chromedriver watchdog");
        let deadline = Instant::now() + Duration::from_secs(15);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "chromedriver did not listen on port {port}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        Chromedriver {
            port,
            _child: child,
            _watchdog: watchdog,
        }
    })
}

/// Window size of each screen, as installed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Screen {
    /// Portrait touch screen, 1080 × 1920.
    Kiosk,
    /// Waiting-room TV, 1920 × 1080.
    Display,
    /// The queue display on a screen hung upright, 1080 × 1920.
    DisplayPortrait,
    /// Front-desk PC, 1366 × 900.
    Desk,
}

impl Screen {
    pub fn size(self) -> (u32, u32) {
        match self {
            Screen::Kiosk => (1080, 1920),
            Screen::Display => (1920, 1080),
            Screen::DisplayPortrait => (1080, 1920),
            Screen::Desk => (1366, 900),
        }
    }

    pub fn path(self) -> &'static str {
        match self {
            Screen::Kiosk => "/kiosk",
            Screen::Display | Screen::DisplayPortrait => "/display",
            Screen::Desk => "/desk",
        }
    }
}

/// Browser tests take turns: two cores, and timing assertions ("within 1 s").
static BROWSER_TURN: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// A headless Chromium session showing one screen of a [`Server`], with a fresh
/// profile. Dropping it ends the session (also when the test panics).
#[derive(Debug)]
pub struct Browser {
    pub client: fantoccini::Client,
    session: String,
    _profile: tempfile::TempDir,
    _turn: tokio::sync::MutexGuard<'static, ()>,
    last_tap: std::sync::Mutex<Option<(Instant, f64, f64)>>,
}

/// The kiosk drops a tap on a new screen within this time and distance of the
/// previous one (kiosk-ui/README.md), so scripted taps keep out of that window.
const GHOST_TAP: Duration = Duration::from_millis(480);
const GHOST_TAP_PX: f64 = 48.0;

impl Browser {
    /// Opens `screen` of the server at `base` in a new headless Chromium.
    pub async fn open(base: &str, screen: Screen) -> Browser {
        let turn = BROWSER_TURN.lock().await;
        let driver = chromedriver();
        let profile = tempfile::tempdir().expect("profile dir");
        let (w, h) = screen.size();
        let args = vec![
            "--headless=new".to_string(),
            "--no-sandbox".into(),
            "--disable-gpu".into(),
            "--disable-dev-shm-usage".into(),
            "--no-first-run".into(),
            "--disable-background-networking".into(),
            "--disable-component-update".into(),
            "--disable-sync".into(),
            "--autoplay-policy=no-user-gesture-required".into(),
            "--hide-scrollbars".into(),
            format!("--window-size={w},{h}"),
            format!("--user-data-dir={}", profile.path().display()),
        ];
        let mut caps = serde_json::Map::new();
        caps.insert("browserName".into(), "chrome".into());
        caps.insert(
            "goog:chromeOptions".into(),
            serde_json::json!({ "binary": CHROMIUM, "args": args }),
        );
        let client = fantoccini::ClientBuilder::new(
            hyper_util::client::legacy::connect::HttpConnector::new(),
        )
        .capabilities(caps)
        .connect(&format!("http://127.0.0.1:{}", driver.port))
        .await
        .expect("start a Chromium session");
        let session = client
            .session_id()
            .await
            .expect("session id")
            .expect("a session");
        let browser = Browser {
            client,
            session,
            _profile: profile,
            _turn: turn,
            last_tap: std::sync::Mutex::new(None),
        };
        // --window-size is the outer size; make the viewport the screen's size.
        let inner = browser.eval("[innerWidth, innerHeight]").await;
        let (iw, ih) = (
            inner[0].as_u64().unwrap_or(0),
            inner[1].as_u64().unwrap_or(0),
        );
        if (iw, ih) != (u64::from(w), u64::from(h)) {
            let grow = |want: u32, got: u64| (u64::from(want) * 2).saturating_sub(got);
            let (ow, oh) = (grow(w, iw), grow(h, ih));
            browser
                .client
                .set_window_size(
                    u32::try_from(ow).expect("width"),
                    u32::try_from(oh).expect("height"),
                )
                .await
                .expect("resize the window");
        }
        browser
            .client
            .goto(&format!("{base}{}", screen.path()))
            .await
            .expect("open the screen");
        browser
    }

    /// Runs `script` (a function body; `arguments` are `args`) in the page.
    pub async fn js(&self, script: &str, args: Vec<serde_json::Value>) -> serde_json::Value {
        self.client
            .execute(script, args)
            .await
            .unwrap_or_else(|e| panic!("script failed: {e}\n{script}"))
    }

    /// Evaluates a JavaScript expression.
    pub async fn eval(&self, expr: &str) -> serde_json::Value {
        self.js(&format!("return ({expr});"), vec![]).await
    }

    /// Polls a JavaScript expression until it is truthy and returns its value.
    pub async fn wait_js(&self, what: &str, expr: &str, timeout: Duration) -> serde_json::Value {
        wait_for(what, timeout, || async move {
            let v = self.eval(expr).await;
            let truthy = match &v {
                serde_json::Value::Null => false,
                serde_json::Value::Bool(b) => *b,
                serde_json::Value::Number(n) => n.as_f64() != Some(0.0),
                serde_json::Value::String(s) => !s.is_empty(),
                _ => true,
            };
            truthy.then_some(v)
        })
        .await
    }

    /// True when the element with this `data-testid` exists and is rendered.
    pub async fn visible(&self, testid: &str) -> bool {
        self.js(
            "const e = document.querySelector(`[data-testid=\"${arguments[0]}\"]`);\
             return !!e && e.checkVisibility();",
            vec![testid.into()],
        )
        .await
            == serde_json::Value::Bool(true)
    }

    /// Waits until the element is rendered (and enabled, for controls).
    pub async fn wait_testid(
        &self,
        testid: &str,
        timeout: Duration,
    ) -> fantoccini::elements::Element {
        let css = format!("[data-testid=\"{testid}\"]");
        self.wait_js(
            &format!("{css} to be shown and enabled"),
            &format!(
                "(() => {{ const e = document.querySelector('{css}'); \
                 return !!e && e.checkVisibility() && !e.disabled; }})()"
            ),
            timeout,
        )
        .await;
        self.client
            .find(fantoccini::Locator::Css(&css))
            .await
            .expect("element")
    }

    /// Bounding box (x, y, width, height) of an element with this `data-testid`.
    pub async fn rect(&self, testid: &str) -> (f64, f64, f64, f64) {
        let r = self
            .js(
                "const r = document.querySelector(`[data-testid=\"${arguments[0]}\"]`)\
                 .getBoundingClientRect(); return [r.x, r.y, r.width, r.height];",
                vec![testid.into()],
            )
            .await;
        let f = |i: usize| r[i].as_f64().expect("number");
        (f(0), f(1), f(2), f(3))
    }

    /// A real pointer click (like a finger) on the element with this `data-testid`,
    /// once it is shown and enabled. Waits out the kiosk's ghost-tap window when
    /// the previous tap was close by.
    pub async fn tap(&self, testid: &str) {
        let el = self.wait_testid(testid, Duration::from_secs(10)).await;
        let (x, y, w, h) = self.rect(testid).await;
        let (cx, cy) = (x + w / 2.0, y + h / 2.0);
        let prev = *self.last_tap.lock().expect("lock");
        if let Some((at, px, py)) = prev
            && (cx - px).hypot(cy - py) < GHOST_TAP_PX
            && at.elapsed() < GHOST_TAP
        {
            tokio::time::sleep(GHOST_TAP.saturating_sub(at.elapsed())).await;
        }
        el.click()
            .await
            .unwrap_or_else(|e| panic!("tap on {testid}: {e}"));
        *self.last_tap.lock().expect("lock") = Some((Instant::now(), cx, cy));
    }

    /// `count` pointer clicks on the same spot as fast as the driver can,
    /// like a visitor who taps two or three times.
    pub async fn multi_tap(&self, testid: &str, count: usize) {
        use fantoccini::actions::{InputSource, MOUSE_BUTTON_LEFT, MouseActions, PointerAction};
        let el = self.wait_testid(testid, Duration::from_secs(10)).await;
        let mut seq = MouseActions::new("finger".into()).then(PointerAction::MoveToElement {
            element: el,
            duration: None,
            x: 0.0,
            y: 0.0,
        });
        for _ in 0..count {
            seq = seq
                .then(PointerAction::Down {
                    button: MOUSE_BUTTON_LEFT,
                })
                .then(PointerAction::Up {
                    button: MOUSE_BUTTON_LEFT,
                });
        }
        self.client
            .perform_actions(seq)
            .await
            .unwrap_or_else(|e| panic!("taps on {testid}: {e}"));
        let _ = self.client.release_actions().await;
        let (x, y, w, h) = self.rect(testid).await;
        *self.last_tap.lock().expect("lock") = Some((Instant::now(), x + w / 2.0, y + h / 2.0));
    }

    /// Saves a PNG of the viewport as `<target>/screenshots/<name>.png`.
    pub async fn screenshot(&self, name: &str) -> PathBuf {
        // Fonts and images first, so that the picture shows what a visitor sees.
        self.wait_js(
            "fonts and images",
            "document.fonts.status === 'loaded' && \
             [...document.images].every((i) => i.complete)",
            Duration::from_secs(10),
        )
        .await;
        let png = self.client.screenshot().await.expect("screenshot");
        let path = screenshot_dir().join(format!("{name}.png"));
        std::fs::write(&path, png).expect("write screenshot");
        path
    }
}

impl Drop for Browser {
    /// Ends the WebDriver session with a plain blocking request: this also has
    /// to work while a failed test unwinds and its runtime is going away.
    fn drop(&mut self) {
        use std::io::{Read, Write};
        let port = chromedriver().port;
        if let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) {
            let _ = s.set_read_timeout(Some(Duration::from_secs(10)));
            let _ = write!(
                s,
                "DELETE /session/{} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                self.session
            );
            // chromedriver keeps the connection open: read up to the end of the body.
            let mut got = Vec::new();
            let mut buf = [0u8; 4096];
            while let Ok(n @ 1..) = s.read(&mut buf) {
                got.extend_from_slice(&buf[..n]);
                let text = String::from_utf8_lossy(&got);
                if let Some(end) = text.find("\r\n\r\n") {
                    let len = text[..end]
                        .lines()
                        .find_map(|l| {
                            let (k, v) = l.split_once(':')?;
                            k.eq_ignore_ascii_case("content-length")
                                .then(|| v.trim().parse::<usize>().ok())?
                        })
                        .unwrap_or(0);
                    if got.len() >= end + 4 + len {
                        break;
                    }
                }
            }
        }
    }
}
pub mod fake_printer;
pub mod receiver;
