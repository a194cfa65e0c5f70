//! The dashboard: how many hold each code, the colours shown at doors and the scans per district
//! by hour, contacts per case and how long tracing took. Counts only, nothing personal.

use crate::AppState;
use crate::auth::Role;
use crate::web::charts::{Series, Stack, bars, stacked_bars};
use crate::web::page::{Chrome, LOCAL, Lang, PageResult, look, render};
use crate::web::session::Web;
use askama::Template;
use axum::extract::State;
use time::{Duration, OffsetDateTime};

#[derive(Template)]
#[template(path = "console_dashboard.html")]
struct DashboardPage {
    chrome: Chrome,
    charts: Vec<Chart>,
}

/// A chart and the same figures as a table.
struct Chart {
    svg: String,
    head: Vec<String>,
    rows: Vec<Vec<String>>,
}

const COLOURS: [(&str, &str); 4] = [
    ("green", "#0a7d32"),
    ("yellow", "#f2c200"),
    ("red", "#c4161c"),
    ("pending", "#5b6470"),
];
/// Fills told apart by lightness too, for the districts.
const PALETTE: [&str; 8] = [
    "#1f4e79", "#e07b00", "#6a3d9a", "#33a02c", "#b15928", "#a6cee3", "#fb9a99", "#444444",
];

fn hour_label(t: OffsetDateTime) -> String {
    format!("{:02}", t.checked_to_offset(LOCAL).unwrap_or(t).hour())
}

/// The last 24 whole hours, oldest first.
fn hours(now: OffsetDateTime) -> Vec<OffsetDateTime> {
    let this_hour = now
        .replace_minute(0)
        .and_then(|t| t.replace_second(0))
        .and_then(|t| t.replace_nanosecond(0))
        .unwrap_or(now);
    (0..24)
        .rev()
        .map(|h| this_hour - Duration::hours(h))
        .collect()
}

fn by_hour(
    rows: &[(OffsetDateTime, String, i64)],
    keys: &[String],
    hours: &[OffsetDateTime],
) -> Vec<Stack> {
    hours
        .iter()
        .map(|h| Stack {
            label: hour_label(*h),
            values: keys
                .iter()
                .map(|k| {
                    rows.iter()
                        .filter(|(t, key, _)| t == h && key == k)
                        .map(|(_, _, n)| n)
                        .sum()
                })
                .collect(),
        })
        .collect()
}

fn table(stacks: &[Stack], series: &[Series], lang: Lang) -> (Vec<String>, Vec<Vec<String>>) {
    let mut head = vec![lang.t("时", "Hour").to_owned()];
    head.extend(series.iter().map(|s| s.name.clone()));
    let rows = stacks
        .iter()
        .filter(|s| s.values.iter().any(|v| *v > 0))
        .map(|s| {
            let mut row = vec![s.label.clone()];
            row.extend(s.values.iter().map(i64::to_string));
            row
        })
        .collect();
    (head, rows)
}

