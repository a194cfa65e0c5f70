//! Accounts (staff and departments, by API token), resident and staff sessions, one-time login
//! codes and the SMS outbox. Secrets are stored only as hashes (login codes as keyed hashes);
//! phone numbers only sealed or blind-indexed, client addresses only blind-indexed.

use crate::audit::{self, Actor};
use crate::db::BeginWrite;
use crate::{Outbox, Store, StoreError, db, from_ms, ms, new_id};
use healthcode_core::Text;
use serde::Serialize;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use time::OffsetDateTime;

/// SHA-256 of a bearer secret: tokens are random and long, so a plain hash suffices.
pub fn secret_hash(secret: &str) -> Vec<u8> {
    Sha256::digest(secret.as_bytes()).to_vec()
}

/// What a session's sealed phone is bound to: its own row.
fn session_phone_context(token_hash: &[u8]) -> String {
    format!("sessions.phone/{}", hex::encode(token_hash))
}

/// Equal, without revealing by timing how much of a guess was right.
fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    a.ct_eq(b).into()
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Account {
    pub id: String,
    pub role: String,
    pub name: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    pub revoked_at: Option<OffsetDateTime>,
    /// The feeds a department account may deliver (`lab_results`, `itinerary`, `risk_areas`).
    pub feeds: Vec<String>,
}

type AccountRow = (String, String, String, i64, Option<i64>, String);

fn account_from((id, role, name, created_at, revoked_at, feeds): AccountRow) -> Account {
    Account {
        id,
        role,
        name,
        created_at: from_ms(created_at),
        revoked_at: revoked_at.map(from_ms),
        feeds: feeds
            .split(',')
            .filter(|f| !f.is_empty())
            .map(str::to_owned)
            .collect(),
    }
}

/// The limits on sending login codes, each over the last hour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CodeLimits {
    /// Codes sent to one phone.
    pub per_phone: i64,
    /// Codes asked for from one client address.
    pub per_client: i64,
    /// Codes sent by the whole store (every node sharing it).
    pub overall: i64,
}

/// Which limit refused a login code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodeLimit {
    Phone,
    Client,
    Overall,
}

/// A login code not sent: the limit reached, and when the oldest code it counts leaves the hour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CodeRefused {
    pub limit: CodeLimit,
    pub retry_after: time::Duration,
}

/// The lock (PostgreSQL advisory, held to the end of the transaction) that makes the nodes
/// sharing a store count and send login codes one at a time, so no limit is overrun by a race.
const LOGIN_CODE_LOCK: i64 = 0x0068_636c_6f67_696e;

/// How long until the oldest of the counted codes, made at `oldest` (ms), leaves the hour.
fn retry_after(oldest: Option<i64>, now: OffsetDateTime) -> time::Duration {
    let leaves = oldest.map_or(now, |t| from_ms(t) + time::Duration::HOUR);
    (leaves - now).max(time::Duration::SECOND)
}

/// Why a one-time code was not accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodeRejection {
    /// No unexpired code was sent to this phone.
    NoCode,
    /// The code is wrong (attempts remain).
    Wrong,
    /// Too many wrong attempts: a new code must be requested.
    Exhausted,
}

impl Store {
    /// Creates an account whose token hash is given (the token itself is shown once and never
    /// stored).
    pub async fn create_account(
        &self,
        role: &str,
        name: &str,
        token: &str,
        actor: &Actor,
        now: OffsetDateTime,
    ) -> Result<Account, StoreError> {
        let account = Account {
            id: new_id(),
            role: role.to_owned(),
            name: name.to_owned(),
            created_at: now,
            revoked_at: None,
            feeds: Vec::new(),
        };
        db::with_pool!(&self.backend, pool => {
            let mut tx = pool.begin().await?;
            sqlx::query("INSERT INTO accounts (id, role, name, token_hash, created_at) VALUES ($1, $2, $3, $4, $5)")
                .bind(&account.id)
                .bind(role)
                .bind(name)
                .bind(secret_hash(token))
                .bind(ms(now))
                .execute(&mut *tx)
                .await?;
            audit::append(&mut *tx, ms(now), actor, "account.create", None, format!("{} account {} ({name})", role, account.id)).await?;
            tx.commit().await?;
        });
        Ok(account)
    }

