//! HTTP on top of the domain: the router, shared state and middleware.
//! Handlers stay thin; errors become problem documents in [`error`].

pub mod admin;
pub mod api;
pub mod auth;
pub mod error;
pub mod feed;
pub mod limits;
pub mod openapi;
pub mod provisioning;
pub mod public;
pub mod scans;
pub mod serve;
pub mod sim;
pub mod sse;
pub mod stats;
#[cfg(test)]
mod tests;
pub mod ui;

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, DefaultBodyLimit, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::middleware::{Next, from_fn_with_state};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodFilter, MethodRouter, on};
use tokio::sync::watch;
use tower_http::timeout::TimeoutLayer;

use crate::auth::{AuthError, Principal, Role, Scope};
use crate::clock::Clock;
use crate::config::Settings;
use crate::events::EventBus;
use crate::queue::Queue;

/// Everything a handler may use.
#[derive(Clone, Debug)]
pub struct AppState {
    pub queue: Queue,
    pub bus: EventBus,
    pub clock: Arc<dyn Clock>,
    pub settings: Arc<Settings>,
    /// Flips to `true` at shutdown so long-lived streams end and the server can stop.
    pub shutdown: watch::Receiver<bool>,
    pub started: Instant,
    pub printer: crate::printing::PrintService,
    pub announcer: crate::announce::Announcer,
    /// Status LED, calling lamps and buzzer (a no-op without GPIO).
    pub outputs: lotse_firmware::gpio::OutputsHandle,
    /// The simulated GPIO board; only in demo mode.
    pub gpio_sim: Option<lotse_firmware::gpio::SimGpio>,
    /// Scans at the kiosk (QR codes, ID documents), held for their check-in.
    pub scans: crate::scanning::hub::ScanHub,
    /// Accounts, sessions and API tokens.
    pub auth: crate::auth::Auth,
    /// What the desks' office scanners found, held for the desk.
    pub desk_scans: crate::scanning::desk::DeskScans,
    /// Check-ins per kiosk, live streams at once.
    pub limits: limits::Limits,
    /// The case-system settings in effect (the admin screen changes them) and the
    /// delivery worker that follows them.
    pub case_system: crate::outbox::Live,
}

impl AppState {
    /// What the case-system delivery worker runs with.
    pub fn worker_env(&self) -> crate::outbox::WorkerEnv {
        crate::outbox::WorkerEnv {
            db: self.queue.db().clone(),
            clock: self.clock.clone(),
            bus: self.bus.clone(),
            shutdown: self.shutdown.clone(),
        }
    }
}

/// Who may call a route.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Policy {
    /// Anyone: what kiosk, display and a visitor's phone need, and the login.
    Public,
    /// A staff session (desk or admin).
    Staff,
    /// An admin session.
    Admin,
    /// An admin session that confirmed its password within the last 5 minutes.
    AdminReauth,
    /// An API token with this scope, or an admin session.
    TokenOrAdmin(Scope),
}

/// The HTTP method of a route.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verb {
    Get,
    Post,
    Put,
    Delete,
}

impl Verb {
    pub fn method(self) -> Method {
        match self {
            Verb::Get => Method::GET,
            Verb::Post => Method::POST,
            Verb::Put => Method::PUT,
            Verb::Delete => Method::DELETE,
        }
    }

    fn filter(self) -> MethodFilter {
        match self {
            Verb::Get => MethodFilter::GET,
            Verb::Post => MethodFilter::POST,
            Verb::Put => MethodFilter::PUT,
            Verb::Delete => MethodFilter::DELETE,
        }
    }
}

/// One line of the route table: the router is built from [`ROUTES`] and nothing
/// else, so no route can exist without a policy.
#[derive(Clone, Copy)]
pub struct RouteSpec {
    pub verb: Verb,
    pub path: &'static str,
    pub policy: Policy,
    handler: fn(MethodFilter) -> MethodRouter<AppState>,
}

impl std::fmt::Debug for RouteSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?} {} {:?}", self.verb, self.path, self.policy)
    }
}

macro_rules! route {
    ($verb:ident $path:literal, $policy:expr, $handler:path) => {
        RouteSpec {
            verb: Verb::$verb,
            path: $path,
            policy: $policy,
            handler: |m| on(m, $handler),
        }
    };
}

