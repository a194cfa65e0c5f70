//! Visits (到访记录) and what they stand for: a scan or check-in is a point in time at a venue; it
//! stands for presence from then for the dwell time of the venue's category, or until the same
//! person's exit scan at that venue, whichever comes first. Who is admitted where is the
//! published policy's `venue_admits`.

use crate::policy::PolicyDocument;

/// The words for a venue category (Chinese, English): `mall` is 商场 / shopping mall. A category
/// the policy adds without words here is shown as it is.
pub fn category_words(category: &str) -> (&str, &str) {
    match category {
        "metro" => ("地铁站", "metro station"),
        "station" => ("火车站、汽车站", "railway or bus station"),
        "bus" => ("公交", "bus"),
        "mall" => ("商场", "shopping mall"),
        "market" => ("农贸市场", "market"),
        "restaurant" => ("餐馆", "restaurant"),
        "hospital" => ("医院", "hospital"),
        "school" => ("学校", "school"),
        "office" => ("办公场所", "office"),
        "residential" => ("小区", "residential compound"),
        "other" => ("其他场所", "other venue"),
        other => (other, other),
    }
}

/// Which way a scan was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    Entry,
    Exit,
}

impl Direction {
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Entry => "entry",
            Direction::Exit => "exit",
        }
    }

    pub fn parse(s: &str) -> Option<Direction> {
        match s {
            "entry" => Some(Direction::Entry),
            "exit" => Some(Direction::Exit),
            _ => None,
        }
    }
}

/// One recorded visit, as the log keeps it: times in milliseconds since the Unix epoch; `until`
/// is the end of presence when no exit is scanned (`at` + the category's dwell time). Subject
/// and venue are names (`&str`) or the numbers tracing gives them (`u32`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VisitPoint<K> {
    pub subject: K,
    pub venue: K,
    pub direction: Direction,
    pub at: i64,
    pub until: i64,
}

/// A span of presence at a venue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Presence {
    /// The index of the entry visit it comes from.
    pub entry: usize,
    pub from: i64,
    pub until: i64,
}

/// The presence each entry stands for: from its time to its default end, closed early by the
/// first exit of the same subject at the same venue at or after the entry (and not after a later
/// entry of theirs there, which starts a presence of its own). Exits stand for no presence.
pub fn presences<K: Ord + Copy>(visits: &[VisitPoint<K>]) -> Vec<Presence> {
    let mut order: Vec<usize> = (0..visits.len()).collect();
    order.sort_by(|&a, &b| {
        let (x, y) = (&visits[a], &visits[b]);
        // At the same instant an entry comes first, so that an exit then closes it.
        (x.subject, x.venue, x.at, x.direction == Direction::Exit).cmp(&(
            y.subject,
            y.venue,
            y.at,
            y.direction == Direction::Exit,
        ))
    });
    let mut out = Vec::new();
    let mut open: Option<Presence> = None;
    let mut key: Option<(K, K)> = None;
    for i in order {
        let v = &visits[i];
        if key != Some((v.subject, v.venue)) {
            out.extend(open.take());
            key = Some((v.subject, v.venue));
        }
        match v.direction {
            Direction::Entry => {
                out.extend(open.take());
                open = Some(Presence {
                    entry: i,
                    from: v.at,
                    until: v.until,
                });
            }
            Direction::Exit => {
                if let Some(mut p) = open.take() {
                    p.until = p.until.min(v.at);
                    out.push(p);
                }
            }
        }
    }
    out.extend(open);
    out.sort_by_key(|p| p.entry);
    out
}

/// Whether a code of `colour` (`green`, `yellow`, `red` or `pending`) is admitted at a venue of
/// `category`, by the policy's `venue_admits` table (its `default` row for other categories).
/// Without a table, only green is admitted.
pub fn admits(policy: &PolicyDocument, category: &str, colour: &str) -> bool {
    let Some(table) = policy.parameters.get("venue_admits") else {
        return colour == "green";
    };
    table
        .get(category)
        .or_else(|| table.get("default"))
        .and_then(|row| row.as_array())
        .is_some_and(|row| row.iter().any(|c| c.as_str() == Some(colour)))
}

/// The colour a pass from another region is judged by at a gate of `category`: the
/// `treat_as` of the first row of the policy's `recognition` table that matches, else the
/// pass's own colour (mutual recognition: 互通互认). A row matches on each field it has:
/// `colour` (the pass's), `regions` (GB/T 2260 codes covering the pass's region),
/// `from_high_risk_region` (whether the pass's region holds a high-risk area in force) and
/// `categories`. A `treat_as` that is not a colour reads as `pending`: a row that cannot be
/// understood never admits more.
pub fn recognised_colour(
    policy: &PolicyDocument,
    category: &str,
    pass_region: &str,
    colour: &str,
    high_risk: bool,
) -> String {
    let rows = policy
        .parameters
        .get("recognition")
        .and_then(|t| t.as_array())
        .map(Vec::as_slice)
        .unwrap_or_default();
    let strings = |row: &serde_json::Value, key: &str| -> Option<Vec<String>> {
        row.get(key).map(|v| {
            v.as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|x| x.as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default()
        })
    };
    for row in rows {
        let colour_ok = row.get("colour").is_none_or(|c| c.as_str() == Some(colour));
        let regions_ok = strings(row, "regions").is_none_or(|codes| {
            codes.iter().any(|code| {
                crate::region::RegionCode::parse(code).is_ok_and(|r| r.covers(pass_region))
            })
        });
        let risk_ok = row
            .get("from_high_risk_region")
            .and_then(|v| v.as_bool())
            .is_none_or(|wanted| wanted == high_risk);
        let category_ok =
            strings(row, "categories").is_none_or(|cats| cats.iter().any(|c| c == category));
        if colour_ok && regions_ok && risk_ok && category_ok {
            let treat_as = row.get("treat_as").and_then(|v| v.as_str()).unwrap_or("");
            return crate::Color::parse(treat_as)
                .unwrap_or(crate::Color::Pending)
                .as_str()
                .to_owned();
        }
    }
    colour.to_owned()
}

