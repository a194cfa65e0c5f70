-- Messages between region nodes. The outbox holds what this node must deliver to another
-- region (a contact notice, its withdrawal), sealed, until the peer's signed reply confirms it;
-- the inbox holds, per sending region, the id of every message taken and what it did, so a
-- message delivered twice changes nothing. Kept column for column with the other backend.
CREATE TABLE federation_outbox (
    id TEXT PRIMARY KEY,
    to_region TEXT NOT NULL,
    kind TEXT NOT NULL,
    body_sealed BLOB NOT NULL,
    state TEXT NOT NULL,
    attempts BIGINT NOT NULL,
    next_attempt_at BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    sent_at BIGINT,
    last_error TEXT
);
CREATE INDEX federation_outbox_due ON federation_outbox (state, next_attempt_at);
CREATE TABLE federation_inbox (
    from_region TEXT NOT NULL,
    id TEXT NOT NULL,
    kind TEXT NOT NULL,
    outcome TEXT NOT NULL,
    received_at BIGINT NOT NULL,
    PRIMARY KEY (from_region, id)
);
-- A resident's consent to hand their status to another region (湖北健康码 → 北京健康宝): the
-- destination, why, until when, and the code they carry there (kept only as its hash); used once.
CREATE TABLE federation_consents (
    id TEXT PRIMARY KEY,
    person_id TEXT NOT NULL REFERENCES people (id),
    destination TEXT NOT NULL,
    purpose TEXT NOT NULL,
    code_hash BLOB NOT NULL UNIQUE,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at BIGINT,
    used_by TEXT
);
CREATE INDEX federation_consents_person ON federation_consents (person_id, created_at);
