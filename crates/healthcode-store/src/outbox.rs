//! The outboxes: colour notices, written with the change they announce, and login codes,
//! written with the code. One sender drains both: a message is claimed under a lease, marked
//! sent once delivered (only while pending, so never twice), retried with back-off otherwise.

use crate::db::{BeginWrite, CHUNK, Conn, numbered, on_conn, placeholders};
use crate::{Store, StoreError, db, from_ms, ms, ordered_id};
use healthcode_core::Text;
use serde::Serialize;
use std::collections::{HashMap, HashSet};
use time::OffsetDateTime;

/// A message as the person (and officials) see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Notification {
    /// Stable: a sender passes it to its gateway as the idempotency key.
    pub id: String,
    pub person_id: String,
    /// `sms` or `app` (the in-app notice).
    pub channel: String,
    pub colour_from: String,
    pub colour_to: String,
    pub text: Text,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// `pending`, `sent` or `failed` (given up).
    pub state: String,
    pub attempts: i64,
    #[serde(with = "time::serde::rfc3339::option")]
    pub sent_at: Option<OffsetDateTime>,
    pub last_error: Option<String>,
}

/// Which outbox a message is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Outbox {
    /// Colour notices to a person, by SMS and in the app (`notifications`).
    Notices,
    /// Login codes to a phone, by SMS (`sms_outbox`).
    LoginCodes,
}

impl Outbox {
    fn table(self) -> &'static str {
        match self {
            Outbox::Notices => "notifications",
            Outbox::LoginCodes => "sms_outbox",
        }
    }

    /// The context a message's body is sealed under.
    pub(crate) fn body_context(self) -> &'static str {
        match self {
            Outbox::Notices => "notifications.body",
            Outbox::LoginCodes => "sms.body",
        }
    }
}

/// A claimed message and where it goes.
#[derive(Debug, Clone)]
pub struct Outgoing {
    pub outbox: Outbox,
    /// Stable: a sender passes it to its gateway as the idempotency key.
    pub id: String,
    /// `sms` or `app` (the in-app notice).
    pub channel: String,
    /// Whom a notice is about; `None` for a login code.
    pub person_id: Option<String>,
    /// Where an SMS goes: the phone that asked for a code, or the person's own phone, else
    /// their guardian's for a child without one.
    pub phone: Option<String>,
    pub text: Text,
    /// Attempts made before this one.
    pub attempts: i64,
    /// A login code's expiry: it is not worth sending (or retrying) after.
    pub expires_at: Option<OffsetDateTime>,
}

/// A login code due: id, phone and body (sealed), attempts, expiry.
type CodeRow = (String, Vec<u8>, Vec<u8>, i64, i64);
/// A notice due: id, person, channel, body (sealed), attempts.
type NoticeRow = (String, String, String, Vec<u8>, i64);

/// Whom a claimed message is for: a phone (sealed) with the code's expiry, or a person.
enum Target {
    Phone(Vec<u8>, OffsetDateTime),
    Person(String),
}

type NotificationRow = (
    String,
    String,
    String,
    String,
    String,
    Vec<u8>,
    i64,
    String,
    i64,
    Option<i64>,
    Option<String>,
);

const SELECT_NOTIFICATION: &str = "SELECT n.id, n.person_id, n.channel, n.colour_from, n.colour_to, \
     n.body_sealed, n.created_at, n.state, n.attempts, n.sent_at, n.last_error FROM notifications n";

/// A notice to a person, to be queued: `dedup_key` makes it once however often it is queued;
/// `colours` is (from, to) for a change of colour, empty for other notices.
pub(crate) struct NewNotice<'a> {
    pub person_id: &'a str,
    pub channel: &'a str,
    pub dedup_key: String,
    pub colours: (&'a str, &'a str),
    /// The text, sealed for `Outbox::Notices`.
    pub sealed: &'a [u8],
}

/// Queues notices inside an open transaction, a chunk per statement; a key already queued is
/// left as it is. Returns the people of the notices queued now.
pub(crate) async fn queue_notices<'c>(
    conn: impl Into<Conn<'c>>,
    notices: &[NewNotice<'_>],
    now: OffsetDateTime,
) -> Result<HashSet<String>, sqlx::Error> {
    let mut conn = conn.into();
    let mut queued = HashSet::new();
    for rows in notices.chunks(CHUNK) {
        let sql = format!(
            "INSERT INTO notifications (id, person_id, channel, dedup_key, colour_from, colour_to, \
             body_sealed, created_at, state, attempts, next_attempt_at) VALUES {} \
             ON CONFLICT (dedup_key) DO NOTHING RETURNING person_id",
            placeholders(&conn, rows.len(), 11)
        );
        on_conn!(&mut conn, c => {
            let mut q = sqlx::query_as::<_, (String,)>(&sql);
            for n in rows {
                q = q
                    .bind(ordered_id(now))
                    .bind(n.person_id)
                    .bind(n.channel)
                    .bind(&n.dedup_key)
                    .bind(n.colours.0)
                    .bind(n.colours.1)
                    .bind(n.sealed)
                    .bind(ms(now))
                    .bind("pending")
                    .bind(0i64)
                    .bind(ms(now));
            }
            queued.extend(q.fetch_all(&mut **c).await?.into_iter().map(|(p,)| p));
        });
    }
    Ok(queued)
}

