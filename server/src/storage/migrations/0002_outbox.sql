-- Lotse schema v2: the outbox of events for the municipality's case-management system.
-- Every visit change writes its outgoing event into `outbox` in the same transaction;
-- a worker pushes them (Standard Webhooks) and `/api/v1/feed` serves them for pulling.

-- How the visitor was identified at the kiosk, and the booking they came for.
ALTER TABLE tickets ADD COLUMN identification TEXT NOT NULL DEFAULT 'none'
    CHECK (identification IN ('none', 'qr', 'id_document'));
ALTER TABLE tickets ADD COLUMN appointment_ref TEXT;
-- UUIDv7 of the visit; a transfer's new ticket shares it with the ticket it came from.
ALTER TABLE tickets ADD COLUMN visit_id TEXT;
CREATE INDEX tickets_visit ON tickets(visit_id);

-- Personal data read from an ID document. Forwarded to the case system only when
-- `consent_at` is set; a document number is never stored here.
CREATE TABLE visitor_data (
    ticket_id   INTEGER PRIMARY KEY REFERENCES tickets(id) ON DELETE CASCADE,
    surname     TEXT,
    given_names TEXT,
    birth_date  TEXT,
    nationality TEXT,
    consent_at  INTEGER
) STRICT;

-- Outgoing events in commit order; `seq` is the cursor of the pull feed.
CREATE TABLE outbox (
    seq             INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id        TEXT NOT NULL UNIQUE,
    visit_id        TEXT NOT NULL,
    type            TEXT NOT NULL,
    created_at      INTEGER NOT NULL,
    payload         TEXT NOT NULL,
    state           TEXT NOT NULL DEFAULT 'pending'
                        CHECK (state IN ('pending', 'delivered', 'dead')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    -- Start of the current delivery effort (creation, or the last replay).
    pending_since   INTEGER NOT NULL,
    next_attempt_at INTEGER NOT NULL,
    delivered_at    INTEGER,
    last_error      TEXT
) STRICT;
CREATE INDEX outbox_pending_visit ON outbox(visit_id, seq) WHERE state = 'pending';
CREATE INDEX outbox_pending_due ON outbox(next_attempt_at) WHERE state = 'pending';
CREATE INDEX outbox_dead ON outbox(seq) WHERE state = 'dead';

-- Small state of the outbox: site and device ids, the feed's acknowledged cursor,
-- counters, the last error, whether the endpoint answered 410 Gone.
CREATE TABLE outbox_meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
) STRICT;
