//! The return journey, its second half: the arrival scan at the station, the hand-offs from the
//! station to the person's door, each confirmed by the side that receives (by the application's
//! number or by scanning the person's pass), home observation as the community worker sees it
//! each day, and the journey's figures for the console.

use crate::AppState;
use crate::auth::{Caller, Role};
use crate::error::{ApiError, ApiResult};
use crate::usecases::returns::{one, scope_of, step_message, text};
use healthcode_core::facts::ObservationKind;
use healthcode_core::returns::{self, ReturnState, Stage};
use healthcode_core::visits::parameter_i64;
use healthcode_core::{Fact, FactBody};
use healthcode_pass::pass::Pass;
use healthcode_pass::verify::Content;
use healthcode_store::{BatchItem, ExpectedArrivals, NewStep, ReturnApplication};
use serde::{Deserialize, Serialize};
use time::{Date, Duration, OffsetDateTime};

/// The person a scanned pass names, when it is a valid pass of a region this node trusts.
async fn passenger(state: &AppState, text: &str, now: OffsetDateTime) -> ApiResult<(Pass, String)> {
    let report = state.passes.verify(text.trim(), now);
    let pass = match (&report.content, report.valid) {
        (Some(Content::Pass(pass)), true) => pass.clone(),
        _ => {
            let why = crate::scanning::distrust(&report);
            return Err(ApiError::unprocessable(
                "bad_pass",
                format!("not a valid pass ({}): {}", why.code, why.message),
                format!("不是有效的健康码：{}", why.message_zh),
            ));
        }
    };
    let subject = hex::encode(&pass.subject);
    let person_id = state
        .store
        .people_by_pseudonym(std::slice::from_ref(&subject))
        .await?
        .remove(&subject)
        .ok_or_else(not_travelling)?;
    Ok((pass, person_id))
}

/// A station's arrival scan: the pass of one returning person and their temperature.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ArrivalRequest {
    /// The pass's QR text, as scanned.
    pub text: String,
    /// Degrees Celsius, 30 to 45 (as declarations take it).
    #[schema(minimum = 30.0, maximum = 45.0)]
    pub temperature_c: f64,
    /// The arrival station.
    #[schema(min_length = 1, max_length = 64)]
    pub station: String,
}

/// What the station's checkpoint sees after an arrival scan.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Arrival {
    pub application: ReturnApplication,
    pub masked_name: String,
    /// True: to the fever clinic, not home.
    pub fever: bool,
}

/// A station checkpoint scans a returning person's pass and takes their temperature. With a
/// normal temperature the person's home observation starts (an observation fact for the
/// policy's `return_observation_days`, which the policy ends by itself); with a fever their
/// temperature is recorded as a declaration the policy judges, and the family goes to the
/// fever clinic hand-off instead of home.
pub async fn arrival(
    state: &AppState,
    caller: &Caller,
    req: ArrivalRequest,
    now: OffsetDateTime,
) -> ApiResult<Arrival> {
    caller.require(&[Role::Checkpoint])?;
    let t = crate::usecases::declarations::decicelsius(req.temperature_c)?;
    let station = text("station", &req.station, 64, true)?;
    let (pass, person_id) = passenger(state, &req.text, now).await?;
    let app = state
        .store
        .returns_of_person(&person_id)
        .await?
        .into_iter()
        .find(|a| matches!(a.state, ReturnState::Approved | ReturnState::Arrived))
        .ok_or_else(not_travelling)?;
    let policy = state.policy.at(now);
    let policy = policy.document();
    let fever = t >= parameter_i64(policy, "fever_threshold_decicelsius", 373);
    let to = returns::arrive(app.state, fever).map_err(|_| not_travelling())?;
    let reading = format!("{}.{} °C", t / 10, t % 10);
    let note = format!("{} {reading}, {station}", pass.masked_name);
    let message = if fever {
        step_message(
            format!("您已抵达{station}，体温 {reading}，请随工作人员前往发热门诊。"),
            format!(
                "You arrived at {station} with a temperature of {reading}: staff will take you to the fever clinic."
            ),
        )
    } else {
        step_message(
            format!(
                "您已抵达{station}（已进入），接站人员将送您回社区，到家后开始居家观察并每日打卡。"
            ),
            format!(
                "You arrived at {station}. The reception team takes you to your community; home observation with a daily check-in starts."
            ),
        )
    };
    let step = NewStep {
        kind: "arrival",
        outcome: if fever { "fever" } else { "normal" },
        note: &note,
        from: app.state,
        to,
        touches: true,
        message,
    };
    let actor = caller.actor("arrival check at the station");
    let application = state
        .store
        .add_return_step(&app.id, &step, &actor, now)
        .await?;
    let basis = format!("return application {} arrival check at {station}", app.id);
    let body = if fever {
        FactBody::Declaration {
            temperature_decicelsius: Some(t),
            symptoms: vec!["fever".into()],
            address: None,
            // The district of the community the person returns to.
            district: app.community.get(..6).map(str::to_owned),
        }
    } else {
        home_observation(state, now)
    };
    record(state, &[person_id], &basis, body, &actor, now).await?;
    Ok(Arrival {
        application,
        masked_name: pass.masked_name,
        fever,
    })
}

