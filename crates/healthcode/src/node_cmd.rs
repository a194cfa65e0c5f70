//! The node: `serve`, and the administration commands that work on its store (`accounts`,
//! `audit`, `config`).

use crate::failure::Failure;
use clap::{Args, Subcommand};
use healthcode_server::auth::{Role, STAFF_ROLES};
use healthcode_server::config::Config;
use healthcode_server::{AppState, open_state, start};
use healthcode_store::{Actor, Finding};
use std::path::PathBuf;
use std::process::ExitCode;

/// Where the node's configuration comes from; shared by every command that opens the store.
#[derive(Args, Clone)]
pub struct NodeArgs {
    /// A TOML configuration file (see `healthcode config example`).
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    /// The data directory (SQLite database and keys); overrides the configuration.
    #[arg(long, global = true)]
    data_dir: Option<PathBuf>,
    /// postgres://… to use PostgreSQL; overrides the configuration.
    #[arg(long, global = true)]
    database_url: Option<String>,
}

impl NodeArgs {
    pub fn has_data_dir(&self) -> bool {
        self.data_dir.is_some()
    }

    pub fn load(&self) -> Result<Config, Failure> {
        let mut config = Config::load(self.config.as_deref()).map_err(|e| {
            Failure::new(
                "bad_config",
                format!("configuration: {e}"),
                format!("配置有误：{e}"),
            )
        })?;
        if let Some(dir) = &self.data_dir {
            config.data_dir = dir.clone();
        }
        if let Some(url) = &self.database_url {
            config.database_url = Some(url.clone());
        }
        Ok(config)
    }
}

pub async fn open(config: Config) -> Result<AppState, Failure> {
    open_state(config)
        .await
        .map_err(|e| Failure::new("start_failed", e.to_string(), format!("无法启动：{e}")))
}

#[derive(Subcommand)]
pub enum AccountsCommand {
    /// Create a staff or department account and print its API token (shown once, stored only as
    /// a hash).
    Create {
        #[arg(long, value_parser = parse_role)]
        role: Role,
        #[arg(long)]
        name: String,
        /// For a department: the feeds it may deliver, comma-separated (lab_results,
        /// itinerary, risk_areas).
        #[arg(long, value_delimiter = ',', value_parser = parse_feed)]
        feeds: Vec<String>,
        /// For a community worker: the district, street or community they work for
        /// (`110105`, `110105-003` or `110105-003-002`); they see the return applications within it.
        #[arg(long, value_parser = parse_scope)]
        scope: Option<String>,
    },
    /// Revoke an account: its token stops working at once, on every node (each request looks
    /// its token up).
    Revoke { id: String },
    /// List accounts (never tokens).
    List,
}

fn parse_scope(s: &str) -> Result<String, String> {
    if healthcode_core::returns::valid_scope(s) {
        Ok(s.to_owned())
    } else {
        Err(format!(
            "{s:?} is not a district, street or community code (110105, 110105-003, 110105-003-002)"
        ))
    }
}

/// The feeds a department account can be granted.
pub const FEEDS: [&str; 3] = ["lab_results", "itinerary", "risk_areas"];

fn parse_feed(s: &str) -> Result<String, String> {
    FEEDS
        .iter()
        .find(|f| **f == s)
        .map(|f| (*f).to_owned())
        .ok_or_else(|| format!("unknown feed {s:?}; one of {}", FEEDS.join(", ")))
}

fn parse_role(s: &str) -> Result<Role, String> {
    Role::parse(s)
        .filter(|r| *r != Role::Resident)
        .ok_or_else(|| {
            let names: Vec<&str> = STAFF_ROLES.iter().map(|r| r.as_str()).collect();
            format!("unknown role {s:?}; one of {}", names.join(", "))
        })
}

#[derive(Subcommand)]
pub enum AuditCommand {
    /// Check the audit log's hash chain and, against the node's signed anchors
    /// (`audit-anchors.jsonl`), that nothing anchored was rewritten, deleted or cut off; name
    /// what is wrong (exit 1).
    Verify,
}

#[derive(Subcommand)]
pub enum ConfigCommand {
    /// Print an example configuration with every key and its default.
    Example,
}

pub(crate) fn cli_actor(purpose: &str) -> Actor {
    let user = std::env::var("USER").unwrap_or_else(|_| "operator".into());
    Actor::new(format!("cli:{user}"), "admin", purpose)
}

fn failed(e: impl std::fmt::Display) -> Failure {
    Failure::new("store", e.to_string(), format!("存储出错：{e}"))
}

pub use healthcode_server::auth::new_staff_token as new_token;

