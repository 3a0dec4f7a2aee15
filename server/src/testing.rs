//! A whole appliance in a directory of the caller's, driven in-process through the real
//! router (`tower::ServiceExt::oneshot`), with logged-in `admin` and `desk` sessions and
//! a `feed` API token. HTTP unit tests and the `api_json` fuzz target (`server/fuzz`,
//! feature `fuzzing`) share it, so a fuzz finding replays as a unit test unchanged.

use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;
use std::sync::Arc;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, Request, StatusCode};
use chrono::{DateTime, Utc};
use tower::ServiceExt as _;

use crate::appliance::{Appliance, DemoPassword, StartError};
use crate::auth::{Auth, AuthError, Role, Scope};
use crate::clock::{Clock, ManualClock};
use crate::config::{PrinterBackend, Settings};
use crate::http::AppState;
use crate::scanning::hub::Identified;
use crate::scanning::payload::{self, Appointment, VisitorCard};

/// The address the harness logs in from; requests sent through [`TestApp::send`] come
/// from no address at all (`0.0.0.0` to the login throttle), so they never lock it out.
const HARNESS_IP: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

/// A valid TD1 ID card MRZ (ICAO 9303's specimen).
pub const ID_CARD_MRZ: &str = "I<UTOD231458907<<<<<<<<<<<<<<<\n\
                               7408122F1204159UTO<<<<<<<<<<<6\n\
                               ERIKSSON<<ANNA<MARIA<<<<<<<<<<";

/// A logged-in session: what a browser would send back.
#[derive(Debug, Clone)]
pub struct Login {
    pub username: &'static str,
    /// The session id (the cookie's value).
    pub id: String,
    /// `lotse_session=<id>`, ready for a `Cookie` header.
    pub cookie: String,
    pub csrf: String,
}

/// An answer, read to the end.
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Answer {
    pub fn content_type(&self) -> &str {
        self.headers
            .get(axum::http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    pub fn json(&self) -> Option<serde_json::Value> {
        serde_json::from_slice(&self.body).ok()
    }
}

/// A scan the harness can put into the kiosk's scan hub.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TestScan {
    /// A signed appointment code for `service`, valid today.
    Appointment(&'static str),
    /// A signed visitor card.
    Card,
    /// [`ID_CARD_MRZ`] (needs ID cards enabled, which [`TestApp::start`] does).
    IdCard,
}

/// The appliance, its clock and its sessions.
pub struct TestApp {
    pub state: AppState,
    pub clock: Arc<ManualClock>,
    pub password: String,
    pub admin: Login,
    pub desk: Login,
    /// A `feed` API token.
    pub feed_token: String,
    router: Router,
    signing_key: ed25519_dalek::SigningKey,
    /// Keeps the shutdown channel open: the state's streams end when it drops.
    _appliance: Appliance,
}

impl std::fmt::Debug for TestApp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestApp").finish_non_exhaustive()
    }
}

/// Why the harness could not start.
#[derive(Debug, thiserror::Error)]
pub enum TestAppError {
    #[error(transparent)]
    Start(#[from] StartError),
    #[error(transparent)]
    Auth(#[from] AuthError),
    #[error("{0}")]
    Other(String),
}

/// Tuesday 2026-03-10, 09:00 in Berlin: a working day, far from a DST change.
pub fn start_time() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-03-10T09:00:00+01:00")
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_default()
}

impl TestApp {
    /// The demo site without a printer (nothing happens after the answer), with every ID
    /// document type enabled and a trusted appointment-code key, in `dir`.
    pub async fn start(dir: &Path) -> Result<TestApp, TestAppError> {
        let mut settings = Settings::demo(None).map_err(|e| TestAppError::Other(e.to_string()))?;
        settings.printer.backend = PrinterBackend::None;
        // The pins stay (counters with desk buttons cannot be removed); no GPIO threads.
        settings.gpio.backend = lotse_firmware::gpio::Backend::None;
        let signing_key = ed25519_dalek::SigningKey::from_bytes(&[7; 32]);
        settings
            .scanning
            .trusted_keys
            .add("test", signing_key.verifying_key());
        settings.scanning.id_documents = crate::scanning::settings::DocumentKind::ALL
            .into_iter()
            .collect();
        // The fuzzer checks in hundreds of times a second from one address.
        settings.checkins_per_minute = u32::MAX;
        Self::start_with(settings, dir, signing_key).await
    }