/// Home observation from `now` for the policy's `return_observation_days`: a fact the policy
/// itself ends, so that nobody types the release.
fn home_observation(state: &AppState, now: OffsetDateTime) -> FactBody {
    FactBody::Observation {
        kind: ObservationKind::Home,
        start_at: now,
        end_at: Some(now + observation_days(state, now)),
    }
}

/// How long home observation lasts after a return, by the policy in effect at `now`.
pub fn observation_days(state: &AppState, now: OffsetDateTime) -> Duration {
    let days = parameter_i64(
        state.policy.at(now).document(),
        "return_observation_days",
        14,
    );
    Duration::days(days)
}

/// Records the same fact for each of these people, and derives their colours again.
async fn record(
    state: &AppState,
    people: &[String],
    basis: &str,
    body: FactBody,
    actor: &healthcode_store::Actor,
    now: OffsetDateTime,
) -> ApiResult<()> {
    let items: Vec<BatchItem> = people
        .iter()
        .map(|person_id| BatchItem {
            person_id: person_id.clone(),
            fact: Fact {
                id: crate::usecases::recording::new_fact_id(now),
                recorded_at: now,
                legal_basis: basis.to_owned(),
                body: body.clone(),
            },
        })
        .collect();
    if items.is_empty() {
        return Ok(());
    }
    state.store.record_facts(&items, actor, now).await?;
    crate::usecases::colours::after_facts(
        state,
        items.iter().map(|i| (i.person_id.as_str(), &i.fact)),
        now,
    )
    .await;
    Ok(())
}

/// The end of the legal basis of an observation started at the community's door, for someone
/// the station did not check.
const UNCHECKED: &str = "received by the community without a check at the station";

fn not_travelling() -> ApiError {
    ApiError::conflict(
        "not_travelling",
        "this person has no approved return application to arrive on",
        "此人没有已通过的返程申请",
    )
}

/// A hand-off confirmed by the side that receives the person.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HandoffRequest {
    pub stage: Stage,
    #[serde(default)]
    #[schema(max_length = 500)]
    pub note: String,
}

