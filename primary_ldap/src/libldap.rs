//! The few libldap functions a lookup calls, found with dlopen on first use
//! (`libldap.so.2`, OpenLDAP 2.6, Debian 13; `libldap-2.5.so.0`, Debian
//! 12) and kept for the life of the process: with GnuTLS it registers fork
//! handlers, so it must never be unloaded (the PAM module is not either).
//! libldap starts no thread and sets FD_CLOEXEC on its socket.

use libloading::{Library, Symbol};
use std::ffi::{c_char, c_int, c_ulong, c_void, CStr};
use std::sync::OnceLock;

#[repr(C)]
pub struct Ldap {
    _private: [u8; 0],
}

#[repr(C)]
pub struct LdapMessage {
    _private: [u8; 0],
}

#[repr(C)]
pub struct BerVal {
    pub bv_len: c_ulong,
    pub bv_val: *mut c_char,
}

/// `LDAPAPIInfo`, to read the library's version.
#[repr(C)]
pub struct ApiInfo {
    pub info_version: c_int,
    pub api_version: c_int,
    pub protocol_version: c_int,
    pub extensions: *mut *mut c_char,
    pub vendor_name: *mut c_char,
    pub vendor_version: c_int,
}

pub const LDAP_SUCCESS: c_int = 0;
pub const LDAP_SIZELIMIT_EXCEEDED: c_int = 4;
pub const LDAP_SCOPE_SUBTREE: c_int = 2;
pub const LDAP_OPT_API_INFO: c_int = 0x0000;
pub const LDAP_OPT_DEREF: c_int = 0x0002;
pub const LDAP_OPT_REFERRALS: c_int = 0x0008;
pub const LDAP_OPT_PROTOCOL_VERSION: c_int = 0x0011;
pub const LDAP_OPT_TIMEOUT: c_int = 0x5002;
pub const LDAP_OPT_NETWORK_TIMEOUT: c_int = 0x5005;
pub const LDAP_OPT_CONNECT_ASYNC: c_int = 0x5010;
pub const LDAP_OPT_X_TLS_CACERTFILE: c_int = 0x6002;
pub const LDAP_OPT_X_TLS_REQUIRE_CERT: c_int = 0x6006;
pub const LDAP_OPT_X_TLS_NEWCTX: c_int = 0x600f;
pub const LDAP_OPT_X_TLS_HARD: c_int = 1;
pub const LDAP_DEREF_NEVER: c_int = 0;
pub const LDAP_VERSION3: c_int = 3;
pub const LDAP_API_INFO_VERSION: c_int = 1;

/// The function table, each with the C signature of OpenLDAP's `ldap.h`.
pub struct Api {
    _lib: Library,
    pub initialize: unsafe extern "C" fn(*mut *mut Ldap, *const c_char) -> c_int,
    pub set_option: unsafe extern "C" fn(*mut Ldap, c_int, *const c_void) -> c_int,
    pub get_option: unsafe extern "C" fn(*mut Ldap, c_int, *mut c_void) -> c_int,
    pub start_tls_s: unsafe extern "C" fn(*mut Ldap, *mut c_void, *mut c_void) -> c_int,
    /// Opens the connection (and, for ldaps://, its TLS session) now, so
    /// that the bind that follows gets only what is left of the deadline.
    pub connect: unsafe extern "C" fn(*mut Ldap) -> c_int,
    #[allow(clippy::type_complexity)]
    pub sasl_bind_s: unsafe extern "C" fn(
        *mut Ldap,
        *const c_char,
        *const c_char,
        *const BerVal,
        *mut c_void,
        *mut c_void,
        *mut *mut BerVal,
    ) -> c_int,
    #[allow(clippy::type_complexity)]
    pub search_ext_s: unsafe extern "C" fn(
        *mut Ldap,
        *const c_char,
        c_int,
        *const c_char,
        *const *const c_char,
        c_int,
        *mut c_void,
        *mut c_void,
        *const libc::timeval,
        c_int,
        *mut *mut LdapMessage,
    ) -> c_int,
    pub count_entries: unsafe extern "C" fn(*mut Ldap, *mut LdapMessage) -> c_int,
    pub first_entry: unsafe extern "C" fn(*mut Ldap, *mut LdapMessage) -> *mut LdapMessage,
    pub get_values_len:
        unsafe extern "C" fn(*mut Ldap, *mut LdapMessage, *const c_char) -> *mut *mut BerVal,
    pub value_free_len: unsafe extern "C" fn(*mut *mut BerVal),
    pub msgfree: unsafe extern "C" fn(*mut LdapMessage) -> c_int,
    pub unbind_ext_s: unsafe extern "C" fn(*mut Ldap, *mut c_void, *mut c_void) -> c_int,
    pub err2string: unsafe extern "C" fn(c_int) -> *const c_char,
    pub memfree: unsafe extern "C" fn(*mut c_void),
    pub memvfree: unsafe extern "C" fn(*mut *mut c_void),
}

