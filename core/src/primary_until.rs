//! `primary_until=`: moving users off their primary password for a
//! service. On an `auth` line before `pam_unix`, a token that is not one of
//! the user's app passwords is passed on (`PAM_IGNORE`) until the date
//! (UTC), and refused from it; with `enrolled`, refused for users who have
//! an active app password and passed on for the others. Decided here once;
//! the module only maps the answer to PAM codes.

use crate::login::Refusal;
use crate::store::{Store, StoreError};
use crate::time::{days_from_civil, rfc3339};

/// What the login path would say of a token that cannot be an app
/// password at all (not 16 letters, such as most primary passwords):
/// `NoPasswords` when the user has no app password in force, `NoMatch`
/// otherwise. Asked of the store, so a store that cannot answer fails the
/// login closed as for any other token.
pub fn refusal_for_other_token(
    store: &mut dyn Store,
    user: &str,
    now: i64,
) -> Result<Refusal, StoreError> {
    let in_force = store
        .candidates(user)?
        .iter()
        .any(|c| c.revoked.is_none() && c.expires_at.is_none_or(|e| e >= now));
    Ok(if in_force {
        Refusal::NoMatch
    } else {
        Refusal::NoPasswords
    })
}

/// From when app passwords are required.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PrimaryUntil {
    /// From 00:00 UTC of this day (`start`, Unix seconds); `day` as given.
    Date { day: String, start: i64 },
    /// For users with at least one active app password.
    Enrolled,
}

/// What becomes of a token the login path refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Not an app password, and the primary password may still be used:
    /// the next module decides.
    PassOn,
    /// Refused here.
    Refuse,
}

impl PrimaryUntil {
    /// `YYYY-MM-DD` or `enrolled`; the error is a sentence for the log.
    pub fn parse(value: &str) -> Result<PrimaryUntil, String> {
        if value == "enrolled" {
            return Ok(PrimaryUntil::Enrolled);
        }
        match crate::expiry::parse_date(value) {
            Some(Some((y, m, d))) => Ok(PrimaryUntil::Date {
                day: value.to_owned(),
                start: days_from_civil(y, m, d) * 86_400,
            }),
            _ => Err(format!(
                "primary_until= takes a date such as 2027-03-01 or the word enrolled, not '{}'",
                crate::escape::for_message(value)
            )),
        }
    }

    /// Whether the date has come at `now` (never for `enrolled`).
    pub fn passed(&self, now: i64) -> bool {
        matches!(self, PrimaryUntil::Date { start, .. } if now >= *start)
    }

    /// What the log line says: `from 2027-03-01`, `once enrolled`.
    pub fn describe(&self) -> String {
        match self {
            PrimaryUntil::Date { day, .. } => format!("from {day}"),
            PrimaryUntil::Enrolled => "once the user has an app password".into(),
        }
    }

    /// The date as RFC 3339, for reports.
    pub fn start(&self) -> Option<String> {
        match self {
            PrimaryUntil::Date { start, .. } => Some(rfc3339(*start)),
            PrimaryUntil::Enrolled => None,
        }
    }

    /// What to do with a token refused for `why` at `now`. Only a token
    /// that is none of the user's app passwords can be the primary
    /// password; the right secret of a revoked, suspended or misplaced
    /// app password is refused as before.
    pub fn verdict(&self, why: &Refusal, now: i64) -> Verdict {
        let not_an_app_password = matches!(
            why,
            Refusal::NoPasswords | Refusal::NoneForService | Refusal::NoMatch
        );
        if !not_an_app_password {
            return Verdict::Refuse;
        }
        let enrolled = !matches!(why, Refusal::NoPasswords);
        match self {
            PrimaryUntil::Date { .. } if self.passed(now) => Verdict::Refuse,
            PrimaryUntil::Date { .. } => Verdict::PassOn,
            PrimaryUntil::Enrolled if enrolled => Verdict::Refuse,
            PrimaryUntil::Enrolled => Verdict::PassOn,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MARCH_1: i64 = 1_803_859_200; // 2027-03-01T00:00:00Z

    #[test]
    fn a_date_passes_the_primary_password_on_until_it_comes() {
        let u = PrimaryUntil::parse("2027-03-01").unwrap();
        assert_eq!(
            u,
            PrimaryUntil::Date {
                day: "2027-03-01".into(),
                start: MARCH_1
            }
        );
        for why in [
            Refusal::NoMatch,
            Refusal::NoPasswords,
            Refusal::NoneForService,
        ] {
            assert_eq!(u.verdict(&why, MARCH_1 - 1), Verdict::PassOn);
            assert_eq!(u.verdict(&why, MARCH_1), Verdict::Refuse);
        }
        assert_eq!(u.verdict(&Refusal::Suspended { id: 1 }, 0), Verdict::Refuse);
        assert_eq!(u.verdict(&Refusal::AccountLocked, 0), Verdict::Refuse);
    }

    #[test]
    fn enrolled_refuses_only_users_with_an_app_password() {
        let u = PrimaryUntil::parse("enrolled").unwrap();
        assert_eq!(u.verdict(&Refusal::NoPasswords, MARCH_1), Verdict::PassOn);
        assert_eq!(u.verdict(&Refusal::NoMatch, 0), Verdict::Refuse);
        assert_eq!(u.verdict(&Refusal::NoneForService, 0), Verdict::Refuse);
        assert!(!u.passed(i64::MAX));
    }

    #[test]
    fn anything_else_is_an_error() {
        for bad in [
            "",
            "2027-02-30",
            "2027-3-1",
            "tomorrow",
            "Enrolled",
            "2027-03-01x",
        ] {
            assert!(PrimaryUntil::parse(bad).is_err(), "{bad}");
        }
    }
}
