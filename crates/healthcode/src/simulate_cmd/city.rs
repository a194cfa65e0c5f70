//! The synthetic city, pure: people, venues and who goes where when, all from one seed and
//! nothing from the clock (the first day is a parameter).
//!
//! Venues come in the policy's categories, in proportions like a Chinese city's, and their
//! popularity is heavy-tailed (Zipf within each category, times a pull per category, so a few
//! metro stations, railway stations and malls draw a large share). Each person has habits: a
//! home compound, a workplace or school by age, a metro or bus stop they commute through and a
//! few favourite places, and makes most visits to those; the rest go by popularity. Times of day
//! follow commute and lunch peaks, in China Standard Time.

use crate::demo::{GIVEN, SURNAMES};
use rand::distributions::{Distribution, WeightedIndex};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_distr::Normal;
use std::collections::HashMap;
use std::sync::Arc;
use time::{Date, Duration, OffsetDateTime};

/// Venue categories (keys of the policy's `venue_dwell_minutes`): Chinese name, share of all
/// venues in per mille, pull (how much a venue of the kind draws, before its own rank), and the
/// Zipf exponent of popularity within the kind.
pub const CATEGORIES: [(&str, &str, u32, f64, f64); 11] = [
    ("residential", "小区", 300, 0.0, 0.5),
    ("restaurant", "餐厅", 250, 1.0, 0.7),
    ("bus", "公交站", 110, 0.6, 0.7),
    ("other", "商店", 110, 0.8, 0.7),
    ("office", "写字楼", 100, 0.0, 0.5),
    ("market", "菜市场", 40, 2.0, 0.7),
    ("school", "学校", 40, 0.0, 0.5),
    ("mall", "商场", 20, 8.0, 1.0),
    ("hospital", "医院", 12, 4.0, 0.8),
    ("metro", "地铁站", 10, 12.0, 1.0),
    ("station", "火车站", 8, 12.0, 1.0),
];

const RESIDENTIAL: usize = 0;
const BUS: usize = 2;
const OFFICE: usize = 4;
const SCHOOL: usize = 6;
const METRO: usize = 9;

/// Region codes of people born elsewhere (Beijing, Shanghai, Wuhan, Guangzhou, Chengdu,
/// Zhengzhou, Hefei): a city's residents are not all born in it.
const BIRTHPLACES: [&str; 7] = [
    "110101", "310101", "420106", "440106", "510104", "410102", "340102",
];

/// What the city is made of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Params {
    pub people: u32,
    pub venues: u32,
    pub days: u32,
    pub visits_per_day: u32,
    pub seed: u64,
    /// The first instant of the first day (a local midnight).
    pub start: OffsetDateTime,
    /// The node's region (GB/T 2260): venues' region and most people's birthplace.
    pub region: String,
}

#[derive(Debug, Clone)]
pub struct SimVenue {
    pub id: Arc<str>,
    pub name: String,
    /// An index into `CATEGORIES`.
    pub category: usize,
}

/// A resident: identity (built on demand) and habits.
#[derive(Debug, Clone)]
pub struct Resident {
    pub id: String,
    pub pseudonym: Arc<str>,
    /// An index into `City::names`.
    pub name: u16,
    birthplace: u8,
    pub born: Date,
    sequence: u16,
    pub phone: Option<String>,
    home: u32,
    anchor: Option<u32>,
    commute: Option<u32>,
    favourites: [u32; 3],
}

impl Resident {
    /// The resident ID number (GB 11643): birthplace, birth date, sequence, check character.
    pub fn document(&self, region: &str) -> String {
        let place = BIRTHPLACES
            .get(usize::from(self.birthplace))
            .copied()
            .unwrap_or(region);
        let (y, m, d) = self.born.to_calendar_date();
        let body = format!("{place}{y:04}{:02}{d:02}{:03}", u8::from(m), self.sequence);
        let check = healthcode_core::identity::resident_id_check(&body).unwrap_or('0');
        format!("{body}{check}")
    }
}

