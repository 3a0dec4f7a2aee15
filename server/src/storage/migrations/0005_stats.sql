-- Lotse schema: statistics that outlive the purge of personal data.
-- Written incrementally in the transaction of each queue change (server/src/stats/),
-- never recomputed from tickets. No names, birth dates or appointment references:
-- only counts and duration histograms per service, language, identification method
-- and counter.
--
-- Every figure belongs to the hour (and Berlin day) in which the visitor checked in.
-- Hours are keyed by their UTC start, so the two 02:00 hours of the October DST change
-- stay apart; `local_hour` and `utc_offset_min` label them in Berlin time.

CREATE TABLE stats_hour (
    hour_start      INTEGER NOT NULL,          -- ms since the epoch, start of the UTC hour
    service_id      TEXT NOT NULL,             -- '' for site-wide figures (case system)
    day             TEXT NOT NULL,             -- Berlin day, YYYY-MM-DD
    local_hour      INTEGER NOT NULL,          -- Berlin hour 0..23
    utc_offset_min  INTEGER NOT NULL,          -- 60 (CET) or 120 (CEST)
    weekday         INTEGER NOT NULL,          -- 1 = Monday … 7 = Sunday
    checkins        INTEGER NOT NULL DEFAULT 0,
    calls           INTEGER NOT NULL DEFAULT 0,
    served          INTEGER NOT NULL DEFAULT 0,
    no_shows        INTEGER NOT NULL DEFAULT 0,
    cancellations   INTEGER NOT NULL DEFAULT 0,
    transfers       INTEGER NOT NULL DEFAULT 0,
    print_fallbacks INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (hour_start, service_id)
) STRICT, WITHOUT ROWID;
CREATE INDEX stats_hour_day ON stats_hour(day);

CREATE TABLE stats_day (
    day             TEXT NOT NULL,
    service_id      TEXT NOT NULL,
    checkins        INTEGER NOT NULL DEFAULT 0,
    calls           INTEGER NOT NULL DEFAULT 0,
    served          INTEGER NOT NULL DEFAULT 0,
    no_shows        INTEGER NOT NULL DEFAULT 0,
    cancellations   INTEGER NOT NULL DEFAULT 0,
    transfers       INTEGER NOT NULL DEFAULT 0,
    print_fallbacks INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (day, service_id)
) STRICT, WITHOUT ROWID;

-- Counts along one dimension: language, identification (none/qr/id_document), counter.
CREATE TABLE stats_hour_dim (
    hour_start INTEGER NOT NULL,
    day        TEXT NOT NULL,
    dimension  TEXT NOT NULL,
    value      TEXT NOT NULL,
    n          INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (hour_start, dimension, value)
) STRICT, WITHOUT ROWID;

CREATE TABLE stats_day_dim (
    day       TEXT NOT NULL,
    dimension TEXT NOT NULL,
    value     TEXT NOT NULL,
    n         INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (day, dimension, value)
) STRICT, WITHOUT ROWID;

-- Duration histograms (measure: wait, service, delivery): 1-minute buckets from 0 to
-- 180 minutes plus one overflow bucket, as little-endian u32 counts with trailing zero
-- buckets left off; quantiles over any range come from merged histograms.
CREATE TABLE stats_hour_hist (
    hour_start INTEGER NOT NULL,
    service_id TEXT NOT NULL,
    measure    TEXT NOT NULL,
    day        TEXT NOT NULL,
    n          INTEGER NOT NULL DEFAULT 0,
    sum_s      INTEGER NOT NULL DEFAULT 0,
    max_s      INTEGER NOT NULL DEFAULT 0,
    buckets    BLOB NOT NULL,
    PRIMARY KEY (hour_start, service_id, measure)
) STRICT, WITHOUT ROWID;

CREATE TABLE stats_day_hist (
    day        TEXT NOT NULL,
    service_id TEXT NOT NULL,
    measure    TEXT NOT NULL,
    n          INTEGER NOT NULL DEFAULT 0,
    sum_s      INTEGER NOT NULL DEFAULT 0,
    max_s      INTEGER NOT NULL DEFAULT 0,
    buckets    BLOB NOT NULL,
    PRIMARY KEY (day, service_id, measure)
) STRICT, WITHOUT ROWID;