/// The receiving side confirms it has the person: the district's reception team (a worker
/// scoped to the district), then the street office, then the community, in that order. The
/// community's receipt starts nothing new: the observation began at the station and ends by the
/// policy.
pub async fn handoff(
    state: &AppState,
    caller: &Caller,
    id: &str,
    req: HandoffRequest,
    now: OffsetDateTime,
) -> ApiResult<ReturnApplication> {
    let app = one(state, caller, id).await?;
    let scope = scope_of(state, caller).await?;
    if scope.split('-').count() != req.stage.scope_parts() {
        return Err(ApiError::new(
            axum::http::StatusCode::FORBIDDEN,
            "wrong_stage",
            format!(
                "a {} hand-off is received by an account of that level",
                req.stage.as_str()
            ),
            "该环节须由相应层级（区、街道或社区）的账号确认接收",
        ));
    }
    let to = returns::receive(app.state, req.stage).map_err(|_| {
        ApiError::conflict(
            "out_of_order",
            format!(
                "the person is {}: not the {} hand-off's turn",
                app.state.as_str(),
                req.stage.as_str()
            ),
            "交接须按 车站 → 区 → 街道 → 社区 的顺序确认",
        )
    })?;
    let note = text("note", &req.note, 500, false)?;
    let (zh, en) = match req.stage {
        Stage::District => ("区接站组", "the district's reception team"),
        Stage::Street => ("街道", "the street office"),
        Stage::Community => ("社区", "your community"),
    };
    let step = NewStep {
        kind: "handoff",
        outcome: req.stage.as_str(),
        note: &note,
        from: app.state,
        to,
        touches: true,
        message: step_message(
            format!("{zh}已接收您。"),
            format!("You were received by {en}."),
        ),
    };
    let actor = caller.actor("return hand-off");
    let received = state.store.add_return_step(id, &step, &actor, now).await?;
    if req.stage == Stage::Community {
        // Nobody gets home without observation: whoever of the family the station did not
        // check starts it at the door.
        let prefix = format!("return application {id} ");
        let facts = state.store.facts_of_people(&app.members).await?;
        let unchecked: Vec<String> = app
            .members
            .iter()
            .filter(|m| {
                !facts.get(*m).is_some_and(|fs| {
                    fs.iter().any(|f| {
                        matches!(f.body, FactBody::Observation { .. })
                            && f.legal_basis.starts_with(&prefix)
                    })
                })
            })
            .cloned()
            .collect();
        let basis = format!("{prefix}{UNCHECKED}");
        record(
            state,
            &unchecked,
            &basis,
            home_observation(state, now),
            &actor,
            now,
        )
        .await?;
    }
    Ok(received)
}

/// A hand-off confirmed by scanning the person's pass instead of entering the application's
/// number.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HandoffScan {
    /// The pass's QR text, as scanned.
    pub text: String,
    pub stage: Stage,
    #[serde(default)]
    #[schema(max_length = 500)]
    pub note: String,
}

/// The receiving side scans the person's pass: the hand-off of the application they travel on.
pub async fn handoff_by_pass(
    state: &AppState,
    caller: &Caller,
    req: HandoffScan,
    now: OffsetDateTime,
) -> ApiResult<ReturnApplication> {
    caller.require(&[Role::CommunityWorker])?;
    let (_, person_id) = passenger(state, &req.text, now).await?;
    let app = state
        .store
        .returns_of_person(&person_id)
        .await?
        .into_iter()
        .find(|a| returns::in_transit(a.state))
        .ok_or_else(not_travelling)?;
    let request = HandoffRequest {
        stage: req.stage,
        note: req.note,
    };
    handoff(state, caller, &app.id, request, now).await
}

/// One person under home observation, as their community worker sees them today.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Observed {
    pub application_id: String,
    pub person_id: String,
    pub masked_name: String,
    pub community: String,
    /// Today's day of observation, from 1, of `days`.
    pub day: i64,
    pub days: i64,
    #[serde(with = "time::serde::rfc3339")]
    pub started_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub ends_at: OffsetDateTime,
    pub checked_in_today: bool,
    #[serde(with = "time::serde::rfc3339::option")]
    pub last_checkin_at: Option<OffsetDateTime>,
    /// What today's declaration said, if there was one.
    pub temperature_c: Option<f64>,
    pub symptoms: Vec<String>,
    /// No check-in within the policy's `checkin_deadline_hours`: the code is yellow until
    /// they check in, and the worker should call.
    pub missed: bool,
    /// A fever or symptoms declared today: the code is yellow and a test follows.
    pub fever: bool,
    /// The observation days are over: the policy released the code.
    pub released: bool,
    /// False when the station did not check them: their observation began at the door.
    pub checked_at_station: bool,
    pub colour: String,
}

/// Today's check-ins of everyone under home observation in the worker's scope, those who need a
/// call first.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ObservationBoard {
    pub date: Date,
    pub people: Vec<Observed>,
}

