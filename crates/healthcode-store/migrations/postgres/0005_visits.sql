-- Scans and the visit log. Kept column for column with migrations/sqlite/0005_visits.sql.
-- On PostgreSQL the visit log is partitioned by day (the store creates the partitions ahead).

-- One receipt per scan a source (a checkpoint, or a resident checking in) sent, with the answer it
-- got: a retried scan gets the same answer and never a second visit. Kept while a retry can still
-- arrive (the offline delay), then expired.
CREATE TABLE scan_receipts (
    source TEXT NOT NULL,
    scan_id TEXT NOT NULL,
    venue_id TEXT NOT NULL,
    scanned_at BIGINT NOT NULL,
    received_at BIGINT NOT NULL,
    -- admit | deny | invalid
    outcome TEXT NOT NULL,
    answer TEXT NOT NULL,
    PRIMARY KEY (source, scan_id)
);
CREATE INDEX scan_receipts_received ON scan_receipts (received_at);
CREATE INDEX scan_receipts_venue ON scan_receipts (venue_id, scanned_at);

-- The visit log (到访记录): append-only; only a flagged check-in's `confirmed` ever changes.
-- `subject` is the pass subject (a pseudonym) of the issuing `region`, not a person id.
-- `until_at` ends the presence when no exit is scanned (the category's dwell time).
CREATE TABLE visits (
    id TEXT NOT NULL,
    subject TEXT NOT NULL,
    region TEXT NOT NULL,
    venue_id TEXT NOT NULL,
    -- entry | exit
    direction TEXT NOT NULL,
    -- scan | checkin
    via TEXT NOT NULL,
    source TEXT NOT NULL,
    at BIGINT NOT NULL,
    until_at BIGINT NOT NULL,
    colour TEXT NOT NULL,
    masked_name TEXT NOT NULL,
    -- Why a check-in does not count as presence until confirmed (e.g. far from the venue).
    flag TEXT,
    confirmed BOOLEAN NOT NULL,
    recorded_at BIGINT NOT NULL
) PARTITION BY RANGE (at);
CREATE INDEX visits_subject ON visits (subject, at);
CREATE INDEX visits_venue ON visits (venue_id, at);
CREATE INDEX visits_id ON visits (id);