/// One visit: person and venue by index, times in milliseconds since the epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SimVisit {
    pub person: u32,
    pub venue: u32,
    pub at: i64,
    pub until: i64,
    /// The random part of the visit's id.
    pub tail: u128,
}

impl SimVisit {
    /// The id as `record_scans` makes them: the time first (12 hex digits), so ids sort by time,
    /// then 20 random hex digits.
    pub fn id(&self) -> String {
        format!("{:012x}{:020x}", self.at, self.tail)
    }
}

#[derive(Debug)]
pub struct City {
    pub params: Params,
    pub venues: Vec<SimVenue>,
    pub people: Vec<Resident>,
    /// Full names, indexed by `Resident::name`.
    pub names: Vec<String>,
    /// Dwell time per category, in milliseconds.
    dwell_ms: [i64; CATEGORIES.len()],
    /// Venues open to anyone, by how they draw.
    popular: Pick,
}

/// A well-mixed 64-bit value (SplitMix64's finaliser), to derive independent random streams.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A random stream of its own for each (seed, purpose, a, b): days and people can be generated
/// in any order, or in parallel, and give the same city.
fn stream(seed: u64, purpose: u64, a: u64, b: u64) -> StdRng {
    StdRng::seed_from_u64(mix(mix(mix(seed ^ purpose) ^ a) ^ b))
}

