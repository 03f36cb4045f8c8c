//! The SQLite store shared by the module and the CLI.
//!
//! WAL journal: many short-lived PAM processes read while the CLI writes, and
//! in WAL readers never wait for a writer. Every write is `BEGIN IMMEDIATE`
//! and one transaction, so a kill at any instant leaves the store consistent.

mod error;
pub mod key;
mod queries;
mod restore;
mod safety;
pub mod schema;

pub use error::StoreError;
pub use key::{key_path, Key};
pub(crate) use queries::InsertError;
pub use queries::{CandidateRow, EventRow, NewPassword, PasswordRow, Selector};
pub use restore::RestoreReport;

use rand_core::{CryptoRng, RngCore};
use rusqlite::{Connection, OpenFlags, OptionalExtension};
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
    /// With a replaced key: users whose app passwords were revoked because
    /// their fingerprint can no longer be checked, and how many each.
    pub revoked_for_new_key: Vec<(String, usize)>,
}

/// What `init` may do beyond creating and migrating.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct InitOptions {
    /// The key is lost for good: make a new one. Every fingerprint was
    /// made with the old key and cannot be checked any more, so the app
    /// passwords of those users are revoked (reason `key replaced`).
    pub new_key: bool,
    /// The time recorded for such revocations.
    pub now: i64,
}

pub const REASON_KEY_REPLACED: &str = "key replaced";
const KEY_CHECK: &str = "key_check";

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
        store.check_key()?;
        Ok(store)
    }

    /// Creates the directory (0700), the key (0600) and the store (0600) as
    /// needed and migrates the schema to the latest version. Idempotent.
    pub fn init<R: RngCore + CryptoRng>(
        db: &Path,
        euid: u32,
        rng: &mut R,
    ) -> Result<(Self, InitReport), StoreError> {
        Self::init_with(db, euid, rng, InitOptions::default())
    }

    /// `init`, and with `new_key` the recovery from a lost key.
    pub fn init_with<R: RngCore + CryptoRng>(
        db: &Path,
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
        let kpath = key_path(db);
        let key = match key::load(&kpath, euid) {
            Ok(_) if options.new_key => {
                return Err(StoreError::KeyPresent { path: kpath });
            }
            Ok(k) => k,
            Err(StoreError::KeyMissing { .. }) => {
                if !options.new_key && store_existed && Self::has_fingerprints(db)? {
                    // A new key would make every recorded fingerprint look
                    // changed and wipe every user's passwords at next login.
                    return Err(StoreError::KeyLost { path: kpath });
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
            std::fs::set_permissions(db, std::fs::Permissions::from_mode(0o600))
                .map_err(|e| StoreError::io(db, &e))?;
        }
        let mut store = Self::configure(conn, db, key, Opener::Admin)?;
        let (from, to) = store.migrate(report.created_key)?;
        report.from_version = from;
        report.to_version = to;
        if options.new_key {
            report.revoked_for_new_key = store.forget_fingerprints(options.now)?;
        }
        Ok((store, report))
    }

    /// After a key was replaced: every fingerprint was made with the lost
    /// key, so none can be checked; revoke what they protected.
    fn forget_fingerprints(&mut self, now: i64) -> Result<Vec<(String, usize)>, StoreError> {
        let users: Vec<String> = {
            let mut stmt = self
                .conn
                .prepare("SELECT user FROM fingerprints ORDER BY user")
                .map_err(|e| StoreError::sqlite(&self.path, e))?;
            let rows = stmt
                .query_map([], |r| r.get(0))
                .and_then(|rows| rows.collect::<Result<Vec<String>, _>>())
                .map_err(|e| StoreError::sqlite(&self.path, e))?;
            rows
        };
        let mut revoked = Vec::new();
        for user in users {
            let done = self.revoke(
                &user,
                &Selector::All,
                REASON_KEY_REPLACED,
                "revoked",
                true,
                now,
            )?;
            revoked.push((user, done.len()));
        }
        Ok(revoked)
    }

    /// The key beside the store must be the one the store was made with.
    fn check_key(&self) -> Result<(), StoreError> {
        let recorded: Option<Vec<u8>> = self
            .conn
            .query_row("SELECT value FROM meta WHERE name = ?1", [KEY_CHECK], |r| {
                r.get(0)
            })
            .optional()
            .map_err(|e| StoreError::sqlite(&self.path, e))?;
        match recorded {
            Some(v) if v.as_slice() == key::check_value(&self.key).as_slice() => Ok(()),
            Some(_) => Err(StoreError::KeyMismatch {
                key: key_path(&self.path),
                db: self.path.clone(),
            }),
            None => Err(StoreError::Outdated {
                path: self.path.clone(),
                found: 1,
                known: schema::LATEST,
            }),
        }
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

    /// Brings the schema to the latest version and records the key's check
    /// value (replacing it only for a key made just now).
    fn migrate(&mut self, new_key: bool) -> Result<(i64, i64), StoreError> {
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
        let check = key::check_value(&self.key);
        let recorded: Option<Vec<u8>> = tx
            .query_row("SELECT value FROM meta WHERE name = ?1", [KEY_CHECK], |r| {
                r.get(0)
            })
            .optional()
            .map_err(err)?;
        match recorded {
            Some(v) if v.as_slice() == check.as_slice() => {}
            Some(_) if !new_key => {
                return Err(StoreError::KeyMismatch {
                    key: key_path(&db),
                    db: db.clone(),
                })
            }
            _ => {
                tx.execute(
                    "INSERT INTO meta (name, value) VALUES (?1, ?2)
                     ON CONFLICT (name) DO UPDATE SET value = excluded.value",
                    rusqlite::params![KEY_CHECK, check.as_slice()],
                )
                .map_err(err)?;
            }
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
    /// this very key (several backups in one directory). Both are created
    /// exclusively and without following links, so a link or a FIFO that
    /// someone put in a shared directory is refused, never written through
    /// or waited on; a copy that fails half-way is removed.
    pub fn backup(&self, dest: &Path) -> Result<PathBuf, StoreError> {
        let dest_key = key_path(dest);
        let key_already_there = match key::load(&dest_key, crate::sys::euid()) {
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
        let mut out =
            Connection::open_with_flags(dest, flags).map_err(|e| StoreError::sqlite(dest, e))?;
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
        Ok(())
    }
}
