-- Lotse schema v1: the site, the queue and its event log.
-- Timestamps are milliseconds since the Unix epoch (UTC); days are Berlin calendar days.

CREATE TABLE services (
    id              TEXT PRIMARY KEY,
    prefix          TEXT NOT NULL,
    icon            TEXT NOT NULL,
    names           TEXT NOT NULL DEFAULT '{}',
    default_minutes INTEGER,
    position        INTEGER NOT NULL DEFAULT 0,
    active          INTEGER NOT NULL DEFAULT 1
) STRICT;

CREATE TABLE counters (
    id       TEXT PRIMARY KEY,
    name     TEXT NOT NULL,
    room     TEXT NOT NULL,
    paused   INTEGER NOT NULL DEFAULT 0,
    position INTEGER NOT NULL DEFAULT 0,
    active   INTEGER NOT NULL DEFAULT 1
) STRICT;

CREATE TABLE counter_services (
    counter_id TEXT NOT NULL REFERENCES counters(id) ON DELETE CASCADE,
    service_id TEXT NOT NULL REFERENCES services(id),
    PRIMARY KEY (counter_id, service_id)
) STRICT;

-- The last number issued per Berlin day and prefix; written in the same transaction
-- as the ticket, so a number is never issued twice, even across crashes.
CREATE TABLE day_sequences (
    day    TEXT NOT NULL,
    prefix TEXT NOT NULL,
    last   INTEGER NOT NULL,
    PRIMARY KEY (day, prefix)
) STRICT;

CREATE TABLE tickets (
    id               INTEGER PRIMARY KEY,
    day              TEXT NOT NULL,
    prefix           TEXT NOT NULL,
    seq              INTEGER NOT NULL,
    number           TEXT NOT NULL,
    service_id       TEXT NOT NULL REFERENCES services(id),
    status           TEXT NOT NULL CHECK (status IN
                        ('waiting','called','serving','done','no_show','cancelled','transferred')),
    language         TEXT NOT NULL,
    appointment      INTEGER NOT NULL DEFAULT 0,
    token            TEXT NOT NULL UNIQUE,
    idempotency_key  TEXT,
    arrived_at       INTEGER NOT NULL,
    called_at        INTEGER,
    started_at       INTEGER,
    finished_at      INTEGER,
    counter_id       TEXT REFERENCES counters(id),
    call_count       INTEGER NOT NULL DEFAULT 0,
    transferred_from INTEGER REFERENCES tickets(id)
) STRICT;

CREATE UNIQUE INDEX tickets_number_once_a_day ON tickets(day, prefix, seq)
    WHERE transferred_from IS NULL;
CREATE UNIQUE INDEX tickets_idempotency ON tickets(idempotency_key)
    WHERE idempotency_key IS NOT NULL;
CREATE INDEX tickets_open ON tickets(status, service_id, arrived_at);
CREATE INDEX tickets_done ON tickets(service_id, finished_at) WHERE status = 'done';

-- Every queue change, in commit order; the SSE stream replays from here.
CREATE TABLE events (
    id        INTEGER PRIMARY KEY AUTOINCREMENT,
    at        INTEGER NOT NULL,
    kind      TEXT NOT NULL,
    ticket_id INTEGER,
    data      TEXT NOT NULL
) STRICT;
CREATE INDEX events_at ON events(at);
