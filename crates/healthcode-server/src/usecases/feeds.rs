//! Department feeds (数据共享): lab results and the telecom itinerary. Each row stands alone: a
//! bad row gets its own error and the good ones land, idempotently, so a file can be delivered
//! again after a failure without doubling anything. Who may deliver which feed is the recording
//! table's (`recording::PERMITS`).

use crate::AppState;
use crate::auth::Caller;
use crate::body::instant;
use crate::error::{ApiError, ApiResult};
use crate::usecases::colours::after_facts;
use crate::usecases::people::{self, normalise_phone};
use crate::usecases::recording::{self, Via};
use healthcode_core::facts::TestOutcome;
use healthcode_core::identity::DocumentKind;
use healthcode_core::{Fact, FactBody};
use healthcode_store::{BatchItem, Delivered};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use time::{Date, OffsetDateTime};

/// Rows per request at most; the command-line import sends files in requests of 1,000.
pub const MAX_ROWS: usize = 10_000;

/// Who may deliver a feed: the recording table (`recording::PERMITS`), which admits health
/// officials to every feed and a department account to the feeds it was granted.
fn may_deliver(caller: &Caller, feed: &'static str, kind: &str) -> ApiResult<()> {
    recording::may_record(caller, kind, Via::Feed(feed))
}

/// A rejected row: its place in the request, and why.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Rejected {
    pub index: usize,
    pub code: &'static str,
    pub message: String,
    pub message_zh: String,
}

impl Rejected {
    fn new(index: usize, e: ApiError) -> Rejected {
        Rejected {
            index,
            code: e.code,
            message: e.en,
            message_zh: e.zh,
        }
    }
}

/// What a delivery did: counts, and every rejected row with its reason.
#[derive(Debug, Default, Serialize, utoipa::ToSchema)]
pub struct FeedReport {
    pub received: usize,
    /// Facts recorded now.
    pub recorded: usize,
    /// Facts already on record, unchanged (a delivery sent again).
    pub duplicates: usize,
    pub rejected: Vec<Rejected>,
}

fn too_many(n: usize) -> ApiResult<()> {
    if n > MAX_ROWS {
        return Err(ApiError::unprocessable(
            "too_many_rows",
            format!("at most {MAX_ROWS} rows per request, not {n}"),
            format!("每次最多 {MAX_ROWS} 行，收到 {n} 行"),
        ));
    }
    Ok(())
}

fn row<T: serde::de::DeserializeOwned>(value: Value) -> ApiResult<T> {
    serde_json::from_value(value).map_err(|e| {
        ApiError::unprocessable(
            "bad_row",
            format!("not a valid row: {e}"),
            format!("不是有效的数据行：{e}"),
        )
    })
}

/// Turns each row into its facts, or its rejection: one bad row never stops the others.
async fn each_row<F, Fut>(
    rows: Vec<Value>,
    mut facts_of: F,
) -> (Vec<(usize, BatchItem)>, Vec<Rejected>)
where
    F: FnMut(Value) -> Fut,
    Fut: std::future::Future<Output = ApiResult<Vec<BatchItem>>>,
{
    let (mut facts, mut rejected) = (Vec::new(), Vec::new());
    for (index, value) in rows.into_iter().enumerate() {
        match facts_of(value).await {
            Ok(items) => facts.extend(items.into_iter().map(|item| (index, item))),
            Err(e) => rejected.push(Rejected::new(index, e)),
        }
    }
    (facts, rejected)
}

/// Lands the facts of the rows that passed, records the outcome of each, and re-derives the
/// colours of the people concerned.
async fn deliver(
    state: &AppState,
    caller: &Caller,
    purpose: &str,
    received: usize,
    facts: Vec<(usize, BatchItem)>,
    mut rejected: Vec<Rejected>,
    now: OffsetDateTime,
) -> ApiResult<FeedReport> {
    let items: Vec<BatchItem> = facts.iter().map(|(_, item)| item.clone()).collect();
    let outcomes = state
        .store
        .deliver_facts(&items, &caller.actor(purpose), now)
        .await?;
    let mut report = FeedReport {
        received,
        ..FeedReport::default()
    };
    let mut landed = Vec::new();
    for ((index, item), outcome) in facts.iter().zip(outcomes) {
        match outcome {
            Delivered::Recorded => {
                report.recorded += 1;
                landed.push(item);
            }
            Delivered::Duplicate => report.duplicates += 1,
            Delivered::Conflict => rejected.push(Rejected::new(
                *index,
                ApiError::unprocessable(
                    "conflicting_row",
                    format!("a different fact is already on record as {}", item.fact.id),
                    format!("已有不同的记录 {}", item.fact.id),
                ),
            )),
        }
    }
    after_facts(
        state,
        landed.iter().map(|i| (i.person_id.as_str(), &i.fact)),
        now,
    )
    .await;
    rejected.sort_by_key(|r| r.index);
    report.rejected = rejected;
    Ok(report)
}

/// Lab results (`lab_results` feed), idempotent by sample id.
pub async fn lab_results(
    state: &AppState,
    caller: &Caller,
    rows: Vec<Value>,
    legal_basis: &str,
    now: OffsetDateTime,
) -> ApiResult<FeedReport> {
    may_deliver(caller, "lab_results", "test")?;
    let basis = recording::legal_basis(legal_basis)?;
    too_many(rows.len())?;
    let received = rows.len();
    let (facts, rejected) = each_row(rows, |value| async {
        lab_fact(state, value, &basis, now)
            .await
            .map(|item| vec![item])
    })
    .await;
    deliver(state, caller, &basis, received, facts, rejected, now).await
}

