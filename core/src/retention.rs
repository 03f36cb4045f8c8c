//! How long what stopped working is kept, and when it is let go. No job
//! runs in the background: idle expiry is decided at each login and list,
//! and retired credentials are erased by the next change to the store's
//! passwords.

use crate::store::{Finish, Store, StoreError, WriteError, Writer};

/// A revoked, expired or wiped password's hash and tag feed the tripwire
/// this long, then are erased.
pub const KEEP_RETIRED_SECS: i64 = 30 * 86_400;

/// The tripwire's history line for one password is written at most this often.
pub const TRIPWIRE_EVENT_EVERY_SECS: i64 = 86_400;

/// `last_tried_at` is written at most this often per password, so a device
/// polling with a revoked password does not turn every attempt into a write.
pub const TRIED_THROTTLE_SECS: i64 = 60;

/// The name of the idle-expiry setting (seconds; absent = off).
pub const IDLE_EXPIRY_SETTING: &str = "idle_expiry";

/// The reason recorded for a password that expired from disuse.
pub const REASON_IDLE: &str = "idle";

/// The shortest and longest idle expiry `config idle-expiry` accepts.
pub const MIN_IDLE_SECS: i64 = 3600;
pub const MAX_IDLE_SECS: i64 = 10 * 366 * 86_400;

/// When a password not used since `last_used_at` (or, never used, since
/// `created_at`) reaches the idle limit `idle`.
pub fn idle_deadline(created_at: i64, last_used_at: Option<i64>, idle: i64) -> i64 {
    last_used_at.unwrap_or(created_at).max(created_at) + idle
}

/// The idle limit in force, in seconds; `None` when idle expiry is off.
pub fn idle_limit(store: &mut dyn Store) -> Result<Option<i64>, StoreError> {
    Ok(store.setting(IDLE_EXPIRY_SETTING)?.filter(|s| *s > 0))
}

/// Runs `work` in one write transaction, after erasing the credentials
/// that stopped working more than [`KEEP_RETIRED_SECS`] before `now`.
pub fn write(
    store: &mut dyn Store,
    user: Option<&str>,
    now: i64,
    work: &mut dyn FnMut(&mut dyn Writer) -> Result<Finish, StoreError>,
) -> Result<(), WriteError> {
    store.write(user, &mut |w| {
        w.erase_retired(now - KEEP_RETIRED_SECS)?;
        work(w)
    })
}

/// Parses `config idle-expiry`'s value: a duration (`12h`, `90d`, `26w`)
/// or `off`. `Ok(None)` for off.
pub fn parse_idle(text: &str) -> Result<Option<i64>, String> {
    if text.eq_ignore_ascii_case("off") || text == "0" {
        return Ok(None);
    }
    let bad = || {
        format!(
            "'{}' is not an idle expiry: give a duration such as 12h, 90d or 26w, or off",
            crate::escape::for_message(text)
        )
    };
    let (digits, unit) = text.split_at(text.len().saturating_sub(1));
    let per_unit = match unit {
        "h" => 3600,
        "d" => 86_400,
        "w" => 7 * 86_400,
        _ => return Err(bad()),
    };
    if digits.is_empty() || digits.len() > 9 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let secs = digits.parse::<i64>().map_err(|_| bad())? * per_unit;
    if !(MIN_IDLE_SECS..=MAX_IDLE_SECS).contains(&secs) {
        return Err(format!(
            "the idle expiry {text} is out of range: give at least 1h and at most 10 years"
        ));
    }
    Ok(Some(secs))
}

/// An idle expiry as `config` shows it: `90d`, `36h`, `off`.
pub fn show_idle(secs: Option<i64>) -> String {
    match secs {
        None => "off".into(),
        Some(s) if s % (7 * 86_400) == 0 => format!("{}w", s / (7 * 86_400)),
        Some(s) if s % 86_400 == 0 => format!("{}d", s / 86_400),
        Some(s) if s % 3600 == 0 => format!("{}h", s / 3600),
        Some(s) => format!("{s}s"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn idle_values() {
        assert_eq!(parse_idle("off"), Ok(None));
        assert_eq!(parse_idle("90d"), Ok(Some(90 * 86_400)));
        assert_eq!(parse_idle("12h"), Ok(Some(12 * 3600)));
        assert_eq!(parse_idle("2w"), Ok(Some(14 * 86_400)));
        for bad in [
            "",
            "d",
            "0h",
            "90",
            "90m",
            "-1d",
            "1.5d",
            "99999999999d",
            "600w",
        ] {
            assert!(parse_idle(bad).is_err(), "{bad:?}");
        }
        assert_eq!(show_idle(Some(90 * 86_400)), "90d");
        assert_eq!(show_idle(Some(14 * 86_400)), "2w");
        assert_eq!(show_idle(Some(36 * 3600)), "36h");
        assert_eq!(show_idle(None), "off");
    }

    #[test]
    fn idle_counts_from_last_use_or_creation() {
        assert_eq!(idle_deadline(100, None, 10), 110);
        assert_eq!(idle_deadline(100, Some(150), 10), 160);
        // A last use before creation (a clock stepped back) never shortens it.
        assert_eq!(idle_deadline(100, Some(50), 10), 110);
    }
}
