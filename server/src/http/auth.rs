//! Login, logout, re-authentication and the admin API for accounts and API tokens.
//! Who may call what is decided by the route policy in [`super`], not here.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::AppState;
use super::error::{AppError, AppJson, AppPath, Result};
use crate::auth::{AccountInfo, AuthError, Principal, Role, Scope, SessionInfo, TokenInfo};
use crate::config::Settings;

/// The session cookie's name: with TLS the `__Host-` prefix pins it to this origin.
pub fn cookie_name(settings: &Settings) -> &'static str {
    if settings.tls_enabled() {
        "__Host-lotse_session"
    } else {
        "lotse_session"
    }
}

/// The session id from the request's `Cookie` headers.
pub fn session_cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim().to_string())
        .filter(|v| !v.is_empty() && v.len() <= 128)
}

fn set_cookie(settings: &Settings, value: Option<&str>) -> HeaderValue {
    let name = cookie_name(settings);
    let secure = if settings.tls_enabled() {
        "; Secure"
    } else {
        ""
    };
    let text = match value {
        Some(v) => format!("{name}={v}; Path=/; HttpOnly; SameSite=Strict{secure}"),
        None => format!("{name}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0{secure}"),
    };
    HeaderValue::from_str(&text).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// The client's address for login throttling: the TCP peer (no proxy is trusted).
#[derive(Debug, Clone, Copy)]
pub struct ClientIp(pub IpAddr);

impl<S: Send + Sync> FromRequestParts<S> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        _: &S,
    ) -> std::result::Result<Self, Self::Rejection> {
        Ok(ClientIp(
            parts
                .extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |c| {
                    c.0.ip().to_canonical()
                }),
        ))
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginBody {
    pub username: String,
    pub password: String,
}

/// The logged-in account and the token that state-changing requests send back.
#[derive(Debug, Serialize, ToSchema)]
pub struct SessionAnswer {
    pub username: String,
    pub role: Role,
    /// Send as `X-CSRF-Token` with every POST, PUT and DELETE.
    pub csrf_token: String,
}

fn answer(s: &SessionInfo) -> SessionAnswer {
    SessionAnswer {
        username: s.username.clone(),
        role: s.role,
        csrf_token: s.csrf_token.clone(),
    }
}

#[utoipa::path(post, path = "/api/v1/login", tag = "auth", request_body = LoginBody,
    responses((status = 200, body = SessionAnswer, description = "and the session cookie"),
        (status = 401, body = super::error::Problem), (status = 429, body = super::error::Problem)))]
pub async fn login(
    State(st): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    AppJson(body): AppJson<LoginBody>,
) -> Result<Response> {
    let old = session_cookie(&headers, cookie_name(&st.settings));
    let s = st
        .auth
        .login(&body.username, &body.password, ip, old.as_deref())
        .await?;
    Ok((
        [(header::SET_COOKIE, set_cookie(&st.settings, Some(&s.id)))],
        Json(answer(&s.info)),
    )
        .into_response())
}

#[utoipa::path(get, path = "/api/v1/login", tag = "auth",
    responses((status = 200, body = SessionAnswer), (status = 401, body = super::error::Problem)))]
pub async fn session(Extension(s): Extension<SessionInfo>) -> Json<SessionAnswer> {
    Json(answer(&s))
}

#[utoipa::path(post, path = "/api/v1/logout", tag = "auth",
    responses((status = 204, description = "the session is gone on the server")))]
pub async fn logout(
    State(st): State<AppState>,
    Extension(s): Extension<SessionInfo>,
) -> Result<Response> {
    st.auth.logout(&s.id_hash).await?;
    Ok((
        StatusCode::NO_CONTENT,
        [(header::SET_COOKIE, set_cookie(&st.settings, None))],
    )
        .into_response())
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReauthBody {
    pub password: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ReauthAnswer {
    /// Admin changes are allowed until then (5 minutes).
    pub reauth_until: chrono::DateTime<chrono::Utc>,
}

#[utoipa::path(post, path = "/api/v1/reauth", tag = "auth", request_body = ReauthBody,
    responses((status = 200, body = ReauthAnswer), (status = 401, body = super::error::Problem)))]
pub async fn reauth(
    State(st): State<AppState>,
    ClientIp(ip): ClientIp,
    Extension(s): Extension<SessionInfo>,
    AppJson(body): AppJson<ReauthBody>,
) -> Result<Json<ReauthAnswer>> {
    let reauth_until = st.auth.reauth(&s, &body.password, ip).await?;
    Ok(Json(ReauthAnswer { reauth_until }))
}

// ------------------------------------------------------------------ accounts

#[utoipa::path(get, path = "/api/v1/admin/accounts", tag = "admin",
    responses((status = 200, body = Vec<AccountInfo>)))]
pub async fn accounts(State(st): State<AppState>) -> Result<Json<Vec<AccountInfo>>> {
    Ok(Json(st.auth.accounts().await?))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewAccount {
    pub username: String,
    /// At least 12 characters.
    pub password: String,
    pub role: Role,
}

async fn account(st: &AppState, username: &str) -> Result<AccountInfo> {
    st.auth
        .accounts()
        .await?
        .into_iter()
        .find(|a| a.username == username)
        .ok_or_else(|| AppError::Auth(AuthError::UnknownAccount(username.to_string())))
}

#[utoipa::path(post, path = "/api/v1/admin/accounts", tag = "admin", request_body = NewAccount,
    responses((status = 201, body = AccountInfo), (status = 403, body = super::error::Problem),
        (status = 409, body = super::error::Problem), (status = 422, body = super::error::Problem)))]
