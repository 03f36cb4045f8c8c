//! libpam as an application: authenticate one user with the service
//! `apppass` (or `apppass-web`), relaying every prompt to the client; or
//! run a service's account lines alone, for a login decided for a
//! `login_checker`. The only FFI of the daemon; it is linked against the
//! system's libpam.

use apppass_core::signin::Verdict;
use std::ffi::{c_char, c_int, c_void, CStr, CString};
use std::path::Path;
use zeroize::Zeroizing;

const PAM_SUCCESS: c_int = 0;
const PAM_CONV_ERR: c_int = 19;
const PAM_BUF_ERR: c_int = 5;
const PAM_PROMPT_ECHO_OFF: c_int = 1;
const PAM_PROMPT_ECHO_ON: c_int = 2;
const PAM_ERROR_MSG: c_int = 3;
const PAM_TEXT_INFO: c_int = 4;
const PAM_DISALLOW_NULL_AUTHTOK: c_int = 1;
const PAM_SILENT: c_int = 0x8000;
const PAM_RHOST: c_int = 4;
const PAM_RUSER: c_int = 8;
/// A conversation may not go on for ever: at most this many messages.
const MAX_MESSAGES: usize = 16;

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

type ConvFn = unsafe extern "C" fn(
    c_int,
    *mut *const PamMessage,
    *mut *mut PamResponse,
    *mut c_void,
) -> c_int;

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
    fn pam_acct_mgmt(pamh: *mut c_void, flags: c_int) -> c_int;
    fn pam_set_item(pamh: *mut c_void, item: c_int, value: *const c_void) -> c_int;
    fn pam_strerror(pamh: *mut c_void, errnum: c_int) -> *const c_char;
}

/// One PAM message for the client.
pub enum Message<'a> {
    /// A question; the answer is echoed as typed when `echo`.
    Prompt {
        text: &'a str,
        echo: bool,
    },
    Info(&'a str),
    Error(&'a str),
}

/// What the conversation asks the client; `None` ends it (client gone,
/// timed out, too many messages).
pub type Relay<'a> = dyn FnMut(Message<'_>) -> Option<Zeroizing<String>> + 'a;

struct ConvState<'a, 'b> {
    relay: &'b mut Relay<'a>,
    messages: usize,
}

unsafe extern "C" fn converse(
    n: c_int,
    msgs: *mut *const PamMessage,
    resp: *mut *mut PamResponse,
    appdata: *mut c_void,
) -> c_int {
    if n <= 0 || msgs.is_null() || resp.is_null() || appdata.is_null() {
        return PAM_CONV_ERR;
    }
    // SAFETY: appdata is the ConvState that authenticate() passed to
    // pam_start_confdir; it outlives the PAM handle.
    let state = unsafe { &mut *(appdata as *mut ConvState<'_, '_>) };
    let n = n as usize;
    // SAFETY: libpam frees the array and each answer with free(); calloc
    // gives it zeroed memory of the right size.
    let out = unsafe { libc::calloc(n, std::mem::size_of::<PamResponse>()) } as *mut PamResponse;
    if out.is_null() {
        return PAM_BUF_ERR;
    }
    let fail = |out: *mut PamResponse| {
        for i in 0..n {
            // SAFETY: out has n entries; answers were strdup'ed or are null.
            unsafe {
                let r = &mut *out.add(i);
                if !r.resp.is_null() {
                    let len = libc::strlen(r.resp);
                    std::ptr::write_bytes(r.resp, 0, len);
                    libc::free(r.resp.cast());
                }
            }
        }
        // SAFETY: out came from calloc above.
        unsafe { libc::free(out.cast()) };
        PAM_CONV_ERR
    };
    for i in 0..n {
        state.messages += 1;
        if state.messages > MAX_MESSAGES {
            return fail(out);
        }
        // Linux-PAM passes an array of pointers (msgs[i]), not a pointer
        // to an array.
        // SAFETY: libpam gives n valid message pointers.
        let m = unsafe { &**msgs.add(i) };
        let text = if m.msg.is_null() {
            String::new()
        } else {
            // SAFETY: a NUL-terminated string owned by libpam for the call.
            unsafe { CStr::from_ptr(m.msg) }
                .to_string_lossy()
                .into_owned()
        };
        let answer = match m.msg_style {
            PAM_PROMPT_ECHO_OFF | PAM_PROMPT_ECHO_ON => {
                let echo = m.msg_style == PAM_PROMPT_ECHO_ON;
                match (state.relay)(Message::Prompt { text: &text, echo }) {
                    Some(a) => Some(a),
                    None => return fail(out),
                }
            }
            PAM_TEXT_INFO => {
                if (state.relay)(Message::Info(&text)).is_none() {
                    return fail(out);
                }
                None
            }
            PAM_ERROR_MSG => {
                if (state.relay)(Message::Error(&text)).is_none() {
                    return fail(out);
                }
                None
            }
            _ => return fail(out),
        };
        if let Some(a) = answer {
            let Ok(c) = CString::new(a.as_bytes()) else {
                return fail(out);
            };
            let c = Zeroizing::new(c);
            // SAFETY: strdup copies into malloc'ed memory libpam frees.
            let dup = unsafe { libc::strdup(c.as_ptr()) };
            if dup.is_null() {
                return fail(out);
            }
            // SAFETY: i < n.
            unsafe { (*out.add(i)).resp = dup };
        }
    }
    // SAFETY: resp is libpam's out-parameter.
    unsafe { *resp = out };
    PAM_SUCCESS
}

