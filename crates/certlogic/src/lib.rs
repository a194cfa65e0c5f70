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
mod memo;
mod uvci;
mod value;

use serde_json::Value;

pub use compile::MAX_NESTING;
pub use datetime::{format_date_time, parse_date_time};
pub use error::{CompileError, EvalError, Issue};
pub use value::is_truthy;

use std::cell::Cell;

use compile::{Compiler, Node};
use eval::{Ctx, Root, eval, eval_truthy};
use memo::{MEMO_SLOTS, Slot};
use value::Val;

/// A validated, compiled CertLogic expression. Cheap to evaluate repeatedly
/// and shareable across threads.
#[derive(Clone, Debug)]
pub struct Expr {
    root: Node,
    /// Memo slots the evaluation needs (see `memo`).
    memo_slots: usize,
}

impl Expr {
    /// Validates and compiles an expression; fails with every issue found.
    pub fn compile(expr: &Value) -> Result<Expr, CompileError> {
        let mut compiler = Compiler::default();
        match compiler.compile(expr, 0) {
            Some(mut root) if compiler.issues.is_empty() => {
                let memo_slots = memo::assign(&mut root);
                Ok(Expr { root, memo_slots })
            }
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
        self.evaluate_with(data, &[])
    }

    /// As [`Expr::evaluate`], with `bindings` visible as top-level names
    /// that shadow the data's own keys: `{"var": "fact.level"}` reads
    /// `bindings["fact"].level`, without copying anything into `data`. Inside
    /// a `reduce` lambda, `data` (the context the `reduce` was evaluated in)
    /// sees the bindings too. The first binding of a repeated name wins.
    /// `{"var": ""}` (the whole context) is still the data document itself,
    /// without the bindings.
    pub fn evaluate_with(
        &self,
        data: &Value,
        bindings: &[(&str, &Value)],
    ) -> Result<Value, EvalError> {
        self.with_context(data, bindings, |ctx| {
            // Boolean-valued operations skip the intermediate value entirely.
            if self.root.is_boolean_valued() {
                return eval_truthy(&self.root, ctx, "result").map(Value::Bool);
            }
            eval(&self.root, ctx).map(|value| value.to_json())
        })
        .map_err(|e| *e)
    }

    /// Evaluates and applies CertLogic truthiness; a result that is neither
    /// truthy nor falsy (a date-time, a non-integer number) is an error.
    pub fn evaluate_truthy(&self, data: &Value) -> Result<bool, EvalError> {
        self.evaluate_truthy_with(data, &[])
    }

    /// As [`Expr::evaluate_truthy`], with `bindings` as in [`Expr::evaluate_with`].
    pub fn evaluate_truthy_with(
        &self,
        data: &Value,
        bindings: &[(&str, &Value)],
    ) -> Result<bool, EvalError> {
        self.with_context(data, bindings, |ctx| eval_truthy(&self.root, ctx, "result"))
            .map_err(|e| *e)
    }

    /// Evaluates to a point in time, in milliseconds since the epoch: a
    /// date-time result, or a string in one of the `plusTime` formats. `None`
    /// for a `null` result; anything else is an error.
    pub fn evaluate_date_time(&self, data: &Value) -> Result<Option<i64>, EvalError> {
        let value = self.with_context(data, &[], |ctx| {
            eval(&self.root, ctx).map(|value| match value {
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
            })
        });
        value.map_err(|e| *e)?
    }

    /// Runs `f` in the top-level context for `data` and `bindings`, with a
    /// fresh stack-allocated memo when the expression uses one.
    fn with_context<'a, R>(
        &'a self,
        data: &'a Value,
        bindings: &[(&str, &'a Value)],
        f: impl FnOnce(&Ctx<'_, 'a>) -> R,
    ) -> R {
        if self.memo_slots == 0 {
            let root = Root {
                data,
                bindings,
                memo: &[],
            };
            return f(&Ctx::Root(&root));
        }
        let memo: [Cell<Slot<'a>>; MEMO_SLOTS] =
            std::array::from_fn(|_| Cell::new(Slot::Unresolved));
        let root = Root {
            data,
            bindings,
            memo: &memo[..self.memo_slots],
        };
        f(&Ctx::Root(&root))
    }
}

/// Validates an expression, returning every issue (empty when valid).
pub fn validate(expr: &Value) -> Vec<Issue> {
    let mut compiler = Compiler::default();
    let _ = compiler.compile(expr, 0);
    compiler.issues
}
