//! What users may do for themselves (through `apppassd`), decided here:
//! whether self-service is on and which services they may bind a password
//! to (the administrator sets them, in `settings`; the limits on sign-ins
//! are in `signin`). Everything else — the limit, labels, expiry — is the same
//! rule as for the administrator, in `admin`.

use crate::policy::Scope;
use crate::store::{Store, StoreError};
use std::fmt;

/// Why a self-service request is refused (exit 4 in the CLI).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// The administrator has not turned self-service on.
    Off,
    /// Root manages app passwords directly, never through self-service.
    Root,
    /// The primary password (or a further PAM prompt) was not accepted.
    NotAccepted,
    /// Too many failed sign-ins lately.
    LockedOut {
        minutes: i64,
    },
    /// So many sign-ins failed on this host lately that it takes no more
    /// for a while.
    HostBusy,
    AnyService,
    ServiceNotAllowed {
        service: String,
        allowed: Vec<String>,
    },
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refusal::Off => f.write_str(
                "self-service is turned off on this host; ask your administrator (apppass config self-service-services)",
            ),
            Refusal::Root => f.write_str(
                "root manages app passwords directly with apppass; self-service is for other users",
            ),
            Refusal::NotAccepted => f.write_str("sign-in failed: the password was not accepted"),
            Refusal::LockedOut { minutes } => write!(
                f,
                "too many failed sign-ins; self-service is closed for your account for up to {minutes} more minutes (your app passwords still work)"
            ),
            Refusal::HostBusy => f.write_str(
                "too many sign-ins have failed on this host lately; try again in a few minutes",
            ),
            Refusal::AnyService => f.write_str(
                "--any-service is for administrators; name the services with --service",
            ),
            Refusal::ServiceNotAllowed { service, allowed } => write!(
                f,
                "'{}' is not among the services you may choose here ({})",
                crate::escape::for_message(service),
                allowed.join(", ")
            ),
        }
    }
}

impl std::error::Error for Refusal {}

/// The services users may choose, or `Err(Off)` when self-service is off.
pub fn require_on(store: &mut dyn Store) -> Result<Result<Vec<String>, Refusal>, StoreError> {
    let allowed = crate::settings::self_service_services(store)?;
    Ok(if allowed.is_empty() {
        Err(Refusal::Off)
    } else {
        Ok(allowed)
    })
}

/// Whether a user may ask for a password bound to `scope`.
pub fn check_scope(allowed: &[String], scope: &Scope) -> Result<(), Refusal> {
    if allowed.is_empty() {
        return Err(Refusal::Off);
    }
    match scope {
        Scope::Any => Err(Refusal::AnyService),
        Scope::Only(list) => match list.iter().find(|s| !allowed.contains(s)) {
            Some(s) => Err(Refusal::ServiceNotAllowed {
                service: s.clone(),
                allowed: allowed.to_vec(),
            }),
            None => Ok(()),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_are_checked_against_the_allowed_list() {
        let allowed = vec!["imap".to_string(), "submission".to_string()];
        assert_eq!(
            check_scope(&[], &Scope::only(["imap"]).unwrap()),
            Err(Refusal::Off)
        );
        assert_eq!(check_scope(&allowed, &Scope::Any), Err(Refusal::AnyService));
        assert!(check_scope(&allowed, &Scope::only(["imap", "submission"]).unwrap()).is_ok());
        assert!(matches!(
            check_scope(&allowed, &Scope::only(["imap", "sudo"]).unwrap()),
            Err(Refusal::ServiceNotAllowed { service, .. }) if service == "sudo"
        ));
    }
}
