//! Venues (场所): registering one under the published policy's categories, listing them, printing
//! a venue's signed code (场所码), and registering its checkpoints (卡口); and the one rule of who
//! manages a venue, which its visit log and flagged check-ins follow too.

use crate::AppState;
use crate::auth::{Caller, Role};
use crate::error::{ApiError, ApiResult};
use healthcode_store::{Checkpoint, NewVenue, Venue};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VenueRequest {
    pub name: String,
    pub address: String,
    /// GB/T 2260 region code (6 digits).
    pub region: String,
    /// One of the categories of the policy's `venue_dwell_minutes` (metro, mall, hospital, …).
    pub category: String,
}

/// A venue with the dwell time its category has under the published policy: how long a visit
/// stands for presence when no exit is scanned.
#[derive(Serialize, utoipa::ToSchema)]
pub struct VenueView {
    #[serde(flatten)]
    pub venue: Venue,
    pub dwell_minutes: i64,
}

fn dwell_minutes(state: &AppState, category: &str) -> Option<i64> {
    state
        .policy
        .current()
        .document()
        .parameters
        .get("venue_dwell_minutes")?
        .get(category)?
        .as_i64()
}

fn view(state: &AppState, venue: Venue) -> VenueView {
    let dwell = dwell_minutes(state, &venue.category).unwrap_or(60);
    VenueView {
        venue,
        dwell_minutes: dwell,
    }
}

/// Registers a venue (a venue manager or an admin).
pub async fn register(
    state: &AppState,
    caller: &Caller,
    req: VenueRequest,
    now: OffsetDateTime,
) -> ApiResult<VenueView> {
    caller.require(&[Role::VenueManager, Role::Admin])?;
    let name = req.name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(ApiError::unprocessable(
            "bad_name",
            "a venue name has 1 to 100 characters",
            "场所名称应为 1 至 100 个字符",
        ));
    }
    if healthcode_core::region::RegionCode::parse(req.region.trim()).is_err() {
        return Err(ApiError::unprocessable(
            "bad_region",
            "a region code is 6 digits (GB/T 2260)",
            "行政区划代码应为 6 位数字",
        ));
    }
    if dwell_minutes(state, &req.category).is_none() {
        return Err(ApiError::unprocessable(
            "bad_category",
            format!(
                "{:?} is not a venue category of the published policy",
                req.category
            ),
            format!("{:?} 不是赋码规则中的场所类别", req.category),
        ));
    }
    let new = NewVenue {
        name: name.to_owned(),
        address: req.address.trim().to_owned(),
        region: req.region.trim().to_owned(),
        category: req.category,
    };
    let venue = state
        .store
        .create_venue(&new, &caller.actor("venue registration"), now)
        .await?;
    Ok(view(state, venue))
}

/// Every venue (at most 1,000), for staff.
pub async fn list(state: &AppState, caller: &Caller) -> ApiResult<Vec<VenueView>> {
    if caller.role() == Role::Resident {
        return Err(ApiError::forbidden());
    }
    let venues = state.store.venues(1000).await?;
    Ok(venues.into_iter().map(|v| view(state, v)).collect())
}

async fn found(state: &AppState, id: &str) -> ApiResult<Venue> {
    state
        .store
        .venue(id)
        .await?
        .ok_or_else(|| ApiError::not_found("venue"))
}

/// The venue, if the caller manages it: a venue manager their own venues, an admin any, and
/// among `others` the roles that may too.
pub async fn managed(
    state: &AppState,
    caller: &Caller,
    id: &str,
    others: &[Role],
) -> ApiResult<Venue> {
    let mut admitted = vec![Role::VenueManager, Role::Admin];
    admitted.extend_from_slice(others);
    caller.require(&admitted)?;
    let venue = found(state, id).await?;
    if let Caller::Staff {
        account,
        role: Role::VenueManager,
    } = caller
        && account.id != venue.manager_id
    {
        return Err(ApiError::forbidden());
    }
    Ok(venue)
}

/// A venue and its freshly signed code's text (`HCV1:…`), for those who print venue codes.
pub async fn code(
    state: &AppState,
    caller: &Caller,
    id: &str,
    now: OffsetDateTime,
) -> ApiResult<(Venue, String)> {
    caller.require(&[Role::VenueManager, Role::HealthOfficial, Role::Admin])?;
    let venue = found(state, id).await?;
    let text = state.passes.venue_code(&venue, now).map_err(|e| {
        tracing::error!(error = %e, "venue code failed");
        ApiError::internal()
    })?;
    Ok((venue, text))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CheckpointRequest {
    pub name: String,
}

/// A new checkpoint and the token its scanner uses (shown once, stored only as a hash).
#[derive(Serialize, utoipa::ToSchema)]
pub struct NewCheckpoint {
    pub checkpoint: Checkpoint,
    pub token: String,
}

/// Registers a checkpoint at a venue the caller manages; its scanner's token is shown once.
pub async fn add_checkpoint(
    state: &AppState,
    caller: &Caller,
    venue_id: &str,
    req: CheckpointRequest,
    now: OffsetDateTime,
) -> ApiResult<NewCheckpoint> {
    managed(state, caller, venue_id, &[]).await?;
    if req.name.trim().is_empty() {
        return Err(ApiError::unprocessable(
            "bad_name",
            "name the checkpoint (e.g. Gate A)",
            "请填写卡口名称（如 A 口）",
        ));
    }
    let token = crate::auth::new_staff_token();
    let checkpoint = state
        .store
        .create_checkpoint(
            venue_id,
            req.name.trim(),
            &token,
            &caller.actor("checkpoint registration"),
            now,
        )
        .await?;
    Ok(NewCheckpoint { checkpoint, token })
}
