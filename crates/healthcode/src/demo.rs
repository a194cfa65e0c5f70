//! `healthcode demo`: a small city seeded into a fresh node, then the node itself, with what to
//! try printed. Seeding is deterministic (a fixed random seed) and happens once per data directory.

use crate::failure::Failure;
use crate::node_cmd::{self, new_token};
use healthcode_core::Fact;
use healthcode_core::identity::{self, Document, DocumentKind};
use healthcode_server::auth::{Role, STAFF_ROLES};
use healthcode_server::config::Config;
use healthcode_store::{Actor, Enrollment, NewPerson, Store};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::json;
use std::collections::BTreeMap;
use std::process::ExitCode;
use time::format_description::well_known::Rfc3339;
use time::{Duration, OffsetDateTime};

const RESIDENTS: usize = 1000;

/// The demo's returning family: the parent's phone and resident ID, and their community.
const FAMILY_PHONE: &str = "13700000001";
const FAMILY_ID: &str = "330106198504120011";
const FAMILY_COMMUNITY: &str = "330106-001-001";

/// Hangzhou's urban districts (GB/T 2260), where the demo city lives.
const DISTRICTS: [&str; 6] = ["330102", "330105", "330106", "330108", "330109", "330110"];

pub(crate) const SURNAMES: [&str; 20] = [
    "王", "李", "张", "刘", "陈", "杨", "黄", "赵", "吴", "周", "徐", "孙", "马", "朱", "胡", "郭",
    "何", "高", "林", "罗",
];
pub(crate) const GIVEN: [&str; 20] = [
    "伟", "芳", "娜", "敏", "静", "丽", "强", "磊", "军", "洋", "勇", "艳", "杰", "娟", "涛", "明",
    "超", "秀英", "霞", "平",
];
/// The demo city's venues: name, district, category (a key of the policy's `venue_dwell_minutes`).
const VENUES: [(&str, &str, &str); 6] = [
    ("地铁1号线武林广场站", "330105", "metro"),
    ("西湖银泰", "330102", "mall"),
    ("杭州东站", "330102", "station"),
    ("浙大一院", "330102", "hospital"),
    ("滨江宝龙城", "330108", "mall"),
    ("余杭菜市场", "330110", "market"),
];

pub async fn run(mut config: Config) -> Result<ExitCode, Failure> {
    // The demo's SMS gateway is the log: residents read their login codes there.
    config.login.log_codes = true;
    let state = node_cmd::open(config).await?;
    let store = &state.store;
    let now = state.now();
    let tokens_file = state.config.data_dir.join(TOKENS_FILE);
    let tokens = if store.accounts().await.map_err(failed)?.is_empty() {
        let (mut tokens, manager) = seed_accounts(store, now).await?;
        tokens.extend(seed_venues(store, &manager, now).await?);
        let (colours, people) = seed_city(store, &state.policy.at(now), now).await?;
        let traveller = seed_visits(
            store,
            &state.policy.at(now),
            &state.config.region,
            &people,
            now,
        )
        .await?;
        tokens.push(("(a person to trace)".into(), traveller));
        seed_family(store, now).await?;
        // The city's facts went straight into the store: derive and keep everyone's colour, as
        // recording them through the node would have (the dashboard and the schedule read it).
        healthcode_server::usecases::colours::reassess_everyone(&state, now)
            .await
            .map_err(failed)?;
        outln!("Seeded a demo city of {RESIDENTS} residents in Hangzhou's districts:")?;
        for (code, count) in &colours {
            outln!("  {code:<8} {count}")?;
        }
        write_tokens(&tokens_file, &tokens)?;
        tokens
    } else {
        outln!(
            "The data directory is already seeded (delete {} to start a fresh demo city).",
            state.config.data_dir.display()
        )?;
        read_tokens(&tokens_file)
    };
    let running = healthcode_server::start(state.clone())
        .await
        .map_err(|e| Failure::new("start_failed", e.to_string(), format!("无法启动：{e}")))?;
    let base = format!("http://{}", running.addr);
    // The first colour changes go out as SMS lines in the log: let them pass, so that what to
    // try is the last thing on the screen.
    for _ in 0..100 {
        if store.pending_notifications().await.unwrap_or(0) == 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    crate::output::or_log(print_tour(&base, &tokens, &tokens_file));
    crate::node_cmd::wait_for_shutdown().await;
    running.shutdown().await.map_err(failed)?;
    Ok(ExitCode::SUCCESS)
}

/// Where the demo keeps its staff and checkpoint tokens (in the data directory, owner only), so
/// that a restart shows them again.
pub const TOKENS_FILE: &str = "demo-tokens.txt";

fn write_tokens(path: &std::path::Path, tokens: &[(String, String)]) -> Result<(), Failure> {
    let text: String = tokens
        .iter()
        .map(|(role, token)| format!("{role}\t{token}\n"))
        .collect();
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    use std::io::Write;
    options
        .open(path)
        .and_then(|mut f| f.write_all(text.as_bytes()))
        .map_err(failed)
}

/// The tokens written when the city was seeded; none when the file is gone.
fn read_tokens(path: &std::path::Path) -> Vec<(String, String)> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|line| line.split_once('\t'))
        .map(|(role, token)| (role.to_owned(), token.to_owned()))
        .collect()
}