use Policy::{Admin, AdminReauth, Public, Staff, TokenOrAdmin};

/// Every route of the appliance with who may call it.
pub const ROUTES: &[RouteSpec] = &[
    // Kiosk, display, the visitor's phone.
    route!(Get "/api/v1/services", Public, api::services),
    route!(Post "/api/v1/checkins", Public, api::checkin),
    route!(Get "/api/v1/events", Public, sse::events),
    route!(Get "/api/v1/display", Public, public::display),
    route!(Get "/api/v1/status/{token}", Public, public::status_json),
    route!(Get "/api/v1/tickets/{id}/announcement", Public, public::announcement),
    route!(Get "/api/v1/tickets/{id}/confirmation", Public, public::confirmation),
    route!(Get "/api/v1/config/ui", Public, api::ui_config),
    route!(Get "/api/v1/openapi.json", Public, openapi::openapi_json),
    route!(Get "/healthz", Public, api::healthz),
    route!(Get "/t/{token}", Public, public::status_page),
    route!(Get "/", Public, ui::index),
    route!(Get "/kiosk", Public, ui::kiosk),
    route!(Get "/display", Public, ui::display),
    // The desk page is a shell that asks for the login.
    route!(Get "/desk", Public, ui::desk),
    // The admin screen is a shell too; its data needs an admin session.
    route!(Get "/admin", Public, ui::admin),
    // Sessions.
    route!(Post "/api/v1/login", Public, auth::login),
    route!(Get "/api/v1/login", Staff, auth::session),
    route!(Post "/api/v1/logout", Staff, auth::logout),
    route!(Post "/api/v1/reauth", Staff, auth::reauth),
    // The desk.
    route!(Get "/api/v1/counters", Staff, api::counters),
    route!(Get "/api/v1/queue", Staff, api::queue),
    route!(Post "/api/v1/counters/{id}/call-next", Staff, api::call_next),
    route!(Post "/api/v1/counters/{id}/pause", Staff, api::pause),
    route!(Post "/api/v1/counters/{id}/resume", Staff, api::resume),
    route!(Get "/api/v1/counters/{id}/findings", Staff, scans::findings),
    route!(Get "/api/v1/counters/{id}/findings/stream", Staff, scans::findings_stream),
    route!(Post "/api/v1/counters/{id}/findings/{finding}/confirm", Staff, scans::confirm_finding),
    route!(Post "/api/v1/counters/{id}/findings/{finding}/dismiss", Staff, scans::dismiss_finding),
    route!(Get "/api/v1/tickets/{id}", Staff, api::ticket),
    route!(Post "/api/v1/tickets/{id}/recall", Staff, api::recall),
    route!(Post "/api/v1/tickets/{id}/start", Staff, api::start),
    route!(Post "/api/v1/tickets/{id}/done", Staff, api::done),
    route!(Post "/api/v1/tickets/{id}/no-show", Staff, api::no_show),
    route!(Post "/api/v1/tickets/{id}/cancel", Staff, api::cancel),
    route!(Post "/api/v1/tickets/{id}/transfer", Staff, api::transfer),
    route!(Get "/api/v1/sim/gpio", Staff, sim::list),
    route!(Post "/api/v1/sim/gpio/{pin}", Staff, sim::set),
    route!(Post "/api/v1/sim/scan", Staff, scans::simulate),
    // Scan results for the kiosk browser on the appliance: the handler serves loopback only.
    route!(Get "/api/v1/kiosk/scans", Public, scans::stream),
    // The case system and monitoring.
    route!(Get "/api/v1/feed", TokenOrAdmin(Scope::Feed), feed::feed),
    route!(Post "/api/v1/feed/ack", TokenOrAdmin(Scope::Feed), feed::ack),
    route!(Get "/metrics", TokenOrAdmin(Scope::Monitoring), feed::metrics),
    route!(Get "/api/v1/outbox/dead-letters", Admin, feed::dead_letters),
    route!(Post "/api/v1/outbox/dead-letters/{id}/replay", AdminReauth, feed::replay),
    route!(Post "/api/v1/outbox/enable", AdminReauth, feed::enable),
    // Administration.
    route!(Get "/api/v1/admin/accounts", Admin, auth::accounts),
    route!(Post "/api/v1/admin/accounts", AdminReauth, auth::create_account),
    route!(Put "/api/v1/admin/accounts/{username}", AdminReauth, auth::update_account),
    route!(Delete "/api/v1/admin/accounts/{username}", AdminReauth, auth::delete_account),
    route!(Get "/api/v1/admin/tokens", Admin, auth::tokens),
    route!(Post "/api/v1/admin/tokens", AdminReauth, auth::create_token),
    route!(Delete "/api/v1/admin/tokens/{name}", AdminReauth, auth::delete_token),
    route!(Get "/api/v1/admin/audit", Admin, admin::audit_log),
    route!(Get "/api/v1/admin/services", Admin, admin::get_services),
    route!(Put "/api/v1/admin/services", AdminReauth, admin::put_services),
    route!(Get "/api/v1/admin/counters", Admin, admin::get_counters),
    route!(Put "/api/v1/admin/counters", AdminReauth, admin::put_counters),
    route!(Get "/api/v1/admin/scanning", Admin, admin::get_scanning),
    route!(Put "/api/v1/admin/scanning", AdminReauth, admin::put_scanning),
    route!(Get "/api/v1/admin/retention", Admin, admin::get_retention),
    route!(Put "/api/v1/admin/retention", AdminReauth, admin::put_retention),
    route!(Post "/api/v1/admin/retention/purge", AdminReauth, admin::purge_now),
    route!(Get "/api/v1/admin/privacy-notices", Admin, admin::get_privacy),
    route!(Put "/api/v1/admin/privacy-notices", AdminReauth, admin::put_privacy),
    route!(Get "/api/v1/admin/case-system", Admin, admin::get_case_system),
    route!(Put "/api/v1/admin/case-system", AdminReauth, admin::put_case_system),
    // Statistics: aggregates only, for the admin.
    route!(Get "/api/v1/stats", Admin, stats::report),
    route!(Get "/api/v1/stats/charts/{name}", Admin, stats::chart),
    route!(Get "/admin/stats", Admin, stats::page),
];

