use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

/// The underlying error a backend reports, kept whole for `source()`.
pub type Cause = Box<dyn std::error::Error + Send + Sync>;

/// Why the store could not be used. Every variant means "store unavailable
/// or refused": `PAM_AUTHINFO_UNAVAIL` in the module, exit code 3 in the CLI.
///
/// File variants name a path; the others name the store as
/// [`crate::store::Store::describe`] does (a path, or PostgreSQL host and
/// port, never a conninfo). Messages say what is wrong and never how a
/// particular front end is told where the store is: the front end adds that
/// from [`StoreError::hint`].
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
        target: String,
        source: Cause,
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
        target: String,
        source: Cause,
    },
    NotInitialised {
        target: String,
    },
    UnknownVersion {
        target: String,
        found: i64,
        known: i64,
    },
    Outdated {
        target: String,
        found: i64,
        known: i64,
    },
    /// The file or database holds something else than an apppass store.
    Foreign {
        target: String,
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
        target: String,
    },
    Busy {
        target: String,
    },
    /// `restore` found something in the backup that `apppass backup`
    /// never writes: `found` reads after "holds".
    BackupRefused {
        backup: PathBuf,
        found: String,
    },
    Exists {
        path: PathBuf,
    },
    /// The database server could not be reached, did not answer in time,
    /// or refused the connection (credentials, TLS).
    Unreachable {
        target: String,
        source: Cause,
    },
    /// The server refused an operation to this role (missing privilege).
    Forbidden {
        target: String,
        source: Cause,
    },
    /// Anything else the backend reported.
    Backend {
        target: String,
        source: Cause,
    },
}

/// What a front end should add to a message: how *it* is pointed at the
/// store or given the rights it lacks. The CLI says `--db`/`--config`, the
/// module `db=`/`config=`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hint {
    /// The wrong store was named.
    PointAtStore,
    /// The caller lacks the rights: run as root or as the store's owner.
    Privilege,
}

impl StoreError {
    /// Corruption deserves LOG_ALERT: someone must look at the machine.
    pub fn is_corruption(&self) -> bool {
        matches!(
            self,
            StoreError::Corrupt { .. } | StoreError::Foreign { .. }
        )
    }

    /// A store of schema version `found` for an apppass that knows
    /// `known`: newer is refused (upgrade apppass), older needs `init`.
    pub fn check_version(target: &str, found: i64, known: i64) -> Result<(), StoreError> {
        let target = target.to_owned();
        match found.cmp(&known) {
            std::cmp::Ordering::Greater => Err(StoreError::UnknownVersion {
                target,
                found,
                known,
            }),
            std::cmp::Ordering::Less => Err(StoreError::Outdated {
                target,
                found,
                known,
            }),
            std::cmp::Ordering::Equal => Ok(()),
        }
    }

    /// What the front end should add to [`fmt::Display`]'s sentence.
    pub fn hint(&self) -> Option<Hint> {
        match self {
            StoreError::Foreign { .. } => Some(Hint::PointAtStore),
            StoreError::PermissionDenied { .. } => Some(Hint::Privilege),
            _ => None,
        }
    }

    /// An I/O error on `path`, told by its cause.
    pub fn io(path: &Path, err: &io::Error) -> Self {
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
                target: path.display().to_string(),
                source: Box::new(io::Error::new(err.kind(), err.to_string())),
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
            StoreError::Unreadable { target, source } => {
                write!(f, "cannot use {target}: {source}")
            }
            StoreError::PermissionDenied { path } => {
                write!(f, "permission denied on {}", path.display())
            }
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
            StoreError::Corrupt { target, source } => write!(
                f,
                "the store {target} is corrupt ({source}); restore it from a backup"
            ),
            StoreError::NotInitialised { target } => write!(
                f,
                "{target} is not an initialised apppass store; run 'apppass init'"
            ),
            StoreError::UnknownVersion {
                target,
                found,
                known,
            } => write!(
                f,
                "the store {target} has schema version {found}, newer than this apppass knows ({known}); upgrade apppass"
            ),
            StoreError::Outdated {
                target,
                found,
                known,
            } => write!(
                f,
                "the store {target} has schema version {found}; run 'apppass init' to migrate it to version {known}"
            ),
            StoreError::Foreign { target } => {
                write!(f, "{target} is a database but not an apppass store")
            }
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
            StoreError::KeyMismatch { key, target } => write!(
                f,
                "the key file {} does not belong to the store {target} (it was made for another store); put back the key saved with this store (apppass backup writes it beside the copy), or, if that key is lost for good, move {} aside and run 'apppass init --new-key'",
                key.display(),
                key.display()
            ),
            StoreError::KeyInvalid { path, detail } => write!(f, "the key file {} is invalid: {detail}", path.display()),
            StoreError::Busy { target } => write!(
                f,
                "the store {target} stayed locked by another process; try again"
            ),
            StoreError::BackupRefused { backup, found } => write!(
                f,
                "the backup {} holds {found}; restore only backups made by 'apppass backup'",
                backup.display()
            ),
            StoreError::Exists { path } => write!(
                f,
                "{} already exists; choose a new file name so nothing is overwritten",
                path.display()
            ),
            StoreError::Unreachable { target, source } => {
                write!(f, "cannot reach the store {target}: {source}")
            }
            StoreError::Forbidden { target, source } => write!(
                f,
                "the store {target} refused this role ({source}); run 'apppass init' with admin_conninfo to grant the login role its rights"
            ),
            StoreError::Backend { target, source } => {
                write!(f, "store error on {target}: {source}")
            }
        }
    }
}

impl std::error::Error for StoreError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            StoreError::Unreadable { source, .. }
            | StoreError::Corrupt { source, .. }
            | StoreError::Unreachable { source, .. }
            | StoreError::Forbidden { source, .. }
            | StoreError::Backend { source, .. } => Some(source.as_ref()),
            _ => None,
        }
    }
}

/// The cause of a failed open found in the file system itself: a symbolic
/// link or a missing directory on the way, a read-only or full file
/// system, or missing permission. `None` when none of these holds.
pub fn diagnose(path: &Path) -> Option<StoreError> {
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
    // SQLite says "disk I/O error" when it cannot grow its -shm file.
    if crate::sys::full_fs(parent) {
        return Some(StoreError::NoSpace { path: owned(path) });
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