    async fn start_with(
        settings: Settings,
        dir: &Path,
        signing_key: ed25519_dalek::SigningKey,
    ) -> Result<TestApp, TestAppError> {
        let clock = Arc::new(ManualClock::new(start_time()));
        let appliance = Appliance::start(settings, dir, clock.clone()).await?;
        let password = match &appliance.demo_password {
            Some(DemoPassword::Generated(p)) => p.clone(),
            _ => std::env::var("LOTSE_DEMO_PASSWORD")
                .map_err(|_| TestAppError::Other("no demo password".into()))?,
        };
        let state = appliance.state.clone();
        let admin = login(&state, "admin", &password).await?;
        let desk = login(&state, "desk", &password).await?;
        let feed_token = state.auth.create_token("fuzz-feed", Scope::Feed).await?;
        let app = TestApp {
            router: crate::http::app(state.clone()),
            state,
            clock,
            password,
            admin,
            desk,
            feed_token,
            signing_key,
            _appliance: appliance,
        };
        app.reauth_admin().await?;
        Ok(app)
    }

    /// Sends one request through the router and reads the whole answer.
    pub async fn send(&self, req: Request<Body>) -> Answer {
        let resp = match self.router.clone().oneshot(req).await {
            Ok(r) => r,
            Err(never) => match never {},
        };
        let (parts, body) = resp.into_parts();
        let body = axum::body::to_bytes(body, usize::MAX)
            .await
            .unwrap_or_default();
        Answer {
            status: parts.status,
            headers: parts.headers,
            body,
        }
    }

    /// A JSON request as `who` sends it (cookie and CSRF token), or anonymous.
    pub fn request(
        &self,
        method: &str,
        path: &str,
        who: Option<&Login>,
        body: &str,
    ) -> Request<Body> {
        let mut b = Request::builder()
            .method(method)
            .uri(path)
            .header("content-type", "application/json");
        if let Some(l) = who {
            b = b
                .header("cookie", &l.cookie)
                .header("x-csrf-token", &l.csrf);
        }
        let mut req = b
            .body(Body::from(body.to_string()))
            .unwrap_or_else(|_| Request::new(Body::empty()));
        // As the kiosk's browser on the device itself sends it.
        let peer = std::net::SocketAddr::from(([127, 0, 0, 1], 40000));
        req.extensions_mut()
            .insert(axum::extract::ConnectInfo(peer));
        req.extensions_mut()
            .insert(crate::http::serve::Transport::Http);
        req
    }

    /// Brings both sessions back when a request ended them, changed a password, took a
    /// role or locked an account, and keeps the admin's re-authentication fresh.
    pub async fn ensure_sessions(&mut self) -> Result<(), TestAppError> {
        let now = self.clock.now();
        let admin = self.state.auth.session(&self.admin.id).await?;
        let admin_ok = admin.as_ref().is_some_and(|s| s.role == Role::Admin);
        let desk_ok = self
            .state
            .auth
            .session(&self.desk.id)
            .await?
            .is_some_and(|s| s.role == Role::Desk);
        if !admin_ok || !desk_ok {
            // Resets both passwords, roles and lockouts.
            self.state.auth.ensure_demo_accounts(&self.password).await?;
            if !admin_ok {
                self.admin = login(&self.state, "admin", &self.password).await?;
            }
            if !desk_ok {
                self.desk = login(&self.state, "desk", &self.password).await?;
            }
        }
        let fresh = admin_ok
            && admin
                .is_some_and(|s| s.recently_reauthenticated(now + crate::auth::REAUTH_WINDOW / 2));
        if !fresh && self.reauth_admin().await.is_err() {
            // A request changed the admin's password; a failed re-authentication may
            // also have locked the account and ended the session.
            self.state.auth.ensure_demo_accounts(&self.password).await?;
            if self.state.auth.session(&self.admin.id).await?.is_none() {
                self.admin = login(&self.state, "admin", &self.password).await?;
            }
            self.reauth_admin().await?;
        }
        Ok(())
    }

    async fn reauth_admin(&self) -> Result<(), TestAppError> {
        let info = self
            .state
            .auth
            .session(&self.admin.id)
            .await?
            .ok_or_else(|| TestAppError::Other("the admin session is gone".into()))?;
        self.state
            .auth
            .reauth(&info, &self.password, HARNESS_IP)
            .await?;
        Ok(())
    }

