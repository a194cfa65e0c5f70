//! Accounts (staff and departments, by API token), resident sessions, one-time login codes and
//! the SMS outbox. Secrets are stored only as hashes; phone numbers only sealed or blind-indexed.

use crate::audit::{self, Actor};
use crate::db::BeginWrite;
use crate::{Outbox, Store, StoreError, db, from_ms, ms, new_id};
use healthcode_core::Text;
use serde::Serialize;
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

/// SHA-256 of a bearer secret: tokens are random and long, so a plain hash suffices.
pub fn secret_hash(secret: &str) -> Vec<u8> {
    Sha256::digest(secret.as_bytes()).to_vec()
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
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
            audit::append!(tx, ms(now), actor, "account.create", None, format!("{} account {} ({name})", role, account.id));
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
            audit::append!(tx, ms(now), actor, "account.feeds", None, format!("account {id} may deliver: {list}"));
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
            audit::append!(tx, ms(now), actor, "account.revoke", None, format!("account {id}"));
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

    /// The active account holding this token.
    pub async fn account_by_token(&self, token: &str) -> Result<Option<Account>, StoreError> {
        let row: Option<AccountRow> = db::with_pool!(&self.backend, pool => {
            sqlx::query_as(
                "SELECT id, role, name, created_at, revoked_at, feeds FROM accounts WHERE token_hash = $1 AND revoked_at IS NULL",
            )
            .bind(secret_hash(token))
            .fetch_optional(pool)
            .await?
        });
        Ok(row.map(account_from))
    }

    /// Stores a login code for a phone and queues the SMS that carries it (delivered by the
    /// outbox's sender until the code expires), unless the phone has asked for `max_per_hour`
    /// codes in the last hour already (then `Ok(false)`).
    pub async fn issue_login_code(
        &self,
        phone: &str,
        code: &str,
        message: &Text,
        ttl: time::Duration,
        max_per_hour: i64,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let index = self.vault.blind_index("phone", phone);
        let phone_sealed = self.vault.seal(phone.as_bytes(), "sms.phone");
        let body = serde_json::to_vec(message).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let body_sealed = self.vault.seal(&body, Outbox::LoginCodes.body_context());
        let hour_ago = ms(now - time::Duration::HOUR);
        db::with_pool!(&self.backend, pool => {
            // Reads, then writes: a writer's transaction from the start, or SQLite refuses the
            // upgrade ("database is locked") while another writer (the notifier) is busy.
            let mut tx = pool.begin_write().await?;
            let (recent,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM login_codes WHERE phone_index = $1 AND created_at > $2")
                .bind(&index)
                .bind(hour_ago)
                .fetch_one(&mut *tx)
                .await?;
            if recent >= max_per_hour {
                return Ok(false);
            }
            sqlx::query(
                "INSERT INTO login_codes (id, phone_index, code_hash, created_at, expires_at, attempts, used) \
                 VALUES ($1, $2, $3, $4, $5, 0, 0)",
            )
            .bind(new_id())
            .bind(&index)
            .bind(secret_hash(code))
            .bind(ms(now))
            .bind(ms(now + ttl))
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
        Ok(true)
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
                Some((_, hash, _)) if hash != secret_hash(code) => Err(CodeRejection::Wrong),
                Some((id, _, _)) => {
                    sqlx::query("UPDATE login_codes SET used = 1 WHERE id = $1").bind(&id).execute(&mut *tx).await?;
                    sqlx::query("INSERT INTO sessions (token_hash, phone_index, created_at, expires_at) VALUES ($1, $2, $3, $4)")
                        .bind(secret_hash(session_token))
                        .bind(&index)
                        .bind(ms(now))
                        .bind(ms(expires))
                        .execute(&mut *tx)
                        .await?;
                    Ok(expires)
                }
            };
            tx.commit().await?;
            Ok(verdict)
        })
    }

    /// The phone's blind index behind an unexpired session token.
    pub async fn session_phone_index(
        &self,
        token: &str,
        now: OffsetDateTime,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        let row: Option<(Vec<u8>,)> = db::with_pool!(&self.backend, pool => {
            sqlx::query_as("SELECT phone_index FROM sessions WHERE token_hash = $1 AND expires_at > $2")
                .bind(secret_hash(token))
                .bind(ms(now))
                .fetch_optional(pool)
                .await?
        });
        Ok(row.map(|(i,)| i))
    }
}
