//! The few libpq functions the backend calls, found with dlopen in
//! `libpq.so.5` on first use and kept for the life of the process (the PAM
//! module is never unloaded). libpq starts no thread and sets FD_CLOEXEC.

use apppass_core::config::Conninfo;
use libloading::{Library, Symbol};
use std::collections::HashMap;
use std::ffi::CString;
use std::ffi::{c_char, c_int, c_uint, c_void, CStr};
use std::sync::OnceLock;

#[repr(C)]
pub struct PGconn {
    _private: [u8; 0],
}

#[repr(C)]
pub struct PGresult {
    _private: [u8; 0],
}

/// A notification (`LISTEN`): only ever freed with PQfreemem here.
#[repr(C)]
pub struct PGnotify {
    _private: [u8; 0],
}

#[repr(C)]
pub struct PQconninfoOption {
    pub keyword: *const c_char,
    pub envvar: *const c_char,
    pub compiled: *const c_char,
    pub val: *const c_char,
    pub label: *const c_char,
    pub dispchar: *const c_char,
    pub dispsize: c_int,
}

pub const CONNECTION_OK: c_int = 0;
pub const PGRES_COMMAND_OK: c_int = 1;
pub const PGRES_TUPLES_OK: c_int = 2;
pub const PGRES_PIPELINE_SYNC: c_int = 10;
pub const PGRES_PIPELINE_ABORTED: c_int = 11;
pub const PQTRANS_IDLE: c_int = 0;
pub const PG_DIAG_SQLSTATE: c_int = b'C' as c_int;
pub const PG_DIAG_MESSAGE_PRIMARY: c_int = b'M' as c_int;

/// The function table. Each pointer has the C signature of libpq 15's
/// `libpq-fe.h`.
pub struct Api {
    _lib: Library,
    pub connectdb_params:
        unsafe extern "C" fn(*const *const c_char, *const *const c_char, c_int) -> *mut PGconn,
    pub status: unsafe extern "C" fn(*const PGconn) -> c_int,
    pub error_message: unsafe extern "C" fn(*const PGconn) -> *const c_char,
    pub finish: unsafe extern "C" fn(*mut PGconn),
    pub socket: unsafe extern "C" fn(*const PGconn) -> c_int,
    pub send_query_params: unsafe extern "C" fn(
        *mut PGconn,
        *const c_char,
        c_int,
        *const c_uint,
        *const *const c_char,
        *const c_int,
        *const c_int,
        c_int,
    ) -> c_int,
    pub send_prepare: unsafe extern "C" fn(
        *mut PGconn,
        *const c_char,
        *const c_char,
        c_int,
        *const c_uint,
    ) -> c_int,
    pub send_query_prepared: unsafe extern "C" fn(
        *mut PGconn,
        *const c_char,
        c_int,
        *const *const c_char,
        *const c_int,
        *const c_int,
        c_int,
    ) -> c_int,
    /// Pipeline mode (libpq 14 and later): statements sent together, one
    /// round trip for all of them.
    pub enter_pipeline_mode: unsafe extern "C" fn(*mut PGconn) -> c_int,
    pub exit_pipeline_mode: unsafe extern "C" fn(*mut PGconn) -> c_int,
    pub pipeline_sync: unsafe extern "C" fn(*mut PGconn) -> c_int,
    pub consume_input: unsafe extern "C" fn(*mut PGconn) -> c_int,
    pub is_busy: unsafe extern "C" fn(*mut PGconn) -> c_int,
    pub get_result: unsafe extern "C" fn(*mut PGconn) -> *mut PGresult,
    pub result_status: unsafe extern "C" fn(*const PGresult) -> c_int,
    pub result_error_field: unsafe extern "C" fn(*const PGresult, c_int) -> *const c_char,
    pub ntuples: unsafe extern "C" fn(*const PGresult) -> c_int,
    pub nfields: unsafe extern "C" fn(*const PGresult) -> c_int,
    pub fname: unsafe extern "C" fn(*const PGresult, c_int) -> *const c_char,
    pub getvalue: unsafe extern "C" fn(*const PGresult, c_int, c_int) -> *const c_char,
    pub getisnull: unsafe extern "C" fn(*const PGresult, c_int, c_int) -> c_int,
    pub clear: unsafe extern "C" fn(*mut PGresult),
    pub transaction_status: unsafe extern "C" fn(*const PGconn) -> c_int,
    pub conninfo_parse:
        unsafe extern "C" fn(*const c_char, *mut *mut c_char) -> *mut PQconninfoOption,
    pub conninfo_free: unsafe extern "C" fn(*mut PQconninfoOption),
    pub freemem: unsafe extern "C" fn(*mut c_void),
    pub notifies: unsafe extern "C" fn(*mut PGconn) -> *mut PGnotify,
    pub set_notice_processor:
        unsafe extern "C" fn(
            *mut PGconn,
            Option<unsafe extern "C" fn(*mut c_void, *const c_char)>,
            *mut c_void,
        ) -> Option<unsafe extern "C" fn(*mut c_void, *const c_char)>,
}

