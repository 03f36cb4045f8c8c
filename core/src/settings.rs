//! The administrator's settings kept in the store, each typed and checked
//! here: how many active passwords a user may have, idle expiry, and the
//! services users may choose for themselves. Read by the command, apppassd,
//! and (idle expiry) the login path.

use crate::admin::AdminError;
use crate::policy::{self, PolicyError, DEFAULT_MAX_ACTIVE, PRIVILEGED_SERVICES};
use crate::store::{Finish, Store, StoreError, WriteError};

/// The stored names.
pub const MAX_ACTIVE: &str = "max_active";
pub const IDLE_EXPIRY: &str = "idle_expiry";
/// The services users may choose, space-separated (a text setting).
pub const SELF_SERVICE_SERVICES: &str = "self_service_services";
/// The group whose members alone may have app passwords (a text setting).
pub const ENTITLED_GROUP: &str = "entitled_group";

/// The shortest and longest idle expiry `config idle-expiry` accepts.
pub const MIN_IDLE_SECS: i64 = 3600;
pub const MAX_IDLE_SECS: i64 = 10 * 366 * 86_400;

/// Every setting at once, as `apppass config` shows them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    pub max_active: i64,
    /// Seconds; `None` when off.
    pub idle_expiry: Option<i64>,
    /// Empty: self-service is off.
    pub self_service_services: Vec<String>,
    /// Only its members may have app passwords; `None`: everyone.
    pub entitled_group: Option<String>,
}

pub fn read(store: &mut dyn Store) -> Result<Settings, StoreError> {
    Ok(Settings {
        max_active: max_active(store)?,
        idle_expiry: idle_expiry(store)?,
        self_service_services: self_service_services(store)?,
        entitled_group: entitled_group(store)?,
    })
}

pub fn max_active(store: &mut dyn Store) -> Result<i64, StoreError> {
    Ok(store
        .setting(MAX_ACTIVE)?
        .unwrap_or(i64::from(DEFAULT_MAX_ACTIVE)))
}

pub fn set_max_active(store: &mut dyn Store, value: u32) -> Result<(), AdminError> {
    if value == 0 || value > policy::MAX_ACTIVE_CEILING {
        return Err(AdminError::Policy(PolicyError::User(format!(
            "max-active must be between 1 and {}",
            policy::MAX_ACTIVE_CEILING
        ))));
    }
    set_number(store, MAX_ACTIVE, i64::from(value))?;
    Ok(())
}

/// The idle expiry in force, in seconds; `None` when off.
pub fn idle_expiry(store: &mut dyn Store) -> Result<Option<i64>, StoreError> {
    Ok(store.setting(IDLE_EXPIRY)?.filter(|s| *s > 0))
}

/// Sets idle expiry (`None`: off). Passwords already recorded as expired
/// stay expired; others are judged by the new limit from now on.
pub fn set_idle_expiry(store: &mut dyn Store, secs: Option<i64>) -> Result<(), AdminError> {
    if let Some(s) = secs {
        if !(MIN_IDLE_SECS..=MAX_IDLE_SECS).contains(&s) {
            return Err(AdminError::Policy(PolicyError::User(
                "the idle expiry must be between 1h and 10 years".into(),
            )));
        }
    }
    set_number(store, IDLE_EXPIRY, secs.unwrap_or(0))?;
    Ok(())
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

/// The services users may choose; empty means self-service is off.
pub fn self_service_services(store: &mut dyn Store) -> Result<Vec<String>, StoreError> {
    Ok(store
        .text_setting(SELF_SERVICE_SERVICES)?
        .map(|v| v.split_whitespace().map(str::to_owned).collect())
        .unwrap_or_default())
}

/// Sets the services users may choose (`None` or an empty list: off).
/// Privileged services and `--any-service` are never offered.
pub fn set_self_service_services(
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
            w.set_text_setting(SELF_SERVICE_SERVICES, value.as_deref())?;
            Ok(Finish::Commit)
        })
        .map_err(WriteError::into_store_error)?;
    Ok(list)
}

/// The group whose members alone may have app passwords.
pub fn entitled_group(store: &mut dyn Store) -> Result<Option<String>, StoreError> {
    store.text_setting(ENTITLED_GROUP)
}

/// Sets `entitled-group` (`None`: everyone may have app passwords). The
/// group must exist now; passwords of non-members are kept and refused at
/// login until they join.
pub fn set_entitled_group(store: &mut dyn Store, group: Option<&str>) -> Result<(), AdminError> {
    if let Some(g) = group {
        let bad = |why: String| AdminError::Policy(PolicyError::User(why));
        match crate::groups::gid(g) {
            Ok(Some(_)) => {}
            Ok(None) => {
                return Err(bad(format!(
                    "there is no group {} in the group database (getent group {0}); make it first (addgroup), or give none",
                    crate::escape::for_message(g)
                )))
            }
            Err(e) => {
                return Err(bad(format!(
                    "cannot look up the group {} (error {e}); check NSS",
                    crate::escape::for_message(g)
                )))
            }
        }
    }
    store
        .write(None, &mut |w| {
            w.set_text_setting(ENTITLED_GROUP, group)?;
            Ok(Finish::Commit)
        })
        .map_err(WriteError::into_store_error)?;
    Ok(())
}

/// Refuses an app password for `user` when `entitled-group` leaves them
/// out: the rule for every front end that issues one.
pub fn require_entitled(store: &mut dyn Store, user: &str) -> Result<(), AdminError> {
    let Some(group) = entitled_group(store)? else {
        return Ok(());
    };
    let bad = |why: String| AdminError::Policy(PolicyError::User(why));
    match crate::groups::entitled(user, &group) {
        Ok(true) => Ok(()),
        Ok(false) => Err(bad(format!(
            "{} is not a member of the group {}, and only its members may have app passwords (entitled-group); add them with 'adduser {0} {1}' first",
            crate::escape::for_message(user),
            crate::escape::for_message(&group)
        ))),
        Err(why) => Err(bad(why)),
    }
}

/// Sets a numeric setting in its own transaction.
fn set_number(store: &mut dyn Store, name: &str, value: i64) -> Result<(), StoreError> {
    store
        .write(None, &mut |w| {
            w.set_setting(name, value)?;
            Ok(Finish::Commit)
        })
        .map_err(WriteError::into_store_error)
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
}
