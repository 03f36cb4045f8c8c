//! One libpq connection: connect with a bounded wait, run a statement with
//! text parameters under a deadline, read text results. Every failure comes
//! back as core's `StoreError`, naming the server, never the conninfo.

use crate::libpq::{self, Api, PGconn, PGresult};
use apppass_core::config::Conninfo;
use apppass_core::store::StoreError;
use std::ffi::{c_char, c_int, CString};
use std::fmt;
use std::time::{Duration, Instant};
use zeroize::Zeroizing;

/// What libpq or the server said, kept as the error's `source()`.
#[derive(Debug)]
pub struct PgError {
    pub sqlstate: Option<String>,
    pub message: String,
}

impl fmt::Display for PgError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // libpq ends its messages with a newline and may hold several lines.
        let one_line = self
            .message
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ");
        f.write_str(&apppass_core::escape::for_message(&one_line))
    }
}

impl std::error::Error for PgError {}

pub struct Conn {
    api: &'static Api,
    raw: *mut PGconn,
    /// How the store is named in messages: "PostgreSQL at HOST:PORT".
    pub target: String,
    /// The longest a statement may take before the connection is given up.
    pub deadline: Duration,
    /// A statement timed out or the link broke: never reuse.
    pub broken: bool,
}

/// A statement's rows, as text (`None` for NULL).
pub struct Rows(pub Vec<Vec<Option<String>>>);

fn classify(target: &str, err: PgError) -> StoreError {
    let source = Box::new(err);
    match source.sqlstate.as_deref() {
        // insufficient_privilege
        Some("42501") => StoreError::Forbidden {
            target: target.into(),
            source,
        },
        // undefined_table / undefined_function / invalid_schema_name: no
        // apppass schema here.
        Some("42P01") | Some("3F000") => StoreError::NotInitialised {
            target: target.into(),
        },
        // connection exceptions, admin shutdown, cannot connect now, a
        // standby refusing writes
        Some(s) if s.starts_with("08") || s.starts_with("57") || s == "25006" => {
            StoreError::Unreachable {
                target: target.into(),
                source,
            }
        }
        // serialization_failure, deadlock_detected, lock_not_available
        Some("40001") | Some("40P01") | Some("55P03") => StoreError::Busy {
            target: target.into(),
        },
        Some("XX001") | Some("XX002") => StoreError::Corrupt {
            target: target.into(),
            source,
        },
        _ => StoreError::Backend {
            target: target.into(),
            source,
        },
    }
}

impl Conn {
    /// Connects, waiting at most `connect_timeout` seconds per host unless
    /// the conninfo says otherwise (its own value wins).
    pub fn connect(
        conninfo: &Conninfo,
        default_timeout_secs: u32,
        target: &str,
        deadline: Duration,
    ) -> Result<Conn, StoreError> {
        let api = libpq::api().map_err(|e| StoreError::Unreachable {
            target: target.into(),
            source: e.into(),
        })?;
        let bad = |message: String| StoreError::Unreachable {
            target: target.into(),
            source: Box::new(PgError {
                sqlstate: None,
                message,
            }),
        };
        // libpq's complaint about a malformed string quotes it (a badly
        // quoted password, say): check it first and say only that much.
        if libpq::parse_conninfo(conninfo).is_none() {
            return Err(bad(
                "the conninfo is not a valid libpq connection string (a value with spaces must be in single quotes)".into(),
            ));
        }
        let conninfo = Zeroizing::new(
            CString::new(conninfo.expose())
                .map_err(|_| bad("the conninfo holds a NUL byte".into()))?,
        );
        let timeout = CString::new(default_timeout_secs.to_string()).unwrap_or_default();
        let application = c"apppass";
        // Earlier entries are defaults the expanded dbname (the conninfo)
        // may override; a null keyword ends the list.
        let keywords: [*const c_char; 4] = [
            c"connect_timeout".as_ptr(),
            c"application_name".as_ptr(),
            c"dbname".as_ptr(),
            std::ptr::null(),
        ];
        let values: [*const c_char; 4] = [
            timeout.as_ptr(),
            application.as_ptr(),
            conninfo.as_ptr(),
            std::ptr::null(),
        ];
        // SAFETY: both arrays are null-terminated and their strings outlive
        // the call; expand_dbname = 1 makes libpq parse the conninfo.
        let raw = unsafe { (api.connectdb_params)(keywords.as_ptr(), values.as_ptr(), 1) };
        if raw.is_null() {
            return Err(bad("libpq could not allocate a connection".into()));
        }
        // libpq prints server notices on stderr by default: inside a PAM
        // host that is someone else's log. They carry nothing apppass needs.
        // SAFETY: raw is a live handle; the processor ignores its arguments.
        unsafe { (api.set_notice_processor)(raw, Some(ignore_notice), std::ptr::null_mut()) };
        let conn = Conn {
            api,
            raw,
            target: target.into(),
            deadline,
            broken: false,
        };
        // SAFETY: raw is a live connection handle owned by `conn`.
        if unsafe { (api.status)(raw) } != libpq::CONNECTION_OK {
            // SAFETY: as above.
            let message = libpq::text(unsafe { (api.error_message)(raw) });
            return Err(StoreError::Unreachable {
                target: target.into(),
                source: Box::new(PgError {
                    sqlstate: None,
                    message,
                }),
            });
        }
        Ok(conn)
    }

