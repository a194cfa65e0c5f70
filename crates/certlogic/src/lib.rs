//! CertLogic — the business-rule language of the EU Digital COVID Certificate
//! (a restricted JsonLogic with date-time operations) — as a pure library:
//! validate and compile an expression once, evaluate it against many data
//! documents.
//!
//! ```
//! use certlogic::Expr;
//! use serde_json::json;
//!
//! let rule = Expr::parse(r#"{ "after": [
//!     { "dccDateOfBirth": [ { "var": "payload.dob" } ] },
//!     { "plusTime": [ { "var": "external.validationClock" }, -18, "year" ] } ] }"#)?;
//! let data = json!({ "payload": { "dob": "2010-03" },
//!                    "external": { "validationClock": "2024-01-01T00:00:00Z" } });
//! assert!(rule.evaluate_truthy(&data)?);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Extension: inside a `reduce` lambda the context is
//! `{ "current", "accumulator", "data" }`, `data` being the context the
//! `reduce` was evaluated in (the spec's optional extension).

mod compile;
mod datetime;
mod error;
mod eval;
mod uvci;
mod value;

use serde_json::Value;

pub use compile::MAX_NESTING;
pub use datetime::{format_date_time, parse_date_time};
pub use error::{CompileError, EvalError, Issue};
pub use value::is_truthy;

use compile::{Compiler, Node};
use eval::{Ctx, eval, eval_truthy};
use value::Val;

/// A validated, compiled CertLogic expression. Cheap to evaluate repeatedly
/// and shareable across threads.
#[derive(Clone, Debug)]
pub struct Expr {
    root: Node,
}

impl Expr {
    /// Validates and compiles an expression; fails with every issue found.
    pub fn compile(expr: &Value) -> Result<Expr, CompileError> {
        let mut compiler = Compiler::default();
        match compiler.compile(expr, 0) {
            Some(root) if compiler.issues.is_empty() => Ok(Expr { root }),
            _ => Err(CompileError {
                issues: compiler.issues,
            }),
        }
    }

    /// Parses JSON text and compiles it. JSON syntax errors (including
    /// nesting beyond `serde_json`'s limit) are reported as an [`Issue`].
    pub fn parse(text: &str) -> Result<Expr, CompileError> {
        let value: Value = serde_json::from_str(text).map_err(|e| CompileError {
            issues: vec![Issue {
                expr: Value::Null,
                message: format!("not valid JSON: {e}"),
            }],
        })?;
        Expr::compile(&value)
    }

    /// Evaluates against `data`. Date-times render as `YYYY-MM-DDThh:mm:ss.sssZ`.
    pub fn evaluate(&self, data: &Value) -> Result<Value, EvalError> {
        // Boolean-valued operations skip the intermediate value entirely.
        if self.root.is_boolean_valued() {
            return eval_truthy(&self.root, &Ctx::Root(data), "result")
                .map(Value::Bool)
                .map_err(|e| *e);
        }
        Ok(eval(&self.root, &Ctx::Root(data))
            .map_err(|e| *e)?
            .to_json())
    }

    /// Evaluates and applies CertLogic truthiness; a result that is neither
    /// truthy nor falsy (a date-time, a non-integer number) is an error.
    pub fn evaluate_truthy(&self, data: &Value) -> Result<bool, EvalError> {
        eval_truthy(&self.root, &Ctx::Root(data), "result").map_err(|e| *e)
    }

    /// Evaluates to a point in time, in milliseconds since the epoch: a
    /// date-time result, or a string in one of the `plusTime` formats. `None`
    /// for a `null` result; anything else is an error.
    pub fn evaluate_date_time(&self, data: &Value) -> Result<Option<i64>, EvalError> {
        match eval(&self.root, &Ctx::Root(data)).map_err(|e| *e)? {
            Val::Null => Ok(None),
            Val::DateTime(ms) => Ok(Some(ms)),
            Val::Str(text) => {
                parse_date_time(text)
                    .map(Some)
                    .ok_or_else(|| EvalError::InvalidDate {
                        op: "evaluate_date_time",
                        value: text.to_owned(),
                    })
            }
            other => Err(EvalError::TypeMismatch {
                op: "evaluate_date_time",
                expected: "a date-time, a date(-time) string or null",
                found: other.describe(),
            }),
        }
    }
}

/// Validates an expression, returning every issue (empty when valid).
pub fn validate(expr: &Value) -> Vec<Issue> {
    let mut compiler = Compiler::default();
    let _ = compiler.compile(expr, 0);
    compiler.issues
}
