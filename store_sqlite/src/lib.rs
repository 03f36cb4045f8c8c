//! The SQLite store: the default, embedded backend behind core's `Store`.
//!
//! WAL journal: many short-lived PAM processes read while the CLI writes, and
//! in WAL readers never wait for a writer. Every write is `BEGIN IMMEDIATE`
//! and one transaction, so a kill at any instant leaves the store consistent.
//!
//! Linked into the PAM module: no path here may panic inside the host
//! process. A failure is an error, and the module refuses the login.
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![forbid(unsafe_code)]

mod backup;
mod columns;
mod error;
mod kept;
mod queries;
mod restore;
pub mod schema;

pub use restore::RestoreReport;

use apppass_core::store::key::{self, key_path, Key};
use apppass_core::store::safety::{check_path, checked_metadata, Kind};
use apppass_core::store::{Opener, StoreError};
use error::{on, Detail};
use kept::{FileId, StoreConn};
use rand_core::{CryptoRng, RngCore};
use rusqlite::{Connection, OpenFlags, OptionalExtension};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Where the store is kept by default.
pub const DEFAULT_DB: &str = "/var/lib/apppass/apppass.db";

fn busy_timeout(opener: Opener) -> Duration {
    match opener {
        Opener::Module => Duration::from_secs(2),
        Opener::Admin | Opener::Watcher => Duration::from_secs(10),
    }
}

pub struct SqliteStore {
    conn: StoreConn,
    path: PathBuf,
    key: Key,
    /// Opened read-only because the file system could not be written:
    /// every write fails with this cause.
    frozen: Option<Frozen>,
}

/// Why a store could only be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Frozen {
    NoSpace,
    ReadOnlyFileSystem,
}

fn why_kind(e: &StoreError) -> Frozen {
    match e {
        StoreError::NoSpace { .. } => Frozen::NoSpace,
        _ => Frozen::ReadOnlyFileSystem,
    }
}

/// `path` for a `file:` URI: every byte but unreserved ones and `/`
/// percent-encoded.
fn uri_path(path: &Path) -> String {
    use std::os::unix::ffi::OsStrExt;
    let mut out = String::new();
    for &b in path.as_os_str().as_bytes() {
        if b.is_ascii_alphanumeric() || b"/-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// What `init` did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct InitReport {
    pub created_directory: bool,
    pub created_key: bool,
    pub created_store: bool,
    pub from_version: i64,
    pub to_version: i64,
}

/// What `init` may do beyond creating and migrating.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct InitOptions {
    /// The key is lost for good: make a new one. The caller then revokes
    /// what the old key's fingerprints protected
    /// (`apppass_core::revocation::revoke_for_new_key`).
    pub new_key: bool,
}

const KEY_CHECK: &str = "key_check";

fn parent_dir(db: &Path) -> &Path {
    db.parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
}

impl SqliteStore {
    /// Opens an existing, current store after checking its directory, the
    /// file and the key. Never creates, never migrates.
    pub fn open(db: &Path, euid: u32, opener: Opener) -> Result<Self, StoreError> {
        Self::open_with_key(db, &key_path(db), euid, opener)
    }

    /// [`SqliteStore::open`] with the key at `key_file`.
    ///
    /// On a full or read-only file system SQLite cannot create or grow the
    /// `-shm` index it needs to read a WAL store: the store is then read
    /// without it ([`SqliteStore::open_frozen`]), so logins go on and
    /// writes fail with the first error's sentence.
    pub fn open_with_key(
        db: &Path,
        key_file: &Path,
        euid: u32,
        opener: Opener,
    ) -> Result<Self, StoreError> {
        check_path(parent_dir(db), euid, Kind::Directory)?;
        let meta = checked_metadata(db, euid, Kind::File)?;
        match Self::open_live(db, key_file, &meta, euid, opener) {
            Err(e @ (StoreError::NoSpace { .. } | StoreError::ReadOnlyFileSystem { .. })) => {
                Self::open_frozen(db, key_file, euid, opener, e)
            }
            other => other,
        }
    }

    fn open_live(
        db: &Path,
        key_file: &Path,
        meta: &std::fs::Metadata,
        euid: u32,
        opener: Opener,
    ) -> Result<Self, StoreError> {
        let key = key::load(key_file, euid)?;
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_NOFOLLOW
            | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let open = |p: &Path| Connection::open_with_flags(p, flags).map_err(on(db));
        // The module keeps its connection between logins (see `kept`); the
        // CLI and the daemons open and close theirs.
        let conn = match opener {
            Opener::Module => {
                let file = FileId {
                    path: db.to_path_buf(),
                    dev: meta.dev(),
                    ino: meta.ino(),
                };
                StoreConn::kept(file, open)?
            }
            Opener::Admin | Opener::Watcher => StoreConn::plain(open(db)?),
        };
        let store = Self::configure(conn, db, key, opener)?;
        store.check_version()?;
        store.check_key(key_file)?;
        Ok(store)
    }

