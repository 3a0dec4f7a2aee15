//! The API's JSON request bodies through the real router (`lotse_server::testing`): a
//! demo appliance in a temporary directory, built once per process and rebuilt every few
//! thousand inputs, with logged-in admin and desk sessions.
//!
//! Input: `[route, content type, credentials, flags, path parameter, body…]`. In the body,
//! `@a`, `@w`, `@c` and `@m` become the ids of fresh scans (appointment codes for
//! `residence` and `work`, a visitor card, an ID card MRZ), so check-ins reach the scan
//! paths. Checked for every input:
//! - no answer is a 5xx;
//! - every 4xx is `application/problem+json` with a `type` of the form
//!   `urn:lotse:problem:<slug>`, a title, and its own status;
//! - a 4xx changes nothing: the database (but sessions and failed-login counters) is the
//!   same before and after, and the scans the request named are still held;
//! - an accepted admin setting reads back as it was answered;
//! - the route policy holds (no credentials: 401; desk on admin routes, a wrong CSRF
//!   token, an API token on staff routes: 403);
//! - no answer repeats a `password` or `secret` of the request.
#![no_main]

use std::sync::Mutex;

use axum::body::Body;
use axum::http::Request;
use libfuzzer_sys::fuzz_target;
use lotse_server::testing::{TestApp, TestScan};

/// How an input names a path parameter.
#[derive(Clone, Copy, PartialEq)]
enum Param {
    None,
    Ticket,
    Counter,
    Username,
}

/// Who may call a route (`http::ROUTES`), as far as the checks need it.
#[derive(Clone, Copy, PartialEq)]
enum Who {
    Anyone,
    Staff,
    Admin,
    /// The pull feed: a `feed` token or an admin session.
    Feed,
}

struct Route {
    method: &'static str,
    /// `{}` is the path parameter.
    path: &'static str,
    param: Param,
    who: Who,
    /// An admin setting that a `GET` of the same path reads back.
    reads_back: bool,
}

const fn route(
    method: &'static str,
    path: &'static str,
    param: Param,
    who: Who,
    reads_back: bool,
) -> Route {
    Route {
        method,
        path,
        param,
        who,
        reads_back,
    }
}

const ROUTES: &[Route] = &[
    route("POST", "/api/v1/checkins", Param::None, Who::Anyone, false),
    route("POST", "/api/v1/checkins", Param::None, Who::Anyone, false),
    route(
        "POST",
        "/api/v1/tickets/{}/transfer",
        Param::Ticket,
        Who::Staff,
        false,
    ),
    route("POST", "/api/v1/login", Param::None, Who::Anyone, false),
    route("POST", "/api/v1/reauth", Param::None, Who::Staff, false),
    route(
        "PUT",
        "/api/v1/admin/services",
        Param::None,
        Who::Admin,
        true,
    ),
    route(
        "PUT",
        "/api/v1/admin/counters",
        Param::None,
        Who::Admin,
        true,
    ),
    route(
        "PUT",
        "/api/v1/admin/scanning",
        Param::None,
        Who::Admin,
        true,
    ),
    route(
        "PUT",
        "/api/v1/admin/retention",
        Param::None,
        Who::Admin,
        true,
    ),
    route(
        "PUT",
        "/api/v1/admin/privacy-notices",
        Param::None,
        Who::Admin,
        true,
    ),
    route(
        "PUT",
        "/api/v1/admin/case-system",
        Param::None,
        Who::Admin,
        true,
    ),
    route(
        "POST",
        "/api/v1/admin/accounts",
        Param::None,
        Who::Admin,
        false,
    ),
    route(
        "PUT",
        "/api/v1/admin/accounts/{}",
        Param::Username,
        Who::Admin,
        false,
    ),
    route(
        "POST",
        "/api/v1/admin/tokens",
        Param::None,
        Who::Admin,
        false,
    ),
    route("POST", "/api/v1/feed/ack", Param::None, Who::Feed, false),
    route("POST", "/api/v1/sim/scan", Param::None, Who::Staff, false),
    // Desk actions (their bodies are ignored) move tickets along, so that transfers and
    // service changes meet called and serving tickets.
    route(
        "POST",
        "/api/v1/counters/{}/call-next",
        Param::Counter,
        Who::Staff,
        false,
    ),
    route(
        "POST",
        "/api/v1/tickets/{}/start",
        Param::Ticket,
        Who::Staff,
        false,
    ),
    route(
        "POST",
        "/api/v1/tickets/{}/done",
        Param::Ticket,
        Who::Staff,
        false,
    ),
    route(
        "POST",
        "/api/v1/tickets/{}/cancel",
        Param::Ticket,
        Who::Staff,
        false,
    ),
];

