//! Identity documents people enroll under, validated by their published formats, and the masked
//! forms shown on screen (surname and masked given name; first and last characters of a number).

use serde::{Deserialize, Serialize};
use time::{Date, Month};

/// The kinds of document a person can enroll under (DESIGN.md §4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum DocumentKind {
    /// 居民身份证 (GB 11643): 18 characters, ISO 7064 MOD 11-2 check character.
    ResidentId,
    /// 港澳居民来往内地通行证: H or M and 8 digits (10 on the older booklet).
    HkMacauPermit,
    /// 台湾居民来往大陆通行证: 8 digits (10 on the older booklet).
    TaiwanPermit,
    /// 港澳台居民居住证: 18 characters like a resident ID, region 810000 / 820000 / 830000.
    HkMacauTaiwanResidencePermit,
    /// 外国人永久居留身份证: 18 characters starting with 9 and a MOD 11-2 check (2023 format), or
    /// 3 letters and 12 digits (2017 format).
    ForeignPermanentResidentId,
    /// A passport (ICAO 9303 document number, up to 9 letters and digits) with its issuing
    /// country (ISO 3166-1 alpha-3).
    Passport,
    /// A child without a document, enrolled by a guardian who acts for them.
    None,
}

impl DocumentKind {
    pub fn name_zh(self) -> &'static str {
        match self {
            DocumentKind::ResidentId => "居民身份证",
            DocumentKind::HkMacauPermit => "港澳居民来往内地通行证",
            DocumentKind::TaiwanPermit => "台湾居民来往大陆通行证",
            DocumentKind::HkMacauTaiwanResidencePermit => "港澳台居民居住证",
            DocumentKind::ForeignPermanentResidentId => "外国人永久居留身份证",
            DocumentKind::Passport => "护照",
            DocumentKind::None => "无证件（监护人代办）",
        }
    }
}

/// A validated document number, normalised (upper case, no spaces).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Document {
    pub kind: DocumentKind,
    pub number: String,
    /// Issuing country of a passport.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
}

/// Why a document was refused: a stable code and a message in both languages.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{en}")]
pub struct DocumentError {
    pub code: &'static str,
    pub en: String,
    pub zh: String,
}

fn refuse(code: &'static str, en: impl Into<String>, zh: impl Into<String>) -> DocumentError {
    DocumentError {
        code,
        en: en.into(),
        zh: zh.into(),
    }
}

/// Province-level codes of GB/T 2260 (the first two digits of every region code), with 71 / 81 /
/// 82 / 83 for Taiwan, Hong Kong, Macau and residence permits.
const PROVINCES: [u8; 38] = [
    11, 12, 13, 14, 15, 21, 22, 23, 31, 32, 33, 34, 35, 36, 37, 41, 42, 43, 44, 45, 46, 50, 51, 52,
    53, 54, 61, 62, 63, 64, 65, 71, 81, 82, 83, 91, 92, 93,
];

