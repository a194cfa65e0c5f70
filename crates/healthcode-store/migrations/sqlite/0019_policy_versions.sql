-- Versions of the colour policy: proposed with a legal basis and an effective time, approved by a
-- second official (or withdrawn), in force from their effective time. The public history.
CREATE TABLE policy_versions (
    id TEXT PRIMARY KEY,
    -- The document's own version string: one row per version, ever.
    version TEXT NOT NULL UNIQUE,
    -- The policy document as proposed (JSON).
    document TEXT NOT NULL,
    legal_basis TEXT NOT NULL,
    effective_at BIGINT NOT NULL,
    -- proposed | approved | withdrawn
    state TEXT NOT NULL,
    proposed_by TEXT NOT NULL,
    proposed_at BIGINT NOT NULL,
    -- Who approved or withdrew it, and when.
    decided_by TEXT,
    decided_at BIGINT,
    -- Set by the one node that re-derived everyone's colour when the version took effect.
    activated_at BIGINT
);
CREATE INDEX policy_versions_effective ON policy_versions (state, effective_at);
