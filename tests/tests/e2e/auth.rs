//! Staff access: the route walk over the whole router, sessions (fixation, expiry,
//! logout), CSRF, brute-force lockout, API token scopes, re-authentication for admin
//! changes, and the demo accounts.

use std::collections::{BTreeMap, BTreeSet};
use std::io::BufRead;
use std::time::Duration;

use lotse_server::http::{Policy, ROUTES, Verb};
use lotse_tests::{DEMO_PASSWORD, Server, Session, client, lotse_bin};
use serde_json::{Value, json};

/// A route's path with its parameters filled in.
pub(crate) fn fill(path: &str) -> String {
    path.replace("{id}", "1")
        .replace("{token}", "0123456789abcdef0123456789abcdef")
        .replace("{pin}", "5")
        .replace("{username}", "desk")
        .replace("{name}", "x")
        .replace("{finding}", "0")
}

fn method(v: Verb) -> reqwest::Method {
    reqwest::Method::from_bytes(v.method().as_str().as_bytes()).unwrap()
}

async fn send(c: &reqwest::Client, srv: &Server, m: reqwest::Method, path: &str) -> u16 {
    let mut req = c.request(m.clone(), srv.url(path));
    if m != reqwest::Method::GET {
        req = req.json(&json!({}));
    }
    let r = tokio::time::timeout(Duration::from_secs(20), req.send())
        .await
        .unwrap_or_else(|_| panic!("{m} {path} timed out"))
        .unwrap();
    r.status().as_u16()
}

/// Only the cookie, no CSRF token.
fn cookie_only(s: &Session) -> reqwest::Client {
    let mut h = reqwest::header::HeaderMap::new();
    h.insert(reqwest::header::COOKIE, s.cookie.parse().unwrap());
    reqwest::Client::builder()
        .default_headers(h)
        .build()
        .unwrap()
}

async fn problem_type(r: reqwest::Response) -> String {
    let v: Value = r.json().await.unwrap();
    v["type"].as_str().unwrap_or_default().to_string()
}

