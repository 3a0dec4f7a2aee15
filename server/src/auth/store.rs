//! The SQL of accounts, sessions and API tokens; runs on the database thread.

use rusqlite::{Connection, OptionalExtension, params};

use super::{AccountInfo, AuthError, Role, Scope, SessionInfo, TokenInfo};
use crate::clock::from_ms;

type Result<T> = std::result::Result<T, AuthError>;

/// What a login needs to know about an account.
#[derive(Debug)]
pub struct Credentials {
    pub role: Role,
    pub password_hash: String,
    pub locked_until: Option<i64>,
}

fn role_of(s: &str) -> Role {
    if s == "admin" {
        Role::Admin
    } else {
        Role::Desk
    }
}

pub fn credentials(conn: &Connection, username: &str) -> Result<Option<Credentials>> {
    Ok(conn
        .query_row(
            "SELECT role, password_hash, locked_until FROM accounts WHERE username = ?1",
            [username],
            |r| {
                Ok(Credentials {
                    role: role_of(&r.get::<_, String>(0)?),
                    password_hash: r.get(1)?,
                    locked_until: r.get(2)?,
                })
            },
        )
        .optional()
        .map_err(crate::storage::StorageError::from)?)
}

/// Counts a failed login; the `lock_after`-th locks the account until `lock_until`.
/// Returns whether the account is now locked.
pub fn record_failure(
    conn: &Connection,
    username: &str,
    lock_after: u32,
    lock_until: i64,
) -> Result<bool> {
    let failed: Option<u32> = conn
        .query_row(
            "UPDATE accounts SET failed_logins = failed_logins + 1 WHERE username = ?1
             RETURNING failed_logins",
            [username],
            |r| r.get(0),
        )
        .optional()
        .map_err(crate::storage::StorageError::from)?;
    if failed.is_some_and(|n| n >= lock_after) {
        conn.execute(
            "UPDATE accounts SET failed_logins = 0, locked_until = ?2 WHERE username = ?1",
            params![username, lock_until],
        )
        .map_err(crate::storage::StorageError::from)?;
        return Ok(true);
    }
    Ok(false)
}

pub fn record_success(conn: &Connection, username: &str) -> Result<()> {
    conn.execute(
        "UPDATE accounts SET failed_logins = 0, locked_until = NULL WHERE username = ?1",
        [username],
    )
    .map_err(crate::storage::StorageError::from)?;
    Ok(())
}

pub fn insert_session(
    conn: &Connection,
    id_hash: &str,
    username: &str,
    csrf: &str,
    now: i64,
) -> Result<()> {
    conn.execute(
        "INSERT INTO sessions (id_hash, username, csrf_token, created_at, last_seen)
         VALUES (?1, ?2, ?3, ?4, ?4)",
        params![id_hash, username, csrf, now],
    )
    .map_err(crate::storage::StorageError::from)?;
    Ok(())
}

/// The live session with this id hash; an expired one is deleted and not returned.
/// A live one has its idle timer restarted.
pub fn touch_session(
    conn: &Connection,
    id_hash: &str,
    now: i64,
    idle_ms: i64,
    absolute_ms: i64,
) -> Result<Option<SessionInfo>> {
    let row = conn
        .query_row(
            "SELECT s.username, a.role, s.csrf_token, s.created_at, s.last_seen, s.reauth_at
             FROM sessions s JOIN accounts a ON a.username = s.username
             WHERE s.id_hash = ?1",
            [id_hash],
            |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, i64>(3)?,
                    r.get::<_, i64>(4)?,
                    r.get::<_, Option<i64>>(5)?,
                ))
            },
        )
        .optional()
        .map_err(crate::storage::StorageError::from)?;
    let Some((username, role, csrf_token, created_at, last_seen, reauth_at)) = row else {
        return Ok(None);
    };
    if now - last_seen >= idle_ms || now - created_at >= absolute_ms {
        delete_session(conn, id_hash)?;
        return Ok(None);
    }
    conn.execute(
        "UPDATE sessions SET last_seen = ?2 WHERE id_hash = ?1",
        params![id_hash, now],
    )
    .map_err(crate::storage::StorageError::from)?;
    Ok(Some(SessionInfo {
        id_hash: id_hash.to_string(),
        username,
        role: role_of(&role),
        csrf_token,
        created_at: from_ms(created_at),
        reauth_at: reauth_at.map(from_ms),
    }))
}

pub fn delete_session(conn: &Connection, id_hash: &str) -> Result<()> {
    conn.execute("DELETE FROM sessions WHERE id_hash = ?1", [id_hash])
        .map_err(crate::storage::StorageError::from)?;
    Ok(())
}

/// Drops sessions past either timeout, so the table does not grow.
pub fn purge_sessions(conn: &Connection, now: i64, idle_ms: i64, absolute_ms: i64) -> Result<()> {
    conn.execute(
        "DELETE FROM sessions WHERE last_seen <= ?1 OR created_at <= ?2",
        params![now - idle_ms, now - absolute_ms],
    )
    .map_err(crate::storage::StorageError::from)?;
    Ok(())
}

pub fn mark_reauth(conn: &Connection, id_hash: &str, now: i64) -> Result<()> {
    conn.execute(
        "UPDATE sessions SET reauth_at = ?2 WHERE id_hash = ?1",
        params![id_hash, now],
    )
    .map_err(crate::storage::StorageError::from)?;
    Ok(())
}

