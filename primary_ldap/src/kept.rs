//! One bound connection kept per process between lookups, as Dovecot's
//! auth worker serves a hundred logins: a search on it costs about 0.1 ms
//! where a new TLS connection and bind cost about 3 ms. It is dropped when
//! the settings change, opened again once when the server dropped it, and
//! never used by a child after fork: the child closes its copy of the
//! socket and forgets the handle (an unbind would write on the parent's
//! TLS session).

use crate::lookup::{Connection, Failed, Found};
use apppass_core::config::LdapSettings;
use std::sync::{Mutex, TryLockError};
use std::time::Instant;
use zeroize::Zeroizing;

struct Kept {
    pid: u32,
    settings: LdapSettings,
    conn: Connection,
    /// When it last answered: one idle for longer is not trusted (a
    /// firewall may have dropped it silently, and a search on it would wait
    /// out the whole deadline).
    used: Instant,
}

/// How long a kept connection may sit idle before it is opened anew.
const IDLE: std::time::Duration = std::time::Duration::from_secs(60);

// SAFETY: a libldap handle may be used from any thread, one at a time; the
// mutex around it sees to that.
unsafe impl Send for Kept {}

static KEPT: Mutex<Option<Kept>> = Mutex::new(None);

/// Searches for `user` on the kept connection (opening it first when
/// there is none), with `password` read only when a bind is needed.
pub fn search(
    s: &LdapSettings,
    password: &dyn Fn() -> Result<Option<Zeroizing<Vec<u8>>>, String>,
    user: &str,
    deadline: Instant,
) -> Result<Found, String> {
    let open = || -> Result<Connection, String> {
        let pw = password()?;
        Connection::open(s, pw.as_deref().map(|p| &p[..]), deadline).map_err(Failed::why)
    };
    let mut guard = match KEPT.try_lock() {
        Ok(g) => g,
        // Another thread of this process is searching, or one panicked
        // while it held the connection: a connection of its own.
        Err(TryLockError::WouldBlock) | Err(TryLockError::Poisoned(_)) => {
            return open()?.search(s, user, deadline).map_err(Failed::why);
        }
    };
    let pid = std::process::id();
    if let Some(k) = guard.take() {
        if k.pid != pid {
            if let Some(fd) = k.conn.descriptor() {
                // SAFETY: this process's copy of the inherited socket.
                unsafe { libc::close(fd) };
            }
            std::mem::forget(k);
        } else if k.settings == *s && k.used.elapsed() < IDLE {
            *guard = Some(k);
        }
    }
    let fresh = guard.is_none();
    if fresh {
        *guard = Some(Kept {
            pid,
            settings: s.clone(),
            conn: open()?,
            used: Instant::now(),
        });
    }
    let Some(k) = guard.as_mut() else {
        return Err("the LDAP connection could not be kept".into());
    };
    let found = k.conn.search(s, user, deadline);
    if found.is_ok() {
        k.used = Instant::now();
    }
    match found {
        Err(Failed::Lost(_)) if !fresh => {
            // Dropped by the server while idle: once more, on a new one.
            *guard = None;
            let conn = open()?;
            let found = conn.search(s, user, deadline);
            if found.is_ok() {
                *guard = Some(Kept {
                    pid,
                    settings: s.clone(),
                    conn,
                    used: Instant::now(),
                });
            }
            found.map_err(Failed::why)
        }
        Err(e) => {
            *guard = None;
            Err(e.why())
        }
        Ok(found) => Ok(found),
    }
}
