//! Statistics against the real binary: visits through HTTP, then the report as JSON
//! and CSV (BOM, separator, no personal data), bad ranges, and the `/admin/stats`
//! page with a year-like history in a real browser (screenshots).

use std::process::Command;
use std::time::Duration;

use lotse_tests::{Browser, Screen, Server, client, lotse_bin};

use crate::desk_login;
use serde_json::{Value, json};

const SHORT: Duration = Duration::from_secs(5);

async fn post(srv: &Server, path: &str, body: Option<Value>) -> Value {
    let mut r = srv.client().post(srv.url(path));
    if let Some(b) = body {
        r = r.json(&b);
    }
    let r = r.send().await.unwrap();
    assert_eq!(r.status(), 200, "POST {path}");
    r.json().await.unwrap()
}

async fn get(srv: &Server, path: &str, accept: Option<&str>) -> reqwest::Response {
    let mut r = srv.client().get(srv.url(path));
    if let Some(a) = accept {
        r = r.header("accept", a);
    }
    r.send().await.unwrap()
}

/// Puts personal data where the purge would find it: names and a birth date from an
/// ID document, and an appointment reference.
fn add_personal_data(srv: &Server) {
    let db = rusqlite::Connection::open(srv.data.join("lotse.db")).unwrap();
    db.busy_timeout(Duration::from_secs(5)).unwrap();
    db.execute(
        "INSERT INTO visitor_data (ticket_id, surname, given_names, birth_date, nationality, consent_at)
         SELECT id, 'MUSTERMANN', 'ERIKA', '1964-08-12', 'D', 1 FROM tickets",
        [],
    )
    .unwrap();
    db.execute("UPDATE tickets SET appointment_ref = 'APT-7QX9-REF'", [])
        .unwrap();
}

#[tokio::test]
async fn a_day_of_visits_is_exported_as_json_and_csv() {
    let dir = tempfile::tempdir().unwrap();
    let srv = Server::start(dir.path());
    let a = srv.check_in("residence", "ar").await;
    let b = srv.check_in("work", "uk").await;
    let c = srv.check_in("general", "de").await;
    let d = srv.check_in("housing", "fa").await;
    let called = srv.post_json("/api/v1/counters/c1/call-next").await;
    assert_eq!(called["id"], a["id"]);
    post(&srv, &format!("/api/v1/tickets/{}/start", a["id"]), None).await;
    post(&srv, &format!("/api/v1/tickets/{}/done", a["id"]), None).await;
    let called = srv.post_json("/api/v1/counters/c2/call-next").await;
    assert_eq!(called["id"], b["id"]);
    post(&srv, &format!("/api/v1/tickets/{}/no-show", b["id"]), None).await;
    post(&srv, &format!("/api/v1/tickets/{}/cancel", c["id"]), None).await;
    post(
        &srv,
        &format!("/api/v1/tickets/{}/transfer", d["id"]),
        Some(json!({"service": "general"})),
    )
    .await;
    add_personal_data(&srv);
    let day = srv.get_json("/api/v1/queue").await["day"]
        .as_str()
        .unwrap()
        .to_string();

    let q = format!("/api/v1/stats?from={day}&to={day}");
    let r = get(&srv, &q, None).await;
    assert_eq!(r.status(), 200);
    let body = r.text().await.unwrap();
    let report: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(report["granularity"], "day");
    assert_eq!(report["timezone"], "Europe/Berlin");
    let rows = report["rows"].as_array().unwrap();
    let row = |dim: &str, key: &str| {
        rows.iter()
            .find(|r| r["dimension"] == dim && r["key"] == key)
            .unwrap_or_else(|| panic!("no {dim}/{key} row in {body}"))
            .clone()
    };
    let site = row("site", "all");
    assert_eq!(site["period"], day.as_str());
    assert_eq!(site["checkins"], 4);
    assert_eq!(site["calls"], 2);
    assert_eq!(site["served"], 1);
    assert_eq!(site["no_shows"], 1);
    assert_eq!(site["cancellations"], 1);
    assert_eq!(site["transfers"], 1);
    assert_eq!(site["no_show_rate"], 0.25);
    assert_eq!(site["wait_count"], 2);
    assert_eq!(site["wait_median_min"], 0);
    assert_eq!(row("service", "housing")["transfers"], 1);
    assert_eq!(row("language", "ar")["checkins"], 1);
    assert_eq!(row("language", "fa")["checkins"], 1);
    assert_eq!(row("identification", "none")["checkins"], 4);
    assert_eq!(row("counter", "c1")["calls"], 1);
    assert_eq!(row("counter", "c2")["calls"], 1);
    assert_eq!(report["totals"][0]["period"], "total");
    assert_eq!(report["totals"][0]["checkins"], 4);

    // By hour: every row carries its Berlin hour.
    let hourly: Value = get(&srv, &format!("{q}&granularity=hour"), None)
        .await
        .json()
        .await
        .unwrap();
    let hrows = hourly["rows"].as_array().unwrap();
    assert!(!hrows.is_empty());
    assert!(hrows.iter().all(|r| r["hour"].is_u64()));

    // CSV by Accept header: BOM, commas, decimal points.
    let r = get(&srv, &q, Some("text/csv")).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "text/csv; charset=utf-8");
    assert!(
        r.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .contains(".csv")
    );
    let bytes = r.bytes().await.unwrap();
    assert_eq!(&bytes[..3], b"\xEF\xBB\xBF", "UTF-8 byte-order mark");
    let csv = String::from_utf8(bytes[3..].to_vec()).unwrap();
    let mut lines = csv.lines();
    let header = lines.next().unwrap();
    assert!(header.starts_with("period,day,hour,dimension,key,checkins,"));
    let site_line = lines
        .find(|l| l.starts_with(&format!("{day},{day},,site,all,4,2,1,1,1,1,")))
        .unwrap_or_else(|| panic!("site line in {csv}"));
    assert!(site_line.contains(",0.25,"), "{site_line}");
    let width = header.split(',').count();
    assert!(csv.lines().all(|l| l.split(',').count() == width));

    // German Excel: format=csv&sep=semicolon, decimal commas.
    let r = get(&srv, &format!("{q}&format=csv&sep=semicolon"), None).await;
    assert_eq!(r.status(), 200);
    let de = r.text().await.unwrap();
    assert!(de.starts_with("\u{feff}period;day;hour;dimension;key;"));
    assert!(de.contains(";0,25;"), "{de}");
    assert!(!de.contains("0.25"));
    // format=json wins over Accept.
    let r = get(&srv, &format!("{q}&format=json"), Some("text/csv")).await;
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );

    // No personal data anywhere: the figures are counts.
    for text in [&body, &csv, &de, &hourly.to_string()] {
        for secret in ["MUSTERMANN", "ERIKA", "1964-08-12", "APT-7QX9"] {
            assert!(!text.contains(secret), "{secret} in the export");
        }
    }
}