pub fn accounts(conn: &Connection) -> Result<Vec<AccountInfo>> {
    let mut st = conn
        .prepare("SELECT username, role, created_at, locked_until FROM accounts ORDER BY username")
        .map_err(crate::storage::StorageError::from)?;
    let rows = st
        .query_map([], |r| {
            Ok(AccountInfo {
                username: r.get(0)?,
                role: role_of(&r.get::<_, String>(1)?),
                created_at: from_ms(r.get(2)?),
                locked_until: r.get::<_, Option<i64>>(3)?.map(from_ms),
            })
        })
        .map_err(crate::storage::StorageError::from)?;
    Ok(rows
        .collect::<rusqlite::Result<Vec<_>>>()
        .map_err(crate::storage::StorageError::from)?)
}

pub fn admin_count(conn: &Connection) -> Result<i64> {
    Ok(conn
        .query_row(
            "SELECT count(*) FROM accounts WHERE role = 'admin'",
            [],
            |r| r.get(0),
        )
        .map_err(crate::storage::StorageError::from)?)
}

pub fn insert_account(
    conn: &Connection,
    username: &str,
    role: Role,
    password_hash: &str,
    now: i64,
) -> Result<()> {
    let n = conn
        .execute(
            "INSERT INTO accounts (username, role, password_hash, created_at)
             VALUES (?1, ?2, ?3, ?4) ON CONFLICT (username) DO NOTHING",
            params![username, role.as_str(), password_hash, now],
        )
        .map_err(crate::storage::StorageError::from)?;
    if n == 0 {
        return Err(AuthError::AccountExists(username.to_string()));
    }
    Ok(())
}

/// Sets the password; ends every session of the account except `keep` (the caller's).
pub fn set_password(
    conn: &Connection,
    username: &str,
    password_hash: &str,
    keep: Option<&str>,
) -> Result<()> {
    let n = conn
        .execute(
            "UPDATE accounts SET password_hash = ?2, failed_logins = 0, locked_until = NULL
             WHERE username = ?1",
            params![username, password_hash],
        )
        .map_err(crate::storage::StorageError::from)?;
    if n == 0 {
        return Err(AuthError::UnknownAccount(username.to_string()));
    }
    conn.execute(
        "DELETE FROM sessions WHERE username = ?1 AND id_hash IS NOT ?2",
        params![username, keep],
    )
    .map_err(crate::storage::StorageError::from)?;
    Ok(())
}

pub fn set_role(conn: &Connection, username: &str, role: Role) -> Result<()> {
    let current = credentials(conn, username)?
        .ok_or_else(|| AuthError::UnknownAccount(username.to_string()))?;
    if current.role == Role::Admin && role != Role::Admin && admin_count(conn)? <= 1 {
        return Err(AuthError::LastAdmin);
    }
    conn.execute(
        "UPDATE accounts SET role = ?2 WHERE username = ?1",
        params![username, role.as_str()],
    )
    .map_err(crate::storage::StorageError::from)?;
    Ok(())
}

pub fn delete_account(conn: &Connection, username: &str) -> Result<()> {
    let current = credentials(conn, username)?
        .ok_or_else(|| AuthError::UnknownAccount(username.to_string()))?;
    if current.role == Role::Admin && admin_count(conn)? <= 1 {
        return Err(AuthError::LastAdmin);
    }
    conn.execute("DELETE FROM sessions WHERE username = ?1", [username])
        .map_err(crate::storage::StorageError::from)?;
    conn.execute("DELETE FROM accounts WHERE username = ?1", [username])
        .map_err(crate::storage::StorageError::from)?;
    Ok(())
}

pub fn insert_token(
    conn: &Connection,
    name: &str,
    scope: Scope,
    token_hash: &str,
    now: i64,
) -> Result<()> {
    let n = conn
        .execute(
            "INSERT INTO api_tokens (name, scope, token_hash, created_at)
             VALUES (?1, ?2, ?3, ?4) ON CONFLICT (name) DO NOTHING",
            params![name, scope.as_str(), token_hash, now],
        )
        .map_err(crate::storage::StorageError::from)?;
    if n == 0 {
        return Err(AuthError::TokenExists(name.to_string()));
    }
    Ok(())
}

pub fn token_by_hash(conn: &Connection, token_hash: &str) -> Result<Option<TokenInfo>> {
    Ok(conn
        .query_row(
            "SELECT name, scope, created_at FROM api_tokens WHERE token_hash = ?1",
            [token_hash],
            token_row,
        )
        .optional()
        .map_err(crate::storage::StorageError::from)?)
}

fn token_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<TokenInfo> {
    let scope: String = r.get(1)?;
    Ok(TokenInfo {
        name: r.get(0)?,
        scope: if scope == "feed" {
            Scope::Feed
        } else {
            Scope::Monitoring
        },
        created_at: from_ms(r.get(2)?),
    })
}

pub fn tokens(conn: &Connection) -> Result<Vec<TokenInfo>> {
    let mut st = conn
        .prepare("SELECT name, scope, created_at FROM api_tokens ORDER BY name")
        .map_err(crate::storage::StorageError::from)?;
    let rows = st
        .query_map([], token_row)
        .map_err(crate::storage::StorageError::from)?;
    Ok(rows
        .collect::<rusqlite::Result<Vec<_>>>()
        .map_err(crate::storage::StorageError::from)?)
}

pub fn delete_token(conn: &Connection, name: &str) -> Result<()> {
    let n = conn
        .execute("DELETE FROM api_tokens WHERE name = ?1", [name])
        .map_err(crate::storage::StorageError::from)?;
    if n == 0 {
        return Err(AuthError::UnknownToken(name.to_string()));
    }
    Ok(())
}
