//! One libpq connection: connect with a bounded wait, run a statement with
//! text parameters under a deadline, read text results. Every failure comes
//! back as core's `StoreError`, naming the server, never the conninfo.

use crate::libpq::{self, Api, PGconn, PGresult};
use apppass_core::config::Conninfo;
use apppass_core::store::StoreError;
use std::ffi::{c_char, c_int, CStr, CString};
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
    /// A statement timed out, the link broke or a pipeline failed: never
    /// reuse.
    pub broken: bool,
    /// The statements prepared on this connection, by name.
    prepared: Vec<&'static CStr>,
    /// Whether statements are prepared and run by name (see
    /// [`Conn::pipeline`]).
    by_name: bool,
}

/// Whether the server did not know a statement's name, or knew it
/// already: a pooler moved this connection to another server session.
fn names_lost(result: &Result<Rows, StoreError>) -> bool {
    let Err(StoreError::Backend { source, .. }) = result else {
        return false;
    };
    source
        .downcast_ref::<PgError>()
        .and_then(|e| e.sqlstate.as_deref())
        // invalid_sql_statement_name, duplicate_prepared_statement
        .is_some_and(|state| state == "26000" || state == "42P05")
}

/// A statement a connection prepares once, under its own name, and then
/// runs by name (see [`Conn::pipeline`]).
pub struct Prepared {
    pub name: &'static CStr,
    pub sql: &'static CStr,
}

/// A statement's text parameters as C strings, zeroized when dropped (a
/// parameter may be a user name or a hash).
struct Values(Vec<Option<Zeroizing<CString>>>);

impl Values {
    /// The pointers libpq takes: null for SQL NULL.
    fn pointers(&self) -> Vec<*const c_char> {
        self.0
            .iter()
            .map(|p| p.as_ref().map_or(std::ptr::null(), |c| c.as_ptr()))
            .collect()
    }
}

/// A statement's rows, as text (`None` for NULL), with its columns'
/// names: a value is read by its column's name, never by position, so a
/// column added to or moved in a `SELECT` cannot shift which value lands
/// where.
pub struct Rows {
    /// The result's column names, in the order of each row's values.
    pub columns: Vec<String>,
    pub rows: Vec<Vec<Option<String>>>,
}

impl Rows {
    fn empty() -> Rows {
        Rows {
            columns: Vec::new(),
            rows: Vec::new(),
        }
    }

