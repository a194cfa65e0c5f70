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

    /// The division's name (GB/T 2260, from the data shipped in `data/gbt2260.csv`), e.g.
    /// 西湖区 for `330106`; `None` for a code that names no division.
    pub fn name(&self) -> Option<&'static str> {
        name(&self.0)
    }

    /// Whether `code` lies within this division: a province covers its prefectures and counties,
    /// a prefecture-level city its districts, a county only itself. A city's node thus signs the
    /// venue codes of its districts.
    pub fn covers(&self, code: &str) -> bool {
        code.len() == 6 && code.starts_with(self.prefix())
    }
}

/// The name of the division `code` names (GB/T 2260), e.g. 武汉市 for `420100`.
pub fn name(code: &str) -> Option<&'static str> {
    NAMES.get(code).copied()
}

/// The county-level divisions within `code` (a city's districts, a province's counties), by
/// code; a county, or a city without districts (东莞市), has only itself.
pub fn districts_within(code: &RegionCode) -> Vec<(&'static str, &'static str)> {
    let mut out: Vec<_> = NAMES
        .iter()
        .filter(|(c, _)| code.covers(c) && !c.ends_with("00"))
        .map(|(c, n)| (*c, *n))
        .collect();
    if out.is_empty() {
        out.extend(NAMES.get_key_value(code.as_str()).map(|(c, n)| (*c, *n)));
    }
    out.sort_unstable();
    out
}

/// Whether `code` names a county-level division (a district, a county, or a city without
/// districts such as 东莞市), the level people say they live in.
pub fn is_district(code: &str) -> bool {
    RegionCode::parse(code)
        .is_ok_and(|c| c.name().is_some() && districts_within(&c).iter().all(|(d, _)| *d == code))
}

/// The shipped names, read once.
static NAMES: std::sync::LazyLock<std::collections::HashMap<&'static str, &'static str>> =
    std::sync::LazyLock::new(|| {
        include_str!("../data/gbt2260.csv")
            .lines()
            .skip(1)
            .filter_map(|line| line.split_once(','))
            .collect()
    });

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

    #[test]
    fn names_divisions() {
        assert_eq!(name("420100"), Some("武汉市"));
        assert_eq!(
            name("110100"),
            Some("北京市"),
            "a municipality's city level"
        );
        assert_eq!(name("810000"), Some("香港特别行政区"));
        assert_eq!(name("330199"), None);
        let hangzhou = RegionCode::parse("330100").unwrap();
        assert_eq!(hangzhou.name(), Some("杭州市"));
        let districts = districts_within(&hangzhou);
        assert!(districts.contains(&("330106", "西湖区")), "{districts:?}");
        assert!(
            districts
                .iter()
                .all(|(c, _)| c.starts_with("3301") && *c != "330100")
        );
        let xihu = RegionCode::parse("330106").unwrap();
        assert_eq!(districts_within(&xihu), vec![("330106", "西湖区")]);
        assert!(is_district("330106") && is_district("441900"));
        assert!(!is_district("330100") && !is_district("330000") && !is_district("330199"));
        let dongguan = RegionCode::parse("441900").unwrap();
        assert_eq!(districts_within(&dongguan), vec![("441900", "东莞市")]);
    }
}
