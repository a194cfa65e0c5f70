-- Contact tracing, derived colours and the notification outbox. Kept column for column with the
-- other backend's 0006_tracing.sql.

-- Tracing reads a venue's visits by time: the index carries what it needs, so a busy venue is
-- read from the index alone, and entries that ended before the window are skipped there.
DROP INDEX visits_venue;
CREATE INDEX visits_venue ON visits (venue_id, at) INCLUDE (until_at, direction, confirmed, subject);

-- One trace per case fact: a durable job. A node that dies mid-trace leaves it 'running' with a
-- lease that runs out; any node then takes it up again from the start (tracing is idempotent).
CREATE TABLE traces (
    case_id TEXT PRIMARY KEY,
    person_id TEXT NOT NULL,
    -- queued | running | done | failed
    state TEXT NOT NULL,
    window_from BIGINT NOT NULL,
    window_until BIGINT NOT NULL,
    -- Contacts found per level and visits read, as the job goes.
    close_contacts BIGINT NOT NULL,
    secondary_contacts BIGINT NOT NULL,
    other_region BIGINT NOT NULL,
    facts_recorded BIGINT NOT NULL,
    rows_read BIGINT NOT NULL,
    runs BIGINT NOT NULL,
    lease_until BIGINT,
    error TEXT,
    created_at BIGINT NOT NULL,
    started_at BIGINT,
    finished_at BIGINT
);
CREATE INDEX traces_state ON traces (state, created_at);
CREATE INDEX traces_person ON traces (person_id);

-- Every exposure a trace found: who (a pass subject, and the person when they are ours), where,
-- from when to when, and through whom.
CREATE TABLE trace_exposures (
    case_id TEXT NOT NULL,
    level BIGINT NOT NULL,
    subject TEXT NOT NULL,
    region TEXT NOT NULL,
    person_id TEXT,
    venue_id TEXT NOT NULL,
    exposed_from BIGINT NOT NULL,
    exposed_until BIGINT NOT NULL,
    source TEXT NOT NULL,
    PRIMARY KEY (case_id, subject, venue_id, exposed_from, source)
);

-- The contact fact in force for each person and level: a person found again at the same level
-- (a later case of the same person, another case, a re-run) gets that fact updated, not a second
-- one. Another case's exposure replaces it only if it ends no earlier (it then lasts longer).
CREATE TABLE contact_facts (
    contact_person TEXT NOT NULL,
    level BIGINT NOT NULL,
    case_person TEXT NOT NULL,
    fact_id TEXT NOT NULL,
    digest TEXT NOT NULL,
    exposure_end BIGINT NOT NULL,
    PRIMARY KEY (contact_person, level)
);

-- Each person's colour as last derived, and the next moment it can change with no new fact; the
-- scheduler re-derives people whose moment has come. Reads never use it: they derive afresh.
CREATE TABLE colours (
    person_id TEXT PRIMARY KEY,
    colour TEXT NOT NULL,
    next_change BIGINT,
    evaluated_at BIGINT NOT NULL,
    policy_version TEXT NOT NULL
);
CREATE INDEX colours_next_change ON colours (next_change);

-- The outbox: a message per colour change and channel, written in the transaction that records
-- the change, sent by a pluggable sender, retried with back-off. `dedup_key` keeps a change from
-- being announced twice when two writers derive it at once.
CREATE TABLE notifications (
    id TEXT PRIMARY KEY,
    person_id TEXT NOT NULL,
    -- sms | app
    channel TEXT NOT NULL,
    dedup_key TEXT NOT NULL UNIQUE,
    colour_from TEXT NOT NULL,
    colour_to TEXT NOT NULL,
    -- The bilingual text (JSON), sealed: it names cases and venues.
    body_sealed BYTEA NOT NULL,
    created_at BIGINT NOT NULL,
    -- pending | sent | failed
    state TEXT NOT NULL,
    attempts BIGINT NOT NULL,
    next_attempt_at BIGINT NOT NULL,
    lease_until BIGINT,
    sent_at BIGINT,
    last_error TEXT
);
CREATE INDEX notifications_due ON notifications (state, next_attempt_at);
CREATE INDEX notifications_person ON notifications (person_id, created_at);
