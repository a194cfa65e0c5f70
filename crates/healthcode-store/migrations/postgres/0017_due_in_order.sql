-- The outboxes are claimed oldest first, `ORDER BY next_attempt_at, id`: with `id` in the index
-- a claim reads the first rows in order and stops, instead of sorting every pending row (a
-- hundred thousand notices queued at once made each claim sort them all again).
DROP INDEX notifications_due;
CREATE INDEX notifications_due ON notifications (state, next_attempt_at, id);
DROP INDEX sms_outbox_due;
CREATE INDEX sms_outbox_due ON sms_outbox (state, next_attempt_at, id);
DROP INDEX federation_outbox_due;
CREATE INDEX federation_outbox_due ON federation_outbox (state, next_attempt_at, id);
