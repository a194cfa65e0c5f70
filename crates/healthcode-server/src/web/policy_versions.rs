//! Policy versions on the pages: the public history (every version with when it applies, its
//! legal basis, who proposed and who approved it, and what changed, in words), and the console
//! where a health official proposes a version, reads its dry run and its changes, and approves
//! (another official's) or withdraws it.

use crate::AppState;
use crate::body::Path;
use crate::usecases::policy_versions::{self, ProposeRequest};
use crate::web::console::local_field;
use crate::web::page::{
    Chrome, Lang, PageResult, WebError, local_time, look, official_words, render, see,
};
use crate::web::session::{Posted, Web};
use askama::Template;
use axum::extract::State;
use healthcode_core::policy_diff::PolicyDiff;
use serde::Deserialize;

fn state_label(lang: Lang, state: &str) -> &'static str {
    match state {
        "base" => lang.t("初始版本", "the starting version"),
        "approved" => lang.t("已批准", "approved"),
        "withdrawn" => lang.t("已撤回", "withdrawn"),
        _ => lang.t("待批准", "awaiting approval"),
    }
}

fn value(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::Null => "—".into(),
        other => other.to_string(),
    }
}

/// What changed, one sentence a line.
/// One change in the history: what kind of change, the rule or parameter it is about (a code,
/// shown as one), and the rest in words.
pub(crate) struct ChangeLine {
    what: String,
    code: String,
    words: String,
}

fn line(what: &str, code: &str, words: String) -> ChangeLine {
    ChangeLine {
        what: what.to_owned(),
        code: code.to_owned(),
        words,
    }
}

/// A part of a rule as the history names it.
fn part_words(part: &str, lang: Lang) -> &'static str {
    match part {
        "color" => lang.t("颜色", "colour"),
        "for_each" => lang.t("判断对象", "records judged"),
        "when" => lang.t("适用条件", "when it applies"),
        "until" => lang.t("结束条件", "when it ends"),
        "description" => lang.t("说明", "description"),
        "notice" => lang.t("提示", "what to do"),
        _ => lang.t("其他", "other"),
    }
}

fn change_lines(
    lang: Lang,
    d: Option<&PolicyDiff>,
    parameters: &serde_json::Map<String, serde_json::Value>,
) -> Vec<ChangeLine> {
    let Some(d) = d else {
        return vec![line(
            lang.t("最初的版本", "the first version"),
            "",
            String::new(),
        )];
    };
    let colon = lang.t("：", ": ");
    let said = |t: &healthcode_core::Text| {
        format!(
            "{colon}{}",
            crate::web::policy::readable(t, lang, parameters)
        )
    };
    let mut out = Vec::new();
    for r in &d.rules_added {
        out.push(line(
            lang.t("新增规则", "Rule added"),
            &r.id,
            said(&r.description),
        ));
    }
    for r in &d.rules_removed {
        out.push(line(
            lang.t("删除规则", "Rule removed"),
            &r.id,
            said(&r.description),
        ));
    }
    for r in &d.rules_changed {
        let parts: Vec<&str> = r.parts.iter().map(|p| part_words(p, lang)).collect();
        let words = format!(
            "{}{}{}",
            lang.t("（", " ("),
            parts.join(lang.t("、", ", ")),
            lang.t("）", ")")
        );
        out.push(line(
            lang.t("修改规则", "Rule changed"),
            &r.id,
            words + &said(&r.description),
        ));
    }
    for p in &d.parameters {
        out.push(line(
            lang.t("参数", "Parameter"),
            &p.name,
            format!("{colon}{} → {}", value(&p.before), value(&p.after)),
        ));
    }
    for o in &d.other {
        let what = match *o {
            "display_offset" => lang.t("显示时区", "the time zone shown"),
            "title" => lang.t("标题", "the title"),
            "messages" => lang.t(
                "变码通知用语与咨询热线",
                "the words of colour-change messages and the hotline",
            ),
            _ => lang.t("其他设置", "another setting"),
        };
        out.push(line(
            lang.t("其他变更", "Also changed"),
            "",
            format!("{colon}{what}"),
        ));
    }
    if out.is_empty() {
        out.push(line(
            lang.t("与前一版本相同", "the same as the version before"),
            "",
            String::new(),
        ));
    }
    out
}

struct Entry {
    id: String,
    version: String,
    title: String,
    state: &'static str,
    state_key: String,
    effective: String,
    legal_basis: String,
    proposed_by: String,
    decided_by: String,
    changes: Vec<ChangeLine>,
}

async fn entry(
    state: &AppState,
    lang: Lang,
    published: policy_versions::Published,
) -> Result<Entry, WebError> {
    let policy_versions::Published {
        version: v,
        title,
        changes,
        parameters,
    } = published;
    Ok(Entry {
        state: state_label(lang, &v.state),
        effective: local_time(v.effective_at),
        changes: change_lines(lang, changes.as_ref(), &parameters),
        title: lang.text(&title),
        decided_by: official_words(state, lang, v.decided_by.as_deref().unwrap_or_default())
            .await?,
        proposed_by: official_words(state, lang, &v.proposed_by).await?,
        legal_basis: if v.state == "base" {
            lang.t("节点配置", "the node's configuration").to_owned()
        } else {
            v.legal_basis
        },
        id: v.id,
        version: v.version,
        state_key: v.state,
    })
}