#[tokio::test]
async fn bad_ranges_get_problems() {
    let dir = tempfile::tempdir().unwrap();
    let srv = Server::start(dir.path());
    for (query, kind) in [
        ("from=2026-02-30&to=2026-03-01", "invalid-range"),
        ("from=2026-03-02&to=2026-03-01", "invalid-range"),
        ("from=20260301&to=2026-03-01", "invalid-range"),
        (
            "from=2020-01-01&to=2026-03-01&granularity=hour",
            "invalid-range",
        ),
        (
            "from=2026-03-01&to=2026-03-01&granularity=week",
            "invalid-query",
        ),
        ("from=2026-03-01&to=2026-03-01&format=xlsx", "invalid-query"),
        (
            "from=2026-03-01&to=2026-03-01&format=csv&sep=tab",
            "invalid-query",
        ),
        ("from=2026-03-01", "invalid-query"),
    ] {
        let r = get(&srv, &format!("/api/v1/stats?{query}"), None).await;
        assert_eq!(r.status(), 400, "{query}");
        assert_eq!(r.headers()["content-type"], "application/problem+json");
        let p: Value = r.json().await.unwrap();
        assert_eq!(
            p["type"],
            format!("urn:lotse:problem:{kind}"),
            "{query}: {p}"
        );
    }
    let r = get(&srv, "/api/v1/stats/charts/pie.svg", None).await;
    assert_eq!(r.status(), 404);
    let r = get(&srv, "/admin/stats?from=gestern", None).await;
    assert_eq!(r.status(), 400);
}

