//! Publishing the policy as accountably as a fact: a health official proposes a version with a
//! legal basis and an effective time (refused, with every problem listed, when it does not
//! check); anyone with the right may see beforehand who would change colour (a dry run that
//! writes nothing); a second official approves it; from its effective time every node judges
//! by it and one node re-derives everyone's colour, announcing each change. Anyone reads the
//! history, each version with what changed from the one before.

use crate::AppState;
use crate::auth::{Caller, Role};
use crate::error::{ApiError, ApiResult};
use crate::usecases::colours::{evaluate_all, reassess_everyone};
use healthcode_core::policy_diff::{PolicyDiff, diff};
use healthcode_core::{Policy, PolicyDocument};
use healthcode_store::PolicyVersion;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use time::{Duration, OffsetDateTime};

/// What an official proposes.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProposeRequest {
    /// The policy document, as `GET /policy` shows one; its `version` names it for good.
    #[schema(value_type = Object)]
    pub document: serde_json::Value,
    /// The decision or notice the change is made under.
    #[schema(min_length = 1, max_length = 200)]
    pub legal_basis: String,
    /// When it applies (RFC 3339); absent or earlier: as soon as it is approved (after
    /// `policy_versions.notice_seconds`).
    #[serde(default)]
    #[schema(format = DateTime)]
    pub effective_at: Option<String>,
}

fn bad_policy(problems: &[String]) -> ApiError {
    ApiError::unprocessable(
        "bad_policy",
        format!(
            "the policy does not check ({} problem(s)): {}",
            problems.len(),
            problems.join("; ")
        ),
        format!(
            "赋码规则未通过检查（{} 处问题）：{}",
            problems.len(),
            problems.join("；")
        ),
    )
}

fn notice(state: &AppState) -> Duration {
    Duration::seconds(state.config.policy_versions.notice_seconds.max(0))
}

/// Files a proposed version after checking it: the region's own, a new version string, every
/// rule compiling.
pub async fn propose(
    state: &AppState,
    caller: &Caller,
    req: ProposeRequest,
    now: OffsetDateTime,
) -> ApiResult<PolicyVersion> {
    caller.require(&[Role::HealthOfficial])?;
    let basis = req.legal_basis.trim();
    if basis.is_empty() || basis.chars().count() > 200 {
        return Err(ApiError::unprocessable(
            "bad_legal_basis",
            "name the decision or notice the change is made under (1 to 200 characters)",
            "请填写规则变更所依据的决定或通知（1 至 200 字）",
        ));
    }
    let document: PolicyDocument = serde_json::from_value(req.document)
        .map_err(|e| bad_policy(&[format!("not a policy document: {e}")]))?;
    // The region's own policy, or the baseline it started from.
    let base_region = state.policy.base().document().region.clone();
    let mut problems = Vec::new();
    if document.region != state.config.region && document.region != base_region {
        problems.push(format!(
            "the document is region {}'s, this node serves {}",
            document.region, state.config.region
        ));
    }
    let version = document.version.clone();
    let compiled = Policy::new(document);
    if let Err(e) = &compiled {
        problems.extend(e.problems.iter().cloned());
    }
    let policy = match compiled {
        Ok(p) if problems.is_empty() => p,
        _ => return Err(bad_policy(&problems)),
    };
    let requested = match &req.effective_at {
        Some(t) => OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339)
            .map_err(|_| {
                ApiError::unprocessable(
                    "bad_time",
                    "effective_at is an RFC 3339 time",
                    "生效时间格式不正确",
                )
            })?,
        None => now,
    };
    if requested > now + Duration::days(366) {
        return Err(ApiError::unprocessable(
            "bad_time",
            "a version takes effect within a year",
            "生效时间应在一年以内",
        ));
    }
    let taken = version == state.policy.base().document().version;
    let text = serde_json::to_string(policy.document()).map_err(|_| ApiError::internal())?;
    let stored = if taken {
        Err(healthcode_store::StoreError::Conflict(version.clone()))
    } else {
        let effective = requested.max(now + notice(state));
        let actor = caller.actor("policy proposal");
        state
            .store
            .propose_policy(&version, &text, basis, effective, &actor, now)
            .await
    };
    stored.map_err(|e| match e {
        healthcode_store::StoreError::Conflict(_) => ApiError::conflict(
            "version_taken",
            format!("version {version} was proposed before: give the document a new version"),
            format!("版本号 {version} 已使用过，请为规则文件指定新的版本号"),
        ),
        other => other.into(),
    })
}

