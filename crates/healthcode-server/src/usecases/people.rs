//! People: who may act for whom, enrollment under a document (or by a guardian), finding a
//! person, the colour the policy gives them now, and what the record says about them.

use crate::AppState;
use crate::auth::{Caller, Role};
use crate::error::{ApiError, ApiResult};
use healthcode_core::identity::{Document, DocumentKind};
use healthcode_core::{Color, Status};
use healthcode_store::{Enrollment, FactStamp, NewPerson, Person};
use serde::Deserialize;
use time::OffsetDateTime;

/// Staff who may read and change any person's record.
pub const CASEWORKERS: [Role; 3] = [Role::HealthOfficial, Role::CommunityWorker, Role::Admin];

/// Admits residents acting for this person, and the staff roles given.
pub fn may_act_for(caller: &Caller, person_id: &str, staff: &[Role]) -> ApiResult<()> {
    match caller {
        Caller::Resident { .. } if caller.acts_for(person_id) => Ok(()),
        Caller::Resident { .. } => Err(ApiError::forbidden()),
        Caller::Staff { .. } => caller.require(staff),
    }
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EnrollRequest {
    pub document_kind: DocumentKind,
    #[serde(default)]
    pub document_number: String,
    #[serde(default)]
    pub country: Option<String>,
    #[schema(min_length = 1, max_length = 64, pattern = r"\S")]
    pub name: String,
    #[serde(default)]
    #[schema(pattern = r"^(1[3-9][0-9]{9}|\+[0-9]{7,15})$")]
    pub phone: Option<String>,
    /// Enrolls a child in the care of this (already enrolled) person.
    #[serde(default)]
    pub guardian_id: Option<String>,
}

/// Enrollment. A resident enrolls themselves (under the phone they logged in with) or a child in
/// their care; staff may enroll anyone. A resident ID checked by its check character is confirmed
/// at once; other documents and children wait for staff to confirm them (审核中).
pub async fn enroll(
    state: &AppState,
    caller: &Caller,
    req: EnrollRequest,
    now: OffsetDateTime,
) -> ApiResult<Person> {
    let name = healthcode_core::identity::check_name(&req.name).ok_or_else(|| {
        ApiError::unprocessable(
            "bad_name",
            "a name is written as on the document: 1 to 64 letters, with spaces, hyphens, apostrophes or dots between, and no digits, symbols or invisible characters",
            "姓名应与证件一致：1 至 64 个字，可含空格、连字符、撇号或间隔号，不能含数字、符号或不可见字符",
        )
    })?;
    let document = document(
        req.document_kind,
        &req.document_number,
        req.country.as_deref(),
        now,
    )?;
    let phone = req.phone.as_deref().map(normalise_phone).transpose()?;
    if let Some(guardian) = &req.guardian_id {
        match caller {
            Caller::Resident { .. } if caller.acts_for(guardian) => {}
            Caller::Resident { .. } => return Err(ApiError::forbidden()),
            Caller::Staff { .. } => caller.require(&CASEWORKERS)?,
        }
        if state.store.person(guardian).await?.is_none() {
            return Err(ApiError::not_found("guardian"));
        }
    } else if req.document_kind == DocumentKind::None {
        return Err(ApiError::unprocessable(
            "guardian_required",
            "a person without a document is enrolled by a guardian",
            "无证件人员须由监护人代办",
        ));
    } else if let Some(age) = document.age_on(now.date())
        && age < healthcode_core::identity::OWN_ENROLLMENT_AGE
        && matches!(caller, Caller::Resident { .. })
    {
        return Err(ApiError::unprocessable(
            "child_needs_guardian",
            format!(
                "this document is a child's (under {}): a guardian enrolls it, as a child in their care",
                healthcode_core::identity::OWN_ENROLLMENT_AGE
            ),
            format!(
                "该证件持有人未满 {} 周岁，请由监护人以“为被监护的儿童申领”办理",
                healthcode_core::identity::OWN_ENROLLMENT_AGE
            ),
        ));
    }
    let enrollment = match caller {
        Caller::Resident { phone_index, .. } => {
            let phone = phone.as_deref().ok_or_else(|| {
                ApiError::unprocessable(
                    "phone_required",
                    "give the phone number you logged in with",
                    "请填写登录所用的手机号",
                )
            })?;
            if state.store.phone_index_of(phone) != *phone_index {
                return Err(ApiError::forbidden());
            }
            if req.document_kind == DocumentKind::ResidentId && req.guardian_id.is_none() {
                Enrollment::Confirmed
            } else {
                Enrollment::Pending
            }
        }
        Caller::Staff { .. } => {
            caller.require(&CASEWORKERS)?;
            Enrollment::Confirmed
        }
    };
    if let (Some(_), Caller::Resident { people, .. }) = (&req.guardian_id, caller)
        && req.document_kind == DocumentKind::None
    {
        already_in_care(state, caller, people, &name, now).await?;
    }
    let new = NewPerson {
        document,
        name,
        phone,
        guardian_id: req.guardian_id,
        enrollment,
    };
    let person = state
        .store
        .enroll(&new, &caller.actor("enrollment"), now)
        .await
        .map_err(|e| match e {
            healthcode_store::StoreError::Conflict(_) => ApiError::new(
                axum::http::StatusCode::CONFLICT,
                "document_enrolled",
                "this document is already enrolled; if it is yours and you did not enroll it, claim it and staff will check it with you",
                "该证件已被申领；如证件是您本人的而并非您申领，请提交证件申诉，工作人员将与您核实",
            ),
            other => other.into(),
        })?;
    Ok(person)
}

/// Refuses a second enrollment of a child without a document already on the phone: each such
/// child's name is opened (an audited read) and compared, spacing, dots and case aside.
async fn already_in_care(
    state: &AppState,
    caller: &Caller,
    people: &[Person],
    name: &str,
    now: OffsetDateTime,
) -> ApiResult<()> {
    // The same name however it is spaced, dotted or cased: 李四, 李 四, 李·四.
    let key = |n: &str| -> String {
        n.chars()
            .filter(|c| c.is_alphanumeric())
            .flat_map(char::to_lowercase)
            .collect()
    };
    let wanted = key(name);
    // Everyone on the phone: a child enrolled by the other parent on it counts too.
    for child in people
        .iter()
        .filter(|p| p.document_kind == DocumentKind::None && p.guardian_id.is_some())
    {
        let detail = state
            .store
            .person_detail(&child.id, &caller.actor("enrollment"), now)
            .await?;
        if key(&detail.name) == wanted {
            return Err(ApiError::conflict(
                "already_enrolled",
                format!(
                    "{} is already enrolled in your care",
                    detail.person.name_masked
                ),
                format!("{} 已由您代办登记，无需重复登记", detail.person.name_masked),
            ));
        }
    }
    Ok(())
}

/// Confirms an enrollment under review (审核): staff have checked the document.
pub async fn confirm(
    state: &AppState,
    caller: &Caller,
    id: &str,
    now: OffsetDateTime,
) -> ApiResult<()> {
    caller.require(&CASEWORKERS)?;
    state
        .store
        .confirm_enrollment(id, &caller.actor("identity check"), now)
        .await?;
    Ok(())
}

/// The person and the colour the policy gives them now, for a caller who may act for them. A
/// staff caller's read goes on the record the person can see (as `action`); a resident reading
/// their own (or their child's) data is not someone else looking at it.
pub async fn current_status(
    state: &AppState,
    caller: &Caller,
    id: &str,
    action: &str,
    now: OffsetDateTime,
) -> ApiResult<(Person, Status)> {
    may_act_for(caller, id, &CASEWORKERS)?;
    let person = match caller {
        // A resident's session already holds the people they act for.
        Caller::Resident { people, .. } => people.iter().find(|p| p.id == id).cloned(),
        Caller::Staff { .. } => state.store.person(id).await?,
    }
    .ok_or_else(|| ApiError::not_found("person"))?;
    if let Caller::Staff { .. } = caller {
        let actor = caller.actor("status query");
        state.store.audit(&actor, action, Some(id), "", now).await?;
    }
    let (reads, stamp) = match caller {
        Caller::Resident { reads, stamps, .. } => (reads, stamps.get(id).copied()),
        Caller::Staff { .. } => (&state.store, None),
    };
    Ok((person, status_of(state, reads, id, stamp, now).await?))
}

/// A person's status at `now`: the one kept from an earlier read while the person's facts, the
/// policy in effect and time still give it (`kept.rs`), else derived from the facts and kept.
pub async fn status_of(
    state: &AppState,
    store: &healthcode_store::Store,
    id: &str,
    stamp: Option<FactStamp>,
    now: OffsetDateTime,
) -> ApiResult<Status> {
    let stamp = match stamp {
        Some(read) => read,
        None => store.fact_stamp(id).await?,
    };
    let policy = state.policy.at(now);
    if let Some(status) = state.caches.statuses.get(id, stamp, &policy, now) {
        return Ok(status);
    }
    let facts = store.facts(id).await?;
    let status = policy.evaluate(&facts, now);
    crate::usecases::colours::note_undecided(state, id, &status);
    // Kept only when the facts read are the ones stamped (none landed in between).
    if facts.len() as i64 == stamp.count {
        state
            .caches
            .statuses
            .keep(id, stamp, &policy, &facts, &status, now);
    }
    Ok(status)
}

/// The code shown: the policy's colour (itself pending when a rule could not be judged), and
/// at least pending (审核中) while enrollment is under review; a red that applies stays red.
pub fn code_shown(person: &Person, status: &Status) -> Color {
    match person.enrollment {
        Enrollment::Pending => status.color.max(Color::Pending),
        Enrollment::Confirmed => status.color,
    }
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SearchRequest {
    /// A document to look for (with `document_number`, and `country` for a passport) …
    #[serde(default)]
    pub document_kind: Option<DocumentKind>,
    #[serde(default)]
    pub document_number: String,
    #[serde(default)]
    pub country: Option<String>,
    /// … or a phone: the adult who uses it and the children in their care.
    #[serde(default)]
    #[schema(pattern = r"^(1[3-9][0-9]{9}|\+[0-9]{7,15})$")]
    pub phone: Option<String>,
    /// Why the person is looked up: on the audit record the person reads.
    #[schema(min_length = 1, max_length = 200, pattern = r"\S")]
    pub purpose: String,
}

/// Finds people by document or by phone, compared through their blind indexes (the data stays
/// sealed). Each person found gets an audit entry with the purpose given; a search that finds no
/// one is audited too.
pub async fn find(
    state: &AppState,
    caller: &Caller,
    req: SearchRequest,
    now: OffsetDateTime,
) -> ApiResult<Vec<Person>> {
    caller.require(&CASEWORKERS)?;
    let purpose = req.purpose.trim();
    if purpose.is_empty() || purpose.chars().count() > 200 {
        return Err(ApiError::unprocessable(
            "purpose_required",
            "say why the person is looked up (1 to 200 characters): the person will read it",
            "请说明查询事由（1 至 200 个字符），本人可查看",
        ));
    }
    let (people, by) = match (req.document_kind, &req.phone) {
        (Some(kind), None) if kind != DocumentKind::None => {
            let document = document(kind, &req.document_number, req.country.as_deref(), now)?;
            let found = state.store.find_by_document(&document).await?;
            (found.into_iter().collect::<Vec<_>>(), "document")
        }
        (None, Some(phone)) => {
            let phone = normalise_phone(phone)?;
            (state.store.find_by_phone(&phone).await?, "phone")
        }
        _ => {
            return Err(ApiError::unprocessable(
                "search_key_required",
                "give a document (document_kind and document_number) or a phone, one of the two",
                "请提供证件（类型与号码）或手机号，二者选一",
            ));
        }
    };
    let actor = caller.actor(purpose);
    let detail = format!("found by {by}");
    for person in &people {
        state
            .store
            .audit(&actor, "people.search", Some(&person.id), &detail, now)
            .await?;
    }
    if people.is_empty() {
        let detail = format!("no one found by {by}");
        state
            .store
            .audit(&actor, "people.search", None, &detail, now)
            .await?;
    }
    Ok(people)
}

/// The audit entries about a person: what they read under "who read my data". Staff reads of it
/// are themselves audited.
pub async fn audit_of(
    state: &AppState,
    caller: &Caller,
    person_id: &str,
    now: OffsetDateTime,
) -> ApiResult<Vec<crate::usecases::audit_lines::AuditLine>> {
    may_act_for(caller, person_id, &[Role::Auditor, Role::Admin])?;
    if let Caller::Staff { .. } = caller {
        state
            .store
            .audit(
                &caller.actor("audit review"),
                "audit.read",
                Some(person_id),
                "",
                now,
            )
            .await?;
    }
    let entries = state.store.audit_about(person_id).await?;
    crate::usecases::audit_lines::lines(state, entries).await
}

/// A mainland mobile number (11 digits starting 13–19) or an international one (+ and 7–15
/// digits), normalised without spaces or dashes.
pub fn normalise_phone(raw: &str) -> ApiResult<String> {
    let phone: String = raw.chars().filter(|c| !matches!(c, ' ' | '-')).collect();
    let mainland = phone.len() == 11
        && phone.starts_with('1')
        && matches!(phone.as_bytes()[1], b'3'..=b'9')
        && phone.bytes().all(|b| b.is_ascii_digit());
    let international = phone
        .strip_prefix('+')
        .is_some_and(|d| (7..=15).contains(&d.len()) && d.bytes().all(|b| b.is_ascii_digit()));
    if mainland || international {
        Ok(phone)
    } else {
        Err(ApiError::unprocessable(
            "bad_phone",
            "a phone number is 11 digits starting with 13–19, or + and 7 to 15 digits",
            "手机号应为 13–19 开头的 11 位数字，或 + 加 7 至 15 位数字",
        ))
    }
}

/// A document as a client gave it, checked (a resident ID by its check character, a permit or a
/// passport by its pattern, an age against today), or the reason it is refused.
pub fn document(
    kind: DocumentKind,
    number: &str,
    country: Option<&str>,
    now: OffsetDateTime,
) -> ApiResult<Document> {
    Document::parse(kind, number, country, now.date())
        .map_err(|e| ApiError::unprocessable(e.code, e.en, e.zh))
}
