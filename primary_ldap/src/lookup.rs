//! One connection to the directory: TLS verified against the configured CA
//! (ldaps://, or ldap:// with StartTLS), a simple bind, and searches for a
//! user's entry, every step within what is left of one deadline.
//!
//! Every option is set on the connection's own handle, never on libldap's
//! global one, so other libldap users in the same host process (nss-ldap,
//! Dovecot's LDAP driver) are untouched, and /etc/ldap/ldap.conf or an
//! ldaprc cannot weaken a lookup: the CA, the hard certificate check and
//! referrals off are always set here.

use crate::escape;
use crate::libldap::*;
use apppass_core::config::LdapSettings;
use std::ffi::{c_int, c_ulong, c_void, CString};
use std::time::{Duration, Instant};
use zeroize::Zeroizing;

/// What a search found.
#[derive(Debug, PartialEq, Eq)]
pub enum Found {
    /// The user's entry: the attribute's values, sorted (none: the entry
    /// has no such attribute, or the bind DN may not read it).
    Values(Vec<Zeroizing<Vec<u8>>>),
    /// No entry matches the filter.
    NoEntry,
}

/// Why a lookup failed; `Lost` when the server dropped a connection that
/// was open (a kept one may be tried again once).
#[derive(Debug)]
pub enum Failed {
    Lost(String),
    Other(String),
}

impl Failed {
    pub fn why(self) -> String {
        match self {
            Failed::Lost(w) | Failed::Other(w) => w,
        }
    }
}

/// LDAP_SERVER_DOWN: the connection is gone.
const SERVER_DOWN: c_int = -1;

pub struct Connection {
    api: &'static Api,
    ld: *mut Ldap,
}

impl Drop for Connection {
    fn drop(&mut self) {
        let _pipe = crate::sigpipe::PipeGuard::new();
        // SAFETY: `ld` came from ldap_initialize and is unbound (freed) once.
        unsafe { (self.api.unbind_ext_s)(self.ld, std::ptr::null_mut(), std::ptr::null_mut()) };
    }
}

fn c_string(what: &str, s: &str) -> Result<CString, Failed> {
    CString::new(s).map_err(|_| Failed::Other(format!("{what} holds a NUL byte")))
}

/// What is left of the deadline, or the error that says it ran out.
fn left(deadline: Instant, step: &str) -> Result<Duration, Failed> {
    let now = Instant::now();
    if now >= deadline {
        return Err(Failed::Other(format!(
            "the LDAP server did not answer in time ({step})"
        )));
    }
    Ok(deadline - now)
}

fn timeval(d: Duration) -> libc::timeval {
    libc::timeval {
        tv_sec: d.as_secs() as libc::time_t,
        tv_usec: d.subsec_micros() as libc::suseconds_t,
    }
}

impl Connection {
    /// Connects and binds (as `bind_password`'s DN, or anonymously).
    pub fn open(
        s: &LdapSettings,
        bind_password: Option<&[u8]>,
        deadline: Instant,
    ) -> Result<Connection, Failed> {
        let api = crate::libldap::api().map_err(Failed::Other)?;
        let uri = c_string("ldap_uri", &s.uri)?;
        let mut ld = std::ptr::null_mut();
        // SAFETY: a valid out pointer and a NUL-terminated URI; no I/O yet.
        let rc = unsafe { (api.initialize)(&mut ld, uri.as_ptr()) };
        if rc != LDAP_SUCCESS || ld.is_null() {
            return Err(Failed::Other(format!("ldap_uri: {}", api.error(rc))));
        }
        let c = Connection { api, ld };
        c.options(s)?;
        c.timeouts(left(deadline, "connect")?);
        // SAFETY: a live handle with its options set.
        let rc = unsafe { (api.connect)(c.ld) };
        if rc != LDAP_SUCCESS {
            return Err(Failed::Other(format!("connect: {}", api.error(rc))));
        }
        if s.starttls {
            c.timeouts(left(deadline, "StartTLS")?);
            // SAFETY: a live handle; no controls.
            let rc = unsafe { (api.start_tls_s)(c.ld, std::ptr::null_mut(), std::ptr::null_mut()) };
            if rc != LDAP_SUCCESS {
                return Err(Failed::Other(format!("StartTLS: {}", api.error(rc))));
            }
        }
        c.timeouts(left(deadline, "bind")?);
        let dn = c_string("ldap_bind_dn", s.bind_dn.as_deref().unwrap_or(""))?;
        let mut secret = Zeroizing::new(bind_password.unwrap_or_default().to_vec());
        let cred = BerVal {
            bv_len: secret.len() as c_ulong,
            bv_val: secret.as_mut_ptr().cast(),
        };
        // SAFETY: a live handle, a NUL-terminated DN, LDAP_SASL_SIMPLE
        // (NULL) and a berval over `secret`, which outlives the call.
        let rc = unsafe {
            (api.sasl_bind_s)(
                c.ld,
                dn.as_ptr(),
                std::ptr::null(),
                &cred,
                std::ptr::null_mut(),
                std::ptr::null_mut(),
                std::ptr::null_mut(),
            )
        };
        if rc != LDAP_SUCCESS {
            return Err(Failed::Other(format!("bind: {}", api.error(rc))));
        }
        Ok(c)
    }