const CONTENT_TYPES: &[Option<&str>] = &[
    Some("application/json"),
    Some("application/json"),
    Some("application/json; charset=utf-8"),
    None,
    Some("text/plain"),
    Some("application/merge-patch+json"),
];

const ODD_TICKETS: &[&str] = &[
    "0",
    "-1",
    "9223372036854775807",
    "99999999",
    "abc",
    "1.5",
    "%00",
];
const COUNTERS: &[&str] = &["c1", "c2", "c3", "nope", "C1"];
const USERNAMES: &[&str] = &["admin", "desk", "fuzz-a", "nobody", "Admin", "a%20b"];

const PLACEHOLDERS: &[(&[u8], TestScan)] = &[
    (b"@a", TestScan::Appointment("residence")),
    (b"@w", TestScan::Appointment("work")),
    (b"@c", TestScan::Card),
    (b"@m", TestScan::IdCard),
];

/// Inputs per appliance: the database grows with every accepted check-in.
const REBUILD_EVERY: u64 = 3000;

struct Harness {
    rt: tokio::runtime::Runtime,
    app: Option<TestApp>,
    dir: Option<tempfile::TempDir>,
    inputs: u64,
}

static HARNESS: Mutex<Option<Harness>> = Mutex::new(None);

/// Where the databases live: memory, so that `synchronous=FULL` costs nothing.
fn base_dir() -> std::path::PathBuf {
    if std::path::Path::new("/dev/shm").is_dir() {
        std::path::PathBuf::from("/dev/shm")
    } else {
        std::env::temp_dir()
    }
}

/// libFuzzer ends a run with `exit`, which drops no `TempDir`: directories of processes
/// that are gone are removed when the next one starts.
fn remove_stale_dirs() {
    let Ok(entries) = std::fs::read_dir(base_dir()) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(pid) = name
            .strip_prefix("lotse-fuzz-api-")
            .and_then(|rest| rest.split('-').next())
        else {
            continue;
        };
        if pid.parse::<u32>().is_ok() && !std::path::Path::new(&format!("/proc/{pid}")).exists() {
            let _ = std::fs::remove_dir_all(e.path());
        }
    }
}

fn new_app(rt: &tokio::runtime::Runtime) -> (TestApp, tempfile::TempDir) {
    let dir = tempfile::Builder::new()
        .prefix(&format!("lotse-fuzz-api-{}-", std::process::id()))
        .tempdir_in(base_dir())
        .expect("temporary directory");
    let app = rt
        .block_on(TestApp::start(dir.path()))
        .expect("the test appliance starts");
    (app, dir)
}

fn replace(body: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len());
    let mut i = 0;
    while i < body.len() {
        if body[i..].starts_with(from) {
            out.extend_from_slice(to);
            i += from.len();
        } else {
            out.push(body[i]);
            i += 1;
        }
    }
    out
}

fn first_difference(a: &str, b: &str) -> String {
    for (x, y) in a.lines().zip(b.lines()) {
        if x != y {
            return format!("before: {x}\nafter:  {y}");
        }
    }
    format!(
        "{} lines before, {} after",
        a.lines().count(),
        b.lines().count()
    )
}

