//! `healthcode`: the command of a healthcode node. For now the tools of people who write and
//! review colour policy; later the node itself.

mod failure;
mod policy_cmd;
mod rules_cmd;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "healthcode",
    version,
    about = "A regional digital health code (健康码), end to end"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Evaluate and validate CertLogic expressions.
    #[command(subcommand)]
    Rules(rules_cmd::RulesCommand),
    /// Check a colour policy and explain the colour it gives.
    #[command(subcommand)]
    Policy(policy_cmd::PolicyCommand),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let outcome = match cli.command {
        Command::Rules(cmd) => rules_cmd::run(cmd),
        Command::Policy(cmd) => policy_cmd::run(cmd),
    };
    match outcome {
        Ok(code) => code,
        Err(failure) => {
            eprintln!("{failure}");
            failure.exit_code()
        }
    }
}
