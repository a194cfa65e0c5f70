//! Judging a scan: what the checkpoint's screen shows (colour, masked name, admit or deny and
//! why) and what the visit log records. Pure: the verifier's report, the venue, the policy and
//! the scan's own time in, the answer out.

use healthcode_core::PolicyDocument;
use healthcode_core::region::RegionCode;
use healthcode_core::visits::{Direction, admits, dwell_minutes, recognised_colour};
use healthcode_pass::verify::{Content, Report};
use healthcode_store::{NewVisit, Venue};
use serde::{Deserialize, Serialize};
use time::{Duration, OffsetDateTime};

/// Why a scan ended as it did, in both languages, with a stable code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Why {
    /// `admitted`, `exit`, `colour_not_admitted`, `expired`, `bad_signature`, `unknown_issuer`,
    /// `revoked_key`, `trust_list_expired`, `wrong_key`, `unreadable`, `not_a_pass` or `bad_content`.
    pub code: String,
    pub message: String,
    pub message_zh: String,
}

fn why(code: &str, message: String, message_zh: String) -> Why {
    Why {
        code: code.to_owned(),
        message,
        message_zh,
    }
}

/// What a checkpoint is told about a scan: the same answer every time the scan is sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ScanAnswer {
    pub scan_id: String,
    /// `admit`, `deny` or `invalid` (the code could not be trusted).
    pub outcome: String,
    pub admit: bool,
    /// `green`, `yellow`, `red` or `pending`, when the code could be trusted.
    pub colour: Option<String>,
    pub colour_zh: Option<String>,
    pub masked_name: Option<String>,
    pub document_tail: Option<String>,
    /// The region that issued the pass.
    pub region: Option<String>,
    /// For another region's pass, the colour this region's recognition table judged it by,
    /// when that differs from the pass's own (e.g. green from a region with a high-risk area,
    /// as yellow at a station).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub treated_as: Option<String>,
    pub reason: Why,
    pub direction: Direction,
    pub venue_id: String,
    pub scanned_at: String,
    /// Whether the scan stands in the visit log (admitted entries and exits).
    pub visit_recorded: bool,
    /// True when this scan had been sent before: the answer is the one first given.
    #[serde(default)]
    pub duplicate: bool,
}

/// The word shown for a colour a pass names: core's word for it (`Color::word_zh`), or 未知
/// for a name it does not know.
fn colour_zh(colour: &str) -> &'static str {
    healthcode_core::Color::parse(colour).map_or("未知", healthcode_core::Color::word_zh)
}

/// Why the verifier did not trust a code.
pub(crate) fn distrust(report: &Report) -> Why {
    let failed = |s: &healthcode_pass::verify::Stage| s.reason.clone().unwrap_or_default();
    if !(report.prefix.is_ok()
        && report.base45.is_ok()
        && report.decompress.is_ok()
        && report.cose.is_ok())
    {
        return why(
            "unreadable",
            "not a readable code: scan again".into(),
            "无法识别的二维码，请重新扫描".into(),
        );
    }
    if !matches!(report.content, Some(Content::Pass(_))) && report.schema.is_ok() {
        return why(
            "not_a_pass",
            "this is not a health-code pass".into(),
            "这不是健康码".into(),
        );
    }
    if !report.signature.is_ok() {
        return match report.signature.outcome {
            Some("no_key") => why(
                "unknown_issuer",
                "signed by a key this node does not trust".into(),
                "签发方不在信任列表中".into(),
            ),
            Some("revoked_key") => why(
                "revoked_key",
                "signed by a key the hub has revoked: the issuing region must issue a new code".into(),
                "签发密钥已被吊销，请出示签发地重新生成的健康码".into(),
            ),
            Some("trust_list_expired") => why(
                "trust_list_expired",
                "this node's trust list of other regions has expired: other regions' codes cannot be checked until it is renewed".into(),
                "本地互认信任列表已过期，暂无法核验外地健康码".into(),
            ),
            _ => why(
                "bad_signature",
                format!("forged or altered: {}", failed(&report.signature)),
                "签名无效：健康码系伪造或被篡改".into(),
            ),
        };
    }
    if !report.key_usage.is_ok() {
        return why(
            "wrong_key",
            format!(
                "the key may not sign this pass: {}",
                failed(&report.key_usage)
            ),
            "签名密钥无权签发此健康码".into(),
        );
    }
    if !report.expiry.is_ok() {
        return why(
            "expired",
            format!(
                "the pass was not valid when scanned: {}; ask for a fresh code",
                failed(&report.expiry)
            ),
            "健康码已过期，请刷新后重新出示".into(),
        );
    }
    why(
        "bad_content",
        format!(
            "the pass's content is not valid: {}",
            failed(&report.schema)
        ),
        "健康码内容无效".into(),
    )
}