fn check(h: &mut Harness, data: &[u8]) {
    let [r, ct, who, flags, param, body @ ..] = data else {
        return;
    };
    h.inputs += 1;
    if h.app.is_none() || h.inputs % REBUILD_EVERY == 0 {
        h.app = None;
        h.dir = None;
        let (app, dir) = new_app(&h.rt);
        h.app = Some(app);
        h.dir = Some(dir);
    }
    let Harness { rt, app, .. } = h;
    let Some(app) = app.as_mut() else {
        return;
    };
    rt.block_on(async {
        app.clock.advance(chrono::Duration::seconds(1));
        app.ensure_sessions().await.expect("sessions come back");

        let route = &ROUTES[usize::from(*r) % ROUTES.len()];
        let p = usize::from(*param);
        let value = match route.param {
            Param::None => String::new(),
            Param::Ticket => {
                let recent = app.recent_tickets(6).await;
                if p < 200 && !recent.is_empty() {
                    recent[p % recent.len()].to_string()
                } else {
                    ODD_TICKETS[p % ODD_TICKETS.len()].to_string()
                }
            }
            Param::Counter => COUNTERS[p % COUNTERS.len()].to_string(),
            Param::Username => USERNAMES[p % USERNAMES.len()].to_string(),
        };
        let path = route.path.replace("{}", &value);

        let mut body = body.to_vec();
        let mut scans = Vec::new();
        for (ph, what) in PLACEHOLDERS {
            if body.windows(ph.len()).any(|w| w == *ph) {
                let id = app.scan(*what).unwrap_or_else(|| "0".repeat(32));
                body = replace(&body, ph, id.as_bytes());
                scans.push(id);
            }
        }
        if flags & 2 != 0 {
            // Past the body limit; trailing whitespace keeps valid JSON valid.
            body.extend(std::iter::repeat_n(b' ', app.state.settings.max_body_bytes));
        }

        let mut req = Request::builder().method(route.method).uri(&path);
        if let Some(t) = CONTENT_TYPES[usize::from(*ct) % CONTENT_TYPES.len()] {
            req = req.header("content-type", t);
        }
        match who % 8 {
            0..=2 => {
                req = req
                    .header("cookie", &app.admin.cookie)
                    .header("x-csrf-token", &app.admin.csrf)
            }
            3 => {
                req = req
                    .header("cookie", &app.desk.cookie)
                    .header("x-csrf-token", &app.desk.csrf)
            }
            4 => {}
            5 => {
                req = req
                    .header("cookie", &app.admin.cookie)
                    .header("x-csrf-token", "wrong")
            }
            6 => req = req.header("authorization", format!("Bearer {}", app.feed_token)),
            _ => req = req.header("authorization", "Bearer lotse_not-a-token"),
        }
        if flags & 1 != 0 {
            req = req.header("idempotency-key", format!("fuzz-key-{}", p % 4));
        }
        if flags & 4 != 0 {
            req = req.header("idempotency-key", "k".repeat(200));
        }
        let Ok(req) = req.body(Body::from(body.clone())) else {
            return;
        };

        let before = app.snapshot().await;
        let answer = app.send(req).await;
        let status = answer.status;
        let shown = String::from_utf8_lossy(&body[..body.len().min(2000)]).into_owned();
        let said = String::from_utf8_lossy(&answer.body).into_owned();
        let what = format!("{} {path} ({status}) with {shown:?}: {said}", route.method);

        assert!(!status.is_server_error(), "server error: {what}");
        // No answer repeats a password or case-system secret the request carried.
        if let Ok(serde_json::Value::Object(fields)) = serde_json::from_slice(&body) {
            for key in ["password", "secret"] {
                if let Some(v) = fields.get(key).and_then(|v| v.as_str())
                    && v.len() >= 8
                    && shown.matches(v).count() == 1
                {
                    assert!(!said.contains(v), "the answer repeats the {key}: {what}");
                }
            }
        }
        // The route policy: credentials are checked before anything else.
        let expected: &[u16] = match (route.who, who % 8) {
            (Who::Anyone, _) => &[],
            (_, 4) | (Who::Feed, 7) => &[401],
            // Staff routes take no tokens at all, valid or not.
            (_, 7) => &[401, 403],
            (Who::Admin, 3) => &[403],
            (Who::Feed, 6) => &[],
            (_, 5 | 6) => &[403],
            _ => &[],
        };
        assert!(
            expected.is_empty() || expected.contains(&status.as_u16()),
            "route policy: {what}"
        );
        if status.is_client_error() {
            assert_eq!(answer.content_type(), "application/problem+json", "{what}");
            let p = answer
                .json()
                .unwrap_or_else(|| panic!("no JSON problem: {what}"));
            let kind = p["type"].as_str().unwrap_or("");
            let slug = kind.strip_prefix("urn:lotse:problem:").unwrap_or("");
            assert!(
                !slug.is_empty()
                    && slug
                        .bytes()
                        .all(|b| b.is_ascii_lowercase() || b == b'-' || b == b'_'),
                "problem type {kind:?}: {what}"
            );
            assert_eq!(
                p["status"].as_u64(),
                Some(u64::from(status.as_u16())),
                "{what}"
            );
            assert!(p["title"].as_str().is_some_and(|t| !t.is_empty()), "{what}");
            assert!(p["detail"].is_string(), "{what}");

            let after = app.snapshot().await;
            assert!(
                before == after,
                "a refused request changed the database: {what}\n{}",
                first_difference(&before, &after)
            );
            for id in &scans {
                assert!(
                    app.scan_still_held(id).is_some() || id.starts_with("000"),
                    "a refused request used up scan {id}: {what}"
                );
            }
        } else if status.is_success() && route.reads_back {
            let get = app.request("GET", route.path, Some(&app.admin), "");
            let read = app.send(get).await;
            assert_eq!(read.status, 200, "{what}");
            assert_eq!(read.json(), answer.json(), "reads back differently: {what}");
        }
    });
}

fuzz_target!(|data: &[u8]| {
    let mut guard = HARNESS.lock().unwrap_or_else(|e| e.into_inner());
    let h = guard.get_or_insert_with(|| {
        // libfuzzer-sys's panic hook aborts even on panics the image decoder catches on
        // purpose; with the default hook a panic that escapes still aborts in its wrapper.
        drop(std::panic::take_hook());
        remove_stale_dirs();
        Harness {
        rt: tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("tokio runtime"),
            app: None,
            dir: None,
            inputs: 0,
        }
    });
    check(h, data);
});
