//! The libpam calls pam-bindings 0.4 does not wrap.

use pam::constants::PamResultCode;
use pam::module::PamHandle;
use std::ffi::{c_char, c_int, CStr, CString};

pub const LOG_ALERT: c_int = libc::LOG_ALERT;
pub const LOG_ERR: c_int = libc::LOG_ERR;
pub const LOG_WARNING: c_int = libc::LOG_WARNING;
pub const LOG_NOTICE: c_int = libc::LOG_NOTICE;
pub const LOG_INFO: c_int = libc::LOG_INFO;
pub const LOG_DEBUG: c_int = libc::LOG_DEBUG;

const PAM_AUTHTOK: c_int = 6;

#[link(name = "pam")]
unsafe extern "C" {
    fn pam_get_authtok(
        pamh: *mut PamHandle,
        item: c_int,
        authtok: *mut *const c_char,
        prompt: *const c_char,
    ) -> c_int;
    fn pam_get_user(pamh: *mut PamHandle, user: *mut *const c_char, prompt: *const c_char)
        -> c_int;
    fn pam_syslog(pamh: *const PamHandle, priority: c_int, fmt: *const c_char, ...);
    fn pam_getenv(pamh: *mut PamHandle, name: *const c_char) -> *const c_char;
    fn pam_putenv(pamh: *mut PamHandle, name_value: *const c_char) -> c_int;
}

fn code(raw: c_int) -> PamResultCode {
    PamResultCode::try_from(raw).unwrap_or(PamResultCode::PAM_SYSTEM_ERR)
}

/// The token as typed, through `pam_get_authtok`: the one already in
/// `PAM_AUTHTOK`, else a prompt (which libpam stores there for the next
/// module). `use_first_pass` in our arguments forbids the prompt; libpam
/// reads that itself. The bytes belong to libpam and are wiped by it.
pub fn get_authtok(pamh: &mut PamHandle) -> Result<&CStr, PamResultCode> {
    let mut tok: *const c_char = std::ptr::null();
    // SAFETY: pamh is the live handle libpam passed to this hook; tok is a
    // valid out-pointer; a NULL prompt selects libpam's default.
    let rc = unsafe { pam_get_authtok(pamh, PAM_AUTHTOK, &mut tok, std::ptr::null()) };
    if rc != 0 {
        return Err(code(rc));
    }
    if tok.is_null() {
        return Err(PamResultCode::PAM_AUTH_ERR);
    }
    // SAFETY: on success libpam returns a NUL-terminated string it owns,
    // valid until the item changes, which cannot happen during this hook.
    Ok(unsafe { CStr::from_ptr(tok) })
}

/// `PAM_USER` as bytes (prompting if the application set none).
pub fn get_user(pamh: &mut PamHandle) -> Result<&CStr, PamResultCode> {
    let mut user: *const c_char = std::ptr::null();
    // SAFETY: pamh is the live handle; user is a valid out-pointer.
    let rc = unsafe { pam_get_user(pamh, &mut user, std::ptr::null()) };
    if rc != 0 {
        return Err(code(rc));
    }
    if user.is_null() {
        return Err(PamResultCode::PAM_AUTH_ERR);
    }
    // SAFETY: on success libpam returns a NUL-terminated string it owns,
    // valid for the duration of this hook.
    Ok(unsafe { CStr::from_ptr(user) })
}

/// One line to syslog through libpam: facility authpriv, prefix
/// `pam_apppass(SERVICE:TYPE):`. Always through "%s", so the text is never
/// read as a format.
pub fn syslog(pamh: &PamHandle, priority: c_int, message: &str) {
    let Ok(text) = CString::new(message.replace('\0', "\\x00")) else {
        return;
    };
    // SAFETY: pamh is the live handle; both strings are NUL-terminated and
    // outlive the call; "%s" consumes exactly the one vararg given.
    unsafe { pam_syslog(pamh, priority, c"%s".as_ptr(), text.as_ptr()) };
}

/// A PAM environment variable's value, copied; `None` when it is not set.
pub fn getenv(pamh: &mut PamHandle, name: &str) -> Option<Vec<u8>> {
    let name = CString::new(name).ok()?;
    // SAFETY: pamh is the live handle; name is NUL-terminated.
    let value = unsafe { pam_getenv(pamh, name.as_ptr()) };
    if value.is_null() {
        return None;
    }
    // SAFETY: a non-NULL answer is a NUL-terminated string libpam owns,
    // valid until the environment changes; it is copied at once.
    Some(unsafe { CStr::from_ptr(value) }.to_bytes().to_vec())
}

/// Sets `NAME=VALUE` in the PAM environment, or with `value` `None` deletes
/// `NAME` (`pam_putenv` with the bare name).
pub fn putenv(pamh: &mut PamHandle, name: &str, value: Option<&str>) -> Result<(), PamResultCode> {
    let text = match value {
        Some(v) => format!("{name}={v}"),
        None => name.to_owned(),
    };
    let text = CString::new(text).map_err(|_| PamResultCode::PAM_BUF_ERR)?;
    // SAFETY: pamh is the live handle; text is NUL-terminated and libpam
    // copies it before returning.
    match unsafe { pam_putenv(pamh, text.as_ptr()) } {
        0 => Ok(()),
        rc => Err(code(rc)),
    }
}
