//! healthcode's persistence: one interface, two backends (SQLite, the embedded default, and
//! PostgreSQL at scale) with the same schema and the same query text. Every call that touches
//! personal data takes the `Actor` on whose behalf it runs and writes an audit entry in the same
//! transaction. Time is a parameter.

pub mod accounts;
mod appeals;
pub mod audit;
mod batches;
mod bulk;
mod claims;
mod colours;
mod dashboard;
mod db;
mod facts;
pub use facts::FactStamp;
mod federation;
mod feeds;
mod hub;
mod leases;
pub use leases::node_name;
mod outbox;
mod people;
mod policy_versions;
mod replica;
pub use replica::Replica;
mod returns;
mod sealed;
mod sqlite_reads;
mod trace_queue;
mod traces;
pub mod vault;
mod venues;
mod visits;
mod waivers;

pub use accounts::{Account, CodeLimit, CodeLimits, CodeRefused, CodeRejection};
pub use appeals::{Appeal, AppealOutcome};
pub use audit::{Actor, Anchor, AuditEntry, ChainCheck, Finding};
pub use batches::{Batch, BatchItem};
pub use bulk::{BulkLoader, BulkPerson, BulkVisit, VisitOrder};
pub use claims::DocumentClaim;
pub use colours::{Announcement, ColourChange, Histories};
pub use dashboard::{AuditFilter, ColourCounts, TraceFigures};
pub use db::Backend;
pub use federation::{Consent, Received, RegionMessage};
pub use feeds::{Delivered, RiskArea};
pub use hub::{HubList, HubProposal, HubRegion, HubRevocation};
pub use outbox::{Notification, Outbox, Outgoing};
pub use people::{Enrollment, NewPerson, Person, PersonDetail, SessionPeople};
pub use policy_versions::PolicyVersion;
pub use returns::{
    Booking, ExpectedArrivals, NewReturn, NewStep, ReturnApplication, ReturnFigures, ReturnStep,
};
pub use traces::{
    ContactFact, ExposureOrder, IndexedLog, TraceJob, TraceProgress, TraceView, TracedExposure,
    VenueTally,
};
pub use vault::Vault;
pub use venues::{Checkpoint, NewVenue, Venue};
pub use visits::{Expired, NewScan, NewVisit, Recorded, Visit};
pub use waivers::Waiver;

use time::OffsetDateTime;