    fn set(&self, option: c_int, value: *const c_void, what: &str) -> Result<(), Failed> {
        // SAFETY: a live handle and a value of the type `option` takes.
        let rc = unsafe { (self.api.set_option)(self.ld, option, value) };
        if rc != LDAP_SUCCESS {
            return Err(Failed::Other(format!("{what}: {}", self.api.error(rc))));
        }
        Ok(())
    }

    fn options(&self, s: &LdapSettings) -> Result<(), Failed> {
        let version = LDAP_VERSION3;
        self.set(
            LDAP_OPT_PROTOCOL_VERSION,
            (&version as *const c_int).cast(),
            "LDAP protocol version",
        )?;
        // LDAP_OPT_OFF: a referral is never followed to another server.
        self.set(LDAP_OPT_REFERRALS, std::ptr::null(), "referrals")?;
        let never = LDAP_DEREF_NEVER;
        self.set(LDAP_OPT_DEREF, (&never as *const c_int).cast(), "aliases")?;
        let hard = LDAP_OPT_X_TLS_HARD;
        self.set(
            LDAP_OPT_X_TLS_REQUIRE_CERT,
            (&hard as *const c_int).cast(),
            "TLS certificate check",
        )?;
        let ca = c_string("ldap_ca_file", &s.ca_file.display().to_string())?;
        self.set(
            LDAP_OPT_X_TLS_CACERTFILE,
            ca.as_ptr().cast(),
            "ldap_ca_file",
        )?;
        let zero: c_int = 0;
        self.set(LDAP_OPT_X_TLS_NEWCTX, (&zero as *const c_int).cast(), "TLS")
            .map_err(|_| {
                Failed::Other(format!(
                    "ldap_ca_file {} cannot be used (missing, unreadable or not PEM certificates)",
                    s.ca_file.display()
                ))
            })?;
        if self.vendor_version()? < 20609 {
            // OpenLDAP before 2.6.9 (ITS#8047) waits for a TLS handshake
            // without its timeout unless the connection is asynchronous, and
            // spins at full CPU against a server that accepts and never
            // answers. 2.6.9 fixed it, and there async must stay off.
            let on: c_int = 1;
            self.set(
                LDAP_OPT_CONNECT_ASYNC,
                (&on as *const c_int).cast(),
                "asynchronous connect",
            )?;
        }
        Ok(())
    }

    fn vendor_version(&self) -> Result<c_int, Failed> {
        let mut info = ApiInfo {
            info_version: LDAP_API_INFO_VERSION,
            api_version: 0,
            protocol_version: 0,
            extensions: std::ptr::null_mut(),
            vendor_name: std::ptr::null_mut(),
            vendor_version: 0,
        };
        // SAFETY: a live handle and an LDAPAPIInfo with its version set.
        let rc = unsafe {
            (self.api.get_option)(
                self.ld,
                LDAP_OPT_API_INFO,
                (&mut info as *mut ApiInfo).cast(),
            )
        };
        if rc != LDAP_SUCCESS {
            return Err(Failed::Other(format!(
                "libldap's version: {}",
                self.api.error(rc)
            )));
        }
        // SAFETY: libldap allocated both; they are freed as ldap.h says.
        unsafe {
            if !info.extensions.is_null() {
                (self.api.memvfree)(info.extensions.cast());
            }
            if !info.vendor_name.is_null() {
                (self.api.memfree)(info.vendor_name.cast());
            }
        }
        Ok(info.vendor_version)
    }

    /// Both of libldap's timeouts to `d`: connecting (and TLS) and each
    /// synchronous operation.
    fn timeouts(&self, d: Duration) {
        let tv = timeval(d.max(Duration::from_millis(1)));
        let p = (&tv as *const libc::timeval).cast();
        // SAFETY: a live handle and a struct timeval, copied by libldap.
        unsafe {
            (self.api.set_option)(self.ld, LDAP_OPT_NETWORK_TIMEOUT, p);
            (self.api.set_option)(self.ld, LDAP_OPT_TIMEOUT, p);
        }
    }

