//! The audit log: every read of personal data and every change, hash-chained, written in the
//! same transaction as what it records.

use serde::Serialize;
use sha2::{Digest, Sha256};

/// Who acts, in which role, and why (the purpose or legal basis). Every store call that touches
/// personal data takes one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Actor {
    pub id: String,
    pub role: String,
    pub purpose: String,
}

impl Actor {
    pub fn new(
        id: impl Into<String>,
        role: impl Into<String>,
        purpose: impl Into<String>,
    ) -> Actor {
        Actor {
            id: id.into(),
            role: role.into(),
            purpose: purpose.into(),
        }
    }
}

/// One entry as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct AuditEntry {
    pub seq: i64,
    /// Milliseconds since the Unix epoch.
    pub at: i64,
    pub actor: String,
    pub role: String,
    pub action: String,
    pub subject: Option<String>,
    pub purpose: String,
    pub detail: String,
}

/// The chain link: SHA-256 over the previous hash and the entry's canonical JSON (fields in
/// declaration order).
pub fn link_hash(prev: &[u8], entry: &AuditEntry) -> Vec<u8> {
    let mut hasher = Sha256::new();
    hasher.update(prev);
    hasher.update(serde_json::to_vec(entry).unwrap_or_default());
    hasher.finalize().to_vec()
}

/// The result of checking the whole chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChainCheck {
    pub entries: i64,
    /// The first entry whose hash does not follow from its predecessor and content.
    pub first_broken: Option<i64>,
}

/// The chain's head as a transaction that appends entries holds it. The head row is taken
/// (locked) by the first append, entries are chained in memory, and the row is written once by
/// `close!`. PostgreSQL keeps every version of a row a transaction updates, so writing the head
/// per entry made approving a batch of 180,000 facts quadratic (20 minutes instead of one).
#[derive(Debug, Default)]
pub(crate) struct Chain {
    head: Option<(i64, Vec<u8>)>,
}

impl Chain {
    pub(crate) fn take(&mut self) -> Option<(i64, Vec<u8>)> {
        self.head.take()
    }

    pub(crate) fn set(&mut self, seq: i64, hash: Vec<u8>) {
        self.head = Some((seq, hash));
    }
}

/// Appends an entry to `$chain` inside its open transaction (`$tx`: `&mut Transaction`).
/// Taking the chain head with an UPDATE first serialises concurrent writers on both stores.
macro_rules! chain {
    ($tx:expr, $chain:expr, $at:expr, $actor:expr, $action:expr, $subject:expr, $detail:expr) => {{
        let (last, prev): (i64, Vec<u8>) = match $chain.take() {
            Some(head) => head,
            None => {
                sqlx::query_as("UPDATE audit_head SET seq = seq WHERE id = 1 RETURNING seq, hash")
                    .fetch_one(&mut *$tx)
                    .await?
            }
        };
        let entry = $crate::audit::AuditEntry {
            seq: last + 1,
            at: $at,
            actor: $actor.id.clone(),
            role: $actor.role.clone(),
            action: String::from($action),
            subject: $subject,
            purpose: $actor.purpose.clone(),
            detail: $detail,
        };
        let hash = $crate::audit::link_hash(&prev, &entry);
        sqlx::query(
            "INSERT INTO audit_log (seq, at, actor, role, action, subject, purpose, detail, prev_hash, hash) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(entry.seq)
        .bind(entry.at)
        .bind(&entry.actor)
        .bind(&entry.role)
        .bind(&entry.action)
        .bind(&entry.subject)
        .bind(&entry.purpose)
        .bind(&entry.detail)
        .bind(&prev)
        .bind(&hash)
        .execute(&mut *$tx)
        .await?;
        $chain.set(entry.seq, hash);
        entry
    }};
}
pub(crate) use chain;

/// Writes the head of `$chain` (the last entry appended), before the transaction commits.
macro_rules! close {
    ($tx:expr, $chain:expr) => {{
        if let Some((seq, hash)) = $chain.take() {
            sqlx::query("UPDATE audit_head SET seq = $1, hash = $2 WHERE id = 1")
                .bind(seq)
                .bind(&hash)
                .execute(&mut *$tx)
                .await?;
        }
    }};
}
pub(crate) use close;

/// Appends one entry inside an open transaction and writes the head.
macro_rules! append {
    ($tx:expr, $at:expr, $actor:expr, $action:expr, $subject:expr, $detail:expr) => {{
        let mut chain = $crate::audit::Chain::default();
        let entry = $crate::audit::chain!($tx, chain, $at, $actor, $action, $subject, $detail);
        $crate::audit::close!($tx, chain);
        entry
    }};
}
pub(crate) use append;

pub(crate) type Row = (
    i64,
    i64,
    String,
    String,
    String,
    Option<String>,
    String,
    String,
    Vec<u8>,
    Vec<u8>,
);

pub(crate) const SELECT: &str =
    "SELECT seq, at, actor, role, action, subject, purpose, detail, prev_hash, hash FROM audit_log";

pub(crate) fn from_row(row: Row) -> (AuditEntry, Vec<u8>, Vec<u8>) {
    let (seq, at, actor, role, action, subject, purpose, detail, prev, hash) = row;
    (
        AuditEntry {
            seq,
            at,
            actor,
            role,
            action,
            subject,
            purpose,
            detail,
        },
        prev,
        hash,
    )
}