async fn found(state: &AppState, id: &str) -> ApiResult<PolicyVersion> {
    state
        .store
        .policy_version(id)
        .await?
        .ok_or_else(|| ApiError::not_found("policy version"))
}

/// One kind of change a version would make: from one colour to another.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ColourChange {
    pub from: String,
    pub to: String,
    pub people: u64,
    /// The rules behind the new colour (or, to green, behind the old one), with how many of
    /// these people each applies to.
    pub by_rule: BTreeMap<String, u64>,
    /// Where they live, most first: the district each last declared (现居住区县), or none.
    pub by_district: Vec<DistrictCount>,
    /// Up to five of them, by masked name.
    pub sample: Vec<String>,
}

/// How many of the people of one change live in one district.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct DistrictCount {
    /// GB/T 2260 code; null for those who never declared where they live.
    pub district: Option<String>,
    /// Its name, e.g. 西湖区.
    pub name: Option<String>,
    pub people: u64,
}

/// The district a person last declared living in.
fn declared_district(facts: &[healthcode_core::Fact]) -> Option<String> {
    facts.iter().rev().find_map(|f| match &f.body {
        healthcode_core::FactBody::Declaration { district, .. } => district.clone(),
        _ => None,
    })
}

/// Who a version would turn, at its effective time, against the version in effect then.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct DryRun {
    pub version: String,
    pub against: String,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    /// People judged (everyone with a fact).
    pub evaluated: u64,
    pub unchanged: u64,
    pub changes: Vec<ColourChange>,
}

/// Evaluates everyone with facts under both versions at the version's effective time (or now,
/// if that has passed) and counts who changes from which colour to which; writes nothing but
/// the audit entry saying it was run.
pub async fn dry_run(
    state: &AppState,
    caller: &Caller,
    id: &str,
    now: OffsetDateTime,
) -> ApiResult<DryRun> {
    caller.require(&[Role::HealthOfficial, Role::Admin])?;
    let v = found(state, id).await?;
    let proposed = Policy::from_json(&v.document).map_err(|e| bad_policy(&e.problems))?;
    let run = judge_both(state, proposed, v.effective_at.max(now)).await?;
    let actor = caller.actor("policy dry run");
    let detail = format!(
        "dry run of policy version {} at {}: {} judged",
        v.version, run.at, run.evaluated
    );
    state
        .store
        .audit(&actor, "policy.dry_run", None, &detail, now)
        .await?;
    Ok(run)
}