/// Runs `auth` and `account` of `service` for `user`, relaying prompts:
/// `Accepted` when both succeed. `rhost` is where the user is (the web
/// page's client; `localhost` for a local user). `confdir` replaces
/// /etc/pam.d (tests).
pub fn authenticate(
    service: &str,
    user: &str,
    ruser: Option<&str>,
    rhost: Option<&str>,
    confdir: Option<&Path>,
    relay: &mut Relay<'_>,
) -> Result<Verdict, String> {
    let names = Names::new(service, user, confdir)?;
    let (rc, _) = transaction(&names, ruser, rhost, relay, |pamh| {
        // SAFETY: pamh is live for both calls.
        let rc = unsafe { pam_authenticate(pamh, PAM_DISALLOW_NULL_AUTHTOK | PAM_SILENT) };
        if rc != PAM_SUCCESS {
            return rc;
        }
        // SAFETY: as above.
        unsafe { pam_acct_mgmt(pamh, PAM_DISALLOW_NULL_AUTHTOK | PAM_SILENT) }
    })?;
    Ok(if rc == PAM_SUCCESS {
        Verdict::Accepted(user.to_owned())
    } else {
        Verdict::Refused(None)
    })
}

/// Runs only the `account` lines of `service` for `user` (as root, where
/// pam_unix can read /etc/shadow): for a login apppassd decided for a
/// `login_checker`, whose own process could not run them. `Ok(None)` when
/// they pass, `Ok(Some(why))` when they refuse (libpam's words). No
/// prompt is answered.
pub fn account(
    service: &str,
    user: &str,
    rhost: Option<&str>,
    confdir: Option<&Path>,
) -> Result<Option<String>, String> {
    let names = Names::new(service, user, confdir)?;
    // An account module may say something (a password about to expire);
    // it may not ask anything.
    let mut quiet = |m: Message<'_>| match m {
        Message::Prompt { .. } => None,
        Message::Info(_) | Message::Error(_) => Some(Zeroizing::new(String::new())),
    };
    let (rc, words) = transaction(&names, None, rhost, &mut quiet, |pamh| {
        // SAFETY: pamh is live.
        unsafe { pam_acct_mgmt(pamh, PAM_DISALLOW_NULL_AUTHTOK | PAM_SILENT) }
    })?;
    Ok((rc != PAM_SUCCESS).then_some(words))
}

/// The service, the user and the PAM directory as C strings.
struct Names {
    service: CString,
    user: CString,
    confdir: Option<CString>,
}

impl Names {
    fn new(service: &str, user: &str, confdir: Option<&Path>) -> Result<Names, String> {
        Ok(Names {
            service: CString::new(service).map_err(|_| "bad service name".to_string())?,
            user: CString::new(user).map_err(|_| "bad user name".to_string())?,
            confdir: confdir
                .map(|d| CString::new(d.as_os_str().as_encoded_bytes()))
                .transpose()
                .map_err(|_| "bad PAM directory".to_string())?,
        })
    }
}

/// One PAM transaction: a handle for `names` (`confdir` replacing
/// /etc/pam.d), PAM_RUSER and PAM_RHOST set when given, talking through
/// `relay`; runs `steps` on it, then ends it. Returns the code `steps`
/// gave and libpam's words for it.
fn transaction(
    names: &Names,
    ruser: Option<&str>,
    rhost: Option<&str>,
    relay: &mut Relay<'_>,
    steps: impl FnOnce(*mut c_void) -> c_int,
) -> Result<(c_int, String), String> {
    let mut state = ConvState { relay, messages: 0 };
    let conv = PamConv {
        conv: converse,
        appdata: (&mut state as *mut ConvState<'_, '_>).cast(),
    };
    let mut pamh: *mut c_void = std::ptr::null_mut();
    // SAFETY: every string is NUL-terminated and outlives the handle; conv
    // and state outlive it too (pam_end is called below, in this frame).
    let rc = unsafe {
        pam_start_confdir(
            names.service.as_ptr(),
            names.user.as_ptr(),
            &conv,
            names
                .confdir
                .as_ref()
                .map_or(std::ptr::null(), |c| c.as_ptr()),
            &mut pamh,
        )
    };
    if rc != PAM_SUCCESS || pamh.is_null() {
        return Err(format!("pam_start failed ({rc})"));
    }
    for (item, value) in [(PAM_RUSER, ruser), (PAM_RHOST, rhost)] {
        if let Some(v) = value.and_then(|v| CString::new(v).ok()) {
            // SAFETY: pamh is live; libpam copies the item.
            unsafe { pam_set_item(pamh, item, v.as_ptr().cast()) };
        }
    }
    let rc = steps(pamh);
    // SAFETY: pamh is live; the answer is a static NUL-terminated string
    // (or NULL), copied at once.
    let text = unsafe { pam_strerror(pamh, rc) };
    let words = if text.is_null() {
        format!("PAM error {rc}")
    } else {
        // SAFETY: non-NULL: a NUL-terminated string libpam owns.
        unsafe { CStr::from_ptr(text) }
            .to_string_lossy()
            .into_owned()
    };
    // SAFETY: pamh is ended once, here.
    unsafe { pam_end(pamh, rc) };
    Ok((rc, words))
}