    /// Sets the feeds an account may deliver.
    pub async fn grant_feeds(
        &self,
        id: &str,
        feeds: &[String],
        actor: &Actor,
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let list = feeds.join(",");
        db::with_pool!(&self.backend, pool => {
            let mut tx = pool.begin().await?;
            let done = sqlx::query("UPDATE accounts SET feeds = $1 WHERE id = $2")
                .bind(&list)
                .bind(id)
                .execute(&mut *tx)
                .await?;
            if done.rows_affected() == 0 {
                return Err(StoreError::NotFound(format!("account {id}")));
            }
            audit::append(&mut *tx, ms(now), actor, "account.feeds", None, format!("account {id} may deliver: {list}")).await?;
            tx.commit().await?;
        });
        Ok(())
    }

    pub async fn revoke_account(
        &self,
        id: &str,
        actor: &Actor,
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        db::with_pool!(&self.backend, pool => {
            let mut tx = pool.begin().await?;
            let done = sqlx::query("UPDATE accounts SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL")
                .bind(ms(now))
                .bind(id)
                .execute(&mut *tx)
                .await?;
            if done.rows_affected() == 0 {
                return Err(StoreError::NotFound(format!("active account {id}")));
            }
            // Its page sessions end with it (they are refused anyway once it is revoked).
            sqlx::query("DELETE FROM staff_sessions WHERE account_id = $1")
                .bind(id)
                .execute(&mut *tx)
                .await?;
            audit::append(&mut *tx, ms(now), actor, "account.revoke", None, format!("account {id}")).await?;
            tx.commit().await?;
        });
        Ok(())
    }

    pub async fn accounts(&self) -> Result<Vec<Account>, StoreError> {
        let rows: Vec<AccountRow> = db::with_pool!(&self.backend, pool => {
            sqlx::query_as("SELECT id, role, name, created_at, revoked_at, feeds FROM accounts ORDER BY created_at, id")
                .fetch_all(pool)
                .await?
        });
        Ok(rows.into_iter().map(account_from).collect())
    }

    /// An account by its id, revoked or not.
    pub async fn account(&self, id: &str) -> Result<Option<Account>, StoreError> {
        let row: Option<AccountRow> = db::with_pool!(&self.backend, pool => {
            sqlx::query_as("SELECT id, role, name, created_at, revoked_at, feeds FROM accounts WHERE id = $1")
                .bind(id)
                .fetch_optional(pool)
                .await?
        });
        Ok(row.map(account_from))
    }

    /// The active account holding this token.
    pub async fn account_by_token(&self, token: &str) -> Result<Option<Account>, StoreError> {
        const SQL: &str = "SELECT id, role, name, created_at, revoked_at, feeds FROM accounts \
             WHERE token_hash = $1 AND revoked_at IS NULL";
        let hash = secret_hash(token);
        let row: Option<AccountRow> = match &self.readers {
            // Every scan's first read: on a blocking thread, where a reader that waits out a
            // commit holds up no other request (read on the runtime's own threads, scans'
            // p99 rose fivefold: docs/BENCHMARKS.md).
            Some(readers) => {
                readers
                    .run(move |c| {
                        use rusqlite::OptionalExtension;
                        c.prepare_cached(SQL)?
                            .query_row([hash], |r| AccountRow::try_from(r))
                            .optional()
                    })
                    .await?
            }
            None => db::with_pool!(&self.backend, pool => {
                sqlx::query_as(SQL).bind(hash).fetch_optional(pool).await?
            }),
        };
        Ok(row.map(account_from))
    }

