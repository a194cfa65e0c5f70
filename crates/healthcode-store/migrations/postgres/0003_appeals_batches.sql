-- Appeals (纠错/申诉) against a fact, and batches of facts that need a second official's approval.

CREATE TABLE appeals (
    id TEXT PRIMARY KEY,
    person_id TEXT NOT NULL REFERENCES people(id),
    fact_id TEXT NOT NULL REFERENCES facts(id),
    reason TEXT NOT NULL,
    state TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    decided_at BIGINT,
    decided_by TEXT,
    decision_reason TEXT
);
CREATE INDEX appeals_person ON appeals (person_id, created_at);
CREATE INDEX appeals_state ON appeals (state, created_at);

CREATE TABLE batches (
    id TEXT PRIMARY KEY,
    created_by TEXT NOT NULL,
    legal_basis TEXT NOT NULL,
    items TEXT NOT NULL,
    size BIGINT NOT NULL,
    state TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    approved_by TEXT,
    approved_at BIGINT
);
