//! The audit entries about a person as they read them: each a sentence in their language (who,
//! what, on what basis, when), the time in RFC 3339, the staff member by role and masked name.
//! The entries themselves stay as chained (their bytes are what the hashes cover); this is only
//! how they are told.

use crate::AppState;
use crate::error::ApiResult;
use healthcode_core::{Color, Policy, Text};
use healthcode_store::AuditEntry;
use serde::Serialize;
use std::collections::HashMap;
use time::OffsetDateTime;

/// One audit entry about a person, told.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AuditLine {
    pub seq: i64,
    /// When (RFC 3339).
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    /// The account or system part that acted (an id: for staff and auditors).
    pub actor: String,
    /// The staff member's masked name, when the actor is a staff account.
    pub actor_name: Option<String>,
    pub role: String,
    pub action: String,
    pub subject: Option<String>,
    pub purpose: String,
    pub detail: String,
    /// The entry as a sentence: "2026-12-03 13:50 卫生健康部门 王*国 依据「…」记录了您的核酸检测结果。"
    pub said: Text,
}

/// Tells the entries, in their order.
pub async fn lines(state: &AppState, entries: Vec<AuditEntry>) -> ApiResult<Vec<AuditLine>> {
    // Staff by masked name; a checkpoint is a device, named by its role alone.
    let mut names: HashMap<String, String> = HashMap::new();
    for e in &entries {
        if matches!(e.role.as_str(), "resident" | "system" | "checkpoint")
            || names.contains_key(&e.actor)
        {
            continue;
        }
        if let Some(account) = state.store.account(&e.actor).await? {
            names.insert(
                e.actor.clone(),
                healthcode_core::identity::mask_name(&account.name),
            );
        }
    }
    let policy = state.policy.current();
    Ok(entries
        .into_iter()
        .map(|e| {
            let name = names.get(&e.actor).cloned();
            let at = healthcode_store::from_ms(e.at);
            AuditLine {
                said: sentence(&policy, &e, at, name.as_deref()),
                seq: e.seq,
                at,
                actor: e.actor,
                actor_name: name,
                role: e.role,
                action: e.action,
                subject: e.subject,
                purpose: e.purpose,
                detail: e.detail,
            }
        })
        .collect())
}

/// A role as a resident names it.
pub fn role_words(role: &str) -> (&str, &str) {
    match role {
        "resident" => ("您本人或监护人", "you or your guardian"),
        "checkpoint" => ("卡口", "a checkpoint"),
        "venue_manager" => ("场所管理员", "a venue manager"),
        "health_official" => ("卫生健康部门", "the health commission"),
        "community_worker" => ("社区工作者", "a community worker"),
        "department" => ("数据部门", "a data department"),
        "auditor" => ("审计员", "an auditor"),
        "admin" => ("管理员", "an administrator"),
        "hub_official" => ("互认枢纽工作人员", "a hub official"),
        "carrier" => ("铁路售票系统", "the railway's ticketing"),
        "region_node" => ("其他地区的健康码系统", "another region's health code"),
        "system" => ("系统", "the system"),
        other => (other, other),
    }
}