impl Document {
    /// Validates a number of the given kind. `today` bounds birth dates (time is a parameter).
    pub fn parse(
        kind: DocumentKind,
        number: &str,
        country: Option<&str>,
        today: Date,
    ) -> Result<Document, DocumentError> {
        let number: String = number
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect::<String>()
            .to_ascii_uppercase();
        let country = country.map(|c| c.trim().to_ascii_uppercase());
        // Every format is ASCII; checking once here also makes the slicing below safe.
        if !number.is_ascii() {
            return Err(refuse(
                "bad_format",
                "a document number has only letters A-Z and digits",
                "证件号码只能包含字母和数字",
            ));
        }
        match kind {
            DocumentKind::ResidentId => {
                check_eighteen(&number, today)?;
                let province = number[..2].parse::<u8>().unwrap_or(0);
                if !PROVINCES[..31].contains(&province) {
                    return Err(refuse(
                        "unknown_region",
                        format!("{} is not a known region code", &number[..6]),
                        format!("{} 不是已知的行政区划代码", &number[..6]),
                    ));
                }
            }
            DocumentKind::HkMacauTaiwanResidencePermit => {
                check_eighteen(&number, today)?;
                if !["810000", "820000", "830000"].contains(&&number[..6]) {
                    return Err(refuse(
                        "bad_format",
                        "a residence permit number starts with 810000, 820000 or 830000",
                        "港澳台居民居住证号码以 810000、820000 或 830000 开头",
                    ));
                }
            }
            DocumentKind::HkMacauPermit => {
                let (first, rest) = number.split_at(number.len().min(1));
                if !(matches!(first, "H" | "M") && all_digits(rest) && matches!(rest.len(), 8 | 10))
                {
                    return Err(refuse(
                        "bad_format",
                        "a Hong Kong / Macau permit number is H or M followed by 8 (or 10) digits",
                        "港澳通行证号码为 H 或 M 加 8 位（旧版 10 位）数字",
                    ));
                }
            }
            DocumentKind::TaiwanPermit => {
                if !(all_digits(&number) && matches!(number.len(), 8 | 10)) {
                    return Err(refuse(
                        "bad_format",
                        "a Taiwan permit number is 8 (or 10) digits",
                        "台胞证号码为 8 位（旧版 10 位）数字",
                    ));
                }
            }
            DocumentKind::ForeignPermanentResidentId => {
                let old = number.len() == 15
                    && number[..3].chars().all(|c| c.is_ascii_uppercase())
                    && all_digits(&number[3..]);
                if !old {
                    check_eighteen(&number, today)?;
                    if !number.starts_with('9') {
                        return Err(refuse(
                            "bad_format",
                            "a permanent resident ID is 18 characters starting with 9, or 3 letters and 12 digits",
                            "外国人永久居留身份证号码为以 9 开头的 18 位，或 3 个字母加 12 位数字",
                        ));
                    }
                }
            }
            DocumentKind::Passport => {
                let Some(c) = country
                    .as_deref()
                    .filter(|c| c.len() == 3 && c.chars().all(|ch| ch.is_ascii_uppercase()))
                else {
                    return Err(refuse(
                        "bad_country",
                        "a passport needs its issuing country as an ISO 3166-1 alpha-3 code (e.g. CHN, FRA)",
                        "护照需提供签发国家的三位字母代码（如 CHN、FRA）",
                    ));
                };
                let ok = if c == "CHN" {
                    // E + 8 digits, or E + a letter (not I or O) + 7 digits.
                    number.len() == 9
                        && number.starts_with('E')
                        && (all_digits(&number[1..])
                            || (number.as_bytes()[1].is_ascii_uppercase()
                                && !matches!(number.as_bytes()[1], b'I' | b'O')
                                && all_digits(&number[2..])))
                } else {
                    (5..=9).contains(&number.len())
                        && number
                            .chars()
                            .all(|ch| ch.is_ascii_uppercase() || ch.is_ascii_digit())
                };
                if !ok {
                    return Err(refuse(
                        "bad_format",
                        format!("{number:?} is not a passport number of {c}"),
                        format!("{number:?} 不是 {c} 的护照号码格式"),
                    ));
                }
            }
            DocumentKind::None => {
                if !number.is_empty() {
                    return Err(refuse(
                        "bad_format",
                        "a child enrolled without a document has no number",
                        "无证件代办不应填写证件号码",
                    ));
                }
            }
        }
        Ok(Document {
            kind,
            number,
            country: country.filter(|_| kind == DocumentKind::Passport),
        })
    }

    /// The last four characters, shown on the pass so staff can match the document.
    pub fn tail(&self) -> &str {
        let start = self.number.len().saturating_sub(4);
        &self.number[start..]
    }

    /// First and last characters only: `3***************X`.
    pub fn masked(&self) -> String {
        mask_middle(&self.number)
    }

    /// Full years of age on `today`, when the document states a birth date.
    pub fn age_on(&self, today: Date) -> Option<i32> {
        let born = self.birth_date()?;
        let had_birthday = (today.month() as u8, today.day()) >= (born.month() as u8, born.day());
        Some(today.year() - born.year() - i32::from(!had_birthday))
    }

    /// The birth date a resident ID (or an 18-character permit) states.
    pub fn birth_date(&self) -> Option<Date> {
        (self.number.len() == 18)
            .then(|| birth_date(&self.number))
            .flatten()
    }
}

/// From this age a person enrolls under their own phone; a younger child's document is enrolled
/// by a guardian, as a child in their care (the age from which 2020's provincial codes let
/// children hold their own).
pub const OWN_ENROLLMENT_AGE: i32 = 14;

