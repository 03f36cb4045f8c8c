//! pam_apppass: the PAM face of apppass. A thin shell: PAM items in, a
//! plain request to apppass-core, a PAM code out. Every path that is not a
//! verified app password ends in a failure code.
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod auth;
mod chauthtok;
mod ffi;
mod items;
mod log;
mod remote;
mod session;
mod store;

use pam::constants::{PamFlag, PamResultCode};
use pam::module::{PamHandle, PamHooks};
use std::ffi::CStr;

struct AppPass;
pam::pam_hooks!(AppPass);

impl PamHooks for AppPass {
    fn sm_authenticate(pamh: &mut PamHandle, args: Vec<&CStr>, _flags: PamFlag) -> PamResultCode {
        auth::authenticate(pamh, &args)
    }

    /// sshd treats a setcred failure after a successful login as fatal.
    fn sm_setcred(_pamh: &mut PamHandle, _args: Vec<&CStr>, _flags: PamFlag) -> PamResultCode {
        PamResultCode::PAM_SUCCESS
    }

    fn acct_mgmt(pamh: &mut PamHandle, args: Vec<&CStr>, _flags: PamFlag) -> PamResultCode {
        auth::account(pamh, &args)
    }

    /// Never fails the session: `PAM_SUCCESS` when it was registered,
    /// `PAM_IGNORE` otherwise.
    fn sm_open_session(pamh: &mut PamHandle, args: Vec<&CStr>, _flags: PamFlag) -> PamResultCode {
        session::open(pamh, &args)
    }

    fn sm_close_session(pamh: &mut PamHandle, args: Vec<&CStr>, _flags: PamFlag) -> PamResultCode {
        session::close(pamh, &args)
    }

    fn sm_chauthtok(pamh: &mut PamHandle, args: Vec<&CStr>, flags: PamFlag) -> PamResultCode {
        chauthtok::chauthtok(pamh, &args, flags)
    }
}