fn failed(e: impl std::fmt::Display) -> Failure {
    Failure::new("demo", e.to_string(), format!("演示数据出错：{e}"))
}

/// The venues, registered by the demo's venue manager (who manages them on the console), each
/// with one checkpoint whose scanner token is returned.
async fn seed_venues(
    store: &Store,
    manager_id: &str,
    now: OffsetDateTime,
) -> Result<Vec<(String, String)>, Failure> {
    let manager = Actor::new(manager_id, "venue_manager", "demo venues");
    let mut tokens = Vec::new();
    for (name, district, category) in VENUES {
        let district_name = healthcode_core::region::name(district).unwrap_or_default();
        let new = healthcode_store::NewVenue {
            name: name.to_owned(),
            address: format!("杭州市{district_name}"),
            region: district.to_owned(),
            category: category.to_owned(),
        };
        let venue = store
            .create_venue(&new, &manager, now)
            .await
            .map_err(failed)?;
        let token = new_token();
        store
            .create_checkpoint(&venue.id, "A 口", &token, &manager, now)
            .await
            .map_err(failed)?;
        tokens.push((format!("checkpoint {name}"), token));
    }
    Ok(tokens)
}

/// The staff accounts and their tokens, and the venue manager's account id.
async fn seed_accounts(
    store: &Store,
    now: OffsetDateTime,
) -> Result<(Vec<(String, String)>, String), Failure> {
    let admin = Actor::new("demo", "admin", "demo setup");
    let mut tokens = Vec::new();
    let mut manager = String::new();
    // Checkpoint accounts belong to a checkpoint at a venue: the venues' own, above.
    for role in STAFF_ROLES.into_iter().filter(|r| *r != Role::Checkpoint) {
        let token = new_token();
        // Staff as a resident reads them on their audit record: by role and masked name.
        let name = match role {
            Role::HealthOfficial => "王建国",
            Role::CommunityWorker => "李秀英",
            Role::VenueManager => "张伟",
            Role::Department => "刘洋",
            Role::Auditor => "陈静",
            Role::Admin => "赵磊",
            _ => "孙明",
        };
        let account = store
            .create_account(role.as_str(), name, &token, &admin, now)
            .await
            .map_err(failed)?;
        if role == Role::CommunityWorker {
            // The community the demo's returning family comes back to; its street office and
            // district get accounts of their own below, to receive the hand-offs.
            store
                .set_account_scope(&account.id, FAMILY_COMMUNITY, &admin, now)
                .await
                .map_err(failed)?;
        }
        if role == Role::Department {
            let feeds = node_cmd::FEEDS.map(str::to_owned);
            store
                .grant_feeds(&account.id, &feeds, &admin, now)
                .await
                .map_err(failed)?;
        }
        if role == Role::VenueManager {
            manager = account.id.clone();
        }
        tokens.push((role.as_str().to_owned(), token));
    }
    // A second health official: a policy version is approved by someone other than its
    // proposer.
    let token = new_token();
    store
        .create_account(Role::HealthOfficial.as_str(), "周敏", &token, &admin, now)
        .await
        .map_err(failed)?;
    tokens.push(("health_official 2".to_owned(), token));
    for (label, scope, name) in [
        ("district", "330106", "吴丽华"),
        ("street", "330106-001", "郑强"),
    ] {
        let token = new_token();
        let account = store
            .create_account(Role::CommunityWorker.as_str(), name, &token, &admin, now)
            .await
            .map_err(failed)?;
        store
            .set_account_scope(&account.id, scope, &admin, now)
            .await
            .map_err(failed)?;
        tokens.push((format!("{label} {scope}"), token));
    }
    Ok((tokens, manager))
}

