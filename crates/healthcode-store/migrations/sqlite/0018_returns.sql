-- The return journey: applications, their members and steps, and carriers' bookings.

-- The district, street or community an account works for (community workers), e.g.
-- 110105-003-002; NULL for accounts that are not scoped.
ALTER TABLE accounts ADD COLUMN scope TEXT;

CREATE TABLE return_applications (
    id TEXT PRIMARY KEY,
    applicant_id TEXT NOT NULL REFERENCES people(id),
    -- GB/T 2260 code of the region the person returns from.
    origin TEXT NOT NULL,
    -- district-street-community, e.g. 110105-003-002.
    community TEXT NOT NULL,
    -- The address within the community (JSON string), sealed.
    address_sealed BLOB NOT NULL,
    reason TEXT NOT NULL,
    -- YYYY-MM-DD
    planned_date TEXT NOT NULL,
    -- train | flight | car
    transport TEXT NOT NULL,
    -- The colour at the origin when applying, and where it came from: declared | attested.
    origin_colour TEXT NOT NULL,
    origin_basis TEXT NOT NULL,
    -- submitted | approved | rejected
    state TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    -- When a worker last acted on it (a call or a decision); NULL while untouched.
    touched_at BIGINT
);
CREATE INDEX return_applications_community ON return_applications (community, state, created_at);

CREATE TABLE return_members (
    application_id TEXT NOT NULL REFERENCES return_applications(id),
    person_id TEXT NOT NULL REFERENCES people(id),
    PRIMARY KEY (application_id, person_id)
);
CREATE INDEX return_members_person ON return_members (person_id);

-- Every step of an application, in order: what the applicant sees.
CREATE TABLE return_steps (
    application_id TEXT NOT NULL REFERENCES return_applications(id),
    seq BIGINT NOT NULL,
    at BIGINT NOT NULL,
    -- The account or resident who acted, and in which role.
    actor TEXT NOT NULL,
    role TEXT NOT NULL,
    -- applied | call | approved | rejected | booking
    kind TEXT NOT NULL,
    outcome TEXT NOT NULL,
    note TEXT NOT NULL,
    PRIMARY KEY (application_id, seq)
);

CREATE TABLE bookings (
    -- The carrier account and its own booking reference: a report sent again is the same row.
    carrier TEXT NOT NULL,
    reference TEXT NOT NULL,
    person_id TEXT NOT NULL REFERENCES people(id),
    application_id TEXT NOT NULL REFERENCES return_applications(id),
    -- Train or flight number, date of travel, arrival station, seat.
    service TEXT NOT NULL,
    travel_date TEXT NOT NULL,
    station TEXT NOT NULL,
    seat TEXT NOT NULL,
    -- held | paid | lapsed, as last reported; a held booking past held_until reads as lapsed.
    state TEXT NOT NULL,
    held_until BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (carrier, reference)
);
CREATE INDEX bookings_person ON bookings (person_id);
