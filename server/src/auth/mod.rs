//! Who is making a request: staff sessions, API tokens and their roles.
//!
//! The HTTP layer puts a [`Principal`] into the request's extensions once a session
//! or token has been checked; domain code (audit log, admin actions) reads it from there.
//!
//! Secrets are kept only as hashes (passwords: Argon2id; session ids and API tokens:
//! SHA-256, as both are 256 random bits). Failed logins lock an account for a while and
//! are rate-limited per client address; unknown users cost as much as known ones and
//! are locked the same way, so the answers do not tell which accounts exist.

pub mod password;
mod store;

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use base64::Engine;
use chrono::{DateTime, Duration, Utc};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use tokio::sync::Semaphore;
use utoipa::ToSchema;

use crate::clock::{Clock, to_ms};
use crate::storage::{Db, StorageError};

/// A session ends after this long without a request.
pub const IDLE_TIMEOUT: Duration = Duration::minutes(30);
/// A session ends this long after login, however active.
pub const ABSOLUTE_TIMEOUT: Duration = Duration::hours(12);
/// How long a `POST /api/v1/reauth` unlocks admin changes.
pub const REAUTH_WINDOW: Duration = Duration::minutes(5);
/// Failed logins in a row that lock an account …
pub const LOCK_AFTER_FAILURES: u32 = 5;
/// … for this long.
pub const LOCK_DURATION: Duration = Duration::minutes(15);
/// Failed logins one client address may make per window before it is refused.
pub const IP_MAX_FAILURES: usize = 20;
pub const IP_WINDOW: Duration = Duration::minutes(15);
/// Argon2id runs at most this many at a time (19 MiB each, 2 cores).
const HASHING_PERMITS: usize = 2;
/// Names without an account whose failures are remembered at most.
const MAX_UNKNOWN_NAMES: usize = 10_000;

/// The lockout state of a name that has no account (times in ms).
#[derive(Debug, Clone, Copy, Default)]
struct UnknownName {
    failed: u32,
    locked_until: Option<i64>,
    last: i64,
}

/// What a staff member or machine client may do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Front-desk staff: the queue, the desk screen.
    Desk,
    /// Administrators: everything a desk may do, plus accounts, settings, exports.
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Desk => "desk",
            Role::Admin => "admin",
        }
    }
}

impl std::str::FromStr for Role {
    type Err = AuthError;
    fn from_str(s: &str) -> Result<Self, AuthError> {
        match s {
            "desk" => Ok(Role::Desk),
            "admin" => Ok(Role::Admin),
            _ => Err(AuthError::Invalid(format!(
                "unknown role {s:?}; use desk or admin"
            ))),
        }
    }
}

/// What an API token may reach.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    /// The case system's pull feed: `/api/v1/feed`, `/api/v1/feed/ack`.
    Feed,
    /// `/metrics`.
    Monitoring,
}

impl Scope {
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Feed => "feed",
            Scope::Monitoring => "monitoring",
        }
    }
}

impl std::str::FromStr for Scope {
    type Err = AuthError;
    fn from_str(s: &str) -> Result<Self, AuthError> {
        match s {
            "feed" => Ok(Scope::Feed),
            "monitoring" => Ok(Scope::Monitoring),
            _ => Err(AuthError::Invalid(format!(
                "unknown scope {s:?}; use feed or monitoring"
            ))),
        }
    }
}