    /// The values of `s.attribute` in `user`'s entry.
    pub fn search(&self, s: &LdapSettings, user: &str, deadline: Instant) -> Result<Found, Failed> {
        let api = self.api;
        let budget = left(deadline, "search")?;
        self.timeouts(budget);
        let base = c_string("ldap_base", &s.base)?;
        let filter = c_string("ldap_filter", &escape::filter(&s.filter, user))?;
        let attribute = c_string("ldap_attribute", &s.attribute)?;
        let attrs = [attribute.as_ptr(), std::ptr::null()];
        let tv = timeval(budget);
        let mut res: *mut LdapMessage = std::ptr::null_mut();
        // SAFETY: a live handle, NUL-terminated strings, a NULL-terminated
        // attribute list, a time limit and an out pointer; size limit 2 to
        // tell one entry from several.
        let rc = unsafe {
            (api.search_ext_s)(
                self.ld,
                base.as_ptr(),
                LDAP_SCOPE_SUBTREE,
                filter.as_ptr(),
                attrs.as_ptr(),
                0,
                std::ptr::null_mut(),
                std::ptr::null_mut(),
                &tv,
                2,
                &mut res,
            )
        };
        let result = Message { api, res };
        if rc == LDAP_SIZELIMIT_EXCEEDED {
            return Err(Failed::Other(
                "ldap_filter matches more than one entry for the user".into(),
            ));
        }
        if rc == SERVER_DOWN {
            return Err(Failed::Lost(format!("search: {}", api.error(rc))));
        }
        if rc != LDAP_SUCCESS {
            return Err(Failed::Other(format!("search: {}", api.error(rc))));
        }
        // SAFETY: a live handle and the result of the search.
        let count = unsafe { (api.count_entries)(self.ld, result.res) };
        match count {
            0 => return Ok(Found::NoEntry),
            1 => {}
            n if n > 1 => {
                return Err(Failed::Other(
                    "ldap_filter matches more than one entry for the user".into(),
                ))
            }
            _ => return Err(Failed::Other("search: unreadable result".into())),
        }
        // SAFETY: the result holds one entry.
        let entry = unsafe { (api.first_entry)(self.ld, result.res) };
        if entry.is_null() {
            return Err(Failed::Other("search: unreadable result".into()));
        }
        // SAFETY: a live handle, the entry and a NUL-terminated name.
        let values = unsafe { (api.get_values_len)(self.ld, entry, attribute.as_ptr()) };
        let mut out = Vec::new();
        if !values.is_null() {
            let mut i = 0;
            loop {
                // SAFETY: a NULL-terminated array of berval pointers.
                let v = unsafe { *values.add(i) };
                if v.is_null() {
                    break;
                }
                // SAFETY: a berval from the array; its pointer is read only.
                let (data, len) = unsafe { ((*v).bv_val, (*v).bv_len as usize) };
                let bytes = if data.is_null() || len == 0 {
                    &[][..]
                } else {
                    // SAFETY: a non-null bv_val points at bv_len bytes.
                    unsafe { std::slice::from_raw_parts(data.cast::<u8>(), len) }
                };
                out.push(Zeroizing::new(bytes.to_vec()));
                i += 1;
            }
            // SAFETY: the array came from ldap_get_values_len.
            unsafe { (api.value_free_len)(values) };
        }
        out.sort_by(|a, b| a[..].cmp(&b[..]));
        Ok(Found::Values(out))
    }

    /// The connection's socket, so that a child process can close its copy
    /// without a word on the wire (see `kept`).
    pub fn descriptor(&self) -> Option<c_int> {
        let mut fd: c_int = -1;
        // SAFETY: a live handle and an int for LDAP_OPT_DESC.
        let rc = unsafe { (self.api.get_option)(self.ld, 0x0001, (&mut fd as *mut c_int).cast()) };
        (rc == LDAP_SUCCESS && fd >= 0).then_some(fd)
    }
}

/// A search result, freed when dropped.
struct Message {
    api: &'static Api,
    res: *mut LdapMessage,
}

impl Drop for Message {
    fn drop(&mut self) {
        if !self.res.is_null() {
            // SAFETY: the result came from ldap_search_ext_s and is freed once.
            unsafe { (self.api.msgfree)(self.res) };
        }
    }
}
