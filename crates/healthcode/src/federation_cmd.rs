//! `healthcode federation …`: a region registers with its hub and fetches the trust list; the
//! hub's officials list, decide and revoke through the hub's API with their own tokens, so each
//! decision is theirs on the hub's audit chain.

use crate::failure::Failure;
use crate::node_cmd::open;
use clap::Subcommand;
use healthcode_server::config::Config;
use healthcode_server::federation::{directory, region};
use std::process::ExitCode;

#[derive(Subcommand)]
pub enum FederationCommand {
    /// A hub and two regions (420100 Wuhan, 110000 Beijing) on loopback, registered, approved
    /// and seeded, with what to try printed; Ctrl-C stops them.
    Demo(crate::federation_demo::DemoArgs),
    /// The federation figures of docs/BENCHMARKS.md: verifying another region's pass, through
    /// the list fetched from the hub, beside our own.
    Bench(crate::federation_bench::BenchArgs),
    /// (region) Sign this region's entry (code, `federation.name`, `federation.public_url`, node
    /// key, signing keys) with its node key and propose it to `federation.hub_url`.
    Register,
    /// (region) Fetch the hub's trust list now, as the node does every
    /// `federation.refresh_seconds`, and print what is held.
    Refresh,
    /// (hub) Print the hub's root public key (PEM): regions configure it as `trust_root_key`.
    RootKey,
    /// The hub's directory of regions.
    Directory(Hub),
    /// (hub official) The regions' proposals, newest first.
    Proposals(Hub),
    /// (hub official) Approve or reject a proposal; approving publishes a new list.
    Decide {
        id: String,
        /// `approve` or `reject`.
        #[arg(long)]
        decision: String,
        #[arg(long)]
        reason: String,
        #[command(flatten)]
        hub: Hub,
    },
    /// (hub official) Revoke a region's signing key by its kid (base64): every region refuses
    /// what it signed within one refresh.
    Revoke {
        kid: String,
        #[arg(long)]
        reason: String,
        #[command(flatten)]
        hub: Hub,
    },
}

#[derive(clap::Args)]
pub struct Hub {
    /// The hub's URL, e.g. http://127.0.0.1:8090.
    #[arg(long, env = "HEALTHCODE_HUB")]
    hub: String,
    /// A hub official's API token (better given as HEALTHCODE_TOKEN).
    #[arg(
        long,
        env = "HEALTHCODE_TOKEN",
        hide_env_values = true,
        default_value = ""
    )]
    token: String,
}

fn failure(code: &'static str, e: impl std::fmt::Display) -> Failure {
    Failure::new(code, e.to_string(), format!("互通互认操作失败：{e}"))
}

pub async fn run(config: Config, command: FederationCommand) -> Result<ExitCode, Failure> {
    match command {
        FederationCommand::Demo(args) => crate::federation_demo::run(args).await,
        FederationCommand::Bench(args) => crate::federation_bench::run(args).await,
        FederationCommand::Register => {
            let state = open(config).await?;
            let answer = region::register(&state, state.now())
                .await
                .map_err(|e| failure("register_failed", e))?;
            print_json(&answer)
        }
        FederationCommand::Refresh => {
            let state = open(config).await?;
            let refreshed = directory::refresh(&state).await;
            let held = state.directory.state(state.now());
            print_json(&serde_json::json!({
                "refused": refreshed.as_ref().err().map(|e| e.code()),
                "error": refreshed.as_ref().err().map(|e| e.to_string()),
                "trust_list": held,
            }))
        }
        FederationCommand::RootKey => {
            let state = open(config).await?;
            let hub = state.hub.as_deref().ok_or_else(|| {
                failure("not_a_hub", "this node's federation.role is not \"hub\"")
            })?;
            outln!("{}", hub.root.verifying_key().to_pem().trim_end())
                .map_err(|e| failure("output", e))?;
            Ok(ExitCode::SUCCESS)
        }
        FederationCommand::Directory(hub) => {
            call(&hub, reqwest::Method::GET, "regions", None).await
        }
        FederationCommand::Proposals(hub) => {
            call(&hub, reqwest::Method::GET, "proposals", None).await
        }
        FederationCommand::Decide {
            id,
            decision,
            reason,
            hub,
        } => {
            let body = serde_json::json!({ "decision": decision, "reason": reason });
            let path = format!("proposals/{id}/decision");
            call(&hub, reqwest::Method::POST, &path, Some(body)).await
        }
        FederationCommand::Revoke { kid, reason, hub } => {
            let body = serde_json::json!({ "reason": reason });
            // A kid in base64 may hold '/' and '+': the path takes it URL-safe encoded.
            let kid = kid.replace('/', "%2F").replace('+', "%2B");
            call(
                &hub,
                reqwest::Method::POST,
                &format!("keys/{kid}/revoke"),
                Some(body),
            )
            .await
        }
    }
}

/// One call to the hub's API, its JSON answer printed.
async fn call(
    hub: &Hub,
    method: reqwest::Method,
    path: &str,
    body: Option<serde_json::Value>,
) -> Result<ExitCode, Failure> {
    let url = format!("{}/hub/v1/{path}", hub.hub.trim_end_matches('/'));
    let mut request = reqwest::Client::new().request(method, &url);
    if !hub.token.is_empty() {
        request = request.bearer_auth(&hub.token);
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request
        .send()
        .await
        .map_err(|e| failure("hub_unreachable", format!("{url}: {e}")))?;
    let status = response.status();
    let answer: serde_json::Value = response
        .json()
        .await
        .map_err(|e| failure("hub_answer", e))?;
    print_json(&answer)?;
    if status.is_success() {
        Ok(ExitCode::SUCCESS)
    } else {
        Err(failure("hub_refused", format!("the hub answered {status}")))
    }
}

fn print_json(value: &serde_json::Value) -> Result<ExitCode, Failure> {
    let text = serde_json::to_string_pretty(value).map_err(|e| failure("output", e))?;
    outln!("{text}").map_err(|e| failure("output", e))?;
    Ok(ExitCode::SUCCESS)
}
