//! Records that describe a person's health, sealed at rest like their name (vault.rs): fact
//! bodies (symptoms, temperatures, addresses, trips, test results), the reasons residents give in
//! appeals, and the items of a staged batch. Each is bound to its column and its row's id, so a
//! sealed value copied into another row does not open.

use crate::db::{self, BeginWrite};
use crate::{Store, StoreError};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// A sealed column, with the clear column it replaced (migration 0013).
#[derive(Debug, Clone, Copy)]
pub(crate) enum Sealed {
    FactBody,
    AppealReason,
    BatchItems,
}

impl Sealed {
    const ALL: [Sealed; 3] = [Sealed::FactBody, Sealed::AppealReason, Sealed::BatchItems];

    /// (table, clear column, sealed column).
    fn columns(self) -> (&'static str, &'static str, &'static str) {
        match self {
            Sealed::FactBody => ("facts", "body", "body_sealed"),
            Sealed::AppealReason => ("appeals", "reason", "reason_sealed"),
            Sealed::BatchItems => ("batches", "items", "items_sealed"),
        }
    }

    fn context(self, row: &str) -> String {
        let (table, clear, _) = self.columns();
        format!("{table}.{clear}/{row}")
    }
}

/// Rows sealed per transaction when sealing what an earlier version left in clear.
const UPGRADE_CHUNK: i64 = 1000;

impl Store {
    pub(crate) fn seal(&self, what: Sealed, row: &str, plain: &[u8]) -> Vec<u8> {
        self.vault.seal(plain, &what.context(row))
    }

    pub(crate) fn seal_json<T: Serialize + ?Sized>(
        &self,
        what: Sealed,
        row: &str,
        value: &T,
    ) -> Result<Vec<u8>, StoreError> {
        let plain = serde_json::to_vec(value).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        Ok(self.seal(what, row, &plain))
    }

    pub(crate) fn open_sealed(
        &self,
        what: Sealed,
        row: &str,
        sealed: &[u8],
    ) -> Result<Vec<u8>, StoreError> {
        self.vault
            .open(sealed, &what.context(row))
            .map_err(|e| StoreError::Corrupt(format!("{}: {e}", what.context(row))))
    }

    pub(crate) fn open_json<T: DeserializeOwned>(
        &self,
        what: Sealed,
        row: &str,
        sealed: &[u8],
    ) -> Result<T, StoreError> {
        serde_json::from_slice(&self.open_sealed(what, row, sealed)?)
            .map_err(|e| StoreError::Corrupt(format!("{}: {e}", what.context(row))))
    }

    /// Seals what a version before migration 0013 wrote in clear, emptying the clear column, a
    /// chunk per transaction; run when the store opens, so no clear row outlives an upgrade.
    /// Returns how many rows it sealed (none on every later start: a partial index finds them).
    pub async fn seal_clear_records(&self) -> Result<u64, StoreError> {
        let mut sealed = 0;
        for what in Sealed::ALL {
            let (table, clear, sealed_column) = what.columns();
            let select = format!(
                "SELECT id, {clear} FROM {table} WHERE {sealed_column} IS NULL AND {clear} IS NOT NULL LIMIT {UPGRADE_CHUNK}"
            );
            let update =
                format!("UPDATE {table} SET {sealed_column} = $1, {clear} = '' WHERE id = $2");
            loop {
                let done = db::with_pool!(&self.backend, pool => {
                    let mut tx = pool.begin_write().await?;
                    let rows: Vec<(String, String)> =
                        sqlx::query_as(&select).fetch_all(&mut *tx).await?;
                    for (id, plain) in &rows {
                        sqlx::query(&update)
                            .bind(self.seal(what, id, plain.as_bytes()))
                            .bind(id)
                            .execute(&mut *tx)
                            .await?;
                    }
                    tx.commit().await?;
                    sealed += rows.len() as u64;
                    (rows.len() as i64) < UPGRADE_CHUNK
                });
                if done {
                    break;
                }
            }
        }
        Ok(sealed)
    }
}