static API: OnceLock<Result<Api, String>> = OnceLock::new();

/// The loaded library, or why it could not be loaded.
pub fn api() -> Result<&'static Api, String> {
    API.get_or_init(load).as_ref().map_err(Clone::clone)
}

/// The sonames to try, newest first.
const NAMES: [&str; 2] = ["libldap.so.2", "libldap-2.5.so.0"];

fn load() -> Result<Api, String> {
    let mut tried = Vec::new();
    let lib = NAMES
        .iter()
        .find_map(|name| {
            // SAFETY: loading libldap runs its initialisers (and GnuTLS's),
            // which set up static tables; these are the libraries this
            // table is written against.
            match unsafe { Library::new(name) } {
                Ok(lib) => Some(lib),
                Err(e) => {
                    tried.push(format!("{name}: {e}"));
                    None
                }
            }
        })
        .ok_or_else(|| {
            format!(
                "cannot load OpenLDAP's client library ({}); install libldap-2.5-0 (Debian 12) or libldap2 (Debian 13)",
                tried.join("; ")
            )
        })?;
    macro_rules! sym {
        ($name:literal) => {{
            let lacks = |e| format!("OpenLDAP's client library lacks {} ({e})", $name);
            // SAFETY: the symbol is looked up by its libldap name and
            // stored with the signature ldap.h declares for it.
            let found = unsafe { lib.get(concat!($name, "\0").as_bytes()) };
            let s: Symbol<'_, _> = found.map_err(lacks)?;
            *s
        }};
    }
    Ok(Api {
        initialize: sym!("ldap_initialize"),
        set_option: sym!("ldap_set_option"),
        get_option: sym!("ldap_get_option"),
        start_tls_s: sym!("ldap_start_tls_s"),
        connect: sym!("ldap_connect"),
        sasl_bind_s: sym!("ldap_sasl_bind_s"),
        search_ext_s: sym!("ldap_search_ext_s"),
        count_entries: sym!("ldap_count_entries"),
        first_entry: sym!("ldap_first_entry"),
        get_values_len: sym!("ldap_get_values_len"),
        value_free_len: sym!("ldap_value_free_len"),
        msgfree: sym!("ldap_msgfree"),
        unbind_ext_s: sym!("ldap_unbind_ext_s"),
        err2string: sym!("ldap_err2string"),
        memfree: sym!("ldap_memfree"),
        memvfree: sym!("ldap_memvfree"),
        _lib: lib,
    })
}

impl Api {
    /// libldap's sentence for `rc`.
    pub fn error(&self, rc: c_int) -> String {
        // SAFETY: ldap_err2string returns a static string for any code.
        let p = unsafe { (self.err2string)(rc) };
        if p.is_null() {
            return format!("error {rc}");
        }
        // SAFETY: NUL-terminated and static.
        unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned()
    }
}
