//! How a request ended, as the exit code `apppass` leaves with: named
//! once, here, for the command, the daemon and the web page.

use apppass_core::admin::AdminError;
use apppass_core::selfservice::Refusal;
use serde::{Deserialize, Serialize};
use std::fmt;

/// The exit codes besides 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "u8", into = "u8")]
pub enum Status {
    /// 1: the thing asked about does not hold (no such password, verify
    /// failed).
    NotSo = 1,
    /// 2: a bad flag, label or expiry, the limit reached, a user refused.
    Usage = 2,
    /// 3: the store, apppassd or PAM could not be used.
    Unavailable = 3,
    /// 4: the sign-in failed, self-service is off, or policy forbids it.
    Refused = 4,
    /// 5: the web session is over; sign in again.
    NotSignedIn = 5,
}

impl Status {
    pub fn code(self) -> u8 {
        self as u8
    }

    /// What an administrative operation's error means for its caller.
    pub fn of_admin(e: &AdminError) -> Status {
        match e {
            AdminError::Policy(_)
            | AdminError::Expiry(_)
            | AdminError::LimitReached { .. }
            | AdminError::DuplicateLabel { .. }
            | AdminError::Undelivered(_) => Status::Usage,
            AdminError::NotFound(_) => Status::NotSo,
            AdminError::Store(_)
            | AdminError::NotStored(_)
            | AdminError::Hash(_)
            | AdminError::PrimaryUnavailable { .. } => Status::Unavailable,
        }
    }

    /// What a self-service refusal means: root is told to act directly
    /// (a usage error); everything else is refused.
    pub fn of_refusal(r: &Refusal) -> Status {
        match r {
            Refusal::Root => Status::Usage,
            _ => Status::Refused,
        }
    }
}

impl From<Status> for u8 {
    fn from(s: Status) -> u8 {
        s.code()
    }
}

impl TryFrom<u8> for Status {
    type Error = String;

    fn try_from(code: u8) -> Result<Self, String> {
        Ok(match code {
            1 => Status::NotSo,
            2 => Status::Usage,
            3 => Status::Unavailable,
            4 => Status::Refused,
            5 => Status::NotSignedIn,
            other => return Err(format!("{other} is not a status apppassd sends")),
        })
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.code())
    }
}

/// Why a request was refused, for a front end that words it its own way
/// (the web page says "The user name or password is not right." where the
/// command says "sign-in failed: ...").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Refused {
    /// The primary password (or a further answer) was not accepted.
    NotAccepted,
    /// Too many failed sign-ins of the account, or on the host.
    TooManyFailures,
    /// Self-service is off.
    Off,
    /// Root, or a service or scope users may not choose.
    NotAllowed,
}

impl Refused {
    pub fn of(r: &Refusal) -> Refused {
        match r {
            Refusal::NotAccepted => Refused::NotAccepted,
            Refusal::LockedOut { .. } | Refusal::HostBusy => Refused::TooManyFailures,
            Refusal::Off => Refused::Off,
            Refusal::Root | Refusal::AnyService | Refusal::ServiceNotAllowed { .. } => {
                Refused::NotAllowed
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_travel_as_numbers_and_unknown_ones_are_refused() {
        assert_eq!(serde_json::to_string(&Status::Refused).unwrap(), "4");
        assert_eq!(
            serde_json::from_str::<Status>("5").unwrap(),
            Status::NotSignedIn
        );
        assert!(serde_json::from_str::<Status>("0").is_err());
        assert!(serde_json::from_str::<Status>("9").is_err());
    }
}
