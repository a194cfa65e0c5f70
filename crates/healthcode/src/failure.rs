//! The one error type of the command line: a stable code, a message in English and Chinese, and
//! the exit status (2 for unusable input).

use std::fmt;
use std::process::ExitCode;

#[derive(Debug)]
pub struct Failure {
    pub code: &'static str,
    pub en: String,
    pub zh: String,
}

impl Failure {
    pub fn new(code: &'static str, en: impl Into<String>, zh: impl Into<String>) -> Failure {
        Failure {
            code,
            en: en.into(),
            zh: zh.into(),
        }
    }

    pub fn exit_code(&self) -> ExitCode {
        ExitCode::from(2)
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "error[{}]: {}\n错误[{}]：{}",
            self.code, self.en, self.code, self.zh
        )
    }
}

/// Reads a file, or standard input for `-`.
pub fn read_input(path: &str, what: &str) -> Result<String, Failure> {
    let result = if path == "-" {
        std::io::read_to_string(std::io::stdin())
    } else {
        std::fs::read_to_string(path)
    };
    result.map_err(|e| {
        Failure::new(
            "unreadable_input",
            format!("cannot read {what} from {path}: {e}"),
            format!("无法读取{what}（{path}）：{e}"),
        )
    })
}

/// Parses JSON text, naming the input in the error.
pub fn parse_json<T: serde::de::DeserializeOwned>(text: &str, what: &str) -> Result<T, Failure> {
    serde_json::from_str(text).map_err(|e| {
        Failure::new(
            "bad_json",
            format!("{what} is not valid JSON here: {e}"),
            format!("{what}不是有效的 JSON：{e}"),
        )
    })
}
