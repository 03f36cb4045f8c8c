//! The `auth` and `account` hooks.

use crate::ffi::{self, LOG_ALERT, LOG_DEBUG, LOG_ERR};
use crate::items;
use crate::log::Attempt;
use apppass_core::config::PrimaryChoice;
use apppass_core::escape::for_log;
use apppass_core::login::{
    authenticate as decide, LoginError, LoginRequest, Outcome, Refusal, Tripwire,
};
use apppass_core::module_args::{self, ModuleArgs};
use apppass_core::primary_until::Verdict;
use apppass_core::scratch::MappedMemory;
use apppass_core::secret::NormalizedSecret;
use apppass_core::store::Store;
use apppass_core::sys;
use pam::constants::PamResultCode;
use pam::module::PamHandle;
use std::ffi::CStr;

/// pam data key: the user this handle authenticated with an app password.
const AUTHENTICATED: &str = "pam_apppass:authenticated_user";
/// pam data key: a token passed on under `primary_until=` (what the log
/// line says of the date).
const PRIMARY_PASSED: &str = "pam_apppass:primary_passed_on";
/// pam data key: the user whose login apppassd decided for this handle,
/// account lines included.
const ACCOUNT_CHECKED: &str = "pam_apppass:account_checked_by_apppassd";

/// Module arguments, or `PAM_SERVICE_ERR` after a LOG_ERR line.
pub fn parse_args(pamh: &PamHandle, args: &[&CStr]) -> Result<ModuleArgs, PamResultCode> {
    module_args::parse(&items::arg_bytes(args)).map_err(|e| {
        ffi::syslog(pamh, LOG_ERR, &format!("bad module arguments: {e}"));
        PamResultCode::PAM_SERVICE_ERR
    })
}

pub fn authenticate(pamh: &mut PamHandle, args: &[&CStr]) -> PamResultCode {
    // A host may authenticate twice on one handle: what an earlier success
    // left for the account hook must not outlive a later failure.
    if let Err(code) = forget_logins(pamh) {
        return code;
    }
    let opts = match parse_args(pamh, args) {
        Ok(o) => o,
        Err(code) => return code,
    };
    let user = match ffi::get_user(pamh) {
        Ok(u) => u.to_bytes().to_vec(),
        Err(code) => return fail_code(code),
    };
    // Normalised at once: the raw token stays only in PAM_AUTHTOK, as typed,
    // for the next module.
    let secret = match ffi::get_authtok(pamh) {
        Ok(token) => NormalizedSecret::from_candidate(token.to_bytes()),
        Err(code) => {
            if opts.debug {
                ffi::syslog(pamh, LOG_DEBUG, "no password could be obtained");
            }
            return fail_code(code);
        }
    };
    let attempt = Attempt::new(pamh, &user);
    let Some(secret) = secret else {
        if let Some(code) = other_token(pamh, &opts, &user) {
            return code;
        }
        attempt.failure(pamh, &Refusal::NoMatch.to_string());
        return PamResultCode::PAM_AUTH_ERR;
    };
    let (Ok(user_str), Some(Ok(service))) = (
        std::str::from_utf8(&user),
        items::service(pamh).map(std::str::from_utf8),
    ) else {
        attempt.failure(pamh, &Refusal::NoPasswords.to_string());
        return PamResultCode::PAM_AUTH_ERR;
    };
    let service = service.to_owned();
    let rhost = items::rhost(pamh).map(|r| String::from_utf8_lossy(r).into_owned());
    let req = LoginRequest {
        user: user_str,
        service: &service,
        rhost: rhost.as_deref(),
        now: items::now(),
        side_effects: true,
    };
    let mut by_apppassd = false;
    let decided = match crate::store::open_with_primary(&opts) {
        Ok((store, primary)) => decide_here(pamh, &opts, &attempt, store, &primary, &req, &secret),
        // No rights to the store here (a web server's worker): apppassd
        // decides, if apppass.conf lets this user ask. apppassd serves the
        // store of /etc/apppass/apppass.conf: a line naming a store of its
        // own (`db=`, `config=`) is never answered from that one.
        Err(e) if opts.db.is_none() && opts.config.is_none() && e.lacks_rights() => {
            by_apppassd = true;
            crate::remote::decide(&opts, &req, &secret)
        }
        Err(e) => return e.report(pamh, ""),
    };
    match decided {
        Ok(Decision::Accepted { id, label }) => {
            crate::session::remember(pamh, id, user_str);
            if by_apppassd
                && pamh
                    .set_data(ACCOUNT_CHECKED, Box::new(user.clone()))
                    .is_err()
            {
                ffi::syslog(
                    pamh,
                    LOG_ERR,
                    "could not record the login for the account hook",
                );
            }
            if pamh.set_data(AUTHENTICATED, Box::new(user)).is_err() {
                ffi::syslog(
                    pamh,
                    LOG_ERR,
                    "could not record the login for the account hook",
                );
            }
            attempt.success(pamh, &label);
            PamResultCode::PAM_SUCCESS
        }
        Ok(Decision::Refused {
            reason,
            tripwire,
            refusal,
        }) => {
            // Not an app password, where the primary password may still be
            // used: pam_unix decides; the account hook logs its success.
            if let Some(r) = &refusal {
                if pass_on(pamh, &opts, r, req.now) {
                    return PamResultCode::PAM_IGNORE;
                }
            }
            attempt.failure(pamh, &reason);
            if let Some(t) = &tripwire {
                attempt.tripwire(pamh, t);
            }
            PamResultCode::PAM_AUTH_ERR
        }
        Err(Undecided { priority, message }) => {
            let msg = format!("user={}: {message}", attempt.user);
            ffi::syslog(pamh, priority, &msg);
            PamResultCode::PAM_AUTHINFO_UNAVAIL
        }
    }
}

