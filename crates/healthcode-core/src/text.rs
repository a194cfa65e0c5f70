//! Bilingual text and the `{path}` templates that rule descriptions use.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A text in Chinese and English; every message a person reads comes in both.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Text {
    pub zh: String,
    pub en: String,
}

impl Text {
    /// Fills `{path}` placeholders: dotted paths whose first part names one of `roots` (e.g.
    /// `{fact.venue}` with a `fact` root); date-times are shown with `render_time`. A
    /// placeholder that resolves to nothing is left visible, so a mistake in a policy shows up
    /// in review instead of silently vanishing.
    pub fn fill(
        &self,
        roots: &[(&str, &Value)],
        render_time: &dyn Fn(&str) -> Option<String>,
    ) -> Text {
        Text {
            zh: fill(&self.zh, roots, render_time),
            en: fill(&self.en, roots, render_time),
        }
    }

    /// Every placeholder path used by either language, each once, in order of appearance.
    pub fn placeholders(&self) -> Vec<&str> {
        let mut paths = placeholders(&self.zh);
        for path in placeholders(&self.en) {
            if !paths.contains(&path) {
                paths.push(path);
            }
        }
        paths
    }
}

fn placeholders(template: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = template;
    while let Some(start) = rest.find('{') {
        let after = &rest[start + 1..];
        match after.find('}') {
            Some(end) => {
                out.push(&after[..end]);
                rest = &after[end + 1..];
            }
            None => break,
        }
    }
    out
}

fn fill(
    template: &str,
    roots: &[(&str, &Value)],
    render_time: &dyn Fn(&str) -> Option<String>,
) -> String {
    let mut out = String::with_capacity(template.len() + 16);
    let mut rest = template;
    while let Some(start) = rest.find('{') {
        out.push_str(&rest[..start]);
        let after = &rest[start + 1..];
        let Some(end) = after.find('}') else {
            out.push_str(&rest[start..]);
            return out;
        };
        let path = &after[..end];
        match lookup(roots, path) {
            Some(Value::String(s)) => out.push_str(&render_time(s).unwrap_or_else(|| s.clone())),
            Some(Value::Null) | None => {
                out.push('{');
                out.push_str(path);
                out.push('}');
            }
            Some(other) => out.push_str(&other.to_string()),
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    out
}

fn lookup<'a>(roots: &[(&str, &'a Value)], path: &str) -> Option<&'a Value> {
    let mut parts = path.split('.');
    let first = parts.next()?;
    let mut value = roots.iter().find(|(name, _)| *name == first)?.1;
    for part in parts {
        value = match value {
            Value::Object(map) => map.get(part)?,
            Value::Array(items) => items.get(part.parse::<usize>().ok()?)?,
            _ => return None,
        };
    }
    Some(value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn fills_paths_and_keeps_unknown_ones_visible() {
        let text = Text {
            zh: "{fact.venue}，至{until}".into(),
            en: "at {fact.venue} until {until}; {fact.missing}".into(),
        };
        let (fact, until) = (
            json!({"venue": "Metro Line 1"}),
            json!("2020-04-17T00:00:00Z"),
        );
        let roots = [("fact", &fact), ("until", &until)];
        let filled = text.fill(&roots, &|s| s.ends_with('Z').then(|| s[..10].to_string()));
        assert_eq!(filled.zh, "Metro Line 1，至2020-04-17");
        assert_eq!(
            filled.en,
            "at Metro Line 1 until 2020-04-17; {fact.missing}"
        );
        assert_eq!(
            text.placeholders(),
            vec!["fact.venue", "until", "fact.missing"]
        );
    }
}