impl Store {
    /// A message's bilingual text, opened from its sealed body.
    fn open_text(&self, outbox: Outbox, sealed: &[u8]) -> Result<Text, StoreError> {
        let body = self.vault.open(sealed, outbox.body_context())?;
        serde_json::from_slice(&body).map_err(|e| StoreError::Corrupt(e.to_string()))
    }

    fn notification_from(&self, r: NotificationRow) -> Result<Notification, StoreError> {
        let text = self.open_text(Outbox::Notices, &r.5)?;
        Ok(Notification {
            id: r.0,
            person_id: r.1,
            channel: r.2,
            colour_from: r.3,
            colour_to: r.4,
            text,
            created_at: from_ms(r.6),
            state: r.7,
            attempts: r.8,
            sent_at: r.9.map(from_ms),
            last_error: r.10,
        })
    }

    /// Claims up to `limit` messages that are due and not held by another sender: login codes
    /// first (a resident is waiting for one), but at most half of them, so that a flood of code
    /// requests cannot hold notices back. A message that cannot be read (sealed under another
    /// key, written by an older version) is given up rather than left to fail every claim.
    pub async fn claim_messages(
        &self,
        now: OffsetDateTime,
        lease: time::Duration,
        limit: i64,
    ) -> Result<Vec<Outgoing>, StoreError> {
        const DUE: &str = "state = 'pending' AND next_attempt_at <= $1 \
             AND (lease_until IS NULL OR lease_until < $1) ORDER BY next_attempt_at, id LIMIT $2";
        let now_ms = ms(now);
        let codes: Vec<CodeRow> = db::with_pool!(&self.backend, pool => {
            sqlx::query_as(&format!(
                "SELECT id, phone_sealed, body_sealed, attempts, expires_at FROM sms_outbox WHERE {DUE}"
            ))
            .bind(now_ms).bind((limit / 2).max(1)).fetch_all(pool).await?
        });
        let notices: Vec<NoticeRow> = db::with_pool!(&self.backend, pool => {
            sqlx::query_as(&format!(
                "SELECT id, person_id, channel, body_sealed, attempts FROM notifications WHERE {DUE}"
            ))
            .bind(now_ms).bind(limit - codes.len() as i64).fetch_all(pool).await?
        });
        let mut out = Vec::new();
        let codes = codes
            .into_iter()
            .map(|(id, phone, body, attempts, expires)| {
                let to = Target::Phone(phone, from_ms(expires));
                (Outbox::LoginCodes, id, "sms".to_owned(), to, body, attempts)
            });
        let notices = notices
            .into_iter()
            .map(|(id, person, channel, body, attempts)| {
                (
                    Outbox::Notices,
                    id,
                    channel,
                    Target::Person(person),
                    body,
                    attempts,
                )
            });
        // Every lease in one transaction: a claim of 200 is one commit, not 200.
        let candidates: Vec<_> = codes.chain(notices).collect();
        let mut taken: HashSet<(Outbox, String)> = HashSet::new();
        db::with_pool!(&self.backend, pool => {
            let mut tx = pool.begin_write().await?;
            for outbox in [Outbox::LoginCodes, Outbox::Notices] {
                let ids: Vec<&String> = candidates.iter().filter(|c| c.0 == outbox).map(|c| &c.1).collect();
                for chunk in ids.chunks(CHUNK) {
                    let sql = format!(
                        "UPDATE {} SET lease_until = $1 WHERE state = 'pending' \
                         AND (lease_until IS NULL OR lease_until < $2) AND id IN ({}) RETURNING id",
                        outbox.table(),
                        numbered(3, chunk.len())
                    );
                    let mut q = sqlx::query_as::<_, (String,)>(&sql).bind(ms(now + lease)).bind(now_ms);
                    for id in chunk {
                        q = q.bind(*id);
                    }
                    taken.extend(q.fetch_all(&mut *tx).await?.into_iter().map(|(id,)| (outbox, id)));
                }
            }
            tx.commit().await?;
        });
        let claimed: Vec<_> = candidates
            .into_iter()
            .filter(|c| taken.contains(&(c.0, c.1.clone())))
            .collect();
        let people: Vec<String> = claimed
            .iter()
            .filter_map(|c| match &c.3 {
                Target::Person(person) if c.2 == "sms" => Some(person.clone()),
                _ => None,
            })
            .collect();
        let phones = self.phones_for(&people).await?;
        for (outbox, id, channel, target, body, attempts) in claimed {
            let text = self.open_text(outbox, &body).map_err(|e| e.to_string());
            let phone = match &target {
                Target::Phone(sealed, _) => self
                    .vault
                    .open_string(sealed, "sms.phone")
                    .map(Some)
                    .map_err(|e| e.to_string()),
                Target::Person(person) if channel == "sms" => match phones.get(person) {
                    Some(Ok(phone)) => Ok(Some(phone.clone())),
                    Some(Err(e)) => Err(e.clone()),
                    None => Ok(None),
                },
                Target::Person(_) => Ok(None),
            };
            let (text, phone) = match (text, phone) {
                (Ok(text), Ok(phone)) => (text, phone),
                (Err(e), _) | (_, Err(e)) => {
                    let error = format!("the message cannot be read: {e}");
                    self.mark_failed(outbox, &id, &error, None).await?;
                    continue;
                }
            };
            let (person_id, expires_at) = match target {
                Target::Phone(_, expires) => (None, Some(expires)),
                Target::Person(person) => (Some(person), None),
            };
            out.push(Outgoing {
                outbox,
                id,
                channel,
                person_id,
                phone,
                text,
                attempts,
                expires_at,
            });
        }
        Ok(out)
    }

