//! The two account look-ups apppass needs from the C library, through NSS:
//! the passwd entry (does the user exist, which uid) and the shadow hash
//! (for the primary-password fingerprint). Both the module and the CLI use
//! these, so they live here once, behind safe functions.
#![allow(unsafe_code)]

use crate::fingerprint::{Shadow, ShadowSource};
use std::ffi::{CStr, CString};
use zeroize::Zeroizing;

/// A passwd entry's uid, `Ok(None)` when there is no entry, `Err(errno)`
/// when NSS could not answer.
pub fn passwd_uid(user: &str) -> Result<Option<u32>, i32> {
    let Ok(name) = CString::new(user) else {
        return Ok(None);
    };
    let mut buf = vec![0u8; 4096];
    loop {
        // SAFETY: passwd is plain old data, valid when zeroed.
        let mut pwd: libc::passwd = unsafe { std::mem::zeroed() };
        let mut result: *mut libc::passwd = std::ptr::null_mut();
        // SAFETY: every pointer is valid for the call and buf.len() is its size.
        let rc = unsafe {
            libc::getpwnam_r(
                name.as_ptr(),
                &mut pwd,
                buf.as_mut_ptr().cast(),
                buf.len(),
                &mut result,
            )
        };
        if rc == libc::ERANGE && buf.len() < 1 << 20 {
            buf.resize(buf.len() * 4, 0);
            continue;
        }
        if result.is_null() {
            return match rc {
                0 | libc::ENOENT | libc::ESRCH | libc::EBADF | libc::EPERM => Ok(None),
                e => Err(e),
            };
        }
        return Ok(Some(pwd.pw_uid));
    }
}

/// Reads shadow entries through `getspnam_r`.
pub struct SystemShadow;

impl ShadowSource for SystemShadow {
    fn lookup(&self, user: &str) -> Shadow {
        let Ok(name) = CString::new(user) else {
            return Shadow::NoEntry;
        };
        let mut buf = Zeroizing::new(vec![0u8; 4096]);
        loop {
            // SAFETY: spwd is plain old data, valid when zeroed.
            let mut sp: libc::spwd = unsafe { std::mem::zeroed() };
            let mut result: *mut libc::spwd = std::ptr::null_mut();
            // SAFETY: every pointer is valid for the call and buf.len() is its size.
            let rc = unsafe {
                libc::getspnam_r(
                    name.as_ptr(),
                    &mut sp,
                    buf.as_mut_ptr().cast(),
                    buf.len(),
                    &mut result,
                )
            };
            if rc == libc::ERANGE && buf.len() < 1 << 20 {
                let bigger = buf.len() * 4;
                buf = Zeroizing::new(vec![0u8; bigger]);
                continue;
            }
            if result.is_null() || sp.sp_pwdp.is_null() {
                // Without read access to /etc/shadow glibc answers EACCES;
                // no entry at all is 0 or ENOENT.
                return match rc {
                    0 | libc::ENOENT => {
                        if shadow_readable() {
                            Shadow::NoEntry
                        } else {
                            Shadow::Unavailable
                        }
                    }
                    _ => Shadow::Unavailable,
                };
            }
            // SAFETY: on success sp_pwdp points to a NUL-terminated string in buf.
            let hash = unsafe { CStr::from_ptr(sp.sp_pwdp) };
            return Shadow::Hash(Zeroizing::new(hash.to_bytes().to_vec()));
        }
    }
}

/// glibc's files backend reports "no entry" also when it could not open
/// /etc/shadow; tell the two apart so an unreadable file never looks like a
/// user without a shadow entry.
fn shadow_readable() -> bool {
    std::fs::File::open("/etc/shadow").is_ok()
}

/// The effective uid of this process.
pub fn euid() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}

/// The real uid of this process.
pub fn uid() -> u32 {
    // SAFETY: getuid has no preconditions and cannot fail.
    unsafe { libc::getuid() }
}
