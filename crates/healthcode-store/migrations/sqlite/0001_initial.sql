-- healthcode schema v1 (SQLite). Kept column for column with migrations/postgres/0001_initial.sql:
-- the queries are the same text on both stores. Times are milliseconds since the Unix epoch (UTC).

CREATE TABLE people (
    id TEXT PRIMARY KEY,
    -- The subject of passes: random, mapped to the person only here.
    pseudonym TEXT NOT NULL UNIQUE,
    document_kind TEXT NOT NULL,
    -- Keyed hash (blind index) of the document kind and number; NULL for a child without one.
    document_index BLOB,
    document_sealed BLOB,
    document_tail TEXT,
    name_sealed BLOB NOT NULL,
    name_masked TEXT NOT NULL,
    phone_index BLOB,
    phone_sealed BLOB,
    guardian_id TEXT REFERENCES people(id),
    -- 'pending' until identity is confirmed, then 'confirmed'.
    enrollment TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX people_document ON people (document_index) WHERE document_index IS NOT NULL;
CREATE INDEX people_phone ON people (phone_index);
CREATE INDEX people_guardian ON people (guardian_id);

-- Append-only: no UPDATE or DELETE is ever issued on facts.
CREATE TABLE facts (
    id TEXT PRIMARY KEY,
    person_id TEXT NOT NULL REFERENCES people(id),
    kind TEXT NOT NULL,
    body TEXT NOT NULL,
    recorded_at BIGINT NOT NULL,
    legal_basis TEXT NOT NULL,
    actor TEXT NOT NULL
);
CREATE INDEX facts_person ON facts (person_id, recorded_at);

-- Hash-chained: hash = SHA-256(prev_hash || the entry's canonical bytes).
CREATE TABLE audit_log (
    seq BIGINT PRIMARY KEY,
    at BIGINT NOT NULL,
    actor TEXT NOT NULL,
    role TEXT NOT NULL,
    action TEXT NOT NULL,
    subject TEXT,
    purpose TEXT NOT NULL,
    detail TEXT NOT NULL,
    prev_hash BLOB NOT NULL,
    hash BLOB NOT NULL
);
CREATE INDEX audit_subject ON audit_log (subject, seq);

-- One row: the head of the chain. Updating it first serialises writers of the chain on both stores.
CREATE TABLE audit_head (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    seq BIGINT NOT NULL,
    hash BLOB NOT NULL
);
INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, X'0000000000000000000000000000000000000000000000000000000000000000');
