//! The audit log: every read of personal data and every change, hash-chained, written in the
//! same transaction as what it records.

use crate::db::{Conn, on_conn, placeholders};
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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

/// A signed tree head as the chain is checked against it: when it was signed (`signed_at`,
/// milliseconds since the epoch), the entry at `seq` had `hash`. Its signature is checked before
/// it gets here, by whoever holds the anchor key; the store never holds that key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Anchor {
    pub seq: i64,
    pub hash: Vec<u8>,
    pub signed_at: i64,
}

/// One thing wrong with the chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Finding {
    /// The entry's hash does not follow from its predecessor and its content.
    Broken { seq: i64 },
    /// `count` entries from `seq` on are not in the log (deleted from the middle).
    Missing { seq: i64, count: i64 },
    /// The entry at an anchored `seq` is not the one the anchor signed at `signed_at`: an entry
    /// from `since` to `seq` was rewritten (and every later hash recomputed, or it would be broken).
    DiffersFromAnchor {
        seq: i64,
        since: i64,
        signed_at: i64,
    },
    /// The log ends at `last` but the anchor signed at `signed_at` names entry `anchored`.
    Truncated {
        last: i64,
        anchored: i64,
        signed_at: i64,
    },
    /// The head row names entry `head` but the log ends at `last` (or with another hash).
    Head { head: i64, last: i64 },
}

impl Finding {
    /// The first entry this finding concerns.
    pub fn seq(&self) -> i64 {
        match *self {
            Finding::Broken { seq }
            | Finding::Missing { seq, .. }
            | Finding::DiffersFromAnchor { seq, .. } => seq,
            Finding::Truncated { last, .. } => last + 1,
            Finding::Head { head, last } => head.min(last) + 1,
        }
    }
}

/// Findings kept in full; past these only counted.
const MAX_FINDINGS: usize = 100;

/// The result of checking the whole chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChainCheck {
    /// Entries in the log.
    pub entries: i64,
    /// The first entry found wrong.
    pub first_broken: Option<i64>,
    /// What is wrong, in the order found (the first 100).
    pub findings: Vec<Finding>,
    /// Findings past the first 100.
    pub findings_omitted: u64,
    /// Anchors the chain was checked against.
    pub anchors: usize,
    /// The entry the latest anchor names (0: none).
    pub anchored: i64,
    /// Entries after the latest anchor: a rewrite of these is not yet detectable.
    pub unanchored: i64,
}

impl ChainCheck {
    pub fn intact(&self) -> bool {
        self.findings.is_empty()
    }
}

/// The walk along the chain, one stored entry at a time in order of `seq`, checking links and
/// anchors; I/O-free.
pub(crate) struct Walk<'a> {
    /// Sorted by `seq`.
    anchors: Vec<&'a Anchor>,
    next_anchor: usize,
    /// The latest anchor that matched.
    matched: i64,
    prev: Vec<u8>,
    last: i64,
    entries: i64,
    findings: Vec<Finding>,
    omitted: u64,
}