    /// Where the column `name` is in each row: a search of the names
    /// copied from the result, with no call into libpq.
    pub fn column(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|c| c == name)
    }

    /// The first row's value in the column `name`: `None` for no row, no
    /// such column, or NULL.
    pub fn first(&self, name: &str) -> Option<&str> {
        let i = self.column(name)?;
        self.rows.first()?.get(i)?.as_deref()
    }
}

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
            prepared: Vec::new(),
            by_name: true,
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

    /// Waits up to `timeout` for a notification (after `LISTEN`): whether
    /// one came. The notifications are read and dropped: they only say to
    /// look. The server gone is an error, and the connection is given up.
    pub fn wait_notification(&mut self, timeout: Duration) -> Result<bool, StoreError> {
        if self.broken {
            return Err(StoreError::Unreachable {
                target: self.target.clone(),
                source: "the connection was given up after an earlier failure".into(),
            });
        }
        if self.drain_notifications() {
            return Ok(true);
        }
        let mut pfd = libc::pollfd {
            fd: self.socket(),
            events: libc::POLLIN,
            revents: 0,
        };
        let ms = timeout.as_millis().min(i32::MAX as u128) as c_int;
        // SAFETY: one valid pollfd.
        let n = unsafe { libc::poll(&mut pfd, 1, ms) };
        if n < 0 {
            let e = std::io::Error::last_os_error();
            if e.kind() == std::io::ErrorKind::Interrupted {
                return Ok(false);
            }
            self.broken = true;
            return Err(self.conn_error());
        }
        if n == 0 {
            return Ok(false);
        }
        // SAFETY: self.raw is live for the life of self.
        let read = unsafe { (self.api.consume_input)(self.raw) } == 1;
        // SAFETY: as above.
        let up = unsafe { (self.api.status)(self.raw) } == libpq::CONNECTION_OK;
        if !read || !up {
            self.broken = true;
            return Err(self.conn_error());
        }
        Ok(self.drain_notifications())
    }

    /// Reads and frees the notifications libpq holds: whether there were any.
    fn drain_notifications(&mut self) -> bool {
        let mut any = false;
        loop {
            // SAFETY: self.raw is live for the life of self.
            let n = unsafe { (self.api.notifies)(self.raw) };
            if n.is_null() {
                return any;
            }
            // SAFETY: libpq allocated it for us; PQfreemem frees it.
            unsafe { (self.api.freemem)(n.cast()) };
            any = true;
        }
    }

    pub fn socket(&self) -> c_int {
        // SAFETY: self.raw is live for the life of self.
        unsafe { (self.api.socket)(self.raw) }
    }

    /// Runs one statement with text parameters and returns its rows.
    pub fn exec(&mut self, sql: &str, params: &[Option<&str>]) -> Result<Rows, StoreError> {
        if self.broken {
            return Err(StoreError::Unreachable {
                target: self.target.clone(),
                source: "the connection was given up after an earlier failure".into(),
            });
        }
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
        let sql_c = CString::new(sql).map_err(|_| self.fail(None, "NUL in statement".into()))?;
        let values = self.values(params)?;
        if let Err(e) = self.send_params(&sql_c, &values) {
            self.broken = true;
            return Err(e);
        }
        let started = Instant::now();
        self.results(started)
    }

    /// Runs `statements` in one round trip (libpq's pipeline mode). Each
    /// is prepared on this connection the first time it runs here (the
    /// prepare travels in the same round trip, just before it) and run by
    /// name after that, so the server parses and plans it once per
    /// connection. Returns each statement's rows or error, in order; once
    /// one fails the server skips the rest, which report that they were
    /// not run. A caller reads them in order and stops at the first error.
    ///
    /// A connection pooler in transaction mode (PgBouncer before 1.21)
    /// hands each transaction to any of its server sessions, where a name
    /// prepared on another is unknown (or already taken): the round trip
    /// is then made again without names, and so are later ones on this
    /// connection.
    ///
    /// Any other failure leaves the connection marked broken, so it is not
    /// kept: a later login starts on a fresh one, with nothing prepared.
    pub fn pipeline(
        &mut self,
        statements: &[(&Prepared, &[Option<&str>])],
    ) -> Result<Vec<Result<Rows, StoreError>>, StoreError> {
        let mut result = self.pipeline_raw(statements);
        if self.by_name
            && result
                .as_ref()
                .is_ok_and(|each| each.iter().any(names_lost))
        {
            self.by_name = false;
            result = self.pipeline_raw(statements);
        }
        let failed = match &result {
            Ok(each) => each.iter().any(Result::is_err),
            Err(_) => true,
        };
        if failed {
            self.broken = true;
        }
        result
    }

    fn pipeline_raw(
        &mut self,
        statements: &[(&Prepared, &[Option<&str>])],
    ) -> Result<Vec<Result<Rows, StoreError>>, StoreError> {
        let api = self.api;
        // SAFETY: self.raw is live for the life of self; no command is in
        // flight (every statement is read to its end before returning).
        if unsafe { (api.enter_pipeline_mode)(self.raw) } != 1 {
            return Err(self.conn_error());
        }
        // Parameters stay alive (and are zeroized) until everything is sent.
        let mut values = Vec::with_capacity(statements.len());
        let mut preparing = Vec::with_capacity(statements.len());
        for (p, params) in statements {
            let v = self.values(params)?;
            let prepare = self.by_name && !self.prepared.contains(&p.name);
            if prepare {
                self.send_prepare(p, params.len())?;
            }
            if self.by_name {
                self.send_prepared(p.name, &v)?;
            } else {
                self.send_params(p.sql, &v)?;
            }
            preparing.push(prepare);
            values.push(v);
        }
        // SAFETY: as above; this also sends everything queued.
        if unsafe { (api.pipeline_sync)(self.raw) } != 1 {
            return Err(self.conn_error());
        }
        drop(values);
        let started = Instant::now();
        let mut out = Vec::with_capacity(statements.len());
        for ((p, _), prepare) in statements.iter().zip(preparing) {
            let prepared = if prepare {
                self.results(started).map(|_| ())
            } else {
                Ok(())
            };
            let rows = self.results(started);
            if prepared.is_ok() && prepare {
                self.prepared.push(p.name);
            }
            out.push(prepared.and(rows));
        }
        // The sync point's own result ends the pipeline.
        self.wait(started)?;
        // SAFETY: as above.
        let sync = unsafe { (api.get_result)(self.raw) };
        if sync.is_null() {
            return Err(self.conn_error());
        }
        // SAFETY: a live result from PQgetResult, read then cleared.
        let status = unsafe { (api.result_status)(sync) };
        // SAFETY: as above.
        unsafe { (api.clear)(sync) };
        if status != libpq::PGRES_PIPELINE_SYNC {
            return Err(self.conn_error());
        }
        // SAFETY: self.raw is live; every result has been read.
        if unsafe { (api.exit_pipeline_mode)(self.raw) } != 1 {
            return Err(self.conn_error());
        }
        Ok(out)
    }

    /// Queues `sql` with `values`, unnamed: parsed and planned for this
    /// run only.
    fn send_params(&self, sql: &CStr, values: &Values) -> Result<(), StoreError> {
        let ptrs = values.pointers();
        // SAFETY: the statement and every parameter are NUL-terminated and
        // outlive the call; null types, lengths and formats mean "text".
        let sent = unsafe {
            (self.api.send_query_params)(
                self.raw,
                sql.as_ptr(),
                ptrs.len() as c_int,
                std::ptr::null(),
                ptrs.as_ptr(),
                std::ptr::null(),
                std::ptr::null(),
                0,
            )
        };
        self.sent(sent)
    }

    /// Queues the preparation of `p`, taking `params` parameters.
    fn send_prepare(&self, p: &Prepared, params: usize) -> Result<(), StoreError> {
        // SAFETY: NUL-terminated name and statement, alive for the call;
        // null parameter types let the server infer them.
        let sent = unsafe {
            (self.api.send_prepare)(
                self.raw,
                p.name.as_ptr(),
                p.sql.as_ptr(),
                params as c_int,
                std::ptr::null(),
            )
        };
        self.sent(sent)
    }

    /// Queues a run of the statement prepared as `name`.
    fn send_prepared(&self, name: &CStr, values: &Values) -> Result<(), StoreError> {
        let ptrs = values.pointers();
        // SAFETY: the name and every parameter are NUL-terminated and
        // outlive the call; null lengths and formats mean "text".
        let sent = unsafe {
            (self.api.send_query_prepared)(
                self.raw,
                name.as_ptr(),
                ptrs.len() as c_int,
                ptrs.as_ptr(),
                std::ptr::null(),
                std::ptr::null(),
                0,
            )
        };
        self.sent(sent)
    }

    /// libpq's answer to a send: 1 when queued.
    fn sent(&self, answer: c_int) -> Result<(), StoreError> {
        if answer == 1 {
            Ok(())
        } else {
            Err(self.conn_error())
        }
    }

    /// Parameters as C strings (zeroized when dropped: they may hold a
    /// user name or a hash).
    fn values(&self, params: &[Option<&str>]) -> Result<Values, StoreError> {
        params
            .iter()
            .map(|p| {
                p.map(|v| CString::new(v).map(Zeroizing::new))
                    .transpose()
                    .map_err(|_| self.fail(None, "a value holds a NUL byte".into()))
            })
            .collect::<Result<_, _>>()
            .map(Values)
    }

    /// Waits, until the deadline counted from `started`, for a result to
    /// be ready to read without blocking.
    fn wait(&mut self, started: Instant) -> Result<(), StoreError> {
        let api = self.api;
        loop {
            // What arrived with an earlier statement's answer may hold this
            // one too (a pipeline's answers come together): PQisBusy parses
            // libpq's buffer without reading the socket.
            // SAFETY: self.raw is live for the life of self.
            if unsafe { (api.is_busy)(self.raw) } == 0 {
                return Ok(());
            }
            // SAFETY: as above.
            if unsafe { (api.consume_input)(self.raw) } != 1 {
                self.broken = true;
                return Err(self.conn_error());
            }
            // SAFETY: as above.
            if unsafe { (api.is_busy)(self.raw) } == 0 {
                return Ok(());
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
    }

    /// The results of one statement, up to libpq's end-of-statement null:
    /// its rows, or the first error among them.
    fn results(&mut self, started: Instant) -> Result<Rows, StoreError> {
        let api = self.api;
        let mut rows = Rows::empty();
        let mut failure = None;
        loop {
            self.wait(started)?;
            // SAFETY: self.raw is live; each result is cleared once read.
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
        if status == libpq::PGRES_PIPELINE_ABORTED {
            return Err(self.fail(
                None,
                "not run: an earlier statement of the same round trip failed".into(),
            ));
        }
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
        let columns = (0..cols)
            // SAFETY: see above; the name is copied before the result is cleared.
            .map(|c| libpq::text(unsafe { (api.fname)(res, c) }))
            .collect();
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
        Ok(Rows { columns, rows: out })
    }
}

unsafe extern "C" fn ignore_notice(_: *mut std::ffi::c_void, _: *const c_char) {}

impl Drop for Conn {
    fn drop(&mut self) {
        // SAFETY: the handle is ours and not used again.
        unsafe { (self.api.finish)(self.raw) };
    }
}