pub async fn serve(config: Config) -> Result<ExitCode, Failure> {
    let state = open(config).await?;
    let backend = state.store.backend_name();
    let running = start(state)
        .await
        .map_err(|e| Failure::new("start_failed", e.to_string(), format!("无法启动：{e}")))?;
    tracing::info!(addr = %running.addr, store = backend, "healthcode node listening");
    crate::output::or_log(outln!(
        "healthcode node listening on http://{} (store: {backend})",
        running.addr
    ));
    if let Some(addr) = running.scan_addr {
        tracing::info!(%addr, "checkpoint scans listening");
        crate::output::or_log(outln!("checkpoint scans also on http://{addr}"));
    }
    wait_for_shutdown().await;
    tracing::info!("shutting down: finishing requests in flight");
    running.shutdown().await.map_err(failed)?;
    Ok(ExitCode::SUCCESS)
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn wait_for_shutdown() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {},
            _ = term.recv() => {},
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}

pub async fn accounts(config: Config, command: AccountsCommand) -> Result<ExitCode, Failure> {
    let state = open(config).await?;
    let now = state.now();
    match command {
        AccountsCommand::Create {
            role,
            name,
            feeds,
            scope,
        } => {
            if scope.is_some() && role != Role::CommunityWorker {
                return Err(Failure::new(
                    "scope_for_community_workers",
                    "only community worker accounts work for a district, street or community",
                    "只有社区工作者账号可以指定所属区县、街道或社区",
                ));
            }
            if !feeds.is_empty() && role != Role::Department {
                return Err(Failure::new(
                    "feeds_for_departments",
                    "only department accounts deliver feeds",
                    "只有部门账号可以交付数据",
                ));
            }
            let token = new_token();
            let account = state
                .store
                .create_account(
                    role.as_str(),
                    &name,
                    &token,
                    &cli_actor("account administration"),
                    now,
                )
                .await
                .map_err(failed)?;
            if !feeds.is_empty() {
                state
                    .store
                    .grant_feeds(
                        &account.id,
                        &feeds,
                        &cli_actor("account administration"),
                        now,
                    )
                    .await
                    .map_err(failed)?;
                outln!("may deliver: {}", feeds.join(", "))?;
            }
            if let Some(scope) = &scope {
                state
                    .store
                    .set_account_scope(
                        &account.id,
                        scope,
                        &cli_actor("account administration"),
                        now,
                    )
                    .await
                    .map_err(failed)?;
                outln!("works for: {scope}")?;
            }
            outln!(
                "account {} ({}, {})",
                account.id,
                role.as_str(),
                account.name
            )?;
            outln!("token (shown once; keep it secret): {token}")?;
        }
        AccountsCommand::Revoke { id } => {
            state
                .store
                .revoke_account(&id, &cli_actor("account administration"), now)
                .await
                .map_err(failed)?;
            outln!("revoked {id}")?;
        }
        AccountsCommand::List => {
            for a in state.store.accounts().await.map_err(failed)? {
                let revoked = if a.revoked_at.is_some() {
                    " (revoked)"
                } else {
                    ""
                };
                outln!("{}  {:<16} {}{revoked}", a.id, a.role, a.name)?;
            }
        }
    }
    state.store.close().await;
    Ok(ExitCode::SUCCESS)
}