static API: OnceLock<Result<Api, String>> = OnceLock::new();

/// The loaded library, or why it could not be loaded.
pub fn api() -> Result<&'static Api, String> {
    API.get_or_init(load).as_ref().map_err(Clone::clone)
}

fn load() -> Result<Api, String> {
    // SAFETY: loading libpq runs its initialisers, which only set up
    // static tables; it is the library this module is written against.
    let lib = unsafe { Library::new("libpq.so.5") }.map_err(|e| {
        format!("cannot load the PostgreSQL client library libpq.so.5 ({e}); install the libpq5 package")
    })?;
    macro_rules! sym {
        ($name:literal) => {{
            let lacks = |e| {
                format!(
                    "libpq.so.5 lacks {} ({e}); apppass needs libpq 14 or later",
                    $name
                )
            };
            // SAFETY: the symbol is looked up by its libpq name and stored
            // with the signature libpq-fe.h declares for it.
            let found = unsafe { lib.get(concat!($name, "\0").as_bytes()) };
            let s: Symbol<'_, _> = found.map_err(lacks)?;
            *s
        }};
    }
    Ok(Api {
        connectdb_params: sym!("PQconnectdbParams"),
        status: sym!("PQstatus"),
        error_message: sym!("PQerrorMessage"),
        finish: sym!("PQfinish"),
        socket: sym!("PQsocket"),
        send_query_params: sym!("PQsendQueryParams"),
        send_prepare: sym!("PQsendPrepare"),
        send_query_prepared: sym!("PQsendQueryPrepared"),
        enter_pipeline_mode: sym!("PQenterPipelineMode"),
        exit_pipeline_mode: sym!("PQexitPipelineMode"),
        pipeline_sync: sym!("PQpipelineSync"),
        consume_input: sym!("PQconsumeInput"),
        is_busy: sym!("PQisBusy"),
        get_result: sym!("PQgetResult"),
        result_status: sym!("PQresultStatus"),
        result_error_field: sym!("PQresultErrorField"),
        ntuples: sym!("PQntuples"),
        nfields: sym!("PQnfields"),
        fname: sym!("PQfname"),
        getvalue: sym!("PQgetvalue"),
        getisnull: sym!("PQgetisnull"),
        clear: sym!("PQclear"),
        transaction_status: sym!("PQtransactionStatus"),
        conninfo_parse: sym!("PQconninfoParse"),
        conninfo_free: sym!("PQconninfoFree"),
        freemem: sym!("PQfreemem"),
        notifies: sym!("PQnotifies"),
        set_notice_processor: sym!("PQsetNoticeProcessor"),
        _lib: lib,
    })
}

/// A C string from libpq, copied; empty for NULL.
pub(crate) fn text(p: *const c_char) -> String {
    if p.is_null() {
        return String::new();
    }
    // SAFETY: libpq returns NUL-terminated strings that live at least as
    // long as the object they came from, which the caller still holds.
    unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned()
}

/// The keywords of `conninfo` that may be shown (host, hostaddr, port,
/// user, dbname), as libpq reads them, without connecting. `None` when
/// libpq cannot be loaded or rejects the string: its message then quotes
/// the string (a badly quoted password, say), so it is never passed on.
pub fn parse_conninfo(conninfo: &Conninfo) -> Option<HashMap<String, String>> {
    let mut out = HashMap::new();
    let api = api().ok()?;
    let source = zeroize::Zeroizing::new(CString::new(conninfo.expose()).ok()?);
    let mut err: *mut std::ffi::c_char = std::ptr::null_mut();
    // SAFETY: a NUL-terminated string and a place for the error message.
    let opts = unsafe { (api.conninfo_parse)(source.as_ptr(), &mut err) };
    if !err.is_null() {
        // SAFETY: libpq allocated the message; it is freed with PQfreemem.
        unsafe { (api.freemem)(err.cast()) };
    }
    if opts.is_null() {
        return None;
    }
    let mut i = 0;
    loop {
        // SAFETY: the array ends with an entry whose keyword is NULL.
        let o = unsafe { &*opts.add(i) };
        if o.keyword.is_null() {
            break;
        }
        if !o.val.is_null() {
            let key = text(o.keyword);
            // Only what may be shown: never the password or the like.
            if matches!(
                key.as_str(),
                "host" | "hostaddr" | "port" | "user" | "dbname"
            ) {
                out.insert(key, text(o.val));
            }
        }
        i += 1;
    }
    // SAFETY: the array came from PQconninfoParse.
    unsafe { (api.conninfo_free)(opts) };
    Some(out)
}