/// Where a scan is judged: the venue, the policy, this node's region, and the regions holding a
/// high-risk area in force (for the recognition of other regions' passes).
pub struct Gate<'a> {
    pub venue: &'a Venue,
    pub policy: &'a PolicyDocument,
    pub region: &'a RegionCode,
    pub high_risk: &'a [String],
}

/// Judges a verified (or not) scan at a gate. Another region's pass is judged by the colour the
/// policy's recognition table gives it (`visits::recognised_colour`).
pub fn judge(
    report: &Report,
    gate: &Gate<'_>,
    scan_id: &str,
    direction: Direction,
    scanned_at: OffsetDateTime,
) -> (ScanAnswer, Option<NewVisit>) {
    let (venue, policy) = (gate.venue, gate.policy);
    let mut answer = ScanAnswer {
        scan_id: scan_id.to_owned(),
        outcome: "invalid".into(),
        admit: false,
        colour: None,
        colour_zh: None,
        masked_name: None,
        document_tail: None,
        region: None,
        treated_as: None,
        reason: distrust(report),
        direction,
        venue_id: venue.id.clone(),
        scanned_at: crate::body::rfc3339(scanned_at),
        visit_recorded: false,
        duplicate: false,
    };
    let pass = match (&report.content, report.valid) {
        (Some(Content::Pass(pass)), true) => pass,
        _ => return (answer, None),
    };
    let colour = pass.colour.as_str();
    answer.colour = Some(colour.to_owned());
    answer.colour_zh = Some(colour_zh(colour).to_owned());
    answer.masked_name = Some(pass.masked_name.clone());
    answer.document_tail = Some(pass.document_tail.clone());
    answer.region = Some(pass.region.to_string());
    let pass_region = pass.region.to_string();
    let judged = if gate.region.covers(&pass_region) {
        colour.to_owned()
    } else {
        let high_risk = gate.high_risk.iter().any(|area| {
            RegionCode::parse(&pass_region).is_ok_and(|r| r.covers(area))
                || RegionCode::parse(area).is_ok_and(|a| a.covers(&pass_region))
        });
        recognised_colour(policy, &venue.category, &pass_region, colour, high_risk)
    };
    if judged != colour {
        answer.treated_as = Some(judged.clone());
    }
    let shown = match &answer.treated_as {
        Some(t) => format!("{colour} code from region {pass_region}, treated here as {t}"),
        None => format!("{colour} code"),
    };
    let shown_zh = match &answer.treated_as {
        Some(t) => format!("外地{}（按{}核验）", colour_zh(colour), colour_zh(t)),
        None => colour_zh(colour).to_owned(),
    };
    let admitted = match direction {
        // Anyone may leave; the exit closes their presence.
        Direction::Exit => {
            answer.reason = why("exit", "exit recorded".into(), "已登记离开".into());
            true
        }
        Direction::Entry if admits(policy, &venue.category, &judged) => {
            answer.reason = why(
                "admitted",
                format!("{shown}: admitted"),
                format!("{shown_zh}：准予通行"),
            );
            true
        }
        Direction::Entry => {
            answer.reason = why(
                "colour_not_admitted",
                format!(
                    "{shown}: not admitted at a venue of category {}",
                    venue.category
                ),
                format!(
                    "{shown_zh}：{}不予通行",
                    healthcode_core::visits::category_words(&venue.category).0
                ),
            );
            false
        }
    };
    answer.admit = admitted;
    answer.outcome = if admitted { "admit" } else { "deny" }.into();
    if !admitted {
        return (answer, None);
    }
    answer.visit_recorded = true;
    let until = match direction {
        Direction::Entry => scanned_at + Duration::minutes(dwell_minutes(policy, &venue.category)),
        Direction::Exit => scanned_at,
    };
    let visit = NewVisit {
        subject: hex::encode(&pass.subject),
        region: pass.region.to_string(),
        direction,
        via: "scan",
        until,
        colour: colour.to_owned(),
        masked_name: pass.masked_name.clone(),
        flag: None,
    };
    (answer, Some(visit))
}

/// Whether a device's region and a venue's are in the same city (the first four digits of a
/// GB/T 2260 code: province and prefecture).
pub fn same_city(device_region: &str, venue_region: &str) -> bool {
    device_region.len() >= 4
        && venue_region.len() >= 4
        && device_region.get(..4) == venue_region.get(..4)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cities_compare_by_province_and_prefecture() {
        assert!(same_city("330106", "330100"));
        assert!(!same_city("110105", "330100"));
        assert!(!same_city("", "330100"));
    }
}
