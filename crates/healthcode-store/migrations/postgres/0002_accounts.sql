-- Staff and department accounts (API tokens stored only as SHA-256 hashes), resident sessions,
-- one-time login codes, and the SMS outbox a gateway drains.

CREATE TABLE accounts (
    id TEXT PRIMARY KEY,
    role TEXT NOT NULL,
    name TEXT NOT NULL,
    token_hash BYTEA NOT NULL UNIQUE,
    created_at BIGINT NOT NULL,
    revoked_at BIGINT
);

CREATE TABLE sessions (
    token_hash BYTEA PRIMARY KEY,
    phone_index BYTEA NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);

CREATE TABLE login_codes (
    id TEXT PRIMARY KEY,
    phone_index BYTEA NOT NULL,
    code_hash BYTEA NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    attempts BIGINT NOT NULL,
    used BIGINT NOT NULL
);
CREATE INDEX login_codes_phone ON login_codes (phone_index, created_at);

CREATE TABLE sms_outbox (
    id TEXT PRIMARY KEY,
    phone_sealed BYTEA NOT NULL,
    body_sealed BYTEA NOT NULL,
    created_at BIGINT NOT NULL,
    sent_at BIGINT
);
CREATE INDEX sms_outbox_unsent ON sms_outbox (sent_at, created_at);