/// The 18-character layout shared by resident IDs and permits: region, birth date, sequence, check.
fn check_eighteen(number: &str, today: Date) -> Result<(), DocumentError> {
    let well_formed = number.len() == 18
        && all_digits(&number[..17])
        && matches!(number.as_bytes()[17], b'0'..=b'9' | b'X');
    if !well_formed {
        return Err(refuse(
            "bad_format",
            "an ID number has 18 characters: 17 digits and a digit or X",
            "证件号码应为 18 位：17 位数字加 1 位数字或 X",
        ));
    }
    let expected = mod11_2_check(number.as_bytes());
    if number.as_bytes()[17] != expected {
        return Err(refuse(
            "bad_checksum",
            format!(
                "the check character is {}, the number needs {} (ISO 7064 MOD 11-2)",
                number.as_bytes()[17] as char,
                expected as char
            ),
            "证件号码校验位不正确",
        ));
    }
    match birth_date(number) {
        Some(born) if born <= today && born.year() >= 1890 => Ok(()),
        _ => Err(refuse(
            "bad_birth_date",
            format!("{} is not a real birth date", &number[6..14]),
            format!("{} 不是有效的出生日期", &number[6..14]),
        )),
    }
}

/// The check character (ISO 7064 MOD 11-2) that completes the first 17 digits of a resident ID
/// number, for those who build numbers (the demo and the synthetic city); `None` unless `first17`
/// is 17 digits.
pub fn resident_id_check(first17: &str) -> Option<char> {
    (first17.len() == 17 && all_digits(first17)).then(|| mod11_2_check(first17.as_bytes()) as char)
}

/// ISO 7064 MOD 11-2 over the first 17 digits: weights 2^(17-i) mod 11.
fn mod11_2_check(digits: &[u8]) -> u8 {
    const WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
    const CHECK: &[u8; 11] = b"10X98765432";
    let sum: u32 = digits
        .iter()
        .zip(WEIGHTS)
        .map(|(d, w)| u32::from(d.wrapping_sub(b'0')) * w)
        .sum();
    CHECK[(sum % 11) as usize]
}

fn birth_date(number: &str) -> Option<Date> {
    let year = number.get(6..10)?.parse().ok()?;
    let month = Month::try_from(number.get(10..12)?.parse::<u8>().ok()?).ok()?;
    let day = number.get(12..14)?.parse().ok()?;
    Date::from_calendar_date(year, month, day).ok()
}

