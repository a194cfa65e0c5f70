//! `healthcode policy`: check a colour policy and explain the colour it gives.

use crate::failure::{Failure, parse_json, read_input};
use clap::Subcommand;
use healthcode_core::policy::DEFAULT_POLICY_JSON;
use healthcode_core::{Fact, Policy, Status};
use healthcode_server::clock::Clock;
use std::process::ExitCode;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

#[derive(Subcommand)]
pub enum PolicyCommand {
    /// Validate a whole policy: its shape, every rule's CertLogic, every parameter it names.
    /// Exit 0 when it is sound, 1 when it is not.
    Check {
        /// The policy JSON file (`-` for standard input); the shipped default when omitted.
        policy: Option<String>,
    },
    /// Print the colour and the reasons the policy gives for a person's facts at an instant.
    Explain {
        /// The policy JSON file; the shipped default when omitted.
        #[arg(long)]
        policy: Option<String>,
        /// The facts: a JSON array of facts, or an object with a `facts` array (`-` for stdin).
        #[arg(long)]
        facts: String,
        /// The instant, RFC 3339 (e.g. 2026-04-10T09:00:00+08:00); now when omitted.
        #[arg(long)]
        at: Option<String>,
        /// Print the status as JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Print the policy shipped with the program.
    Default,
    /// Propose a new version to a node (a health official's token): checked here first, then
    /// filed for a second official's approval; prints its id and its dry run (who it would turn
    /// from which colour to which).
    Propose {
        /// The policy JSON file (`-` for standard input), with a version string not used before.
        policy: String,
        /// The decision or notice the change is made under.
        #[arg(long)]
        legal_basis: String,
        /// When it applies, RFC 3339; as soon as approved when omitted.
        #[arg(long)]
        effective_at: Option<String>,
        /// The node, e.g. https://healthcode.example.gov.cn.
        #[arg(long, env = "HEALTHCODE_NODE")]
        node: String,
        /// The official's API token (better given as HEALTHCODE_TOKEN).
        #[arg(long, env = "HEALTHCODE_TOKEN", hide_env_values = true)]
        token: String,
    },
}

pub fn run(command: PolicyCommand) -> Result<ExitCode, Failure> {
    match command {
        PolicyCommand::Propose {
            policy,
            legal_basis,
            effective_at,
            node,
            token,
        } => {
            let text = policy_text(Some(&policy))?;
            if let Err(e) = Policy::from_json(&text) {
                outln!("{e}")?;
                return Ok(ExitCode::from(1));
            }
            let document: serde_json::Value = parse_json(&text, "the policy")?;
            let runtime = tokio::runtime::Runtime::new().map_err(|e| {
                Failure::new("runtime", e.to_string(), format!("无法启动运行时：{e}"))
            })?;
            runtime.block_on(propose(&node, &token, document, legal_basis, effective_at))
        }
        PolicyCommand::Check { policy } => {
            let text = policy_text(policy.as_deref())?;
            // Text that is not JSON at all is unusable input (exit 2), not a policy problem.
            parse_json::<serde_json::Value>(&text, "the policy")?;
            match Policy::from_json(&text) {
                Ok(policy) => {
                    let doc = policy.document();
                    outln!(
                        "ok: policy {} version {} for region {}, {} rules, {} parameters",
                        doc.title.en,
                        doc.version,
                        doc.region,
                        doc.rules.len(),
                        doc.parameters.len()
                    )?;
                    Ok(ExitCode::SUCCESS)
                }
                Err(e) => {
                    outln!("{e}")?;
                    Ok(ExitCode::from(1))
                }
            }
        }
        PolicyCommand::Explain {
            policy,
            facts,
            at,
            json,
        } => {
            let text = policy_text(policy.as_deref())?;
            let policy = Policy::from_json(&text).map_err(|e| {
                Failure::new(
                    "invalid_policy",
                    e.to_string(),
                    format!("赋码规则无效：{}", e.problems.join("；")),
                )
            })?;
            let facts = read_facts(&facts)?;
            let now = match at {
                Some(at) => OffsetDateTime::parse(&at, &Rfc3339).map_err(|e| {
                    Failure::new(
                        "bad_time",
                        format!("--at {at:?} is not an RFC 3339 date-time: {e}"),
                        format!("--at {at:?} 不是 RFC 3339 时间：{e}"),
                    )
                })?,
                None => Clock::system().now(),
            };
            let status = policy.evaluate(&facts, now);
            if json {
                let out = serde_json::to_string_pretty(&status)
                    .map_err(|e| Failure::new("output", e.to_string(), format!("无法输出：{e}")))?;
                outln!("{out}")?;
            } else {
                out!("{}", render(&policy, &status))?;
            }
            Ok(ExitCode::SUCCESS)
        }
        PolicyCommand::Default => {
            out!("{DEFAULT_POLICY_JSON}")?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn policy_text(path: Option<&str>) -> Result<String, Failure> {
    match path {
        Some(path) => read_input(path, "the policy"),
        None => Ok(DEFAULT_POLICY_JSON.to_string()),
    }
}

/// Reads a JSON array of facts, or an object holding one under `facts`.
fn read_facts(path: &str) -> Result<Vec<Fact>, Failure> {
    let value: serde_json::Value = parse_json(&read_input(path, "the facts")?, "the facts file")?;
    let list = match value {
        serde_json::Value::Object(mut map) if map.contains_key("facts") => {
            map.remove("facts").unwrap_or_default()
        }
        other => other,
    };
    serde_json::from_value(list).map_err(|e| {
        Failure::new(
            "bad_facts",
            format!("the facts file does not hold a list of facts: {e}"),
            format!("事实文件内容不是有效的事实列表：{e}"),
        )
    })
}

/// The status as a resident or reviewer reads it.
fn render(policy: &Policy, status: &Status) -> String {
    let when = |t: OffsetDateTime| policy.format_time(t).unwrap_or_else(|| t.to_string());
    let doc = policy.document();
    let mut out = String::new();
    let word = status.color.as_str().to_uppercase();
    out.push_str(&format!(
        "{} {}  at {} ({}), policy {} {} of region {}\n",
        word,
        status.color.word_zh(),
        when(status.evaluated_at),
        doc.display_offset,
        doc.title.en,
        doc.version,
        doc.region
    ));
    if status.reasons.is_empty() {
        out.push_str("No rule applies. 无赋码规则适用。\n");
    }
    for (i, reason) in status.reasons.iter().enumerate() {
        let until = reason
            .until
            .map_or_else(|| "no end by time alone".to_string(), when);
        out.push_str(&format!(
            "\n{}. {} [{}] until {} (facts: {})\n   {}\n   {}\n",
            i + 1,
            reason.color.word_zh(),
            reason.rule,
            until,
            if reason.facts.is_empty() {
                "-".to_string()
            } else {
                reason.facts.join(", ")
            },
            reason.text.zh,
            reason.text.en
        ));
        if let Some(notice) = &reason.notice {
            out.push_str(&format!("   提示 Notice: {} / {}\n", notice.zh, notice.en));
        }
    }
    if let Some(next) = status.next_change {
        out.push_str(&format!(
            "\nNext change by time: {} 预计变更时间\n",
            when(next)
        ));
    }
    for failure in &status.errors {
        out.push_str(&format!(
            "\nwarning: rule {} could not be judged{}: {}\n",
            failure.rule,
            failure
                .fact
                .as_ref()
                .map(|f| format!(" for fact {f}"))
                .unwrap_or_default(),
            failure.message
        ));
    }
    out
}

/// Files the version on the node and prints its dry run.
async fn propose(
    node: &str,
    token: &str,
    document: serde_json::Value,
    legal_basis: String,
    effective_at: Option<String>,
) -> Result<ExitCode, Failure> {
    let base = node.trim_end_matches('/');
    let http = reqwest::Client::new();
    let unreachable = |e: reqwest::Error| {
        Failure::new(
            "node_unavailable",
            e.to_string(),
            format!("无法连接节点：{e}"),
        )
    };
    let resp = http
        .post(format!("{base}/api/v1/policy/versions"))
        .bearer_auth(token)
        .json(&serde_json::json!({"document": document, "legal_basis": legal_basis, "effective_at": effective_at}))
        .send()
        .await
        .map_err(unreachable)?;
    let status = resp.status();
    let answer: serde_json::Value = resp.json().await.unwrap_or_default();
    if !status.is_success() {
        outln!(
            "refused ({status}): {} {}",
            answer["code"].as_str().unwrap_or_default(),
            answer["message"].as_str().unwrap_or_default()
        )?;
        return Ok(ExitCode::from(1));
    }
    let id = answer["id"].as_str().unwrap_or_default().to_owned();
    outln!(
        "proposed: version {} (id {id}), effective {} once a second official approves it",
        answer["version"].as_str().unwrap_or_default(),
        answer["effective_at"].as_str().unwrap_or_default()
    )?;
    let dry: serde_json::Value = http
        .get(format!("{base}/api/v1/policy/versions/{id}/dry-run"))
        .bearer_auth(token)
        .send()
        .await
        .map_err(unreachable)?
        .json()
        .await
        .unwrap_or_default();
    outln!(
        "dry run against {} at {}: {} people judged, {} unchanged",
        dry["against"].as_str().unwrap_or_default(),
        dry["at"].as_str().unwrap_or_default(),
        dry["evaluated"],
        dry["unchanged"]
    )?;
    for c in dry["changes"].as_array().into_iter().flatten() {
        outln!(
            "  {} -> {}: {} people (rules: {})",
            c["from"].as_str().unwrap_or_default(),
            c["to"].as_str().unwrap_or_default(),
            c["people"],
            c["by_rule"]
        )?;
    }
    Ok(ExitCode::SUCCESS)
}