/// A family coming back from Wuhan to a community of 西湖区: a parent and a child without ID,
/// their application filed and waiting for the community's call.
async fn seed_family(store: &Store, now: OffsetDateTime) -> Result<(), Failure> {
    let resident = Actor::new("demo", "resident", "enrollment");
    let Ok(document) = Document::parse(DocumentKind::ResidentId, FAMILY_ID, None, now.date())
    else {
        return Err(failed("the demo family's resident ID does not parse"));
    };
    let parent = store
        .enroll(
            &NewPerson {
                document,
                name: "王建国".into(),
                phone: Some(FAMILY_PHONE.into()),
                guardian_id: None,
                enrollment: Enrollment::Confirmed,
            },
            &resident,
            now,
        )
        .await
        .map_err(failed)?;
    let child = store
        .enroll(
            &NewPerson {
                document: Document::parse(DocumentKind::None, "", None, now.date())
                    .map_err(|e| failed(format!("{e:?}")))?,
                name: "王小明".into(),
                phone: Some(FAMILY_PHONE.into()),
                guardian_id: Some(parent.id.clone()),
                enrollment: Enrollment::Confirmed,
            },
            &resident,
            now,
        )
        .await
        .map_err(failed)?;
    let planned = now.date().next_day().unwrap_or(now.date());
    let new = healthcode_store::NewReturn {
        applicant_id: parent.id.clone(),
        members: vec![parent.id, child.id],
        origin: "420100".into(),
        community: FAMILY_COMMUNITY.into(),
        address: "文三路 90 号 3 幢 201 室".into(),
        reason: "返杭复工".into(),
        planned_date: planned,
        transport: "train".into(),
        origin_colour: "green".into(),
        origin_basis: "declared".into(),
    };
    let message = healthcode_core::Text {
        zh: format!("您的返程申请已提交，社区将电话核实（计划 {planned} 返回）。"),
        en: format!(
            "Your return application was filed; your community will call to verify it (planned for {planned})."
        ),
    };
    store
        .create_return(&new, &message, &resident, now)
        .await
        .map_err(failed)?;
    Ok(())
}

/// A valid resident ID: district, birth date, sequence, MOD 11-2 check character.
fn resident_id(rng: &mut StdRng, district: &str) -> String {
    let year = rng.gen_range(1940..2008);
    let month = rng.gen_range(1..=12);
    let day = rng.gen_range(1..=28);
    let body = format!(
        "{district}{year:04}{month:02}{day:02}{:03}",
        rng.gen_range(0..1000)
    );
    let check = identity::resident_id_check(&body).unwrap_or('0');
    format!("{body}{check}")
}

fn at(t: OffsetDateTime) -> String {
    t.format(&Rfc3339).unwrap_or_default()
}

