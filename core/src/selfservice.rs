//! What users may do for themselves (through `apppassd`), decided here:
//! which services they may bind a password to (the limits on sign-ins are
//! in `signin`). Everything else — the limit, labels, expiry — is the same
//! rule as for the administrator, in `admin`.

use crate::admin::AdminError;
use crate::policy::{self, PolicyError, Scope, PRIVILEGED_SERVICES};
use crate::store::{Finish, Store, StoreError, WriteError};
use std::fmt;

/// The text setting holding the services users may choose, space-separated.
pub const SERVICES_SETTING: &str = "self_service_services";

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

/// The services users may choose; empty means self-service is off.
pub fn allowed_services(store: &mut dyn Store) -> Result<Vec<String>, StoreError> {
    Ok(store
        .text_setting(SERVICES_SETTING)?
        .map(|v| v.split_whitespace().map(str::to_owned).collect())
        .unwrap_or_default())
}

/// The services users may choose, or `Err(Off)` when self-service is off.
pub fn require_on(store: &mut dyn Store) -> Result<Result<Vec<String>, Refusal>, StoreError> {
    let allowed = allowed_services(store)?;
    Ok(if allowed.is_empty() {
        Err(Refusal::Off)
    } else {
        Ok(allowed)
    })
}

/// Sets the services users may choose (`None` or an empty list: off).
/// Privileged services and `--any-service` are never offered.
pub fn set_allowed_services(
    store: &mut dyn Store,
    services: Option<&[String]>,
) -> Result<Vec<String>, AdminError> {
    let mut list = Vec::new();
    for s in services.unwrap_or_default() {
        let s = policy::normalize_service(s)?;
        if PRIVILEGED_SERVICES.contains(&s.as_str()) || s == "*" {
            return Err(AdminError::Policy(PolicyError::Service(format!(
                "'{s}' gives more than mail or files; users may not make their own passwords for it"
            ))));
        }
        if !list.contains(&s) {
            list.push(s);
        }
    }
    list.sort();
    let value = (!list.is_empty()).then(|| list.join(" "));
    store
        .write(None, &mut |w| {
            w.set_text_setting(SERVICES_SETTING, value.as_deref())?;
            Ok(Finish::Commit)
        })
        .map_err(WriteError::into_store_error)?;
    Ok(list)
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
