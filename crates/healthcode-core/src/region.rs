//! Administrative division codes (GB/T 2260): six digits, the first two a province.

use serde::{Deserialize, Serialize};
use thiserror::Error;

/// Province-level prefixes of GB/T 2260 (including 71 Taiwan, 81 Hong Kong, 82 Macao).
const PROVINCES: [u8; 34] = [
    11, 12, 13, 14, 15, 21, 22, 23, 31, 32, 33, 34, 35, 36, 37, 41, 42, 43, 44, 45, 46, 50, 51, 52,
    53, 54, 61, 62, 63, 64, 65, 71, 81, 82,
];

/// A six-digit GB/T 2260 administrative division code, e.g. `440300` (Shenzhen).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct RegionCode(String);

/// Why a text is not a region code.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[error("{0:?} is not a GB/T 2260 region code (six digits, known province)")]
pub struct RegionError(pub String);

impl RegionCode {
    /// Checks and wraps a code.
    pub fn parse(code: &str) -> Result<RegionCode, RegionError> {
        let bad = || RegionError(code.chars().take(16).collect());
        if code.len() != 6 || !code.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        let province = code[..2].parse::<u8>().map_err(|_| bad())?;
        if !PROVINCES.contains(&province) {
            return Err(bad());
        }
        Ok(RegionCode(code.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The code prefix this division covers: a province (`330000`) `33`, a prefecture-level city
    /// (`330100`) `3301`, a county only its own six digits.
    pub fn prefix(&self) -> &str {
        let own = self.0.as_str();
        if own.ends_with("0000") {
            &own[..2]
        } else if own.ends_with("00") {
            &own[..4]
        } else {
            own
        }
    }

    /// Whether `code` lies within this division: a province covers its prefectures and counties,
    /// a prefecture-level city its districts, a county only itself. A city's node thus signs the
    /// venue codes of its districts.
    pub fn covers(&self, code: &str) -> bool {
        code.len() == 6 && code.starts_with(self.prefix())
    }
}

impl TryFrom<String> for RegionCode {
    type Error = RegionError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        RegionCode::parse(&value)
    }
}

impl From<RegionCode> for String {
    fn from(value: RegionCode) -> String {
        value.0
    }
}

impl std::fmt::Display for RegionCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn divisions_cover_what_lies_within_them() {
        let zhejiang = super::RegionCode::parse("330000").unwrap();
        let hangzhou = super::RegionCode::parse("330100").unwrap();
        let xihu = super::RegionCode::parse("330106").unwrap();
        assert!(zhejiang.covers("330106") && zhejiang.covers("331000"));
        assert!(hangzhou.covers("330106") && hangzhou.covers("330100"));
        assert!(!hangzhou.covers("330200") && !hangzhou.covers("440300"));
        assert!(xihu.covers("330106") && !xihu.covers("330105"));
        assert!(!hangzhou.covers("3301"));
        assert_eq!(
            (zhejiang.prefix(), hangzhou.prefix(), xihu.prefix()),
            ("33", "3301", "330106")
        );
    }

    use super::*;

    #[test]
    fn parses_codes() {
        assert!(RegionCode::parse("440300").is_ok());
        assert!(RegionCode::parse("110000").is_ok());
        assert!(RegionCode::parse("990000").is_err());
        assert!(RegionCode::parse("44030").is_err());
        assert!(RegionCode::parse("44030a").is_err());
    }
}
