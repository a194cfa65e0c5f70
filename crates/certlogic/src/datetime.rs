//! Date-time handling for CertLogic: the spec's 19 accepted string formats,
//! `plusTime` offsetting with JavaScript `Date.setUTC*` semantics, and the
//! `toISOString`-style rendering. All values are milliseconds since the Unix
//! epoch (UTC), like a JS `Date` time value.

pub(crate) const MS_PER_DAY: i64 = 86_400_000;
const MS_PER_HOUR: i64 = 3_600_000;
/// ECMA-262 TimeClip bound: a JS `Date` beyond this is "Invalid Date".
const MAX_TIME_MS: i64 = 8_640_000_000_000_000;
/// Years far outside the JS range are rejected before calendar arithmetic so
/// that the day-count computation cannot overflow.
const MAX_ABS_YEAR: i64 = 400_000;

/// The time units `plusTime` accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum TimeUnit {
    Year,
    Month,
    Day,
    Hour,
}

impl TimeUnit {
    pub(crate) fn from_name(name: &str) -> Option<Self> {
        match name {
            "year" => Some(Self::Year),
            "month" => Some(Self::Month),
            "day" => Some(Self::Day),
            "hour" => Some(Self::Hour),
            _ => None,
        }
    }
}

fn is_leap_year(year: i64) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if is_leap_year(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic-Gregorian date. `month` must be in
/// 1..=12; `day` may overflow the month (it is linear), which is exactly the
/// `MakeDay` behaviour `setUTCMonth`/`setUTCFullYear` rely on.
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    // Count years from March so the leap day is the last day of a "year".
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let year_of_era = y - era * 400;
    let month_from_march = (month + 9) % 12;
    let day_of_year = (153 * month_from_march + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// Inverse of [`days_from_civil`]: (year, month 1..=12, day 1..=31).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z - era * 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_from_march = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_from_march + 2) / 5 + 1;
    let month = if month_from_march < 10 {
        month_from_march + 3
    } else {
        month_from_march - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// A tiny byte cursor; all accepted formats are pure ASCII.
struct Cursor<'s> {
    bytes: &'s [u8],
    pos: usize,
}

impl<'s> Cursor<'s> {
    fn at_end(&self) -> bool {
        self.pos == self.bytes.len()
    }

    fn eat(&mut self, byte: u8) -> bool {
        if self.bytes.get(self.pos) == Some(&byte) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    /// Exactly `n` ASCII digits as a number.
    fn digits(&mut self, n: usize) -> Option<i64> {
        let run = self.bytes.get(self.pos..self.pos + n)?;
        if !run.iter().all(u8::is_ascii_digit) {
            return None;
        }
        self.pos += n;
        Some(run.iter().fold(0, |acc, d| acc * 10 + i64::from(d - b'0')))
    }

    /// The longest run of ASCII digits (possibly empty).
    fn digit_run(&mut self) -> &'s [u8] {
        let start = self.pos;
        while self.bytes.get(self.pos).is_some_and(u8::is_ascii_digit) {
            self.pos += 1;
        }
        &self.bytes[start..self.pos]
    }
}

fn number(digits: &[u8]) -> i64 {
    digits
        .iter()
        .fold(0, |acc, d| acc * 10 + i64::from(d - b'0'))
}

/// Parses the part after the offset sign: `h`, `hh`, `hmm`, `hhmm`, `h:mm`,
/// `hh:mm`. Returns the offset in minutes.
fn parse_offset(cursor: &mut Cursor<'_>) -> Option<i64> {
    let run = cursor.digit_run();
    let (hours, minutes) = if cursor.eat(b':') {
        if !(1..=2).contains(&run.len()) {
            return None;
        }
        (number(run), cursor.digits(2)?)
    } else {
        match run.len() {
            1 | 2 => (number(run), 0),
            3 | 4 => {
                let split = run.len() - 2;
                (number(&run[..split]), number(&run[split..]))
            }
            _ => return None,
        }
    };
    (hours <= 23 && minutes <= 59).then_some(hours * 60 + minutes)
}

fn parse(text: &str, allow_time: bool) -> Option<i64> {
    let mut c = Cursor {
        bytes: text.as_bytes(),
        pos: 0,
    };
    let year = c.digits(4)?;
    // Partial dates get the "last date consistent with the data" (dccDateOfBirth).
    if c.at_end() {
        return Some(days_from_civil(year, 12, 31) * MS_PER_DAY);
    }
    if !c.eat(b'-') {
        return None;
    }
    let month = c.digits(2)?;
    if !(1..=12).contains(&month) {
        return None;
    }
    if c.at_end() {
        return Some(days_from_civil(year, month, days_in_month(year, month)) * MS_PER_DAY);
    }
    if !c.eat(b'-') {
        return None;
    }
    let day = c.digits(2)?;
    if day < 1 || day > days_in_month(year, month) {
        return None;
    }
    let date_ms = days_from_civil(year, month, day) * MS_PER_DAY;
    if c.at_end() {
        return Some(date_ms);
    }
    if !allow_time || !c.eat(b'T') {
        return None;
    }
    let hour = c.digits(2)?;
    let minute = if c.eat(b':') {
        c.digits(2)?
    } else {
        return None;
    };
    let second = if c.eat(b':') {
        c.digits(2)?
    } else {
        return None;
    };
    if hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    let mut millis = 0;
    if c.eat(b'.') {
        let fraction = c.digit_run();
        if fraction.is_empty() {
            return None;
        }
        // Normalise to milliseconds, truncating (rounding down) extra digits.
        for i in 0..3 {
            millis = millis * 10 + fraction.get(i).map_or(0, |d| i64::from(d - b'0'));
        }
    }
    let offset_minutes = if c.eat(b'Z') {
        0
    } else if c.eat(b'+') {
        parse_offset(&mut c)?
    } else if c.eat(b'-') {
        -parse_offset(&mut c)?
    } else {
        0 // no offset means UTC
    };
    if !c.at_end() {
        return None;
    }
    let seconds = (hour * 60 + minute - offset_minutes) * 60 + second;
    Some(date_ms + seconds * 1000 + millis)
}

/// Parses a date or date-time string in one of the formats the CertLogic spec
/// allows for `plusTime` (`YYYY`, `YYYY-MM`, `YYYY-MM-DD`, and
/// `YYYY-MM-DDThh:mm:ss[.S…][Z|±h|±hh|±hmm|±hhmm|±h:mm|±hh:mm]`), into
/// milliseconds since the epoch. Partial dates resolve like `dccDateOfBirth`
/// (the last day they could denote); a missing offset means UTC; sub-millisecond
/// digits are truncated. Returns `None` for anything else, including dates that
/// do not exist such as `2021-09-99`.
pub fn parse_date_time(text: &str) -> Option<i64> {
    parse(text, true)
}

/// `dccDateOfBirth`: only `YYYY`, `YYYY-MM`, `YYYY-MM-DD`.
pub(crate) fn parse_date_of_birth(text: &str) -> Option<i64> {
    parse(text, false)
}

/// Renders a time value like JavaScript's `Date.prototype.toISOString`:
/// `YYYY-MM-DDThh:mm:ss.sssZ` (with the extended `±YYYYYY` year outside 0..=9999).
pub fn format_date_time(ms: i64) -> String {
    let days = ms.div_euclid(MS_PER_DAY);
    let time_of_day = ms.rem_euclid(MS_PER_DAY);
    let (year, month, day) = civil_from_days(days);
    let year = if (0..=9999).contains(&year) {
        format!("{year:04}")
    } else if year < 0 {
        format!("-{:06}", -year)
    } else {
        format!("+{year:06}")
    };
    format!(
        "{year}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        time_of_day / MS_PER_HOUR,
        time_of_day / 60_000 % 60,
        time_of_day / 1000 % 60,
        time_of_day % 1000
    )
}

/// `dateTime.setUTC<Unit>(dateTime.getUTC<Unit>() + amount)`. `None` when the
/// result leaves the range of a JS `Date`.
pub(crate) fn plus_time(ms: i64, amount: i64, unit: TimeUnit) -> Option<i64> {
    let result = match unit {
        // Hours and days are linear in UTC: no DST, leap seconds are ignored.
        TimeUnit::Hour => ms.checked_add(amount.checked_mul(MS_PER_HOUR)?)?,
        TimeUnit::Day => ms.checked_add(amount.checked_mul(MS_PER_DAY)?)?,
        TimeUnit::Month | TimeUnit::Year => {
            let time_of_day = ms.rem_euclid(MS_PER_DAY);
            let (year, month, day) = civil_from_days(ms.div_euclid(MS_PER_DAY));
            let (year, month) = if unit == TimeUnit::Year {
                (year.checked_add(amount)?, month)
            } else {
                let months = (year * 12 + month - 1).checked_add(amount)?;
                (months.div_euclid(12), months.rem_euclid(12) + 1)
            };
            if year.abs() > MAX_ABS_YEAR {
                return None;
            }
            // The day of month is kept and may overflow into the next month
            // (Jan 31 + 1 month = Mar 3/2; Feb 29 + 1 year = Mar 1), as in JS.
            days_from_civil(year, month, day) * MS_PER_DAY + time_of_day
        }
    };
    (result.abs() <= MAX_TIME_MS).then_some(result)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> String {
        format_date_time(parse_date_time(text).expect(text))
    }

    #[test]
    fn civil_round_trip() {
        for days in (-800_000..800_000).step_by(97) {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
            assert!((1..=12).contains(&m) && d >= 1 && d <= days_in_month(y, m));
        }
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
    }

    #[test]
    fn all_nineteen_formats() {
        let cases = [
            ("2021", "2021-12-31T00:00:00.000Z"),
            ("2020-02", "2020-02-29T00:00:00.000Z"),
            ("2021-02", "2021-02-28T00:00:00.000Z"),
            ("2021-06-01", "2021-06-01T00:00:00.000Z"),
            ("2021-06-01T10:20:30", "2021-06-01T10:20:30.000Z"),
            ("2021-06-01T10:20:30Z", "2021-06-01T10:20:30.000Z"),
            ("2021-06-01T10:20:30+2", "2021-06-01T08:20:30.000Z"),
            ("2021-06-01T10:20:30-02", "2021-06-01T12:20:30.000Z"),
            ("2021-06-01T10:20:30+130", "2021-06-01T08:50:30.000Z"),
            ("2021-06-01T10:20:30+0130", "2021-06-01T08:50:30.000Z"),
            ("2021-06-01T10:20:30+1:30", "2021-06-01T08:50:30.000Z"),
            ("2021-06-01T10:20:30+01:30", "2021-06-01T08:50:30.000Z"),
            ("2021-06-01T10:20:30.5", "2021-06-01T10:20:30.500Z"),
            ("2021-06-01T10:20:30.123456Z", "2021-06-01T10:20:30.123Z"),
            ("2021-06-01T10:20:30.9999+2", "2021-06-01T08:20:30.999Z"),
            ("2021-06-01T00:20:30.12+02", "2021-05-31T22:20:30.120Z"),
            ("2021-06-01T10:20:30.1-130", "2021-06-01T11:50:30.100Z"),
            ("2021-06-01T10:20:30.1+0000", "2021-06-01T10:20:30.100Z"),
            ("2021-06-01T10:20:30.1-1:00", "2021-06-01T11:20:30.100Z"),
            ("2021-06-01T10:20:30.1+00:00", "2021-06-01T10:20:30.100Z"),
        ];
        for (input, expected) in cases {
            assert_eq!(at(input), expected, "{input}");
        }
    }

    #[test]
    fn rejects_invalid() {
        for bad in [
            "",
            "21",
            "2021-09-99",
            "2022-13",
            "2022-00",
            "2021-02-29",
            "2021-06-01T",
            "2021-06-01T24:00:00",
            "2021-06-01T10:60:00",
            "2021-06-01T10:00:60",
            "2021-06-01T10:00",
            "2021-06-01T10:00:00.",
            "2021-06-01T10:00:00+",
            "2021-06-01T10:00:00+12345",
            "2021-06-01T10:00:00+24",
            "2021-06-01T10:00:00+1:3",
            "2021-06-01T10:00:00ZZ",
            "2021-06-01 10:00:00",
            "2021-6-1",
            "２０２１",
        ] {
            assert_eq!(parse_date_time(bad), None, "{bad:?}");
        }
        assert_eq!(parse_date_of_birth("2021-06-01T10:00:00Z"), None);
        assert!(parse_date_of_birth("2021-06-01").is_some());
    }

    #[test]
    fn plus_time_follows_js_set_utc() {
        let plus = |text: &str, amount, unit| {
            format_date_time(
                plus_time(parse_date_time(text).expect(text), amount, unit).expect("in range"),
            )
        };
        assert_eq!(
            plus("2020-02-29", 1, TimeUnit::Day),
            "2020-03-01T00:00:00.000Z"
        );
        assert_eq!(
            plus("2020-02-29", 1, TimeUnit::Month),
            "2020-03-29T00:00:00.000Z"
        );
        assert_eq!(
            plus("2020-02-29", 1, TimeUnit::Year),
            "2021-03-01T00:00:00.000Z"
        );
        assert_eq!(
            plus("2021-01-31T12:00:00Z", 1, TimeUnit::Month),
            "2021-03-03T12:00:00.000Z"
        );
        assert_eq!(
            plus("2021-03-31", -1, TimeUnit::Month),
            "2021-03-03T00:00:00.000Z"
        );
        assert_eq!(
            plus("2021-01-15", -13, TimeUnit::Month),
            "2019-12-15T00:00:00.000Z"
        );
        assert_eq!(
            plus("2021-06-01T00:00:00+00:00", 40, TimeUnit::Hour),
            "2021-06-02T16:00:00.000Z"
        );
        assert_eq!(
            plus("2021-12-31T23:00:00Z", -18, TimeUnit::Year),
            "2003-12-31T23:00:00.000Z"
        );
        assert_eq!(
            plus("1970-01-01", -1, TimeUnit::Day),
            "1969-12-31T00:00:00.000Z"
        );
        assert_eq!(plus_time(0, i64::MAX, TimeUnit::Hour), None);
        assert_eq!(plus_time(0, i64::MIN, TimeUnit::Month), None);
        assert_eq!(plus_time(0, 300_000, TimeUnit::Year), None);
    }

    #[test]
    fn formats_extended_years() {
        assert_eq!(format_date_time(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(format_date_time(-1), "1969-12-31T23:59:59.999Z");
        let far = plus_time(0, 10_000, TimeUnit::Year).expect("in range");
        assert_eq!(format_date_time(far), "+011970-01-01T00:00:00.000Z");
    }
}
