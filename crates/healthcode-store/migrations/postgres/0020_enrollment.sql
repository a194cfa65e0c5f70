-- The phone a resident logged in with, sealed (bound to its session's row), so that the
-- enrollment form can show it instead of asking for it again. Sessions opened before this
-- version have none and the form asks, as it did. Kept column for column with the other
-- backend's 0020_enrollment.sql.
ALTER TABLE sessions ADD COLUMN phone_sealed BYTEA;

-- A document someone else enrolled, claimed by its holder (证件冒用申诉): the claimant's phone
-- (its blind index, and sealed for the rebinding), their reason (sealed), and the decision. When
-- staff uphold a claim after checking the holder in person, the record moves to the claimant's
-- phone.
CREATE TABLE document_claims (
    id TEXT PRIMARY KEY,
    person_id TEXT NOT NULL REFERENCES people(id),
    phone_index BYTEA NOT NULL,
    phone_sealed BYTEA NOT NULL,
    reason_sealed BYTEA NOT NULL,
    -- open | upheld | rejected
    state TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    decided_at BIGINT,
    decided_by TEXT,
    decision_reason TEXT
);
CREATE INDEX document_claims_state ON document_claims (state, created_at);
CREATE INDEX document_claims_phone ON document_claims (phone_index, created_at);
-- One open claim per phone and record.
CREATE UNIQUE INDEX document_claims_open ON document_claims (person_id, phone_index) WHERE state = 'open';
