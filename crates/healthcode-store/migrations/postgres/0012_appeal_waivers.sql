-- A contact fact withdrawn on appeal binds later runs of the same case's trace: the person is
-- not made a contact again for an exposure overlapping the appealed one, unless an official
-- overrides the appeal with a new legal basis. Kept column for column with the other backend.
CREATE TABLE appeal_waivers (
    appeal_id TEXT PRIMARY KEY,
    person_id TEXT NOT NULL REFERENCES people (id),
    case_id TEXT NOT NULL,
    exposure_start BIGINT NOT NULL,
    exposure_end BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    overridden_at BIGINT,
    overridden_by TEXT,
    override_basis TEXT
);
CREATE INDEX appeal_waivers_case ON appeal_waivers (case_id);
