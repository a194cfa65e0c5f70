//! Reading instants written the many ways ISO 8601 allows (RFC 3339, no zone meaning UTC,
//! `+0200` without a colon, fractions up to nanoseconds), as test data and scanners send them.

use thiserror::Error;
use time::{Date, Month, OffsetDateTime, PrimitiveDateTime, Time, UtcOffset};

/// Why a text is not an instant.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[error("not an ISO 8601 date-time: {0:?}")]
pub struct InstantError(pub String);

/// Parses `YYYY-MM-DD[T ]HH:MM[:SS[.fraction]][Z|±HH[:]MM]`; no zone means UTC.
pub fn parse_instant(text: &str) -> Result<OffsetDateTime, InstantError> {
    let err = || InstantError(text.chars().take(40).collect());
    let s = text.trim();
    let num = |from: usize, len: usize| -> Result<u32, InstantError> {
        let part = s.get(from..from + len).ok_or_else(err)?;
        if !part.bytes().all(|b| b.is_ascii_digit()) {
            return Err(err());
        }
        part.parse().map_err(|_| err())
    };
    let sep = |at: usize, c: u8| s.as_bytes().get(at) == Some(&c);
    if !(sep(4, b'-') && sep(7, b'-') && (sep(10, b'T') || sep(10, b't') || sep(10, b' '))) {
        return Err(err());
    }
    let year = i32::try_from(num(0, 4)?).map_err(|_| err())?;
    let month = Month::try_from(u8::try_from(num(5, 2)?).map_err(|_| err())?).map_err(|_| err())?;
    let day = u8::try_from(num(8, 2)?).map_err(|_| err())?;
    let date = Date::from_calendar_date(year, month, day).map_err(|_| err())?;
    if !sep(13, b':') {
        return Err(err());
    }
    let hour = u8::try_from(num(11, 2)?).map_err(|_| err())?;
    let minute = u8::try_from(num(14, 2)?).map_err(|_| err())?;
    let mut at = 16;
    let mut second = 0u8;
    let mut nanos = 0u32;
    if sep(at, b':') {
        second = u8::try_from(num(at + 1, 2)?).map_err(|_| err())?;
        at += 3;
        if sep(at, b'.') || sep(at, b',') {
            at += 1;
            let digits = s[at..].bytes().take_while(u8::is_ascii_digit).count();
            if digits == 0 || digits > 9 {
                return Err(err());
            }
            nanos = num(at, digits)? * 10u32.pow(9 - u32::try_from(digits).map_err(|_| err())?);
            at += digits;
        }
    }
    let time = Time::from_hms_nano(hour, minute, second, nanos).map_err(|_| err())?;
    let rest = &s[at..];
    let offset = match rest.as_bytes() {
        [] | [b'Z'] | [b'z'] => UtcOffset::UTC,
        [sign @ (b'+' | b'-'), ..] => {
            let digits: String = rest[1..].chars().filter(|c| *c != ':').collect();
            if digits.len() != 4 || !digits.bytes().all(|b| b.is_ascii_digit()) || rest.len() > 6 {
                return Err(err());
            }
            let h = digits[..2].parse::<i8>().map_err(|_| err())?;
            let m = digits[2..].parse::<i8>().map_err(|_| err())?;
            let (h, m) = if *sign == b'-' { (-h, -m) } else { (h, m) };
            UtcOffset::from_hms(h, m, 0).map_err(|_| err())?
        }
        _ => return Err(err()),
    };
    Ok(PrimitiveDateTime::new(date, time).assume_offset(offset))
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn forms_seen_in_test_data() {
        let utc = datetime!(2021-05-03 18:00 UTC);
        assert_eq!(parse_instant("2021-05-03T20:00:00+02:00").unwrap(), utc);
        assert_eq!(parse_instant("2021-05-03T20:00:00+0200").unwrap(), utc);
        assert_eq!(parse_instant("2021-05-03T18:00:00Z").unwrap(), utc);
        assert_eq!(parse_instant("2021-05-03T18:00:00").unwrap(), utc);
        assert_eq!(
            parse_instant("2021-05-03T18:00:00.9906293Z").unwrap(),
            datetime!(2021-05-03 18:00:00.9906293 UTC)
        );
        assert_eq!(
            parse_instant("2021-05-03T19:00:00.651+01:00").unwrap(),
            datetime!(2021-05-03 18:00:00.651 UTC)
        );
        for bad in [
            "",
            "2021-05-03",
            "2021-13-03T00:00:00Z",
            "2021-05-03T18:00:00+2",
            "x",
        ] {
            assert!(parse_instant(bad).is_err(), "{bad}");
        }
    }
}