/// The authenticated caller of a request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Principal {
    /// Account name, or `token:<name>` for an API token; written into the audit log.
    pub username: String,
    /// An API token gets `Desk`, the least role; its scope limits it further.
    pub role: Role,
}

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("wrong username or password")]
    BadCredentials,
    #[error("too many failed logins: the account is locked until {until}")]
    Locked {
        until: DateTime<Utc>,
        retry_after_secs: u64,
    },
    #[error("too many failed logins from this address; try again later")]
    RateLimited { retry_after_secs: u64 },
    #[error("log in (POST /api/v1/login) or send Authorization: Bearer <API token>")]
    Unauthenticated,
    #[error("{0}")]
    Forbidden(String),
    #[error("missing or wrong X-CSRF-Token header; send the csrf_token of the login answer")]
    Csrf,
    #[error("this change needs a fresh password confirmation: POST /api/v1/reauth")]
    ReauthRequired,
    #[error(
        "the password must have at least {} characters",
        password::MIN_PASSWORD_CHARS
    )]
    WeakPassword,
    #[error(
        "the password must have at most {} characters",
        password::MAX_PASSWORD_CHARS
    )]
    PasswordTooLong,
    #[error("{0}")]
    Invalid(String),
    #[error("there is already an account {0:?}")]
    AccountExists(String),
    #[error("there is no account {0:?}")]
    UnknownAccount(String),
    #[error("there is already an API token {0:?}")]
    TokenExists(String),
    #[error("there is no API token {0:?}")]
    UnknownToken(String),
    #[error("the last admin account cannot be deleted or lose its role")]
    LastAdmin,
    #[error("you cannot delete the account you are logged in with")]
    SelfDelete,
    #[error("password hashing failed: {0}")]
    Hash(String),
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// A live session as a request sees it.
#[derive(Clone, Debug)]
pub struct SessionInfo {
    /// SHA-256 of the session id: the key in the `sessions` table.
    pub id_hash: String,
    pub username: String,
    pub role: Role,
    pub csrf_token: String,
    pub created_at: DateTime<Utc>,
    pub reauth_at: Option<DateTime<Utc>>,
}

impl SessionInfo {
    /// True when the password was confirmed within [`REAUTH_WINDOW`].
    pub fn recently_reauthenticated(&self, now: DateTime<Utc>) -> bool {
        self.reauth_at.is_some_and(|t| now - t < REAUTH_WINDOW)
    }

    /// Constant-time comparison with the `X-CSRF-Token` a request sent.
    pub fn csrf_matches(&self, given: &str) -> bool {
        let a = Sha256::digest(given.as_bytes());
        let b = Sha256::digest(self.csrf_token.as_bytes());
        bool::from(a.ct_eq(&b))
    }
}

/// An account without its secret.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct AccountInfo {
    pub username: String,
    pub role: Role,
    pub created_at: DateTime<Utc>,
    pub locked_until: Option<DateTime<Utc>>,
}

/// An API token without its secret.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct TokenInfo {
    pub name: String,
    pub scope: Scope,
    pub created_at: DateTime<Utc>,
}

/// A new session: the id goes only into the cookie.
#[derive(Debug)]
pub struct NewSession {
    pub id: String,
    pub info: SessionInfo,
}

/// 256 random bits, URL-safe base64 without padding (43 characters).
pub fn random_secret() -> String {
    let mut b = [0u8; 32];
    rand::rng().fill_bytes(&mut b);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
}

