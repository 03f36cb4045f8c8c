//! The SQLite store shared by the module and the CLI.
//!
//! WAL journal: many short-lived PAM processes read while the CLI writes, and
//! in WAL readers never wait for a writer. Every write is `BEGIN IMMEDIATE`
//! and one transaction, so a kill at any instant leaves the store consistent.

mod error;
pub mod key;
mod queries;
mod safety;
pub mod schema;

pub use error::StoreError;
pub use key::{key_path, Key};
pub(crate) use queries::InsertError;
pub use queries::{CandidateRow, EventRow, NewPassword, PasswordRow, Selector};

use rand_core::{CryptoRng, RngCore};
use rusqlite::{Connection, OpenFlags};
use safety::{check_path, Kind};
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Who opens the store decides how long a lock may be waited for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Opener {
    /// The PAM module: 2 s busy timeout, never creates or migrates.
    Module,
    /// The CLI: 10 s busy timeout.
    Admin,
}

impl Opener {
    fn busy_timeout(self) -> Duration {
        match self {
            Opener::Module => Duration::from_secs(2),
            Opener::Admin => Duration::from_secs(10),
        }
    }
}

pub struct Store {
    conn: Connection,
    path: PathBuf,
    key: Key,
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

fn parent_dir(db: &Path) -> &Path {
    db.parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
}

impl Store {
    /// Opens an existing, current store after checking its directory, the
    /// file and the key. Never creates, never migrates.
    pub fn open(db: &Path, euid: u32, opener: Opener) -> Result<Self, StoreError> {
        check_path(parent_dir(db), euid, Kind::Directory)?;
        check_path(db, euid, Kind::File)?;
        let key = key::load(&key_path(db), euid)?;
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_NOFOLLOW
            | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(db, flags).map_err(|e| StoreError::sqlite(db, e))?;
        let store = Self::configure(conn, db, key, opener)?;
        store.check_version()?;
        Ok(store)
    }

    /// Creates the directory (0700), the key (0600) and the store (0600) as
    /// needed and migrates the schema to the latest version. Idempotent.
    pub fn init<R: RngCore + CryptoRng>(
        db: &Path,
        euid: u32,
        rng: &mut R,
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
                    .map_err(|e| StoreError::Unreadable {
                        path: dir.to_path_buf(),
                        detail: e.to_string(),
                    })?;
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
        let kpath = key_path(db);
        let key = match key::load(&kpath, euid) {
            Ok(k) => k,
            Err(StoreError::KeyMissing { .. }) => {
                if store_existed && Self::has_fingerprints(db)? {
                    // A new key would make every recorded fingerprint look
                    // changed and wipe every user's passwords at next login.
                    return Err(StoreError::KeyMissing { path: kpath });
                }
                report.created_key = true;
                key::create(&kpath, rng)?
            }
            Err(e) => return Err(e),
        };
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NOFOLLOW
            | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(db, flags).map_err(|e| StoreError::sqlite(db, e))?;
        if !store_existed {
            report.created_store = true;
            std::fs::set_permissions(db, std::fs::Permissions::from_mode(0o600)).map_err(|e| {
                StoreError::Unreadable {
                    path: db.to_path_buf(),
                    detail: e.to_string(),
                }
            })?;
        }
        let mut store = Self::configure(conn, db, key, Opener::Admin)?;
        let (from, to) = store.migrate()?;
        report.from_version = from;
        report.to_version = to;
        Ok((store, report))
    }

    fn has_fingerprints(db: &Path) -> Result<bool, StoreError> {
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NOFOLLOW;
        let conn = Connection::open_with_flags(db, flags).map_err(|e| StoreError::sqlite(db, e))?;
        let found: rusqlite::Result<i64> =
            conn.query_row("SELECT count(*) FROM fingerprints", [], |r| r.get(0));
        Ok(matches!(found, Ok(n) if n > 0))
    }

    fn configure(
        conn: Connection,
        db: &Path,
        key: Key,
        opener: Opener,
    ) -> Result<Self, StoreError> {
        conn.busy_timeout(opener.busy_timeout())
            .map_err(|e| StoreError::sqlite(db, e))?;
        // Without this, a WAL file kept between opens is re-read on every open.
        conn.pragma_update(None, "journal_size_limit", 0)
            .map_err(|e| StoreError::sqlite(db, e))?;
        Ok(Self {
            conn,
            path: db.to_path_buf(),
            key,
        })
    }

