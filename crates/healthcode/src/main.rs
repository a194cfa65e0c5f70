//! `healthcode`: the command of a healthcode node: the node itself (`serve`), its
//! administration, and the tools of people who write and review colour policy.

#[macro_use]
mod output;

mod arrivals_bench;
mod demo;
mod failure;
mod federation_bench;
mod federation_cmd;
mod federation_demo;
mod import_cmd;
mod node_cmd;
mod pass_cmd;
mod policy_cmd;
mod rules_cmd;
mod simulate_cmd;
mod trace_bench_cmd;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

/// Requests allocate and free on whichever thread runs them: glibc's malloc spent about a
/// seventh of a scan's CPU and half of `/healthz`'s. jemalloc, not mimalloc: mimalloc was as
/// quick for requests but slowed tracing's large buffers by half (docs/BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

#[derive(Parser)]
#[command(
    name = "healthcode",
    version,
    about = "A regional digital health code (健康码), end to end"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    #[command(flatten)]
    node: node_cmd::NodeArgs,
}

#[derive(Subcommand)]
enum Command {
    /// Evaluate and validate CertLogic expressions.
    #[command(subcommand)]
    Rules(rules_cmd::RulesCommand),
    /// Check a colour policy and explain the colour it gives.
    #[command(subcommand)]
    Policy(policy_cmd::PolicyCommand),
    /// Seed a demo city (once per data directory) and run the node, printing what to try.
    Demo {
        /// Address to listen on; overrides the configuration.
        #[arg(long)]
        listen: Option<String>,
    },
    /// Run the regional node (HTTP API) until interrupted.
    Serve {
        /// Address to listen on, e.g. 127.0.0.1:8080; overrides the configuration.
        #[arg(long)]
        listen: Option<String>,
    },
    /// Verify a pass, venue code or EU certificate offline; one JSON object, exit 0/1/2.
    Verify(pass_cmd::VerifyCommand),
    /// Signing keys of this node.
    #[command(subcommand)]
    Keys(pass_cmd::KeysCommand),
    /// Build or check the signed list of regions' keys.
    #[command(subcommand)]
    TrustList(pass_cmd::TrustListCommand),
    /// Passes (for testing and demos).
    #[command(subcommand)]
    Pass(pass_cmd::PassCommand),
    /// Issue a signed venue code (场所码).
    VenueCode(pass_cmd::VenueCodeCommand),
    /// Staff and department accounts.
    #[command(subcommand)]
    Accounts(node_cmd::AccountsCommand),
    /// Deliver a department's file (lab results, telecom itineraries, risk areas) to a node's
    /// feed API, with progress and a summary of rejected rows.
    Import(import_cmd::ImportCommand),
    /// Re-derive everyone's colour now (after a policy change, or to check the kept colours),
    /// announcing every change; prints what it did and how long it took.
    Reassess,
    /// Who a policy version (a file) would turn from which colour to which, against the version
    /// in effect; reads only (docs/BENCHMARKS.md).
    DryRun {
        /// The policy JSON file (`-` for standard input).
        policy: String,
        /// The instant to judge at, RFC 3339; now when omitted.
        #[arg(long)]
        at: Option<String>,
    },
    /// Time contact tracing on this store's visit log, case by case (docs/BENCHMARKS.md).
    TraceBench(trace_bench_cmd::TraceBenchCommand),
    /// Time a day of returning people at one arrival station (arrival scans, the first
    /// hand-off) beside plain checkpoint scans, and check the console's figures
    /// (docs/BENCHMARKS.md).
    ArrivalsBench(arrivals_bench::ArrivalsBenchArgs),
    /// The audit log.
    #[command(subcommand)]
    Audit(node_cmd::AuditCommand),
    /// The node's configuration.
    #[command(subcommand)]
    Config(node_cmd::ConfigCommand),
    /// Federation (互通互认): register with the hub, fetch its trust list, and the hub officials'
    /// decisions.
    #[command(subcommand)]
    Federation(federation_cmd::FederationCommand),
    /// Fill the store with a reproducible synthetic city (people, venues, visits) for benchmarks.
    Simulate(simulate_cmd::SimulateCommand),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // A bulk load's statements are slow by design: sqlx's slow-statement warnings are noise there.
    let default_filter = match cli.command {
        Command::Simulate(_) => "info,sqlx::query=error",
        _ => "info",
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| default_filter.into()),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let outcome = match cli.command {
        Command::Rules(cmd) => rules_cmd::run(cmd),
        Command::Policy(cmd) => policy_cmd::run(cmd),
        Command::Config(node_cmd::ConfigCommand::Example) => {
            out!("{}", healthcode_server::config::Config::example()).map(|()| ExitCode::SUCCESS)
        }
        Command::Serve { listen } => node(&cli.node, |mut config| async move {
            if let Some(listen) = listen {
                config.listen = listen;
            }
            node_cmd::serve(config).await
        }),
        Command::Demo { listen } => {
            let default_dir = !cli.node.has_data_dir();
            node(&cli.node, |mut config| async move {
                if let Some(listen) = listen {
                    config.listen = listen;
                }
                if default_dir {
                    config.data_dir = "healthcode-demo".into();
                }
                demo::run(config).await
            })
        }
        Command::Verify(cmd) => Ok(pass_cmd::verify(cmd)),
        Command::Keys(cmd) => Ok(pass_cmd::keys(cmd)),
        Command::TrustList(cmd) => Ok(pass_cmd::trust_list(cmd)),
        Command::Pass(cmd) => Ok(pass_cmd::pass(cmd)),
        Command::VenueCode(cmd) => Ok(pass_cmd::venue_code(cmd)),
        Command::Accounts(cmd) => node(&cli.node, |config| node_cmd::accounts(config, cmd)),
        Command::Audit(cmd) => node(&cli.node, |config| node_cmd::audit(config, cmd)),
        Command::Reassess => node(&cli.node, node_cmd::reassess),
        Command::DryRun { policy, at } => {
            node(&cli.node, |config| node_cmd::dry_run(config, policy, at))
        }
        Command::TraceBench(cmd) => node(&cli.node, |config| trace_bench_cmd::run(config, cmd)),
        Command::ArrivalsBench(args) => tokio::runtime::Runtime::new()
            .map_err(|e| {
                failure::Failure::new("runtime", e.to_string(), format!("无法启动运行时：{e}"))
            })
            .and_then(|runtime| runtime.block_on(arrivals_bench::run(args))),
        Command::Import(cmd) => tokio::runtime::Runtime::new()
            .map_err(|e| {
                failure::Failure::new("runtime", e.to_string(), format!("无法启动运行时：{e}"))
            })
            .and_then(|runtime| runtime.block_on(import_cmd::run(cmd))),
        Command::Simulate(cmd) => node(&cli.node, |config| simulate_cmd::run(config, cmd)),
        Command::Federation(cmd) => node(&cli.node, |config| federation_cmd::run(config, cmd)),
    };
    match outcome {
        Ok(code) => code,
        Err(failure) => {
            eprintln!("{failure}");
            failure.exit_code()
        }
    }
}

/// Loads the node's configuration and runs an async command on a Tokio runtime.
fn node<F, Fut>(args: &node_cmd::NodeArgs, command: F) -> Result<ExitCode, failure::Failure>
where
    F: FnOnce(healthcode_server::config::Config) -> Fut,
    Fut: std::future::Future<Output = Result<ExitCode, failure::Failure>>,
{
    let config = args.load()?;
    let runtime = tokio::runtime::Runtime::new().map_err(|e| {
        failure::Failure::new("runtime", e.to_string(), format!("无法启动运行时：{e}"))
    })?;
    runtime.block_on(command(config))
}