/// Empties what an earlier authentication on this handle recorded for the
/// account hook (a user name is never empty, so an empty one matches
/// nobody; an empty pass-on note is no pass-on); `PAM_BUF_ERR` when libpam
/// cannot store it.
fn forget_logins(pamh: &mut PamHandle) -> Result<(), PamResultCode> {
    for key in [ACCOUNT_CHECKED, AUTHENTICATED, PRIMARY_PASSED] {
        if pamh.set_data(key, Box::new(Vec::<u8>::new())).is_err() {
            ffi::syslog(
                pamh,
                LOG_ERR,
                "could not clear an earlier login for the account hook",
            );
            return Err(PamResultCode::PAM_BUF_ERR);
        }
    }
    Ok(())
}

/// What was decided, here or by apppassd.
pub enum Decision {
    Accepted {
        id: i64,
        label: String,
    },
    /// `reason` for the log; `tripwire` when a password that stopped
    /// working was presented.
    Refused {
        reason: String,
        tripwire: Option<Tripwire>,
        /// Why, when decided here (`primary_until=` needs it).
        refusal: Option<Refusal>,
    },
}

impl Decision {
    fn of(outcome: Outcome) -> Decision {
        match outcome {
            Outcome::Success { id, label } => Decision::Accepted { id, label },
            Outcome::Refused(r) => Decision::Refused {
                reason: r.to_string(),
                tripwire: match &r {
                    Refusal::Retired(t) => Some(t.clone()),
                    _ => None,
                },
                refusal: Some(r),
            },
        }
    }
}

/// Under `primary_until=`, whether a token refused for `why` goes on to
/// the next module (recorded for the account hook); `false` without it.
fn pass_on(pamh: &mut PamHandle, opts: &ModuleArgs, why: &Refusal, now: i64) -> bool {
    let Some(until) = &opts.primary_until else {
        return false;
    };
    if until.verdict(why, now) != Verdict::PassOn {
        return false;
    }
    if pamh
        .set_data(PRIMARY_PASSED, Box::new(until.describe().into_bytes()))
        .is_err()
    {
        ffi::syslog(
            pamh,
            LOG_ERR,
            "could not record the pass-on for the account hook",
        );
    }
    if opts.debug {
        ffi::syslog(
            pamh,
            LOG_DEBUG,
            "not an app password; passed on to the next module (primary_until)",
        );
    }
    true
}

/// A token that cannot be an app password, under `primary_until=`: passed
/// on (`PAM_IGNORE`) or refused as the rule says, after asking the store
/// whether the user has app passwords; `None` without `primary_until=`.
fn other_token(pamh: &mut PamHandle, opts: &ModuleArgs, user: &[u8]) -> Option<PamResultCode> {
    opts.primary_until.as_ref()?;
    let now = items::now();
    let why = match std::str::from_utf8(user) {
        Err(_) => Refusal::NoPasswords,
        Ok(user) => {
            let asked = crate::store::open_with_primary(opts)
                .map_err(|e| e.report(pamh, ""))
                .and_then(|(mut store, _)| {
                    apppass_core::primary_until::refusal_for_other_token(store.as_mut(), user, now)
                        .map_err(|e| {
                            let msg = format!(
                                "user={}: {}",
                                for_log(user.as_bytes()),
                                crate::store::message(&e)
                            );
                            ffi::syslog(pamh, priority(e.is_corruption()), &msg);
                            PamResultCode::PAM_AUTHINFO_UNAVAIL
                        })
                });
            match asked {
                Ok(why) => why,
                Err(code) => return Some(code),
            }
        }
    };
    if pass_on(pamh, opts, &why, now) {
        return Some(PamResultCode::PAM_IGNORE);
    }
    None
}