    /// The store read where nothing can be written beside it. With no
    /// `-wal` content, the file alone is the whole store and is read as
    /// immutable (no `-shm`, no locks); with some, SQLite reads the
    /// existing `-wal` and `-shm` read-only, or the open fails as `why`.
    /// Never kept between logins: an immutable connection would not see
    /// later changes.
    fn open_frozen(
        db: &Path,
        key_file: &Path,
        euid: u32,
        opener: Opener,
        why: StoreError,
    ) -> Result<Self, StoreError> {
        let key = key::load(key_file, euid)?;
        let mut wal = db.as_os_str().to_owned();
        wal.push("-wal");
        let wal_empty = std::fs::metadata(&wal).map_or(true, |m| m.len() == 0);
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY
            | OpenFlags::SQLITE_OPEN_NOFOLLOW
            | OpenFlags::SQLITE_OPEN_NO_MUTEX
            | OpenFlags::SQLITE_OPEN_URI;
        let uri = format!(
            "file:{}{}",
            uri_path(db),
            if wal_empty { "?immutable=1" } else { "" }
        );
        let frozen = (|| {
            let conn = Connection::open_with_flags(&uri, flags).map_err(on(db))?;
            let mut store = Self::configure(StoreConn::plain(conn), db, key, opener)?;
            store.check_version()?;
            store.check_key(key_file)?;
            store.frozen = Some(why_kind(&why));
            Ok(store)
        })();
        frozen.map_err(|_: StoreError| why)
    }
    /// Creates the directory (0700), the key (0600) and the store (0600) as
    /// needed and migrates the schema to the latest version. Idempotent.
    pub fn init<R: RngCore + CryptoRng>(
        db: &Path,
        euid: u32,
        rng: &mut R,
    ) -> Result<(Self, InitReport), StoreError> {
        Self::init_with(db, &key_path(db), euid, rng, InitOptions::default())
    }

    /// `init` with the key at `key_file`, and with `new_key` the recovery
    /// from a lost key.
    pub fn init_with<R: RngCore + CryptoRng>(
        db: &Path,
        key_file: &Path,
        euid: u32,
        rng: &mut R,
        options: InitOptions,
    ) -> Result<(Self, InitReport), StoreError> {
        let mut report = InitReport::default();
        let dir = parent_dir(db);
        match check_path(dir, euid, Kind::Directory) {
            Ok(()) => {}
            Err(StoreError::Missing { .. }) => {
                std::fs::DirBuilder::new()
                    .recursive(true)
                    .mode(0o700)
                    .create(dir)
                    .map_err(|e| StoreError::io(dir, &e))?;
                report.created_directory = true;
                check_path(dir, euid, Kind::Directory)?;
            }
            Err(e) => return Err(e),
        }
        let store_existed = match check_path(db, euid, Kind::File) {
            Ok(()) => true,
            Err(StoreError::Missing { .. }) => false,
            Err(e) => return Err(e),
        };
        let key = match key::load(key_file, euid) {
            Ok(_) if options.new_key => {
                return Err(StoreError::KeyPresent {
                    path: key_file.to_path_buf(),
                });
            }
            Ok(k) => k,
            Err(StoreError::KeyMissing { .. }) => {
                if !options.new_key && store_existed && Self::has_fingerprints(db)? {
                    // A new key would make every recorded fingerprint look
                    // changed and wipe every user's passwords at next login.
                    return Err(StoreError::KeyLost {
                        path: key_file.to_path_buf(),
                    });
                }
                report.created_key = true;
                key::create(key_file, rng)?
            }
            Err(e) => return Err(e),
        };
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NOFOLLOW
            | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(db, flags).map_err(on(db))?;
        if !store_existed {
            report.created_store = true;
            std::fs::set_permissions(db, std::fs::Permissions::from_mode(0o600))
                .map_err(|e| StoreError::io(db, &e))?;
        }
        let mut store = Self::configure(StoreConn::plain(conn), db, key, Opener::Admin)?;
        let (from, to) = store.migrate(report.created_key, key_file)?;
        report.from_version = from;
        report.to_version = to;
        Ok((store, report))
    }

    /// The key beside the store must be the one the store was made with.
    fn check_key(&self, key_file: &Path) -> Result<(), StoreError> {
        let recorded: Option<Vec<u8>> = self
            .conn
            .get(&self.path)?
            .query_row("SELECT value FROM meta WHERE name = ?1", [KEY_CHECK], |r| {
                r.get("value")
            })
            .optional()
            .map_err(on(&self.path))?;
        match recorded {
            Some(v) if key::matches(&self.key, &v) => Ok(()),
            Some(_) => Err(StoreError::KeyMismatch {
                key: key_file.to_path_buf(),
                target: self.describe_path(),
            }),
            None => Err(StoreError::Outdated {
                target: self.describe_path(),
                found: 1,
                known: schema::LATEST,
            }),
        }
    }