    /// The phone messages to each of these people go to: their own, else their guardian's;
    /// a phone that cannot be opened, as the error why. Someone with neither has no entry.
    async fn phones_for(
        &self,
        people: &[String],
    ) -> Result<HashMap<String, Result<String, String>>, StoreError> {
        type Phones = (String, Option<Vec<u8>>, Option<Vec<u8>>);
        let mut out = HashMap::new();
        for chunk in people.chunks(CHUNK) {
            let sql = format!(
                "SELECT p.id, p.phone_sealed, g.phone_sealed FROM people p \
                 LEFT JOIN people g ON g.id = p.guardian_id WHERE p.id IN ({})",
                numbered(1, chunk.len())
            );
            let rows: Vec<Phones> = db::with_pool!(&self.backend, pool => {
                let mut q = sqlx::query_as(&sql);
                for id in chunk {
                    q = q.bind(id);
                }
                q.fetch_all(pool).await?
            });
            for (id, own, guardian) in rows {
                if let Some(sealed) = own.or(guardian) {
                    let phone = self.vault.open_string(&sealed, "people.phone");
                    out.insert(id, phone.map_err(|e| StoreError::from(e).to_string()));
                }
            }
        }
        Ok(out)
    }

    /// Marks claimed messages of one outbox delivered, one statement per 500 ids. Only a pending one
    /// changes: never sent twice over.
    pub async fn mark_sent(
        &self,
        outbox: Outbox,
        ids: &[String],
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        for chunk in ids.chunks(CHUNK) {
            let sql = format!(
                "UPDATE {} SET state = 'sent', sent_at = $1, attempts = attempts + 1, lease_until = NULL \
                 WHERE state = 'pending' AND id IN ({})",
                outbox.table(),
                numbered(2, chunk.len())
            );
            db::with_pool!(&self.backend, pool => {
                let mut q = sqlx::query(&sql).bind(ms(now));
                for id in chunk {
                    q = q.bind(id);
                }
                q.execute(pool).await?;
            });
        }
        Ok(())
    }

    /// Records a failed attempt: retried at `retry_at`, or given up (`failed`) when `None`.
    pub async fn mark_failed(
        &self,
        outbox: Outbox,
        id: &str,
        error: &str,
        retry_at: Option<OffsetDateTime>,
    ) -> Result<(), StoreError> {
        let (state, next) = match retry_at {
            Some(t) => ("pending", Some(ms(t))),
            None => ("failed", None),
        };
        let sql = format!(
            "UPDATE {} SET state = $1, next_attempt_at = COALESCE($2, next_attempt_at), \
             attempts = attempts + 1, last_error = $3, lease_until = NULL WHERE id = $4 AND state = 'pending'",
            outbox.table()
        );
        db::with_pool!(&self.backend, pool => {
            sqlx::query(&sql).bind(state).bind(next).bind(error).bind(id).execute(pool).await?;
        });
        Ok(())
    }

    /// A person's messages, newest first.
    pub async fn notifications_of(
        &self,
        person_id: &str,
        limit: i64,
    ) -> Result<Vec<Notification>, StoreError> {
        let sql = format!(
            "{SELECT_NOTIFICATION} WHERE n.person_id = $1 ORDER BY n.created_at DESC, n.channel, n.id LIMIT $2"
        );
        let rows: Vec<NotificationRow> = db::with_pool!(&self.backend, pool => {
            sqlx::query_as(&sql).bind(person_id).bind(limit).fetch_all(pool).await?
        });
        rows.into_iter()
            .map(|r| self.notification_from(r))
            .collect()
    }

    /// Messages waiting to be sent (for the metrics).
    pub async fn pending_notifications(&self) -> Result<i64, StoreError> {
        let (n,): (i64,) = db::with_pool!(&self.backend, pool => {
            sqlx::query_as("SELECT COUNT(*) FROM notifications WHERE state = 'pending'")
                .fetch_one(pool)
                .await?
        });
        Ok(n)
    }
}