/// `Authorization: Bearer <token>`, if the request has one.
fn bearer(headers: &HeaderMap) -> Option<&str> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, rest) = v.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| rest.trim())
        .filter(|t| !t.is_empty())
}

/// Resolves the session or token, checks it against `policy` (401 without
/// credentials, 403 for the wrong role, scope, CSRF token or a stale re-auth) and
/// leaves the [`Principal`] (and for sessions the [`crate::auth::SessionInfo`]) in
/// the request's extensions.
async fn authorize(st: &AppState, policy: Policy, req: &mut Request) -> error::Result<()> {
    if let Some(token) = bearer(req.headers()) {
        let Policy::TokenOrAdmin(scope) = policy else {
            return Err(AuthError::Forbidden(
                "API tokens reach only the pull feed and /metrics; staff routes need a login"
                    .into(),
            )
            .into());
        };
        let (principal, has) = st
            .auth
            .token(token)
            .await?
            .ok_or(AuthError::Unauthenticated)?;
        if has != scope {
            return Err(AuthError::Forbidden(format!(
                "this API token has scope {}, this route needs {}",
                has.as_str(),
                scope.as_str()
            ))
            .into());
        }
        req.extensions_mut().insert(principal);
        return Ok(());
    }
    let id = auth::session_cookie(req.headers(), auth::cookie_name(&st.settings))
        .ok_or(AuthError::Unauthenticated)?;
    let session = st
        .auth
        .session(&id)
        .await?
        .ok_or(AuthError::Unauthenticated)?;
    if policy != Policy::Staff && session.role != Role::Admin {
        return Err(AuthError::Forbidden("this needs an admin account".into()).into());
    }
    if !req.method().is_safe() {
        let given = req
            .headers()
            .get("x-csrf-token")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        if !session.csrf_matches(given) {
            return Err(AuthError::Csrf.into());
        }
    }
    if policy == Policy::AdminReauth && !session.recently_reauthenticated(st.auth.now()) {
        return Err(AuthError::ReauthRequired.into());
    }
    req.extensions_mut().insert(Principal {
        username: session.username.clone(),
        role: session.role,
    });
    req.extensions_mut().insert(session);
    Ok(())
}

