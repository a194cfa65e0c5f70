-- Department feeds: which feeds a department account may deliver, and published risk areas.
-- Kept column for column with the other backend's 0007_feeds.sql.

-- Comma-separated feed kinds (lab_results, itinerary, risk_areas); empty for other accounts.
ALTER TABLE accounts ADD COLUMN feeds TEXT NOT NULL DEFAULT '';

-- Facts by kind, for the itinerary lookups of a risk area.
CREATE INDEX facts_kind ON facts (kind, recorded_at);

-- A medium- or high-risk area (中/高风险地区): a region (GB/T 2260 code, covering the codes under
-- it) or one venue, from a time. Proposing one stages a batch of facts for everyone whose visits
-- or itinerary fall inside it; the area is published when a second official approves the batch.
CREATE TABLE risk_areas (
    id TEXT PRIMARY KEY,
    region TEXT NOT NULL,
    venue_id TEXT,
    name TEXT NOT NULL,
    -- medium | high
    level TEXT NOT NULL,
    starts_at BIGINT NOT NULL,
    ends_at BIGINT,
    legal_basis TEXT NOT NULL,
    batch_id TEXT NOT NULL,
    affected BIGINT NOT NULL,
    proposed_by TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX risk_areas_created ON risk_areas (created_at);
