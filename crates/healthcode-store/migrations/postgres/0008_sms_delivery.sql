-- Login codes go out through the same sender as colour notices, with the same delivery state:
-- claimed under a lease, retried with back-off until the code expires, never sent twice. The
-- body is now the bilingual text (JSON), sealed. Kept column for column with the other
-- backend's 0008_sms_delivery.sql.
ALTER TABLE sms_outbox ADD COLUMN state TEXT NOT NULL DEFAULT 'pending';
ALTER TABLE sms_outbox ADD COLUMN attempts BIGINT NOT NULL DEFAULT 0;
ALTER TABLE sms_outbox ADD COLUMN next_attempt_at BIGINT NOT NULL DEFAULT 0;
ALTER TABLE sms_outbox ADD COLUMN expires_at BIGINT NOT NULL DEFAULT 0;
ALTER TABLE sms_outbox ADD COLUMN lease_until BIGINT;
ALTER TABLE sms_outbox ADD COLUMN last_error TEXT;
-- Codes queued before this version were never sent by the node (their body is plain text):
-- they are given up, and a resident who waits for one asks for a new code.
UPDATE sms_outbox SET state = 'failed', last_error = 'queued before delivery by the sender'
    WHERE sent_at IS NULL;
UPDATE sms_outbox SET state = 'sent' WHERE sent_at IS NOT NULL;
DROP INDEX sms_outbox_unsent;
CREATE INDEX sms_outbox_due ON sms_outbox (state, next_attempt_at);