/// Judges everyone with facts at `at` under the version in effect just before then and under
/// `proposed`, and counts who changes from which colour to which. Reads only.
pub async fn judge_both(
    state: &AppState,
    proposed: Policy,
    at: OffsetDateTime,
) -> ApiResult<DryRun> {
    let proposed = std::sync::Arc::new(proposed);
    let current = state.policy.at(at - Duration::nanoseconds(1));
    let plain = |p: &Policy| {
        let s = p.evaluate(&[], at);
        s.reasons.is_empty() && s.next_change.is_none()
    };
    let everyone = !(plain(&proposed) && plain(&current));
    let mut tally: BTreeMap<(String, String), ColourChange> = BTreeMap::new();
    let mut districts: BTreeMap<(String, String), BTreeMap<Option<String>, u64>> = BTreeMap::new();
    let (mut evaluated, mut unchanged) = (0u64, 0u64);
    let mut after = String::new();
    loop {
        let page = state.store.person_ids_after(&after, 10_000).await?;
        let Some(last) = page.last().cloned() else {
            break;
        };
        let mut history = state.store.histories_between(&after, &last).await?;
        after = last;
        let facts = std::mem::take(&mut history.facts);
        let ids: Vec<String> = if everyone {
            page
        } else {
            let mut ids: Vec<String> = facts.keys().cloned().collect();
            ids.sort_unstable();
            ids
        };
        evaluated += ids.len() as u64;
        let lives: std::collections::HashMap<String, String> = facts
            .iter()
            .filter_map(|(id, f)| declared_district(f).map(|d| (id.clone(), d)))
            .collect();
        let before = evaluate_all(&current, &ids, facts.clone(), at).await;
        let after_change: BTreeMap<String, healthcode_core::Status> =
            evaluate_all(&proposed, &ids, facts, at)
                .await
                .into_iter()
                .collect();
        for (id, was) in before {
            let Some(will) = after_change.get(&id) else {
                continue;
            };
            if was.color == will.color {
                unchanged += 1;
                continue;
            }
            let (from, to) = (
                was.color.as_str().to_owned(),
                will.color.as_str().to_owned(),
            );
            *districts
                .entry((from.clone(), to.clone()))
                .or_default()
                .entry(lives.get(&id).cloned())
                .or_default() += 1;
            let change = tally
                .entry((from.clone(), to.clone()))
                .or_insert_with(|| ColourChange {
                    from,
                    to,
                    people: 0,
                    by_rule: BTreeMap::new(),
                    by_district: Vec::new(),
                    sample: Vec::new(),
                });
            change.people += 1;
            let behind = if will.reasons.is_empty() { &was } else { will };
            for r in &behind.reasons {
                *change.by_rule.entry(r.rule.clone()).or_default() += 1;
            }
            if change.sample.len() < 5
                && let Some(p) = state.store.person(&id).await?
            {
                change.sample.push(p.name_masked);
            }
        }
    }
    for (key, change) in &mut tally {
        let mut counts: Vec<DistrictCount> = districts
            .remove(key)
            .unwrap_or_default()
            .into_iter()
            .map(|(district, people)| DistrictCount {
                name: district
                    .as_deref()
                    .and_then(healthcode_core::region::name)
                    .map(str::to_owned),
                district,
                people,
            })
            .collect();
        counts.sort_by(|a, b| {
            (b.people, a.district.is_none(), &a.district).cmp(&(
                a.people,
                b.district.is_none(),
                &b.district,
            ))
        });
        change.by_district = counts;
    }
    Ok(DryRun {
        version: proposed.document().version.clone(),
        against: current.document().version.clone(),
        at,
        evaluated,
        unchanged,
        changes: tally.into_values().collect(),
    })
}

/// A second official approves a proposed version: not the one who proposed it. An effective
/// time too close (or past) moves to now plus `policy_versions.notice_seconds`.
pub async fn approve(
    state: &AppState,
    caller: &Caller,
    id: &str,
    now: OffsetDateTime,
) -> ApiResult<PolicyVersion> {
    caller.require(&[Role::HealthOfficial])?;
    let v = found(state, id).await?;
    let actor = caller.actor("policy approval");
    if actor.id == v.proposed_by {
        return Err(ApiError::conflict(
            "same_official",
            "a version is approved by an official other than its proposer",
            "规则版本须由提出人以外的另一名工作人员批准",
        ));
    }
    let effective = v.effective_at.max(now + notice(state));
    let approved = state
        .store
        .decide_policy(id, "proposed", "approved", effective, &actor, now)
        .await?
        .ok_or_else(|| not_open(&v))?;
    reload(state).await?;
    Ok(approved)
}

/// Withdraws a version before it takes effect, proposed or approved.
pub async fn withdraw(
    state: &AppState,
    caller: &Caller,
    id: &str,
    now: OffsetDateTime,
) -> ApiResult<PolicyVersion> {
    caller.require(&[Role::HealthOfficial])?;
    let v = found(state, id).await?;
    if !matches!(v.state.as_str(), "proposed" | "approved") {
        return Err(not_open(&v));
    }
    if v.state == "approved" && now + notice(state) > v.effective_at {
        // Another node may already hold it for its time: it applies, and a new version reverts it.
        return Err(ApiError::conflict(
            "too_late",
            format!(
                "version {} applies within policy_versions.notice_seconds; to undo it, propose a version that reverts it",
                v.version
            ),
            format!(
                "版本 {} 即将生效，已不能撤回；如需撤销，请提出恢复原规则的新版本",
                v.version
            ),
        ));
    }
    let actor = caller.actor("policy withdrawal");
    let withdrawn = state
        .store
        .decide_policy(id, &v.state, "withdrawn", v.effective_at, &actor, now)
        .await?
        .ok_or_else(|| not_open(&v))?;
    reload(state).await?;
    Ok(withdrawn)
}

fn not_open(v: &PolicyVersion) -> ApiError {
    ApiError::conflict(
        "not_open",
        format!(
            "version {} is {} (effective {}): it can no longer be decided",
            v.version, v.state, v.effective_at
        ),
        format!("版本 {} 已不可再审批或撤回", v.version),
    )
}

