//! Showing the code (亮码): a fresh signed pass for a person the caller may act for, with the
//! colour the policy gives at that moment, never another.

use crate::AppState;
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::usecases::people::{code_shown, current_status};
use time::OffsetDateTime;

/// A pass just issued, with the person and the status it was issued for.
pub struct Fresh {
    pub person: healthcode_store::Person,
    pub status: healthcode_core::Status,
    pub pass: healthcode_pass::pass::Pass,
    /// The QR code's text (`HCP1:…`).
    pub text: String,
}

/// Issues a pass for a person the caller may act for, with the colour the policy gives now
/// (`pending` while their enrollment is under review): the API's pass and the web page's.
pub async fn issue(
    state: &AppState,
    caller: &Caller,
    id: &str,
    now: OffsetDateTime,
) -> ApiResult<Fresh> {
    let (person, status) = current_status(state, caller, id, "pass.issue", now).await?;
    let (pass, text) = state
        .passes
        .issue(
            &person,
            code_shown(&person, &status),
            &status.policy_version,
            now,
        )
        .map_err(|e| {
            tracing::error!(error = %e, "pass issue failed");
            ApiError::internal()
        })?;
    Ok(Fresh {
        person,
        status,
        pass,
        text,
    })
}