    /// The keyed hash a login code is kept as: an HMAC under the data key over the code's id and
    /// the code, so a copy of the database alone cannot find a code by trying all 10^6.
    fn code_hash(&self, id: &str, code: &str) -> Vec<u8> {
        self.vault
            .blind_index("login.code", &format!("{id}:{code}"))
    }

    /// Stores a login code for a phone and queues the SMS that carries it (delivered by the
    /// outbox's sender until the code expires), unless a limit of the last hour is reached: codes
    /// to this phone, codes asked for from this client (an address, kept only as a blind index),
    /// codes sent overall. Nodes sharing the store count together.
    #[allow(clippy::too_many_arguments)]
    pub async fn issue_login_code(
        &self,
        phone: &str,
        client: &str,
        code: &str,
        message: &Text,
        ttl: time::Duration,
        limits: CodeLimits,
        now: OffsetDateTime,
    ) -> Result<Result<(), CodeRefused>, StoreError> {
        let index = self.vault.blind_index("phone", phone);
        let client_index = self.vault.blind_index("login.client", client);
        let phone_sealed = self.vault.seal(phone.as_bytes(), "sms.phone");
        let body = serde_json::to_vec(message).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let body_sealed = self.vault.seal(&body, Outbox::LoginCodes.body_context());
        let hour_ago = ms(now - time::Duration::HOUR);
        let id = new_id();
        let code_hash = self.code_hash(&id, code);
        let postgres = matches!(self.backend, db::Backend::Postgres(_));
        db::with_pool!(&self.backend, pool => {
            // Reads, then writes: a writer's transaction from the start, or SQLite refuses the
            // upgrade ("database is locked") while another writer (the notifier) is busy. That
            // also makes code requests take turns on SQLite; PostgreSQL takes turns by a lock.
            let mut tx = pool.begin_write().await?;
            if postgres {
                sqlx::query("SELECT pg_advisory_xact_lock($1)")
                    .bind(LOGIN_CODE_LOCK)
                    .execute(&mut *tx)
                    .await?;
            }
            // Each count stops at its limit, so a busy hour is never counted in full.
            let (recent, oldest): (i64, Option<i64>) = sqlx::query_as(
                "SELECT COUNT(*), MIN(created_at) FROM (SELECT created_at FROM login_codes \
                 WHERE phone_index = $1 AND created_at > $2 ORDER BY created_at LIMIT $3) AS counted",
            )
            .bind(&index)
            .bind(hour_ago)
            .bind(limits.per_phone.max(0))
            .fetch_one(&mut *tx)
            .await?;
            if recent >= limits.per_phone {
                return Ok(Err(CodeRefused { limit: CodeLimit::Phone, retry_after: retry_after(oldest, now) }));
            }
            let (recent, oldest): (i64, Option<i64>) = sqlx::query_as(
                "SELECT COUNT(*), MIN(created_at) FROM (SELECT created_at FROM login_codes \
                 WHERE client_index = $1 AND created_at > $2 ORDER BY created_at LIMIT $3) AS counted",
            )
            .bind(&client_index)
            .bind(hour_ago)
            .bind(limits.per_client.max(0))
            .fetch_one(&mut *tx)
            .await?;
            if recent >= limits.per_client {
                return Ok(Err(CodeRefused { limit: CodeLimit::Client, retry_after: retry_after(oldest, now) }));
            }
            let (recent, oldest): (i64, Option<i64>) = sqlx::query_as(
                "SELECT COUNT(*), MIN(created_at) FROM (SELECT created_at FROM login_codes \
                 WHERE created_at > $1 ORDER BY created_at LIMIT $2) AS counted",
            )
            .bind(hour_ago)
            .bind(limits.overall.max(0))
            .fetch_one(&mut *tx)
            .await?;
            if recent >= limits.overall {
                return Ok(Err(CodeRefused { limit: CodeLimit::Overall, retry_after: retry_after(oldest, now) }));
            }
            sqlx::query(
                "INSERT INTO login_codes (id, phone_index, code_hash, created_at, expires_at, attempts, used, client_index) \
                 VALUES ($1, $2, $3, $4, $5, 0, 0, $6)",
            )
            .bind(&id)
            .bind(&index)
            .bind(&code_hash)
            .bind(ms(now))
            .bind(ms(now + ttl))
            .bind(&client_index)
            .execute(&mut *tx)
            .await?;
            sqlx::query(
                "INSERT INTO sms_outbox (id, phone_sealed, body_sealed, created_at, state, attempts, \
                 next_attempt_at, expires_at) VALUES ($1, $2, $3, $4, 'pending', 0, $4, $5)",
            )
            .bind(new_id())
            .bind(&phone_sealed)
            .bind(&body_sealed)
            .bind(ms(now))
            .bind(ms(now + ttl))
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
        });
        Ok(Ok(()))
    }

