//! The `auth` and `account` hooks.

use crate::ffi::{self, LOG_ALERT, LOG_DEBUG, LOG_ERR};
use crate::items;
use crate::log::Attempt;
use apppass_core::login::{authenticate as decide, LoginError, LoginRequest, Outcome, Refusal};
use apppass_core::module_args::{self, ModuleArgs};
use apppass_core::scratch::MappedMemory;
use apppass_core::secret::NormalizedSecret;
use apppass_core::sys;
use pam::constants::PamResultCode;
use pam::module::PamHandle;
use std::ffi::CStr;

/// pam data key: the user this handle authenticated with an app password.
const AUTHENTICATED: &str = "pam_apppass:authenticated_user";

/// Module arguments, or `PAM_SERVICE_ERR` after a LOG_ERR line.
pub fn parse_args(pamh: &PamHandle, args: &[&CStr]) -> Result<ModuleArgs, PamResultCode> {
    module_args::parse(&items::arg_bytes(args)).map_err(|e| {
        ffi::syslog(pamh, LOG_ERR, &format!("bad module arguments: {e}"));
        PamResultCode::PAM_SERVICE_ERR
    })
}

pub fn authenticate(pamh: &mut PamHandle, args: &[&CStr]) -> PamResultCode {
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
    let (mut store, primary) = match crate::store::open_with_primary(&opts) {
        Ok(s) => s,
        Err(e) => return e.report(pamh, ""),
    };
    let primary = apppass_stores::primary(&primary);
    let req = LoginRequest {
        user: user_str,
        service: &service,
        rhost: rhost.as_deref(),
        now: items::now(),
        side_effects: true,
    };
    let started = std::time::Instant::now();
    let outcome = decide(
        store.as_mut(),
        &req,
        &secret,
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
    match outcome {
        Ok(Outcome::Success { id, label }) => {
            crate::session::remember(pamh, id, user_str);
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
        Ok(Outcome::Refused(reason)) => {
            attempt.failure(pamh, &reason.to_string());
            if let Refusal::Retired(t) = &reason {
                attempt.tripwire(pamh, t);
            }
            PamResultCode::PAM_AUTH_ERR
        }
        Err(e) => {
            let detail = match &e {
                LoginError::Store(e) => crate::store::message(e),
                other => other.to_string(),
            };
            let msg = format!("user={}: {detail}", attempt.user);
            ffi::syslog(pamh, priority(e.is_corruption()), &msg);
            PamResultCode::PAM_AUTHINFO_UNAVAIL
        }
    }
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

/// `PAM_IGNORE` for system users (pam_unix enforces account expiry);
/// `PAM_SUCCESS` for a user without a passwd entry whom this very handle
/// authenticated with an app password; `PAM_IGNORE` otherwise.
pub fn account(pamh: &mut PamHandle, args: &[&CStr]) -> PamResultCode {
    if let Err(code) = parse_args(pamh, args) {
        return code;
    }
    let user = match ffi::get_user(pamh) {
        Ok(u) => u.to_bytes().to_vec(),
        Err(_) => return PamResultCode::PAM_IGNORE,
    };
    let Ok(user_str) = std::str::from_utf8(&user) else {
        return PamResultCode::PAM_IGNORE;
    };
    if !matches!(sys::passwd_uid(user_str), Ok(None)) {
        return PamResultCode::PAM_IGNORE;
    }
    // SAFETY: only this module stores data under AUTHENTICATED, and always a
    // Box<Vec<u8>>, so the type read back is the type written.
    match unsafe { pamh.get_data::<Vec<u8>>(AUTHENTICATED) } {
        Ok(who) if *who == user => PamResultCode::PAM_SUCCESS,
        _ => PamResultCode::PAM_IGNORE,
    }
}
