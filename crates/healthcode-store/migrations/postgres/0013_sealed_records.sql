-- What describes a person's health is sealed like their name (vault.rs): fact bodies (symptoms,
-- temperatures, addresses, trips, test results), the reasons residents give in appeals, and the
-- items of a staged batch. Each is bound to its row's id, so a sealed value cannot be moved to
-- another row. Rows written before this migration are sealed by the node when it opens the store
-- (Store::seal_clear_records); the clear columns are then left empty ('').
-- Kept column for column with the other backend.
ALTER TABLE facts ADD COLUMN body_sealed BYTEA;
ALTER TABLE appeals ADD COLUMN reason_sealed BYTEA;
ALTER TABLE batches ADD COLUMN items_sealed BYTEA;
-- Empty once the node has sealed the rows an earlier version left in clear.
CREATE INDEX facts_clear ON facts (id) WHERE body_sealed IS NULL;
