//! The `password` hook: a primary password change through this PAM stack
//! revokes all of the user's app passwords, and a failed change revokes
//! nothing. The preliminary phase only notes the shadow hash; the update
//! phase compares and wipes.

use crate::auth::parse_args;
use crate::ffi::{self, LOG_DEBUG, LOG_ERR, LOG_NOTICE};
use crate::items;
use crate::store::OpenError;
use apppass_core::escape::for_log;
use apppass_core::fingerprint::{Primary, Shadow, ShadowSource};
use apppass_core::revocation::wipe;
use apppass_core::store::{Actor, StoreError};
use apppass_core::sys::SystemShadow;
use pam::constants::{PamFlag, PamResultCode};
use pam::module::PamHandle;
use std::ffi::CStr;
use subtle::ConstantTimeEq;

const PAM_PRELIM_CHECK: PamFlag = 0x4000;
const PAM_UPDATE_AUTHTOK: PamFlag = 0x2000;
/// pam data key: the shadow hash as it was before the change.
const BEFORE: &str = "pam_apppass:shadow_before";

pub fn chauthtok(pamh: &mut PamHandle, args: &[&CStr], flags: PamFlag) -> PamResultCode {
    let opts = match parse_args(pamh, args) {
        Ok(o) => o,
        Err(code) => return code,
    };
    let user = match ffi::get_user(pamh) {
        Ok(u) => u.to_bytes().to_vec(),
        Err(_) => return PamResultCode::PAM_IGNORE,
    };
    let Ok(user) = String::from_utf8(user) else {
        return PamResultCode::PAM_IGNORE;
    };
    if flags & PAM_PRELIM_CHECK != 0 {
        if pamh
            .set_data(BEFORE, Box::new(SystemShadow.lookup(&user)))
            .is_err()
        {
            ffi::syslog(
                pamh,
                LOG_ERR,
                "could not note the shadow entry before the change",
            );
        }
        return PamResultCode::PAM_IGNORE;
    }
    if flags & PAM_UPDATE_AUTHTOK == 0 {
        return PamResultCode::PAM_IGNORE;
    }
    // SAFETY: only this module stores data under BEFORE, always a
    // Box<Shadow>, so the type read back is the type written.
    let before = unsafe { pamh.get_data::<Shadow>(BEFORE) }.ok();
    let changed = match (before, SystemShadow.lookup(&user)) {
        (Some(Shadow::Hash(old)), Shadow::Hash(new)) => {
            let first = Primary::of(old) == Primary::NotSet && Primary::of(&new) != Primary::NotSet;
            if first && opts.debug {
                ffi::syslog(
                    pamh,
                    LOG_DEBUG,
                    "a first primary password was set; app passwords kept",
                );
            }
            !first && !bool::from(old.as_slice().ct_eq(new.as_slice()))
        }
        // Nothing in the shadow database to compare: LDAP, SSSD and the like.
        (_, Shadow::NoEntry | Shadow::NoAccount) => true,
        (None, Shadow::Hash(_)) => {
            ffi::syslog(
                pamh,
                LOG_ERR,
                "no note from the preliminary phase; the next app-password login compares fingerprints instead",
            );
            false
        }
        (Some(Shadow::NoEntry | Shadow::NoAccount | Shadow::Unavailable), Shadow::Hash(_)) => true,
        (_, Shadow::Unavailable) => {
            ffi::syslog(
                pamh,
                LOG_ERR,
                "cannot read the shadow entry after the change; nothing revoked now",
            );
            false
        }
    };
    if !changed {
        if opts.debug {
            ffi::syslog(
                pamh,
                LOG_DEBUG,
                "primary password unchanged; app passwords kept",
            );
        }
        return PamResultCode::PAM_IGNORE;
    }
    let mut store = match crate::store::open(&opts) {
        Ok(s) => s,
        Err(OpenError::Store(StoreError::Missing { .. })) => return PamResultCode::PAM_IGNORE,
        Err(e) => return e.report(pamh, "cannot revoke app passwords: "),
    };
    match wipe(store.as_mut(), &user, items::now(), Actor::Module).map(|w| w.len()) {
        Ok(0) => PamResultCode::PAM_IGNORE,
        Ok(n) => {
            ffi::syslog(
                pamh,
                LOG_NOTICE,
                &format!(
                    "primary password changed; revoked {n} app passwords; user={}",
                    for_log(user.as_bytes())
                ),
            );
            PamResultCode::PAM_SUCCESS
        }
        Err(e) => {
            let msg = format!("cannot revoke app passwords: {}", crate::store::message(&e));
            ffi::syslog(pamh, LOG_ERR, &msg);
            PamResultCode::PAM_AUTHINFO_UNAVAIL
        }
    }
}