/// Telecom itineraries (`itinerary` feed): per phone number, the cities of the last 14 days.
/// Each (person, city, day) lands once; the people are those enrolled under the phone number
/// as its holder (not the children in their care).
pub async fn itineraries(
    state: &AppState,
    caller: &Caller,
    rows: Vec<Value>,
    legal_basis: &str,
    now: OffsetDateTime,
) -> ApiResult<FeedReport> {
    may_deliver(caller, "itinerary", "itinerary")?;
    let basis = recording::legal_basis(legal_basis)?;
    too_many(rows.len())?;
    let received = rows.len();
    let (facts, rejected) =
        each_row(rows, |value| itinerary_facts(state, value, &basis, now)).await;
    deliver(state, caller, &basis, received, facts, rejected, now).await
}

/// One nucleic-acid test result (核酸检测结果).
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LabResult {
    /// Unique per sample: a sample delivered twice lands once.
    sample_id: String,
    document_kind: DocumentKind,
    document_number: String,
    #[serde(default)]
    country: Option<String>,
    result: TestOutcome,
    #[schema(format = DateTime)]
    sampled_at: String,
    /// When the lab reported it; the time of delivery when absent.
    #[serde(default)]
    #[schema(format = DateTime)]
    reported_at: Option<String>,
}

async fn lab_fact(
    state: &AppState,
    value: Value,
    basis: &str,
    now: OffsetDateTime,
) -> ApiResult<BatchItem> {
    let r: LabResult = row(value)?;
    let sample = r.sample_id.trim();
    if sample.is_empty() || sample.len() > 64 {
        return Err(ApiError::unprocessable(
            "bad_sample_id",
            "a sample id has 1 to 64 characters",
            "样本编号应为 1 至 64 个字符",
        ));
    }
    let document = people::document(
        r.document_kind,
        &r.document_number,
        r.country.as_deref(),
        now,
    )?;
    let person = state
        .store
        .find_by_document(&document)
        .await?
        .ok_or_else(|| {
            ApiError::unprocessable(
                "unknown_person",
                "no one is enrolled under this document",
                "没有以此证件登记的人员",
            )
        })?;
    let id = format!("lab-{sample}");
    let sampled_at = instant("sampled_at", &r.sampled_at)?;
    let reported_at = match &r.reported_at {
        Some(t) => instant("reported_at", t)?,
        // Delivered now; delivered again, when it was first delivered, so the same file sent
        // twice lands once.
        None => state
            .store
            .facts(&person.id)
            .await?
            .into_iter()
            .find(|f| f.id == id)
            .map_or(now, |f| match f.body {
                FactBody::Test { reported_at, .. } => reported_at,
                _ => now,
            }),
    };
    let body = FactBody::Test {
        sample_id: sample.to_owned(),
        result: r.result,
        sampled_at,
        reported_at,
    };
    recording::check_times(&body, &recording::bounds(state, now))?;
    Ok(BatchItem {
        person_id: person.id,
        fact: Fact {
            id,
            recorded_at: now,
            legal_basis: basis.to_owned(),
            body,
        },
    })
}

/// The telecom 14-day itinerary of one phone number (通信行程卡).
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Itinerary {
    phone: String,
    cities: Vec<City>,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct City {
    /// GB/T 2260 code of the city.
    region: String,
    /// The day the phone was there (YYYY-MM-DD).
    date: String,
}

/// Days back the telecom itinerary covers.
const ITINERARY_DAYS: i64 = 14;

async fn itinerary_facts(
    state: &AppState,
    value: Value,
    basis: &str,
    now: OffsetDateTime,
) -> ApiResult<Vec<BatchItem>> {
    let r: Itinerary = row(value)?;
    let phone = normalise_phone(&r.phone)?;
    let today = now.date();
    let mut cities = Vec::new();
    for city in &r.cities {
        if healthcode_core::region::RegionCode::parse(&city.region).is_err() {
            return Err(ApiError::unprocessable(
                "bad_region",
                format!("{:?} is not a GB/T 2260 region code", city.region),
                format!("{:?} 不是行政区划代码", city.region),
            ));
        }
        let date = Date::parse(
            &city.date,
            time::macros::format_description!("[year]-[month]-[day]"),
        )
        .map_err(|_| {
            ApiError::unprocessable(
                "bad_date",
                format!("{:?} is not a date (YYYY-MM-DD)", city.date),
                format!("{:?} 不是日期（YYYY-MM-DD）", city.date),
            )
        })?;
        if date > today || (today - date).whole_days() > ITINERARY_DAYS {
            return Err(ApiError::unprocessable(
                "date_out_of_range",
                format!("{date} is not within the last {ITINERARY_DAYS} days"),
                format!("{date} 不在最近 {ITINERARY_DAYS} 天内"),
            ));
        }
        cities.push((city.region.clone(), date));
    }
    let holders: Vec<_> = state
        .store
        .find_by_phone(&phone)
        .await?
        .into_iter()
        .filter(|p| p.guardian_id.is_none())
        .collect();
    if holders.is_empty() {
        return Err(ApiError::unprocessable(
            "unknown_phone",
            "no one is enrolled under this phone number",
            "没有以此手机号登记的人员",
        ));
    }
    Ok(holders
        .iter()
        .flat_map(|person| {
            cities.iter().map(move |(region, date)| BatchItem {
                person_id: person.id.clone(),
                fact: Fact {
                    id: format!("itin-{}-{region}-{date}", person.id),
                    recorded_at: now,
                    legal_basis: basis.to_owned(),
                    body: FactBody::Itinerary {
                        region: region.clone(),
                        date: *date,
                    },
                },
            })
        })
        .collect())
}
