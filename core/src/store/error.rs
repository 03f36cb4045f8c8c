use std::fmt;
use std::io;
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
    /// The operating system refused access: not root, not the owner.
    PermissionDenied {
        path: PathBuf,
    },
    ReadOnlyFileSystem {
        path: PathBuf,
    },
    NoSpace {
        path: PathBuf,
    },
    /// A directory on the way to `path` does not exist.
    NoDirectory {
        path: PathBuf,
    },
    /// A directory on the way to `path` is a symbolic link.
    LinkInPath {
        path: PathBuf,
        link: PathBuf,
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
    /// The key is missing and fingerprints depend on it.
    KeyLost {
        path: PathBuf,
    },
    /// `init --new-key` while a key file is there.
    KeyPresent {
        path: PathBuf,
    },
    /// The key file beside the store is not the one the store was made with.
    KeyMismatch {
        key: PathBuf,
        db: PathBuf,
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
        match err.sqlite_error_code() {
            Some(ErrorCode::NotADatabase) | Some(ErrorCode::DatabaseCorrupt) => {
                StoreError::Corrupt {
                    path: path.to_path_buf(),
                    detail: err.to_string(),
                }
            }
            Some(ErrorCode::DatabaseBusy) | Some(ErrorCode::DatabaseLocked) => StoreError::Busy {
                path: path.to_path_buf(),
            },
            Some(ErrorCode::DiskFull) => StoreError::NoSpace {
                path: path.to_path_buf(),
            },
            // SQLite says "unable to open database file" or "attempt to
            // write a readonly database" whatever the cause: find it.
            Some(ErrorCode::CannotOpen)
            | Some(ErrorCode::PermissionDenied)
            | Some(ErrorCode::ReadOnly)
            | Some(ErrorCode::SystemIoFailure) => {
                diagnose(path).unwrap_or(StoreError::Unreadable {
                    path: path.to_path_buf(),
                    detail: err.to_string(),
                })
            }
            _ => StoreError::Sqlite {
                detail: format!("{}: {err}", path.display()),
            },
        }
    }

    /// An I/O error on `path`, told by its cause.
    pub(crate) fn io(path: &Path, err: &io::Error) -> Self {
        let path_buf = path.to_path_buf();
        match err.raw_os_error() {
            Some(libc::EACCES) | Some(libc::EPERM) => {
                StoreError::PermissionDenied { path: path_buf }
            }
            Some(libc::EROFS) => StoreError::ReadOnlyFileSystem { path: path_buf },
            Some(libc::ENOSPC) | Some(libc::EDQUOT) => StoreError::NoSpace { path: path_buf },
            Some(libc::EEXIST) => StoreError::Exists { path: path_buf },
            Some(libc::ELOOP) => StoreError::Unsafe {
                path: path_buf,
                detail: "it is a symbolic link; point at the real path".into(),
            },
            Some(libc::ENOENT) | Some(libc::ENOTDIR) => {
                diagnose(path).unwrap_or(StoreError::Missing { path: path_buf })
            }
            _ => StoreError::Unreadable {
                path: path_buf,
                detail: err.to_string(),
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
            StoreError::Unreadable { path, detail } => {
                write!(f, "cannot use {}: {detail}", path.display())
            }
            StoreError::PermissionDenied { path } => write!(
                f,
                "permission denied on {}: run apppass as root or as the store's owner",
                path.display()
            ),
            StoreError::ReadOnlyFileSystem { path } => write!(
                f,
                "{} is on a read-only file system; remount it read-write to make changes",
                path.display()
            ),
            StoreError::NoSpace { path } => write!(
                f,
                "the file system holding {} is full; free some space and try again (nothing was changed)",
                path.display()
            ),
            StoreError::NoDirectory { path } => write!(
                f,
                "the directory {} does not exist; create it first",
                path.display()
            ),
            StoreError::LinkInPath { path, link } => write!(
                f,
                "{} is reached through the symbolic link {}; give the real path instead",
                path.display(),
                link.display()
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
            StoreError::KeyLost { path } => write!(
                f,
                "the key file {} is missing and primary-password fingerprints depend on it; restore it from the backup taken with the store, or, if it is lost for good, run 'apppass init --new-key' (it revokes the app passwords of the users whose fingerprint can no longer be checked)",
                path.display()
            ),
            StoreError::KeyPresent { path } => write!(
                f,
                "--new-key makes a key only where none is left, and {} exists; move it aside first if it really is the wrong key",
                path.display()
            ),
            StoreError::KeyMismatch { key, db } => write!(
                f,
                "the key file {} does not belong to the store {} (it was made for another store); put back the key saved with this store (apppass backup writes it beside the copy), or, if that key is lost for good, move {} aside and run 'apppass init --new-key'",
                key.display(),
                db.display(),
                key.display()
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

/// The cause of a failed open found in the file system itself: a symbolic
/// link or a missing directory on the way, a read-only or full file
/// system, or missing permission. `None` when none of these holds.
fn diagnose(path: &Path) -> Option<StoreError> {
    let owned = |p: &Path| p.to_path_buf();
    let absolute = if path.is_absolute() {
        path.to_path_buf()
    } else {
        std::env::current_dir().ok()?.join(path)
    };
    let mut walked = PathBuf::new();
    let parent = absolute.parent()?;
    for part in parent.components() {
        walked.push(part);
        match std::fs::symlink_metadata(&walked) {
            Ok(m) if m.file_type().is_symlink() => {
                return Some(StoreError::LinkInPath {
                    path: owned(path),
                    link: walked,
                })
            }
            Ok(m) if !m.is_dir() => break,
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Some(StoreError::NoDirectory { path: walked })
            }
            Err(_) => break,
        }
    }
    if crate::sys::read_only_fs(parent) {
        return Some(StoreError::ReadOnlyFileSystem { path: owned(path) });
    }
    let target = if absolute.exists() {
        absolute.as_path()
    } else {
        parent
    };
    match crate::sys::writable(target) {
        Err(e) if e.raw_os_error() == Some(libc::EACCES) => {
            Some(StoreError::PermissionDenied { path: owned(path) })
        }
        Err(e) if e.raw_os_error() == Some(libc::EROFS) => {
            Some(StoreError::ReadOnlyFileSystem { path: owned(path) })
        }
        _ => None,
    }
}
