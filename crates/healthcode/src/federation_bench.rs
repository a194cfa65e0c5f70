//! `healthcode federation bench`: the figures docs/BENCHMARKS.md gives for federation, from a
//! hub and two regions on loopback in this process (release build): verifying another region's
//! pass beside our own, through the list the region fetched from the hub; contact notices from
//! Beijing delivered to and recorded by Wuhan, beside the same facts recorded locally; and
//! status transfers from Wuhan to Beijing, each a signed request and reply over HTTP.

use crate::failure::Failure;
use crate::federation_demo::{Node, federate, start_three};
use healthcode_core::identity::{self, Document, DocumentKind};
use healthcode_core::{Color, Fact, FactBody, facts::ContactLevel};
use healthcode_server::auth::Caller;
use healthcode_server::federation::messages::{self, ContactNotice};
use healthcode_server::federation::transfer;
use healthcode_server::usecases::colours::reassess;
use healthcode_store::{
    Actor, BulkPerson, ContactFact, Enrollment, NewPerson, TracedExposure, VisitOrder,
};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

#[derive(clap::Args)]
pub struct BenchArgs {
    /// Pass verifications per kind.
    #[arg(long, default_value_t = 20_000)]
    verifications: u32,
    /// Contact notices from Beijing to Wuhan (and contact facts recorded locally, to compare).
    #[arg(long, default_value_t = 100_000)]
    notices: u32,
    /// Status transfers from Wuhan to Beijing, one after another.
    #[arg(long, default_value_t = 200)]
    transfers: u32,
    /// Where the three nodes keep their data (removed afterwards).
    #[arg(long, default_value = "healthcode-federation-bench")]
    dir: PathBuf,
}

fn failure(e: impl std::fmt::Display) -> Failure {
    Failure::new("bench_failed", e.to_string(), format!("基准测试失败：{e}"))
}

pub async fn run(args: BenchArgs) -> Result<ExitCode, Failure> {
    let _ = std::fs::remove_dir_all(&args.dir);
    let (hub, regions) = start_three(&args.dir, 18_700, |c| {
        c.login.log_codes = false;
        c.federation.refresh_seconds = 3600;
    })
    .await?;
    let (wuhan, beijing) = (&regions[0], &regions[1]);
    federate(&hub, &[wuhan, beijing]).await?;
    outln!("a hub and two regions on loopback (SQLite each), release build").map_err(failure)?;

    verification(wuhan, beijing, args.verifications)?;
    let moving = args.transfers;
    let wuhan_people = enroll(wuhan, "420102", args.notices.max(moving)).await?;
    let beijing_people = enroll(beijing, "420102", moving).await?;
    let locals = enroll(beijing, "110101", args.notices).await?;
    if args.notices > 0 {
        // Notices first: the local stage leaves Beijing's outbox busy telling its people.
        notices(wuhan, beijing, &wuhan_people).await?;
        local_facts(beijing, &locals).await?;
    }
    if args.transfers > 0 {
        transfers(
            wuhan,
            beijing,
            &wuhan_people[..moving as usize],
            &beijing_people,
        )
        .await?;
    }

    for n in [hub].into_iter().chain(regions) {
        n.running.shutdown().await.map_err(failure)?;
        n.state.store.close().await;
    }
    let _ = std::fs::remove_dir_all(&args.dir);
    Ok(ExitCode::SUCCESS)
}

fn sample_person(node: &Node, pseudonym: &str) -> healthcode_store::Person {
    healthcode_store::Person {
        id: "bench".into(),
        pseudonym: pseudonym.into(),
        document_kind: DocumentKind::ResidentId,
        document_tail: Some("1234".into()),
        name_masked: "张*".into(),
        guardian_id: None,
        enrollment: Enrollment::Confirmed,
        created_at: node.state.now(),
    }
}

/// Beijing verifies its own pass and Wuhan's, the same number of times each.
fn verification(wuhan: &Node, beijing: &Node, n: u32) -> Result<(), Failure> {
    let now = beijing.state.now();
    let person = sample_person(beijing, "00112233445566778899aabbccddeeff");
    let issue = |node: &Node| {
        node.state
            .passes
            .issue(&person, Color::Green, "bench", now)
            .map(|(_, t)| t)
    };
    let own = issue(beijing).map_err(failure)?;
    let other = issue(wuhan).map_err(failure)?;
    let mut per = Vec::new();
    for (label, text) in [("own (110000)", &own), ("other region's (420100)", &other)] {
        assert_valid(beijing, text)?;
        let started = Instant::now();
        for _ in 0..n {
            std::hint::black_box(beijing.state.passes.verify(text, now));
        }
        let us = started.elapsed().as_secs_f64() * 1e6 / f64::from(n);
        per.push(us);
        outln!("verify {label:<26} {us:>8.1} µs per pass ({n} in a row, one core)")
            .map_err(failure)?;
    }
    outln!("other region's / own: {:.2}", per[1] / per[0]).map_err(failure)
}