/// What the entry did, as a verb phrase about "you".
fn deed(e: &AuditEntry) -> (String, String) {
    let fixed = |zh: &str, en: &str| (zh.to_owned(), en.to_owned());
    match e.action.as_str() {
        "person.read" => fixed("查看了您的身份信息", "opened your identity details"),
        "person.enroll" => fixed("为您登记了健康码", "enrolled you"),
        "person.confirm" => fixed("核验确认了您的身份", "confirmed your identity"),
        "status.read" => fixed("查看了您的健康码状态", "read your code's status"),
        "pass.issue" => fixed("生成了您的健康码", "issued your code"),
        "people.search" => fixed("查找了您的登记信息", "looked you up"),
        "audit.read" => fixed("查看了您的访问记录", "read this record of access"),
        "trace.read" => fixed("查看了流调结果", "read a contact trace"),
        "visits.read" => fixed("查看了您的到访记录", "read your visits"),
        "notifications.read" => fixed("查看了发给您的消息", "read the messages sent to you"),
        "return.observation.read" => fixed(
            "查看了您的居家观察打卡",
            "read your home observation check-ins",
        ),
        "visit.confirm" => fixed("确认了您的到访记录", "confirmed your visit"),
        "consent.grant" => fixed(
            "授权将您的健康状态转给到达地",
            "let your destination have your status",
        ),
        "appeal.file" => fixed("提交了申诉", "filed an appeal"),
        "appeal.decide" => fixed("处理了您的申诉", "decided your appeal"),
        "appeal.override" => fixed("重新启用了被申诉撤销的判定", "overrode an upheld appeal"),
        "document_claim.file" => fixed(
            "提出您的证件为其本人所有的申诉",
            "claimed your document as theirs",
        ),
        "document_claim.decide" => {
            fixed("处理了对您证件的申诉", "decided a claim on your document")
        }
        "person.rebind" => fixed(
            "将您的登记改到证件持有人的手机号下",
            "moved your record to the document holder's phone",
        ),
        "return.apply" => fixed("提交了返程申请", "applied to return"),
        "return.step" => fixed("办理了您的返程申请", "acted on your return application"),
        "return.eligibility" => fixed("查询了您的购票资格", "checked your ticket eligibility"),
        "return.booking" => fixed("处理了您的购票", "handled your ticket booking"),
        "fact.record" => {
            let list = e.detail.split_whitespace().next().unwrap_or_default();
            let (zh, en) = record_words(list);
            (format!("记录了您的{zh}"), format!("recorded your {en}"))
        }
        "colour.change" => {
            let (from, to) = colour_change(&e.detail);
            let word = |c: Option<Color>| c.map_or(("?", "?"), |c| (c.word_zh(), c.as_str()));
            let ((fz, fe), (tz, te)) = (word(from), word(to));
            (
                format!("将您的健康码由{fz}转为{tz}"),
                format!("changed your code from {fe} to {te}"),
            )
        }
        other => (
            format!("处理了您的信息（{other}）"),
            format!("acted on your data ({other})"),
        ),
    }
}

/// The kind of record a fact list holds.
pub fn record_words(list: &str) -> (&str, &str) {
    match list {
        "cases" => ("病例诊断", "case diagnosis"),
        "tests" => ("核酸检测结果", "test result"),
        "contacts" => ("密接判定", "contact finding"),
        "risk_stays" => ("风险地区停留记录", "stay in a risk area"),
        "itinerary" => ("行程记录", "itinerary"),
        "trips" => ("出行申报", "declared trip"),
        "declarations" => ("健康申报", "health declaration"),
        "observations" => ("隔离观察安排", "observation order"),
        "checkins" => ("每日打卡", "daily check-in"),
        "releases" => ("解除记录", "release"),
        "retractions" => ("撤销记录", "retraction"),
        "attestations" => ("外地健康码证明", "attestation from another region"),
        _ => ("记录", "record"),
    }
}

/// The two colours of a `colour.change` entry's detail: `colour green → yellow (rules)`.
fn colour_change(detail: &str) -> (Option<Color>, Option<Color>) {
    let rest = detail.strip_prefix("colour ").unwrap_or(detail);
    let mut words = rest.split_whitespace();
    let from = words.next().and_then(Color::parse);
    let to = words.nth(1).and_then(Color::parse);
    (from, to)
}

/// Why the system part or staff member acted, in words: the fixed purposes the node writes, or
/// the legal basis an official gave, quoted as written.
pub fn basis(purpose: &str) -> (String, String) {
    match node_purpose(purpose) {
        Some((zh, en)) => (zh.to_owned(), en.to_owned()),
        None => (format!("依据「{purpose}」"), format!("under “{purpose}”")),
    }
}

