//! A consistent online copy of the store, with its key.

use crate::error::on;
use crate::SqliteStore;
use apppass_core::store::key::{self, key_path};
use apppass_core::store::StoreError;
use rusqlite::{Connection, OpenFlags};
use std::path::{Path, PathBuf};
use std::time::Duration;

impl SqliteStore {
    /// A consistent online copy through SQLite's backup API, plus the key
    /// beside it. Neither file may already exist, unless the key there is
    /// this very key (several backups in one directory). Both are created
    /// exclusively and without following links, so a link or a FIFO that
    /// someone put in a shared directory is refused, never written through
    /// or waited on; a copy that fails half-way is removed.
    pub fn backup(&self, dest: &Path) -> Result<PathBuf, StoreError> {
        let dest_key = key_path(dest);
        let key_already_there = match key::load(&dest_key, apppass_core::sys::euid()) {
            Ok(existing) if existing[..] == self.key[..] => true,
            Ok(_) => {
                return Err(StoreError::Unsafe {
                    path: dest_key,
                    detail: "a different key file is already there; back up into another directory"
                        .into(),
                })
            }
            Err(StoreError::KeyMissing { .. }) => false,
            Err(e) => return Err(e),
        };
        key::create_private_file(dest)?;
        let written = self.copy_into(dest);
        let written = written.and_then(|()| {
            if key_already_there {
                Ok(())
            } else {
                key::write_new(&dest_key, &self.key)
            }
        });
        if let Err(e) = written {
            for suffix in ["", "-journal", "-wal", "-shm"] {
                let _ = std::fs::remove_file(format!("{}{suffix}", dest.display()));
            }
            return Err(e);
        }
        Ok(dest_key)
    }

    fn copy_into(&self, dest: &Path) -> Result<(), StoreError> {
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NOFOLLOW;
        let mut out = Connection::open_with_flags(dest, flags).map_err(on(dest))?;
        {
            let backup = rusqlite::backup::Backup::new(self.conn.get(&self.path)?, &mut out)
                .map_err(on(dest))?;
            backup
                .run_to_completion(256, Duration::from_millis(10), None)
                .map_err(on(dest))?;
        }
        // A copy that ends up in rollback mode would be fine to read, but a
        // restored store should behave like the original.
        out.query_row("PRAGMA journal_mode = WAL", [], |r| {
            r.get::<_, String>("journal_mode")
        })
        .map_err(on(dest))?;
        Ok(())
    }
}