#[tokio::test]
async fn the_stats_page_shows_charts_of_the_history() {
    let dir = tempfile::tempdir().unwrap();
    // Six weeks of synthetic history through the aggregate path, then today's visits.
    let out = Command::new(lotse_bin())
        .args(["bench", "stats", "--visits", "3000", "--days", "42", "--db"])
        .arg(dir.path().join("lotse.db"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(report.contains("3000 synthetic visits"), "{report}");
    let srv = Server::start(dir.path());
    for (s, l) in [("residence", "ar"), ("work", "uk"), ("general", "fa")] {
        srv.check_in(s, l).await;
    }
    srv.post_json("/api/v1/counters/c1/call-next").await;

    let svg = get(&srv, "/api/v1/stats/charts/visits.svg", None).await;
    assert_eq!(svg.status(), 200);
    assert!(
        svg.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("image/svg+xml")
    );
    assert!(svg.text().await.unwrap().starts_with("<svg"));

    // Staff only: without a session a script gets 401, a browser the login form,
    // which brings it back to the page (query included) after the login.
    let r = client().get(srv.url("/admin/stats")).send().await.unwrap();
    assert_eq!(r.status(), 401);
    let b = Browser::open(&srv.base, Screen::Desk).await;
    b.client
        .goto(&srv.url("/admin/stats?granularity=day"))
        .await
        .unwrap();
    let user = b.wait_testid("admin-login-username", SHORT).await;
    let at = b.eval("location.pathname + location.search").await;
    assert_eq!(at, json!("/admin?next=/admin/stats%3Fgranularity%3Dday"));
    user.send_keys("admin").await.unwrap();
    b.wait_testid("admin-login-password", SHORT)
        .await
        .send_keys(lotse_tests::DEMO_PASSWORD)
        .await
        .unwrap();
    b.tap("admin-login-submit").await;
    b.wait_testid("stats-summary", SHORT).await;
    let at = b.eval("location.pathname + location.search").await;
    assert_eq!(at, json!("/admin/stats?granularity=day"));
    for id in [
        "stats-chart-visits",
        "stats-chart-waiting",
        "stats-chart-heatmap",
        "stats-chart-languages",
    ] {
        let rects = b
            .eval(&format!(
                "document.querySelectorAll('[data-testid={id}] svg rect').length"
            ))
            .await;
        assert!(rects.as_u64().unwrap() > 3, "{id} has bars or cells");
    }
    // Language names of right-to-left scripts are isolated and drawn right to left.
    let ar = b
        .eval(
            "(() => { const t = document.querySelector('[data-testid=stats-chart-languages] text[lang=ar]');\
              return t ? [t.textContent, getComputedStyle(t).direction, getComputedStyle(t).unicodeBidi] : null; })()",
        )
        .await;
    assert_eq!(ar, json!(["العربية", "rtl", "isolate"]));
    // Nothing is wider than the window (readable without scrolling sideways).
    let overflow = b
        .eval("document.documentElement.scrollWidth <= innerWidth")
        .await;
    assert_eq!(overflow, json!(true));
    b.screenshot("stats-top").await;
    for (id, name) in [
        ("stats-chart-waiting", "stats-middle"),
        ("stats-chart-heatmap", "stats-bottom"),
    ] {
        b.eval(&format!(
            "document.querySelector('[data-testid={id}]').scrollIntoView(), true"
        ))
        .await;
        b.screenshot(name).await;
    }
}

#[tokio::test]
async fn the_desk_shows_live_figures_and_follows_events() {
    let dir = tempfile::tempdir().unwrap();
    let srv = Server::start(dir.path());
    srv.check_in("residence", "uk").await;
    srv.check_in("residence", "ar").await;
    srv.check_in("work", "de").await;
    let b = Browser::open(&srv.base, Screen::Desk).await;
    desk_login(&b, "desk", lotse_tests::DEMO_PASSWORD).await;
    b.wait_testid("desk-live", Duration::from_secs(20)).await;
    let waiting = |service: &str| {
        format!(
            "document.querySelector('[data-testid=desk-live-row][data-service={service}] td')?.textContent"
        )
    };
    b.wait_js(
        "two waiting for residence",
        &format!("{} === '2'", waiting("residence")),
        SHORT,
    )
    .await;
    assert_eq!(b.eval(&waiting("work")).await, json!("1"));
    assert_eq!(b.eval(&waiting("housing")).await, json!("0"));
    let summary = b
        .eval("document.querySelector('[data-testid=desk-live-summary]').textContent")
        .await;
    assert!(
        summary
            .as_str()
            .unwrap()
            .starts_with("3 warten · längste Wartezeit 0 Min."),
        "{summary}"
    );
    // A check-in elsewhere reaches the desk through the live event stream.
    srv.check_in("residence", "fa").await;
    b.wait_js(
        "three waiting for residence after the event",
        &format!("{} === '3'", waiting("residence")),
        SHORT,
    )
    .await;
    let estimate = b
        .eval("document.querySelector('[data-testid=desk-live-row][data-service=residence] td:last-child').textContent")
        .await;
    assert!(estimate.as_str().unwrap().starts_with("≈ "), "{estimate}");
    b.screenshot("desk-live").await;
}