/// Reads the approved versions into the node's timeline.
pub async fn reload(state: &AppState) -> ApiResult<()> {
    // The time before the read: what it found was certain from then.
    let read_at = state.now();
    let versions = state
        .store
        .policy_versions()
        .await?
        .into_iter()
        .filter(|v| v.state == "approved")
        .filter_map(|v| match Policy::from_json(&v.document) {
            Ok(p) => Some((v.effective_at, p)),
            Err(e) => {
                tracing::error!(version = %v.version, error = %e, "an approved policy version does not compile");
                None
            }
        })
        .collect();
    state.policy.install(versions, read_at);
    Ok(())
}

/// Reads the approved versions, and re-derives everyone's colour for each version whose time
/// has come (claimed by one node only). Returns how many colours changed.
pub async fn activate(state: &AppState, now: OffsetDateTime) -> ApiResult<u64> {
    reload(state).await?;
    let due = state.store.claim_policy_activations(now).await?;
    if due.is_empty() {
        return Ok(0);
    }
    let sweep = reassess_everyone(state, now).await?;
    tracing::info!(versions = ?due, changed = sweep.changed, "policy version in effect: colours re-derived");
    Ok(sweep.changed)
}

/// The version a node starts from. The first node of a region records its policy file (or the
/// one shipped) as the region's base, on the public history and the audit chain; from then on
/// the recorded base is the base for every node, whatever its file says, so that no two nodes
/// judge one instant by two versions and no file changes the policy without a second official:
/// a different file is logged and left unused (propose it as a version to apply it).
pub async fn settle_base(
    store: &healthcode_store::Store,
    configured: Policy,
    now: OffsetDateTime,
) -> ApiResult<Policy> {
    let doc = configured.document();
    let text = serde_json::to_string(doc).map_err(|_| ApiError::internal())?;
    let recorded = |versions: Vec<PolicyVersion>| versions.into_iter().find(|v| v.state == "base");
    let base = match recorded(store.policy_versions().await?) {
        Some(base) => base,
        None => {
            // Before the versions that may follow it, so the history reads in order.
            store
                .record_base_policy(&doc.version, &text, doc.valid_from.min(now), now)
                .await?;
            // None: another node's record raced this one's, or the version string is a
            // proposal's.
            recorded(store.policy_versions().await?).ok_or_else(|| {
                ApiError::conflict(
                    "version_taken",
                    format!(
                        "policy version {} names a proposed version: give the policy file a version of its own",
                        doc.version
                    ),
                    format!("规则版本号 {} 已被提出的版本使用，请为规则文件另定版本号", doc.version),
                )
            })?
        }
    };
    if base.version == doc.version && base.document == text {
        return Ok(configured);
    }
    tracing::warn!(
        configured = %doc.version,
        base = %base.version,
        "the policy file is not the region's recorded base: judging by the recorded base; to apply the file, propose it as a version (healthcode policy propose FILE)"
    );
    Policy::from_json(&base.document).map_err(|e| bad_policy(&e.problems))
}

/// One entry of the public history.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Published {
    pub version: PolicyVersion,
    pub title: healthcode_core::Text,
    /// What changed from the version in effect before this one took (or would take) effect;
    /// null for the first.
    pub changes: Option<PolicyDiff>,
    /// The version's parameters, for its rules' words (already in the document it names).
    #[serde(skip)]
    pub parameters: serde_json::Map<String, serde_json::Value>,
}

/// Every version by its time, the region's base first: when, why, who proposed and who
/// approved, and what changed from the version in force before.
pub async fn history(state: &AppState) -> ApiResult<Vec<Published>> {
    let mut out = Vec::new();
    let mut in_force: Option<PolicyDocument> = None;
    for v in state.store.policy_versions().await? {
        let Ok(doc) = serde_json::from_str::<PolicyDocument>(&v.document) else {
            continue;
        };
        let changes = in_force.as_ref().map(|before| diff(before, &doc));
        if matches!(v.state.as_str(), "base" | "approved") {
            in_force = Some(doc.clone());
        }
        out.push(Published {
            title: doc.title,
            parameters: doc.parameters,
            changes,
            version: v,
        });
    }
    Ok(out)
}

/// One version's document.
pub async fn document(state: &AppState, id: &str) -> ApiResult<PolicyDocument> {
    if id == "base" {
        return Ok(state.policy.base().document().clone());
    }
    let v = found(state, id).await?;
    serde_json::from_str(&v.document).map_err(|_| ApiError::internal())
}
