//! What changed from one version of the policy to the next, as anyone reads it in the public
//! history: rules added, removed and changed (and in what), parameters added, removed and
//! changed (from which value to which).

use crate::policy::{PolicyDocument, RuleDocument};
use serde::Serialize;
use serde_json::Value;

/// One rule's change: its id and colour, and which of its parts changed.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RuleChange {
    pub id: String,
    /// The parts that differ: `color`, `for_each`, `when`, `until`, `description`, `notice`.
    pub parts: Vec<&'static str>,
    /// The rule's words after the change, in both languages.
    pub description: crate::Text,
}

/// A parameter's change; `before` is null when it was added, `after` when it was removed.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ParameterChange {
    pub name: String,
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub before: Value,
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub after: Value,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PolicyDiff {
    pub rules_added: Vec<RuleChange>,
    pub rules_removed: Vec<RuleChange>,
    pub rules_changed: Vec<RuleChange>,
    pub parameters: Vec<ParameterChange>,
    /// The display offset or the title changed.
    pub other: Vec<&'static str>,
}

impl PolicyDiff {
    pub fn is_empty(&self) -> bool {
        *self == PolicyDiff::default()
    }
}

fn whole(rule: &RuleDocument) -> RuleChange {
    RuleChange {
        id: rule.id.clone(),
        parts: Vec::new(),
        description: rule.description.clone(),
    }
}

/// The parts in which two versions of one rule differ.
fn parts(a: &RuleDocument, b: &RuleDocument) -> Vec<&'static str> {
    [
        ("color", a.color != b.color),
        ("for_each", a.for_each != b.for_each),
        ("when", a.when != b.when),
        ("until", a.until != b.until),
        ("description", a.description != b.description),
        ("notice", a.notice != b.notice),
    ]
    .into_iter()
    .filter_map(|(name, differs)| differs.then_some(name))
    .collect()
}

/// What changed from `before` to `after`, rules and parameters in the order `after` lists them
/// (removed ones in the order `before` did).
pub fn diff(before: &PolicyDocument, after: &PolicyDocument) -> PolicyDiff {
    let find = |doc: &PolicyDocument, id: &str| doc.rules.iter().find(|r| r.id == id).cloned();
    let mut out = PolicyDiff::default();
    for rule in &after.rules {
        match find(before, &rule.id) {
            None => out.rules_added.push(whole(rule)),
            Some(old) => {
                let parts = parts(&old, rule);
                if !parts.is_empty() {
                    out.rules_changed.push(RuleChange {
                        parts,
                        ..whole(rule)
                    });
                }
            }
        }
    }
    out.rules_removed = before
        .rules
        .iter()
        .filter(|r| find(after, &r.id).is_none())
        .map(whole)
        .collect();
    let mut names: Vec<&String> = after.parameters.keys().collect();
    names.extend(
        before
            .parameters
            .keys()
            .filter(|k| !after.parameters.contains_key(*k)),
    );
    for name in names {
        let (was, now) = (before.parameters.get(name), after.parameters.get(name));
        if was != now {
            out.parameters.push(ParameterChange {
                name: name.clone(),
                before: was.cloned().unwrap_or(Value::Null),
                after: now.cloned().unwrap_or(Value::Null),
            });
        }
    }
    if before.display_offset != after.display_offset {
        out.other.push("display_offset");
    }
    if before.title != after.title {
        out.other.push("title");
    }
    if before.messages != after.messages {
        out.other.push("messages");
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::Policy;
    use serde_json::json;

    #[test]
    fn a_changed_parameter_a_removed_rule_and_an_added_one_are_each_named() {
        let before = Policy::default_policy().unwrap().document().clone();
        let mut after = before.clone();
        assert!(diff(&before, &after).is_empty());
        after.parameters.insert("yellow_checkins".into(), json!(5));
        after.parameters.insert("new_knob".into(), json!(true));
        after.parameters.remove("abroad_days");
        let removed = after.rules.remove(0);
        let mut added = after.rules[0].clone();
        added.id = "new-rule".into();
        after.rules.push(added);
        after.rules[0].description.en = "changed words".into();
        let d = diff(&before, &after);
        assert_eq!(d.rules_removed.len(), 1);
        assert_eq!(d.rules_removed[0].id, removed.id);
        assert_eq!(d.rules_added[0].id, "new-rule");
        assert_eq!(d.rules_changed.len(), 1);
        assert_eq!(d.rules_changed[0].parts, vec!["description"]);
        let names: Vec<(&str, &Value, &Value)> = d
            .parameters
            .iter()
            .map(|p| (p.name.as_str(), &p.before, &p.after))
            .collect();
        assert!(names.contains(&("yellow_checkins", &json!(7), &json!(5))));
        assert!(names.contains(&("new_knob", &Value::Null, &json!(true))));
        assert!(
            names
                .iter()
                .any(|(n, _, after)| *n == "abroad_days" && after.is_null())
        );
        assert_eq!(d.parameters.len(), 3);
    }
}