/// How long a visit at a venue of `category` stands for presence, by the policy's
/// `venue_dwell_minutes` (its `other` row for unknown categories, else an hour).
pub fn dwell_minutes(policy: &PolicyDocument, category: &str) -> i64 {
    let table = policy.parameters.get("venue_dwell_minutes");
    table
        .and_then(|t| t.get(category).or_else(|| t.get("other")))
        .and_then(|m| m.as_i64())
        .unwrap_or(60)
}

/// A whole-number policy parameter, or `default` when absent.
pub fn parameter_i64(policy: &PolicyDocument, name: &str, default: i64) -> i64 {
    policy
        .parameters
        .get(name)
        .and_then(|v| v.as_i64())
        .unwrap_or(default)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry<'a>(subject: &'a str, venue: &'a str, at: i64) -> VisitPoint<&'a str> {
        VisitPoint {
            subject,
            venue,
            direction: Direction::Entry,
            at,
            until: at + 100,
        }
    }

    fn exit<'a>(subject: &'a str, venue: &'a str, at: i64) -> VisitPoint<&'a str> {
        VisitPoint {
            direction: Direction::Exit,
            until: at,
            ..entry(subject, venue, at)
        }
    }

    fn spans(visits: &[VisitPoint<&str>]) -> Vec<(usize, i64, i64)> {
        presences(visits)
            .into_iter()
            .map(|p| (p.entry, p.from, p.until))
            .collect()
    }

    #[test]
    fn an_entry_lasts_its_dwell_time_without_an_exit() {
        assert_eq!(spans(&[entry("a", "v", 10)]), vec![(0, 10, 110)]);
    }

    #[test]
    fn an_exit_closes_the_presence_early_whatever_the_arrival_order() {
        let visits = [exit("a", "v", 40), entry("a", "v", 10)];
        assert_eq!(spans(&visits), vec![(1, 10, 40)]);
    }

    #[test]
    fn an_exit_after_the_dwell_time_changes_nothing() {
        let visits = [entry("a", "v", 10), exit("a", "v", 500)];
        assert_eq!(spans(&visits), vec![(0, 10, 110)]);
    }

    #[test]
    fn exits_elsewhere_or_by_others_do_not_close_a_presence() {
        let visits = [
            entry("a", "v", 10),
            exit("a", "w", 20),
            exit("b", "v", 30),
            entry("b", "v", 5),
        ];
        assert_eq!(spans(&visits), vec![(0, 10, 110), (3, 5, 30)]);
    }

    #[test]
    fn a_second_entry_starts_its_own_presence_and_takes_the_later_exit() {
        let visits = [entry("a", "v", 10), entry("a", "v", 50), exit("a", "v", 60)];
        assert_eq!(spans(&visits), vec![(0, 10, 110), (1, 50, 60)]);
    }

    #[test]
    fn an_exit_at_the_same_instant_as_the_entry_closes_it() {
        let visits = [entry("a", "v", 10), exit("a", "v", 10)];
        assert_eq!(spans(&visits), vec![(0, 10, 10)]);
    }

    #[test]
    fn admission_follows_the_published_table() {
        let policy = crate::Policy::default_policy().unwrap_or_else(|e| panic!("{e}"));
        let doc = policy.document();
        assert!(admits(doc, "metro", "green"));
        assert!(!admits(doc, "metro", "yellow"));
        assert!(admits(doc, "mall", "yellow"));
        assert!(!admits(doc, "mall", "red"));
        assert!(!admits(doc, "unknown-category", "yellow"));
        assert!(admits(doc, "unknown-category", "green"));
        assert_eq!(dwell_minutes(doc, "metro"), 30);
        assert_eq!(dwell_minutes(doc, "unknown-category"), 60);
        assert_eq!(parameter_i64(doc, "visit_retention_days", 0), 28);
    }

    #[test]
    fn another_regions_pass_is_judged_by_the_recognition_table() {
        let mut policy = crate::Policy::default_policy().unwrap().document().clone();
        // The default: green from anywhere is green, except at a station when its region
        // holds a high-risk area.
        assert_eq!(
            recognised_colour(&policy, "mall", "420100", "green", true),
            "green"
        );
        assert_eq!(
            recognised_colour(&policy, "station", "420100", "green", false),
            "green"
        );
        assert_eq!(
            recognised_colour(&policy, "station", "420100", "green", true),
            "yellow"
        );
        assert_eq!(
            recognised_colour(&policy, "station", "420100", "red", true),
            "red"
        );
        policy.parameters.insert(
            "recognition".into(),
            serde_json::json!([
                {"regions": ["420000"], "treat_as": "red"},
                {"colour": "green", "treat_as": "no such colour"}
            ]),
        );
        // A province covers its cities; a row naming no colour reads as pending.
        assert_eq!(
            recognised_colour(&policy, "mall", "420100", "green", false),
            "red"
        );
        assert_eq!(
            recognised_colour(&policy, "mall", "440300", "green", false),
            "pending"
        );
        assert_eq!(
            recognised_colour(&policy, "mall", "440300", "yellow", false),
            "yellow"
        );
    }
}