fn all_digits(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

fn mask_middle(s: &str) -> String {
    let chars: Vec<char> = s.chars().collect();
    match chars.len() {
        0 => String::new(),
        1 => "*".into(),
        2 => format!("{}*", chars[0]),
        n => format!("{}{}{}", chars[0], "*".repeat(n - 2), chars[n - 1]),
    }
}

/// A name as a document holds it, or None: 1 to 64 characters once trimmed and composed (NFC), letters with the
/// spaces, hyphens, apostrophes, dots and the middle dot (·) that names carry (阿依古丽·买买提,
/// O'BRIEN), beginning with a letter, and nothing that hides or reorders text: no control
/// characters, no zero-width, filler or direction-override characters, no digits or markup.
pub fn check_name(raw: &str) -> Option<String> {
    use unicode_normalization::UnicodeNormalization;
    let composed: String = raw.trim().nfc().collect();
    let name = composed.as_str();
    let count = name.chars().count();
    let fits = |c: char| {
        c.is_alphabetic()
            || matches!(c, ' ' | '-' | '\'' | '.' | '·' | '•' | '‧' | '・')
            // Combining marks (accents written apart): U+0300 to U+036F.
            || ('\u{300}'..='\u{36f}').contains(&c)
    };
    // Invisible, yet some count as letters: the Hangul fillers; the grapheme joiner is a mark.
    let hidden = |c: char| {
        c.is_control()
            || matches!(c, '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}'
                | '\u{2060}'..='\u{2069}' | '\u{feff}' | '\u{00ad}' | '\u{034f}'
                | '\u{115f}' | '\u{1160}' | '\u{3164}' | '\u{ffa0}')
    };
    let starts_with_letter = name.chars().next().is_some_and(char::is_alphabetic);
    ((1..=64).contains(&count)
        && starts_with_letter
        && name.chars().all(|c| fits(c) && !hidden(c))
        && !name.contains("  "))
    .then(|| name.to_owned())
}

/// `139****5678`: enough to tell phones apart in a log.
pub fn mask_phone(phone: &str) -> String {
    let chars: Vec<char> = phone.chars().collect();
    if chars.len() < 7 {
        return "****".into();
    }
    let head: String = chars[..3].iter().collect();
    let tail: String = chars[chars.len() - 4..].iter().collect();
    format!("{head}****{tail}")
}

/// A name as shown to staff: the first and last characters with one star between, whatever the
/// length, so the mask does not tell how long the name is (张*丰, 李*, 欧*华); for a Latin-script
/// name of several words the first word (the surname as documents print it) and the initials of
/// the rest: `ZHANG S*`.
pub fn mask_name(name: &str) -> String {
    let name = name.trim();
    // A Latin-script name of several words keeps its first; a single word is masked like any
    // other name, so that every masked name hides something.
    if name.is_ascii() && name.split_whitespace().nth(1).is_some() {
        let mut words = name.split_whitespace();
        let mut out: Vec<String> = words.next().map(str::to_owned).into_iter().collect();
        out.extend(
            words
                .filter_map(|w| w.chars().next())
                .map(|c| format!("{c}*")),
        );
        return out.join(" ");
    }
    let chars: Vec<char> = name.chars().collect();
    match chars.as_slice() {
        [] => String::new(),
        [_] => "*".into(),
        [first, _] => format!("{first}*"),
        [first, .., last] => format!("{first}*{last}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    const TODAY: Date = date!(2026 - 11 - 23);

    fn parse(kind: DocumentKind, number: &str) -> Result<Document, DocumentError> {
        Document::parse(kind, number, None, TODAY)
    }

    #[test]
    fn resident_ids_with_their_check_character() {
        // The example number of GB 11643 itself, and one ending in X.
        let id = parse(DocumentKind::ResidentId, "11010519491231002X").unwrap();
        assert_eq!(id.birth_date(), Some(date!(1949 - 12 - 31)));
        assert_eq!(id.tail(), "002X");
        assert_eq!(resident_id_check("11010519491231002"), Some('X'));
        assert_eq!(resident_id_check("1101051949123100"), None);
        assert_eq!(resident_id_check("1101051949123100A"), None);
        assert_eq!(id.masked(), "1****************X");
        assert_eq!(
            parse(DocumentKind::ResidentId, "张三").unwrap_err().code,
            "bad_format"
        );
        assert_eq!(
            parse(DocumentKind::HkMacauPermit, "张12345678")
                .unwrap_err()
                .code,
            "bad_format"
        );
        assert!(
            parse(DocumentKind::ResidentId, " 11010519491231002x ").is_ok(),
            "spaces and lower-case x"
        );
        assert_eq!(
            parse(DocumentKind::ResidentId, "110105194912310021")
                .unwrap_err()
                .code,
            "bad_checksum"
        );
        assert_eq!(
            parse(DocumentKind::ResidentId, "11010519491231002")
                .unwrap_err()
                .code,
            "bad_format"
        );
        assert_eq!(
            parse(DocumentKind::ResidentId, "1101051949123100A2")
                .unwrap_err()
                .code,
            "bad_format"
        );
    }

    #[test]
    fn the_age_counts_full_years_to_the_birthday() {
        let id = parse(DocumentKind::ResidentId, "11010519491231002X").unwrap();
        assert_eq!(id.age_on(date!(2020 - 12 - 30)), Some(70));
        assert_eq!(id.age_on(date!(2020 - 12 - 31)), Some(71));
        let passport = Document::parse(
            DocumentKind::Passport,
            "E12345678",
            Some("CHN"),
            date!(2020 - 01 - 01),
        )
        .unwrap();
        assert_eq!(passport.age_on(date!(2020 - 12 - 31)), None);
    }

    #[test]
    fn a_name_is_kept_composed_however_it_was_typed() {
        // é as one character, and as e followed by the combining acute accent.
        assert_eq!(check_name("Zo\u{e9}"), check_name("Zoe\u{301}"));
        assert_eq!(check_name("Zoe\u{301}").as_deref(), Some("Zo\u{e9}"));
    }

    #[test]
    fn birth_dates_must_be_real_and_past() {
        // Valid check characters computed for impossible dates.
        for body in [
            "11010519490230001",
            "11010520991231001",
            "11010518000101001",
        ] {
            let check = mod11_2_check(body.as_bytes()) as char;
            let err = parse(DocumentKind::ResidentId, &format!("{body}{check}")).unwrap_err();
            assert_eq!(err.code, "bad_birth_date", "{body}");
        }
    }

    #[test]
    fn unknown_region_prefix_is_refused() {
        let body = "99010519491231002";
        let check = mod11_2_check(body.as_bytes()) as char;
        assert_eq!(
            parse(DocumentKind::ResidentId, &format!("{body}{check}"))
                .unwrap_err()
                .code,
            "unknown_region"
        );
    }

    #[test]
    fn permits_and_passports_by_their_formats() {
        assert!(parse(DocumentKind::HkMacauPermit, "H12345678").is_ok());
        assert!(parse(DocumentKind::HkMacauPermit, "M1234567890").is_ok());
        assert!(parse(DocumentKind::HkMacauPermit, "X12345678").is_err());
        assert!(parse(DocumentKind::TaiwanPermit, "12345678").is_ok());
        assert!(parse(DocumentKind::TaiwanPermit, "1234567").is_err());
        let body = "81000019900101001";
        let permit = format!("{body}{}", mod11_2_check(body.as_bytes()) as char);
        assert!(parse(DocumentKind::HkMacauTaiwanResidencePermit, &permit).is_ok());
        assert!(
            parse(
                DocumentKind::HkMacauTaiwanResidencePermit,
                "11010519491231002X"
            )
            .is_err()
        );
        assert!(parse(DocumentKind::ForeignPermanentResidentId, "USA330401198001").is_ok());
        let body = "93311519900101001";
        let fpr = format!("{body}{}", mod11_2_check(body.as_bytes()) as char);
        assert!(parse(DocumentKind::ForeignPermanentResidentId, &fpr).is_ok());

        let passport =
            |n: &str, c: Option<&str>| Document::parse(DocumentKind::Passport, n, c, TODAY);
        assert!(passport("E12345678", Some("CHN")).is_ok());
        assert!(passport("EA1234567", Some("chn")).is_ok());
        assert!(
            passport("EI1234567", Some("CHN")).is_err(),
            "I and O are not used"
        );
        assert!(passport("G1234567", Some("CHN")).is_err());
        assert_eq!(
            passport("C01X00T47", Some("DEU"))
                .unwrap()
                .country
                .as_deref(),
            Some("DEU")
        );
        assert_eq!(passport("C01X00T47", None).unwrap_err().code, "bad_country");
        assert!(passport("AB-12", Some("FRA")).is_err());
        assert!(Document::parse(DocumentKind::None, "", None, TODAY).is_ok());
    }

    #[test]
    fn names_are_masked_as_on_screen() {
        assert_eq!(mask_name("张三丰"), "张*丰");
        assert_eq!(mask_name("李四"), "李*");
        assert_eq!(
            mask_name("欧阳建华"),
            "欧*华",
            "one star whatever the length"
        );
        assert_eq!(mask_name("ZHANG San Feng"), "ZHANG S* F*");
        assert_eq!(mask_name("李"), "*");
        assert_eq!(mask_name("MADONNA"), "M*A");
        assert_eq!(mask_name("Li"), "L*", "a single word hides its end too");
    }

    #[test]
    fn a_name_holds_what_a_document_can() {
        for ok in [
            "张三丰",
            "阿依古丽·买买提",
            "O'BRIEN Mary-Jane",
            "José",
            "Zoë",
        ] {
            assert_eq!(check_name(ok).as_deref(), Some(ok), "{ok}");
        }
        assert_eq!(check_name("  李四 ").as_deref(), Some("李四"));
        for bad in [
            "",
            "张\u{202e}三",
            "李\u{200b}四",
            "王\u{0007}五",
            "<script>",
            "Agent 007",
            "a  b",
            "·",
            "-'",
            "\u{3164}",
            "李\u{034f}四",
            &"长".repeat(65),
        ] {
            assert_eq!(check_name(bad), None, "{bad:?}");
        }
    }
}