#[derive(Template)]
#[template(path = "policy_versions.html")]
struct HistoryPage {
    chrome: Chrome,
    entries: Vec<Entry>,
    /// A health official: may propose, and decide others' proposals.
    official: bool,
}

/// The public history, newest first; officials also get the form to propose.
pub async fn history(State(state): State<AppState>, web: Web) -> PageResult {
    let official = matches!(
        web.caller(&state).await?,
        Some(crate::auth::Caller::Staff {
            role: crate::auth::Role::HealthOfficial,
            ..
        })
    );
    let mut entries = Vec::new();
    for p in policy_versions::history(&state).await?.into_iter().rev() {
        entries.push(entry(&state, web.lang, p).await?);
    }
    render(HistoryPage {
        chrome: Chrome::new(
            &web,
            "赋码规则版本",
            "Versions of the colour policy",
            official,
        ),
        entries,
        official,
    })
}

#[derive(Deserialize)]
pub struct ProposeForm {
    #[serde(default)]
    document: String,
    #[serde(default)]
    legal_basis: String,
    #[serde(default)]
    effective_at: String,
}

pub async fn propose(
    State(state): State<AppState>,
    web: Web,
    Posted(form): Posted<ProposeForm>,
) -> PageResult {
    let caller = web.staff(&state).await?;
    let document = serde_json::from_str(&form.document).map_err(|e| {
        crate::error::ApiError::unprocessable(
            "bad_policy",
            format!("the document is not JSON: {e}"),
            format!("规则文件不是有效的 JSON：{e}"),
        )
    })?;
    let request = ProposeRequest {
        document,
        legal_basis: form.legal_basis,
        effective_at: local_field(&form.effective_at)?,
    };
    let v = policy_versions::propose(&state, &caller, request, state.now()).await?;
    see(&format!("/console/policy/{}", v.id))
}

struct ChangeRow {
    from: &'static str,
    to: &'static str,
    to_class: &'static str,
    people: u64,
    rules: String,
    districts: String,
    sample: String,
}

#[derive(Template)]
#[template(path = "console_policy_version.html")]
struct VersionPage {
    chrome: Chrome,
    entry: Entry,
    against: String,
    at: String,
    evaluated: u64,
    unchanged: u64,
    changes: Vec<ChangeRow>,
    open: bool,
}

/// One version for officials: what changed, and who it would turn (the dry run), with the
/// approve and withdraw buttons while it is still open.
pub async fn version(
    State(state): State<AppState>,
    web: Web,
    Path(id): Path<String>,
) -> PageResult {
    let caller = web.staff(&state).await?;
    let now = state.now();
    let dry = policy_versions::dry_run(&state, &caller, &id, now).await?;
    let published = policy_versions::history(&state)
        .await?
        .into_iter()
        .find(|p| p.version.id == id)
        .ok_or_else(|| crate::error::ApiError::not_found("policy version"))?;
    let lang = web.lang;
    let open = matches!(published.version.state.as_str(), "proposed" | "approved")
        && published.version.effective_at > now;
    render(VersionPage {
        chrome: Chrome::new(&web, "规则版本审批", "A policy version", true),
        entry: entry(&state, lang, published).await?,
        against: dry.against,
        at: local_time(dry.at),
        evaluated: dry.evaluated,
        unchanged: dry.unchanged,
        changes: dry
            .changes
            .into_iter()
            .map(|c| {
                let (from, to) = (look(&c.from), look(&c.to));
                ChangeRow {
                    from: from.word(&lang),
                    to: to.word(&lang),
                    to_class: to.class,
                    people: c.people,
                    rules: c
                        .by_rule
                        .iter()
                        .map(|(r, n)| format!("{r} ({n})"))
                        .collect::<Vec<_>>()
                        .join(", "),
                    districts: c
                        .by_district
                        .iter()
                        .map(|d| {
                            let place = match (&d.name, &d.district) {
                                (Some(name), _) => name.clone(),
                                (None, Some(code)) => code.clone(),
                                (None, None) => lang.t("未申报", "not declared").to_owned(),
                            };
                            format!("{place} {}", d.people)
                        })
                        .collect::<Vec<_>>()
                        .join(lang.t("、", ", ")),
                    sample: c.sample.join("、"),
                }
            })
            .collect(),
        open,
    })
}

pub async fn approve(
    State(state): State<AppState>,
    web: Web,
    Path(id): Path<String>,
    Posted(_): Posted<std::collections::HashMap<String, String>>,
) -> PageResult {
    let caller = web.staff(&state).await?;
    policy_versions::approve(&state, &caller, &id, state.now()).await?;
    see("/policy/versions")
}

pub async fn withdraw(
    State(state): State<AppState>,
    web: Web,
    Path(id): Path<String>,
    Posted(_): Posted<std::collections::HashMap<String, String>>,
) -> PageResult {
    let caller = web.staff(&state).await?;
    policy_versions::withdraw(&state, &caller, &id, state.now()).await?;
    see("/policy/versions")
}
