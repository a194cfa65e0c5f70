//! Error types: validation issues (compile time) and evaluation errors.

use serde::Serialize;
use serde_json::Value;

/// One problem found while validating a CertLogic expression: the offending
/// (sub-)expression and a message in the wording of the reference validator.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Issue {
    pub expr: Value,
    pub message: String,
}

impl std::fmt::Display for Issue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} (in {})", self.message, self.expr)
    }
}

/// A CertLogic expression failed validation; holds every issue found.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub struct CompileError {
    pub issues: Vec<Issue>,
}

impl std::fmt::Display for CompileError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "invalid CertLogic expression")?;
        for (i, issue) in self.issues.iter().enumerate() {
            write!(f, "{} {issue}", if i == 0 { ":" } else { ";" })?;
        }
        Ok(())
    }
}

/// Evaluation failed: the expression met data it cannot handle (a type
/// mismatch, a value that is neither truthy nor falsy, an unparseable date…).
/// Per the spec a failed validation rule should then be treated as `false`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EvalError {
    /// A value needed as a condition is neither truthy nor falsy.
    #[error("{context} must be truthy or falsy, but is {found}")]
    NotTruthyOrFalsy {
        context: &'static str,
        found: String,
    },
    /// An operand has the wrong type.
    #[error("operand of \"{op}\" must be {expected}, but is {found}")]
    TypeMismatch {
        op: &'static str,
        expected: &'static str,
        found: String,
    },
    /// Integer arithmetic left the 64-bit range.
    #[error("integer overflow in \"{op}\"")]
    Overflow { op: &'static str },
    /// A date(-time) string is not in one of the allowed formats, or denotes
    /// no real date (e.g. `2021-09-99`).
    #[error("\"{op}\": {value:?} is not a valid date(-time)")]
    InvalidDate { op: &'static str, value: String },
    /// Date arithmetic left the range of representable date-times.
    #[error("\"{op}\": resulting date-time is out of range")]
    DateOutOfRange { op: &'static str },
}
