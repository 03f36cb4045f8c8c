//! The `--expires` grammar: `90d`, `12h`, `2w`, or a date `2027-01-31`
//! meaning the end of that day, UTC.

use crate::time::{days_from_civil, days_in_month, rfc3339};
use std::fmt;

/// About 100 years: a longer lifetime is surely a typo.
const MAX_SECONDS: i64 = 100 * 366 * 86_400;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpiryError(pub String);

impl fmt::Display for ExpiryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ExpiryError {}

/// The last second (inclusive) at which the password still works.
pub fn parse(text: &str, now: i64) -> Result<i64, ExpiryError> {
    let bad = || {
        ExpiryError(format!(
            "'{}' is not an expiry: give a duration such as 12h, 90d or 2w, or a date such as 2027-01-31",
            crate::escape::for_message(text)
        ))
    };
    if let Some(date) = parse_date(text) {
        let (y, m, d) = date.ok_or_else(bad)?;
        let end = (days_from_civil(y, m, d) + 1) * 86_400 - 1;
        if end < now {
            return Err(ExpiryError(format!(
                "the expiry date {text} is in the past (it ended {})",
                rfc3339(end)
            )));
        }
        if end - now > MAX_SECONDS {
            return Err(ExpiryError(format!(
                "the expiry date {text} is more than 100 years away"
            )));
        }
        return Ok(end);
    }
    let unit = text.chars().last().ok_or_else(bad)?;
    let per_unit = match unit {
        'h' => 3600,
        'd' => 86_400,
        'w' => 7 * 86_400,
        _ => return Err(bad()),
    };
    let digits = &text[..text.len() - 1];
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) || digits.len() > 9 {
        return Err(bad());
    }
    let count: i64 = digits.parse().map_err(|_| bad())?;
    if count == 0 {
        return Err(ExpiryError(format!(
            "the expiry {text} is zero: give a positive duration"
        )));
    }
    let seconds = count * per_unit;
    if seconds > MAX_SECONDS {
        return Err(ExpiryError(format!(
            "the expiry {text} is more than 100 years away"
        )));
    }
    Ok(now + seconds)
}

/// `Some(None)`: shaped like a date but not a real one; `None`: not date-shaped.
pub(crate) fn parse_date(text: &str) -> Option<Option<(i64, u32, u32)>> {
    let b = text.as_bytes();
    let shaped = b.len() == 10
        && b[4] == b'-'
        && b[7] == b'-'
        && b.iter()
            .enumerate()
            .all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit());
    if !shaped {
        return None;
    }
    let y: i64 = text[..4].parse().ok()?;
    let m: u32 = text[5..7].parse().ok()?;
    let d: u32 = text[8..].parse().ok()?;
    if !(1..=12).contains(&m) || d == 0 || d > days_in_month(y, m) {
        return Some(None);
    }
    Some(Some((y, m, d)))
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_795_000_000; // 2026-11-18

    #[test]
    fn durations() {
        assert_eq!(parse("90d", NOW).unwrap(), NOW + 90 * 86_400);
        assert_eq!(parse("12h", NOW).unwrap(), NOW + 12 * 3600);
        assert_eq!(parse("2w", NOW).unwrap(), NOW + 14 * 86_400);
    }

    #[test]
    fn dates_mean_the_end_of_that_day_utc() {
        assert_eq!(
            rfc3339(parse("2027-01-31", NOW).unwrap()),
            "2027-01-31T23:59:59Z"
        );
        assert_eq!(
            rfc3339(parse("2028-02-29", NOW).unwrap()),
            "2028-02-29T23:59:59Z"
        );
    }

    #[test]
    fn today_is_still_accepted_but_the_past_is_refused() {
        let today = rfc3339(NOW)[..10].to_string();
        assert!(parse(&today, NOW).is_ok());
        let err = parse("2026-11-17", NOW).unwrap_err();
        assert!(err.0.contains("in the past"), "{err}");
    }

    #[test]
    fn random_text_never_panics_and_never_yields_the_past() {
        use rand::rngs::StdRng;
        use rand::{Rng, SeedableRng};
        let mut rng = StdRng::seed_from_u64(7);
        let pool = b"0123456789-hdwmy 9:T";
        for _ in 0..50_000 {
            let len = rng.gen_range(0..14);
            let text: String = (0..len)
                .map(|_| char::from(pool[rng.gen_range(0..pool.len())]))
                .collect();
            if let Ok(t) = parse(&text, NOW) {
                assert!(
                    t > NOW - 86_400 && t <= NOW + MAX_SECONDS,
                    "{text:?} -> {t}"
                );
            }
        }
    }

    #[test]
    fn bad_expiries_are_refused() {
        for bad in [
            "",
            "d",
            "90",
            "90m",
            "-1d",
            "0d",
            "1.5d",
            "90 d",
            "2027-02-30",
            "2027-13-01",
            "2027-1-31",
            "99999999999d",
            "200w0",
        ] {
            assert!(parse(bad, NOW).is_err(), "{bad:?}");
        }
        assert!(parse("36600d", NOW).is_ok());
        assert!(parse("36700d", NOW).is_err());
    }
}