/// The community worker's board of home observation: for each person the station sent home,
/// the day, today's check-in, what it said, and whether they missed one.
pub async fn observation(
    state: &AppState,
    caller: &Caller,
    now: OffsetDateTime,
) -> ApiResult<ObservationBoard> {
    let scope = scope_of(state, caller).await?;
    let policy = state.policy.at(now);
    let offset = policy.display_offset();
    let policy = policy.document();
    let deadline = Duration::hours(parameter_i64(policy, "checkin_deadline_hours", 36));
    let threshold = parameter_i64(policy, "fever_threshold_decicelsius", 373);
    let local = |t: OffsetDateTime| t.checked_to_offset(offset).unwrap_or(t).date();
    let today = local(now);
    let applications: Vec<ReturnApplication> = state
        .store
        .returns_in_scope(&scope, 10_000)
        .await?
        .into_iter()
        .filter(|a| returns::in_transit(a.state) || a.state == ReturnState::Observing)
        .collect();
    let ids: Vec<String> = applications
        .iter()
        .flat_map(|a| a.members.clone())
        .collect();
    let mut facts = state.store.facts_of_people(&ids).await?;
    let mut people = Vec::new();
    for app in &applications {
        let basis = format!("return application {} ", app.id);
        for person_id in &app.members {
            let facts = facts.remove(person_id).unwrap_or_default();
            let Some((started_at, ends_at, checked)) =
                facts.iter().rev().find_map(|f| match f.body {
                    FactBody::Observation {
                        kind: ObservationKind::Home,
                        start_at,
                        end_at: Some(end_at),
                    } if f.legal_basis.starts_with(&basis) => {
                        Some((start_at, end_at, !f.legal_basis.ends_with(UNCHECKED)))
                    }
                    _ => None,
                })
            else {
                continue; // not sent home (a fever at the station, or not yet scanned)
            };
            let checkins: Vec<(Date, OffsetDateTime)> = facts
                .iter()
                .filter_map(|f| match f.body {
                    FactBody::Checkin { date, at, .. } if at >= started_at => Some((date, at)),
                    _ => None,
                })
                .collect();
            let last_checkin_at = checkins.iter().map(|c| c.1).max();
            let declared = facts.iter().rev().find_map(|f| match &f.body {
                FactBody::Declaration {
                    temperature_decicelsius,
                    symptoms,
                    ..
                } if local(f.recorded_at) == today => {
                    Some((*temperature_decicelsius, symptoms.clone()))
                }
                _ => None,
            });
            let (temperature, symptoms) = declared.unwrap_or((None, Vec::new()));
            let released = ends_at <= now;
            let person = state.store.person(person_id).await?;
            people.push(Observed {
                application_id: app.id.clone(),
                person_id: person_id.clone(),
                masked_name: person.map(|p| p.name_masked).unwrap_or_default(),
                community: app.community.clone(),
                day: (today - local(started_at)).whole_days() + 1,
                days: (ends_at - started_at).whole_days(),
                started_at,
                ends_at,
                checked_in_today: checkins.iter().any(|c| c.0 == today),
                last_checkin_at,
                temperature_c: temperature.map(|t| t as f64 / 10.0),
                fever: temperature.is_some_and(|t| t >= threshold) || !symptoms.is_empty(),
                symptoms,
                missed: !released && last_checkin_at.unwrap_or(started_at) + deadline <= now,
                released,
                checked_at_station: checked,
                colour: state.policy.evaluate(&facts, now).color.as_str().to_owned(),
            });
        }
    }
    // Each person's health data read is on their audit record, as any staff read is.
    let read: Vec<String> = people.iter().map(|p| p.person_id.clone()).collect();
    state
        .store
        .audit_each(
            &caller.actor("home observation board"),
            "return.observation.read",
            &read,
            "today's check-in and declaration read on the observation board",
            now,
        )
        .await?;
    // Who needs a call first: a missed check-in, then a fever, then the rest by day.
    people.sort_by_key(|p| (!p.missed, !p.fever, p.released, -p.day));
    Ok(ObservationBoard {
        date: today,
        people,
    })
}

/// One bar of the funnel: the people who reached this stage of the journey.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct FunnelStage {
    pub stage: &'static str,
    pub zh: &'static str,
    pub en: &'static str,
    pub people: i64,
}

/// An application that waits on someone, and on whom.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Waiting {
    pub application_id: String,
    pub state: ReturnState,
    pub community: String,
    pub people: usize,
    pub waits_on_zh: &'static str,
    pub waits_on_en: &'static str,
    #[serde(with = "time::serde::rfc3339")]
    pub since: OffsetDateTime,
    pub escalated: bool,
}