fn assert_valid(node: &Node, text: &str) -> Result<(), Failure> {
    if node.state.passes.verify(text, node.state.now()).valid {
        Ok(())
    } else {
        Err(failure("a bench pass does not verify"))
    }
}

/// A bulk-enrolled person: id and pass subject.
pub(crate) struct Enrolled {
    pub(crate) id: String,
    pub(crate) pseudonym: String,
}

/// Enrolls `n` people on a node's store, resident IDs under `prefix` (the same prefix on two
/// nodes gives the same documents and names: one person known to both).
pub(crate) async fn enroll(node: &Node, prefix: &str, n: u32) -> Result<Vec<Enrolled>, Failure> {
    let now = node.state.now();
    let today = now.date();
    let actor = Actor::new("bench", "admin", "federation bench");
    let mut loader = node
        .state
        .store
        .bulk_loader(&actor, VisitOrder::ByTime)
        .await
        .map_err(failure)?;
    let mut out = Vec::with_capacity(n as usize);
    let base = time::Date::from_calendar_date(1960, time::Month::January, 1).map_err(failure)?;
    let tag = healthcode_server::auth::random_hex(4);
    for start in (0..n).step_by(1_000) {
        let batch = (start..n.min(start + 1_000))
            .map(|i| {
                // A thousand sequence numbers per birth date.
                let born = base + time::Duration::days(i64::from(i / 1_000));
                let body = format!(
                    "{prefix}{:04}{:02}{:02}{:03}",
                    born.year(),
                    u8::from(born.month()),
                    born.day(),
                    i % 1_000
                );
                let check = identity::resident_id_check(&body).unwrap_or('X');
                let document = Document::parse(
                    DocumentKind::ResidentId,
                    &format!("{body}{check}"),
                    None,
                    today,
                )
                .map_err(failure)?;
                Ok(BulkPerson {
                    id: format!("p-{tag}-{prefix}-{i}"),
                    pseudonym: healthcode_server::auth::random_hex(16),
                    enrolled_at: now,
                    person: NewPerson {
                        document,
                        name: "张三".into(),
                        phone: Some(format!("139{:08}", i)),
                        guardian_id: None,
                        enrollment: Enrollment::Confirmed,
                    },
                })
            })
            .collect::<Result<Vec<_>, Failure>>()?;
        loader.people(&batch, now).await.map_err(failure)?;
        out.extend(batch.into_iter().map(|p| Enrolled {
            id: p.id,
            pseudonym: p.pseudonym,
        }));
    }
    // Nothing else writes while it loads; `finish` puts the visit log's indexes back.
    loader.finish().await.map_err(failure)?;
    Ok(out)
}

fn notice(person: &Enrolled, now: time::OffsetDateTime) -> ContactNotice {
    ContactNotice {
        case_ref: "bench-case".into(),
        subject: person.pseudonym.clone(),
        level: 1,
        venue: "北京西站".into(),
        exposure_start: now - time::Duration::hours(2),
        exposure_end: now - time::Duration::hours(1),
        legal_basis: "北京市疾控中心流调（基准测试）".into(),
    }
}

/// What a trace records for one level on its own node: exposures, one contact fact per
/// person, colours (which queue their notices).
async fn local_facts(node: &Node, people: &[Enrolled]) -> Result<(), Failure> {
    let state = &node.state;
    let now = state.now();
    let started = Instant::now();
    let actor = Actor::new("tracer", "system", "contact tracing of case bench-local");
    let mut facts = Vec::with_capacity(people.len());
    let mut exposures = Vec::with_capacity(people.len());
    for p in people {
        let n = notice(p, now);
        exposures.push(TracedExposure {
            level: 1,
            subject: p.pseudonym.clone(),
            region: state.config.region.clone(),
            person_id: Some(p.id.clone()),
            venue_id: "bench-venue".into(),
            venue_name: None,
            exposed_from: n.exposure_start,
            exposed_until: n.exposure_end,
            source: "bench".into(),
        });
        let body = FactBody::Contact {
            level: ContactLevel::Close,
            case_id: "bench-local".into(),
            venue: n.venue,
            exposure_start: n.exposure_start,
            exposure_end: n.exposure_end,
        };
        facts.push(ContactFact {
            person_id: p.id.clone(),
            digest: serde_json::to_string(&body).map_err(failure)?,
            fact: Fact {
                id: healthcode_server::usecases::recording::new_fact_id(now),
                recorded_at: now,
                legal_basis: n.legal_basis,
                body,
            },
        });
    }
    let ids: Vec<String> = people.iter().map(|p| p.id.clone()).collect();
    let store = &state.store;
    store
        .record_exposures("bench-local", &exposures)
        .await
        .map_err(failure)?;
    let exposed = started.elapsed().as_secs_f64();
    let recorded = store
        .hold_contact_facts("bench-local-person", &facts, &actor, now)
        .await
        .map_err(failure)?;
    if recorded.len() != facts.len() {
        return Err(failure("a local contact fact was not recorded"));
    }
    let held = started.elapsed().as_secs_f64();
    reassess(state, &ids, now).await.map_err(failure)?;
    let secs = started.elapsed().as_secs_f64();
    let n = people.len() as f64;
    outln!(
        "contact facts recorded locally      {:>8} in {secs:>6.1} s ({:>6.0}/s): exposures {exposed:.1} s, facts {:.1} s, colours {:.1} s",
        people.len(),
        n / secs,
        held - exposed,
        secs - held
    )
    .map_err(failure)
}

