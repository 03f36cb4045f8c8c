//! The connections a long-lived host keeps between logins: never crossing
//! a `fork`, at most [`MAX_KEPT`] per process. A single-threaded host
//! (Dovecot's auth worker, sshd's monitor) keeps one; a host that
//! authenticates on several threads at once keeps one per login in flight,
//! instead of connecting afresh for all but one of them.

use crate::conn::Conn;
use apppass_core::config::Conninfo;
use sha2::{Digest, Sha256};
use std::sync::Mutex;

/// The most connections one process keeps open for the next logins.
pub const MAX_KEPT: usize = 8;

struct Kept {
    pid: u32,
    id: [u8; 32],
    conn: Conn,
}

// SAFETY: a libpq connection may move between threads as long as only one
// uses it at a time; the mutex below hands each to one store at a time.
unsafe impl Send for Kept {}

static KEPT: Mutex<Vec<Kept>> = Mutex::new(Vec::new());

/// Which conninfo a kept connection was made with (a digest, so the
/// conninfo itself is not kept twice).
pub fn id(conninfo: &Conninfo) -> [u8; 32] {
    Sha256::digest(conninfo.expose().as_bytes()).into()
}

/// A connection inherited from a parent process, forgotten: its socket
/// closed here, nothing sent, so the parent's session goes on.
fn forget_inherited(kept: Kept) {
    let fd = kept.conn.socket();
    if fd >= 0 {
        // SAFETY: the descriptor is this process's copy of the inherited
        // socket; closing it leaves the parent's open.
        unsafe { libc::close(fd) };
    }
    // Freeing the handle would write a goodbye (and a TLS close) to a
    // descriptor number that may be reused by now: leak it instead.
    std::mem::forget(kept.conn);
}

/// One of this process's connections for `id`, if there is a healthy
/// one. Those inherited from a parent process are forgotten; unhealthy
/// ones (the server went away) are closed.
pub fn take(id: [u8; 32]) -> Option<Conn> {
    let pid = std::process::id();
    let (found, closed) = {
        let mut slot = KEPT.lock().unwrap_or_else(|e| e.into_inner());
        for inherited in extract(&mut slot, |k| k.pid != pid) {
            forget_inherited(inherited);
        }
        let closed = extract(&mut slot, |k| k.id == id && !k.conn.healthy());
        let found = slot
            .iter()
            .rposition(|k| k.id == id)
            .map(|i| slot.remove(i).conn);
        (found, closed)
    };
    // Closed outside the lock: a goodbye to a server may take a moment.
    drop(closed);
    found
}

/// Keeps `conn` for a later login of this process, if it is fit for one;
/// past [`MAX_KEPT`], the one kept longest is closed.
pub fn put(id: [u8; 32], conn: Conn) {
    if !conn.healthy() {
        return;
    }
    let surplus = {
        let mut slot = KEPT.lock().unwrap_or_else(|e| e.into_inner());
        slot.push(Kept {
            pid: std::process::id(),
            id,
            conn,
        });
        let over = slot.len().saturating_sub(MAX_KEPT);
        slot.drain(..over).collect::<Vec<_>>()
    };
    let pid = std::process::id();
    for old in surplus {
        if old.pid == pid {
            drop(old);
        } else {
            forget_inherited(old);
        }
    }
}

/// Takes the entries `pick` chooses out of `slot`, in order.
fn extract(slot: &mut Vec<Kept>, pick: impl Fn(&Kept) -> bool) -> Vec<Kept> {
    let (out, keep) = std::mem::take(slot).into_iter().partition(pick);
    *slot = keep;
    out
}
