//! `healthcode simulate`: fills a store with a reproducible synthetic city (people, venues and a
//! visit log) to benchmark contact tracing on. The city itself is pure (`city.rs`); this module
//! writes it: venues, then people in batches, then visits generated on a thread of their own
//! while the store writes the previous batch, so both cores work.

mod city;

use crate::failure::Failure;
use crate::node_cmd;
use city::{CATEGORIES, City, Params, SimVisit};
use clap::Args;
use healthcode_core::identity::{Document, DocumentKind};
use healthcode_server::clock::Clock;
use healthcode_store::{
    BulkLoader, BulkPerson, BulkVisit, Enrollment, NewPerson, Venue, VisitOrder,
};
use indicatif::{ProgressBar, ProgressStyle};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};
use time::macros::{format_description, offset};
use time::{Date, OffsetDateTime, UtcOffset};

/// Days begin at midnight in China Standard Time, where the commute peaks are.
const LOCAL: UtcOffset = offset!(+8);
/// People per batch of enrollments (one transaction each); visits per batch written. Enrollments go in large transactions: their keys are random, so each
/// commit rewrites most pages of the people table's indexes; fewer commits write far less.
const PEOPLE_BATCH: u32 = 100_000;
const VISIT_BATCH: usize = 60_000;
/// Generated batches waiting for the writer: enough to keep it busy, little memory.
const QUEUE: usize = 4;

#[derive(Args, Debug, Clone)]
pub struct SimulateCommand {
    /// Residents to enroll.
    #[arg(long, default_value_t = 10_000)]
    people: u32,
    /// Venues to register.
    #[arg(long, default_value_t = 500)]
    venues: u32,
    /// Days of visits.
    #[arg(long, default_value_t = 14)]
    days: u32,
    /// Visits each resident makes each day.
    #[arg(long, default_value_t = 3)]
    visits_per_day: u32,
    /// The random seed: the same seed (and window) gives the same city.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// The day after the last simulated day (YYYY-MM-DD, China Standard Time); today when
    /// absent, so the visits cover the days just before today.
    #[arg(long, value_parser = parse_date)]
    until: Option<Date>,
    /// Add the city to a store that already holds people (otherwise refused).
    #[arg(long)]
    append: bool,
}

fn parse_date(s: &str) -> Result<Date, String> {
    Date::parse(s, format_description!("[year]-[month]-[day]"))
        .map_err(|e| format!("{s:?} is not a date YYYY-MM-DD: {e}"))
}

fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

fn failed(e: impl std::fmt::Display) -> Failure {
    Failure::new("simulate", e.to_string(), format!("模拟数据出错：{e}"))
}

