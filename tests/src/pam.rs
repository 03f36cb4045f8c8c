//! A minimal libpam client: pam_start_confdir with a scripted conversation.

use std::cell::RefCell;
use std::ffi::{c_char, c_int, c_void, CStr, CString};
use std::path::Path;

pub const PAM_SUCCESS: i32 = 0;
pub const PAM_SERVICE_ERR: i32 = 3;
pub const PAM_PERM_DENIED: i32 = 6;
pub const PAM_AUTH_ERR: i32 = 7;
pub const PAM_AUTHINFO_UNAVAIL: i32 = 9;
pub const PAM_IGNORE: i32 = 25;

pub const PAM_TTY: c_int = 3;
pub const PAM_RHOST: c_int = 4;
pub const PAM_RUSER: c_int = 8;

pub const PAM_DISALLOW_NULL_AUTHTOK: c_int = 1;
pub const PAM_ESTABLISH_CRED: c_int = 2;
pub const PAM_PRELIM_CHECK: c_int = 0x4000;
pub const PAM_UPDATE_AUTHTOK: c_int = 0x2000;

#[repr(C)]
struct PamMessage {
    msg_style: c_int,
    msg: *const c_char,
}

#[repr(C)]
struct PamResponse {
    resp: *mut c_char,
    resp_retcode: c_int,
}

type ConvFn =
    extern "C" fn(c_int, *mut *const PamMessage, *mut *mut PamResponse, *mut c_void) -> c_int;

#[repr(C)]
struct PamConv {
    conv: ConvFn,
    appdata: *mut c_void,
}

#[link(name = "pam")]
unsafe extern "C" {
    fn pam_start_confdir(
        service: *const c_char,
        user: *const c_char,
        conv: *const PamConv,
        confdir: *const c_char,
        pamh: *mut *mut c_void,
    ) -> c_int;
    fn pam_end(pamh: *mut c_void, status: c_int) -> c_int;
    fn pam_authenticate(pamh: *mut c_void, flags: c_int) -> c_int;
    fn pam_setcred(pamh: *mut c_void, flags: c_int) -> c_int;
    fn pam_acct_mgmt(pamh: *mut c_void, flags: c_int) -> c_int;
    fn pam_chauthtok(pamh: *mut c_void, flags: c_int) -> c_int;
    fn pam_set_item(pamh: *mut c_void, item: c_int, value: *const c_void) -> c_int;
    fn pam_open_session(pamh: *mut c_void, flags: c_int) -> c_int;
    fn pam_close_session(pamh: *mut c_void, flags: c_int) -> c_int;
    fn pam_getenvlist(pamh: *mut c_void) -> *mut *mut c_char;
}

/// What the conversation answers (in order) and what it was asked.
#[derive(Default)]
pub struct Script {
    pub answers: Vec<Vec<u8>>,
    pub prompts: Vec<String>,
    pub infos: Vec<String>,
}

extern "C" fn converse(
    n: c_int,
    msgs: *mut *const PamMessage,
    resp: *mut *mut PamResponse,
    appdata: *mut c_void,
) -> c_int {
    // SAFETY: appdata is the RefCell<Script> boxed by Pam::start, alive until pam_end.
    let script = unsafe { &*(appdata as *const RefCell<Script>) };
    let n = n.max(0) as usize;
    // SAFETY: libpam frees the array with free(); calloc'd zeroed memory is a valid array.
    let out =
        unsafe { libc::calloc(n.max(1), std::mem::size_of::<PamResponse>()) } as *mut PamResponse;
    for i in 0..n {
        // SAFETY: Linux-PAM passes an array of n message pointers.
        let m = unsafe { &**msgs.add(i) };
        // SAFETY: msg is a NUL-terminated string from libpam.
        let text = unsafe { CStr::from_ptr(m.msg) }
            .to_string_lossy()
            .into_owned();
        let mut s = script.borrow_mut();
        match m.msg_style {
            1 | 2 => {
                s.prompts.push(text);
                if s.answers.is_empty() {
                    // SAFETY: out came from calloc above.
                    unsafe { libc::free(out.cast()) };
                    return 19; // PAM_CONV_ERR
                }
                let answer = s.answers.remove(0);
                let c = CString::new(answer).unwrap_or_default();
                // SAFETY: strdup gives libpam a malloc'd copy it will free.
                unsafe { (*out.add(i)).resp = libc::strdup(c.as_ptr()) };
            }
            _ => s.infos.push(text),
        }
    }
    // SAFETY: resp is libpam's out-pointer.
    unsafe { *resp = out };
    PAM_SUCCESS
}

pub struct Pam {
    handle: *mut c_void,
    script: Box<RefCell<Script>>,
    _conv: Box<PamConv>,
    last: c_int,
}

