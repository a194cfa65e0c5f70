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

/// A fact's field as a rule's words name it where a person's own value will stand.
fn field_words(field: &str, lang: Lang) -> String {
    let (zh, en) = match field {
        "venue" => ("场所", "venue"),
        "start_at" => ("开始时间", "start"),
        "arrived_at" => ("抵达时间", "arrival"),
        "origin" => ("出发地", "origin"),
        "region" => ("地区", "region"),
        "recorded_at" => ("申报时间", "time declared"),
        "legal_basis" => ("依据", "legal basis"),
        "exposure_start" => ("接触开始时间", "exposure start"),
        "exposure_end" => ("接触结束时间", "exposure end"),
        "attested_at" => ("证明时间", "attestation time"),
        "sampled_at" => ("采样时间", "time sampled"),
        "level" => ("风险等级", "risk level"),
        _ => ("某项记录内容", "a recorded value"),
    };
    lang.t(zh, en).to_owned()
}

/// The rule's words with `{param.x}` filled in and `{fact.x}` named in words (‹场所›): readable
/// without a particular person's facts.
pub(crate) fn readable(text: &Text, lang: Lang, parameters: &Map<String, Value>) -> String {
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
                _ => out.push_str(&format!("‹{}›", lang.t("参数", "parameter"))),
            },
            Some((_, field)) => out.push_str(&format!("‹{}›", field_words(field, lang))),
            None => out.push_str(&format!("‹{}›", field_words(name, lang))),
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
                for_each: r.for_each.as_deref().map(|list| {
                    let (zh, en) = crate::usecases::audit_lines::record_words(list);
                    l.t(zh, en).to_owned()
                }),
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
        region: crate::web::page::region_words(&doc.region),
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
            "在 ‹场所› 接触，隔离 14 天"
        );
        assert_eq!(
            readable(&text, Lang::En, &params),
            "at ‹venue›, 14 days ‹parameter›"
        );
    }
}
