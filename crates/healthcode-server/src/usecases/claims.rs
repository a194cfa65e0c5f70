//! Document claims (证件冒用申诉): the way on when a resident's document is already enrolled under
//! another phone. The resident claims it with a reason; caseworkers check the holder in person and
//! uphold the claim (the record moves to the claimant's phone) or reject it, with a reason.

use crate::AppState;
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::usecases::appeals::reason;
use crate::usecases::people::{CASEWORKERS, document};
use healthcode_core::identity::DocumentKind;
use healthcode_store::DocumentClaim;
use time::OffsetDateTime;

/// What a resident claims: their document, and why it is theirs.
pub struct ClaimRequest {
    pub document_kind: DocumentKind,
    pub document_number: String,
    pub country: Option<String>,
    pub reason: String,
}

/// Files a claim from the phone the resident logged in with (`phone`, which must be that phone).
pub async fn file(
    state: &AppState,
    caller: &Caller,
    phone: Option<&str>,
    req: ClaimRequest,
    now: OffsetDateTime,
) -> ApiResult<DocumentClaim> {
    let Caller::Resident {
        phone_index,
        people,
        ..
    } = caller
    else {
        return Err(ApiError::forbidden());
    };
    let why = reason(&req.reason)?;
    let doc = document(
        req.document_kind,
        &req.document_number,
        req.country.as_deref(),
        now,
    )?;
    let phone = phone
        .map(crate::usecases::people::normalise_phone)
        .transpose()?
        .ok_or_else(|| {
            ApiError::unprocessable(
                "phone_required",
                "give the phone number you logged in with",
                "请填写登录所用的手机号",
            )
        })?;
    if state.store.phone_index_of(&phone) != *phone_index {
        return Err(ApiError::forbidden());
    }
    let person = state.store.find_by_document(&doc).await?.ok_or_else(|| {
        ApiError::unprocessable(
            "not_enrolled",
            "no one has enrolled this document: enroll it yourself",
            "该证件尚未被申领，请直接申领",
        )
    })?;
    if people.iter().any(|p| p.id == person.id) {
        return Err(ApiError::unprocessable(
            "already_yours",
            "this document is enrolled under your phone already",
            "该证件已在您的手机号下",
        ));
    }
    state
        .store
        .file_document_claim(&person, &phone, why, &caller.actor("document claim"), now)
        .await
        .map_err(|e| match e {
            healthcode_store::StoreError::Conflict(_) => ApiError::new(
                axum::http::StatusCode::CONFLICT,
                "claim_open",
                "you already have a claim open on this document",
                "您已对该证件提交申诉，请等待工作人员核实",
            ),
            other => other.into(),
        })
}

/// The claims filed from the caller's phone (a resident), or the open claims (caseworkers).
pub async fn list(state: &AppState, caller: &Caller) -> ApiResult<Vec<DocumentClaim>> {
    match caller {
        Caller::Resident { phone_index, .. } => {
            Ok(state.store.document_claims_of_phone(phone_index).await?)
        }
        Caller::Staff { .. } => {
            caller.require(&CASEWORKERS)?;
            Ok(state.store.open_document_claims(500).await?)
        }
    }
}

/// Decides an open claim, after checking the holder's document in person.
pub async fn decide(
    state: &AppState,
    caller: &Caller,
    id: &str,
    upheld: bool,
    why: &str,
    now: OffsetDateTime,
) -> ApiResult<DocumentClaim> {
    caller.require(&CASEWORKERS)?;
    let why = reason(why)?;
    Ok(state
        .store
        .decide_document_claim(id, upheld, why, &caller.actor("document claim review"), now)
        .await?)
}
