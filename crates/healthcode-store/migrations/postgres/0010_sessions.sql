-- Sessions that end, and login codes that cannot be read back from a dump. Kept column for
-- column with the other backend's 0010_sessions.sql.

-- Staff signed in on the pages hold a session of their own, never their API token in a cookie:
-- a random token stored only as its hash, bound to the account, ended at logout, at expiry, or
-- at once when the account is revoked. (Resident sessions are deleted at logout.)
CREATE TABLE staff_sessions (
    token_hash BYTEA PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts(id),
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX staff_sessions_account ON staff_sessions (account_id);
CREATE INDEX staff_sessions_expiry ON staff_sessions (expires_at);
CREATE INDEX sessions_expiry ON sessions (expires_at);

-- The client address that asked for a code, as a keyed hash (a blind index, like phones): code
-- requests are limited per address and over the whole store, which every node sharing it counts.
ALTER TABLE login_codes ADD COLUMN client_index BYTEA;
CREATE INDEX login_codes_client ON login_codes (client_index, created_at);
CREATE INDEX login_codes_created ON login_codes (created_at);

-- Codes are now hashed with a key (HMAC under the data key, salted with the code's id), so a
-- copy of the database does not give them away by trying all 10^6. Codes hashed before this
-- version are used up: a resident waiting for one asks for a new one.
UPDATE login_codes SET used = 1 WHERE used = 0;
