-- Who runs a periodic job (retention, re-deriving colours whose end by time has come) when
-- several nodes share the store: the node holding the job's lease until `until` (ms). The
-- holder renews it each round; another node takes it over once it has run out. Kept column
-- for column with the other backend's 0021_leases.sql.
CREATE TABLE leases (
    job TEXT PRIMARY KEY,
    holder TEXT NOT NULL,
    until BIGINT NOT NULL
);