async fn enforce(
    State((st, policy)): State<(AppState, Policy)>,
    mut req: Request,
    next: Next,
) -> Response {
    if policy == Policy::Public {
        return next.run(req).await;
    }
    match authorize(&st, policy, &mut req).await {
        Ok(()) => next.run(req).await,
        Err(error::AppError::Auth(AuthError::Unauthenticated)) if is_page_request(&req) => {
            login_redirect(req.uri())
        }
        Err(e) => e.into_response(),
    }
}

/// A browser opening a page (not the API, not a script asking for JSON).
fn is_page_request(req: &Request) -> bool {
    req.method() == Method::GET
        && !req.uri().path().starts_with("/api/")
        && req
            .headers()
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|a| a.contains("text/html"))
}

/// `303` to the admin login, which comes back to `uri` after the login.
fn login_redirect(uri: &Uri) -> Response {
    let target = uri
        .path_and_query()
        .map_or_else(|| uri.path().to_string(), |p| p.as_str().to_string());
    let mut next = String::new();
    for b in target.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/".contains(&b) {
            next.push(char::from(b));
        } else {
            next.push_str(&format!("%{b:02X}"));
        }
    }
    let location = format!("/admin?next={next}");
    (
        StatusCode::SEE_OTHER,
        [
            (header::LOCATION, location),
            (header::CACHE_CONTROL, "no-store".to_string()),
        ],
    )
        .into_response()
}

/// The client's address, IPv4-mapped IPv6 addresses as IPv4 (unspecified when the
/// request did not come over a socket, as in router tests).
pub fn peer_ip(req: &Request) -> IpAddr {
    req.extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |c| {
            c.0.ip().to_canonical()
        })
}

/// Check-ins per kiosk per minute: 429 with `Retry-After` beyond the limit.
async fn limit_checkins(State(st): State<AppState>, req: Request, next: Next) -> Response {
    match st
        .limits
        .checkins
        .take(peer_ip(&req), tokio::time::Instant::now())
    {
        Ok(()) => next.run(req).await,
        Err(wait) => error::AppError::CheckinRateLimited {
            per_minute: st.settings.checkins_per_minute,
            retry_after_secs: limits::retry_after_secs(wait),
        }
        .into_response(),
    }
}

/// How long a client refused a live stream should wait.
const STREAM_RETRY_SECS: u64 = 5;

/// Live streams at once: 503 with `Retry-After` when all slots are taken, 429 when the
/// client's address holds its share. The slot travels with the response body and is
/// free again when the stream ends.
async fn limit_streams(State(st): State<AppState>, req: Request, next: Next) -> Response {
    use futures::StreamExt;
    let slot = match st.limits.stream_slot(peer_ip(&req)) {
        Ok(slot) => slot,
        Err(limits::StreamRefused::Full { max }) => {
            return error::AppError::TooManyStreams {
                max,
                retry_after_secs: STREAM_RETRY_SECS,
            }
            .into_response();
        }
        Err(limits::StreamRefused::AddressShare { per_address }) => {
            return error::AppError::TooManyStreamsFromAddress {
                per_address,
                retry_after_secs: STREAM_RETRY_SECS,
            }
            .into_response();
        }
    };
    let (parts, body) = next.run(req).await.into_parts();
    let body = body.into_data_stream().map(move |chunk| {
        let _held = &slot;
        chunk
    });
    Response::from_parts(parts, Body::from_stream(body))
}

/// HSTS on HTTPS answers: a year, this host only.
const HSTS: &str = "max-age=31536000";

/// With TLS on: HTTPS answers carry HSTS; plain HTTP from the LAN is redirected to
/// HTTPS (301 for GET and HEAD, 308 otherwise, so a method and body are repeated),
/// while the kiosk and display browsers on the appliance itself (loopback) are served.
async fn transport(State(st): State<AppState>, req: Request, next: Next) -> Response {
    let Some(tls) = &st.settings.tls else {
        return next.run(req).await;
    };
    match req.extensions().get::<serve::Transport>() {
        Some(serve::Transport::Https) => {
            let mut r = next.run(req).await;
            r.headers_mut().insert(
                header::STRICT_TRANSPORT_SECURITY,
                HeaderValue::from_static(HSTS),
            );
            r
        }
        Some(serve::Transport::Http) if !peer_ip(&req).is_loopback() => {
            https_redirect(&req, tls.listen.port())
        }
        _ => next.run(req).await,
    }
}

