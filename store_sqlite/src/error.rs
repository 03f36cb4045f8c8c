//! SQLite's errors told apart by cause, keeping the original as `source()`.

use apppass_core::store::{diagnose, StoreError};
use std::path::Path;

pub(crate) fn sqlite(path: &Path, err: rusqlite::Error) -> StoreError {
    use rusqlite::ErrorCode;
    let target = path.display().to_string();
    match err.sqlite_error_code() {
        Some(ErrorCode::NotADatabase) | Some(ErrorCode::DatabaseCorrupt) => StoreError::Corrupt {
            target,
            source: Box::new(err),
        },
        Some(ErrorCode::DatabaseBusy) | Some(ErrorCode::DatabaseLocked) => {
            StoreError::Busy { target }
        }
        Some(ErrorCode::DiskFull) => StoreError::NoSpace {
            path: path.to_path_buf(),
        },
        // SQLite says "unable to open database file" or "attempt to write a
        // readonly database" whatever the cause: find it.
        Some(ErrorCode::CannotOpen)
        | Some(ErrorCode::PermissionDenied)
        | Some(ErrorCode::ReadOnly)
        | Some(ErrorCode::SystemIoFailure) => diagnose(path).unwrap_or(StoreError::Unreadable {
            target,
            source: Box::new(err),
        }),
        _ => StoreError::Backend {
            target,
            source: Box::new(err),
        },
    }
}

/// A closure mapping rusqlite errors on `path`.
pub(crate) fn on(path: &Path) -> impl Fn(rusqlite::Error) -> StoreError + '_ {
    move |e| sqlite(path, e)
}

/// A plain-text cause, for conditions SQLite does not report as errors.
#[derive(Debug)]
pub(crate) struct Detail(pub String);

impl std::fmt::Display for Detail {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Detail {}