impl<'a> Walk<'a> {
    pub(crate) fn new(anchors: &'a [Anchor]) -> Walk<'a> {
        let mut anchors: Vec<&Anchor> = anchors.iter().collect();
        anchors.sort_by_key(|a| (a.seq, a.signed_at));
        Walk {
            anchors,
            next_anchor: 0,
            matched: 0,
            prev: vec![0u8; 32],
            last: 0,
            entries: 0,
            findings: Vec::new(),
            omitted: 0,
        }
    }

    /// Where the walk is: the last entry's seq, to read the next page after.
    pub(crate) fn last(&self) -> i64 {
        self.last
    }

    fn find(&mut self, finding: Finding) {
        if self.findings.len() < MAX_FINDINGS {
            self.findings.push(finding);
        } else {
            self.omitted += 1;
        }
    }

    pub(crate) fn entry(&mut self, entry: &AuditEntry, stored_prev: &[u8], stored_hash: Vec<u8>) {
        let gap = entry.seq > self.last + 1;
        if gap {
            self.find(Finding::Missing {
                seq: self.last + 1,
                count: entry.seq - self.last - 1,
            });
        }
        // After a gap the predecessor is gone: the entry can only be checked against the
        // previous hash it names.
        let expected_prev: &[u8] = if gap { stored_prev } else { &self.prev };
        let follows = entry.seq > self.last
            && stored_prev == expected_prev
            && link_hash(expected_prev, entry) == stored_hash;
        if !follows {
            self.find(Finding::Broken { seq: entry.seq });
        }
        // Anchors at this entry; one at an entry that is missing was reported with the gap.
        while let Some(anchor) = self.anchors.get(self.next_anchor).copied() {
            if anchor.seq > entry.seq {
                break;
            }
            if anchor.seq == entry.seq {
                if anchor.hash == stored_hash {
                    self.matched = anchor.seq;
                } else {
                    self.find(Finding::DiffersFromAnchor {
                        seq: entry.seq,
                        since: self.matched + 1,
                        signed_at: anchor.signed_at,
                    });
                }
            }
            self.next_anchor += 1;
        }
        self.entries += 1;
        self.last = self.last.max(entry.seq);
        self.prev = stored_hash;
    }

    /// Ends the walk at the head row (`seq`, `hash`).
    pub(crate) fn finish(mut self, head_seq: i64, head_hash: &[u8]) -> ChainCheck {
        let latest = self.anchors.last().copied();
        if let Some(anchor) = latest.filter(|a| a.seq > self.last) {
            self.find(Finding::Truncated {
                last: self.last,
                anchored: anchor.seq,
                signed_at: anchor.signed_at,
            });
        }
        if head_seq != self.last || head_hash != self.prev.as_slice() {
            self.find(Finding::Head {
                head: head_seq,
                last: self.last,
            });
        }
        let anchored = latest.map_or(0, |a| a.seq);
        ChainCheck {
            entries: self.entries,
            first_broken: self.findings.iter().map(Finding::seq).min(),
            findings: self.findings,
            findings_omitted: self.omitted,
            anchors: self.anchors.len(),
            anchored,
            unanchored: (self.last - anchored).max(0),
        }
    }
}

/// The chain's head as a transaction that appends entries holds it. The head row is taken
/// (locked) by the first append; entries are chained in memory and written by `close`, a few
/// hundred rows per statement, with the head row once. PostgreSQL keeps every version of a row
/// a transaction updates, so writing the head per entry made approving a batch of 180,000 facts
/// quadratic (20 minutes instead of one); and on SQLite every statement is a round trip to the
/// connection's thread, which cost more than the rows themselves.
#[derive(Debug, Default)]
pub(crate) struct Chain {
    head: Option<(i64, Vec<u8>)>,
    /// Entries not written yet, each with its previous hash and its own.
    pending: Vec<(AuditEntry, Vec<u8>, Vec<u8>)>,
}

/// Entries per INSERT: 10 columns each, far below both stores' bind limits.
const ROWS: usize = 500;

/// Appends an entry to `chain` inside its open transaction. Taking the chain head with an UPDATE
/// first serialises concurrent writers on both stores.
pub(crate) async fn chain<'c>(
    conn: impl Into<Conn<'c>>,
    chain: &mut Chain,
    at: i64,
    actor: &Actor,
    action: &str,
    subject: Option<String>,
    detail: String,
) -> Result<AuditEntry, sqlx::Error> {
    let (last, prev): (i64, Vec<u8>) = match chain.head.take() {
        Some(head) => head,
        None => on_conn!(&mut conn.into(), c => {
            sqlx::query_as("UPDATE audit_head SET seq = seq WHERE id = 1 RETURNING seq, hash")
                .fetch_one(&mut **c)
                .await?
        }),
    };
    let entry = AuditEntry {
        seq: last + 1,
        at,
        actor: actor.id.clone(),
        role: actor.role.clone(),
        action: action.to_owned(),
        subject,
        purpose: actor.purpose.clone(),
        detail,
    };
    let hash = link_hash(&prev, &entry);
    chain.head = Some((entry.seq, hash.clone()));
    chain.pending.push((entry.clone(), prev, hash));
    Ok(entry)
}

/// Writes the entries of `chain` and its head (the last entry appended), before the
/// transaction commits.
pub(crate) async fn close<'c>(
    conn: impl Into<Conn<'c>>,
    chain: &mut Chain,
) -> Result<(), sqlx::Error> {
    let mut conn = conn.into();
    let pending = std::mem::take(&mut chain.pending);
    for rows in pending.chunks(ROWS) {
        let sql = format!(
            "INSERT INTO audit_log (seq, at, actor, role, action, subject, purpose, detail, prev_hash, hash) VALUES {}",
            placeholders(&conn, rows.len(), 10)
        );
        on_conn!(&mut conn, c => {
            let mut q = sqlx::query(&sql);
            for (entry, prev, hash) in rows {
                q = q
                    .bind(entry.seq)
                    .bind(entry.at)
                    .bind(&entry.actor)
                    .bind(&entry.role)
                    .bind(&entry.action)
                    .bind(&entry.subject)
                    .bind(&entry.purpose)
                    .bind(&entry.detail)
                    .bind(prev)
                    .bind(hash);
            }
            q.execute(&mut **c).await?;
        });
    }
    if let Some((seq, hash)) = chain.head.take() {
        on_conn!(&mut conn, c => {
            sqlx::query("UPDATE audit_head SET seq = $1, hash = $2 WHERE id = 1")
                .bind(seq)
                .bind(&hash)
                .execute(&mut **c)
                .await?;
        });
    }
    Ok(())
}

/// Appends one entry inside an open transaction and writes the head.
pub(crate) async fn append<'c>(
    conn: impl Into<Conn<'c>>,
    at: i64,
    actor: &Actor,
    action: &str,
    subject: Option<String>,
    detail: String,
) -> Result<AuditEntry, sqlx::Error> {
    let mut conn = conn.into();
    let mut head = Chain::default();
    let entry = chain(&mut conn, &mut head, at, actor, action, subject, detail).await?;
    close(&mut conn, &mut head).await?;
    Ok(entry)
}

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
