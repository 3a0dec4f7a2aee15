-- Lotse schema: the audit log of staff actions and the settings changed on the admin
-- screen. Neither ever holds visitor names or other personal data.

-- Who did what to which ticket, counter or setting, and when. `actor` is an account
-- name, `token:<name>`, `button:<counter>` (GPIO desk button) or `system`.
CREATE TABLE audit_log (
    id     INTEGER PRIMARY KEY AUTOINCREMENT,
    at     INTEGER NOT NULL,
    actor  TEXT NOT NULL,
    action TEXT NOT NULL,
    target TEXT NOT NULL DEFAULT '',
    detail TEXT NOT NULL DEFAULT ''
) STRICT;
CREATE INDEX audit_log_at ON audit_log(at);

-- Settings changed on the admin screen, laid over the TOML configuration (which stays
-- the provisioning source). `value` is JSON that passed validation before it was
-- written; secrets are stored here only for the case system and never sent back.
CREATE TABLE settings_overrides (
    key        TEXT PRIMARY KEY,
    value      TEXT NOT NULL,
    updated_at INTEGER NOT NULL,
    updated_by TEXT NOT NULL
) STRICT;

-- The retention purge finds a visit's events (delivered or not) by visit id.
CREATE INDEX outbox_visit ON outbox(visit_id);
