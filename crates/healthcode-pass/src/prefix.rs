//! The context identifier in front of the base45 text, which says what kind of code it is.

use serde::Serialize;
use thiserror::Error;

/// What a code is, told by its prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CodeKind {
    /// An EU Digital COVID Certificate (`HC1:`).
    EuDcc,
    /// A healthcode pass (`HCP1:`).
    Pass,
    /// A healthcode venue code (`HCV1:`).
    Venue,
}

/// Prefix of EU Digital COVID Certificates (hcert 1.0.8 §4.2).
pub const EU_DCC: &str = "HC1:";
/// Prefix of our passes: base45-alphabet characters only, so the QR stays alphanumeric.
pub const PASS: &str = "HCP1:";
/// Prefix of our venue codes.
pub const VENUE: &str = "HCV1:";

impl CodeKind {
    /// The prefix that introduces this kind.
    pub fn prefix(self) -> &'static str {
        match self {
            CodeKind::EuDcc => EU_DCC,
            CodeKind::Pass => PASS,
            CodeKind::Venue => VENUE,
        }
    }
}

/// Why the prefix stage failed.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum PrefixError {
    #[error("empty input")]
    Empty,
    #[error("no known prefix (expected HC1:, HCP1: or HCV1:)")]
    Unknown,
    #[error("{0} characters: longer than any QR code can hold ({MAX_TEXT})")]
    TooLong(usize),
}

/// The most alphanumeric characters a QR code holds (version 40, level L).
pub const MAX_TEXT: usize = 4296;

/// Splits a scanned text into its kind and the base45 part. Surrounding whitespace (a scanner
/// that types like a keyboard adds a newline) is ignored.
pub fn strip(text: &str) -> Result<(CodeKind, &str), PrefixError> {
    let text = text.trim();
    if text.len() > MAX_TEXT {
        return Err(PrefixError::TooLong(text.len()));
    }
    if text.is_empty() {
        return Err(PrefixError::Empty);
    }
    for kind in [CodeKind::EuDcc, CodeKind::Pass, CodeKind::Venue] {
        if let Some(rest) = text.strip_prefix(kind.prefix()) {
            return Ok((kind, rest));
        }
    }
    Err(PrefixError::Unknown)
}

/// Puts the prefix of `kind` in front of base45 text.
pub fn add(kind: CodeKind, base45: &str) -> String {
    let mut out = String::with_capacity(kind.prefix().len() + base45.len());
    out.push_str(kind.prefix());
    out.push_str(base45);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_known_prefixes() {
        assert_eq!(strip("HC1:ABC"), Ok((CodeKind::EuDcc, "ABC")));
        assert_eq!(strip(" HCP1:X\n"), Ok((CodeKind::Pass, "X")));
        assert_eq!(strip("HCV1:"), Ok((CodeKind::Venue, "")));
        assert_eq!(strip("HC2:ABC"), Err(PrefixError::Unknown));
        assert_eq!(strip("hc1:ABC"), Err(PrefixError::Unknown));
        assert_eq!(strip("  "), Err(PrefixError::Empty));
        assert_eq!(add(CodeKind::Pass, "AB"), "HCP1:AB");
    }
}
