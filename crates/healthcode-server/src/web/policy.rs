//! The published colour policy as readable rules: what turns a code yellow or red, in words,
//! with the parameters it uses and, for the curious, the CertLogic behind each rule. Public, as
//! `GET /api/v1/policy` is.

use crate::AppState;
use crate::web::page::{Chrome, CodeLook, Lang, PageResult, look, render};
use crate::web::session::Web;
use askama::Template;
use axum::extract::State;
use healthcode_core::Text;
use serde_json::{Map, Value};

struct RuleRow {
    id: String,
    look: CodeLook,
    description: String,
    notice: Option<String>,
    for_each: Option<String>,
    when: String,
    until: Option<String>,
}

#[derive(Template)]
#[template(path = "policy.html")]
struct PolicyPage {
    chrome: Chrome,
    title: String,
    version: String,
    region: String,
    valid_from: String,
    rules: Vec<RuleRow>,
    parameters: Vec<(String, String)>,
}

/// The rule's words with `{param.x}` filled in and `{fact.x}` shown as ‹x›: readable without
/// a particular person's facts.
fn readable(text: &Text, lang: Lang, parameters: &Map<String, Value>) -> String {
    let raw = lang.text(text);
    let mut out = String::new();
    let mut rest = raw.as_str();
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let Some(close) = rest[open..].find('}') else {
            break;
        };
        let name = &rest[open + 1..open + close];
        match name.split_once('.') {
            Some(("param", p)) => match parameters.get(p) {
                Some(Value::Number(n)) => out.push_str(&n.to_string()),
                Some(Value::String(s)) => out.push_str(s),
                _ => out.push_str(&format!("‹{p}›")),
            },
            Some((_, field)) => out.push_str(&format!("‹{field}›")),
            None => out.push_str(&format!("‹{name}›")),
        }
        rest = &rest[open + close + 1..];
    }
    out.push_str(rest);
    out
}

pub async fn show(State(state): State<AppState>, web: Web) -> PageResult {
    let policy = state.policy.current();
    let doc = policy.document();
    let l = web.lang;
    let json = |v: &Value| serde_json::to_string_pretty(v).unwrap_or_default();
    let rules = doc
        .rules
        .iter()
        .map(|r| {
            let colour: healthcode_core::Color = r.color.into();
            RuleRow {
                id: r.id.clone(),
                look: look(colour.as_str()),
                description: readable(&r.description, l, &doc.parameters),
                notice: r.notice.as_ref().map(|n| readable(n, l, &doc.parameters)),
                for_each: r.for_each.clone(),
                when: json(&r.when),
                until: r.until.as_ref().map(json),
            }
        })
        .collect();
    let parameters = doc
        .parameters
        .iter()
        .map(|(k, v)| {
            let shown = match v {
                Value::Number(n) => n.to_string(),
                Value::String(s) => s.clone(),
                other => serde_json::to_string(other).unwrap_or_default(),
            };
            (k.clone(), shown)
        })
        .collect();
    let signed_in = web.token.is_some();
    render(PolicyPage {
        chrome: Chrome::new(&web, "赋码规则", "The colour policy", signed_in),
        title: l.text(&doc.title),
        version: doc.version.clone(),
        region: doc.region.clone(),
        valid_from: crate::web::page::local_time(doc.valid_from),
        rules,
        parameters,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_are_filled_in_and_facts_named() {
        let mut params = Map::new();
        params.insert("close_contact_days".into(), Value::from(14));
        let text = Text {
            zh: "在 {fact.venue} 接触，隔离 {param.close_contact_days} 天".into(),
            en: "at {fact.venue}, {param.close_contact_days} days {param.nothing}".into(),
        };
        assert_eq!(
            readable(&text, Lang::Zh, &params),
            "在 ‹venue› 接触，隔离 14 天"
        );
        assert_eq!(
            readable(&text, Lang::En, &params),
            "at ‹venue›, 14 days ‹nothing›"
        );
    }
}