    /// Whether the connection can take a statement now: libpq says it is
    /// up, no transaction is open, and the server has sent nothing unasked
    /// (a termination notice, or the end of the stream).
    pub fn healthy(&self) -> bool {
        if self.broken {
            return false;
        }
        // SAFETY: self.raw is live for the life of self.
        let up = unsafe { (self.api.status)(self.raw) } == libpq::CONNECTION_OK;
        // SAFETY: as above.
        let ok = up && unsafe { (self.api.transaction_status)(self.raw) } == libpq::PQTRANS_IDLE;
        if !ok {
            return false;
        }
        let mut pfd = libc::pollfd {
            fd: self.socket(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd, zero timeout.
        let n = unsafe { libc::poll(&mut pfd, 1, 0) };
        n == 0
    }

    pub fn socket(&self) -> c_int {
        // SAFETY: self.raw is live for the life of self.
        unsafe { (self.api.socket)(self.raw) }
    }

    /// Runs one statement with text parameters and returns its rows.
    pub fn exec(&mut self, sql: &str, params: &[Option<&str>]) -> Result<Rows, StoreError> {
        let result = self.exec_raw(sql, params);
        if let Err(e) = &result {
            if matches!(e, StoreError::Unreachable { .. }) {
                self.broken = true;
            }
        }
        result
    }

    fn fail(&self, sqlstate: Option<String>, message: String) -> StoreError {
        classify(&self.target, PgError { sqlstate, message })
    }

    fn conn_error(&self) -> StoreError {
        // SAFETY: self.raw is live for the life of self.
        let message = libpq::text(unsafe { (self.api.error_message)(self.raw) });
        StoreError::Unreachable {
            target: self.target.clone(),
            source: Box::new(PgError {
                sqlstate: None,
                message,
            }),
        }
    }

    fn exec_raw(&mut self, sql: &str, params: &[Option<&str>]) -> Result<Rows, StoreError> {
        let api = self.api;
        let sql_c = CString::new(sql).map_err(|_| self.fail(None, "NUL in statement".into()))?;
        let owned: Vec<Option<Zeroizing<CString>>> = params
            .iter()
            .map(|p| {
                p.map(|v| CString::new(v).map(Zeroizing::new))
                    .transpose()
                    .map_err(|_| self.fail(None, "a value holds a NUL byte".into()))
            })
            .collect::<Result<_, _>>()?;
        let ptrs: Vec<*const c_char> = owned
            .iter()
            .map(|p| p.as_ref().map_or(std::ptr::null(), |c| c.as_ptr()))
            .collect();
        // SAFETY: the statement and every parameter are NUL-terminated and
        // outlive the call; null types, lengths and formats mean "text".
        let sent = unsafe {
            (api.send_query_params)(
                self.raw,
                sql_c.as_ptr(),
                ptrs.len() as c_int,
                std::ptr::null(),
                ptrs.as_ptr(),
                std::ptr::null(),
                std::ptr::null(),
                0,
            )
        };
        if sent != 1 {
            self.broken = true;
            return Err(self.conn_error());
        }
        let started = Instant::now();
        loop {
            // SAFETY: self.raw is live for the life of self.
            if unsafe { (api.consume_input)(self.raw) } != 1 {
                self.broken = true;
                return Err(self.conn_error());
            }
            // SAFETY: as above.
            if unsafe { (api.is_busy)(self.raw) } == 0 {
                break;
            }
            let left = self.deadline.saturating_sub(started.elapsed());
            if left.is_zero() {
                self.broken = true;
                return Err(StoreError::Unreachable {
                    target: self.target.clone(),
                    source: format!("no answer within {} s", self.deadline.as_secs()).into(),
                });
            }
            let mut pfd = libc::pollfd {
                fd: self.socket(),
                events: libc::POLLIN,
                revents: 0,
            };
            let ms = left.as_millis().min(i32::MAX as u128) as c_int;
            // SAFETY: one valid pollfd.
            let n = unsafe { libc::poll(&mut pfd, 1, ms.max(1)) };
            if n < 0 && std::io::Error::last_os_error().kind() != std::io::ErrorKind::Interrupted {
                self.broken = true;
                return Err(self.conn_error());
            }
        }
        let mut rows = Rows(Vec::new());
        let mut failure = None;
        loop {
            // SAFETY: as above; each result is cleared once read.
            let res = unsafe { (api.get_result)(self.raw) };
            if res.is_null() {
                break;
            }
            let outcome = self.read(res);
            // SAFETY: res came from PQgetResult and is not used again.
            unsafe { (api.clear)(res) };
            match outcome {
                Ok(r) => rows = r,
                Err(e) => {
                    failure.get_or_insert(e);
                }
            }
        }
        match failure {
            Some(e) => Err(e),
            None => Ok(rows),
        }
    }

    fn read(&self, res: *mut PGresult) -> Result<Rows, StoreError> {
        let api = self.api;
        // SAFETY: (here and below, "see above") res is a live result until the caller
        // clears it, and row and column indexes stay within PQntuples and
        // PQnfields.
        let status = unsafe { (api.result_status)(res) };
        if status != libpq::PGRES_TUPLES_OK && status != libpq::PGRES_COMMAND_OK {
            // SAFETY: see above.
            let state = unsafe { (api.result_error_field)(res, libpq::PG_DIAG_SQLSTATE) };
            // SAFETY: see above.
            let primary = unsafe { (api.result_error_field)(res, libpq::PG_DIAG_MESSAGE_PRIMARY) };
            let (state, message) = (libpq::text(state), libpq::text(primary));
            let message = if message.is_empty() {
                self.conn_error().to_string()
            } else {
                message
            };
            return Err(self.fail((!state.is_empty()).then_some(state), message));
        }
        // SAFETY: see above.
        let n = unsafe { (api.ntuples)(res) };
        // SAFETY: see above.
        let cols = unsafe { (api.nfields)(res) };
        let mut out = Vec::with_capacity(n.max(0) as usize);
        for r in 0..n {
            let row = (0..cols)
                .map(|c| {
                    // SAFETY: see above.
                    if unsafe { (api.getisnull)(res, r, c) } == 1 {
                        None
                    } else {
                        // SAFETY: see above.
                        Some(libpq::text(unsafe { (api.getvalue)(res, r, c) }))
                    }
                })
                .collect();
            out.push(row);
        }
        Ok(Rows(out))
    }
}

unsafe extern "C" fn ignore_notice(_: *mut std::ffi::c_void, _: *const c_char) {}

impl Drop for Conn {
    fn drop(&mut self) {
        // SAFETY: the handle is ours and not used again.
        unsafe { (self.api.finish)(self.raw) };
    }
}