/// The facts that give the `i`-th resident their story: most have none that matter.
fn story(rng: &mut StdRng, i: usize, now: OffsetDateTime) -> Vec<serde_json::Value> {
    let hours = |h: i64| now - Duration::hours(h);
    let venue = VENUES[i % VENUES.len()].0;
    let roll = rng.gen_range(0..100);
    let district = DISTRICTS[i % DISTRICTS.len()];
    let mut facts = vec![
        json!({"type": "declaration", "temperature_decicelsius": rng.gen_range(360..372),
        "symptoms": [], "district": district, "legal_basis": "self-declared", "recorded_at": at(hours(20))}),
    ];
    match roll {
        0..=2 => facts.push(json!({"type": "case", "kind": "confirmed", "onset_at": at(hours(72)), "isolated_at": at(hours(30)),
            "legal_basis": format!("杭卫发〔2020〕{}号", 100 + i), "recorded_at": at(hours(30))})),
        3..=6 => facts.push(json!({"type": "contact", "level": "close", "case_id": format!("2020-{:04}", i % 97),
            "venue": venue, "exposure_start": at(hours(50)), "exposure_end": at(hours(49)),
            "legal_basis": format!("流调 2020-{:04}", i % 97), "recorded_at": at(hours(24))})),
        7..=11 => facts.push(json!({"type": "contact", "level": "secondary", "case_id": format!("2020-{:04}", i % 97),
            "venue": venue, "exposure_start": at(hours(40)), "exposure_end": at(hours(39)),
            "legal_basis": format!("流调 2020-{:04}", i % 97), "recorded_at": at(hours(20))})),
        12..=14 => facts.push(json!({"type": "trip", "origin": "Milan, IT", "destination": "330100",
            "arrived_at": at(hours(60)), "abroad": true, "legal_basis": "self-declared", "recorded_at": at(hours(70))})),
        15..=17 => facts.push(json!({"type": "declaration", "temperature_decicelsius": 382, "symptoms": ["cough"],
            "district": district, "legal_basis": "self-declared", "recorded_at": at(hours(3))})),
        18..=19 => facts.push(json!({"type": "risk_stay", "level": "medium", "region": "420106",
            "arrived_at": at(hours(120)), "left_at": at(hours(96)), "legal_basis": "通信行程卡 2020-04",
            "recorded_at": at(hours(48))})),
        _ => {}
    }
    facts
}

async fn seed_city(
    store: &Store,
    policy: &healthcode_core::Policy,
    now: OffsetDateTime,
) -> Result<(BTreeMap<String, usize>, Vec<healthcode_store::Person>), Failure> {
    let mut rng = StdRng::seed_from_u64(2020_0211);
    let mut people = Vec::new();
    let resident = Actor::new("demo", "resident", "enrollment");
    let official = Actor::new("demo-official", "health_official", "demo records");
    let mut colours = BTreeMap::new();
    for i in 0..RESIDENTS {
        let district = DISTRICTS[i % DISTRICTS.len()];
        let name = format!(
            "{}{}",
            SURNAMES[rng.gen_range(0..SURNAMES.len())],
            GIVEN[rng.gen_range(0..GIVEN.len())]
        );
        let phone = format!("138{:08}", i);
        // Every fiftieth enrolls with a Hong Kong permit and waits for review (审核中).
        let (kind, number) = if i % 50 == 49 {
            (
                DocumentKind::HkMacauPermit,
                format!("H{:08}", 10_000_000 + i),
            )
        } else {
            (DocumentKind::ResidentId, resident_id(&mut rng, district))
        };
        let Ok(document) = Document::parse(kind, &number, None, now.date()) else {
            continue;
        };
        let new = NewPerson {
            document,
            name,
            phone: Some(phone),
            guardian_id: None,
            enrollment: if kind == DocumentKind::ResidentId {
                Enrollment::Confirmed
            } else {
                Enrollment::Pending
            },
        };
        let person = match store.enroll(&new, &resident, now).await {
            Ok(p) => p,
            Err(healthcode_store::StoreError::Conflict(_)) => continue,
            Err(e) => return Err(failed(e)),
        };
        let mut facts = Vec::new();
        for (n, mut body) in story(&mut rng, i, now).into_iter().enumerate() {
            body["id"] = json!(format!("demo-{i}-{n}"));
            let fact: Fact = serde_json::from_value(body).map_err(failed)?;
            store
                .record_fact(&person.id, &fact, &official, now)
                .await
                .map_err(failed)?;
            facts.push(fact);
        }
        let code = match new.enrollment {
            Enrollment::Pending => "pending",
            Enrollment::Confirmed => policy.evaluate(&facts, now).color.as_str(),
        };
        *colours.entry(code.to_owned()).or_default() += 1;
        people.push(person);
    }
    Ok((colours, people))
}

