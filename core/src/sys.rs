//! The calls apppass needs from the C library, behind safe functions: the
//! two account look-ups through NSS (the passwd entry: does the user exist,
//! which uid; the shadow hash, for the primary-password fingerprint), the
//! process's ids, the file system's state, and the signal that ends a
//! session. Both the module and the CLI use these, so they live here once.
#![allow(unsafe_code)]

use crate::fingerprint::{Shadow, ShadowSource};
use std::ffi::{CStr, CString};
use zeroize::Zeroizing;

/// One NSS look-up through a `get*_r` call (`getpwnam_r`, `getgrnam_r`),
/// its buffer grown while the entry does not fit, the entry read with
/// `read`: `Ok(None)` when there is no entry, `Err(errno)` when NSS could
/// not answer. `E` is the C library's entry struct, plain old data.
pub(crate) fn nss_entry<E, T>(
    mut call: impl FnMut(*mut E, *mut libc::c_char, usize, *mut *mut E) -> libc::c_int,
    read: impl FnOnce(&E) -> T,
) -> Result<Option<T>, i32> {
    let mut buf = vec![0u8; 4096];
    loop {
        // SAFETY: E is one of libc's entry structs, plain old data, valid
        // when zeroed.
        let mut entry: E = unsafe { std::mem::zeroed() };
        let mut result: *mut E = std::ptr::null_mut();
        let rc = call(&mut entry, buf.as_mut_ptr().cast(), buf.len(), &mut result);
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
        // The entry's strings point into buf, alive here.
        return Ok(Some(read(&entry)));
    }
}

/// A passwd entry's uid, `Ok(None)` when there is no entry, `Err(errno)`
/// when NSS could not answer.
pub fn passwd_uid(user: &str) -> Result<Option<u32>, i32> {
    let Ok(name) = CString::new(user) else {
        return Ok(None);
    };
    nss_entry(
        // SAFETY: every pointer is valid for the call and the length is
        // the buffer's size.
        |pwd, buf, len, result| unsafe { libc::getpwnam_r(name.as_ptr(), pwd, buf, len, result) },
        |p: &libc::passwd| p.pw_uid,
    )
}

/// A passwd entry's primary group, as [`passwd_uid`].
pub fn passwd_gid(user: &str) -> Result<Option<u32>, i32> {
    let Ok(name) = CString::new(user) else {
        return Ok(None);
    };
    nss_entry(
        // SAFETY: as above.
        |pwd, buf, len, result| unsafe { libc::getpwnam_r(name.as_ptr(), pwd, buf, len, result) },
        |p: &libc::passwd| p.pw_gid,
    )
}

/// The user name of `uid` from its passwd entry.
pub fn user_name(uid: u32) -> Result<Option<String>, i32> {
    nss_entry(
        // SAFETY: as above.
        |pwd, buf, len, result| unsafe { libc::getpwuid_r(uid, pwd, buf, len, result) },
        |p: &libc::passwd| {
            // SAFETY: pw_name points into the look-up's buffer, NUL-terminated.
            let name = unsafe { CStr::from_ptr(p.pw_name) };
            name.to_string_lossy().into_owned()
        },
    )
}

/// Reads shadow entries through `getspnam_r`.
pub struct SystemShadow;

impl ShadowSource for SystemShadow {
    fn lookup(&self, user: &str) -> Shadow {
        let Ok(name) = CString::new(user) else {
            return Shadow::NoAccount;
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
                // No shadow entry: is there an account at all? passwd is
                // readable by everyone, so this answer does not depend on
                // who asks. Without read access to /etc/shadow glibc answers
                // EACCES, or "no entry" from the files backend.
                let readable = matches!(rc, 0 | libc::ENOENT) && shadow_readable();
                return match passwd_uid(user) {
                    Ok(None) => Shadow::NoAccount,
                    Ok(Some(_)) if readable => Shadow::NoEntry,
                    Ok(Some(_)) | Err(_) => Shadow::Unavailable,
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

/// The id of this process.
pub fn pid() -> i32 {
    // SAFETY: getpid has no preconditions and cannot fail.
    unsafe { libc::getpid() }
}

/// Sends `sig` to the process `pid` if `still_it`, asked once the process
/// is pinned, says it is still the one meant; whether the signal was sent.
/// The process is pinned with a pidfd, so a PID freed and reused between
/// the check and the signal is never hit; where the kernel has no pidfds
/// (before Linux 5.3, or a filter refusing the call) the check is made
/// just before `kill`. A `pid` of 0 or below (a process group, or every
/// process) is refused.
pub fn signal_if(pid: i32, sig: libc::c_int, still_it: impl FnOnce() -> bool) -> bool {
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
    if pid <= 0 {
        return false;
    }
    // SAFETY: pidfd_open takes a PID and flags, no pointers.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    if fd < 0 {
        let err = std::io::Error::last_os_error().raw_os_error();
        return matches!(err, Some(libc::ENOSYS | libc::EPERM))
            && still_it()
            // SAFETY: kill has no memory preconditions; pid > 0 names one process.
            && unsafe { libc::kill(pid, sig) } == 0;
    }
    let Ok(raw) = i32::try_from(fd) else {
        return false;
    };
    // SAFETY: pidfd_open returned a new descriptor that nothing else owns.
    let pidfd = unsafe { OwnedFd::from_raw_fd(raw) };
    still_it()
        // SAFETY: pidfd is open; a NULL siginfo means "as kill would send it".
        && unsafe {
            libc::syscall(
                libc::SYS_pidfd_send_signal,
                pidfd.as_raw_fd(),
                sig,
                std::ptr::null::<libc::siginfo_t>(),
                0,
            )
        } == 0
}

/// Whether the file system holding `path` is mounted read-only.
pub fn read_only_fs(path: &std::path::Path) -> bool {
    statvfs(path).is_some_and(|st| st.f_flag & libc::ST_RDONLY != 0)
}

/// Whether the file system holding `path` has no block left for this
/// process (root's reserve included when running as root).
pub fn full_fs(path: &std::path::Path) -> bool {
    let is_root = euid() == 0;
    statvfs(path).is_some_and(|st| {
        if is_root {
            st.f_bfree == 0
        } else {
            st.f_bavail == 0
        }
    })
}

fn statvfs(path: &std::path::Path) -> Option<libc::statvfs> {
    use std::os::unix::ffi::OsStrExt;
    let c = CString::new(path.as_os_str().as_bytes()).ok()?;
    // SAFETY: statvfs is plain old data, valid when zeroed.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: c is NUL-terminated and st a valid out-pointer.
    let rc = unsafe { libc::statvfs(c.as_ptr(), &mut st) };
    (rc == 0).then_some(st)
}

/// `access(path, R_OK | W_OK)` for the effective ids: why this process
/// could not read and write `path`, if it could not.
pub fn writable(path: &std::path::Path) -> std::io::Result<()> {
    use std::os::unix::ffi::OsStrExt;
    let c = CString::new(path.as_os_str().as_bytes())
        .map_err(|_| std::io::Error::from_raw_os_error(libc::EINVAL))?;
    // SAFETY: c is NUL-terminated; faccessat has no other preconditions.
    let rc = unsafe {
        libc::faccessat(
            libc::AT_FDCWD,
            c.as_ptr(),
            libc::R_OK | libc::W_OK,
            libc::AT_EACCESS,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}
