//! The connection a long-lived host keeps between logins: one per process,
//! for one conninfo, never crossing a `fork`.

use crate::conn::Conn;
use apppass_core::config::Conninfo;
use sha2::{Digest, Sha256};
use std::sync::Mutex;

struct Kept {
    pid: u32,
    id: [u8; 32],
    conn: Conn,
}

// SAFETY: a libpq connection may move between threads as long as only one
// uses it at a time; the mutex below hands it to one store at a time.
unsafe impl Send for Kept {}

static KEPT: Mutex<Option<Kept>> = Mutex::new(None);

/// Which conninfo a kept connection was made with (a digest, so the
/// conninfo itself is not kept twice).
pub fn id(conninfo: &Conninfo) -> [u8; 32] {
    Sha256::digest(conninfo.expose().as_bytes()).into()
}

/// This process's connection for `id`, if there is a healthy one. One
/// inherited from a parent process is forgotten: its socket closed here,
/// nothing sent, so the parent's session goes on.
pub fn take(id: [u8; 32]) -> Option<Conn> {
    let mut slot = KEPT.lock().unwrap_or_else(|e| e.into_inner());
    let kept = slot.take()?;
    if kept.pid != std::process::id() {
        let fd = kept.conn.socket();
        if fd >= 0 {
            // SAFETY: the descriptor is this process's copy of the
            // inherited socket; closing it leaves the parent's open.
            unsafe { libc::close(fd) };
        }
        // Freeing the handle would write a goodbye (and a TLS close) to a
        // descriptor number that may be reused by now: leak it instead.
        std::mem::forget(kept.conn);
        return None;
    }
    (kept.id == id && kept.conn.healthy()).then_some(kept.conn)
}

/// Keeps `conn` for the next login of this process, if it is fit for one.
pub fn put(id: [u8; 32], conn: Conn) {
    if !conn.healthy() {
        return;
    }
    let mut slot = KEPT.lock().unwrap_or_else(|e| e.into_inner());
    *slot = Some(Kept {
        pid: std::process::id(),
        id,
        conn,
    });
}
