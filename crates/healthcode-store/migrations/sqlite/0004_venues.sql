-- Venues (场所) and their checkpoints (卡口: a scanner with its own account).

CREATE TABLE venues (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    address TEXT NOT NULL,
    region TEXT NOT NULL,
    category TEXT NOT NULL,
    manager_id TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX venues_region ON venues (region);

CREATE TABLE checkpoints (
    id TEXT PRIMARY KEY,
    venue_id TEXT NOT NULL REFERENCES venues(id),
    name TEXT NOT NULL,
    account_id TEXT NOT NULL UNIQUE REFERENCES accounts(id),
    created_at BIGINT NOT NULL
);
CREATE INDEX checkpoints_venue ON checkpoints (venue_id);
