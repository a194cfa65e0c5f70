-- Signed heads of the audit chain, copied here for operators to read. The node signs them with
-- its anchor key (data_dir/audit-anchor.key, never in the database) and appends them to
-- data_dir/audit-anchors.jsonl: `healthcode audit verify` trusts that file, not this table.
-- Kept column for column with the other backend's 0009_audit_anchors.sql.
CREATE TABLE audit_anchors (
    key_id TEXT NOT NULL,
    seq BIGINT NOT NULL,
    hash BLOB NOT NULL,
    signed_at BIGINT NOT NULL,
    signature BLOB NOT NULL,
    PRIMARY KEY (key_id, seq)
);