    fn has_fingerprints(db: &Path) -> Result<bool, StoreError> {
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NOFOLLOW;
        let conn = Connection::open_with_flags(db, flags).map_err(on(db))?;
        let found: rusqlite::Result<i64> =
            conn.query_row("SELECT count(*) AS n FROM fingerprints", [], |r| r.get("n"));
        Ok(matches!(found, Ok(n) if n > 0))
    }

    fn configure(conn: StoreConn, db: &Path, key: Key, opener: Opener) -> Result<Self, StoreError> {
        let c = conn.get(db)?;
        // Also on a kept connection: a login's best-effort write shortens it.
        c.busy_timeout(busy_timeout(opener)).map_err(on(db))?;
        // Without this, a WAL file kept between opens is re-read on every open.
        c.pragma_update(None, "journal_size_limit", 0)
            .map_err(on(db))?;
        Ok(Self {
            conn,
            path: db.to_path_buf(),
            key,
            frozen: None,
        })
    }

    /// Fails with the reason the store was opened read-only, if it was.
    pub(crate) fn writable(&self) -> Result<(), StoreError> {
        let path = self.path.clone();
        match self.frozen {
            None => Ok(()),
            Some(Frozen::NoSpace) => Err(StoreError::NoSpace { path }),
            Some(Frozen::ReadOnlyFileSystem) => Err(StoreError::ReadOnlyFileSystem { path }),
        }
    }

    pub(crate) fn describe_path(&self) -> String {
        self.path.display().to_string()
    }

    fn check_version(&self) -> Result<(), StoreError> {
        let db = &self.path;
        let target = self.describe_path();
        let version = schema::user_version(self.conn.get(db)?).map_err(on(db))?;
        let app = schema::application_id(self.conn.get(db)?).map_err(on(db))?;
        if version == 0 && app == 0 {
            return Err(StoreError::NotInitialised { target });
        }
        if app != schema::APPLICATION_ID {
            return Err(StoreError::Foreign { target });
        }
        StoreError::check_version(&target, version, schema::LATEST)
    }

    /// Brings the schema to the latest version and records the key's check
    /// value (replacing it only for a key made just now).
    fn migrate(&mut self, new_key: bool, key_file: &Path) -> Result<(i64, i64), StoreError> {
        let db = self.path.clone();
        let target = self.describe_path();
        let err = on(&db);
        let mode: String = self
            .conn
            .get(&self.path)?
            .query_row("PRAGMA journal_mode = WAL", [], |r| r.get("journal_mode"))
            .map_err(&err)?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(StoreError::Backend {
                target,
                source: Box::new(Detail(format!(
                    "could not switch to WAL (journal mode is {mode})"
                ))),
            });
        }
        let tx = self
            .conn
            .get_mut(&db)?
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(&err)?;
        let from = schema::user_version(&tx).map_err(&err)?;
        let app = schema::application_id(&tx).map_err(&err)?;
        if app != schema::APPLICATION_ID
            && !(app == 0 && from == 0 && schema::is_empty(&tx).map_err(&err)?)
        {
            return Err(StoreError::Foreign { target });
        }
        if from > schema::LATEST {
            return Err(StoreError::UnknownVersion {
                target,
                found: from,
                known: schema::LATEST,
            });
        }
        for step in schema::MIGRATIONS.iter().skip(from as usize) {
            tx.execute_batch(step).map_err(&err)?;
        }
        let check = key::check_value(&self.key);
        let recorded: Option<Vec<u8>> = tx
            .query_row("SELECT value FROM meta WHERE name = ?1", [KEY_CHECK], |r| {
                r.get("value")
            })
            .optional()
            .map_err(&err)?;
        match recorded {
            Some(v) if key::matches(&self.key, &v) => {}
            Some(_) if !new_key => {
                return Err(StoreError::KeyMismatch {
                    key: key_file.to_path_buf(),
                    target,
                })
            }
            _ => {
                tx.execute(
                    "INSERT INTO meta (name, value) VALUES (?1, ?2)
                     ON CONFLICT (name) DO UPDATE SET value = excluded.value",
                    rusqlite::params![KEY_CHECK, check.as_slice()],
                )
                .map_err(&err)?;
            }
        }
        tx.pragma_update(None, "application_id", schema::APPLICATION_ID)
            .map_err(&err)?;
        tx.pragma_update(None, "user_version", schema::LATEST)
            .map_err(&err)?;
        tx.commit().map_err(&err)?;
        Ok((from, schema::LATEST))
    }
}