    /// Checks a login code against the newest unexpired one for the phone; a success uses it up
    /// and opens a session under `session_token`.
    pub async fn redeem_login_code(
        &self,
        phone: &str,
        code: &str,
        session_token: &str,
        session_ttl: time::Duration,
        max_attempts: i64,
        now: OffsetDateTime,
    ) -> Result<Result<OffsetDateTime, CodeRejection>, StoreError> {
        let index = self.vault.blind_index("phone", phone);
        let expires = now + session_ttl;
        db::with_pool!(&self.backend, pool => {
            let mut tx = pool.begin_write().await?;
            // Writing first takes the write lock on SQLite before any read.
            sqlx::query("UPDATE login_codes SET attempts = attempts + 1 WHERE id = (SELECT id FROM login_codes \
                 WHERE phone_index = $1 AND used = 0 AND expires_at > $2 ORDER BY created_at DESC LIMIT 1)")
                .bind(&index)
                .bind(ms(now))
                .execute(&mut *tx)
                .await?;
            let newest: Option<(String, Vec<u8>, i64)> = sqlx::query_as(
                "SELECT id, code_hash, attempts FROM login_codes WHERE phone_index = $1 AND used = 0 AND expires_at > $2 \
                 ORDER BY created_at DESC LIMIT 1",
            )
            .bind(&index)
            .bind(ms(now))
            .fetch_optional(&mut *tx)
            .await?;
            let verdict = match newest {
                None => Err(CodeRejection::NoCode),
                Some((_, _, attempts)) if attempts > max_attempts => Err(CodeRejection::Exhausted),
                Some((id, hash, _)) if !same_bytes(&hash, &self.code_hash(&id, code)) => Err(CodeRejection::Wrong),
                Some((id, _, _)) => {
                    sqlx::query("UPDATE login_codes SET used = 1 WHERE id = $1").bind(&id).execute(&mut *tx).await?;
                    let token_hash = secret_hash(session_token);
                    sqlx::query("INSERT INTO sessions (token_hash, phone_index, created_at, expires_at, phone_sealed) VALUES ($1, $2, $3, $4, $5)")
                        .bind(&token_hash)
                        .bind(&index)
                        .bind(ms(now))
                        .bind(ms(expires))
                        .bind(self.vault.seal(phone.as_bytes(), &session_phone_context(&token_hash)))
                        .execute(&mut *tx)
                        .await?;
                    Ok(expires)
                }
            };
            tx.commit().await?;
            Ok(verdict)
        })
    }

    /// The phone a resident logged in with, behind an unexpired session token (`None` for a
    /// session older than migration 0020, or none).
    pub async fn session_phone(
        &self,
        token: &str,
        now: OffsetDateTime,
    ) -> Result<Option<String>, StoreError> {
        let token_hash = secret_hash(token);
        let row: Option<(Option<Vec<u8>>,)> = db::with_pool!(&self.backend, pool => {
            sqlx::query_as("SELECT phone_sealed FROM sessions WHERE token_hash = $1 AND expires_at > $2")
                .bind(&token_hash)
                .bind(ms(now))
                .fetch_optional(pool)
                .await?
        });
        let Some((Some(sealed),)) = row else {
            return Ok(None);
        };
        self.vault
            .open_string(&sealed, &session_phone_context(&token_hash))
            .map(Some)
            .map_err(|e| StoreError::Corrupt(format!("sessions.phone: {e}")))
    }