/// Beijing queues a contact notice for each Wuhan resident; timed until Beijing's outbox is
/// empty, each notice confirmed by Wuhan's signed reply after Wuhan recorded it.
async fn notices(wuhan: &Node, beijing: &Node, people: &[Enrolled]) -> Result<(), Failure> {
    let now = beijing.state.now();
    let list: Vec<(String, String, ContactNotice)> = people
        .iter()
        .map(|p| {
            let id = messages::message_id(&["bench-case", &p.pseudonym]);
            (id, "420100".to_owned(), notice(p, now))
        })
        .collect();
    let ids: Vec<String> = list.iter().map(|(id, ..)| id.clone()).collect();
    let started = Instant::now();
    messages::queue(
        &beijing.state,
        messages::CONTACT,
        list,
        "contact tracing of case bench-case",
        now,
    )
    .await
    .map_err(failure)?;
    let queued = started.elapsed().as_secs_f64();
    loop {
        let waiting = beijing
            .state
            .store
            .undelivered_for_regions()
            .await
            .map_err(failure)?;
        if waiting.is_empty() {
            break;
        }
        if waiting.iter().any(|(state, _)| state == "failed") || started.elapsed().as_secs() > 900 {
            return Err(failure(format!("notices not delivered: {waiting:?}")));
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let secs = started.elapsed().as_secs_f64();
    let taken = wuhan
        .state
        .store
        .received_from_region("110000", &ids)
        .await
        .map_err(failure)?;
    let recorded = taken.values().filter(|o| *o == "recorded").count();
    if recorded != people.len() {
        return Err(failure(format!(
            "Wuhan recorded {recorded} of {} notices",
            people.len()
        )));
    }
    let n = people.len() as f64;
    outln!(
        "contact notices Beijing -> Wuhan    {:>8} in {secs:>6.1} s ({:>6.0}/s): queued in {queued:.1} s, then signed, sent in batches of {}, recorded",
        people.len(),
        n / secs,
        messages::BATCH
    )
    .map_err(failure)
}

/// Each Wuhan resident grants consent for Beijing; a Beijing caseworker presents it over HTTP
/// and Beijing records Wuhan's signed attestation. Timed per transfer.
async fn transfers(
    wuhan: &Node,
    beijing: &Node,
    movers: &[Enrolled],
    arrivals: &[Enrolled],
) -> Result<(), Failure> {
    let token = crate::node_cmd::new_token();
    let actor = Actor::new("bench", "admin", "federation bench");
    beijing
        .state
        .store
        .create_account(
            "community_worker",
            "社区工作者（基准测试）",
            &token,
            &actor,
            beijing.state.now(),
        )
        .await
        .map_err(failure)?;
    let client = reqwest::Client::new();
    let mut took = Vec::with_capacity(movers.len());
    for (mover, arrival) in movers.iter().zip(arrivals) {
        let person = wuhan
            .state
            .store
            .person(&mover.id)
            .await
            .map_err(failure)?
            .ok_or_else(|| failure("a bench person is missing"))?;
        let caller = Caller::Resident {
            phone_index: Vec::new(),
            people: vec![person],
            reads: wuhan.state.store.clone(),
            stamps: Default::default(),
        };
        let (_, code) = transfer::grant(
            &wuhan.state,
            &caller,
            &mover.id,
            "110000",
            "返京复工（基准测试）",
            None,
            wuhan.state.now(),
        )
        .await
        .map_err(|e| failure(format!("{e:?}")))?;
        let started = Instant::now();
        let response = client
            .post(format!(
                "{}/api/v1/people/{}/transfers",
                beijing.base, arrival.id
            ))
            .bearer_auth(&token)
            .json(&serde_json::json!({"origin": "420100", "code": code}))
            .send()
            .await
            .map_err(failure)?;
        let status = response.status();
        let body = response.text().await.map_err(failure)?;
        took.push(started.elapsed().as_secs_f64() * 1e3);
        if !status.is_success() {
            return Err(failure(format!("transfer: {status} {body}")));
        }
    }
    took.sort_by(f64::total_cmp);
    let at = |q: f64| took[((took.len() - 1) as f64 * q).round() as usize];
    outln!(
        "status transfers Wuhan -> Beijing   {:>8}, one at a time over HTTP: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        took.len(),
        at(0.5),
        at(0.99),
        at(1.0)
    )
    .map_err(failure)
}