pub async fn create_account(
    State(st): State<AppState>,
    AppJson(body): AppJson<NewAccount>,
) -> Result<Response> {
    st.auth
        .create_account(&body.username, &body.password, body.role)
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(account(&st, &body.username).await?),
    )
        .into_response())
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AccountChange {
    pub password: Option<String>,
    pub role: Option<Role>,
}

#[utoipa::path(put, path = "/api/v1/admin/accounts/{username}", tag = "admin",
    request_body = AccountChange, params(("username" = String, Path, description = "account")),
    responses((status = 200, body = AccountInfo), (status = 404, body = super::error::Problem),
        (status = 409, body = super::error::Problem)))]
pub async fn update_account(
    State(st): State<AppState>,
    Extension(s): Extension<SessionInfo>,
    AppPath(username): AppPath<String>,
    AppJson(body): AppJson<AccountChange>,
) -> Result<Json<AccountInfo>> {
    st.auth
        .update_account(
            &username,
            body.password.as_deref(),
            body.role,
            Some(&s.id_hash),
        )
        .await?;
    Ok(Json(account(&st, &username).await?))
}

#[utoipa::path(delete, path = "/api/v1/admin/accounts/{username}", tag = "admin",
    params(("username" = String, Path, description = "account")),
    responses((status = 204), (status = 404, body = super::error::Problem),
        (status = 409, body = super::error::Problem)))]
pub async fn delete_account(
    State(st): State<AppState>,
    Extension(p): Extension<Principal>,
    AppPath(username): AppPath<String>,
) -> Result<StatusCode> {
    st.auth.delete_account(&username, &p.username).await?;
    Ok(StatusCode::NO_CONTENT)
}

// -------------------------------------------------------------------- tokens

#[utoipa::path(get, path = "/api/v1/admin/tokens", tag = "admin",
    responses((status = 200, body = Vec<TokenInfo>)))]
pub async fn tokens(State(st): State<AppState>) -> Result<Json<Vec<TokenInfo>>> {
    Ok(Json(st.auth.tokens().await?))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewToken {
    pub name: String,
    pub scope: Scope,
}

/// The new token: shown this once, stored only as a hash.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedToken {
    pub name: String,
    pub scope: Scope,
    pub token: String,
}

#[utoipa::path(post, path = "/api/v1/admin/tokens", tag = "admin", request_body = NewToken,
    responses((status = 201, body = CreatedToken), (status = 409, body = super::error::Problem)))]
pub async fn create_token(
    State(st): State<AppState>,
    AppJson(body): AppJson<NewToken>,
) -> Result<Response> {
    let token = st.auth.create_token(&body.name, body.scope).await?;
    Ok((
        StatusCode::CREATED,
        Json(CreatedToken {
            name: body.name,
            scope: body.scope,
            token,
        }),
    )
        .into_response())
}

#[utoipa::path(delete, path = "/api/v1/admin/tokens/{name}", tag = "admin",
    params(("name" = String, Path, description = "token name")),
    responses((status = 204), (status = 404, body = super::error::Problem)))]
pub async fn delete_token(
    State(st): State<AppState>,
    AppPath(name): AppPath<String>,
) -> Result<StatusCode> {
    st.auth.delete_token(&name).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cookie_gets_the_host_prefix_and_secure_with_tls() {
        let mut s = Settings::demo(None).unwrap();
        let plain = set_cookie(&s, Some("abc"));
        assert_eq!(
            plain.to_str().unwrap(),
            "lotse_session=abc; Path=/; HttpOnly; SameSite=Strict"
        );
        s.tls = Some(crate::config::TlsSettings {
            cert: "/etc/lotse/tls/cert.pem".into(),
            key: "/etc/lotse/tls/key.pem".into(),
            listen: "0.0.0.0:8443".parse().unwrap(),
        });
        let tls = set_cookie(&s, Some("abc"));
        assert_eq!(
            tls.to_str().unwrap(),
            "__Host-lotse_session=abc; Path=/; HttpOnly; SameSite=Strict; Secure"
        );
        assert!(set_cookie(&s, None).to_str().unwrap().contains("Max-Age=0"));
    }

    #[test]
    fn the_session_cookie_is_found_among_others() {
        let mut h = HeaderMap::new();
        h.append(
            header::COOKIE,
            HeaderValue::from_static("a=1; lotse_session=xyz"),
        );
        h.append(header::COOKIE, HeaderValue::from_static("b=2"));
        assert_eq!(session_cookie(&h, "lotse_session").as_deref(), Some("xyz"));
        assert_eq!(session_cookie(&h, "__Host-lotse_session"), None);
        let mut h = HeaderMap::new();
        h.append(header::COOKIE, HeaderValue::from_static("lotse_session="));
        assert_eq!(session_cookie(&h, "lotse_session"), None);
    }
}