fn https_redirect(req: &Request, port: u16) -> Response {
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .and_then(|h| h.parse::<axum::http::uri::Authority>().ok())
        .map(|a| a.host().to_string());
    let Some(host) = host else {
        return error::AppError::BadRequest(format!(
            "this appliance is served over HTTPS on port {port}; send a Host header"
        ))
        .into_response();
    };
    let port = if port == 443 {
        String::new()
    } else {
        format!(":{port}")
    };
    let path = req.uri().path_and_query().map_or("/", |p| p.as_str());
    let status = if matches!(*req.method(), Method::GET | Method::HEAD) {
        StatusCode::MOVED_PERMANENTLY
    } else {
        StatusCode::PERMANENT_REDIRECT
    };
    (
        status,
        [
            (header::LOCATION, format!("https://{host}{port}{path}")),
            // A day, so that switching TLS off again is not cached for ever.
            (header::CACHE_CONTROL, "max-age=86400".to_string()),
        ],
    )
        .into_response()
}

async fn api_not_found(uri: Uri) -> error::AppError {
    error::AppError::NotFound(format!("no API route {}", uri.path()))
}

/// Paths outside the table: API paths get a problem, others a file of `kiosk-ui/`
/// (within the request timeout, like every route).
async fn fallback(State(st): State<AppState>, uri: Uri) -> Response {
    if uri.path().starts_with("/api/") {
        return api_not_found(uri).await.into_response();
    }
    match tokio::time::timeout(st.settings.request_timeout, ui::asset(uri)).await {
        Ok(r) => r,
        Err(_) => StatusCode::REQUEST_TIMEOUT.into_response(),
    }
}

/// Server-Sent Event streams: exempt from the request timeout, counted against
/// `max_event_streams`.
pub const LIVE_STREAMS: &[&str] = &[
    "/api/v1/events",
    "/api/v1/kiosk/scans",
    "/api/v1/counters/{id}/findings/stream",
];

/// Routes limited per kiosk by `checkins_per_minute`.
pub const RATE_LIMITED: &[&str] = &["/api/v1/checkins"];

/// The request timeout of a route: every route has one but the live streams.
pub fn route_timeout(path: &str, request_timeout: Duration) -> Option<Duration> {
    (!LIVE_STREAMS.contains(&path)).then_some(request_timeout)
}

/// The whole HTTP surface of the appliance, built from [`ROUTES`].
pub fn app(state: AppState) -> Router {
    let limit = state.settings.max_body_bytes;
    let timeout = state.settings.request_timeout;
    let mut paths: BTreeMap<&str, MethodRouter<AppState>> = BTreeMap::new();
    for spec in ROUTES {
        // route_layer: a wrong method stays 405 instead of becoming 401.
        let mut mr = (spec.handler)(spec.verb.filter())
            .route_layer(from_fn_with_state((state.clone(), spec.policy), enforce));
        if RATE_LIMITED.contains(&spec.path) {
            mr = mr.route_layer(from_fn_with_state(state.clone(), limit_checkins));
        }
        if LIVE_STREAMS.contains(&spec.path) {
            mr = mr.route_layer(from_fn_with_state(state.clone(), limit_streams));
        }
        // Live streams run for hours; everything else has the request timeout.
        if let Some(t) = route_timeout(spec.path, timeout) {
            mr = mr.layer(TimeoutLayer::with_status_code(
                StatusCode::REQUEST_TIMEOUT,
                t,
            ));
        }
        let merged = match paths.remove(spec.path) {
            Some(existing) => existing.merge(mr),
            None => mr,
        };
        paths.insert(spec.path, merged);
    }
    let mut router = Router::new();
    for (path, mr) in paths {
        router = router.route(path, mr);
    }
    router
        .fallback(fallback)
        .layer(DefaultBodyLimit::max(limit))
        .layer(from_fn_with_state(state.clone(), transport))
        .with_state(state)
}
