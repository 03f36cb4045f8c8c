//! The `session` hooks: a session opened after an app-password login is
//! registered (core's `sessions`) so that taking the password out of
//! service ends it, and unregistered when it closes. A session hook never
//! fails the session: whatever goes wrong is logged and answered with
//! `PAM_IGNORE`.

use crate::auth::parse_args;
use crate::ffi::{self, LOG_DEBUG, LOG_ERR};
use crate::items;
use apppass_core::escape::for_log;
use apppass_core::sessions::{self, ENV};
use apppass_core::sys;
use pam::constants::PamResultCode;
use pam::module::PamHandle;
use std::ffi::CStr;
use std::path::Path;

/// Called by the auth hook after a successful login: tells the session
/// hook, through the PAM environment, which password logged in. (Data set
/// with `pam_set_data` would be lost where sshd authenticates in a forked
/// child; its PAM environment is copied back.)
pub fn remember(pamh: &mut PamHandle, password: i64, user: &str) {
    let value = sessions::env_value(password, user);
    if ffi::putenv(pamh, ENV, Some(&value)).is_err() {
        ffi::syslog(
            pamh,
            LOG_ERR,
            "could not note the login for the session hook",
        );
    }
}

pub fn open(pamh: &mut PamHandle, args: &[&CStr]) -> PamResultCode {
    let Ok(opts) = parse_args(pamh, args) else {
        return PamResultCode::PAM_IGNORE;
    };
    let debug = |pamh: &PamHandle, msg: &str| {
        if opts.debug {
            ffi::syslog(pamh, LOG_DEBUG, msg);
        }
    };
    let Some(value) = ffi::getenv(pamh, ENV) else {
        debug(pamh, "no app password logged in: session not registered");
        return PamResultCode::PAM_IGNORE;
    };
    // Gone from the PAM environment before anything else, so that it never
    // reaches the session's own environment.
    if ffi::putenv(pamh, ENV, None).is_err() {
        let msg = format!("could not remove {ENV} from the PAM environment");
        ffi::syslog(pamh, LOG_ERR, &msg);
    }
    let user = items::user(pamh).unwrap_or_default().to_vec();
    let Some(password) = sessions::password_from_env(&value, &user) else {
        debug(
            pamh,
            &format!(
                "user={}: the app password login was another user's: session not registered",
                for_log(&user)
            ),
        );
        return PamResultCode::PAM_IGNORE;
    };
    let (Ok(user), Some(Ok(service))) = (
        std::str::from_utf8(&user),
        items::service(pamh).map(std::str::from_utf8),
    ) else {
        debug(pamh, "no service name: session not registered");
        return PamResultCode::PAM_IGNORE;
    };
    let who = format!(
        "user={} service={}",
        for_log(user.as_bytes()),
        for_log(service.as_bytes())
    );
    // Only root can signal the session's process, and only root's registry
    // is read by apppass.
    if sys::euid() != 0 {
        debug(
            pamh,
            &format!("{who}: not running as root: session not registered"),
        );
        return PamResultCode::PAM_IGNORE;
    }
    match sessions::register(Path::new(sessions::DIR), password, user, service) {
        Ok(()) => {
            debug(
                pamh,
                &format!(
                    "{who} id={password}: session of pid {} registered",
                    sys::pid()
                ),
            );
            PamResultCode::PAM_SUCCESS
        }
        Err(e) => {
            ffi::syslog(
                pamh,
                LOG_ERR,
                &format!("{who}: could not register the session: {e}"),
            );
            PamResultCode::PAM_IGNORE
        }
    }
}

pub fn close(pamh: &mut PamHandle, args: &[&CStr]) -> PamResultCode {
    let Ok(opts) = parse_args(pamh, args) else {
        return PamResultCode::PAM_IGNORE;
    };
    if sys::euid() == 0 && sessions::unregister(Path::new(sessions::DIR)) {
        if opts.debug {
            let msg = format!("session of pid {} unregistered", sys::pid());
            ffi::syslog(pamh, LOG_DEBUG, &msg);
        }
        return PamResultCode::PAM_SUCCESS;
    }
    PamResultCode::PAM_IGNORE
}