/// Hex SHA-256, the stored form of session ids and API tokens.
pub fn sha256_hex(s: &str) -> String {
    Sha256::digest(s.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Account names: what fits into a URL path and a log line unquoted.
pub fn check_username(name: &str) -> Result<(), AuthError> {
    let ok = (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(AuthError::Invalid(format!(
            "invalid name {name:?}: 1 to 64 of a-z, 0-9, '.', '_', '-'"
        )))
    }
}

/// Accounts, sessions, tokens and login throttling; cheap to clone.
#[derive(Clone, Debug)]
pub struct Auth {
    db: Db,
    clock: Arc<dyn Clock>,
    /// Failed logins per client address (times in ms), pruned to [`IP_WINDOW`].
    failures: Arc<Mutex<HashMap<IpAddr, Vec<i64>>>>,
    /// Failed logins for names that have no account, counted and locked like an
    /// account's (in memory; bounded).
    unknown: Arc<Mutex<HashMap<String, UnknownName>>>,
    hashing: Arc<Semaphore>,
    /// SHA-256 of `case_system.feed_token`, which acts as a `feed` token.
    config_feed_token: Option<[u8; 32]>,
}

impl Auth {
    pub fn new(db: Db, clock: Arc<dyn Clock>, config_feed_token: Option<&[u8]>) -> Auth {
        Auth {
            db,
            clock,
            failures: Arc::default(),
            unknown: Arc::default(),
            hashing: Arc::new(Semaphore::new(HASHING_PERMITS)),
            config_feed_token: config_feed_token.map(|t| Sha256::digest(t).into()),
        }
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, AuthError> {
        let _permit = self
            .hashing
            .acquire()
            .await
            .map_err(|e| AuthError::Hash(e.to_string()))?;
        tokio::task::spawn_blocking(f)
            .await
            .map_err(|e| AuthError::Hash(e.to_string()))
    }

    async fn hash(&self, password: &str) -> Result<String, AuthError> {
        password::check_policy(password)?;
        let pw = password.to_string();
        self.blocking(move || password::hash(&pw)).await?
    }

    async fn verify(&self, password: &str, stored: Option<String>) -> Result<bool, AuthError> {
        let pw = password.to_string();
        self.blocking(move || password::verify(&pw, stored.as_deref()))
            .await
    }

    fn ip_retry_after(&self, ip: IpAddr) -> Option<u64> {
        let now = to_ms(self.clock.now());
        let window = IP_WINDOW.num_milliseconds();
        let mut map = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        let list = map.entry(ip).or_default();
        list.retain(|t| now - t < window);
        if list.len() >= IP_MAX_FAILURES {
            let oldest = list.first().copied().unwrap_or(now);
            let secs = (oldest + window - now).max(1000) / 1000;
            return Some(u64::try_from(secs).unwrap_or(1));
        }
        None
    }

    fn ip_failed(&self, ip: IpAddr) {
        let now = to_ms(self.clock.now());
        let mut map = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        // Bounded: forget everyone when an attacker sprays addresses.
        if map.len() > 10_000 {
            map.clear();
        }
        map.entry(ip).or_default().push(now);
    }

    /// When a name without an account is locked until (ms), like an account would be.
    fn unknown_locked_until(&self, name: &str) -> Option<i64> {
        let map = self.unknown.lock().unwrap_or_else(|e| e.into_inner());
        map.get(name).and_then(|u| u.locked_until)
    }

    /// Counts a failed login for a name without an account, as `store::record_failure`
    /// does for accounts: the [`LOCK_AFTER_FAILURES`]-th locks it until `until`.
    fn unknown_failed(&self, name: &str, now: i64, until: i64) {
        let mut map = self.unknown.lock().unwrap_or_else(|e| e.into_inner());
        if map.len() >= MAX_UNKNOWN_NAMES && !map.contains_key(name) {
            let window = LOCK_DURATION.num_milliseconds();
            map.retain(|_, u| now - u.last < window || u.locked_until.is_some_and(|t| t > now));
            if map.len() >= MAX_UNKNOWN_NAMES {
                map.clear();
            }
        }
        let u = map.entry(name.to_string()).or_default();
        u.failed += 1;
        u.last = now;
        if u.failed >= LOCK_AFTER_FAILURES {
            u.failed = 0;
            u.locked_until = Some(until);
        }
    }

    /// Checks the password; on success starts a new session (a new id every time, so a
    /// planted id is never promoted) and ends `old`, the session id the client had.
    pub async fn login(
        &self,
        username: &str,
        password: &str,
        ip: IpAddr,
        old: Option<&str>,
    ) -> Result<NewSession, AuthError> {
        if let Some(retry_after_secs) = self.ip_retry_after(ip) {
            return Err(AuthError::RateLimited { retry_after_secs });
        }
        let name = username.to_string();
        let creds = self
            .db
            .run(move |tx| store::credentials(tx.conn, &name))
            .await?;
        let now = self.clock.now();
        let locked = match &creds {
            Some(c) => c.locked_until,
            None => self.unknown_locked_until(username),
        };
        if let Some(until) = locked {
            let until = crate::clock::from_ms(until);
            if until > now {
                // Still verify, so a locked account costs the same as any other.
                let _ = self.verify(password, None).await?;
                let secs = (until - now).num_seconds().max(1);
                return Err(AuthError::Locked {
                    until,
                    retry_after_secs: u64::try_from(secs).unwrap_or(1),
                });
            }
        }
        let ok = self
            .verify(password, creds.as_ref().map(|c| c.password_hash.clone()))
            .await?;
        let name = username.to_string();
        if !ok {
            self.ip_failed(ip);
            let until = to_ms(now + LOCK_DURATION);
            if creds.is_some() {
                self.db
                    .run(move |tx| {
                        store::record_failure(tx.conn, &name, LOCK_AFTER_FAILURES, until)
                    })
                    .await?;
            } else {
                self.unknown_failed(&name, to_ms(now), until);
            }
            return Err(AuthError::BadCredentials);
        }
        let id = random_secret();
        let id_hash = sha256_hex(&id);
        let csrf = random_secret();
        let old_hash = old.map(sha256_hex);
        let (h, c) = (id_hash.clone(), csrf.clone());
        let (idle, absolute) = (
            IDLE_TIMEOUT.num_milliseconds(),
            ABSOLUTE_TIMEOUT.num_milliseconds(),
        );
        let info = self
            .db
            .run(move |tx| {
                let now = to_ms(tx.now);
                if let Some(old) = old_hash {
                    store::delete_session(tx.conn, &old)?;
                }
                store::purge_sessions(tx.conn, now, idle, absolute)?;
                store::record_success(tx.conn, &name)?;
                store::insert_session(tx.conn, &h, &name, &c, now)?;
                store::touch_session(tx.conn, &h, now, idle, absolute)
            })
            .await?
            .ok_or(AuthError::Unauthenticated)?;
        Ok(NewSession { id, info })
    }

    /// The live session for a cookie's id; `None` when unknown or expired.
    pub async fn session(&self, id: &str) -> Result<Option<SessionInfo>, AuthError> {
        let h = sha256_hex(id);
        let (idle, absolute) = (
            IDLE_TIMEOUT.num_milliseconds(),
            ABSOLUTE_TIMEOUT.num_milliseconds(),
        );
        self.db
            .run(move |tx| store::touch_session(tx.conn, &h, to_ms(tx.now), idle, absolute))
            .await
    }

    /// Ends a session on the server: its cookie is worthless afterwards.
    pub async fn logout(&self, id_hash: &str) -> Result<(), AuthError> {
        let h = id_hash.to_string();
        self.db
            .run(move |tx| store::delete_session(tx.conn, &h))
            .await
    }

    /// Confirms the session owner's password again; unlocks admin changes for
    /// [`REAUTH_WINDOW`]. Failures count towards the lockout like failed logins.
    pub async fn reauth(
        &self,
        session: &SessionInfo,
        password: &str,
        ip: IpAddr,
    ) -> Result<DateTime<Utc>, AuthError> {
        if let Some(retry_after_secs) = self.ip_retry_after(ip) {
            return Err(AuthError::RateLimited { retry_after_secs });
        }
        let name = session.username.clone();
        let creds = self
            .db
            .run(move |tx| store::credentials(tx.conn, &name))
            .await?
            .ok_or(AuthError::Unauthenticated)?;
        let ok = self.verify(password, Some(creds.password_hash)).await?;
        let name = session.username.clone();
        if !ok {
            self.ip_failed(ip);
            let until = to_ms(self.clock.now() + LOCK_DURATION);
            let locked = self
                .db
                .run(move |tx| store::record_failure(tx.conn, &name, LOCK_AFTER_FAILURES, until))
                .await?;
            if locked {
                // A locked account's sessions end too.
                let h = session.id_hash.clone();
                self.logout(&h).await?;
            }
            return Err(AuthError::BadCredentials);
        }
        let h = session.id_hash.clone();
        let at = self
            .db
            .run(move |tx| {
                store::mark_reauth(tx.conn, &h, to_ms(tx.now))?;
                store::record_success(tx.conn, &name)?;
                Ok::<_, AuthError>(tx.now)
            })
            .await?;
        Ok(at + REAUTH_WINDOW)
    }

    /// The principal behind an `Authorization: Bearer` token, with its scope.
    pub async fn token(&self, token: &str) -> Result<Option<(Principal, Scope)>, AuthError> {
        let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        if let Some(cfg) = &self.config_feed_token
            && bool::from(digest.ct_eq(cfg))
        {
            let p = Principal {
                username: "token:case_system.feed_token".into(),
                role: Role::Desk,
            };
            return Ok(Some((p, Scope::Feed)));
        }
        let h = sha256_hex(token);
        let found = self
            .db
            .run(move |tx| store::token_by_hash(tx.conn, &h))
            .await?;
        Ok(found.map(|t| {
            (
                Principal {
                    username: format!("token:{}", t.name),
                    role: Role::Desk,
                },
                t.scope,
            )
        }))
    }

    pub async fn accounts(&self) -> Result<Vec<AccountInfo>, AuthError> {
        self.db.run(|tx| store::accounts(tx.conn)).await
    }

    pub async fn create_account(
        &self,
        username: &str,
        password: &str,
        role: Role,
    ) -> Result<(), AuthError> {
        check_username(username)?;
        let hash = self.hash(password).await?;
        let name = username.to_string();
        self.db
            .run(move |tx| store::insert_account(tx.conn, &name, role, &hash, to_ms(tx.now)))
            .await
    }

    /// Changes password and/or role. A new password ends the account's other sessions
    /// (all but `keep`, the caller's own).
    pub async fn update_account(
        &self,
        username: &str,
        password: Option<&str>,
        role: Option<Role>,
        keep: Option<&str>,
    ) -> Result<(), AuthError> {
        let hash = match password {
            Some(p) => Some(self.hash(p).await?),
            None => None,
        };
        let name = username.to_string();
        let keep = keep.map(str::to_string);
        self.db
            .run(move |tx| {
                if store::credentials(tx.conn, &name)?.is_none() {
                    return Err(AuthError::UnknownAccount(name));
                }
                if let Some(r) = role {
                    store::set_role(tx.conn, &name, r)?;
                }
                if let Some(h) = hash {
                    store::set_password(tx.conn, &name, &h, keep.as_deref())?;
                }
                Ok(())
            })
            .await
    }

    /// Deletes an account and its sessions; never the last admin, never `caller`.
    pub async fn delete_account(&self, username: &str, caller: &str) -> Result<(), AuthError> {
        if username == caller {
            return Err(AuthError::SelfDelete);
        }
        let name = username.to_string();
        self.db
            .run(move |tx| store::delete_account(tx.conn, &name))
            .await
    }

    pub async fn tokens(&self) -> Result<Vec<TokenInfo>, AuthError> {
        self.db.run(|tx| store::tokens(tx.conn)).await
    }

    /// A new API token; the returned clear value is shown once and never stored.
    pub async fn create_token(&self, name: &str, scope: Scope) -> Result<String, AuthError> {
        check_username(name)?;
        let token = format!("lotse_{}", random_secret());
        let h = sha256_hex(&token);
        let name = name.to_string();
        self.db
            .run(move |tx| store::insert_token(tx.conn, &name, scope, &h, to_ms(tx.now)))
            .await?;
        Ok(token)
    }

    pub async fn delete_token(&self, name: &str) -> Result<(), AuthError> {
        let name = name.to_string();
        self.db
            .run(move |tx| store::delete_token(tx.conn, &name))
            .await
    }

    /// First boot: the provisioning file's admin password arrives as an Argon2 PHC hash
    /// (`lotse provision` writes it to `/etc/lotse/admin.hash`). It becomes the `admin`
    /// account only while the appliance has no admin at all, so it never overrides a
    /// password changed later. Returns whether the account was created.
    pub async fn adopt_admin_hash(&self, phc: &str) -> Result<bool, AuthError> {
        let parsed = argon2::PasswordHash::new(phc)
            .map_err(|e| AuthError::Invalid(format!("the admin hash is no PHC string: {e}")))?;
        if parsed.algorithm.as_str() != "argon2id" {
            return Err(AuthError::Invalid(
                "the admin hash must be Argon2id".to_string(),
            ));
        }
        let hash = phc.to_string();
        self.db
            .run(move |tx| {
                let admins = store::accounts(tx.conn)?
                    .iter()
                    .filter(|a| a.role == Role::Admin)
                    .count();
                if admins > 0 || store::credentials(tx.conn, "admin")?.is_some() {
                    return Ok(false);
                }
                store::insert_account(tx.conn, "admin", Role::Admin, &hash, to_ms(tx.now))?;
                Ok(true)
            })
            .await
    }

    /// Demo mode: accounts `desk` and `admin` with `password`, created or reset.
    pub async fn ensure_demo_accounts(&self, password: &str) -> Result<(), AuthError> {
        for (name, role) in [("admin", Role::Admin), ("desk", Role::Desk)] {
            let hash = self.hash(password).await?;
            self.db
                .run(move |tx| {
                    let now = to_ms(tx.now);
                    if store::credentials(tx.conn, name)?.is_some() {
                        store::set_role(tx.conn, name, role)?;
                        tx.conn
                            .execute(
                                "UPDATE accounts SET password_hash = ?2, failed_logins = 0,
                                 locked_until = NULL WHERE username = ?1",
                                rusqlite::params![name, hash],
                            )
                            .map_err(StorageError::from)?;
                        Ok(())
                    } else {
                        store::insert_account(tx.conn, name, role, &hash, now)
                    }
                })
                .await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