pub async fn audit(config: Config, command: AuditCommand) -> Result<ExitCode, Failure> {
    let state = open(config).await?;
    let AuditCommand::Verify = command;
    let verified = state.anchors.verify(&state.store).await.map_err(failed);
    state.store.close().await;
    let verified = verified?;
    let chain = &verified.chain;
    match (chain.first_broken, verified.intact()) {
        (_, true) => outln!("audit chain intact: {} entries 审计链完整", chain.entries)?,
        (Some(seq), false) => outln!(
            "audit chain BROKEN at entry {seq} ({} entries in the log) 审计链在第 {seq} 条处断裂",
            chain.entries
        )?,
        (None, false) => {
            let (k, n) = (verified.refused.len(), chain.entries);
            outln!(
                "audit chain UNVERIFIED: {k} anchor lines refused ({n} entries in the log) 审计链无法核验：{k} 行锚点被拒"
            )?
        }
    }
    for refused in &verified.refused {
        let (line, reason) = (refused.line, &refused.reason);
        outln!("anchor line {line} refused: {reason} 锚点第 {line} 行被拒：{reason}")?;
    }
    for finding in &chain.findings {
        outln!("{}", describe(finding))?;
    }
    if chain.findings_omitted > 0 {
        let n = chain.findings_omitted;
        outln!("… and {n} more findings 另有 {n} 处问题")?;
    }
    let (n, latest, open) = (chain.anchors, chain.anchored, chain.unanchored);
    if n == 0 {
        outln!("anchors: none; not yet anchored: {open} 锚点：无；尚未锚定：{open} 条")?;
    } else {
        outln!(
            "anchors: {n}, the latest at entry {latest}; not yet anchored: {open} 锚点 {n} 个，最新锚定至第 {latest} 条；尚未锚定：{open} 条"
        )?;
    }
    Ok(if verified.intact() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// One finding of `audit verify`, in English and Chinese.
fn describe(finding: &Finding) -> String {
    let at = |ms: i64| {
        healthcode_store::from_ms(ms)
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_else(|_| ms.to_string())
    };
    match *finding {
        Finding::Broken { seq } => format!(
            "entry {seq} does not follow from the entry before it and its content 第 {seq} 条与前一条或其内容不符"
        ),
        Finding::Missing { seq, count: 1 } => format!("entry {seq} is missing 第 {seq} 条缺失"),
        Finding::Missing { seq, count } => {
            let end = seq + count - 1;
            format!("entries {seq} to {end} are missing ({count}) 第 {seq} 至 {end} 条缺失")
        }
        Finding::DiffersFromAnchor {
            seq,
            since,
            signed_at,
        } => {
            let t = at(signed_at);
            format!(
                "entry {seq} differs from the anchor signed at {t} (an entry from {since} to {seq} was rewritten) 第 {seq} 条与 {t} 签名的锚点不符（第 {since} 至 {seq} 条中有条目被改写）"
            )
        }
        Finding::Truncated {
            last,
            anchored,
            signed_at,
        } => {
            let (t, n) = (at(signed_at), anchored - last);
            format!(
                "truncated: the log ends at entry {last} but the anchor signed at {t} names entry {anchored}: {n} entries missing 被截断：日志止于第 {last} 条，而 {t} 签名的锚点记到第 {anchored} 条，缺少 {n} 条"
            )
        }
        Finding::Head { head, last } => format!(
            "the chain head names entry {head} but the log ends at entry {last} 链头记为第 {head} 条，而日志止于第 {last} 条"
        ),
    }
}

pub async fn reassess(config: Config) -> Result<ExitCode, Failure> {
    let state = open(config).await?;
    let started = std::time::Instant::now();
    let sweep = healthcode_server::usecases::colours::reassess_everyone(&state, state.now())
        .await
        .map_err(failed)?;
    let secs = started.elapsed().as_secs_f64();
    outln!(
        "{} people in {secs:.2} s ({:.0}/s): {} evaluated (with facts or a kept colour), {} changed colour",
        sweep.people,
        sweep.people as f64 / secs.max(1e-9),
        sweep.evaluated,
        sweep.changed
    )?;
    state.store.close().await;
    Ok(ExitCode::SUCCESS)
}

/// `healthcode dry-run FILE`: who a policy version would turn from which colour to which at an
/// instant (now by default), against the version in effect then; reads only. The figure beside
/// `healthcode reassess` in docs/BENCHMARKS.md.
pub async fn dry_run(
    config: Config,
    file: String,
    at: Option<String>,
) -> Result<ExitCode, Failure> {
    let text = crate::failure::read_input(&file, "the policy")?;
    let proposed = match healthcode_core::Policy::from_json(&text) {
        Ok(p) => p,
        Err(e) => {
            outln!("{e}")?;
            return Ok(ExitCode::from(1));
        }
    };
    let state = open(config).await?;
    let at = match at {
        Some(t) => time::OffsetDateTime::parse(&t, &time::format_description::well_known::Rfc3339)
            .map_err(|e| Failure::new("bad_time", e.to_string(), format!("时间有误：{e}")))?,
        None => state.now(),
    };
    let started = std::time::Instant::now();
    let run = healthcode_server::usecases::policy_versions::judge_both(&state, proposed, at)
        .await
        .map_err(|e| Failure::new(e.code, e.en, e.zh))?;
    let secs = started.elapsed().as_secs_f64();
    outln!(
        "dry run of {} against {} at {}: {} people judged in {secs:.2} s ({:.0}/s), {} unchanged",
        run.version,
        run.against,
        run.at
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default(),
        run.evaluated,
        run.evaluated as f64 / secs.max(1e-9),
        run.unchanged
    )?;
    for c in &run.changes {
        outln!(
            "  {} -> {}: {} people, rules {:?}",
            c.from,
            c.to,
            c.people,
            c.by_rule
        )?;
    }
    state.store.close().await;
    Ok(ExitCode::SUCCESS)
}
