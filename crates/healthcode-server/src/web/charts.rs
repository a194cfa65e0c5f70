//! Charts drawn on the server as SVG: no script, readable in print. Every chart has a title,
//! a legend naming each series in words, and values written on or beside the bars, so nothing is
//! told by colour alone; the pages put the numbers in a table beside each too.

use std::fmt::Write;

/// One series of a stacked chart: its name (shown in the legend) and fill.
pub struct Series {
    pub name: String,
    pub fill: &'static str,
}

/// One bar: its label and its value in each series, in the series' order.
pub struct Stack {
    pub label: String,
    pub values: Vec<i64>,
}

const WIDTH: f64 = 720.0;
const PLOT_LEFT: f64 = 48.0;
const PLOT_TOP: f64 = 34.0;
const PLOT_HEIGHT: f64 = 200.0;

/// Escapes text for SVG.
pub fn esc(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn legend(out: &mut String, series: &[Series], y: f64) {
    let mut x = PLOT_LEFT;
    for s in series {
        let _ = write!(
            out,
            r##"<rect x="{x}" y="{}" width="12" height="12" fill="{}" stroke="#333" stroke-width="0.5"/><text x="{}" y="{y}" font-size="13">{}</text>"##,
            y - 11.0,
            s.fill,
            x + 16.0,
            esc(&s.name)
        );
        x += 28.0 + 13.0 * s.name.chars().count() as f64;
    }
}

/// Vertical stacked bars, one per stack, with each bar's total above it.
pub fn stacked_bars(title: &str, series: &[Series], stacks: &[Stack]) -> String {
    let max = stacks
        .iter()
        .map(|s| s.values.iter().sum::<i64>())
        .max()
        .unwrap_or(0)
        .max(1);
    let height = PLOT_TOP + PLOT_HEIGHT + 60.0;
    let mut out = format!(
        r##"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {height}" role="img" aria-label="{0}"><title>{0}</title>"##,
        esc(title)
    );
    let _ = write!(
        out,
        r##"<text x="{PLOT_LEFT}" y="18" font-size="15" font-weight="700">{}</text>"##,
        esc(title)
    );
    let base = PLOT_TOP + PLOT_HEIGHT;
    let _ = write!(
        out,
        "<line x1=\"{PLOT_LEFT}\" y1=\"{base}\" x2=\"{WIDTH}\" y2=\"{base}\" stroke=\"#333\"/><text x=\"{}\" y=\"{}\" font-size=\"11\" text-anchor=\"end\">{max}</text><text x=\"{}\" y=\"{base}\" font-size=\"11\" text-anchor=\"end\">0</text>",
        PLOT_LEFT - 4.0,
        PLOT_TOP + 4.0,
        PLOT_LEFT - 4.0
    );
    if stacks.is_empty() {
        let _ = write!(
            out,
            r##"<text x="{}" y="{}" font-size="14">—</text>"##,
            PLOT_LEFT + 10.0,
            base - 10.0
        );
    }
    let slot = (WIDTH - PLOT_LEFT) / stacks.len().max(1) as f64;
    let bar = (slot * 0.7).max(2.0);
    // Label every n-th bar so that labels never overlap.
    let widest = stacks
        .iter()
        .map(|s| s.label.chars().count())
        .max()
        .unwrap_or(1) as f64;
    let every = ((widest * 7.0 + 6.0) / slot).ceil().max(1.0) as usize;
    for (i, stack) in stacks.iter().enumerate() {
        let x = PLOT_LEFT + slot * i as f64 + (slot - bar) / 2.0;
        let mut top = base;
        for (value, s) in stack.values.iter().zip(series) {
            let h = PLOT_HEIGHT * (*value as f64) / max as f64;
            if h > 0.0 {
                top -= h;
                let _ = write!(
                    out,
                    r##"<rect x="{x:.1}" y="{top:.1}" width="{bar:.1}" height="{h:.1}" fill="{}"><title>{}: {}</title></rect>"##,
                    s.fill,
                    esc(&s.name),
                    value
                );
            }
        }
        let total: i64 = stack.values.iter().sum();
        let centre = x + bar / 2.0;
        if total > 0 {
            let _ = write!(
                out,
                r##"<text x="{centre:.1}" y="{:.1}" font-size="10" text-anchor="middle">{total}</text>"##,
                top - 3.0
            );
        }
        if i % every == 0 {
            let _ = write!(
                out,
                r##"<text x="{centre:.1}" y="{:.1}" font-size="11" text-anchor="middle">{}</text>"##,
                base + 14.0,
                esc(&stack.label)
            );
        }
    }
    legend(&mut out, series, base + 42.0);
    out.push_str("</svg>");
    out
}

/// Horizontal bars, one per item, each with its value written after it.
pub fn bars(title: &str, items: &[(String, i64)], fill: &str, unit: &str) -> String {
    let max = items.iter().map(|(_, v)| *v).max().unwrap_or(0).max(1);
    let row = 22.0;
    let label_width = 200.0;
    let height = PLOT_TOP + row * items.len().max(1) as f64 + 10.0;
    let mut out = format!(
        r##"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {height}" role="img" aria-label="{0}"><title>{0}</title><text x="4" y="18" font-size="15" font-weight="700">{0}</text>"##,
        esc(title)
    );
    // Room after the longest bar for its value.
    let span = WIDTH - label_width - 150.0;
    for (i, (label, value)) in items.iter().enumerate() {
        let y = PLOT_TOP + row * i as f64;
        let w = span * (*value as f64) / max as f64;
        let _ = write!(
            out,
            r##"<text x="{:.1}" y="{:.1}" font-size="12" text-anchor="end">{}</text><rect x="{label_width}" y="{y:.1}" width="{w:.1}" height="{:.1}" fill="{fill}"/><text x="{:.1}" y="{:.1}" font-size="12">{value} {}</text>"##,
            label_width - 6.0,
            y + 14.0,
            esc(label),
            row - 6.0,
            label_width + w + 6.0,
            y + 14.0,
            esc(unit)
        );
    }
    if items.is_empty() {
        let _ = write!(
            out,
            r##"<text x="{label_width}" y="{}" font-size="14">—</text>"##,
            PLOT_TOP + 14.0
        );
    }
    out.push_str("</svg>");
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn stacked_bars_are_scaled_to_the_tallest_and_labelled_in_words() {
        let series = [
            Series {
                name: "绿码".into(),
                fill: "#0a7d32",
            },
            Series {
                name: "红码".into(),
                fill: "#c4161c",
            },
        ];
        let stacks = [
            Stack {
                label: "08".into(),
                values: vec![30, 10],
            },
            Stack {
                label: "09".into(),
                values: vec![10, 10],
            },
        ];
        let svg = stacked_bars("Colours <by hour>", &series, &stacks);
        // The tallest bar fills the plot: 30 of 40 is 150 px of the 200.
        assert!(svg.contains(r##"height="150.0" fill="#0a7d32""##), "{svg}");
        assert!(svg.contains(r##"height="50.0" fill="#c4161c""##));
        // Totals and the legend's words are written out; text is escaped.
        assert!(svg.contains(">40</text>") && svg.contains(">20</text>"));
        assert!(svg.contains(">绿码</text>") && svg.contains(">红码</text>"));
        assert!(svg.contains("Colours &lt;by hour&gt;") && !svg.contains("<by hour>"));
    }

    #[test]
    fn bars_write_each_value_and_an_empty_chart_says_so() {
        let svg = bars(
            "Contacts",
            &[("case A".into(), 12), ("case B".into(), 3)],
            "#333",
            "people",
        );
        assert!(svg.contains(">12 people</text>") && svg.contains(">3 people</text>"));
        assert!(bars("Nothing", &[], "#333", "").contains(">—</text>"));
        assert!(stacked_bars("Nothing", &[], &[]).contains(">—</text>"));
    }
}