/// A day of checkpoint scans by the first 300 residents, two each, so that a case recorded now
/// has contacts to find. Returns the id of a resident with visits, for the tour.
async fn seed_visits(
    store: &Store,
    policy: &healthcode_core::Policy,
    region: &str,
    people: &[healthcode_store::Person],
    now: OffsetDateTime,
) -> Result<String, Failure> {
    let mut rng = StdRng::seed_from_u64(2020_0123);
    let venues = store.venues(100).await.map_err(failed)?;
    let mut scans = Vec::new();
    for person in people.iter().take(300) {
        for n in 0..2 {
            let venue = &venues[rng.gen_range(0..venues.len())];
            let at = now - Duration::minutes(rng.gen_range(60..20 * 60));
            let dwell = healthcode_core::visits::dwell_minutes(policy.document(), &venue.category);
            scans.push(healthcode_store::NewScan {
                source: "demo-checkpoints".into(),
                scan_id: format!("demo-{}-{n}", person.id),
                venue_id: venue.id.clone(),
                scanned_at: at,
                outcome: "admit",
                answer: "{}".into(),
                visit: Some(healthcode_store::NewVisit {
                    subject: person.pseudonym.clone(),
                    region: region.to_owned(),
                    direction: healthcode_core::visits::Direction::Entry,
                    via: "scan",
                    until: at + Duration::minutes(dwell),
                    colour: "green".into(),
                    masked_name: person.name_masked.clone(),
                    flag: None,
                }),
            });
        }
    }
    store.record_scans(&scans, now).await.map_err(failed)?;
    Ok(people.first().map(|p| p.id.clone()).unwrap_or_default())
}

fn print_tour(
    base: &str,
    tokens: &[(String, String)],
    tokens_file: &std::path::Path,
) -> Result<(), Failure> {
    outln!()?;
    outln!("healthcode demo node: {base}   (Ctrl-C to stop)")?;
    outln!(
        "  web pages:         open {base}/ in a browser (residents, checkpoints, staff console;"
    )?;
    outln!(
        "                     staff sign in with a token below, residents with a phone and the code in this log)"
    )?;
    outln!("  published policy:  curl {base}/api/v1/policy")?;
    if !tokens.is_empty() {
        outln!(
            "  staff and checkpoint tokens (also in {}):",
            tokens_file.display()
        )?;
        for (role, token) in tokens {
            outln!("    {role:<17} {token}")?;
        }
        outln!(
            "  venues: curl {base}/api/v1/venues -H 'authorization: Bearer <health_official token>'"
        )?;
    }
    outln!(
        "  residents log in by phone: 13800000000 … 13800000999. Ask for a code, it is printed in this log:"
    )?;
    outln!(
        "    curl -X POST {base}/api/v1/auth/code -H 'content-type: application/json' -d '{{\"phone\":\"13800000004\"}}'"
    )?;
    outln!(
        "    curl -X POST {base}/api/v1/auth/login -H 'content-type: application/json' -d '{{\"phone\":\"13800000004\",\"code\":\"CODE\"}}'"
    )?;
    outln!("    curl {base}/api/v1/me -H 'authorization: Bearer TOKEN'")?;
    outln!("    curl {base}/api/v1/people/PERSON_ID/status -H 'authorization: Bearer TOKEN'")?;
    outln!(
        "  the seeded residents scanned in at the venues over the last day: record a case for one of them"
    )?;
    outln!(
        "  (the person printed above) as the health official, and follow its trace as the contacts turn:"
    )?;
    outln!(
        "    curl -X POST {base}/api/v1/cases -H 'authorization: Bearer OFFICIAL' -H 'content-type: application/json' \\"
    )?;
    outln!(
        "         -d '{{\"person_id\":\"PERSON_ID\",\"kind\":\"confirmed\",\"legal_basis\":\"杭卫发〔2020〕1号\"}}'"
    )?;
    outln!("    curl {base}/api/v1/cases/CASE_ID/trace -H 'authorization: Bearer OFFICIAL'")?;
    outln!(
        "  a family coming back from Wuhan: log in as {FAMILY_PHONE}; the community_worker token above works for"
    )?;
    outln!(
        "  their community {FAMILY_COMMUNITY} (返程管理 on the console), the district and street tokens receive the hand-offs"
    )?;
    outln!("  see README.md for the whole tour.")
}
