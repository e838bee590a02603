//! Aware datetimes as msgspec decodes and encodes them, in the one strict form we accept.

use crate::json::{Decline, R};

/// Years outside this range decline: no overflow when adding hold and expiry days
/// (at most 3650 + 36500), and nothing near the edges of Python's datetime.
const MIN_YEAR: i64 = 1900;
const MAX_YEAR: i64 = 9000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DateTime {
    pub year: i64,
    pub month: u32,
    pub day: u32,
    pub hour: u32,
    pub minute: u32,
    pub second: u32,
    pub micro: u32,
    /// UTC offset in minutes; 0 is UTC (encoded `Z`, as msgspec does).
    pub offset: i32,
}

fn digits(b: &[u8], at: usize, n: usize) -> R<u32> {
    let mut v = 0u32;
    for k in 0..n {
        let c = *b.get(at + k).ok_or(Decline)?;
        if !c.is_ascii_digit() {
            return Err(Decline);
        }
        v = v * 10 + (c - b'0') as u32;
    }
    Ok(v)
}

pub fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

pub fn days_in_month(y: i64, m: u32) -> u32 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ => {
            if is_leap(y) {
                29
            } else {
                28
            }
        }
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = m as i64;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146097 + doe - 719468
}

pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719468;
    let era = z.div_euclid(146097);
    let doe = z - era * 146097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

impl DateTime {
    /// `YYYY-MM-DDTHH:MM:SS(.d{1,6})?(Z|[+-]HH:MM)`, calendar-valid; anything else declines
    /// (msgspec accepts more, e.g. lowercase, a space, `+0300`, `-00:00`, 7+ digits).
    pub fn parse(s: &str) -> R<DateTime> {
        let b = s.as_bytes();
        if b.len() < 20 {
            return Err(Decline);
        }
        let year = digits(b, 0, 4)? as i64;
        if b[4] != b'-' || b[7] != b'-' || b[10] != b'T' || b[13] != b':' || b[16] != b':' {
            return Err(Decline);
        }
        let month = digits(b, 5, 2)?;
        let day = digits(b, 8, 2)?;
        let hour = digits(b, 11, 2)?;
        let minute = digits(b, 14, 2)?;
        let second = digits(b, 17, 2)?;
        if !(MIN_YEAR..=MAX_YEAR).contains(&year)
            || !(1..=12).contains(&month)
            || day < 1
            || day > days_in_month(year, month)
            || hour > 23
            || minute > 59
            || second > 59
        {
            return Err(Decline);
        }
        let mut at = 19;
        let mut micro = 0u32;
        if b[at] == b'.' {
            at += 1;
            let start = at;
            while at < b.len() && b[at].is_ascii_digit() {
                at += 1;
            }
            let n = at - start;
            if n == 0 || n > 6 {
                return Err(Decline);
            }
            micro = digits(b, start, n)? * 10u32.pow((6 - n) as u32);
        }
        let offset = match b.get(at) {
            Some(b'Z') if at + 1 == b.len() => 0,
            Some(&sign @ (b'+' | b'-')) if at + 6 == b.len() => {
                if b[at + 3] != b':' {
                    return Err(Decline);
                }
                let oh = digits(b, at + 1, 2)?;
                let om = digits(b, at + 4, 2)?;
                if oh > 23 || om > 59 {
                    return Err(Decline);
                }
                let total = (oh * 60 + om) as i32;
                if sign == b'-' {
                    if total == 0 {
                        return Err(Decline); // -00:00: "unknown local offset"
                    }
                    -total
                } else {
                    total
                }
            }
            _ => return Err(Decline),
        };
        Ok(DateTime {
            year,
            month,
            day,
            hour,
            minute,
            second,
            micro,
            offset,
        })
    }

    /// UTC epoch microseconds.
    pub fn epoch_us(&self) -> i64 {
        let days = days_from_civil(self.year, self.month, self.day);
        let secs = days * 86400 + (self.hour * 3600 + self.minute * 60 + self.second) as i64
            - self.offset as i64 * 60;
        secs * 1_000_000 + self.micro as i64
    }

    /// The same wall time `n` days later, same offset (Python's aware `dt + timedelta(days=n)`).
    pub fn plus_days(&self, n: i64) -> R<DateTime> {
        let (y, m, d) = civil_from_days(days_from_civil(self.year, self.month, self.day) + n);
        if !(1..=9999).contains(&y) {
            return Err(Decline);
        }
        Ok(DateTime {
            year: y,
            month: m,
            day: d,
            ..*self
        })
    }

    /// msgspec's encoding: `YYYY-MM-DDTHH:MM:SS[.ffffff](Z|+HH:MM)`.
    pub fn write(&self, out: &mut Vec<u8>) {
        fn two(out: &mut Vec<u8>, v: u32) {
            out.push(b'0' + (v / 10) as u8);
            out.push(b'0' + (v % 10) as u8);
        }
        let y = self.year as u32;
        out.push(b'0' + (y / 1000 % 10) as u8);
        out.push(b'0' + (y / 100 % 10) as u8);
        two(out, y % 100);
        out.push(b'-');
        two(out, self.month);
        out.push(b'-');
        two(out, self.day);
        out.push(b'T');
        two(out, self.hour);
        out.push(b':');
        two(out, self.minute);
        out.push(b':');
        two(out, self.second);
        if self.micro != 0 {
            out.push(b'.');
            let mut div = 100_000;
            while div > 0 {
                out.push(b'0' + (self.micro / div % 10) as u8);
                div /= 10;
            }
        }
        if self.offset == 0 {
            out.push(b'Z');
        } else {
            out.push(if self.offset < 0 { b'-' } else { b'+' });
            let o = self.offset.unsigned_abs();
            two(out, o / 60);
            out.push(b':');
            two(out, o % 60);
        }
    }

    pub fn to_text(self) -> String {
        let mut v = Vec::with_capacity(32);
        self.write(&mut v);
        // Only ASCII was written.
        String::from_utf8(v).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_round_trip() {
        for z in -800_000..800_000i64 {
            let (y, m, d) = civil_from_days(z);
            assert_eq!(days_from_civil(y, m, d), z);
        }
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11017);
    }

    #[test]
    fn parse_and_write() {
        for s in [
            "2026-01-02T03:04:05Z",
            "2026-01-02T03:04:05.000120+03:00",
            "2024-02-29T23:59:59-05:30",
        ] {
            assert_eq!(DateTime::parse(s).unwrap().to_text(), s);
        }
        assert_eq!(
            DateTime::parse("2026-01-02T03:04:05+00:00")
                .unwrap()
                .to_text(),
            "2026-01-02T03:04:05Z"
        );
        assert_eq!(
            DateTime::parse("2026-01-02T03:04:05.5Z").unwrap().to_text(),
            "2026-01-02T03:04:05.500000Z"
        );
        for bad in [
            "2026-02-29T00:00:00Z",
            "2026-01-01T00:00:00-00:00",
            "2026-01-01t00:00:00Z",
            "2026-01-01T00:00:00.1234567Z",
            "2026-01-01T00:00:00+0300",
            "2026-01-01T00:00:00",
            "2026-01-01T24:00:00Z",
            "2026-01-01T00:00:60Z",
            "2026-01-01T00:00:00.Z",
        ] {
            assert!(DateTime::parse(bad).is_err(), "{bad}");
        }
    }
}
