//! Reading PAM items into plain Rust values.

use pam::items::{RHost, RUser, Service, Tty, User};
use pam::module::PamHandle;

fn text<'a, T: pam::items::Item<'a> + std::ops::Deref<Target = &'a std::ffi::CStr>>(
    pamh: &'a PamHandle,
) -> Option<&'a [u8]> {
    match pamh.get_item::<T>() {
        Ok(Some(item)) => Some(item.to_bytes()),
        _ => None,
    }
}

pub fn service(pamh: &PamHandle) -> Option<&[u8]> {
    text::<Service>(pamh)
}

/// `PAM_USER` as set, without prompting for it.
pub fn user(pamh: &PamHandle) -> Option<&[u8]> {
    text::<User>(pamh)
}

pub fn rhost(pamh: &PamHandle) -> Option<&[u8]> {
    text::<RHost>(pamh)
}

pub fn ruser(pamh: &PamHandle) -> Option<&[u8]> {
    text::<RUser>(pamh)
}

pub fn tty(pamh: &PamHandle) -> Option<&[u8]> {
    text::<Tty>(pamh)
}

pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// Module arguments as raw bytes for the core parser.
pub fn arg_bytes<'a>(args: &'a [&'a std::ffi::CStr]) -> Vec<&'a [u8]> {
    args.iter().map(|a| a.to_bytes()).collect()
}