fn hex(rng: &mut StdRng) -> String {
    format!("{:032x}", rng.r#gen::<u128>())
}

/// The category of the `i`-th of `n` venues, so that every category gets its share.
fn category_of(i: u32, n: u32) -> usize {
    let at = (f64::from(i) + 0.5) / f64::from(n) * 1000.0;
    let mut sum = 0.0;
    for (c, (_, _, share, _, _)) in CATEGORIES.iter().enumerate() {
        sum += f64::from(*share);
        if at < sum {
            return c;
        }
    }
    CATEGORIES.len() - 1
}

/// Picks by weight from a list of venue indexes; `None` when the list is empty.
#[derive(Debug)]
struct Pick {
    venues: Vec<u32>,
    weights: Option<WeightedIndex<f64>>,
}

impl Pick {
    fn new(venues: Vec<u32>, weight: impl Fn(u32) -> f64) -> Pick {
        let weights = WeightedIndex::new(venues.iter().map(|&v| weight(v))).ok();
        Pick { venues, weights }
    }

    fn sample(&self, rng: &mut StdRng) -> Option<u32> {
        self.weights
            .as_ref()
            .and_then(|w| self.venues.get(w.sample(rng)).copied())
    }
}

impl City {
    /// Builds the city: venues, then people with their habits. `dwell_minutes` gives each
    /// category's dwell time (the policy's).
    pub fn new(params: Params, dwell_minutes: impl Fn(&str) -> i64) -> City {
        let dwell_ms = CATEGORIES.map(|(name, ..)| dwell_minutes(name) * 60_000);
        let mut rng = stream(params.seed, 1, 0, 0);
        let n = params.venues.max(1);
        let mut venues: Vec<SimVenue> = (0..n)
            .map(|i| {
                let category = category_of(i, n);
                SimVenue {
                    id: hex(&mut rng).into(),
                    name: String::new(),
                    category,
                }
            })
            .collect();
        // Each venue's size by its rank within its category, at random: (rank + 1)^-s.
        let mut size = vec![0.0; venues.len()];
        for (c, (_, zh, _, _, s)) in CATEGORIES.iter().enumerate() {
            let mut members: Vec<usize> = (0..venues.len())
                .filter(|&v| venues[v].category == c)
                .collect();
            members.shuffle(&mut rng);
            for (rank, &v) in members.iter().enumerate() {
                size[v] = ((rank + 1) as f64).powf(-s);
                venues[v].name = format!("模拟{zh}{}号", rank + 1);
            }
        }
        let pull = |v: u32| CATEGORIES[venues[v as usize].category].3;
        let of = |c: usize| -> Vec<u32> {
            (0..n)
                .filter(|&v| venues[v as usize].category == c)
                .collect()
        };
        let by_size = |v: u32| size[v as usize];
        let homes = Pick::new(of(RESIDENTIAL), by_size);
        let offices = Pick::new(of(OFFICE), by_size);
        let schools = Pick::new(of(SCHOOL), by_size);
        let metros = Pick::new(of(METRO), by_size);
        let stops = Pick::new(of(BUS), by_size);
        // Homes, offices and schools draw only their own people (no pull).
        let popular = Pick::new((0..n).filter(|&v| pull(v) > 0.0).collect(), |v| {
            pull(v) * size[v as usize]
        });

        let names: Vec<String> = SURNAMES
            .iter()
            .flat_map(|s| GIVEN.iter().map(move |g| format!("{s}{g}")))
            .collect();
        let end = params.start.date() + Duration::days(i64::from(params.days));
        let mut sequences: HashMap<(u8, Date), u16> = HashMap::new();
        let people = (0..params.people)
            .map(|i| {
                let mut rng = stream(params.seed, 2, u64::from(i), 0);
                let age = age(&mut rng);
                let mut born = end - Duration::days(age * 365 + rng.gen_range(1..366));
                // Most were born here; the rest in one of the big cities.
                let birthplace = if rng.gen_bool(0.7) {
                    u8::MAX
                } else {
                    rng.gen_range(0..BIRTHPLACES.len() as u8)
                };
                // The sequence number makes the number unique; a full day moves to the previous.
                // Sequences start at an offset of the seed's, so that cities of other seeds
                // appended to the same store seldom collide.
                let sequence = loop {
                    let key = (birthplace, born);
                    let next = sequences.entry(key).or_insert(0);
                    if *next < 1000 {
                        *next += 1;
                        let day = u64::from(born.to_julian_day().unsigned_abs());
                        let offset = mix(params.seed ^ (day << 8) ^ u64::from(birthplace)) % 1000;
                        break ((u64::from(*next - 1) + offset) % 1000) as u16;
                    }
                    born = born.previous_day().unwrap_or(born);
                };
                let anchor = match age {
                    6..=17 => schools.sample(&mut rng),
                    18..=60 if rng.gen_bool(0.85) => {
                        if rng.gen_bool(0.8) {
                            offices.sample(&mut rng)
                        } else {
                            popular.sample(&mut rng)
                        }
                    }
                    _ => None,
                };
                let commute = match rng.gen_range(0..10) {
                    _ if age < 10 => None,
                    0..=5 => metros.sample(&mut rng),
                    6..=7 => stops.sample(&mut rng),
                    _ => None,
                };
                let mut favourite = || popular.sample(&mut rng).unwrap_or(0);
                let favourites = [favourite(), favourite(), favourite()];
                Resident {
                    id: hex(&mut rng),
                    pseudonym: hex(&mut rng).into(),
                    name: rng.gen_range(0..names.len() as u16),
                    birthplace,
                    born,
                    sequence,
                    // Adults have phones of their own; children log in through a guardian's.
                    phone: (age >= 18).then(|| format!("1{:010}", 3_800_000_000 + u64::from(i))),
                    home: homes.sample(&mut rng).unwrap_or(0),
                    anchor,
                    commute,
                    favourites,
                }
            })
            .collect();
        City {
            params,
            venues,
            people,
            names,
            dwell_ms,
            popular,
        }
    }

    /// The first instant after the last day.
    pub fn end(&self) -> OffsetDateTime {
        self.params.start + Duration::days(i64::from(self.params.days))
    }

    pub fn dwell_ms(&self, venue: u32) -> i64 {
        self.venues
            .get(venue as usize)
            .map_or(3_600_000, |v| self.dwell_ms[v.category])
    }

    /// The visits of people `first..first + count` on `day`: `visits_per_day` each, in time
    /// order per person.
    pub fn visits(&self, day: u32, first: u32, count: u32, out: &mut Vec<SimVisit>) {
        let midnight = healthcode_store::ms(self.params.start + Duration::days(i64::from(day)));
        let last = (first + count).min(self.params.people);
        let per_day = self.params.visits_per_day as usize;
        let mut minutes = Vec::with_capacity(per_day);
        for p in first..last {
            let person = &self.people[p as usize];
            let mut rng = stream(self.params.seed, 3, u64::from(day), u64::from(p));
            minutes.clear();
            minutes.extend((0..per_day).map(|_| time_of_day(&mut rng)));
            minutes.sort_unstable();
            for &minute in &minutes {
                let venue = self.choose(person, minute, &mut rng);
                let at = midnight + i64::from(minute) * 60_000 + rng.gen_range(0..60_000);
                out.push(SimVisit {
                    person: p,
                    venue,
                    at,
                    until: at + self.dwell_ms(venue),
                    tail: rng.r#gen::<u128>() & ((1u128 << 80) - 1),
                });
            }
        }
    }

    /// Where a person goes at a minute of the day: mostly their own places.
    fn choose(&self, person: &Resident, minute: u32, rng: &mut StdRng) -> u32 {
        let roll = rng.gen_range(0..100);
        let (home, anchor, commute, favourite) = match minute {
            0..600 => (0, 35, 45, 10),
            600..960 => (0, 45, 0, 30),
            _ => (30, 0, 25, 25),
        };
        let habitual = if roll < home {
            Some(person.home)
        } else if roll < home + anchor {
            person.anchor
        } else if roll < home + anchor + commute {
            person.commute
        } else if roll < home + anchor + commute + favourite {
            person.favourites.choose(rng).copied()
        } else {
            None
        };
        habitual
            .or_else(|| self.popular.sample(rng))
            .unwrap_or(person.home)
    }
}

/// Age in whole years: children, students, working age and retired in a city's proportions.
fn age(rng: &mut StdRng) -> i64 {
    match rng.gen_range(0..100) {
        0..6 => rng.gen_range(0..6),
        6..20 => rng.gen_range(6..18),
        20..80 => rng.gen_range(18..61),
        _ => rng.gen_range(61..90),
    }
}

/// A minute of the day: morning and evening commute peaks, lunch, and the rest of the day.
fn time_of_day(rng: &mut StdRng) -> u32 {
    let peak = |rng: &mut StdRng, mean: f64, sd: f64| {
        Normal::new(mean, sd).map_or(mean, |n| n.sample(rng))
    };
    let minute = match rng.gen_range(0..100) {
        0..30 => peak(rng, 8.0 * 60.0, 50.0),
        30..50 => peak(rng, 12.25 * 60.0, 50.0),
        50..80 => peak(rng, 18.25 * 60.0, 70.0),
        _ => rng.gen_range(6.0 * 60.0..23.0 * 60.0),
    };
    minute.clamp(0.0, 1439.0) as u32
}

#[cfg(test)]
mod tests {
    use super::*;
    use healthcode_core::identity::{Document, DocumentKind};
    use std::collections::HashSet;
    use time::macros::datetime;

    fn params(seed: u64) -> Params {
        Params {
            people: 2_000,
            venues: 500,
            days: 2,
            visits_per_day: 3,
            seed,
            start: datetime!(2026-03-01 00:00 +8),
            region: "330100".into(),
        }
    }

    fn city(seed: u64) -> City {
        City::new(params(seed), |c| if c == "metro" { 30 } else { 60 })
    }

    fn all_visits(city: &City) -> Vec<SimVisit> {
        let mut out = Vec::new();
        for day in 0..city.params.days {
            city.visits(day, 0, city.params.people, &mut out);
        }
        out
    }

    #[test]
    fn every_person_makes_the_visits_of_each_day_inside_it() {
        let city = city(1);
        let visits = all_visits(&city);
        assert_eq!(visits.len(), 2_000 * 2 * 3);
        let start = healthcode_store::ms(city.params.start);
        for day in 0..2i64 {
            let from = start + day * 86_400_000;
            let on_day: Vec<&SimVisit> = visits
                .iter()
                .filter(|v| v.at >= from && v.at < from + 86_400_000)
                .collect();
            assert_eq!(on_day.len(), 6_000);
        }
        let venue = |v: &SimVisit| &city.venues[v.venue as usize];
        for v in &visits {
            let metro = CATEGORIES[venue(v).category].0 == "metro";
            assert_eq!(v.until - v.at, if metro { 30 } else { 60 } * 60_000);
        }
    }

    #[test]
    fn the_same_seed_gives_the_same_city_and_another_seed_another() {
        let (a, b, c) = (city(7), city(7), city(8));
        assert_eq!(all_visits(&a), all_visits(&b));
        assert_eq!(a.people[5].pseudonym, b.people[5].pseudonym);
        assert_ne!(all_visits(&a), all_visits(&c));
        // Generating by slices of people gives the same as all at once.
        let mut sliced = Vec::new();
        for day in 0..2 {
            for first in (0..2_000).step_by(300) {
                a.visits(day, first, 300, &mut sliced);
            }
        }
        let mut whole = all_visits(&a);
        sliced.sort_by_key(|v| (v.at, v.person));
        whole.sort_by_key(|v| (v.at, v.person));
        assert_eq!(sliced, whole);
    }

    #[test]
    fn documents_are_valid_and_unique_and_ids_too() {
        let city = city(3);
        let today = city.end().date();
        let mut numbers = HashSet::new();
        for p in &city.people {
            let number = p.document("330100");
            let doc = Document::parse(DocumentKind::ResidentId, &number, None, today);
            assert!(doc.is_ok(), "{number}: {doc:?}");
            assert!(numbers.insert(number));
        }
        let pseudonyms: HashSet<&str> = city.people.iter().map(|p| &*p.pseudonym).collect();
        assert_eq!(pseudonyms.len(), city.people.len());
        let venues: HashSet<&str> = city.venues.iter().map(|v| &*v.id).collect();
        assert_eq!(venues.len(), 500);
        let ids: HashSet<String> = all_visits(&city).iter().map(SimVisit::id).collect();
        assert_eq!(ids.len(), 12_000);
    }

    #[test]
    fn venues_are_skewed_and_people_keep_to_their_places() {
        let city = city(5);
        let visits = all_visits(&city);
        let mut per_venue = vec![0usize; city.venues.len()];
        for v in &visits {
            per_venue[v.venue as usize] += 1;
        }
        per_venue.sort_unstable_by(|a, b| b.cmp(a));
        let top: usize = per_venue[..5].iter().sum();
        // The top 1% of venues take far more than 1% of the visits.
        assert!(
            top * 100 / visits.len() >= 8,
            "top 1% took {top} of {}",
            visits.len()
        );
        let own = visits
            .iter()
            .filter(|v| {
                let p = &city.people[v.person as usize];
                v.venue == p.home
                    || Some(v.venue) == p.anchor
                    || Some(v.venue) == p.commute
                    || p.favourites.contains(&v.venue)
            })
            .count();
        assert!(own * 100 / visits.len() >= 60, "own places: {own}");
        // Every category is there, in roughly its share.
        for (c, (name, _, share, ..)) in CATEGORIES.iter().enumerate() {
            let n = city.venues.iter().filter(|v| v.category == c).count() as u32;
            assert!(n.abs_diff(share / 2) <= 1, "{name}: {n}");
        }
    }

    #[test]
    fn times_of_day_peak_at_the_commute() {
        let mut rng = stream(1, 0, 0, 0);
        let mut hours = [0u32; 24];
        for _ in 0..20_000 {
            hours[(time_of_day(&mut rng) / 60) as usize] += 1;
        }
        assert!(hours[8] > 3 * hours[3] + 100 && hours[18] > 3 * hours[3] + 100);
        assert!(hours[8] > hours[15] && hours[18] > hours[15]);
    }
}
