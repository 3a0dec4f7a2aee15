-- Lotse schema v3: staff accounts, their sessions, and API tokens for machine clients.
-- Secrets are stored only as hashes: passwords as Argon2id PHC strings, session ids
-- and API tokens as SHA-256 (hex); the clear values exist only in the cookie or with
-- the client that was shown the token once.

CREATE TABLE accounts (
    username      TEXT PRIMARY KEY,
    role          TEXT NOT NULL CHECK (role IN ('desk', 'admin')),
    password_hash TEXT NOT NULL,
    created_at    INTEGER NOT NULL,
    -- Failed logins since the last success or lockout; 5 lock the account.
    failed_logins INTEGER NOT NULL DEFAULT 0,
    locked_until  INTEGER
) STRICT;

CREATE TABLE sessions (
    id_hash    TEXT PRIMARY KEY,
    username   TEXT NOT NULL REFERENCES accounts(username) ON DELETE CASCADE,
    csrf_token TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    last_seen  INTEGER NOT NULL,
    -- Last successful POST /api/v1/reauth; admin changes need it to be recent.
    reauth_at  INTEGER
) STRICT;
CREATE INDEX sessions_username ON sessions(username);

CREATE TABLE api_tokens (
    name       TEXT PRIMARY KEY,
    scope      TEXT NOT NULL CHECK (scope IN ('feed', 'monitoring')),
    token_hash TEXT NOT NULL UNIQUE,
    created_at INTEGER NOT NULL
) STRICT;