fn bar(len: u64, what: &str) -> ProgressBar {
    let bar = ProgressBar::new(len);
    bar.set_style(
        ProgressStyle::with_template(
            "{msg:>8} [{bar:40}] {human_pos}/{human_len} {per_sec} eta {eta}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    bar.set_message(what.to_owned());
    bar
}

fn spinner(what: &str) -> ProgressBar {
    let bar = ProgressBar::new_spinner();
    bar.set_message(what.to_owned());
    bar.enable_steady_tick(Duration::from_millis(200));
    bar
}

pub async fn run(
    config: healthcode_server::config::Config,
    cmd: SimulateCommand,
) -> Result<ExitCode, Failure> {
    if cmd.people == 0 || cmd.venues == 0 || cmd.days == 0 || cmd.visits_per_day == 0 {
        return Err(Failure::new(
            "bad_input",
            "--people, --venues, --days and --visits-per-day must be at least 1",
            "--people、--venues、--days 与 --visits-per-day 至少为 1",
        ));
    }
    let region = config.region.clone();
    let state = node_cmd::open(config).await?;
    let store = &state.store;
    let existing = store.people_count().await.map_err(failed)?;
    if existing > 0 && !cmd.append {
        return Err(Failure::new(
            "store_not_empty",
            format!(
                "the store already holds {existing} people: simulate into a fresh data directory or database, or pass --append"
            ),
            format!("存储中已有 {existing} 人：请使用新的数据目录或数据库，或加 --append"),
        ));
    }
    let now = Clock::system().now();
    let until = cmd
        .until
        .unwrap_or(now.checked_to_offset(LOCAL).unwrap_or(now).date());
    let end = until.midnight().assume_offset(LOCAL);
    let params = Params {
        people: cmd.people,
        venues: cmd.venues,
        days: cmd.days,
        visits_per_day: cmd.visits_per_day,
        seed: cmd.seed,
        start: end - time::Duration::days(i64::from(cmd.days)),
        region: region.clone(),
    };
    outln!(
        "simulating {} people, {} venues, {} days × {} visits from {} to {} (seed {}, store: {})",
        cmd.people,
        cmd.venues,
        cmd.days,
        cmd.visits_per_day,
        rfc3339(params.start),
        rfc3339(end),
        cmd.seed,
        store.backend_name()
    )?;
    let started = Instant::now();
    let building = spinner("building the city");
    let policy = state.policy.current();
    let policy = policy.document();
    let city = Arc::new(City::new(params, |category| {
        healthcode_core::visits::dwell_minutes(policy, category)
    }));
    building.finish_and_clear();
    let actor = node_cmd::cli_actor("synthetic city for benchmarks");
    let mut loader = store
        .bulk_loader(&actor, VisitOrder::ByTime)
        .await
        .map_err(failed)?;
    let people_started = Instant::now();
    let loaded = load(&mut loader, &city, now).await;
    let people_time = people_started.elapsed();
    let visits_started = Instant::now();
    let visits = match loaded {
        Ok(()) => write_visits(&mut loader, &city, now).await,
        Err(e) => Err(e),
    };
    // The indexes come back even after a failure.
    let indexing = spinner("rebuilding the visit log's indexes");
    let finished = loader.finish().await.map_err(failed);
    indexing.finish_and_clear();
    let visits = visits?;
    finished?;
    let visits_time = visits_started.elapsed();
    state.store.close().await;

    let total = started.elapsed();
    let rate = |rows: f64, d: Duration| rows / d.as_secs_f64().max(1e-9);
    let rows = u64::from(cmd.people) + u64::from(cmd.venues) + visits;
    outln!(
        "people   {:>12}  in {:>7.1} s ({:.0} rows/s)",
        cmd.people,
        people_time.as_secs_f64(),
        rate(f64::from(cmd.people), people_time)
    )?;
    outln!("venues   {:>12}", cmd.venues)?;
    outln!(
        "visits   {:>12}  in {:>7.1} s ({:.0} rows/s, indexes included)",
        visits,
        visits_time.as_secs_f64(),
        rate(visits as f64, visits_time)
    )?;
    outln!(
        "window   {} .. {} (start {})",
        rfc3339(city.params.start),
        rfc3339(city.end()),
        healthcode_core::facts::rfc3339(city.params.start)
    )?;
    outln!(
        "total    {rows} rows in {:.1} s ({:.0} rows/s)",
        total.as_secs_f64(),
        rate(rows as f64, total)
    )?;
    Ok(ExitCode::SUCCESS)
}

/// Venues, then people in batches.
async fn load(loader: &mut BulkLoader, city: &City, now: OffsetDateTime) -> Result<(), Failure> {
    let venues: Vec<Venue> = city
        .venues
        .iter()
        .map(|v| Venue {
            id: v.id.to_string(),
            name: v.name.clone(),
            address: format!("模拟城 {}", city.params.region),
            region: city.params.region.clone(),
            category: CATEGORIES[v.category].0.to_owned(),
            manager_id: "simulated".to_owned(),
            created_at: city.params.start,
        })
        .collect();
    loader.venues(&venues, now).await.map_err(failed)?;
    let progress = bar(u64::from(city.params.people), "people");
    let today = now
        .checked_to_offset(LOCAL)
        .unwrap_or(now)
        .date()
        .max(city.end().date());
    for chunk in city.people.chunks(PEOPLE_BATCH as usize) {
        let batch = chunk
            .iter()
            .map(|p| {
                let number = p.document(&city.params.region);
                let document = Document::parse(DocumentKind::ResidentId, &number, None, today)
                    .map_err(|e| failed(format!("generated document {number}: {e}")))?;
                Ok(BulkPerson {
                    id: p.id.clone(),
                    enrolled_at: city.params.start,
                    pseudonym: p.pseudonym.to_string(),
                    person: NewPerson {
                        document,
                        name: city.names[usize::from(p.name)].clone(),
                        phone: p.phone.clone(),
                        guardian_id: None,
                        enrollment: Enrollment::Confirmed,
                    },
                })
            })
            .collect::<Result<Vec<_>, Failure>>()?;
        loader.people(&batch, now).await.map_err(failed)?;
        progress.inc(batch.len() as u64);
    }
    progress.finish();
    Ok(())
}

/// Generates visits on a thread of its own, into a short queue the store drains.
async fn write_visits(
    loader: &mut BulkLoader,
    city: &Arc<City>,
    now: OffsetDateTime,
) -> Result<u64, Failure> {
    let total = u64::from(city.params.people)
        * u64::from(city.params.days)
        * u64::from(city.params.visits_per_day);
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Vec<BulkVisit>>(QUEUE);
    let generator = {
        let city = Arc::clone(city);
        std::thread::spawn(move || generate(&city, &tx))
    };
    let progress = bar(total, "visits");
    let mut written = Ok(());
    while let Some(batch) = rx.recv().await {
        if let Err(e) = loader.visits(&batch, now).await {
            written = Err(failed(e));
            break;
        }
        progress.inc(batch.len() as u64);
    }
    // The generator stops when the queue closes.
    drop(rx);
    let generated = generator.join();
    progress.finish();
    written?;
    // A generator that died early closes the queue too: a short count is a failure, not a city.
    if generated.is_err() || loader.visits_written() != total {
        return Err(failed(format!(
            "the generator stopped after {} of {total} visits",
            loader.visits_written()
        )));
    }
    Ok(total)
}

/// Sends the city's visits as rows of the log, a day at a time in time order (ids too): the
/// loader keeps the time-led indexes while it writes. A day of a million people is about 150 MB.
fn generate(city: &City, tx: &tokio::sync::mpsc::Sender<Vec<BulkVisit>>) {
    let region: Arc<str> = city.params.region.as_str().into();
    let source: Arc<str> = "simulate".into();
    let green: Arc<str> = "green".into();
    let masked: Vec<Arc<str>> = city
        .names
        .iter()
        .map(|n| healthcode_core::identity::mask_name(n).into())
        .collect();
    let mut sims: Vec<SimVisit> = Vec::new();
    for day in 0..city.params.days {
        sims.clear();
        city.visits(day, 0, city.params.people, &mut sims);
        sims.sort_unstable_by_key(|s| (s.at, s.tail));
        for chunk in sims.chunks(VISIT_BATCH) {
            let batch = chunk
                .iter()
                .map(|s| {
                    let person = &city.people[s.person as usize];
                    let at = healthcode_store::from_ms(s.at);
                    BulkVisit {
                        id: s.id(),
                        subject: Arc::clone(&person.pseudonym),
                        region: Arc::clone(&region),
                        venue_id: Arc::clone(&city.venues[s.venue as usize].id),
                        direction: healthcode_core::visits::Direction::Entry,
                        via: "scan",
                        source: Arc::clone(&source),
                        at,
                        until: healthcode_store::from_ms(s.until),
                        colour: Arc::clone(&green),
                        masked_name: Arc::clone(&masked[usize::from(person.name)]),
                        flag: None,
                        recorded_at: at,
                    }
                })
                .collect();
            if tx.blocking_send(batch).is_err() {
                return;
            }
        }
    }
}
