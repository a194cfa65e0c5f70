//! `healthcode rules`: CertLogic expressions on the command line.

use crate::failure::{Failure, parse_json, read_input};
use certlogic::Expr;
use clap::Subcommand;
use serde_json::Value;
use std::process::ExitCode;

#[derive(Subcommand)]
pub enum RulesCommand {
    /// Print the JSON value of an expression evaluated on a data document.
    Eval {
        /// The CertLogic expression (JSON file, `-` for standard input).
        #[arg(long)]
        expr: String,
        /// The data document, as given (it may hold `payload` and `external` as the EU business
        /// rules use them; `-` for standard input).
        #[arg(long)]
        data: String,
    },
    /// List what is wrong with an expression; exit 0 when nothing is, 1 when something is.
    Validate {
        /// The CertLogic expression (JSON file, `-` for standard input).
        file: String,
    },
}

pub fn run(command: RulesCommand) -> Result<ExitCode, Failure> {
    match command {
        RulesCommand::Eval { expr, data } => {
            if expr == "-" && data == "-" {
                return Err(Failure::new(
                    "two_stdin",
                    "only one of --expr and --data can read standard input",
                    "--expr 与 --data 只能有一个读取标准输入",
                ));
            }
            let expr_json: Value =
                parse_json(&read_input(&expr, "the expression")?, "the expression")?;
            let data_json: Value = parse_json(&read_input(&data, "the data")?, "the data")?;
            let compiled = Expr::compile(&expr_json).map_err(|e| {
                Failure::new(
                    "invalid_expression",
                    e.to_string(),
                    format!("不是有效的 CertLogic 表达式：{}", issue_list(&e.issues)),
                )
            })?;
            let value = compiled.evaluate(&data_json).map_err(|e| {
                Failure::new(
                    "evaluation_failed",
                    format!("evaluation failed: {e}"),
                    format!("求值失败：{e}"),
                )
            })?;
            outln!("{value}")?;
            Ok(ExitCode::SUCCESS)
        }
        RulesCommand::Validate { file } => {
            let expr_json: Value =
                parse_json(&read_input(&file, "the expression")?, "the expression")?;
            let issues = certlogic::validate(&expr_json);
            if issues.is_empty() {
                outln!("valid: no issues")?;
                return Ok(ExitCode::SUCCESS);
            }
            outln!("{} issue(s):", issues.len())?;
            for issue in &issues {
                outln!("- {}\n  in: {}", issue.message, issue.expr)?;
            }
            Ok(ExitCode::from(1))
        }
    }
}

fn issue_list(issues: &[certlogic::Issue]) -> String {
    issues
        .iter()
        .map(|i| i.to_string())
        .collect::<Vec<_>>()
        .join("；")
}
