//! The connection a long-lived host (Dovecot's auth worker, sshd's
//! monitor) keeps between logins: one per process, for one store file,
//! never crossing a `fork`.
//!
//! Why: while no connection is open on a WAL store, every open rebuilds
//! the `-shm` index and every close checkpoints and deletes `-wal` and
//! `-shm` — eight writes, two unlinks and a few dozen lock calls for a
//! login that reads one row. Keeping the module's connection open makes
//! a wrong password cost a read.
//!
//! What is kept: the connection alone, between statements (no transaction
//! is ever left open). The key is read again at every open, the paths are
//! checked again, and a store file replaced since (a restore that renamed
//! a copy into place) is noticed by its inode and opened afresh.

use crate::error::Detail;
use apppass_core::store::StoreError;
use rusqlite::Connection;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// Which file a connection was opened on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FileId {
    pub path: PathBuf,
    pub dev: u64,
    pub ino: u64,
}

struct Kept {
    pid: u32,
    file: FileId,
    conn: Connection,
}

static KEPT: Mutex<Option<Kept>> = Mutex::new(None);

/// This process's connection on `file`, if there is one. One inherited
/// from a parent process is abandoned, neither used nor closed: closing it
/// would checkpoint and delete the parent's `-wal`/`-shm` under it, and
/// SQLite forbids using a connection across `fork`. Its descriptors are
/// close-on-exec, and there is at most one such connection per child.
fn take(file: &FileId) -> Option<Connection> {
    let mut slot = KEPT.lock().unwrap_or_else(|e| e.into_inner());
    let kept = slot.take()?;
    if kept.pid != std::process::id() {
        std::mem::forget(kept.conn);
        return None;
    }
    // Another store, or this path's file replaced: close the old one.
    (kept.file == *file).then_some(kept.conn)
}

/// Keeps `conn` for the next login of this process, unless a transaction
/// is still open on it (an error path left it mid-way: close it instead).
fn put(file: FileId, conn: Connection) {
    if !conn.is_autocommit() {
        return;
    }
    let mut slot = KEPT.lock().unwrap_or_else(|e| e.into_inner());
    let old = slot.replace(Kept {
        pid: std::process::id(),
        file,
        conn,
    });
    drop(slot);
    if let Some(old) = old {
        if old.pid != std::process::id() {
            std::mem::forget(old.conn);
        }
    }
}

/// A store's connection: an ordinary one, or (in the module) one taken
/// from this process's slot and put back when the store is dropped.
pub(crate) struct StoreConn {
    conn: Option<Connection>,
    keep: Option<FileId>,
}

impl StoreConn {
    /// A connection closed with the store.
    pub fn plain(conn: Connection) -> Self {
        StoreConn {
            conn: Some(conn),
            keep: None,
        }
    }

    /// This process's kept connection on `file`, or a new one from `open`;
    /// either way kept again when the store is dropped.
    pub fn kept<E>(
        file: FileId,
        open: impl FnOnce(&Path) -> Result<Connection, E>,
    ) -> Result<Self, E> {
        let conn = match take(&file) {
            Some(c) => c,
            None => open(&file.path)?,
        };
        Ok(StoreConn {
            conn: Some(conn),
            keep: Some(file),
        })
    }

    /// The connection of the store on `db`. It is there from creation
    /// until drop, which takes it (the `Option` lets `drop` move it out);
    /// were it ever missing, the caller gets an error and the module
    /// refuses the login, never a panic in the host process.
    pub fn get(&self, db: &Path) -> Result<&Connection, StoreError> {
        self.conn.as_ref().ok_or_else(|| closed(db))
    }

    /// [`StoreConn::get`], to change.
    pub fn get_mut(&mut self, db: &Path) -> Result<&mut Connection, StoreError> {
        self.conn.as_mut().ok_or_else(|| closed(db))
    }
}

fn closed(db: &Path) -> StoreError {
    StoreError::Backend {
        target: db.display().to_string(),
        source: Box::new(Detail("the connection was already closed".into())),
    }
}

impl Drop for StoreConn {
    fn drop(&mut self) {
        if let (Some(file), Some(conn)) = (self.keep.take(), self.conn.take()) {
            put(file, conn);
        }
    }
}