pub async fn show(State(state): State<AppState>, web: Web) -> PageResult {
    let caller = web.staff(&state).await?;
    caller.require(&[Role::HealthOfficial, Role::Auditor, Role::Admin])?;
    let l = web.lang;
    let now = state.now();
    let span = hours(now);
    let from = span.first().copied().unwrap_or(now);
    let to = now + Duration::minutes(1);
    let mut charts = Vec::new();

    // Who holds which code now.
    let counts = state.store.colour_counts().await?;
    let items: Vec<(String, i64)> = [
        ("green", counts.green),
        ("yellow", counts.yellow),
        ("red", counts.red),
        ("pending", counts.pending),
    ]
    .into_iter()
    .map(|(c, n)| (format!("{} {}", look(c).icon, look(c).word(&l)), n))
    .collect();
    charts.push(Chart {
        svg: bars(
            l.t("当前各色码人数", "People by code now"),
            &items,
            "#1f4e79",
            l.t("人", "people"),
        ),
        head: vec![l.t("码", "Code").into(), l.t("人数", "People").into()],
        rows: items
            .iter()
            .map(|(k, v)| vec![k.clone(), v.to_string()])
            .collect(),
    });

    // The colours shown at doors, hour by hour.
    let keys: Vec<String> = COLOURS.iter().map(|(c, _)| (*c).to_owned()).collect();
    let series: Vec<Series> = COLOURS
        .iter()
        .map(|(c, fill)| Series {
            name: look(c).word(&l).to_owned(),
            fill,
        })
        .collect();
    let rows = state.store.visit_colours_by_hour(from, to).await?;
    let stacks = by_hour(&rows, &keys, &span);
    let (head, table_rows) = table(&stacks, &series, l);
    charts.push(Chart {
        svg: stacked_bars(
            l.t(
                "近 24 小时进场扫码的颜色（每小时）",
                "Colours shown at entries, last 24 hours (per hour)",
            ),
            &series,
            &stacks,
        ),
        head,
        rows: table_rows,
    });

    // Scans per hour by district.
    let rows = state.store.visits_by_hour_and_district(from, to).await?;
    let districts: Vec<String> = rows
        .iter()
        .map(|(_, r, _)| r.clone())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    let series: Vec<Series> = districts
        .iter()
        .zip(PALETTE.iter().cycle())
        .map(|(d, fill)| Series {
            name: d.clone(),
            fill,
        })
        .collect();
    let stacks = by_hour(&rows, &districts, &span);
    let (head, table_rows) = table(&stacks, &series, l);
    charts.push(Chart {
        svg: stacked_bars(
            l.t(
                "近 24 小时各区扫码量（每小时，按行政区划代码）",
                "Scans per hour by district (region code), last 24 hours",
            ),
            &series,
            &stacks,
        ),
        head,
        rows: table_rows,
    });

    // Contacts per case and how long each trace took.
    let traces = state.store.trace_figures(20).await?;
    let mut labels = std::collections::HashMap::new();
    for t in &traces {
        labels.insert(
            t.case_id.clone(),
            super::cases::case_label(&state, &t.person_id, t.created_at).await?,
        );
    }
    let short = |id: &str| labels.get(id).cloned().unwrap_or_default();
    let contacts: Vec<Stack> = traces
        .iter()
        .rev()
        .map(|t| Stack {
            label: short(&t.case_id),
            values: vec![t.close_contacts, t.secondary_contacts],
        })
        .collect();
    let series = vec![
        Series {
            name: l.t("密切接触者", "close contacts").into(),
            fill: "#c4161c",
        },
        Series {
            name: l.t("次密切接触者", "secondary contacts").into(),
            fill: "#f2c200",
        },
    ];
    charts.push(Chart {
        svg: stacked_bars(
            l.t("最近病例的接触者人数", "Contacts per case, latest cases"),
            &series,
            &contacts,
        ),
        head: vec![
            l.t("病例", "Case").into(),
            series[0].name.clone(),
            series[1].name.clone(),
        ],
        rows: traces
            .iter()
            .map(|t| {
                vec![
                    short(&t.case_id),
                    t.close_contacts.to_string(),
                    t.secondary_contacts.to_string(),
                ]
            })
            .collect(),
    });
    let latency: Vec<(String, i64)> = traces
        .iter()
        .filter_map(|t| {
            t.finished_at.map(|f| {
                (
                    short(&t.case_id),
                    (f - t.created_at).whole_milliseconds() as i64,
                )
            })
        })
        .collect();
    // Milliseconds for traces done at once; seconds once any took more than a minute.
    let (latency, unit) = if latency.iter().any(|(_, ms)| *ms > 60_000) {
        let secs = latency.into_iter().map(|(k, ms)| (k, ms / 1000)).collect();
        (secs, l.t("秒", "s"))
    } else {
        (latency, l.t("毫秒", "ms"))
    };
    charts.push(Chart {
        svg: bars(
            l.t(
                "流调耗时（登记病例至完成）",
                "Tracing latency (case recorded to trace done)",
            ),
            &latency,
            "#6a3d9a",
            unit,
        ),
        head: vec![l.t("病例", "Case").into(), unit.into()],
        rows: latency
            .iter()
            .map(|(k, v)| vec![k.clone(), v.to_string()])
            .collect(),
    });
    render(DashboardPage {
        chrome: Chrome::new(&web, "数据看板", "Dashboard", true),
        charts,
    })
}