impl Pam {
    /// Starts a transaction for `service` from `confdir`, or returns the code.
    pub fn try_start(
        confdir: &Path,
        service: &str,
        user: &[u8],
        answers: &[&[u8]],
    ) -> Result<Pam, i32> {
        let script = Box::new(RefCell::new(Script {
            answers: answers.iter().map(|a| a.to_vec()).collect(),
            ..Script::default()
        }));
        let conv = Box::new(PamConv {
            conv: converse,
            appdata: &*script as *const RefCell<Script> as *mut c_void,
        });
        let svc = CString::new(service).unwrap();
        let usr = CString::new(user).unwrap();
        let dir = CString::new(confdir.as_os_str().as_encoded_bytes()).unwrap();
        let mut handle = std::ptr::null_mut();
        // SAFETY: all pointers are valid; conv and script outlive the handle.
        let rc = unsafe {
            pam_start_confdir(
                svc.as_ptr(),
                usr.as_ptr(),
                &*conv,
                dir.as_ptr(),
                &mut handle,
            )
        };
        if rc != PAM_SUCCESS {
            return Err(rc);
        }
        Ok(Pam {
            handle,
            script,
            _conv: conv,
            last: PAM_SUCCESS,
        })
    }

    pub fn start(confdir: &Path, service: &str, user: &[u8], answers: &[&[u8]]) -> Pam {
        Self::try_start(confdir, service, user, answers)
            .unwrap_or_else(|rc| panic!("pam_start_confdir failed: {rc}"))
    }

    pub fn set_item(&mut self, item: c_int, value: &str) {
        let v = CString::new(value).unwrap();
        // SAFETY: libpam copies the string.
        let rc = unsafe { pam_set_item(self.handle, item, v.as_ptr().cast()) };
        assert_eq!(rc, PAM_SUCCESS);
    }

    fn record(&mut self, rc: c_int) -> i32 {
        self.last = rc;
        rc
    }

    pub fn authenticate(&mut self) -> i32 {
        // SAFETY: live handle.
        let rc = unsafe { pam_authenticate(self.handle, 0) };
        self.record(rc)
    }

    pub fn setcred(&mut self) -> i32 {
        // SAFETY: live handle.
        let rc = unsafe { pam_setcred(self.handle, PAM_ESTABLISH_CRED) };
        self.record(rc)
    }

    pub fn acct_mgmt(&mut self) -> i32 {
        // SAFETY: live handle.
        let rc = unsafe { pam_acct_mgmt(self.handle, 0) };
        self.record(rc)
    }

    pub fn chauthtok(&mut self) -> i32 {
        // SAFETY: live handle.
        let rc = unsafe { pam_chauthtok(self.handle, 0) };
        self.record(rc)
    }

    pub fn open_session(&mut self) -> i32 {
        // SAFETY: live handle.
        let rc = unsafe { pam_open_session(self.handle, 0) };
        self.record(rc)
    }

    pub fn close_session(&mut self) -> i32 {
        // SAFETY: live handle.
        let rc = unsafe { pam_close_session(self.handle, 0) };
        self.record(rc)
    }

    /// The PAM environment, `NAME=VALUE` each, as a host would hand it to
    /// the session it opens.
    pub fn env(&self) -> Vec<String> {
        // SAFETY: live handle; the answer is a malloc'd NULL-terminated
        // array of malloc'd strings that the caller frees.
        let list = unsafe { pam_getenvlist(self.handle) };
        let mut out = Vec::new();
        if list.is_null() {
            return out;
        }
        for i in 0.. {
            // SAFETY: the array ends with a NULL entry, not yet passed.
            let item = unsafe { *list.add(i) };
            if item.is_null() {
                break;
            }
            // SAFETY: each entry is a NUL-terminated string, freed once here.
            out.push(
                unsafe { CStr::from_ptr(item) }
                    .to_string_lossy()
                    .into_owned(),
            );
            // SAFETY: as above.
            unsafe { libc::free(item.cast()) };
        }
        // SAFETY: the array itself, freed once.
        unsafe { libc::free(list.cast()) };
        out
    }

    pub fn prompts(&self) -> Vec<String> {
        self.script.borrow().prompts.clone()
    }
}

impl Drop for Pam {
    fn drop(&mut self) {
        // SAFETY: live handle, ended exactly once.
        unsafe { pam_end(self.handle, self.last) };
    }
}

/// One whole login: start, authenticate, end. Returns the code and the
/// number of prompts.
pub fn login(confdir: &Path, service: &str, user: &str, password: &[u8]) -> (i32, usize) {
    let mut p = Pam::start(confdir, service, user.as_bytes(), &[password]);
    let rc = p.authenticate();
    (rc, p.prompts().len())
}