/// The return journey's figures for the console, in people.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Figures {
    /// The scope they cover: a district, street or community, or empty for the whole region.
    pub scope: String,
    /// Applied → approved → arrived → home → released, each counting who reached it.
    pub funnel: Vec<FunnelStage>,
    /// Between the station and their door: arrived, with the district or with the street.
    pub in_transit: i64,
    pub fever_clinic: i64,
    pub under_observation: i64,
    pub released: i64,
    pub rejected: i64,
    /// Expected by day and arrival station (bookings held or paid), and by day and district
    /// (approved applications' planned dates).
    pub by_station: Vec<ExpectedArrivals>,
    pub by_district: Vec<ExpectedArrivals>,
    /// What waits on whom, oldest first (at most 200).
    pub waiting: Vec<Waiting>,
}

/// Who may read the figures and over what: a community worker their scope, health officials
/// and administrators the whole region.
async fn figures_scope(state: &AppState, caller: &Caller) -> ApiResult<String> {
    caller.require(&[Role::CommunityWorker, Role::HealthOfficial, Role::Admin])?;
    match caller {
        Caller::Staff {
            role: Role::CommunityWorker,
            ..
        } => scope_of(state, caller).await,
        _ => Ok(String::new()),
    }
}

/// The figures of the journey: the funnel, who is where, who is expected, what waits on whom.
pub async fn figures(state: &AppState, caller: &Caller, now: OffsetDateTime) -> ApiResult<Figures> {
    let scope = figures_scope(state, caller).await?;
    let f = state
        .store
        .return_figures(&scope, observation_days(state, now), now)
        .await?;
    let count = |pick: &dyn Fn(ReturnState) -> bool| -> i64 {
        f.by_state
            .iter()
            .filter(|(s, _)| pick(*s))
            .map(|(_, n)| n)
            .sum()
    };
    let arrived = |s| {
        returns::in_transit(s) || matches!(s, ReturnState::FeverClinic | ReturnState::Observing)
    };
    let funnel = vec![
        FunnelStage {
            stage: "applied",
            zh: "已申请",
            en: "applied",
            people: count(&|_| true),
        },
        FunnelStage {
            stage: "approved",
            zh: "已通过",
            en: "approved",
            people: count(&|s| s == ReturnState::Approved || arrived(s)),
        },
        FunnelStage {
            stage: "arrived",
            zh: "已抵达",
            en: "arrived",
            people: count(&arrived),
        },
        FunnelStage {
            stage: "home",
            zh: "居家观察",
            en: "at home",
            people: count(&|s| s == ReturnState::Observing),
        },
        FunnelStage {
            stage: "released",
            zh: "已解除",
            en: "released",
            people: f.released,
        },
    ];
    let escalated = crate::usecases::returns::queue_in(state, &scope, now).await?;
    let waiting = escalated
        .applications
        .into_iter()
        .filter_map(|a| {
            let (zh, en) = match a.state {
                ReturnState::Submitted => ("社区核实", "the community to verify"),
                ReturnState::Approved => ("本人出行", "the traveller"),
                ReturnState::Arrived => ("区接站组", "the district's reception team"),
                ReturnState::WithDistrict => ("街道", "the street office"),
                ReturnState::WithStreet => ("社区接收", "the community to receive"),
                _ => return None,
            };
            Some(Waiting {
                escalated: escalated.escalated.contains(&a.id),
                since: a.steps.last().map_or(a.created_at, |s| s.at),
                people: a.members.len(),
                community: a.community,
                state: a.state,
                waits_on_zh: zh,
                waits_on_en: en,
                application_id: a.id,
            })
        })
        .take(200)
        .collect();
    Ok(Figures {
        in_transit: count(&returns::in_transit),
        fever_clinic: count(&|s| s == ReturnState::FeverClinic),
        under_observation: count(&|s| s == ReturnState::Observing) - f.released,
        released: f.released,
        rejected: count(&|s| s == ReturnState::Rejected),
        by_station: f.by_station,
        by_district: f.by_district,
        funnel,
        waiting,
        scope,
    })
}
