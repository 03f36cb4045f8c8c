use std::fmt;
use std::path::{Path, PathBuf};

/// Why the store could not be used. Every variant means "store unavailable
/// or refused": `PAM_AUTHINFO_UNAVAIL` in the module, exit code 3 in the CLI.
#[derive(Debug)]
pub enum StoreError {
    Missing {
        path: PathBuf,
    },
    Unsafe {
        path: PathBuf,
        detail: String,
    },
    Unreadable {
        path: PathBuf,
        detail: String,
    },
    Corrupt {
        path: PathBuf,
        detail: String,
    },
    NotInitialised {
        path: PathBuf,
    },
    UnknownVersion {
        path: PathBuf,
        found: i64,
        known: i64,
    },
    Outdated {
        path: PathBuf,
        found: i64,
        known: i64,
    },
    Foreign {
        path: PathBuf,
    },
    KeyMissing {
        path: PathBuf,
    },
    KeyInvalid {
        path: PathBuf,
        detail: String,
    },
    Busy {
        path: PathBuf,
    },
    Exists {
        path: PathBuf,
    },
    Sqlite {
        detail: String,
    },
}

impl StoreError {
    /// Corruption deserves LOG_ALERT: someone must look at the machine.
    pub fn is_corruption(&self) -> bool {
        matches!(
            self,
            StoreError::Corrupt { .. } | StoreError::Foreign { .. }
        )
    }

    pub(crate) fn sqlite(path: &Path, err: rusqlite::Error) -> Self {
        use rusqlite::ErrorCode;
        let path = path.to_path_buf();
        match err.sqlite_error_code() {
            Some(ErrorCode::NotADatabase) | Some(ErrorCode::DatabaseCorrupt) => {
                StoreError::Corrupt {
                    path,
                    detail: err.to_string(),
                }
            }
            Some(ErrorCode::DatabaseBusy) | Some(ErrorCode::DatabaseLocked) => {
                StoreError::Busy { path }
            }
            Some(ErrorCode::CannotOpen)
            | Some(ErrorCode::PermissionDenied)
            | Some(ErrorCode::ReadOnly) => StoreError::Unreadable {
                path,
                detail: err.to_string(),
            },
            _ => StoreError::Sqlite {
                detail: format!("{}: {err}", path.display()),
            },
        }
    }
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreError::Missing { path } => write!(
                f,
                "the store {} does not exist; create it with 'apppass init'",
                path.display()
            ),
            StoreError::Unsafe { path, detail } => write!(f, "refusing {}: {detail}", path.display()),
            StoreError::Unreadable { path, detail } => write!(
                f,
                "cannot open {}: {detail} (apppass must run as root or as the store's owner)",
                path.display()
            ),
            StoreError::Corrupt { path, detail } => write!(
                f,
                "the store {} is corrupt ({detail}); restore it from a backup",
                path.display()
            ),
            StoreError::NotInitialised { path } => write!(
                f,
                "{} is not an initialised apppass store; run 'apppass init'",
                path.display()
            ),
            StoreError::UnknownVersion { path, found, known } => write!(
                f,
                "the store {} has schema version {found}, newer than this apppass knows ({known}); upgrade apppass",
                path.display()
            ),
            StoreError::Outdated { path, found, known } => write!(
                f,
                "the store {} has schema version {found}; run 'apppass init' to migrate it to version {known}",
                path.display()
            ),
            StoreError::Foreign { path } => write!(
                f,
                "{} is an SQLite database but not an apppass store; point --db at the right file",
                path.display()
            ),
            StoreError::KeyMissing { path } => write!(
                f,
                "the key file {} is missing; restore it from the backup taken with the store",
                path.display()
            ),
            StoreError::KeyInvalid { path, detail } => write!(f, "the key file {} is invalid: {detail}", path.display()),
            StoreError::Busy { path } => write!(
                f,
                "the store {} stayed locked by another process; try again",
                path.display()
            ),
            StoreError::Exists { path } => write!(
                f,
                "{} already exists; choose a new file name so nothing is overwritten",
                path.display()
            ),
            StoreError::Sqlite { detail } => write!(f, "store error: {detail}"),
        }
    }
}

impl std::error::Error for StoreError {}
