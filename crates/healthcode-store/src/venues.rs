//! Venues (场所) and their checkpoints (卡口). A checkpoint is a scanner at a venue with its own
//! account, so each scan names where it happened.

use crate::audit::{self, Actor};
use crate::{Store, StoreError, db, from_ms, ms, new_id};
use serde::Serialize;
use time::OffsetDateTime;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Venue {
    pub id: String,
    pub name: String,
    pub address: String,
    /// GB/T 2260 region code.
    pub region: String,
    /// The category (metro, mall, hospital, …); its dwell time is a policy parameter.
    pub category: String,
    pub manager_id: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Checkpoint {
    pub id: String,
    pub venue_id: String,
    pub name: String,
    pub account_id: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

/// What a new venue is.
#[derive(Debug, Clone)]
pub struct NewVenue {
    pub name: String,
    pub address: String,
    pub region: String,
    pub category: String,
}

type VenueRow = (String, String, String, String, String, String, i64);
type CheckpointRow = (String, String, String, String, i64);

fn venue_from((id, name, address, region, category, manager_id, created_at): VenueRow) -> Venue {
    Venue {
        id,
        name,
        address,
        region,
        category,
        manager_id,
        created_at: from_ms(created_at),
    }
}

fn checkpoint_from((id, venue_id, name, account_id, created_at): CheckpointRow) -> Checkpoint {
    Checkpoint {
        id,
        venue_id,
        name,
        account_id,
        created_at: from_ms(created_at),
    }
}

const SELECT_VENUE: &str =
    "SELECT id, name, address, region, category, manager_id, created_at FROM venues";

impl Store {
    pub async fn create_venue(
        &self,
        new: &NewVenue,
        actor: &Actor,
        now: OffsetDateTime,
    ) -> Result<Venue, StoreError> {
        let venue = Venue {
            id: new_id(),
            name: new.name.clone(),
            address: new.address.clone(),
            region: new.region.clone(),
            category: new.category.clone(),
            manager_id: actor.id.clone(),
            created_at: now,
        };
        db::with_pool!(&self.backend, pool => {
            let mut tx = pool.begin().await?;
            sqlx::query(
                "INSERT INTO venues (id, name, address, region, category, manager_id, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(&venue.id)
            .bind(&venue.name)
            .bind(&venue.address)
            .bind(&venue.region)
            .bind(&venue.category)
            .bind(&venue.manager_id)
            .bind(ms(now))
            .execute(&mut *tx)
            .await?;
            audit::append(&mut *tx, ms(now), actor, "venue.create", None, format!("venue {} ({})", venue.id, venue.name)).await?;
            tx.commit().await?;
        });
        Ok(venue)
    }

    pub async fn venue(&self, id: &str) -> Result<Option<Venue>, StoreError> {
        let sql = format!("{SELECT_VENUE} WHERE id = $1");
        let row: Option<VenueRow> = db::with_pool!(&self.backend, pool => {
            sqlx::query_as(&sql).bind(id).fetch_optional(pool).await?
        });
        Ok(row.map(venue_from))
    }

    pub async fn venues(&self, limit: i64) -> Result<Vec<Venue>, StoreError> {
        let sql = format!("{SELECT_VENUE} ORDER BY created_at, id LIMIT $1");
        let rows: Vec<VenueRow> = db::with_pool!(&self.backend, pool => {
            sqlx::query_as(&sql).bind(limit).fetch_all(pool).await?
        });
        Ok(rows.into_iter().map(venue_from).collect())
    }

    /// Registers a checkpoint at a venue together with its own `checkpoint` account, whose token
    /// is given (shown once by the caller, stored only as a hash).
    pub async fn create_checkpoint(
        &self,
        venue_id: &str,
        name: &str,
        token: &str,
        actor: &Actor,
        now: OffsetDateTime,
    ) -> Result<Checkpoint, StoreError> {
        if self.venue(venue_id).await?.is_none() {
            return Err(StoreError::NotFound(format!("venue {venue_id}")));
        }
        let checkpoint = Checkpoint {
            id: new_id(),
            venue_id: venue_id.to_owned(),
            name: name.to_owned(),
            account_id: new_id(),
            created_at: now,
        };
        // The account and the checkpoint land together or not at all.
        db::with_pool!(&self.backend, pool => {
            let mut tx = pool.begin().await?;
            sqlx::query("INSERT INTO accounts (id, role, name, token_hash, created_at) VALUES ($1, 'checkpoint', $2, $3, $4)")
                .bind(&checkpoint.account_id)
                .bind(format!("checkpoint {name}"))
                .bind(crate::accounts::secret_hash(token))
                .bind(ms(now))
                .execute(&mut *tx)
                .await?;
            sqlx::query("INSERT INTO checkpoints (id, venue_id, name, account_id, created_at) VALUES ($1, $2, $3, $4, $5)")
                .bind(&checkpoint.id)
                .bind(venue_id)
                .bind(name)
                .bind(&checkpoint.account_id)
                .bind(ms(now))
                .execute(&mut *tx)
                .await?;
            audit::append(&mut *tx, ms(now), actor, "checkpoint.create", None,
                format!("checkpoint {} at venue {venue_id}, account {}", checkpoint.id, checkpoint.account_id)).await?;
            tx.commit().await?;
        });
        Ok(checkpoint)
    }

    /// The checkpoint a `checkpoint` account scans for.
    pub async fn checkpoint_of_account(
        &self,
        account_id: &str,
    ) -> Result<Option<Checkpoint>, StoreError> {
        let row: Option<CheckpointRow> = db::with_pool!(&self.backend, pool => {
            sqlx::query_as("SELECT id, venue_id, name, account_id, created_at FROM checkpoints WHERE account_id = $1")
                .bind(account_id)
                .fetch_optional(pool)
                .await?
        });
        Ok(row.map(checkpoint_from))
    }

    pub async fn checkpoints_of(&self, venue_id: &str) -> Result<Vec<Checkpoint>, StoreError> {
        let rows: Vec<CheckpointRow> = db::with_pool!(&self.backend, pool => {
            sqlx::query_as("SELECT id, venue_id, name, account_id, created_at FROM checkpoints WHERE venue_id = $1 ORDER BY created_at, id")
                .bind(venue_id)
                .fetch_all(pool)
                .await?
        });
        Ok(rows.into_iter().map(checkpoint_from).collect())
    }
}