    fn check_version(&self) -> Result<(), StoreError> {
        let db = &self.path;
        let version = schema::user_version(&self.conn).map_err(|e| StoreError::sqlite(db, e))?;
        let app = schema::application_id(&self.conn).map_err(|e| StoreError::sqlite(db, e))?;
        if version == 0 && app == 0 {
            return Err(StoreError::NotInitialised { path: db.clone() });
        }
        if app != schema::APPLICATION_ID {
            return Err(StoreError::Foreign { path: db.clone() });
        }
        if version > schema::LATEST {
            return Err(StoreError::UnknownVersion {
                path: db.clone(),
                found: version,
                known: schema::LATEST,
            });
        }
        if version < schema::LATEST {
            return Err(StoreError::Outdated {
                path: db.clone(),
                found: version,
                known: schema::LATEST,
            });
        }
        Ok(())
    }

    fn migrate(&mut self) -> Result<(i64, i64), StoreError> {
        let db = self.path.clone();
        let err = |e| StoreError::sqlite(&db, e);
        let mode: String = self
            .conn
            .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
            .map_err(err)?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(StoreError::Sqlite {
                detail: format!(
                    "{}: could not switch to WAL (journal mode is {mode})",
                    db.display()
                ),
            });
        }
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(err)?;
        let from = schema::user_version(&tx).map_err(err)?;
        let app = schema::application_id(&tx).map_err(err)?;
        if app != schema::APPLICATION_ID
            && !(app == 0 && from == 0 && schema::is_empty(&tx).map_err(err)?)
        {
            return Err(StoreError::Foreign { path: db.clone() });
        }
        if from > schema::LATEST {
            return Err(StoreError::UnknownVersion {
                path: db.clone(),
                found: from,
                known: schema::LATEST,
            });
        }
        for step in schema::MIGRATIONS.iter().skip(from as usize) {
            tx.execute_batch(step).map_err(err)?;
        }
        tx.pragma_update(None, "application_id", schema::APPLICATION_ID)
            .map_err(err)?;
        tx.pragma_update(None, "user_version", schema::LATEST)
            .map_err(err)?;
        tx.commit().map_err(err)?;
        Ok((from, schema::LATEST))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn key(&self) -> &Key {
        &self.key
    }

    /// A consistent online copy through SQLite's backup API, plus the key
    /// beside it. Neither file may already exist, unless the key there is
    /// this very key (several backups in one directory).
    pub fn backup(&self, dest: &Path) -> Result<PathBuf, StoreError> {
        if std::fs::symlink_metadata(dest).is_ok() {
            return Err(StoreError::Exists {
                path: dest.to_path_buf(),
            });
        }
        let dest_key = key_path(dest);
        let key_already_there = match std::fs::read(&dest_key) {
            Ok(existing) if existing.as_slice() == &self.key[..] => true,
            Ok(_) => {
                return Err(StoreError::Unsafe {
                    path: dest_key,
                    detail: "a different key file is already there; back up into another directory"
                        .into(),
                })
            }
            Err(_) => false,
        };
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NOFOLLOW;
        let mut out =
            Connection::open_with_flags(dest, flags).map_err(|e| StoreError::sqlite(dest, e))?;
        std::fs::set_permissions(dest, std::fs::Permissions::from_mode(0o600)).map_err(|e| {
            StoreError::Unreadable {
                path: dest.to_path_buf(),
                detail: e.to_string(),
            }
        })?;
        {
            let backup = rusqlite::backup::Backup::new(&self.conn, &mut out)
                .map_err(|e| StoreError::sqlite(dest, e))?;
            backup
                .run_to_completion(256, Duration::from_millis(10), None)
                .map_err(|e| StoreError::sqlite(dest, e))?;
        }
        // A copy that ends up in rollback mode would be fine to read, but a
        // restored store should behave like the original.
        out.query_row("PRAGMA journal_mode = WAL", [], |r| r.get::<_, String>(0))
            .map_err(|e| StoreError::sqlite(dest, e))?;
        drop(out);
        if !key_already_there {
            key::write_new(&dest_key, &self.key)?;
        }
        Ok(dest_key)
    }
}