/// The purposes the node itself writes, in words; `None` for one a staff member wrote.
fn node_purpose(purpose: &str) -> Option<(&'static str, &'static str)> {
    let fixed = |zh, en| Some((zh, en));
    match purpose {
        "colour derived by the published policy" => {
            fixed("按公布的赋码规则", "by the published policy")
        }
        "recording scans and check-ins" => fixed("扫码与场所登记", "recording scans and check-ins"),
        "status query" => fixed("查询健康码状态", "a status query"),
        "identity check" => fixed("身份核验", "an identity check"),
        "enrollment" => fixed("登记", "enrollment"),
        "contact tracing" => fixed("流行病学调查", "contact tracing"),
        "audit review" => fixed("审计", "an audit"),
        "appeal" => fixed("申诉处理", "an appeal"),
        "notification review" => fixed("消息核查", "a review of messages"),
        "visit log query" | "venue visit log" => fixed("到访记录查询", "the visit log"),
        "confirming a flagged check-in" => fixed("核实存疑的场所登记", "a flagged check-in"),
        "home observation board" => fixed("居家观察管理", "home observation"),
        "arrival check at the station" => fixed("到站核验", "the arrival check"),
        "return application" | "return decision" | "return verification" | "return hand-off" => {
            fixed("返程管理", "the return journey")
        }
        "ticket eligibility" | "ticket booking" => fixed("返程购票", "the return ticket"),
        "self-declared" => fixed("本人申报", "your own declaration"),
        "document claim" | "document claim review" => fixed("证件冒用申诉", "a document claim"),
        // Purposes the node writes with a case or region in them: the kind, never the id.
        p if p.starts_with("contact tracing of case") || p.starts_with("trace of case") => {
            fixed("流行病学调查", "contact tracing")
        }
        p if p.starts_with("case ") && p.ends_with(" was retracted") => {
            fixed("病例记录撤销", "a case record withdrawn")
        }
        p if p.contains(" message from region ") => {
            fixed("其他地区健康码系统的消息", "a message from another region")
        }
        p if p.starts_with("status transfer") => fixed("健康状态跨地区转移", "moving your status"),
        p if p.starts_with("appeal review") => fixed("申诉复核", "an appeal review"),
        _ => None,
    }
}

/// Whether a purpose is a basis a staff member wrote (quoted as written), not one the node names.
pub fn written_basis(purpose: &str) -> bool {
    !purpose.is_empty() && node_purpose(purpose).is_none()
}

fn sentence(policy: &Policy, e: &AuditEntry, at: OffsetDateTime, name: Option<&str>) -> Text {
    let when = policy.format_time(at).unwrap_or_default();
    let (role_zh, role_en) = role_words(&e.role);
    let (who_zh, who_en) = match name {
        Some(n) => (format!("{role_zh} {n}"), format!("{role_en} ({n})")),
        None => (role_zh.to_owned(), role_en.to_owned()),
    };
    let (did_zh, did_en) = deed(e);
    let (why_zh, why_en) = basis(&e.purpose);
    let mut en_who = who_en;
    if let Some(first) = en_who.get_mut(..1) {
        first.make_ascii_uppercase();
    }
    Text {
        zh: format!("{when} {who_zh}{did_zh}（{why_zh}）。"),
        en: format!("{when}: {en_who} {did_en} ({why_en})."),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(role: &str, action: &str, purpose: &str, detail: &str) -> AuditEntry {
        AuditEntry {
            seq: 1,
            at: 1_586_000_000_000,
            actor: "a1".into(),
            role: role.into(),
            action: action.into(),
            subject: Some("p".into()),
            purpose: purpose.into(),
            detail: detail.into(),
        }
    }

    #[test]
    fn entries_read_as_sentences_in_each_language() {
        let policy = Policy::default_policy().unwrap();
        let at = healthcode_store::from_ms(1_586_000_000_000);
        let test = entry(
            "health_official",
            "fact.record",
            "杭卫发〔2020〕12号",
            "tests f-1 (legal basis: 杭卫发〔2020〕12号)",
        );
        let said = sentence(&policy, &test, at, Some("王*国"));
        assert_eq!(
            said.zh,
            "2020-04-04 19:33 卫生健康部门 王*国记录了您的核酸检测结果（依据「杭卫发〔2020〕12号」）。"
        );
        assert!(
            said.en
                .contains("The health commission (王*国) recorded your test result")
        );
        let change = entry(
            "system",
            "colour.change",
            "colour derived by the published policy",
            "colour green → yellow (declared-symptoms)",
        );
        let said = sentence(&policy, &change, at, None);
        assert_eq!(
            said.zh,
            "2020-04-04 19:33 系统将您的健康码由绿码转为黄码（按公布的赋码规则）。"
        );
        assert!(!said.zh.contains("colour") && !said.zh.contains("declared-symptoms"));
        assert!(said.en.contains("from green to yellow"), "{}", said.en);
        let traced = entry(
            "health_official",
            "fact.record",
            "contact tracing of case f-01a2b3",
            "contacts f-9 (legal basis: contact tracing of case f-01a2b3)",
        );
        let said = sentence(&policy, &traced, at, None);
        assert!(
            said.zh.contains("记录了您的密接判定（流行病学调查）") && !said.zh.contains("f-01a2b3"),
            "a case by no id: {}",
            said.zh
        );
    }
}