async fn create_token(srv: &Server, name: &str, scope: &str) -> String {
    let r = srv
        .client()
        .post(srv.url("/api/v1/admin/tokens"))
        .json(&json!({"name": name, "scope": scope}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["name"], name);
    assert_eq!(v["scope"], scope);
    v["token"].as_str().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_route_walk_finds_no_route_open_without_authentication() {
    let dir = tempfile::tempdir().unwrap();
    let srv = Server::start(dir.path());
    let anonymous = client();
    let desk = srv.login_blocking("desk", DEMO_PASSWORD).client();
    let feed = create_token(&srv, "walk-feed", "feed").await;
    let bearer = |t: &str| {
        let mut h = reqwest::header::HeaderMap::new();
        h.insert(
            reqwest::header::AUTHORIZATION,
            format!("Bearer {t}").parse().unwrap(),
        );
        reqwest::Client::builder()
            .default_headers(h)
            .build()
            .unwrap()
    };
    let feed_client = bearer(&feed);

    let mut by_path: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
    let mut public = 0;
    for spec in ROUTES {
        by_path
            .entry(spec.path)
            .or_default()
            .insert(spec.verb.method().to_string());
        let path = fill(spec.path);
        let m = method(spec.verb);
        let status = send(&anonymous, &srv, m.clone(), &path).await;
        if spec.policy == Policy::Public {
            public += 1;
            // A public route is served by its own handler, never the fallback.
            assert_ne!(status, 405, "{spec:?}");
            continue;
        }
        // 401 proves the route exists with its policy: the fallback would say 404.
        assert_eq!(
            status, 401,
            "{spec:?} without credentials answered {status}"
        );
        if spec.path == "/api/v1/logout" {
            continue; // would end the desk session the walk goes on with
        }
        let desk_status = send(&desk, &srv, m.clone(), &path).await;
        match spec.policy {
            Policy::Staff => assert!(
                !matches!(desk_status, 401 | 403),
                "{spec:?} refused a desk: {desk_status}"
            ),
            _ => assert_eq!(desk_status, 403, "{spec:?} as desk"),
        }
        let token_status = send(&feed_client, &srv, m, &path).await;
        match spec.policy {
            Policy::TokenOrAdmin(lotse_server::auth::Scope::Feed) => assert!(
                !matches!(token_status, 401 | 403),
                "{spec:?} refused the feed token: {token_status}"
            ),
            _ => assert_eq!(token_status, 403, "{spec:?} with a feed token"),
        }
    }
    assert!(public > 10 && public < ROUTES.len() / 2, "{public} public");

    // A browser (asking for HTML) is never shown a protected page either: the API
    // answers 401, pages send it to the login form, which leads back to the page.
    let browser = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .default_headers({
            let mut h = reqwest::header::HeaderMap::new();
            h.insert(
                reqwest::header::ACCEPT,
                "text/html,*/*;q=0.8".parse().unwrap(),
            );
            h
        })
        .build()
        .unwrap();
    for spec in ROUTES.iter().filter(|s| s.policy != Policy::Public) {
        let path = fill(spec.path);
        let r = browser
            .request(method(spec.verb), srv.url(&path))
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        if spec.verb == Verb::Get && !spec.path.starts_with("/api/") {
            assert_eq!(status, 303, "{spec:?}");
            assert_eq!(
                r.headers()["location"].to_str().unwrap(),
                format!("/admin?next={}", path.replace('?', "%3F")),
                "{spec:?}"
            );
        } else {
            assert_eq!(status, 401, "{spec:?} for a browser");
        }
    }

    // Methods the table does not list for a path are never answered with success,
    // not even on public paths.
    for (path, listed) in &by_path {
        for m in ["GET", "POST", "PUT", "DELETE", "PATCH"] {
            if listed.contains(m) {
                continue;
            }
            let status = send(
                &anonymous,
                &srv,
                reqwest::Method::from_bytes(m.as_bytes()).unwrap(),
                &fill(path),
            )
            .await;
            assert!(
                !(200..300).contains(&status),
                "{m} {path} is not in the table but answered {status}"
            );
        }
    }

    // The API description and the table agree: every documented operation is a route.
    let doc: Value = srv.get_public_json("/api/v1/openapi.json").await;
    for (path, ops) in doc["paths"].as_object().unwrap() {
        for m in ops.as_object().unwrap().keys() {
            let m = m.to_uppercase();
            assert!(
                by_path
                    .get(path.as_str())
                    .is_some_and(|listed| listed.contains(&m)),
                "{m} {path} is documented but not in http::ROUTES"
            );
        }
    }
    // Unknown API paths are a problem, not a page.
    assert_eq!(
        send(&anonymous, &srv, reqwest::Method::GET, "/api/v1/nope").await,
        404
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_sets_a_strict_cookie_and_a_new_session_id_every_time() {
    let dir = tempfile::tempdir().unwrap();
    let srv = Server::start(dir.path());
    // A session id planted by an attacker is never adopted.
    let r = client()
        .post(srv.url("/api/v1/login"))
        .header("cookie", "lotse_session=planted-by-an-attacker")
        .json(&json!({"username": "desk", "password": DEMO_PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let cookie = r.headers()["set-cookie"].to_str().unwrap().to_string();
    assert!(cookie.starts_with("lotse_session="), "{cookie}");
    for attr in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(cookie.contains(attr), "{cookie} lacks {attr}");
    }
    assert!(!cookie.contains("planted"));
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["username"], "desk");
    assert_eq!(body["role"], "desk");
    assert!(body["csrf_token"].as_str().unwrap().len() >= 32);

    let first = srv.login_blocking("desk", DEMO_PASSWORD);
    // Logging in again while holding the first session: a new id, the old one ends.
    let (status, headers, _) = lotse_tests::raw_request(
        srv.addr(),
        "POST",
        "/api/v1/login",
        &first,
        Some(&json!({"username": "desk", "password": DEMO_PASSWORD})),
    );
    assert_eq!(status, 200);
    let second = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("set-cookie"))
        .map(|(_, v)| v.split(';').next().unwrap().to_string())
        .unwrap();
    assert_ne!(first.cookie, second);
    let r = cookie_only(&first)
        .get(srv.url("/api/v1/login"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let mut h = reqwest::header::HeaderMap::new();
    h.insert(reqwest::header::COOKIE, second.parse().unwrap());
    let r = reqwest::Client::builder()
        .default_headers(h)
        .build()
        .unwrap()
        .get(srv.url("/api/v1/login"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap()["username"], "desk");
    // Only hashes of session ids are in the database.
    let id = second.trim_start_matches("lotse_session=");
    let db = rusqlite::Connection::open(dir.path().join("lotse.db")).unwrap();
    let hit: i64 = db
        .query_row(
            "SELECT count(*) FROM sessions WHERE id_hash = ?1 OR csrf_token = ?1",
            [id],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(hit, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_expire_when_idle_or_old_and_logout_ends_them() {
    let dir = tempfile::tempdir().unwrap();
    let srv = Server::start(dir.path());
    let idle = srv.login_blocking("desk", DEMO_PASSWORD);
    let old = srv.login_blocking("desk", DEMO_PASSWORD);
    let live = srv.login_blocking("desk", DEMO_PASSWORD);
    let ok = |s: &Session| {
        let c = s.client();
        let url = srv.url("/api/v1/queue");
        async move { c.get(url).send().await.unwrap().status().as_u16() }
    };
    assert_eq!(ok(&idle).await, 200);
    // Age the sessions in the database, as 31 idle minutes and 12 hours would.
    let db = rusqlite::Connection::open(dir.path().join("lotse.db")).unwrap();
    db.busy_timeout(Duration::from_secs(5)).unwrap();
    let hash = |s: &Session| {
        use sha2::Digest;
        let id = s.cookie.trim_start_matches("lotse_session=");
        sha2::Sha256::digest(id.as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    };
    db.execute(
        "UPDATE sessions SET last_seen = last_seen - 31 * 60000 WHERE id_hash = ?1",
        [hash(&idle)],
    )
    .unwrap();
    db.execute(
        "UPDATE sessions SET created_at = created_at - 12 * 3600000 WHERE id_hash = ?1",
        [hash(&old)],
    )
    .unwrap();
    assert_eq!(ok(&idle).await, 401);
    assert_eq!(ok(&old).await, 401);
    assert_eq!(ok(&live).await, 200);

    // Logout without the CSRF token is refused; with it the session is gone.
    let r = cookie_only(&live)
        .post(srv.url("/api/v1/logout"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    assert_eq!(ok(&live).await, 200);
    let r = live
        .client()
        .post(srv.url("/api/v1/logout"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    assert!(
        r.headers()["set-cookie"]
            .to_str()
            .unwrap()
            .contains("Max-Age=0")
    );
    assert_eq!(ok(&live).await, 401);
    let left: i64 = db
        .query_row(
            "SELECT count(*) FROM sessions WHERE id_hash = ?1",
            [hash(&live)],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(left, 0, "logout deletes the session on the server");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_without_the_right_csrf_token_are_refused_and_change_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let srv = Server::start(dir.path());
    srv.check_in("residence", "de").await;
    let desk = srv.login_blocking("desk", DEMO_PASSWORD);
    let wrong = Session {
        cookie: desk.cookie.clone(),
        csrf: srv.admin().csrf.clone(),
    };
    for c in [cookie_only(&desk), wrong.client()] {
        let r = c
            .post(srv.url("/api/v1/counters/c1/call-next"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 403);
        assert_eq!(problem_type(r).await, "urn:lotse:problem:csrf");
    }
    let q = srv.get_json("/api/v1/queue").await;
    assert_eq!(q["tickets"][0]["status"], "waiting", "nothing was called");
    let r = desk
        .client()
        .post(srv.url("/api/v1/counters/c1/call-next"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // Bearer tokens need no CSRF token.
    let token = create_token(&srv, "fallakte", "feed").await;
    let r = client()
        .post(srv.url("/api/v1/feed/ack"))
        .bearer_auth(&token)
        .json(&json!({"cursor": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_wrong_passwords_lock_the_account() {
    let dir = tempfile::tempdir().unwrap();
    let srv = Server::start(dir.path());
    let login = |user: &'static str, pw: &'static str| {
        let url = srv.url("/api/v1/login");
        async move {
            client()
                .post(url)
                .json(&json!({"username": user, "password": pw}))
                .send()
                .await
                .unwrap()
        }
    };
    for _ in 0..5 {
        let r = login("desk", "guessed password").await;
        assert_eq!(r.status(), 401);
        assert_eq!(problem_type(r).await, "urn:lotse:problem:bad-credentials");
    }
    let r = login("desk", DEMO_PASSWORD).await;
    assert_eq!(r.status(), 429, "locked even with the right password");
    let retry: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((800..=900).contains(&retry), "{retry}");
    assert_eq!(problem_type(r).await, "urn:lotse:problem:account-locked");
    // Unknown users get the same answers as a real account, in similar time: a wrong
    // password four times, then the lock with the same Retry-After, so the lockout
    // does not tell which accounts exist.
    let t = std::time::Instant::now();
    let r = login("nobody", "guessed password").await;
    assert_eq!(r.status(), 401);
    assert_eq!(problem_type(r).await, "urn:lotse:problem:bad-credentials");
    let unknown = t.elapsed();
    let t = std::time::Instant::now();
    assert_eq!(login("admin", "guessed password").await.status(), 401);
    let known = t.elapsed();
    eprintln!("failed login: unknown user {unknown:?}, known user {known:?}");
    for _ in 1..5 {
        assert_eq!(login("nobody", "guessed password").await.status(), 401);
    }
    let r = login("nobody", DEMO_PASSWORD).await;
    assert_eq!(r.status(), 429);
    let unknown_retry: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((800..=900).contains(&unknown_retry), "{unknown_retry}");
    assert_eq!(problem_type(r).await, "urn:lotse:problem:account-locked");
    // The other account is not affected; the admin sees the lock.
    assert_eq!(login("admin", DEMO_PASSWORD).await.status(), 200);
    let accounts = srv.get_json("/api/v1/admin/accounts").await;
    let desk = accounts
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["username"] == "desk")
        .unwrap();
    assert!(desk["locked_until"].is_string(), "{desk}");
    assert_eq!(desk["role"], "desk");
    assert!(desk.get("password_hash").is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_tokens_reach_only_their_scope_and_end_when_deleted() {
    let dir = tempfile::tempdir().unwrap();
    let srv = Server::start(dir.path());
    srv.check_in("work", "de").await;
    let feed = create_token(&srv, "fallakte", "feed").await;
    let monitoring = create_token(&srv, "prometheus", "monitoring").await;
    // The command line creates tokens too, while the appliance runs.
    let out = std::process::Command::new(lotse_bin())
        .args([
            "token",
            "create",
            "--name",
            "cli",
            "--scope",
            "monitoring",
            "--data",
        ])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let cli = String::from_utf8(out.stdout).unwrap().trim().to_string();
    let get = |token: String, path: &'static str| {
        let url = srv.url(path);
        async move {
            client()
                .get(url)
                .bearer_auth(token)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    assert_eq!(get(feed.clone(), "/api/v1/feed").await, 200);
    assert_eq!(get(feed.clone(), "/metrics").await, 403);
    assert_eq!(get(feed.clone(), "/api/v1/queue").await, 403);
    assert_eq!(get(monitoring.clone(), "/metrics").await, 200);
    assert_eq!(get(cli.clone(), "/metrics").await, 200);
    assert_eq!(get(monitoring.clone(), "/api/v1/feed").await, 403);
    assert_eq!(get(monitoring.clone(), "/api/v1/admin/accounts").await, 403);
    assert_eq!(get("lotse_wrong".into(), "/metrics").await, 401);
    let listed = srv.get_json("/api/v1/admin/tokens").await;
    let names: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["cli", "fallakte", "prometheus"]);
    assert!(listed[0].get("token").is_none(), "never shown again");
    let r = srv
        .client()
        .delete(srv.url("/api/v1/admin/tokens/fallakte"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(get(feed, "/api/v1/feed").await, 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn account_changes_need_a_fresh_password_confirmation() {
    let dir = tempfile::tempdir().unwrap();
    let srv = Server::start(dir.path());
    let admin = srv.login_blocking("admin", DEMO_PASSWORD).client();
    let new_account =
        json!({"username": "erika", "password": "a long enough password", "role": "desk"});
    let create = |c: reqwest::Client, body: Value| {
        let url = srv.url("/api/v1/admin/accounts");
        async move { c.post(url).json(&body).send().await.unwrap() }
    };
    let r = create(admin.clone(), new_account.clone()).await;
    assert_eq!(r.status(), 403);
    assert_eq!(problem_type(r).await, "urn:lotse:problem:reauth_required");
    let accounts = srv.get_json("/api/v1/admin/accounts").await;
    assert_eq!(accounts.as_array().unwrap().len(), 2, "nothing created");
    // Listing needs no re-authentication; a desk may not even list.
    let r = admin
        .get(srv.url("/api/v1/admin/accounts"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let desk = srv.login_blocking("desk", DEMO_PASSWORD).client();
    let r = desk
        .get(srv.url("/api/v1/admin/accounts"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);

    let reauth = |pw: &'static str| {
        let c = admin.clone();
        let url = srv.url("/api/v1/reauth");
        async move {
            c.post(url)
                .json(&json!({ "password": pw }))
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    assert_eq!(reauth("not my password").await, 401);
    assert_eq!(reauth(DEMO_PASSWORD).await, 200);
    let short = json!({"username": "kurt", "password": "too short", "role": "desk"});
    let r = create(admin.clone(), short).await;
    assert_eq!(r.status(), 422);
    assert_eq!(problem_type(r).await, "urn:lotse:problem:weak-password");
    let r = create(admin.clone(), new_account.clone()).await;
    assert_eq!(r.status(), 201);
    let created: Value = r.json().await.unwrap();
    assert_eq!(created["username"], "erika");
    assert_eq!(created["role"], "desk");
    assert_eq!(create(admin.clone(), new_account).await.status(), 409);
    let erika = srv.login_blocking("erika", "a long enough password");

    // A new password ends erika's sessions; a role change applies at once.
    let r = admin
        .put(srv.url("/api/v1/admin/accounts/erika"))
        .json(&json!({"password": "another long password", "role": "admin"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap()["role"], "admin");
    let r = erika
        .client()
        .get(srv.url("/api/v1/queue"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    srv.login_blocking("erika", "another long password");

    // Never yourself; a desk account may go.
    let r = admin
        .delete(srv.url("/api/v1/admin/accounts/admin"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 409);
    assert_eq!(problem_type(r).await, "urn:lotse:problem:own-account");
    let r = admin
        .delete(srv.url("/api/v1/admin/accounts/desk"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let r = desk.get(srv.url("/api/v1/queue")).send().await.unwrap();
    assert_eq!(r.status(), 401, "the deleted account's session ended");
    let r = admin
        .delete(srv.url("/api/v1/admin/accounts/nobody"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_mode_prints_a_generated_password_unless_the_environment_sets_one() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = std::process::Command::new(lotse_bin())
        .args(["demo", "--listen", "127.0.0.1:0", "--data"])
        .arg(dir.path())
        .env_remove("LOTSE_DEMO_PASSWORD")
        .env("LOTSE_LOG", "warn")
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let mut addr = None;
    let mut password = None;
    for line in lines.by_ref() {
        let line = line.unwrap();
        if let Some(a) = line.split(" listening on ").nth(1) {
            addr = Some(a.trim().to_string());
        }
        if let Some(p) = line.split("password ").nth(1) {
            password = Some(p.trim().to_string());
            break;
        }
    }
    let (addr, password) = (addr.unwrap(), password.unwrap());
    assert!(password.len() >= 12, "{password}");
    assert_ne!(password, DEMO_PASSWORD);
    for user in ["desk", "admin"] {
        let r = client()
            .post(format!("http://{addr}/api/v1/login"))
            .json(&json!({"username": user, "password": password}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{user}");
        assert_eq!(r.json::<Value>().await.unwrap()["role"], user);
    }
    let _ = child.kill();
    let _ = child.wait();

    // With LOTSE_DEMO_PASSWORD (as every fixture server has) that password works
    // and the generated one no longer does.
    let srv = Server::start(dir.path());
    let r = client()
        .post(srv.url("/api/v1/login"))
        .json(&json!({"username": "desk", "password": password}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    srv.login_blocking("desk", DEMO_PASSWORD);
}