    /// Puts a scan into the hub as a scanner would and returns its id (`None` when the
    /// hub refused it, e.g. because ID scanning was switched off).
    pub fn scan(&self, what: TestScan) -> Option<String> {
        let now = self.clock.now();
        let text = match what {
            TestScan::Appointment(service) => payload::sign(
                payload::APPOINTMENT_PREFIX,
                &Appointment {
                    reference: "T-4711".into(),
                    service: service.into(),
                    day: crate::clock::service_day(now),
                    exp: now.timestamp() + 86_400,
                    kid: Some("test".into()),
                },
                &self.signing_key,
            )
            .ok()?,
            TestScan::Card => payload::sign(
                payload::CARD_PREFIX,
                &VisitorCard {
                    card: "K-0815".into(),
                    exp: None,
                    kid: Some("test".into()),
                },
                &self.signing_key,
            )
            .ok()?,
            TestScan::IdCard => ID_CARD_MRZ.to_string(),
        };
        self.state.scans.submit_text(&text).scan
    }

    /// Whether a scan is still held (this hands it out, so it is gone afterwards).
    pub fn scan_still_held(&self, id: &str) -> Option<Identified> {
        self.state.scans.take(id).ok()
    }

    /// Every row of the database except what a refused request may legitimately
    /// touch: sessions (each request refreshes its own) and the failed-login counters
    /// of accounts (a refused login counts), and the outbox's delivery progress, which the
    /// worker advances meanwhile. Two equal snapshots mean "nothing changed".
    pub async fn snapshot(&self) -> String {
        self.state
            .queue
            .db()
            .run(|tx| -> crate::storage::Result<String> {
                let tables: Vec<String> = {
                    let mut stmt = tx.conn.prepare(
                        "SELECT name FROM sqlite_master WHERE type = 'table'
                          AND name NOT LIKE 'sqlite_%' AND name NOT IN ('sessions', 'accounts')
                          ORDER BY name",
                    )?;
                    stmt.query_map([], |r| r.get(0))?
                        .collect::<rusqlite::Result<_>>()?
                };
                let mut out = String::new();
                let mut dump = |name: &str, sql: &str| -> crate::storage::Result<()> {
                    let mut stmt = tx.conn.prepare(sql)?;
                    let n = stmt.column_count();
                    let mut rows: Vec<String> = stmt
                        .query_map([], |r| {
                            let mut line = String::new();
                            for i in 0..n {
                                let v: rusqlite::types::Value = r.get(i)?;
                                line.push_str(&format!("{v:?}|"));
                            }
                            Ok(line)
                        })?
                        .collect::<rusqlite::Result<_>>()?;
                    rows.sort();
                    out.push_str(&format!("## {name}\n{}\n", rows.join("\n")));
                    Ok(())
                };
                dump(
                    "accounts",
                    "SELECT username, role, password_hash, created_at FROM accounts",
                )?;
                for t in &tables {
                    // Delivery progress is the outbox worker's, in the background.
                    let sql = if t == "outbox" {
                        "SELECT seq, event_id, visit_id, type, created_at, payload, pending_since \
                           FROM outbox"
                            .to_string()
                    } else if t == "outbox_meta" {
                        "SELECT * FROM outbox_meta WHERE key NOT IN ('delivered_total', \
                           'last_delivery_at', 'last_error', 'last_error_at', 'disabled_url', \
                           'disabled_at')"
                            .to_string()
                    } else {
                        format!("SELECT * FROM \"{t}\"")
                    };
                    dump(t, &sql)?;
                }
                Ok(out)
            })
            .await
            .unwrap_or_else(|e| format!("snapshot failed: {e}"))
    }

    /// Ids of the newest tickets, for routes that name one.
    pub async fn recent_tickets(&self, n: usize) -> Vec<i64> {
        self.state
            .queue
            .db()
            .run(move |tx| -> crate::storage::Result<Vec<i64>> {
                let mut stmt = tx
                    .conn
                    .prepare("SELECT id FROM tickets ORDER BY id DESC LIMIT ?1")?;
                Ok(stmt
                    .query_map([n as i64], |r| r.get(0))?
                    .collect::<rusqlite::Result<_>>()?)
            })
            .await
            .unwrap_or_default()
    }
}

async fn login(
    state: &AppState,
    username: &'static str,
    password: &str,
) -> Result<Login, AuthError> {
    let auth: &Auth = &state.auth;
    let s = auth.login(username, password, HARNESS_IP, None).await?;
    Ok(Login {
        username,
        cookie: format!(
            "{}={}",
            crate::http::auth::cookie_name(&state.settings),
            s.id
        ),
        id: s.id,
        csrf: s.info.csrf_token,
    })
}