/// What can go wrong in the store, split by what a caller does about it.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("not found: {0}")]
    NotFound(String),
    #[error("conflict: {0}")]
    Conflict(String),
    #[error("configuration: {0}")]
    Config(String),
    #[error("stored data cannot be read: {0}")]
    Corrupt(String),
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("migration: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// From the read-only SQLite connections that read long runs of rows.
    #[error("database: {0}")]
    Reader(#[from] rusqlite::Error),
}

impl From<vault::VaultError> for StoreError {
    fn from(e: vault::VaultError) -> StoreError {
        StoreError::Corrupt(e.to_string())
    }
}

/// A conflict from a UNIQUE constraint, so callers can answer 409 instead of 500.
pub(crate) fn unique_violation(e: sqlx::Error, what: &str) -> StoreError {
    match &e {
        sqlx::Error::Database(db) if db.is_unique_violation() => {
            StoreError::Conflict(what.to_string())
        }
        _ => StoreError::Database(e),
    }
}

/// The store: a backend and the vault for personal data.
#[derive(Debug, Clone)]
pub struct Store {
    backend: Backend,
    vault: Vault,
    /// The visit log's day partitions known to exist (PostgreSQL).
    partitions: std::sync::Arc<tokio::sync::Mutex<std::collections::HashSet<i64>>>,
    /// Read-only connections for long runs of rows (SQLite).
    readers: Option<std::sync::Arc<sqlite_reads::Readers>>,
}

/// Milliseconds since the Unix epoch: how the store (and tracing) hold instants.
pub fn ms(t: OffsetDateTime) -> i64 {
    (t.unix_timestamp_nanos() / 1_000_000) as i64
}

/// The instant `ms` milliseconds after the Unix epoch (the epoch itself when out of range).
pub fn from_ms(ms: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

/// An identifier for rows written in bulk: the time in milliseconds (12 hex digits), then 10
/// random bytes. Time first, so that new ids land at the right edge of an id index instead of
/// on a random page each: with random ids, every row of a transaction of 500 dirtied its own
/// page, and the write-ahead log grew with the table.
pub fn ordered_id(now: OffsetDateTime) -> String {
    format!("{:012x}{}", ms(now), &new_id()[..20])
}

/// A random identifier: 16 bytes from the OS, hex.
pub(crate) fn new_id() -> String {
    use rand::RngCore;
    let mut bytes = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    hex::encode(bytes)
}

impl Store {
    /// Connects to `url` (`sqlite://PATH` or `postgres://…`) and applies migrations.
    pub async fn open(url: &str, vault: Vault) -> Result<Store, StoreError> {
        let backend = Backend::connect(url).await?;
        let store = Store {
            readers: db::sqlite_file(url)?.map(sqlite_reads::Readers::new),
            backend,
            vault,
            partitions: Default::default(),
        };
        store.seal_clear_records().await?;
        Ok(store)
    }

    /// The same store through a pool of connections of its own: a class of requests that can
    /// flood (checkpoint scans) then never holds a connection another class waits for.
    pub async fn with_own_pool(&self, url: &str) -> Result<Store, StoreError> {
        Ok(Store {
            backend: Backend::connect(url).await?,
            ..self.clone()
        })
    }

    /// Checks that the database answers.
    pub async fn ping(&self) -> Result<(), StoreError> {
        db::with_pool!(&self.backend, pool => {
            sqlx::query("SELECT 1").execute(pool).await?;
        });
        Ok(())
    }

    /// The blind index of a phone number, to compare with a session's.
    pub fn phone_index_of(&self, phone: &str) -> Vec<u8> {
        self.vault.blind_index("phone", phone)
    }

    pub fn backend_name(&self) -> &'static str {
        self.backend.name()
    }

    pub async fn close(&self) {
        self.backend.close().await
    }

    /// Appends an audit entry on its own (for reads and actions that change nothing stored).
    pub async fn audit(
        &self,
        actor: &Actor,
        action: &str,
        subject: Option<&str>,
        detail: &str,
        now: OffsetDateTime,
    ) -> Result<AuditEntry, StoreError> {
        db::with_pool!(&self.backend, pool => {
            let mut tx = pool.begin().await?;
            let entry = audit::append(&mut *tx, ms(now), actor, action, subject.map(str::to_owned), detail.to_owned()).await?;
            tx.commit().await?;
            Ok(entry)
        })
    }

    /// One audit entry per subject, for a read that covers many people at once (a worker's
    /// board), written in one transaction.
    pub async fn audit_each(
        &self,
        actor: &Actor,
        action: &str,
        subjects: &[String],
        detail: &str,
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        if subjects.is_empty() {
            return Ok(());
        }
        db::with_pool!(&self.backend, pool => {
            let mut tx = pool.begin().await?;
            for subject in subjects {
                audit::append(&mut *tx, ms(now), actor, action, Some(subject.clone()), detail.to_owned()).await?;
            }
            tx.commit().await?;
        });
        Ok(())
    }

    /// The audit entries about one person, oldest first: what they read under "who read my data".
    pub async fn audit_about(&self, subject: &str) -> Result<Vec<AuditEntry>, StoreError> {
        let sql = format!("{} WHERE subject = $1 ORDER BY seq", audit::SELECT);
        let rows: Vec<audit::Row> = db::with_pool!(&self.backend, pool => {
            sqlx::query_as(&sql).bind(subject).fetch_all(pool).await?
        });
        Ok(rows.into_iter().map(|r| audit::from_row(r).0).collect())
    }

    /// Walks the whole chain, in bounded pages, and names what is broken.
    pub async fn verify_audit_chain(&self) -> Result<ChainCheck, StoreError> {
        self.verify_audit_chain_anchored(&[]).await
    }

    /// Walks the whole chain, in bounded pages, checking each link and, at every anchored entry,
    /// the hash the anchor signed: a rewrite with every later hash recomputed, a truncation and
    /// a deleted entry are each named.
    pub async fn verify_audit_chain_anchored(
        &self,
        anchors: &[Anchor],
    ) -> Result<ChainCheck, StoreError> {
        const PAGE: i64 = 10_000;
        let sql = format!("{} WHERE seq > $1 ORDER BY seq LIMIT $2", audit::SELECT);
        let mut walk = audit::Walk::new(anchors);
        loop {
            let rows: Vec<audit::Row> = db::with_pool!(&self.backend, pool => {
                sqlx::query_as(&sql).bind(walk.last()).bind(PAGE).fetch_all(pool).await?
            });
            if rows.is_empty() {
                let (seq, hash) = self.audit_head().await?;
                return Ok(walk.finish(seq, &hash));
            }
            for row in rows {
                let (entry, prev, hash) = audit::from_row(row);
                walk.entry(&entry, &prev, hash);
            }
        }
    }

    /// The chain's head: the last entry's seq and hash (0 and zeros when empty).
    pub async fn audit_head(&self) -> Result<(i64, Vec<u8>), StoreError> {
        Ok(db::with_pool!(&self.backend, pool => {
            sqlx::query_as("SELECT seq, hash FROM audit_head WHERE id = 1").fetch_one(pool).await?
        }))
    }

    /// Keeps a copy of a signed anchor for operators to read (`audit_anchors`); verification
    /// trusts the node's anchor file, not this table. Not an audit entry: it would move the head.
    pub async fn record_audit_anchor(
        &self,
        anchor: &Anchor,
        key_id: &str,
        signature: &[u8],
    ) -> Result<(), StoreError> {
        db::with_pool!(&self.backend, pool => {
            sqlx::query(
                "INSERT INTO audit_anchors (key_id, seq, hash, signed_at, signature) \
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
            )
            .bind(key_id)
            .bind(anchor.seq)
            .bind(&anchor.hash)
            .bind(anchor.signed_at)
            .bind(signature)
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    /// Runs raw SQL; for tests that tamper with the log the way an intruder would.
    #[doc(hidden)]
    pub async fn execute_raw(&self, sql: &str) -> Result<u64, StoreError> {
        Ok(
            db::with_pool!(&self.backend, pool => sqlx::query(sql).execute(pool).await?.rows_affected()),
        )
    }
}
