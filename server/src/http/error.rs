//! The one place where errors become HTTP answers: RFC 9457 problem documents with
//! a stable `type`, and no internals in the text.

use axum::extract::rejection::{BytesRejection, JsonRejection, PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use crate::queue::QueueError;
use crate::storage::StorageError;

/// `application/problem+json` body.
#[derive(Debug, Serialize, ToSchema)]
pub struct Problem {
    /// Stable identifier of the kind of problem, e.g. `urn:lotse:problem:unknown-service`.
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
}

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error(transparent)]
    Queue(#[from] QueueError),
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error(transparent)]
    Json(#[from] JsonRejection),
    /// A raw body that could not be read (too large, broken stream).
    #[error(transparent)]
    Body(#[from] BytesRejection),
    #[error(transparent)]
    Path(#[from] PathRejection),
    #[error(transparent)]
    Query(#[from] QueryRejection),
    #[error(transparent)]
    Announce(#[from] crate::announce::AnnounceError),
    #[error(transparent)]
    Auth(#[from] crate::auth::AuthError),
    #[error(transparent)]
    Settings(#[from] crate::settings_store::SettingsError),
    #[error(transparent)]
    Stats(#[from] crate::stats::StatsError),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    Unprocessable(String),
    #[error(transparent)]
    Scan(#[from] crate::scanning::hub::ScanError),
    #[error(transparent)]
    DeskScan(#[from] crate::scanning::desk::DeskScanError),
    #[error(
        "too many check-ins from this kiosk (at most {per_minute} a minute); try again in {retry_after_secs} s"
    )]
    CheckinRateLimited {
        per_minute: u32,
        retry_after_secs: u64,
    },
    #[error("all {max} live event streams are in use; try again in {retry_after_secs} s")]
    TooManyStreams { max: u32, retry_after_secs: u64 },
    #[error(
        "this address has {per_address} live event streams open already, its share; try again in {retry_after_secs} s"
    )]
    TooManyStreamsFromAddress {
        per_address: u32,
        retry_after_secs: u64,
    },
}

pub type Result<T> = std::result::Result<T, AppError>;

/// A problem response; every error answer of the API is built here.
pub(crate) fn problem(status: StatusCode, slug: &str, title: &str, detail: String) -> Response {
    let body = Problem {
        kind: format!("urn:lotse:problem:{slug}"),
        title: title.to_string(),
        status: status.as_u16(),
        detail,
    };
    let json = serde_json::to_vec(&body).unwrap_or_default();
    (
        status,
        [(header::CONTENT_TYPE, "application/problem+json")],
        json,
    )
        .into_response()
}

fn storage_problem(e: &StorageError) -> Response {
    tracing::error!("storage: {e}");
    match e {
        StorageError::Closed => problem(
            StatusCode::SERVICE_UNAVAILABLE,
            "shutting-down",
            "Service unavailable",
            "the appliance is shutting down; try again in a moment".into(),
        ),
        _ => problem(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "Internal error",
            "the request could not be completed; details are in the appliance log".into(),
        ),
    }
}

fn auth_problem(e: crate::auth::AuthError) -> Response {
    use crate::auth::AuthError as A;
    let detail = e.to_string();
    let (status, slug, title) = match &e {
        A::BadCredentials => (StatusCode::UNAUTHORIZED, "bad-credentials", "Login failed"),
        A::Locked { .. } => (
            StatusCode::TOO_MANY_REQUESTS,
            "account-locked",
            "Account temporarily locked",
        ),
        A::RateLimited { .. } => (
            StatusCode::TOO_MANY_REQUESTS,
            "login-rate-limited",
            "Too many failed logins",
        ),
        A::Unauthenticated => (
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "Authentication required",
        ),
        A::Forbidden(_) => (StatusCode::FORBIDDEN, "forbidden", "Forbidden"),
        A::Csrf => (StatusCode::FORBIDDEN, "csrf", "CSRF token missing or wrong"),
        A::ReauthRequired => (
            StatusCode::FORBIDDEN,
            "reauth_required",
            "Re-authentication required",
        ),
        A::WeakPassword | A::PasswordTooLong => (
            StatusCode::UNPROCESSABLE_ENTITY,
            "weak-password",
            "Password not accepted",
        ),
        A::Invalid(_) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid-value",
            "Invalid value",
        ),
        A::AccountExists(_) | A::TokenExists(_) => {
            (StatusCode::CONFLICT, "already-exists", "Already exists")
        }
        A::UnknownAccount(_) => (StatusCode::NOT_FOUND, "unknown-account", "Unknown account"),
        A::UnknownToken(_) => (StatusCode::NOT_FOUND, "unknown-token", "Unknown API token"),
        A::LastAdmin => (StatusCode::CONFLICT, "last-admin", "Last admin account"),
        A::SelfDelete => (StatusCode::CONFLICT, "own-account", "Own account"),
        A::Hash(_) => {
            tracing::error!("auth: {e}");
            return problem(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "Internal error",
                "the request could not be completed; details are in the appliance log".into(),
            );
        }
        A::Storage(s) => return storage_problem(s),
    };
    let mut r = problem(status, slug, title, detail);
    let retry = match &e {
        A::RateLimited { retry_after_secs }
        | A::Locked {
            retry_after_secs, ..
        } => Some(*retry_after_secs),
        _ => None,
    };
    if let Some(s) = retry {
        r = with_retry_after(r, s);
    }
    if matches!(e, A::Unauthenticated) {
        r.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            header::HeaderValue::from_static("Bearer realm=\"lotse\""),
        );
    }
    r
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        use QueueError as Q;
        let detail = self.to_string();
        match self {
            AppError::Queue(q) => match q {
                Q::UnknownService(_) => problem(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "unknown-service",
                    "Unknown service",
                    detail,
                ),
                Q::UnknownLanguage(_) => problem(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "unknown-language",
                    "Unsupported language",
                    detail,
                ),
                Q::UnknownCounter(_) => problem(
                    StatusCode::NOT_FOUND,
                    "unknown-counter",
                    "Unknown counter",
                    detail,
                ),
                Q::UnknownTicket(_) => problem(
                    StatusCode::NOT_FOUND,
                    "unknown-ticket",
                    "Unknown ticket",
                    detail,
                ),
                Q::IllegalTransition { .. } => problem(
                    StatusCode::CONFLICT,
                    "illegal-transition",
                    "Not allowed in the ticket's current state",
                    detail,
                ),
                Q::NotCurrent { .. } => problem(
                    StatusCode::CONFLICT,
                    "not-current-visit",
                    "The visit is no longer current at this counter",
                    detail,
                ),
                Q::CounterPaused(_) => problem(
                    StatusCode::CONFLICT,
                    "counter-paused",
                    "Counter is paused",
                    detail,
                ),
                Q::SameService(..) => problem(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "same-service",
                    "Transfer to the same service",
                    detail,
                ),
                Q::Storage(e) => storage_problem(&e),
            },
            AppError::Storage(e) => storage_problem(&e),
            AppError::Settings(e) => {
                use crate::settings_store::SettingsError as S;
                match e {
                    S::Invalid(_) => problem(
                        StatusCode::UNPROCESSABLE_ENTITY,
                        "invalid-setting",
                        "Invalid setting",
                        detail,
                    ),
                    S::Conflict(_) => problem(
                        StatusCode::CONFLICT,
                        "setting-conflict",
                        "Setting cannot be changed now",
                        detail,
                    ),
                    S::Storage(e) => storage_problem(&e),
                }
            }
            AppError::Json(r) => {
                let status = r.status();
                let (slug, title) = match &r {
                    JsonRejection::MissingJsonContentType(_) => {
                        ("unsupported-media-type", "Expected application/json")
                    }
                    JsonRejection::JsonSyntaxError(_) => ("malformed-json", "Malformed JSON"),
                    JsonRejection::JsonDataError(_) => ("invalid-body", "Invalid request body"),
                    _ if status == StatusCode::PAYLOAD_TOO_LARGE => {
                        ("body-too-large", "Request body too large")
                    }
                    _ => ("invalid-body", "Invalid request body"),
                };
                problem(status, slug, title, r.body_text())
            }
            AppError::Body(r) => {
                let status = r.status();
                let (slug, title) = if status == StatusCode::PAYLOAD_TOO_LARGE {
                    ("body-too-large", "Request body too large")
                } else {
                    ("invalid-body", "Invalid request body")
                };
                problem(status, slug, title, r.body_text())
            }
            AppError::Path(r) => problem(
                StatusCode::BAD_REQUEST,
                "invalid-path",
                "Invalid path parameter",
                r.body_text(),
            ),
            AppError::Query(r) => problem(
                StatusCode::BAD_REQUEST,
                "invalid-query",
                "Invalid query parameter",
                r.body_text(),
            ),
            AppError::Announce(crate::announce::AnnounceError::Disabled) => problem(
                StatusCode::NOT_FOUND,
                "announcements-disabled",
                "Spoken calls are switched off",
                detail,
            ),
            AppError::Announce(e) => {
                tracing::error!("announcement: {e}");
                problem(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "announcement-unavailable",
                    "Spoken call unavailable",
                    "the spoken call could not be produced; details are in the appliance log"
                        .into(),
                )
            }
            AppError::Auth(e) => auth_problem(e),
            AppError::Stats(e) => {
                use crate::stats::StatsError as S;
                match e {
                    S::Storage(e) => storage_problem(&e),
                    S::UnknownChart(_) => problem(
                        StatusCode::NOT_FOUND,
                        "unknown-chart",
                        "Unknown chart",
                        detail,
                    ),
                    S::BadDate(_) | S::Reversed { .. } | S::TooLong { .. } => problem(
                        StatusCode::BAD_REQUEST,
                        "invalid-range",
                        "Invalid date range",
                        detail,
                    ),
                    S::BadGranularity(_) | S::BadFormat(_) | S::BadSeparator(_) => problem(
                        StatusCode::BAD_REQUEST,
                        "invalid-query",
                        "Invalid query parameter",
                        detail,
                    ),
                }
            }
            AppError::NotFound(_) => {
                problem(StatusCode::NOT_FOUND, "not-found", "Not found", detail)
            }
            AppError::BadRequest(_) => problem(
                StatusCode::BAD_REQUEST,
                "bad-request",
                "Bad request",
                detail,
            ),
            AppError::Forbidden(_) => {
                problem(StatusCode::FORBIDDEN, "forbidden", "Forbidden", detail)
            }
            AppError::Unprocessable(_) => problem(
                StatusCode::UNPROCESSABLE_ENTITY,
                "unprocessable",
                "Request cannot be carried out",
                detail,
            ),
            AppError::Scan(_) => problem(
                StatusCode::GONE,
                "scan-expired",
                "Scan no longer available",
                detail,
            ),
            AppError::DeskScan(e) => {
                use crate::scanning::desk::DeskScanError as D;
                match e {
                    D::Unknown(_) => problem(
                        StatusCode::NOT_FOUND,
                        "unknown-finding",
                        "Unknown finding",
                        detail,
                    ),
                    D::NotPending => problem(
                        StatusCode::CONFLICT,
                        "finding-not-pending",
                        "The finding does not wait for a consent",
                        detail,
                    ),
                    D::NoConsent => problem(
                        StatusCode::UNPROCESSABLE_ENTITY,
                        "consent-required",
                        "Consent not confirmed",
                        detail,
                    ),
                    D::Queue(q) => AppError::Queue(q).into_response(),
                }
            }
            AppError::CheckinRateLimited {
                retry_after_secs, ..
            } => with_retry_after(
                problem(
                    StatusCode::TOO_MANY_REQUESTS,
                    "checkin-rate-limited",
                    "Too many check-ins from this kiosk",
                    detail,
                ),
                retry_after_secs,
            ),
            AppError::TooManyStreams {
                retry_after_secs, ..
            } => with_retry_after(
                problem(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "too-many-streams",
                    "Too many live event streams",
                    detail,
                ),
                retry_after_secs,
            ),
            AppError::TooManyStreamsFromAddress {
                retry_after_secs, ..
            } => with_retry_after(
                problem(
                    StatusCode::TOO_MANY_REQUESTS,
                    "too-many-streams-from-address",
                    "Too many live event streams from this address",
                    detail,
                ),
                retry_after_secs,
            ),
        }
    }
}

fn with_retry_after(mut r: Response, secs: u64) -> Response {
    if let Ok(v) = header::HeaderValue::from_str(&secs.to_string()) {
        r.headers_mut().insert(header::RETRY_AFTER, v);
    }
    r
}

/// `Json` whose rejections are problem documents.
#[derive(Debug, FromRequest)]
#[from_request(via(axum::Json), rejection(AppError))]
pub struct AppJson<T>(pub T);

impl<T: Serialize> IntoResponse for AppJson<T> {
    fn into_response(self) -> Response {
        axum::Json(self.0).into_response()
    }
}

/// `Path` whose rejections are problem documents.
#[derive(Debug, FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(AppError))]
pub struct AppPath<T>(pub T);

/// `Query` whose rejections are problem documents.
#[derive(Debug, FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(AppError))]
pub struct AppQuery<T>(pub T);