    /// Ends a resident session; `false` when there was none under this token.
    pub async fn end_session(&self, token: &str) -> Result<bool, StoreError> {
        let done = db::with_pool!(&self.backend, pool => {
            sqlx::query("DELETE FROM sessions WHERE token_hash = $1")
                .bind(secret_hash(token))
                .execute(pool)
                .await?
                .rows_affected()
        });
        Ok(done > 0)
    }

    /// Opens a page session for an active account under `token` (a new random token, kept only as
    /// its hash), until `now + ttl`; `None` when the account is unknown or revoked.
    pub async fn open_staff_session(
        &self,
        account_id: &str,
        token: &str,
        ttl: time::Duration,
        now: OffsetDateTime,
    ) -> Result<Option<OffsetDateTime>, StoreError> {
        let expires = now + ttl;
        let done = db::with_pool!(&self.backend, pool => {
            sqlx::query(
                "INSERT INTO staff_sessions (token_hash, account_id, created_at, expires_at) \
                 SELECT $1, id, $2, $3 FROM accounts WHERE id = $4 AND revoked_at IS NULL",
            )
            .bind(secret_hash(token))
            .bind(ms(now))
            .bind(ms(expires))
            .bind(account_id)
            .execute(pool)
            .await?
            .rows_affected()
        });
        Ok((done > 0).then_some(expires))
    }

    /// The active account behind an unexpired page session: none once the session has ended or
    /// the account was revoked.
    pub async fn staff_session_account(
        &self,
        token: &str,
        now: OffsetDateTime,
    ) -> Result<Option<Account>, StoreError> {
        let row: Option<AccountRow> = db::with_pool!(&self.backend, pool => {
            sqlx::query_as(
                "SELECT a.id, a.role, a.name, a.created_at, a.revoked_at, a.feeds FROM staff_sessions s \
                 JOIN accounts a ON a.id = s.account_id \
                 WHERE s.token_hash = $1 AND s.expires_at > $2 AND a.revoked_at IS NULL",
            )
            .bind(secret_hash(token))
            .bind(ms(now))
            .fetch_optional(pool)
            .await?
        });
        Ok(row.map(account_from))
    }

    /// Ends a staff page session; `false` when there was none under this token.
    pub async fn end_staff_session(&self, token: &str) -> Result<bool, StoreError> {
        let done = db::with_pool!(&self.backend, pool => {
            sqlx::query("DELETE FROM staff_sessions WHERE token_hash = $1")
                .bind(secret_hash(token))
                .execute(pool)
                .await?
                .rows_affected()
        });
        Ok(done > 0)
    }

    /// Removes sessions that have expired and login codes older than a day (the limits count
    /// the last hour); answers how many rows went.
    pub async fn purge_logins(&self, now: OffsetDateTime) -> Result<u64, StoreError> {
        let day_ago = ms(now - time::Duration::DAY);
        let mut removed = 0;
        db::with_pool!(&self.backend, pool => {
            for sql in [
                "DELETE FROM sessions WHERE expires_at <= $1",
                "DELETE FROM staff_sessions WHERE expires_at <= $1",
            ] {
                removed += sqlx::query(sql).bind(ms(now)).execute(pool).await?.rows_affected();
            }
            removed += sqlx::query("DELETE FROM login_codes WHERE created_at < $1")
                .bind(day_ago)
                .execute(pool)
                .await?
                .rows_affected();
        });
        Ok(removed)
    }

    /// The CSRF token of the pages bound to a session: a keyed hash of the session token under
    /// the data key, the same on every node sharing it, which no one without the session (and the
    /// key) can compute.
    pub fn session_csrf(&self, session_token: &str) -> String {
        hex::encode(self.vault.blind_index("web.csrf", session_token))
    }
}
