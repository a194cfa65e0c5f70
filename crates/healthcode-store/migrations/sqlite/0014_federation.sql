-- Federation. On the hub: the regions' proposals (each the region's signed request, kept as
-- signed), the directory of approved regions, revoked keys, and every trust list published.
-- On a region: the contact notices and status attestations of later steps will join these.
-- Kept column for column with the other backend.
CREATE TABLE hub_proposals (
    id TEXT PRIMARY KEY,
    region TEXT NOT NULL,
    registration TEXT NOT NULL,
    signed BLOB NOT NULL,
    state TEXT NOT NULL,
    proposed_at BIGINT NOT NULL,
    decided_by TEXT,
    decided_at BIGINT,
    decision_reason TEXT
);
CREATE INDEX hub_proposals_state ON hub_proposals (state, proposed_at);
CREATE TABLE hub_regions (
    region TEXT PRIMARY KEY,
    registration TEXT NOT NULL,
    node_key TEXT NOT NULL,
    proposal_id TEXT NOT NULL,
    approved_by TEXT NOT NULL,
    approved_at BIGINT NOT NULL
);
CREATE TABLE hub_revocations (
    kid TEXT PRIMARY KEY,
    region TEXT NOT NULL,
    revoked_by TEXT NOT NULL,
    revoked_at BIGINT NOT NULL,
    reason TEXT NOT NULL
);
CREATE TABLE hub_lists (
    sequence BIGINT PRIMARY KEY,
    issued_at BIGINT NOT NULL,
    valid_until BIGINT NOT NULL,
    signed BLOB NOT NULL
);
