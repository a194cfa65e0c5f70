//! Declarations: the daily health declaration, which is the day's check-in (打卡), and trips,
//! past or planned. Self-declared facts, bounded by the node's clock.

use crate::AppState;
use crate::auth::Caller;
use crate::body::{instant, rfc3339};
use crate::error::{ApiError, ApiResult};
use crate::usecases::people::{CASEWORKERS, may_act_for};
use crate::usecases::recording::{self, Via};
use healthcode_core::{Fact, FactBody};
use healthcode_store::{BatchItem, StoreError};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeclarationRequest {
    /// Degrees Celsius, e.g. 36.6.
    #[serde(default)]
    #[schema(minimum = 30.0, maximum = 45.0)]
    pub temperature_c: Option<f64>,
    /// At most 20, each at most 64 characters, e.g. `cough`.
    #[serde(default)]
    #[schema(max_items = 20)]
    pub symptoms: Vec<String>,
    /// At most 200 characters.
    #[serde(default)]
    pub address: Option<String>,
    /// The county-level division lived in (现居住区县), a GB/T 2260 code, e.g. `330106`.
    #[serde(default)]
    #[schema(pattern = "^[0-9]{6}$")]
    pub district: Option<String>,
}

/// What a declaration answers: the declaration, and the day it counts for as the daily
/// check-in (打卡).
#[derive(Serialize, utoipa::ToSchema)]
pub struct Declared {
    pub id: String,
    #[schema(format = DateTime)]
    pub recorded_at: String,
    pub checkin: DailyCheckin,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct DailyCheckin {
    /// The local day (the policy's offset) the check-in counts for: today, by the node's clock.
    pub date: String,
    /// False when the person had already checked in today: a day counts once.
    pub first_today: bool,
}

fn too_long(code: &'static str, en: &str, zh: &str) -> ApiError {
    ApiError::unprocessable(code, en, zh)
}

/// The daily health declaration (健康申报), which is also the day's check-in (每日打卡), as
/// 京心相助 made it: a self-declared fact, and a check-in fact for today by the node's clock,
/// once per local day.
pub async fn declare(
    state: &AppState,
    caller: &Caller,
    person_id: &str,
    req: DeclarationRequest,
    now: OffsetDateTime,
) -> ApiResult<Declared> {
    may_act_for(caller, person_id, &CASEWORKERS)?;
    recording::may_record(caller, "declaration", Via::Declaration)?;
    let temperature = req.temperature_c.map(decicelsius).transpose()?;
    let symptoms: Vec<String> = req.symptoms.iter().map(|s| s.trim().to_owned()).collect();
    if symptoms.len() > 20
        || symptoms
            .iter()
            .any(|s| s.is_empty() || s.chars().count() > 64)
    {
        return Err(too_long(
            "bad_symptoms",
            "at most 20 symptoms, each of 1 to 64 characters",
            "症状最多 20 项，每项 1 至 64 个字符",
        ));
    }
    let address = req
        .address
        .map(|a| a.trim().to_owned())
        .filter(|a| !a.is_empty());
    if address.as_ref().is_some_and(|a| a.chars().count() > 200) {
        return Err(too_long(
            "bad_address",
            "an address has at most 200 characters",
            "地址最多 200 个字符",
        ));
    }
    let district = req.district.map(|d| d.trim().to_owned());
    if let Some(code) = &district
        && !healthcode_core::region::is_district(code)
    {
        return Err(ApiError::unprocessable(
            "bad_district",
            "district is the GB/T 2260 code of a county-level division, e.g. 330106",
            "现居住区县应为有效的行政区划代码，如 330106",
        ));
    }
    if state.store.person(person_id).await?.is_none() {
        return Err(ApiError::not_found("person"));
    }
    let declaration = Fact {
        id: recording::new_fact_id(now),
        recorded_at: now,
        legal_basis: SELF_DECLARED.to_owned(),
        body: FactBody::Declaration {
            temperature_decicelsius: temperature,
            symptoms,
            address,
            district,
        },
    };
    let (checkin_id, date) = daily_checkin(state, person_id, now);
    let checkin = Fact {
        id: checkin_id,
        recorded_at: now,
        legal_basis: SELF_DECLARED.to_owned(),
        body: FactBody::Checkin {
            date,
            at: now,
            observation_id: None,
        },
    };
    let item = |fact: &Fact| BatchItem {
        person_id: person_id.to_owned(),
        fact: fact.clone(),
    };
    let actor = caller.actor(SELF_DECLARED);
    let checked_in = |facts: Vec<Fact>| facts.iter().any(|f| f.id == checkin.id);
    let mut first_today = !checked_in(state.store.facts(person_id).await?);
    if first_today {
        let both = [item(&declaration), item(&checkin)];
        match state.store.record_facts(&both, &actor, now).await {
            // Another declaration checked in for today in between: this one only declares.
            Err(StoreError::Conflict(_)) => first_today = false,
            other => other?,
        }
    }
    if !first_today {
        state
            .store
            .record_fact(person_id, &declaration, &actor, now)
            .await?;
    }
    let recorded = [(person_id, &declaration), (person_id, &checkin)];
    crate::usecases::colours::after_facts(state, recorded, now).await;
    Ok(Declared {
        id: declaration.id,
        recorded_at: rfc3339(now),
        checkin: DailyCheckin {
            date: date.to_string(),
            first_today,
        },
    })
}

/// Today's check-in of a person: its id (one a local day, so a second one cannot land) and the
/// local day, by the node's clock in the policy's offset.
pub fn daily_checkin(
    state: &AppState,
    person_id: &str,
    now: OffsetDateTime,
) -> (String, time::Date) {
    let date = now
        .checked_to_offset(state.policy.at(now).display_offset())
        .unwrap_or(now)
        .date();
    (format!("checkin-{person_id}-{date}"), date)
}

/// Whether the person has checked in today (made today's declaration).
pub async fn checked_in_today(
    state: &AppState,
    person_id: &str,
    now: OffsetDateTime,
) -> ApiResult<bool> {
    let (id, _) = daily_checkin(state, person_id, now);
    Ok(state
        .store
        .facts(person_id)
        .await?
        .iter()
        .any(|f| f.id == id))
}

/// The legal basis of what a person declares about themselves.
pub const SELF_DECLARED: &str = "self-declared";

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TripRequest {
    /// Where from and to: a GB/T 2260 code or a place name (1 to 100 characters).
    #[schema(min_length = 1, max_length = 100, pattern = r"\S")]
    pub origin: String,
    #[schema(min_length = 1, max_length = 100, pattern = r"\S")]
    pub destination: String,
    #[serde(default)]
    #[schema(format = DateTime)]
    pub departed_at: Option<String>,
    /// RFC 3339; a planned trip lies ahead (at most a year).
    #[schema(format = DateTime)]
    pub arrived_at: String,
    #[serde(default)]
    pub abroad: bool,
}

/// A trip declaration, past or planned (行程申报), recorded as a self-declared fact.
pub async fn declare_trip(
    state: &AppState,
    caller: &Caller,
    person_id: &str,
    req: TripRequest,
    now: OffsetDateTime,
) -> ApiResult<Fact> {
    may_act_for(caller, person_id, &CASEWORKERS)?;
    recording::may_record(caller, "trip", Via::Declaration)?;
    let place = |p: &str| {
        let p = p.trim();
        if p.is_empty() || p.chars().count() > 100 {
            Err(ApiError::unprocessable(
                "bad_place",
                "a trip's origin and destination have 1 to 100 characters",
                "行程的出发地和目的地应为 1 至 100 个字符",
            ))
        } else {
            Ok(p.to_owned())
        }
    };
    let body = FactBody::Trip {
        origin: place(&req.origin)?,
        destination: place(&req.destination)?,
        departed_at: req
            .departed_at
            .as_deref()
            .map(|t| instant("departed_at", t))
            .transpose()?,
        arrived_at: instant("arrived_at", &req.arrived_at)?,
        abroad: req.abroad,
    };
    recording::check_times(&body, &recording::bounds(state, now))?;
    let fact = Fact {
        id: recording::new_fact_id(now),
        recorded_at: now,
        legal_basis: SELF_DECLARED.to_owned(),
        body,
    };
    let fact = recording::record(state, caller, person_id, fact, now).await?;
    Ok(fact)
}

/// A body temperature in °C as facts and rules compare it: tenths of a degree, 30 to 45 °C.
pub fn decicelsius(t: f64) -> ApiResult<i64> {
    if (30.0..=45.0).contains(&t) {
        Ok((t * 10.0).round() as i64)
    } else {
        Err(ApiError::unprocessable(
            "bad_temperature",
            "a body temperature is between 30 and 45 °C",
            "体温应在 30 至 45 °C 之间",
        ))
    }
}