/// Counts a login with the primary password for `apppass report
/// primary-use`. Best effort: a store that cannot take it is logged, and
/// the login stands (pam_unix decided it).
fn count_primary_use(pamh: &PamHandle, opts: &ModuleArgs, user: &[u8]) {
    let (Ok(user), Some(Ok(service))) = (
        std::str::from_utf8(user),
        items::service(pamh).map(std::str::from_utf8),
    ) else {
        return;
    };
    let context = format!(
        "user={}: could not count the primary password's use: ",
        for_log(user.as_bytes())
    );
    let rhost = items::rhost(pamh).map(|r| String::from_utf8_lossy(r).into_owned());
    match crate::store::open(opts) {
        Ok(mut store) => {
            let counted = apppass_core::primary_use::record(
                store.as_mut(),
                user,
                service,
                items::now(),
                rhost.as_deref(),
            );
            if let Err(e) = counted {
                let msg = format!("{context}{}", crate::store::message(&e));
                ffi::syslog(pamh, LOG_ERR, &msg);
            }
        }
        Err(e) => {
            e.report(pamh, &context);
        }
    }
}

/// Why nothing was decided: logged at `priority`, answered with
/// `PAM_AUTHINFO_UNAVAIL`.
pub struct Undecided {
    pub priority: std::ffi::c_int,
    pub message: String,
}

/// The login decided in this process, on the store it opened.
fn decide_here(
    pamh: &PamHandle,
    opts: &ModuleArgs,
    attempt: &Attempt,
    mut store: Box<dyn Store>,
    primary: &PrimaryChoice,
    req: &LoginRequest<'_>,
    secret: &NormalizedSecret,
) -> Result<Decision, Undecided> {
    let primary = apppass_stores::primary(primary);
    let started = std::time::Instant::now();
    let outcome = decide(
        store.as_mut(),
        req,
        secret,
        &mut MappedMemory::default(),
        &primary,
    );
    if opts.debug {
        let us = started.elapsed().as_micros();
        let msg = format!(
            "user={} service={}: store {} decided in {us} us",
            attempt.user,
            attempt.service,
            store.describe()
        );
        ffi::syslog(pamh, LOG_DEBUG, &msg);
    }
    drop(store);
    outcome.map(Decision::of).map_err(|e| Undecided {
        priority: priority(e.is_corruption()),
        message: match &e {
            LoginError::Store(e) => crate::store::message(e),
            other => other.to_string(),
        },
    })
}

fn priority(corruption: bool) -> std::ffi::c_int {
    if corruption {
        LOG_ALERT
    } else {
        LOG_ERR
    }
}

/// A failure code from libpam passed on, never success by accident.
fn fail_code(code: PamResultCode) -> PamResultCode {
    if code == PamResultCode::PAM_SUCCESS {
        PamResultCode::PAM_AUTH_ERR
    } else {
        code
    }
}

/// `PAM_SUCCESS` for a user whose login apppassd decided for this handle
/// (it ran the service's account lines as root, which this process could
/// not); `PAM_IGNORE` for system users (pam_unix enforces account expiry);
/// `PAM_SUCCESS` for a user without a passwd entry whom this very handle
/// authenticated with an app password; `PAM_IGNORE` otherwise.
pub fn account(pamh: &mut PamHandle, args: &[&CStr]) -> PamResultCode {
    let opts = match parse_args(pamh, args) {
        Ok(o) => o,
        Err(code) => return code,
    };
    let user = match ffi::get_user(pamh) {
        Ok(u) => u.to_bytes().to_vec(),
        Err(_) => return PamResultCode::PAM_IGNORE,
    };
    // SAFETY: only this module stores data under PRIMARY_PASSED, and always
    // a Box<Vec<u8>>.
    if let Some(when) = unsafe { pamh.get_data::<Vec<u8>>(PRIMARY_PASSED) }
        .ok()
        .filter(|w| !w.is_empty())
        .cloned()
    {
        // The auth stack succeeded after the module passed the token on:
        // the primary password was used.
        let when = String::from_utf8_lossy(&when).into_owned();
        Attempt::new(pamh, &user).primary_used(pamh, &when);
        count_primary_use(pamh, &opts, &user);
    }
    // SAFETY: only this module stores data under ACCOUNT_CHECKED and
    // AUTHENTICATED, and always a Box<Vec<u8>>, so the type read back is
    // the type written.
    if matches!(unsafe { pamh.get_data::<Vec<u8>>(ACCOUNT_CHECKED) }, Ok(who) if *who == user) {
        return PamResultCode::PAM_SUCCESS;
    }
    let Ok(user_str) = std::str::from_utf8(&user) else {
        return PamResultCode::PAM_IGNORE;
    };
    if !matches!(sys::passwd_uid(user_str), Ok(None)) {
        return PamResultCode::PAM_IGNORE;
    }
    // SAFETY: as above.
    match unsafe { pamh.get_data::<Vec<u8>>(AUTHENTICATED) } {
        Ok(who) if *who == user => PamResultCode::PAM_SUCCESS,
        _ => PamResultCode::PAM_IGNORE,
    }
}
