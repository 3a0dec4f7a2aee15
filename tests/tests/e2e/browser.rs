//! The kiosk, display and desk in a real headless Chromium (Debian's `chromium`
//! and `chromium-driver`, driven over WebDriver), each against its own
//! `lotse demo`. Screenshots of every screen go to `<target>/screenshots/`.

use std::time::{Duration, Instant};

use fantoccini::actions::{InputSource, KeyAction, KeyActions};
use lotse_tests::{Browser, Screen, Server, client, wait_for};

use crate::{admin_login, desk_login};
use serde_json::{Value, json};

const SHORT: Duration = Duration::from_secs(5);
const LONG: Duration = Duration::from_secs(20);

async fn check_in(srv: &Server, service: &str, language: &str) -> Value {
    let r = client()
        .post(srv.url("/api/v1/checkins"))
        .json(&json!({"service": service, "language": language}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    r.json().await.unwrap()
}

async fn call_next(srv: &Server, counter: &str) -> Value {
    let r = srv
        .client()
        .post(srv.url(&format!("/api/v1/counters/{counter}/call-next")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    r.json().await.unwrap()
}

async fn queue(srv: &Server) -> Vec<Value> {
    let q: Value = srv
        .client()
        .get(srv.url("/api/v1/queue"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    q["tickets"].as_array().unwrap().clone()
}

/// `A-001`, `AB-012`: one or two capital letters, a dash, three digits.
fn is_ticket_number(s: &str) -> bool {
    let Some((prefix, digits)) = s.split_once('-') else {
        return false;
    };
    (1..=2).contains(&prefix.len())
        && prefix.chars().all(|c| c.is_ascii_uppercase())
        && digits.len() == 3
        && digits.chars().all(|c| c.is_ascii_digit())
}

/// Text of the element with this `data-testid` ("" when missing).
pub(crate) async fn text(b: &Browser, testid: &str) -> String {
    b.js(
        "const e = document.querySelector(`[data-testid=\"${arguments[0]}\"]`);\
         return e ? e.textContent.trim() : '';",
        vec![testid.into()],
    )
    .await
    .as_str()
    .unwrap()
    .to_string()
}

/// `<html lang dir>`.
async fn html_lang_dir(b: &Browser) -> (String, String) {
    let v = b
        .eval("[document.documentElement.lang, document.documentElement.dir]")
        .await;
    (
        v[0].as_str().unwrap().to_string(),
        v[1].as_str().unwrap().to_string(),
    )
}

/// Waits for the ticket screen and returns the number it shows.
async fn shown_ticket(b: &Browser) -> String {
    b.wait_testid("ticket-number", LONG).await;
    let number = text(b, "ticket-number").await;
    assert!(is_ticket_number(&number), "ticket number {number:?}");
    number
}

#[tokio::test]
async fn a_visitor_checks_in_by_taps_in_ukrainian() {
    let dir = tempfile::tempdir().unwrap();
    let srv = Server::start(dir.path());
    // Two people already wait, so the ticket has people ahead and a wait.
    check_in(&srv, "residence", "de").await;
    check_in(&srv, "residence", "tr").await;

    let b = Browser::open(&srv.base, Screen::Kiosk).await;
    let size = b.eval("[innerWidth, innerHeight]").await;
    assert_eq!(size, json!([1080, 1920]), "kiosk viewport");
    b.tap("lang-uk").await;
    b.tap("service-residence").await;
    assert_eq!(html_lang_dir(&b).await, ("uk".into(), "ltr".into()));
    b.tap("skip-identification").await;
    let number = shown_ticket(&b).await;
    let ahead = text(&b, "ticket-people-ahead").await;
    let wait = text(&b, "ticket-wait").await;
    assert!(ahead.contains('2'), "people ahead: {ahead:?}");
    assert!(
        wait.chars().any(|c| c.is_ascii_digit()) && b.visible("ticket-wait").await,
        "estimated wait: {wait:?}"
    );
    let cyrillic = |s: &str| s.chars().any(|c| ('\u{400}'..='\u{4ff}').contains(&c));
    assert!(
        cyrillic(&ahead) && cyrillic(&wait),
        "not Ukrainian: {ahead:?} / {wait:?}"
    );
    b.screenshot("kiosk-ticket-uk").await;

    let tickets = queue(&srv).await;
    let t = tickets
        .iter()
        .find(|t| t["number"] == number.as_str())
        .unwrap_or_else(|| panic!("{number} not in the queue: {tickets:?}"));
    assert_eq!(t["language"], "uk");
    assert_eq!(t["service"], "residence");
    assert_eq!(t["status"], "waiting");
    assert_eq!(t["position"], 2);
    assert_eq!(tickets.len(), 3);
}

#[tokio::test]
async fn the_arabic_kiosk_is_laid_out_right_to_left() {
    let dir = tempfile::tempdir().unwrap();
    let srv = Server::start(dir.path());
    let b = Browser::open(&srv.base, Screen::Kiosk).await;
    let width = 1080.0;

    // German first, as the reference.
    b.tap("lang-de").await;
    b.wait_testid("service-residence", SHORT).await;
    assert_eq!(html_lang_dir(&b).await, ("de".into(), "ltr".into()));
    let back_de = b.rect("back").await;
    let icon_de = icon_rect(&b).await;
    assert!(
        back_de.0 + back_de.2 / 2.0 < width / 2.0,
        "back {back_de:?}"
    );
    assert!(
        icon_de.0 + icon_de.2 / 2.0 < width / 2.0,
        "icon {icon_de:?}"
    );
    b.tap("start-over").await;
    b.wait_testid("lang-ar", SHORT).await;
    assert_eq!(html_lang_dir(&b).await, ("de".into(), "ltr".into()));

    b.tap("lang-ar").await;
    b.wait_testid("service-residence", SHORT).await;
    assert_eq!(
        b.eval("document.documentElement.outerHTML.slice(0, 80)")
            .await
            .as_str()
            .unwrap()
            .split('>')
            .next()
            .unwrap(),
        // translate="no": the browser must not offer to translate the visitor's language.
        r#"<html lang="ar" dir="rtl" translate="no""#
    );
    assert_eq!(html_lang_dir(&b).await, ("ar".into(), "rtl".into()));
    let direction = b
        .eval(
            "getComputedStyle(document.querySelector('[data-testid=service-residence]')).direction",
        )
        .await;
    assert_eq!(direction, "rtl");
    // Back sits on the right, mirrored; the pictogram leads on the right.
    // (x, y, width, height): the left margin in German is the right one in Arabic.
    let back_ar = b.rect("back").await;
    let icon_ar = icon_rect(&b).await;
    let right_margin = |r: (f64, f64, f64, f64)| width - r.0 - r.2;
    assert!(
        (right_margin(back_ar) - back_de.0).abs() <= 2.0 && back_ar.1 == back_de.1,
        "back button not mirrored: de {back_de:?}, ar {back_ar:?}"
    );
    assert!(
        (right_margin(icon_ar) - icon_de.0).abs() <= 2.0 && icon_ar.1 == icon_de.1,
        "service pictogram not mirrored: de {icon_de:?}, ar {icon_ar:?}"
    );
    let start_over = b.rect("start-over").await;
    assert!(start_over.0 < width / 2.0, "start over {start_over:?}");
    let arabic = |s: &str| s.chars().any(|c| ('\u{600}'..='\u{6ff}').contains(&c));
    let name = text(&b, "service-residence").await;
    assert!(arabic(&name), "service name not Arabic: {name:?}");
    b.screenshot("kiosk-concern-ar").await;

    b.tap("service-residence").await;
    b.wait_testid("skip-identification", SHORT).await;
    b.screenshot("kiosk-identify-ar").await;
    b.tap("skip-identification").await;
    let number = shown_ticket(&b).await;
    assert_eq!(number, "A-001");
    // The number is an isolated left-to-right run inside the Arabic page.
    let dir_of_number = b
        .eval("getComputedStyle(document.querySelector('[data-testid=ticket-number]')).direction")
        .await;
    assert_eq!(dir_of_number, "ltr");
    let overflow = b
        .eval(
            "(() => { const e = document.querySelector('[data-testid=ticket-number]');\
             return e.scrollWidth > e.clientWidth; })()",
        )
        .await;
    assert_eq!(overflow, false, "ticket number overflows");
    b.screenshot("kiosk-ticket-ar").await;

    // Start over from an Arabic visit: back to German, left to right.
    b.tap("start-over").await;
    b.wait_testid("lang-ar", SHORT).await;
    assert_eq!(html_lang_dir(&b).await, ("de".into(), "ltr".into()));
    b.screenshot("kiosk-start-ar").await;
    let t = &queue(&srv).await[0];
    assert_eq!(t["language"], "ar");
}

/// Bounding box of the first service's pictogram.
async fn icon_rect(b: &Browser) -> (f64, f64, f64, f64) {
    let r = b
        .eval(
            "(() => { const r = document.querySelector('[data-testid=service-residence] img')\
             .getBoundingClientRect(); return [r.x, r.y, r.width, r.height]; })()",
        )
        .await;
    let f = |i: usize| r[i].as_f64().unwrap();
    (f(0), f(1), f(2), f(3))
}

/// Records every audio source the page sets and plays (installed after load,
/// before the call, so it sees the display's own `<audio>` element).
const MEDIA_SPY: &str = r#"
window.__media = [];
const d = Object.getOwnPropertyDescriptor(HTMLMediaElement.prototype, "src");
Object.defineProperty(HTMLMediaElement.prototype, "src", {
  configurable: true,
  enumerable: d.enumerable,
  get() { return d.get.call(this); },
  set(v) { window.__media.push(["src", String(v)]); d.set.call(this, v); },
});
const play = HTMLMediaElement.prototype.play;
HTMLMediaElement.prototype.play = function () {
  window.__media.push(["play", this.src]);
  return play.apply(this, arguments);
};
"#;

/// Waits until the display has its live connection and has loaded the site.
async fn display_ready(b: &Browser) {
    b.wait_js(
        "the display to load the site",
        "document.querySelectorAll('[data-testid=display-waiting]').length >= 5",
        LONG,
    )
    .await;
    assert!(!b.visible("display-connection-lost").await);
}

#[tokio::test]
async fn the_display_shows_a_call_within_a_second_and_requests_the_announcement() {
    let dir = tempfile::tempdir().unwrap();
    let srv = Server::start(dir.path());
    let b = Browser::open(&srv.base, Screen::Display).await;
    display_ready(&b).await;
    b.js(MEDIA_SPY, vec![]).await;
    let t = check_in(&srv, "residence", "ar").await;
    let id = t["id"].as_i64().unwrap();

    let called = call_next(&srv, "c1").await;
    let at = Instant::now();
    assert_eq!(called["number"], "A-001");
    let row = r#"[data-testid="display-call"][data-number="A-001"]"#;
    wait_for("the call on the display", SHORT, || async {
        b.js(
            "const e = document.querySelector(arguments[0]); return !!e && e.checkVisibility();",
            vec![row.into()],
        )
        .await
        .as_bool()
        .unwrap()
        .then_some(())
    })
    .await;
    let shown_after = at.elapsed();
    assert!(
        shown_after <= Duration::from_secs(1),
        "the call showed after {shown_after:?}"
    );
    let row_text = b
        .js(
            "const e = document.querySelector(arguments[0]); \
             return [e.dataset.ticketId, e.innerText, e.classList.contains('latest')];",
            vec![row.into()],
        )
        .await;
    assert_eq!(row_text[0], id.to_string());
    assert!(
        row_text[1].as_str().unwrap().contains("Raum 101"),
        "{row_text}"
    );
    assert_eq!(row_text[2], true, "the newest call is on top");

    // Gong first, then the spoken call of this ticket.
    let announcement = format!("/api/v1/tickets/{id}/announcement");
    let media = b
        .wait_js(
            "the display to play the announcement",
            &format!(
                "window.__media.some(([k, u]) => k === 'play' && u.endsWith('{announcement}')) \
                 && window.__media"
            ),
            Duration::from_secs(10),
        )
        .await;
    let plays: Vec<&str> = media
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m[0] == "play")
        .map(|m| m[1].as_str().unwrap())
        .collect();
    assert!(plays[0].ends_with("/sounds/gong.wav"), "{plays:?}");
    assert!(
        !b.visible("display-enable-sound").await,
        "autoplay was refused"
    );
    // The browser really fetched it (whatever the server answered).
    let fetched = b
        .wait_js(
            "the announcement request",
            &format!(
                "performance.getEntriesByType('resource')\
                 .some((e) => e.name.endsWith('{announcement}'))"
            ),
            SHORT,
        )
        .await;
    assert_eq!(fetched, true);
    let status = client()
        .get(srv.url(&announcement))
        .send()
        .await
        .unwrap()
        .status();
    eprintln!("GET {announcement} answers {status}");
    b.screenshot("display").await;
}

#[tokio::test]
async fn the_called_number_is_one_line_that_fits_on_a_tv_and_on_a_portrait_screen() {
    let dir = tempfile::tempdir().unwrap();
    let srv = Server::start(dir.path());
    check_in(&srv, "residence", "de").await;
    check_in(&srv, "residence", "de").await;
    for (screen, ticket) in [
        (Screen::Display, "A-001"),
        (Screen::DisplayPortrait, "A-002"),
    ] {
        let b = Browser::open(&srv.base, screen).await;
        display_ready(&b).await;
        assert_eq!(call_next(&srv, "c1").await["number"], ticket);
        let number = format!(
            r#"[data-testid="display-call"][data-number="{ticket}"].latest .d-call-number"#
        );
        let fit = b
            .wait_js(
                "the newest call's number",
                &format!(
                    "(() => {{ const e = document.querySelector('{number}'); return !!e && \
                     [e.getBoundingClientRect().height / parseFloat(getComputedStyle(e).fontSize), \
                     e.scrollWidth - e.clientWidth]; }})()"
                ),
                SHORT,
            )
            .await;
        let (lines, overflow) = (fit[0].as_f64().unwrap(), fit[1].as_i64().unwrap());
        assert!(
            lines < 1.5,
            "{screen:?}: {ticket} is {lines} font sizes high"
        );
        assert!(
            overflow <= 0,
            "{screen:?}: {ticket} overflows by {overflow} px"
        );
    }
}

#[tokio::test]
async fn the_display_recovers_by_itself_after_a_server_restart() {
    let dir = tempfile::tempdir().unwrap();
    let mut srv = Server::start(dir.path());
    let b = Browser::open(&srv.base, Screen::Display).await;
    display_ready(&b).await;
    check_in(&srv, "work", "fa").await;
    call_next(&srv, "c2").await;
    b.wait_js(
        "the first call",
        r#"document.querySelector('[data-testid="display-call"][data-number="B-001"]')"#,
        SHORT,
    )
    .await;
    b.eval("window.__sameDocument = true").await;

    assert!(srv.terminate().success(), "graceful shutdown exits 0");
    b.wait_js(
        "the connection-lost overlay",
        "document.querySelector('[data-testid=display-connection-lost]').checkVisibility()",
        SHORT,
    )
    .await;
    b.screenshot("display-connection-lost").await;

    let addr = srv.addr().to_string();
    let srv = Server::start_on(dir.path(), &addr);
    b.wait_js(
        "the overlay to go away after the restart",
        "!document.querySelector('[data-testid=display-connection-lost]').checkVisibility()",
        LONG,
    )
    .await;
    check_in(&srv, "work", "fa").await;
    let called = call_next(&srv, "c2").await;
    assert_eq!(called["number"], "B-002");
    b.wait_js(
        "the call after the restart",
        r#"document.querySelector('[data-testid="display-call"][data-number="B-002"]')"#,
        SHORT,
    )
    .await;
    assert_eq!(
        b.eval("window.__sameDocument === true").await,
        true,
        "the page was reloaded"
    );
    // The call from before the restart is still listed below the new one.
    let numbers = b
        .eval("[...document.querySelectorAll('[data-testid=display-call]')].map((e) => e.dataset.number)")
        .await;
    assert_eq!(numbers, json!(["B-002", "B-001"]));
}

/// What the kiosk must not keep once a visit is over.
async fn assert_kiosk_forgot(b: &Browser, numbers: &[String]) {
    b.wait_testid("lang-de", LONG).await;
    let left = b
        .eval(
            "({html: document.documentElement.outerHTML, \
              local: localStorage.length, session: sessionStorage.length, \
              cookie: document.cookie, lang: document.documentElement.lang, \
              dir: document.documentElement.dir, url: location.pathname + location.search + location.hash})",
        )
        .await;
    for n in numbers {
        assert!(
            !left["html"].as_str().unwrap().contains(n.as_str()),
            "{n} is still in the DOM"
        );
    }
    assert_eq!(left["local"], 0, "localStorage");
    assert_eq!(left["session"], 0, "sessionStorage");
    assert_eq!(left["cookie"], "", "cookies");
    assert_eq!(left["lang"], "de");
    assert_eq!(left["dir"], "ltr");
    assert_eq!(left["url"], "/kiosk");
}

#[tokio::test]
async fn a_double_or_triple_tap_gives_one_ticket_and_the_kiosk_keeps_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let srv = Server::start(dir.path());
    let b = Browser::open(&srv.base, Screen::Kiosk).await;
    b.wait_testid("lang-ar", SHORT).await;
    b.screenshot("kiosk-start-de").await;

    // Double tap on the last button.
    b.tap("lang-de").await;
    b.wait_testid("service-general", SHORT).await;
    b.screenshot("kiosk-concern-de").await;
    b.tap("service-general").await;
    b.wait_testid("skip-identification", SHORT).await;
    b.screenshot("kiosk-identify-de").await;
    b.multi_tap("skip-identification", 2).await;
    let first = shown_ticket(&b).await;
    assert_eq!(first, "E-001");
    b.screenshot("kiosk-ticket-de").await;
    assert_eq!(queue(&srv).await.len(), 1, "one ticket for a double tap");
    b.tap("ticket-done").await;
    assert_kiosk_forgot(&b, std::slice::from_ref(&first)).await;

    // Triple tap; the visit ends with a tap anywhere on the ticket.
    b.tap("lang-de").await;
    b.tap("service-work").await;
    b.multi_tap("skip-identification", 3).await;
    let second = shown_ticket(&b).await;
    assert_eq!(second, "B-001");
    b.tap("ticket-number").await;
    assert_kiosk_forgot(&b, &[first, second]).await;
    let tickets = queue(&srv).await;
    assert_eq!(tickets.len(), 2, "one ticket per visit: {tickets:?}");
}

#[tokio::test]
async fn the_desk_asks_for_a_login_and_refuses_a_wrong_password() {
    let dir = tempfile::tempdir().unwrap();
    let srv = Server::start(dir.path());
    let b = Browser::open(&srv.base, Screen::Desk).await;
    desk_login(&b, "desk", "not the password").await;
    b.wait_js(
        "the login error",
        "document.getElementById('login-error').textContent.includes('falsch')",
        SHORT,
    )
    .await;
    assert!(!b.visible("desk-counter-select").await);
    b.client
        .find(fantoccini::Locator::Css(
            "[data-testid=desk-login-username]",
        ))
        .await
        .unwrap()
        .clear()
        .await
        .unwrap();
    desk_login(&b, "desk", lotse_tests::DEMO_PASSWORD).await;
    b.wait_testid("desk-counter-select", LONG).await;
    // Logging out ends the session on the server: the desk asks again.
    b.tap("desk-logout").await;
    b.wait_testid("desk-login-username", SHORT).await;
    let status = b.eval("fetch('/api/v1/queue').then((r) => r.status)").await;
    assert_eq!(status, 401);
}

#[tokio::test]
async fn the_desk_calls_by_button_and_by_keyboard() {
    let dir = tempfile::tempdir().unwrap();
    let srv = Server::start(dir.path());
    check_in(&srv, "residence", "uk").await;
    check_in(&srv, "residence", "ar").await;
    check_in(&srv, "work", "de").await;
    let b = Browser::open(&srv.base, Screen::Desk).await;
    desk_login(&b, "desk", lotse_tests::DEMO_PASSWORD).await;
    crate::desk_at_counter(&b, "c1", SHORT).await;
    b.wait_js(
        "the waiting list of counter 1",
        "document.querySelectorAll('[data-testid=desk-waiting-row]').length === 2",
        SHORT,
    )
    .await;

    b.tap("desk-call-next").await;
    let current = |n: &'static str| {
        let b = &b;
        async move {
            b.wait_js(
                &format!("{n} as the current ticket"),
                &format!(
                    "document.querySelector('[data-testid=desk-current-number]')?.textContent === '{n}'"
                ),
                SHORT,
            )
            .await;
        }
    };
    current("A-001").await;

    // Keyboard: N calls the next number (not while a form field has focus).
    b.wait_testid("desk-call-next", SHORT).await;
    b.eval("document.activeElement.blur(), true").await;
    let keys = KeyActions::new("keyboard".into())
        .then(KeyAction::Down { value: 'n' })
        .then(KeyAction::Up { value: 'n' });
    b.client.perform_actions(keys).await.unwrap();
    current("A-002").await;
    wait_for("the waiting list to shrink", SHORT, || async {
        let n = b
            .eval("document.querySelectorAll('[data-testid=desk-waiting-row]').length")
            .await;
        (n == 0).then_some(())
    })
    .await;
    let tickets = queue(&srv).await;
    let a2 = tickets.iter().find(|t| t["number"] == "A-002").unwrap();
    assert_eq!(a2["status"], "called");
    assert_eq!(a2["counter"], "c1");
    b.screenshot("desk").await;
}

/// The admin screen: it asks for a login first; a retention period changed in the form
/// asks for the password again (re-authentication), is then saved on the server and
/// logged with the admin as actor; a value over the 90-day cap is refused with the
/// server's explanation and changes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_changes_a_retention_period() {
    let dir = tempfile::tempdir().unwrap();
    let srv = Server::start(dir.path());
    let b = Browser::open(&srv.base, Screen::Desk).await;
    admin_login(&b, &srv).await;
    b.wait_js(
        "the retention from the server",
        "document.querySelector('[data-testid=admin-retention-max-days]').value === '90'",
        SHORT,
    )
    .await;
    // The services of the demo site are in the editor.
    let rows = b
        .eval("document.querySelectorAll('[data-testid=admin-service-row]').length")
        .await;
    assert_eq!(rows, json!(5));

    let max = b.wait_testid("admin-retention-max-days", SHORT).await;
    max.clear().await.unwrap();
    max.send_keys("30").await.unwrap();
    b.tap("admin-retention-save").await;
    // The browser's session logged in but never confirmed its password: the server
    // asks for it, the page asks the admin, and nothing is saved until then.
    let password = b.wait_testid("admin-reauth-password", SHORT).await;
    assert_eq!(
        srv.get_json("/api/v1/admin/retention").await["max_days"],
        90,
        "saved before the password was confirmed"
    );
    password
        .send_keys(lotse_tests::DEMO_PASSWORD)
        .await
        .unwrap();
    b.tap("admin-reauth-submit").await;
    b.wait_js(
        "the confirmation",
        "document.querySelector('[data-testid=admin-retention-status]').textContent === 'Aufbewahrung gespeichert.'",
        SHORT,
    )
    .await;
    let saved = srv.get_json("/api/v1/admin/retention").await;
    assert_eq!(saved["max_days"], 30, "{saved}");
    b.wait_js(
        "the change in the audit log on screen",
        "[...document.querySelectorAll('[data-testid=admin-audit-row]')].some(r => \
         r.cells[1].textContent === 'admin' && r.textContent.includes('setting retention'))",
        SHORT,
    )
    .await;

    // Over the cap: the server's problem is shown, nothing changes.
    max.clear().await.unwrap();
    max.send_keys("120").await.unwrap();
    b.tap("admin-retention-save").await;
    let status = b
        .wait_js(
            "the refusal",
            "(() => { const s = document.querySelector('[data-testid=admin-retention-status]'); \
             return s.classList.contains('error') && s.textContent.includes('max_days') && s.textContent; })()",
            SHORT,
        )
        .await;
    assert!(
        status.as_str().unwrap().contains("90"),
        "the message names the cap: {status}"
    );
    assert_eq!(srv.get_json("/api/v1/admin/retention").await, saved);

    // Back to a valid value: saved again.
    max.clear().await.unwrap();
    max.send_keys("45").await.unwrap();
    b.tap("admin-retention-save").await;
    b.wait_js(
        "the second confirmation",
        "(() => { const s = document.querySelector('[data-testid=admin-retention-status]'); \
         return !s.classList.contains('error') && s.textContent === 'Aufbewahrung gespeichert.'; })()",
        SHORT,
    )
    .await;
    assert_eq!(
        srv.get_json("/api/v1/admin/retention").await["max_days"],
        45
    );
    b.eval("document.getElementById('retention').scrollIntoView(), true")
        .await;
    b.screenshot("admin").await;
    b.eval("window.scrollTo(0, 0), true").await;
    b.screenshot("admin-services").await;
}
